//! `Walker`: walks the translation tables of one page, from a given level down to the leaf.
//!
//! A job names the table to start from (a shortcut's table, or the PD root for a full walk)
//! and its level; the walker reads exactly one entry per level through a tagged table-read
//! port, and applies `abi::translator::walk`'s checks: present at every level, next-level
//! tables inside the PD's window, and at the leaf pinned, writable for device writes, and a
//! frame that fits a device address.
//!
//! | port             | width | dir | meaning                                               |
//! |------------------|-------|-----|-------------------------------------------------------|
//! | `clock`, `reset` | 1     | in  | clock; synchronous reset (drops the job in flight and its read's response) |
//! | `job_valid`      | 1     | in  | a walk job is offered                                 |
//! | `job_ready`      | 1     | out | the walker is idle                                    |
//! | `job_level`      | 3     | in  | level of `job_table` (1 leaf … 4 root)                |
//! | `job_table`      | 28    | in  | frame of the table to start from                      |
//! | `job_va`         | 47    | in  | virtual address inside the page to translate          |
//! | `job_write`      | 1     | in  | the device will write the page                        |
//! | `job_win_base`   | 28    | in  | PD table window: first frame                          |
//! | `job_win_end`    | 29    | in  | PD table window: first frame after it                 |
//! | `pte_req_valid`  | 1     | out | table-read request                                    |
//! | `pte_req_ready`  | 1     | in  | memory accepts the request                            |
//! | `pte_req_addr`   | 40    | out | device address of the 8-byte entry                    |
//! | `pte_req_tag`    | 4     | out | tag the response must carry                           |
//! | `pte_rsp_valid`  | 1     | in  | table-read response                                   |
//! | `pte_rsp_ready`  | 1     | out | always high: responses are never back-pressured       |
//! | `pte_rsp_data`   | 64    | in  | the entry                                             |
//! | `pte_rsp_tag`    | 4     | in  | tag of the request it answers; others are dropped     |
//! | `pte_rsp_error`  | 1     | in  | the read failed (DMA error)                           |
//! | `res_valid`      | 1     | out | result of the job                                     |
//! | `res_ready`      | 1     | in  | result taken                                          |
//! | `res_status`     | 5     | out | `Ok` or the failed check                              |
//! | `res_frame`      | 28    | out | leaf frame (when `Ok`)                                |
//! | `res_writable`   | 1     | out | leaf entry is device-writable (when `Ok`)             |
//! | `res_good`       | 1     | out | `res_valid` with status `Ok` (registered flag)        |
//! | `res_ok`         | 1     | out | while `res_valid`: status `Ok` (a register)           |
//!
//! `job_va`, `job_write` and `job_win_*` are read throughout the walk: the caller holds them
//! stable from the job's handshake until the result is taken (the translator keeps them in
//! its page-stage registers, so the walker needs no copies).
//!
//! One read in flight; a level costs 3 cycles plus the memory latency (request, response,
//! judgement), the result one more.

use abi::Status;
use rust_hdl::prelude::*;

use crate::consts::{konst, status_const, DA_W, FRAME_W, STATUS_W, TAG_W, VA_W};

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum WalkState {
    Idle,
    Request,
    Wait,
    Judge,
    Done,
}

/// The table walker (see the module documentation).
#[derive(LogicBlock)]
pub struct Walker {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A walk job is offered.
    pub job_valid: Signal<In, Bit>,
    /// The walker takes the job.
    pub job_ready: Signal<Out, Bit>,
    /// Level of the start table.
    pub job_level: Signal<In, Bits<3>>,
    /// Frame of the start table.
    pub job_table: Signal<In, Bits<FRAME_W>>,
    /// Address inside the page to translate.
    pub job_va: Signal<In, Bits<VA_W>>,
    /// The device will write the page.
    pub job_write: Signal<In, Bit>,
    /// PD table window: first frame.
    pub job_win_base: Signal<In, Bits<FRAME_W>>,
    /// PD table window: first frame after it.
    pub job_win_end: Signal<In, Bits<29>>,
    /// Table-read request valid.
    pub pte_req_valid: Signal<Out, Bit>,
    /// Table-read request accepted.
    pub pte_req_ready: Signal<In, Bit>,
    /// Device address of the entry.
    pub pte_req_addr: Signal<Out, Bits<DA_W>>,
    /// Request tag.
    pub pte_req_tag: Signal<Out, Bits<TAG_W>>,
    /// Table-read response valid.
    pub pte_rsp_valid: Signal<In, Bit>,
    /// Table-read response taken.
    pub pte_rsp_ready: Signal<Out, Bit>,
    /// The entry read.
    pub pte_rsp_data: Signal<In, Bits<64>>,
    /// Response tag.
    pub pte_rsp_tag: Signal<In, Bits<TAG_W>>,
    /// The read failed.
    pub pte_rsp_error: Signal<In, Bit>,
    /// Result valid.
    pub res_valid: Signal<Out, Bit>,
    /// Result taken.
    pub res_ready: Signal<In, Bit>,
    /// Result status.
    pub res_status: Signal<Out, Bits<STATUS_W>>,
    /// Leaf frame.
    pub res_frame: Signal<Out, Bits<FRAME_W>>,
    /// Leaf is device-writable.
    pub res_writable: Signal<Out, Bit>,
    /// `res_valid` with status `Ok` (from the state register and a flag of its own).
    pub res_good: Signal<Out, Bit>,
    /// While `res_valid`: the status is `Ok` (a flag register of its own).
    pub res_ok: Signal<Out, Bit>,
    state: DFF<WalkState>,
    level: DFF<Bits<3>>,
    // The table being read; once its entry arrives, the entry's frame (the next level's
    // table, or the leaf frame of the result): no read is issued in between.
    cur_table: DFF<Bits<FRAME_W>>,
    tag: DFF<Bits<TAG_W>>,
    status: DFF<Bits<STATUS_W>>,
    writable: DFF<Bit>,
    good: DFF<Bit>,
    e_error: DFF<Bit>,
    e_present: DFF<Bit>,
    e_pinned: DFF<Bit>,
    e_frame_high: DFF<Bit>,
    e_outside: DFF<Bit>,
    index: Signal<Local, Bits<9>>,
    entry_frame: Signal<Local, Bits<FRAME_W>>,
    entry_frame_high: Signal<Local, Bit>,
    // The window compares as carries out of additions with the inverted entry frame, so
    // synthesis maps them onto carry chains alone (`a < b`: `b + !a` carries out).
    frame_not: Signal<Local, Bits<FRAME_W>>,
    frame_not_w: Signal<Local, Bits<29>>,
    sum_base: Signal<Local, Bits<29>>,
    sum_end: Signal<Local, Bits<30>>,
    frame_top: Constant<Bits<29>>,
    one: Constant<Bits<3>>,
    two: Constant<Bits<3>>,
    three: Constant<Bits<3>>,
    tag_one: Constant<Bits<TAG_W>>,
    st_ok: Constant<Bits<STATUS_W>>,
    st_dma: Constant<Bits<STATUS_W>>,
    st_not_present: Constant<Bits<STATUS_W>>,
    st_walk_window: Constant<Bits<STATUS_W>>,
    st_not_pinned: Constant<Bits<STATUS_W>>,
    st_read_only: Constant<Bits<STATUS_W>>,
    st_frame_range: Constant<Bits<STATUS_W>>,
}

impl Default for Walker {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            reset: Default::default(),
            job_valid: Default::default(),
            job_ready: Default::default(),
            job_level: Default::default(),
            job_table: Default::default(),
            job_va: Default::default(),
            job_write: Default::default(),
            job_win_base: Default::default(),
            job_win_end: Default::default(),
            pte_req_valid: Default::default(),
            pte_req_ready: Default::default(),
            pte_req_addr: Default::default(),
            pte_req_tag: Default::default(),
            pte_rsp_valid: Default::default(),
            pte_rsp_ready: Default::default(),
            pte_rsp_data: Default::default(),
            pte_rsp_tag: Default::default(),
            pte_rsp_error: Default::default(),
            res_valid: Default::default(),
            res_ready: Default::default(),
            res_status: Default::default(),
            res_frame: Default::default(),
            res_writable: Default::default(),
            res_good: Default::default(),
            res_ok: Default::default(),
            state: Default::default(),
            level: Default::default(),
            cur_table: Default::default(),
            tag: Default::default(),
            status: Default::default(),
            writable: Default::default(),
            good: Default::default(),
            e_error: Default::default(),
            e_present: Default::default(),
            e_pinned: Default::default(),
            e_frame_high: Default::default(),
            e_outside: Default::default(),
            index: Default::default(),
            entry_frame: Default::default(),
            entry_frame_high: Default::default(),
            frame_not: Default::default(),
            frame_not_w: Default::default(),
            sum_base: Default::default(),
            sum_end: Default::default(),
            frame_top: konst(1 << FRAME_W),
            one: konst(1),
            two: konst(2),
            three: konst(3),
            tag_one: konst(1),
            st_ok: status_const(Status::Ok),
            st_dma: status_const(Status::DmaError),
            st_not_present: status_const(Status::NotPresent),
            st_walk_window: status_const(Status::WalkWindow),
            st_not_pinned: status_const(Status::NotPinned),
            st_read_only: status_const(Status::ReadOnly),
            st_frame_range: status_const(Status::FrameRange),
        }
    }
}

// Entry bits hard-wired below; tie them to the abi.
const _: () = assert!(abi::pte::PTE_PRESENT == 1 && abi::pte::PTE_WRITABLE == 2);
const _: () = assert!(abi::pte::PTE_PINNED == 1 << 9 && abi::pte::PTE_FRAME_SHIFT == 12);
const _: () = assert!(abi::pte::PTE_FRAME_BITS == 40 && abi::LEVEL_BITS == 9);

impl Logic for Walker {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            level,
            cur_table,
            tag,
            status,
            writable,
            good,
            e_error,
            e_present,
            e_pinned,
            e_frame_high,
            e_outside
        );
        // Index of the entry at the current level: VA bits 20:12, 29:21, 38:30 or 46:39.
        if self.level.q.val() == self.one.val() {
            self.index.next = self.job_va.val().get_bits::<9>(12);
        } else if self.level.q.val() == self.two.val() {
            self.index.next = self.job_va.val().get_bits::<9>(21);
        } else if self.level.q.val() == self.three.val() {
            self.index.next = self.job_va.val().get_bits::<9>(30);
        } else {
            self.index.next = bit_cast::<9, 8>(self.job_va.val().get_bits::<8>(39));
        }
        self.pte_req_addr.next = (bit_cast::<DA_W, FRAME_W>(self.cur_table.q.val()) << 12)
            | (bit_cast::<DA_W, 9>(self.index.val()) << 3);
        self.pte_req_tag.next = self.tag.q.val();
        self.entry_frame.next = self.pte_rsp_data.val().get_bits::<FRAME_W>(12);
        self.entry_frame_high.next = self.pte_rsp_data.val().get_bits::<12>(40).any();
        // frame < base: base + !frame >= 2^28; frame < end: end + !frame >= 2^29 (with the
        // frame widened to 29 bits before inverting).
        self.frame_not.next = !self.entry_frame.val();
        self.frame_not_w.next =
            bit_cast::<29, FRAME_W>(self.frame_not.val()) | self.frame_top.val();
        self.sum_base.next = bit_cast::<29, FRAME_W>(self.job_win_base.val())
            + bit_cast::<29, FRAME_W>(self.frame_not.val());
        self.sum_end.next =
            bit_cast::<30, 29>(self.job_win_end.val()) + bit_cast::<30, 29>(self.frame_not_w.val());
        self.res_status.next = self.status.q.val();
        self.res_frame.next = self.cur_table.q.val();
        self.res_writable.next = self.writable.q.val();

        self.job_ready.next = false;
        self.pte_req_valid.next = false;
        self.pte_rsp_ready.next = true;
        self.res_valid.next = false;
        self.res_good.next = self.state.q.val() == WalkState::Done && self.good.q.val();
        self.res_ok.next = self.good.q.val();
        match self.state.q.val() {
            WalkState::Idle => {
                self.job_ready.next = true;
                if self.job_valid.val() {
                    self.level.d.next = self.job_level.val();
                    self.cur_table.d.next = self.job_table.val();
                    self.state.d.next = WalkState::Request;
                }
            }
            WalkState::Request => {
                self.pte_req_valid.next = true;
                if self.pte_req_ready.val() {
                    self.state.d.next = WalkState::Wait;
                }
            }
            WalkState::Wait => {
                // The entry is registered first and judged in the next cycle, so no path runs
                // from the response port through the checks.
                if self.pte_rsp_valid.val() && self.pte_rsp_tag.val() == self.tag.q.val() {
                    self.tag.d.next = self.tag.q.val() + self.tag_one.val();
                    self.state.d.next = WalkState::Judge;
                    self.cur_table.d.next = self.entry_frame.val();
                    self.writable.d.next = self.pte_rsp_data.val().get_bit(1);
                    self.e_error.d.next = self.pte_rsp_error.val();
                    self.e_present.d.next = self.pte_rsp_data.val().get_bit(0);
                    self.e_pinned.d.next = self.pte_rsp_data.val().get_bit(9);
                    self.e_frame_high.d.next = self.entry_frame_high.val();
                    self.e_outside.d.next =
                        self.sum_base.val().get_bit(28) || !self.sum_end.val().get_bit(29);
                }
            }
            WalkState::Judge => {
                self.state.d.next = WalkState::Done;
                self.good.d.next = false;
                if self.e_error.q.val() {
                    self.status.d.next = self.st_dma.val();
                } else if !self.e_present.q.val() {
                    self.status.d.next = self.st_not_present.val();
                } else if self.level.q.val() != self.one.val() {
                    // A next-level table: it must lie in the PD's window.
                    if self.e_frame_high.q.val() || self.e_outside.q.val() {
                        self.status.d.next = self.st_walk_window.val();
                    } else {
                        self.level.d.next = self.level.q.val() - self.one.val();
                        self.state.d.next = WalkState::Request;
                    }
                } else if !self.e_pinned.q.val() {
                    self.status.d.next = self.st_not_pinned.val();
                } else if self.job_write.val() && !self.writable.q.val() {
                    self.status.d.next = self.st_read_only.val();
                } else if self.e_frame_high.q.val() {
                    self.status.d.next = self.st_frame_range.val();
                } else {
                    self.status.d.next = self.st_ok.val();
                    self.good.d.next = true;
                }
            }
            WalkState::Done => {
                self.res_valid.next = true;
                if self.res_ready.val() {
                    self.state.d.next = WalkState::Idle;
                }
            }
            _ => {
                self.state.d.next = WalkState::Idle;
            }
        }
        if self.reset.val() {
            self.state.d.next = WalkState::Idle;
            // A read still in flight answers with the old tag and is dropped.
            if self.state.q.val() == WalkState::Wait {
                self.tag.d.next = self.tag.q.val() + self.tag_one.val();
            }
        }
    }
}

crate::clocked!(Walker);
crate::table_read_port!(Walker);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench, MemoryModel};
    use crate::testdata::{random_tables, Scenario};
    use abi::translator::walk;
    use rand::{Rng, SeedableRng};

    fn run(
        bench: &mut Bench<Walker>,
        seed: u64,
        latency: std::ops::RangeInclusive<u64>,
    ) -> Result<(), String> {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let Scenario {
            mem,
            window,
            tables,
            vas,
            broken_paths,
        } = random_tables(&mut rng);
        let mut model = MemoryModel::new(mem, latency, 0.6);
        let mut statuses = std::collections::BTreeMap::new();
        // At least 400 jobs, and on until every outcome has been seen: a rare
        // outcome (a broken upper-level entry is one entry of the scenario)
        // can take more than 400 draws.
        for job in 0..4000 {
            if job >= 400 && statuses.len() >= 6 {
                break;
            }
            // Mostly mapped pages, sometimes a path through a broken upper-level entry
            // (walked from that entry's level or above), sometimes anywhere.
            let (va, level) = match rng.gen_range(0..20) {
                0..=15 => (vas[rng.gen_range(0..vas.len())], rng.gen_range(1..=4u8)),
                16 | 17 if !broken_paths.is_empty() => {
                    let (va, at) = broken_paths[rng.gen_range(0..broken_paths.len())];
                    (va, rng.gen_range(at..=4u8))
                }
                _ => (rng.gen::<u64>() & abi::mask(47), rng.gen_range(1..=4u8)),
            };
            let va = va | rng.gen_range(0..4096);
            let table = if level == 4 {
                tables.root()
            } else {
                tables
                    .table_frame(&model.mem, va & !0xfff, level)
                    .ok()
                    .flatten()
                    .unwrap_or(
                        u64::from(window.base) + rng.gen_range(0..u64::from(window.pages) + 2),
                    )
            };
            let write = rng.gen_bool(0.5);
            let mut want_reads = 0;
            let want = walk(
                &model.mem,
                &window,
                level,
                table,
                va,
                write,
                &mut want_reads,
            );
            let reads_before = model.reads;
            let u = &mut bench.uut;
            u.job_level.next = u64::from(level).into();
            u.job_table.next = table.into();
            u.job_va.next = va.into();
            u.job_write.next = write;
            u.job_win_base.next = u64::from(window.base).into();
            u.job_win_end.next = (u64::from(window.base) + u64::from(window.pages)).into();
            // Offer the job after a random gap, hold it until taken.
            let mut offered = false;
            let mut result = None;
            for _ in 0..20_000 {
                if !offered && rng.gen_bool(0.3) {
                    offered = true;
                }
                let d = model.drive_port(&mut rng, &mut bench.uut);
                let u = &mut bench.uut;
                u.job_valid.next = offered;
                let res_ready = rng.gen_bool(0.5);
                u.res_ready.next = res_ready;
                bench.settle();
                let u = &bench.uut;
                let job_taken = offered && u.job_ready.val();
                if u.res_valid.val() && res_ready {
                    result = Some((
                        u.res_status.val().to_u64() as u8,
                        u.res_frame.val().to_u64(),
                        u.res_writable.val(),
                    ));
                }
                model.clock_port(&mut rng, &bench.uut, &d);
                bench.tick();
                if job_taken {
                    offered = false;
                }
                if result.is_some() {
                    break;
                }
            }
            let Some((status, frame, writable)) = result else {
                return Err(format!("job {job}: no result (va {va:#x} level {level})"));
            };
            let got = Status::from_code(status);
            let reads = model.reads - reads_before;
            match want {
                Ok(pte) => {
                    if got != Some(Status::Ok) || frame != pte.frame() || writable != pte.writable()
                    {
                        return Err(format!("job {job}: va {va:#x} level {level}: got {got:?} frame {frame:#x}, want {pte:?}"));
                    }
                }
                Err(s) if got != Some(s) => {
                    return Err(format!(
                        "job {job}: va {va:#x} level {level}: got {got:?}, want {s:?}"
                    ));
                }
                Err(_) => {}
            }
            if reads != u64::from(want_reads) {
                return Err(format!("job {job}: {reads} reads, golden {want_reads}"));
            }
            *statuses.entry(got).or_insert(0) += 1;
        }
        if statuses.len() < 6 {
            return Err(format!("too few outcomes exercised: {statuses:?}"));
        }
        Ok(())
    }

    #[test]
    fn walks_like_the_golden_model_under_random_latency() {
        run_seeded("walker", test_seed(), Walker::default, |b, s| {
            run(b, s, 0..=200)
        });
    }

    #[test]
    fn walks_like_the_golden_model_at_zero_latency() {
        run_seeded("walker-fast", test_seed(), Walker::default, |b, s| {
            run(b, s, 0..=0)
        });
    }
}
