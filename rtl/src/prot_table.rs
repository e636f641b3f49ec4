//! `ProtTable`: the device-maintained protection table.
//!
//! Per VI (flip-flops, so the translator can look a VI up in the cycle a request arrives):
//! enable, translation mode, PD, key slot, and the fault state (saturating count, locked), for
//! the `abi::NUM_VIS` VI slots. The VI ports are `VI_W` bits wide: a VI beyond the slots looks
//! up as disabled, is never locked or open, takes no faults, and has no registers (its
//! offsets are not `cfg_hit`).
//! Per PD (block RAM, one-cycle reads): valid, generation, allowed operations, table window.
//! A VI locks itself when its fault count reaches `FAULT_THRESHOLD` (0 never locks); writing
//! its `VI_CTRL` clears the count and the lock. Registers and fields are those of `abi::regs`.
//!
//! | port              | width | dir | meaning                                               |
//! |-------------------|-------|-----|-------------------------------------------------------|
//! | `clock`, `reset`  | 1     | in  | clock; synchronous reset (clears VI state)            |
//! | `cfg_we`          | 1     | in  | register write this cycle (`cfg_addr` held since the previous cycle: the decode is registered) |
//! | `cfg_addr`        | 16    | in  | register byte offset (write, or read when `cfg_re`)   |
//! | `cfg_wdata`       | 32    | in  | value written                                         |
//! | `cfg_re`          | 1     | in  | register read this cycle (uses the PD read port)      |
//! | `cfg_rdata`       | 32    | out | the read's value, one cycle after `cfg_re`            |
//! | `cfg_hit`         | 1     | out | `cfg_addr` (of a cycle ago) is one of this table's registers |
//! | `pd_written`      | 1     | out | a PD register is written this cycle                   |
//! | `lk_vi`           | 3     | in  | VI to look up (combinational)                         |
//! | `lk_enabled` … `lk_slot` |  | out | that VI's configuration                               |
//! | `chk_vi`          | 3     | in  | VI whose lock to report                               |
//! | `chk_locked`      | 1     | out | that VI is locked (as of the previous cycle)          |
//! | `pd_index`        | 3     | in  | PD to read (result next cycle)                        |
//! | `pd_valid` … `pd_win_pages` | | out | the PD's configuration                            |
//! | `fault_valid`     | 1     | in  | count a shortcut fault against `chk_vi` (held a cycle; faults at least 2 cycles apart, and not in the cycle after a write of that VI's `VI_CTRL` or a reset: the count is read from a register) |
//! | `open_vi`         | 3     | in  | VI to query for the doorbells                         |
//! | `open_vi_open`    | 1     | out | that VI is enabled and not locked (combinational)     |
//! | `open_vi_enabled` | 1     | out | that VI is enabled, locked or not (combinational)     |

use abi::regs;
use rust_hdl::prelude::*;

use crate::bram::BlockRam;
use crate::consts::{konst, FRAME_W, GEN_W, PD_W, SLOT_W, VI_W};

/// Number of VI slots.
pub const NUM_VIS: usize = abi::NUM_VIS;

// The decode below slices the register offset; tie the slices to the abi map.
const _: () = assert!(regs::PD_BASE == 0x1000 && regs::VI_BASE == 0x2000);
const _: () = assert!(regs::PD_STRIDE == 0x10 && regs::VI_STRIDE == 0x10);
const _: () =
    assert!(regs::PD_CTRL == 0 && regs::PD_WINDOW_BASE == 4 && regs::PD_WINDOW_PAGES == 8);
const _: () = assert!(regs::VI_CTRL == 0 && regs::VI_FAULTS == 4);
const _: () = assert!(regs::PD_CTRL_GENERATION.shift == 0 && regs::PD_CTRL_ALLOW_READ.shift == 8);
const _: () = assert!(regs::PD_CTRL_ALLOW_WRITE.shift == 9 && regs::PD_CTRL_VALID.shift == 31);
const _: () = assert!(regs::VI_CTRL_ENABLE.shift == 0 && regs::VI_CTRL_MODE.shift == 1);
const _: () = assert!(regs::VI_CTRL_PD.shift == 4 && regs::VI_CTRL_KEY_SLOT.shift == 8);
const _: () = assert!(regs::VI_FAULTS_COUNT.shift == 0 && regs::VI_FAULTS_LOCKED.shift == 8);
// The loops below are unrolled over 4 VI slots (and 8 PDs in block RAM).
const _: () = assert!(abi::NUM_PDS == 8 && NUM_VIS == 4 && NUM_VIS < 1 << VI_W);

/// The protection table (see the module documentation).
#[derive(LogicBlock)]
pub struct ProtTable {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Register write this cycle.
    pub cfg_we: Signal<In, Bit>,
    /// Register offset.
    pub cfg_addr: Signal<In, Bits<16>>,
    /// Value written.
    pub cfg_wdata: Signal<In, Bits<32>>,
    /// Register read this cycle.
    pub cfg_re: Signal<In, Bit>,
    /// Value read (one cycle after `cfg_re`).
    pub cfg_rdata: Signal<Out, Bits<32>>,
    /// `cfg_addr` names one of this table's registers.
    pub cfg_hit: Signal<Out, Bit>,
    /// A PD register is written this cycle.
    pub pd_written: Signal<Out, Bit>,
    /// VI to look up.
    pub lk_vi: Signal<In, Bits<VI_W>>,
    /// The VI is enabled.
    pub lk_enabled: Signal<Out, Bit>,
    /// VI whose lock to report on `chk_locked` (the translator's request in flight).
    pub chk_vi: Signal<In, Bits<VI_W>>,
    /// `chk_vi` is locked.
    pub chk_locked: Signal<Out, Bit>,
    /// The VI's translation mode.
    pub lk_mode: Signal<Out, Bits<2>>,
    /// The VI's PD.
    pub lk_pd: Signal<Out, Bits<PD_W>>,
    /// The VI's key slot.
    pub lk_slot: Signal<Out, Bits<SLOT_W>>,
    /// PD to read.
    pub pd_index: Signal<In, Bits<PD_W>>,
    /// The PD is valid.
    pub pd_valid: Signal<Out, Bit>,
    /// The PD's generation.
    pub pd_gen: Signal<Out, Bits<GEN_W>>,
    /// The device may read the PD's buffers.
    pub pd_allow_read: Signal<Out, Bit>,
    /// The device may write the PD's buffers.
    pub pd_allow_write: Signal<Out, Bit>,
    /// First frame of the PD's table window.
    pub pd_win_base: Signal<Out, Bits<FRAME_W>>,
    /// Frames in the PD's table window.
    pub pd_win_pages: Signal<Out, Bits<FRAME_W>>,
    /// Count a shortcut fault against `chk_vi`.
    pub fault_valid: Signal<In, Bit>,
    /// VI whose state to report on `open_vi_open` (the doorbells' query).
    pub open_vi: Signal<In, Bits<VI_W>>,
    /// `open_vi` is enabled and not locked (combinational).
    pub open_vi_open: Signal<Out, Bit>,
    /// `open_vi` is enabled, locked or not (combinational): the fetcher's query.
    pub open_vi_enabled: Signal<Out, Bit>,
    vi_ctrl: [DFF<Bits<11>>; NUM_VIS],
    vi_faults: [DFF<Bits<9>>; NUM_VIS],
    threshold: DFF<Bits<8>>,
    pd_ctrl: BlockRam<Bits<10>, PD_W>,
    pd_base: BlockRam<Bits<FRAME_W>, PD_W>,
    pd_pages: BlockRam<Bits<FRAME_W>, PD_W>,
    rd_kind: DFF<Bits<3>>,
    rd_value: DFF<Bits<32>>,
    vi_ids: [Constant<Bits<VI_W>>; NUM_VIS],
    d_global: DFF<Bit>,
    d_block_ok: DFF<Bit>,
    d_vi_block_ok: DFF<Bit>,
    d_pd_ctrl: DFF<Bit>,
    d_pd_base: DFF<Bit>,
    d_pd_pages: DFF<Bit>,
    d_vi_ctrl: DFF<Bit>,
    d_vi_faults: DFF<Bit>,
    d_pd: Signal<Local, Bit>,
    d_vi: Signal<Local, Bit>,
    page: Signal<Local, Bits<4>>,
    reg_off: Signal<Local, Bits<4>>,
    block_index: Signal<Local, Bits<3>>,
    fault_sel: Signal<Local, Bits<9>>,
    fault_cur: DFF<Bits<9>>,
    sel_ctrl: Signal<Local, Bits<11>>,
    lk_sel: Signal<Local, Bits<VI_W>>,
    sel_faults: Signal<Local, Bits<9>>,
    fault_next: Signal<Local, Bits<8>>,
    page_global: Constant<Bits<4>>,
    page_pd: Constant<Bits<4>>,
    page_vi: Constant<Bits<4>>,
    off_threshold: Constant<Bits<12>>,
    vi_ctrl_mask: Constant<Bits<11>>,
    off0: Constant<Bits<4>>,
    off4: Constant<Bits<4>>,
    off8: Constant<Bits<4>>,
    count_max: Constant<Bits<8>>,
    count_one: Constant<Bits<8>>,
    kind_none: Constant<Bits<3>>,
    kind_ff: Constant<Bits<3>>,
    kind_pd_ctrl: Constant<Bits<3>>,
    kind_pd_base: Constant<Bits<3>>,
    kind_pd_pages: Constant<Bits<3>>,
}

impl Default for ProtTable {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            cfg_we: Default::default(),
            cfg_addr: Default::default(),
            cfg_wdata: Default::default(),
            cfg_re: Default::default(),
            cfg_rdata: Default::default(),
            cfg_hit: Default::default(),
            open_vi: Default::default(),
            open_vi_open: Default::default(),
            open_vi_enabled: Default::default(),
            pd_written: Default::default(),
            lk_vi: Default::default(),
            lk_enabled: Default::default(),
            chk_vi: Default::default(),
            chk_locked: Default::default(),
            lk_mode: Default::default(),
            lk_pd: Default::default(),
            lk_slot: Default::default(),
            pd_index: Default::default(),
            pd_valid: Default::default(),
            pd_gen: Default::default(),
            pd_allow_read: Default::default(),
            pd_allow_write: Default::default(),
            pd_win_base: Default::default(),
            pd_win_pages: Default::default(),
            fault_valid: Default::default(),
            vi_ctrl: Default::default(),
            vi_faults: Default::default(),
            threshold: Default::default(),
            pd_ctrl: Default::default(),
            pd_base: Default::default(),
            pd_pages: Default::default(),
            rd_kind: Default::default(),
            rd_value: Default::default(),
            vi_ids: std::array::from_fn(|i| konst(i as u64)),
            d_global: Default::default(),
            d_block_ok: Default::default(),
            d_vi_block_ok: Default::default(),
            d_pd_ctrl: Default::default(),
            d_pd_base: Default::default(),
            d_pd_pages: Default::default(),
            d_vi_ctrl: Default::default(),
            d_vi_faults: Default::default(),
            d_pd: Default::default(),
            d_vi: Default::default(),
            page: Default::default(),
            reg_off: Default::default(),
            block_index: Default::default(),
            fault_sel: Default::default(),
            fault_cur: Default::default(),
            sel_ctrl: Default::default(),
            lk_sel: Default::default(),
            sel_faults: Default::default(),
            fault_next: Default::default(),
            page_global: konst(0),
            page_pd: konst(u64::from(regs::PD_BASE >> 12)),
            page_vi: konst(u64::from(regs::VI_BASE >> 12)),
            off_threshold: konst(u64::from(regs::FAULT_THRESHOLD)),
            vi_ctrl_mask: konst(u64::from(
                regs::VI_CTRL_ENABLE.put(!0)
                    | regs::VI_CTRL_MODE.put(!0)
                    | regs::VI_CTRL_PD.put(!0)
                    | regs::VI_CTRL_KEY_SLOT.put(!0),
            )),
            off0: konst(0),
            off4: konst(4),
            off8: konst(8),
            count_max: konst(255),
            count_one: konst(1),
            kind_none: konst(0),
            kind_ff: konst(1),
            kind_pd_ctrl: konst(2),
            kind_pd_base: konst(3),
            kind_pd_pages: konst(4),
        }
    }
}

impl Logic for ProtTable {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            threshold,
            rd_kind,
            rd_value,
            fault_cur,
            d_global,
            d_block_ok,
            d_vi_block_ok,
            d_pd_ctrl,
            d_pd_base,
            d_pd_pages,
            d_vi_ctrl,
            d_vi_faults
        );
        for i in 0..4 {
            self.vi_ctrl[i].clock.next = self.clock.val();
            self.vi_ctrl[i].d.next = self.vi_ctrl[i].q.val();
            self.vi_faults[i].clock.next = self.clock.val();
            self.vi_faults[i].d.next = self.vi_faults[i].q.val();
        }
        self.pd_ctrl.clock.next = self.clock.val();
        self.pd_base.clock.next = self.clock.val();
        self.pd_pages.clock.next = self.clock.val();

        // Decode: page in bits 15:12, block index in bits 6:4, register in bits 3:0.
        self.page.next = self.cfg_addr.val().get_bits::<4>(12);
        self.reg_off.next = self.cfg_addr.val().get_bits::<4>(0);
        self.block_index.next = self.cfg_addr.val().get_bits::<3>(4);
        // The decode is registered: `cfg_addr` is held a cycle before `cfg_we` / `cfg_re`.
        self.d_global.d.next = self.page.val() == self.page_global.val()
            && self.cfg_addr.val().get_bits::<12>(0) == self.off_threshold.val();
        self.d_block_ok.d.next = !self.cfg_addr.val().get_bits::<5>(7).any();
        // VI blocks: only the implemented slots (block index below 4).
        self.d_vi_block_ok.d.next = !self.cfg_addr.val().get_bits::<6>(6).any();
        self.d_pd_ctrl.d.next =
            self.page.val() == self.page_pd.val() && self.reg_off.val() == self.off0.val();
        self.d_pd_base.d.next =
            self.page.val() == self.page_pd.val() && self.reg_off.val() == self.off4.val();
        self.d_pd_pages.d.next =
            self.page.val() == self.page_pd.val() && self.reg_off.val() == self.off8.val();
        self.d_vi_ctrl.d.next =
            self.page.val() == self.page_vi.val() && self.reg_off.val() == self.off0.val();
        self.d_vi_faults.d.next =
            self.page.val() == self.page_vi.val() && self.reg_off.val() == self.off4.val();
        self.d_pd.next = self.d_block_ok.q.val()
            && (self.d_pd_ctrl.q.val() || self.d_pd_base.q.val() || self.d_pd_pages.q.val());
        self.d_vi.next =
            self.d_vi_block_ok.q.val() && (self.d_vi_ctrl.q.val() || self.d_vi_faults.q.val());
        self.cfg_hit.next = self.d_global.q.val() || self.d_pd.val() || self.d_vi.val();

        // Lookup by VI, for the request port.
        self.lk_sel.next = self.lk_vi.val();
        self.lk_enabled.next = false;
        self.lk_mode.next = 0.into();
        self.lk_pd.next = 0.into();
        self.lk_slot.next = 0.into();
        self.fault_sel.next = 0.into();
        self.open_vi_open.next = false;
        self.open_vi_enabled.next = false;
        self.sel_ctrl.next = 0.into();
        self.sel_faults.next = 0.into();
        for i in 0..4 {
            // Register reads have a selector of their own, so the request path stays short.
            if self.block_index.val() == self.vi_ids[i].val() {
                self.sel_ctrl.next = self.vi_ctrl[i].q.val();
                self.sel_faults.next = self.vi_faults[i].q.val();
            }
            if self.lk_sel.val() == self.vi_ids[i].val() {
                self.lk_enabled.next = self.vi_ctrl[i].q.val().get_bit(0);
                self.lk_mode.next = self.vi_ctrl[i].q.val().get_bits::<2>(1);
                self.lk_pd.next = self.vi_ctrl[i].q.val().get_bits::<3>(4);
                self.lk_slot.next = self.vi_ctrl[i].q.val().get_bits::<3>(8);
            }
            if self.chk_vi.val() == self.vi_ids[i].val() {
                self.fault_sel.next = self.vi_faults[i].q.val();
            }
            if self.open_vi.val() == self.vi_ids[i].val() {
                self.open_vi_open.next =
                    self.vi_ctrl[i].q.val().get_bit(0) && !self.vi_faults[i].q.val().get_bit(8);
                self.open_vi_enabled.next = self.vi_ctrl[i].q.val().get_bit(0);
            }
        }
        // `chk_vi`'s fault state, registered: the translator holds `chk_vi` for the whole job,
        // and faults come at least two cycles apart.
        self.fault_cur.d.next = self.fault_sel.val();
        self.chk_locked.next = self.fault_cur.q.val().get_bit(8);

        // Faults: saturating count, lock at the threshold.
        if self.fault_cur.q.val().get_bits::<8>(0) == self.count_max.val() {
            self.fault_next.next = self.count_max.val();
        } else {
            self.fault_next.next = self.fault_cur.q.val().get_bits::<8>(0) + self.count_one.val();
        }
        if self.fault_valid.val() {
            for i in 0..4 {
                if self.chk_vi.val() == self.vi_ids[i].val() {
                    self.vi_faults[i].d.next = bit_cast::<9, 8>(self.fault_next.val())
                        | (bit_cast::<9, 1>(
                            (self.fault_cur.q.val().get_bit(8)
                                || (self.threshold.q.val().any()
                                    && self.fault_next.val() >= self.threshold.q.val()))
                            .into(),
                        ) << 8);
                }
            }
        }

        // PD reads: the configuration port borrows the read port for register reads.
        self.pd_ctrl.read_address.next = self.pd_index.val();
        self.pd_base.read_address.next = self.pd_index.val();
        self.pd_pages.read_address.next = self.pd_index.val();
        if self.cfg_re.val() {
            self.pd_ctrl.read_address.next = self.block_index.val();
            self.pd_base.read_address.next = self.block_index.val();
            self.pd_pages.read_address.next = self.block_index.val();
        }
        self.pd_valid.next = self.pd_ctrl.read_data.val().get_bit(9);
        self.pd_allow_write.next = self.pd_ctrl.read_data.val().get_bit(8);
        self.pd_allow_read.next = self.pd_ctrl.read_data.val().get_bit(7);
        self.pd_gen.next = self.pd_ctrl.read_data.val().get_bits::<7>(0);
        self.pd_win_base.next = self.pd_base.read_data.val();
        self.pd_win_pages.next = self.pd_pages.read_data.val();

        // Writes.
        self.pd_ctrl.write_address.next = self.block_index.val();
        self.pd_base.write_address.next = self.block_index.val();
        self.pd_pages.write_address.next = self.block_index.val();
        self.pd_ctrl.write_data.next = bit_cast::<10, 7>(self.cfg_wdata.val().get_bits::<7>(0))
            | (bit_cast::<10, 2>(self.cfg_wdata.val().get_bits::<2>(8)) << 7)
            | (bit_cast::<10, 1>(self.cfg_wdata.val().get_bits::<1>(31)) << 9);
        self.pd_base.write_data.next = self.cfg_wdata.val().get_bits::<FRAME_W>(0);
        self.pd_pages.write_data.next = self.cfg_wdata.val().get_bits::<FRAME_W>(0);
        self.pd_ctrl.write_enable.next = false;
        self.pd_base.write_enable.next = false;
        self.pd_pages.write_enable.next = false;
        self.pd_written.next = false;
        if self.cfg_we.val() {
            if self.d_global.q.val() {
                self.threshold.d.next = self.cfg_wdata.val().get_bits::<8>(0);
            }
            if self.d_pd.val() {
                self.pd_written.next = true;
                self.pd_ctrl.write_enable.next = self.d_pd_ctrl.q.val();
                self.pd_base.write_enable.next = self.d_pd_base.q.val();
                self.pd_pages.write_enable.next = self.d_pd_pages.q.val();
            }
            if self.d_vi.val() && self.d_vi_ctrl.q.val() {
                for i in 0..4 {
                    if self.block_index.val() == self.vi_ids[i].val() {
                        self.vi_ctrl[i].d.next =
                            self.cfg_wdata.val().get_bits::<11>(0) & self.vi_ctrl_mask.val();
                        self.vi_faults[i].d.next = 0.into();
                    }
                }
            }
        }

        // Register reads: flip-flop values are captured at the read, RAM values arrive after.
        self.rd_kind.d.next = self.kind_none.val();
        self.rd_value.d.next = 0.into();
        if self.cfg_re.val() {
            if self.d_global.q.val() {
                self.rd_kind.d.next = self.kind_ff.val();
                self.rd_value.d.next = bit_cast::<32, 8>(self.threshold.q.val());
            }
            if self.d_vi.val() {
                self.rd_kind.d.next = self.kind_ff.val();
                if self.d_vi_ctrl.q.val() {
                    self.rd_value.d.next = bit_cast::<32, 11>(self.sel_ctrl.val());
                } else {
                    self.rd_value.d.next = bit_cast::<32, 9>(self.sel_faults.val());
                }
            }
            if self.d_pd.val() {
                if self.d_pd_ctrl.q.val() {
                    self.rd_kind.d.next = self.kind_pd_ctrl.val();
                } else if self.d_pd_base.q.val() {
                    self.rd_kind.d.next = self.kind_pd_base.val();
                } else {
                    self.rd_kind.d.next = self.kind_pd_pages.val();
                }
            }
        }
        self.cfg_rdata.next = self.rd_value.q.val();
        if self.rd_kind.q.val() == self.kind_pd_ctrl.val() {
            self.cfg_rdata.next = bit_cast::<32, 7>(self.pd_ctrl.read_data.val().get_bits::<7>(0))
                | (bit_cast::<32, 2>(self.pd_ctrl.read_data.val().get_bits::<2>(7)) << 8)
                | (bit_cast::<32, 1>(self.pd_ctrl.read_data.val().get_bits::<1>(9)) << 31);
        }
        if self.rd_kind.q.val() == self.kind_pd_base.val() {
            self.cfg_rdata.next = bit_cast::<32, FRAME_W>(self.pd_base.read_data.val());
        }
        if self.rd_kind.q.val() == self.kind_pd_pages.val() {
            self.cfg_rdata.next = bit_cast::<32, FRAME_W>(self.pd_pages.read_data.val());
        }

        if self.reset.val() {
            for i in 0..4 {
                self.vi_ctrl[i].d.next = 0.into();
                self.vi_faults[i].d.next = 0.into();
            }
            self.threshold.d.next = 0.into();
        }
    }
}

crate::clocked!(ProtTable);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench};
    use abi::translator::Translator as Golden;
    use rand::{Rng, SeedableRng};

    /// Every register of the table, plus neighbours that must read as 0.
    fn addresses() -> Vec<u16> {
        let mut a = vec![
            regs::FAULT_THRESHOLD,
            regs::FAULT_THRESHOLD + 4,
            0x1084,
            0x2088,
        ];
        // VIs 4..7 have no registers: they read as 0 and ignore writes.
        for i in 0..8 {
            a.extend([
                regs::pd_reg(i, regs::PD_CTRL),
                regs::pd_reg(i, regs::PD_WINDOW_BASE),
                regs::pd_reg(i, regs::PD_WINDOW_PAGES),
                regs::pd_reg(i, 0xc),
                regs::vi_reg(i, regs::VI_CTRL),
                regs::vi_reg(i, regs::VI_FAULTS),
            ]);
        }
        a
    }

    /// Random register writes, reads and faults against the golden model's registers, with
    /// the lookup ports checked after every step.
    fn run(b: &mut Bench<ProtTable>, seed: u64) -> Result<(), String> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut golden = Golden::new();
        let addrs = addresses();
        let mut locks = 0;
        for step in 0..4000 {
            let addr = addrs[rng.gen_range(0..addrs.len())];
            let u = &mut b.uut;
            u.cfg_we.next = false;
            u.cfg_re.next = false;
            u.fault_valid.next = false;
            // The address is held a cycle before the access (the decode is registered).
            u.cfg_addr.next = u64::from(addr).into();
            b.tick();
            match rng.gen_range(0..10) {
                0..=3 => {
                    let value = match rng.gen_range(0..3) {
                        0 => rng.gen::<u32>(),
                        1 => rng.gen_range(0..8),
                        _ => 1 | rng.gen_range(0..0x800),
                    };
                    let value = if addr == regs::FAULT_THRESHOLD {
                        value % 6
                    } else {
                        value
                    };
                    b.uut.cfg_we.next = true;
                    b.uut.cfg_wdata.next = u64::from(value).into();
                    golden.write_reg(addr, value);
                    b.tick();
                }
                4..=6 => {
                    b.uut.cfg_re.next = true;
                    b.tick();
                    b.uut.cfg_re.next = false;
                    b.settle();
                    let got = b.uut.cfg_rdata.val().to_u64() as u32;
                    let want = golden.read_reg(addr);
                    if got != want {
                        return Err(format!(
                            "step {step}: read {addr:#x} = {got:#x}, want {want:#x}"
                        ));
                    }
                }
                _ => {
                    // Faults come at least two cycles apart, on a VI held since the last one.
                    let vi = rng.gen_range(0..8usize);
                    b.uut.chk_vi.next = (vi as u64).into();
                    b.tick();
                    b.uut.fault_valid.next = true;
                    b.tick();
                    b.uut.fault_valid.next = false;
                    golden.record_fault(vi);
                    b.tick();
                    b.settle();
                    if b.uut.chk_locked.val() != golden.vi(vi).locked {
                        return Err(format!("step {step}: VI {vi} lock differs"));
                    }
                    locks += usize::from(golden.vi(vi).locked);
                }
            }
            // Lookups of every VI and of a PD.
            for vi in 0..8 {
                b.uut.lk_vi.next = (vi as u64).into();
                b.settle();
                let want = golden.vi(vi);
                let u = &b.uut;
                let got = (
                    u.lk_enabled.val(),
                    u.lk_mode.val().to_u64() as u8,
                    u.lk_pd.val().to_u64() as u8,
                    u.lk_slot.val().to_u64() as u8,
                );
                if got != (want.enabled, want.mode, want.pd, want.key_slot) {
                    return Err(format!(
                        "step {step}: VI {vi} lookup {got:?}, want {want:?}"
                    ));
                }
            }
            let pd = rng.gen_range(0..8usize);
            b.uut.pd_index.next = (pd as u64).into();
            b.tick();
            let want = golden.pd(pd);
            let u = &b.uut;
            let got = (
                u.pd_valid.val(),
                u.pd_gen.val().to_u64() as u8,
                u.pd_allow_read.val(),
                u.pd_allow_write.val(),
                u.pd_win_base.val().to_u64() as u32,
                u.pd_win_pages.val().to_u64() as u32,
            );
            let expect = (
                want.valid,
                want.generation,
                want.allow_read,
                want.allow_write,
                want.window.base,
                want.window.pages,
            );
            if got != expect {
                return Err(format!(
                    "step {step}: PD {pd} read {got:?}, want {expect:?}"
                ));
            }
        }
        if locks == 0 {
            return Err("no VI ever locked".into());
        }
        Ok(())
    }

    #[test]
    fn matches_the_golden_registers_and_fault_counting() {
        run_seeded("prot_table", test_seed(), ProtTable::default, run);
    }
}
