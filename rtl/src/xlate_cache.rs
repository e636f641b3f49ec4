//! `XlateCache`: the translation cache (PD + virtual page → frame and flags).
//!
//! Direct mapped, `abi::CACHE_ENTRIES` entries of 128 bits in block RAM, indexed by
//! `abi::translator::cache_index`. An entry filled by a shortcut-mode walk remembers the
//! shortcut and key slot, and hits in shortcut mode only for that exact shortcut: a forged
//! shortcut never hits, so it always reaches the checks.
//!
//! Entry layout: bit 0 valid, 1 via_shortcut, 2 writable, 5:3 PD, 8:6 key slot,
//! 35:9 virtual-page tag, 63:36 frame, 127:64 shortcut.
//!
//! | port                | width | dir | meaning                                            |
//! |---------------------|-------|-----|----------------------------------------------------|
//! | `clock`, `reset`    | 1     | in  | clock; synchronous reset (abandons a sweep)        |
//! | `probe_pd`          | 3     | in  | cycle 0 of a probe: PD                             |
//! | `probe_vpage`       | 35    | in  | cycle 0 of a probe: virtual page                   |
//! | `cmp_pd`            | 3     | in  | cycle 1: PD to match                               |
//! | `cmp_vpage`         | 35    | in  | cycle 1: virtual page to match                     |
//! | `cmp_shortcut_mode` | 1     | in  | cycle 1: the request is in shortcut mode           |
//! | `cmp_slot`          | 3     | in  | cycle 1: key slot to match (shortcut mode)         |
//! | `cmp_shortcut`      | 64    | in  | cycle 1: shortcut to match (shortcut mode)         |
//! | `hit`               | 1     | out | cycle 1: the probed entry matches                  |
//! | `hit_frame`         | 28    | out | cycle 1: its frame                                 |
//! | `hit_writable`      | 1     | out | cycle 1: its writable flag                         |
//! | `hit_part`          | 14    | out | cycle 1: `hit` in parts, for a caller that registers them (below) |
//! | `fill_valid`        | 1     | in  | write an entry this cycle                          |
//! | `fill_pd` … `fill_writable` |  | in | the entry's fields                                 |
//! | `inv_valid`         | 1     | in  | start an invalidation sweep                        |
//! | `inv_all`           | 1     | in  | sweep drops every entry (else only `inv_pd`'s)     |
//! | `inv_pd`            | 3     | in  | PD whose entries the sweep drops                   |
//! | `busy`              | 1     | out | a sweep is under way (probes and fills must wait)  |
//!
//! A probe that reads the set a fill writes in the same cycle reports a miss (block RAM does
//! not define the data read then). A probe reads every cycle (the block RAM reads the probed set on each clock); a sweep
//! keeps `busy` high for `CACHE_ENTRIES + 2` cycles.
//!
//! `hit_part` splits the tag compare into parts of at most eight compared bits each (two LUT
//! levels behind the block RAM), so a caller can register them and finish the compare in the
//! next cycle: bit 0 not colliding, valid and PD; bits 1–4 the virtual-page tag (8, 8, 8, 3
//! bits); bit 5 filled via a shortcut and key slot; bits 6–13 the shortcut, a byte each.
//! `hit` is bits 0–4 all set and, in shortcut mode, bits 5–13 all set.

use rust_hdl::prelude::*;

use crate::bram::BlockRam;
use crate::consts::{konst, FRAME_W, PD_W, SLOT_W};

/// Width of a virtual page number.
pub const VPAGE_W: usize = abi::VPAGE_BITS as usize;
/// Width of the cache index.
pub const INDEX_W: usize = abi::CACHE_INDEX_BITS as usize;
/// Width of the virtual-page tag kept in an entry.
pub const VTAG_W: usize = abi::translator::CACHE_VTAG_BITS as usize;

const _: () = assert!(VPAGE_W == 35 && INDEX_W == 8 && VTAG_W == 27);
const _: () = assert!(3 + PD_W + SLOT_W + VTAG_W + FRAME_W == 64);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum SweepState {
    Idle,
    Sweep,
}

/// The translation cache (see the module documentation).
#[derive(LogicBlock)]
pub struct XlateCache {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Probe, cycle 0: PD.
    pub probe_pd: Signal<In, Bits<PD_W>>,
    /// Probe, cycle 0: virtual page.
    pub probe_vpage: Signal<In, Bits<VPAGE_W>>,
    /// Probe, cycle 1: PD to match.
    pub cmp_pd: Signal<In, Bits<PD_W>>,
    /// Probe, cycle 1: virtual page to match.
    pub cmp_vpage: Signal<In, Bits<VPAGE_W>>,
    /// Probe, cycle 1: shortcut mode (the shortcut and key slot must match too).
    pub cmp_shortcut_mode: Signal<In, Bit>,
    /// Probe, cycle 1: key slot to match.
    pub cmp_slot: Signal<In, Bits<SLOT_W>>,
    /// Probe, cycle 1: shortcut to match.
    pub cmp_shortcut: Signal<In, Bits<64>>,
    /// The probed entry matches.
    pub hit: Signal<Out, Bit>,
    /// Frame of the probed entry.
    pub hit_frame: Signal<Out, Bits<FRAME_W>>,
    /// Writable flag of the probed entry.
    pub hit_writable: Signal<Out, Bit>,
    /// The tag compare in parts (see the module documentation).
    pub hit_part: Signal<Out, Bits<14>>,
    /// Write an entry.
    pub fill_valid: Signal<In, Bit>,
    /// Entry PD.
    pub fill_pd: Signal<In, Bits<PD_W>>,
    /// Entry virtual page.
    pub fill_vpage: Signal<In, Bits<VPAGE_W>>,
    /// Entry filled by a shortcut-mode walk.
    pub fill_via_shortcut: Signal<In, Bit>,
    /// Entry key slot.
    pub fill_slot: Signal<In, Bits<SLOT_W>>,
    /// Entry shortcut.
    pub fill_shortcut: Signal<In, Bits<64>>,
    /// Entry frame.
    pub fill_frame: Signal<In, Bits<FRAME_W>>,
    /// Entry writable flag.
    pub fill_writable: Signal<In, Bit>,
    /// Start an invalidation sweep.
    pub inv_valid: Signal<In, Bit>,
    /// The sweep drops every entry.
    pub inv_all: Signal<In, Bit>,
    /// PD whose entries the sweep drops.
    pub inv_pd: Signal<In, Bits<PD_W>>,
    /// A sweep is under way.
    pub busy: Signal<Out, Bit>,
    ram: BlockRam<Bits<128>, INDEX_W>,
    collide: DFF<Bit>,
    state: DFF<SweepState>,
    sweep_addr: DFF<Bits<9>>,
    sweep_wr_addr: DFF<Bits<INDEX_W>>,
    sweep_wr_pending: DFF<Bit>,
    sweep_drop: DFF<Bit>,
    sweep_wr_addr2: DFF<Bits<INDEX_W>>,
    sweep_all: DFF<Bit>,
    sweep_pd: DFF<Bits<PD_W>>,
    entry: Signal<Local, Bits<128>>,
    fill_entry: Signal<Local, Bits<128>>,
    sweep_match: Signal<Local, Bit>,
    addr_one: Constant<Bits<9>>,
    addr_last: Constant<Bits<9>>,
}

impl Default for XlateCache {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            probe_pd: Default::default(),
            probe_vpage: Default::default(),
            cmp_pd: Default::default(),
            cmp_vpage: Default::default(),
            cmp_shortcut_mode: Default::default(),
            cmp_slot: Default::default(),
            cmp_shortcut: Default::default(),
            hit: Default::default(),
            hit_frame: Default::default(),
            hit_writable: Default::default(),
            hit_part: Default::default(),
            fill_valid: Default::default(),
            fill_pd: Default::default(),
            fill_vpage: Default::default(),
            fill_via_shortcut: Default::default(),
            fill_slot: Default::default(),
            fill_shortcut: Default::default(),
            fill_frame: Default::default(),
            fill_writable: Default::default(),
            inv_valid: Default::default(),
            inv_all: Default::default(),
            inv_pd: Default::default(),
            busy: Default::default(),
            ram: Default::default(),
            collide: Default::default(),
            state: Default::default(),
            sweep_addr: Default::default(),
            sweep_wr_addr: Default::default(),
            sweep_wr_pending: Default::default(),
            sweep_drop: Default::default(),
            sweep_wr_addr2: Default::default(),
            sweep_all: Default::default(),
            sweep_pd: Default::default(),
            entry: Default::default(),
            fill_entry: Default::default(),
            sweep_match: Default::default(),
            addr_one: konst(1),
            addr_last: konst(abi::CACHE_ENTRIES as u64 + 1),
        }
    }
}

impl Logic for XlateCache {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            sweep_addr,
            sweep_wr_addr,
            sweep_wr_pending,
            sweep_drop,
            sweep_wr_addr2,
            sweep_all,
            sweep_pd,
            collide
        );
        self.ram.clock.next = self.clock.val();

        // Probe result (cycle 1).
        self.entry.next = self.ram.read_data.val();
        self.hit_frame.next = self.entry.val().get_bits::<FRAME_W>(36);
        self.hit_writable.next = self.entry.val().get_bit(2);
        // A probe of the set being filled in the same cycle reads undefined data: a miss.
        self.hit.next = !self.collide.q.val()
            && self.entry.val().get_bit(0)
            && self.entry.val().get_bits::<PD_W>(3) == self.cmp_pd.val()
            && self.entry.val().get_bits::<VTAG_W>(9) == self.cmp_vpage.val().get_bits::<VTAG_W>(8)
            && (!self.cmp_shortcut_mode.val()
                || (self.entry.val().get_bit(1)
                    && self.entry.val().get_bits::<SLOT_W>(6) == self.cmp_slot.val()
                    && self.entry.val().get_bits::<64>(64) == self.cmp_shortcut.val()));

        // The same compare in parts (see the module documentation).
        self.hit_part.next = bit_cast::<14, 1>(
            (!self.collide.q.val()
                && self.entry.val().get_bit(0)
                && self.entry.val().get_bits::<PD_W>(3) == self.cmp_pd.val())
            .into(),
        ) | (bit_cast::<14, 1>(
            (self.entry.val().get_bits::<8>(9) == self.cmp_vpage.val().get_bits::<8>(8)).into(),
        ) << 1)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(17) == self.cmp_vpage.val().get_bits::<8>(16))
                    .into(),
            ) << 2)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(25) == self.cmp_vpage.val().get_bits::<8>(24))
                    .into(),
            ) << 3)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<3>(33) == self.cmp_vpage.val().get_bits::<3>(32))
                    .into(),
            ) << 4)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bit(1)
                    && self.entry.val().get_bits::<SLOT_W>(6) == self.cmp_slot.val())
                .into(),
            ) << 5)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(64) == self.cmp_shortcut.val().get_bits::<8>(0))
                    .into(),
            ) << 6)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(72) == self.cmp_shortcut.val().get_bits::<8>(8))
                    .into(),
            ) << 7)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(80) == self.cmp_shortcut.val().get_bits::<8>(16))
                    .into(),
            ) << 8)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(88) == self.cmp_shortcut.val().get_bits::<8>(24))
                    .into(),
            ) << 9)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(96) == self.cmp_shortcut.val().get_bits::<8>(32))
                    .into(),
            ) << 10)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(104) == self.cmp_shortcut.val().get_bits::<8>(40))
                    .into(),
            ) << 11)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(112) == self.cmp_shortcut.val().get_bits::<8>(48))
                    .into(),
            ) << 12)
            | (bit_cast::<14, 1>(
                (self.entry.val().get_bits::<8>(120) == self.cmp_shortcut.val().get_bits::<8>(56))
                    .into(),
            ) << 13);

        // Fill entry.
        self.fill_entry.next = bit_cast::<128, 1>(true.into())
            | (bit_cast::<128, 1>(self.fill_via_shortcut.val().into()) << 1)
            | (bit_cast::<128, 1>(self.fill_writable.val().into()) << 2)
            | (bit_cast::<128, PD_W>(self.fill_pd.val()) << 3)
            | (bit_cast::<128, SLOT_W>(self.fill_slot.val()) << 6)
            | (bit_cast::<128, VTAG_W>(self.fill_vpage.val().get_bits::<VTAG_W>(8)) << 9)
            | (bit_cast::<128, FRAME_W>(self.fill_frame.val()) << 36)
            | (bit_cast::<128, 64>(self.fill_shortcut.val()) << 64);

        // Index: low page bits with the PD folded into the top three.
        self.ram.read_address.next = self.probe_vpage.val().get_bits::<INDEX_W>(0)
            ^ (bit_cast::<INDEX_W, PD_W>(self.probe_pd.val()) << 5);
        self.ram.write_address.next = self.fill_vpage.val().get_bits::<INDEX_W>(0)
            ^ (bit_cast::<INDEX_W, PD_W>(self.fill_pd.val()) << 5);
        self.ram.write_data.next = self.fill_entry.val();
        self.ram.write_enable.next = self.fill_valid.val();
        self.collide.d.next =
            self.fill_valid.val() && self.ram.read_address.val() == self.ram.write_address.val();

        self.sweep_match.next =
            self.sweep_all.q.val() || self.entry.val().get_bits::<PD_W>(3) == self.sweep_pd.q.val();
        self.sweep_wr_pending.d.next = false;
        self.sweep_drop.d.next = false;
        self.busy.next = false;
        match self.state.q.val() {
            SweepState::Idle => {
                if self.inv_valid.val() {
                    self.state.d.next = SweepState::Sweep;
                    self.sweep_addr.d.next = 0.into();
                    self.sweep_all.d.next = self.inv_all.val();
                    self.sweep_pd.d.next = self.inv_pd.val();
                }
            }
            SweepState::Sweep => {
                // Three steps a set: read it, compare its PD (registered), write it back.
                self.busy.next = true;
                self.ram.read_address.next = self.sweep_addr.q.val().get_bits::<INDEX_W>(0);
                self.ram.write_address.next = self.sweep_wr_addr2.q.val();
                // Only the valid bit matters in a dropped entry: the rest is left as it comes.
                self.ram.write_data.next = self.fill_entry.val().replace_bit(0, false);
                self.ram.write_enable.next = self.sweep_drop.q.val();
                self.sweep_wr_addr.d.next = self.sweep_addr.q.val().get_bits::<INDEX_W>(0);
                self.sweep_wr_pending.d.next = !self.sweep_addr.q.val().get_bit(8);
                self.sweep_drop.d.next = self.sweep_wr_pending.q.val() && self.sweep_match.val();
                self.sweep_wr_addr2.d.next = self.sweep_wr_addr.q.val();
                if self.sweep_addr.q.val() == self.addr_last.val() {
                    self.state.d.next = SweepState::Idle;
                } else {
                    self.sweep_addr.d.next = self.sweep_addr.q.val() + self.addr_one.val();
                }
            }
            _ => {
                self.state.d.next = SweepState::Idle;
            }
        }
        if self.reset.val() {
            self.state.d.next = SweepState::Idle;
        }
    }
}

crate::clocked!(XlateCache);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench};
    use abi::translator::{cache_index, CacheEntry};
    use rand::{Rng, SeedableRng};

    /// Random fills, probes and sweeps against a model of the same direct-mapped array.
    fn run(b: &mut Bench<XlateCache>, seed: u64) -> Result<(), String> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let mut model = vec![CacheEntry::default(); abi::CACHE_ENTRIES];
        // A small pool of pages and shortcuts so probes hit often.
        let pages: Vec<u64> = (0..40).map(|_| rng.gen::<u64>() & abi::mask(35)).collect();
        let shortcuts: Vec<u64> = (0..4).map(|_| rng.gen()).collect();
        let (mut hits, mut sweeps) = (0, 0);
        for step in 0..3000 {
            let u = &mut b.uut;
            u.fill_valid.next = false;
            u.inv_valid.next = false;
            match rng.gen_range(0..40) {
                0..=15 => {
                    let e = CacheEntry {
                        valid: true,
                        via_shortcut: rng.gen(),
                        pd: rng.gen_range(0..3),
                        key_slot: rng.gen_range(0..8),
                        vtag: 0,
                        shortcut: shortcuts[rng.gen_range(0..4)],
                        frame: rng.gen::<u32>() & 0xfff_ffff,
                        writable: rng.gen(),
                    };
                    let vpage = pages[rng.gen_range(0..pages.len())];
                    u.fill_valid.next = true;
                    u.fill_pd.next = u64::from(e.pd).into();
                    u.fill_vpage.next = vpage.into();
                    u.fill_via_shortcut.next = e.via_shortcut;
                    u.fill_slot.next = u64::from(e.key_slot).into();
                    u.fill_shortcut.next = e.shortcut.into();
                    u.fill_frame.next = u64::from(e.frame).into();
                    u.fill_writable.next = e.writable;
                    model[cache_index(e.pd, vpage)] = CacheEntry {
                        vtag: (vpage >> 8) as u32,
                        ..e
                    };
                    b.tick();
                }
                16..=38 => {
                    let pd = rng.gen_range(0..3u8);
                    let vpage = pages[rng.gen_range(0..pages.len())];
                    let mode = rng.gen_bool(0.5);
                    let slot = rng.gen_range(0..8u8);
                    let sc = shortcuts[rng.gen_range(0..4)];
                    u.probe_pd.next = u64::from(pd).into();
                    u.probe_vpage.next = vpage.into();
                    b.tick();
                    let u = &mut b.uut;
                    u.cmp_pd.next = u64::from(pd).into();
                    u.cmp_vpage.next = vpage.into();
                    u.cmp_shortcut_mode.next = mode;
                    u.cmp_slot.next = u64::from(slot).into();
                    u.cmp_shortcut.next = sc.into();
                    b.settle();
                    let e = model[cache_index(pd, vpage)];
                    let want = e.valid
                        && e.pd == pd
                        && u64::from(e.vtag) == vpage >> 8
                        && (!mode || (e.via_shortcut && e.key_slot == slot && e.shortcut == sc));
                    let u = &b.uut;
                    if u.hit.val() != want {
                        return Err(format!(
                            "step {step}: hit {} want {want} ({e:?})",
                            u.hit.val()
                        ));
                    }
                    if want {
                        hits += 1;
                        if u.hit_frame.val().to_u64() != u64::from(e.frame)
                            || u.hit_writable.val() != e.writable
                        {
                            return Err(format!("step {step}: wrong frame/flags"));
                        }
                    }
                }
                _ => {
                    let all = rng.gen_bool(0.3);
                    let pd = rng.gen_range(0..8u8);
                    u.inv_valid.next = true;
                    u.inv_all.next = all;
                    u.inv_pd.next = u64::from(pd).into();
                    b.tick();
                    b.uut.inv_valid.next = false;
                    let mut cycles = 0;
                    b.settle();
                    while b.uut.busy.val() {
                        b.tick();
                        cycles += 1;
                    }
                    if cycles != abi::CACHE_ENTRIES as u64 + 2 {
                        return Err(format!("sweep took {cycles} cycles"));
                    }
                    sweeps += 1;
                    for e in model.iter_mut().filter(|e| all || e.pd == pd) {
                        e.valid = false;
                    }
                }
            }
        }
        if hits < 100 || sweeps < 30 {
            return Err(format!(
                "too little exercised: {hits} hits, {sweeps} sweeps"
            ));
        }
        Ok(())
    }

    #[test]
    fn matches_a_direct_mapped_model() {
        run_seeded("xlate_cache", test_seed(), XlateCache::default, run);
    }
}
