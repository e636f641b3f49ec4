//! `Fifo`: a first-word-fall-through queue in block RAM with valid/ready ports.
//!
//! | port        | width | dir | meaning                                              |
//! |-------------|-------|-----|------------------------------------------------------|
//! | `clock`, `reset` | 1 | in  | clock; synchronous reset (empties the queue)        |
//! | `in_valid`  | 1     | in  | a word is offered                                    |
//! | `in_ready`  | 1     | out | the queue is not full                                |
//! | `in_data`   | D     | in  | the word                                             |
//! | `out_valid` | 1     | out | the oldest word is on `out_data`                     |
//! | `out_ready` | 1     | in  | the consumer takes it                                |
//! | `out_data`  | D     | out | the oldest word                                      |
//! | `level`     | N+1   | out | words stored                                         |
//!
//! Capacity `2^N` words. A word written in one cycle is visible on `out_data` two cycles
//! later (the block RAM's read-during-write result is never used); one word a cycle in and
//! out. `NP1` must be `N + 1`.

use rust_hdl::prelude::*;

use crate::bram::BlockRam;

/// A block-RAM FIFO of `2^N` words of type `D` (see the module documentation).
#[derive(LogicBlock)]
pub struct Fifo<D: Synth, const N: usize, const NP1: usize> {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A word is offered.
    pub in_valid: Signal<In, Bit>,
    /// Not full.
    pub in_ready: Signal<Out, Bit>,
    /// The word offered.
    pub in_data: Signal<In, D>,
    /// The oldest word is valid.
    pub out_valid: Signal<Out, Bit>,
    /// The oldest word is taken.
    pub out_ready: Signal<In, Bit>,
    /// The oldest word.
    pub out_data: Signal<Out, D>,
    /// Words stored.
    pub level: Signal<Out, Bits<NP1>>,
    mem: BlockRam<D, N>,
    wr_ptr: DFF<Bits<NP1>>,
    wr_seen: DFF<Bits<NP1>>,
    rd_ptr: DFF<Bits<NP1>>,
    // `rd_ptr != wr_seen`, registered from the pointers' next values: `out_valid` is a
    // flip-flop.
    nonempty: DFF<Bit>,
    rd_next: Signal<Local, Bits<NP1>>,
    full: Signal<Local, Bit>,
    one: Constant<Bits<NP1>>,
    capacity: Constant<Bits<NP1>>,
}

impl<D: Synth, const N: usize, const NP1: usize> Default for Fifo<D, N, NP1> {
    fn default() -> Self {
        assert_eq!(NP1, N + 1, "Fifo: NP1 must be N + 1");
        Fifo {
            clock: Default::default(),
            reset: Default::default(),
            in_valid: Default::default(),
            in_ready: Default::default(),
            in_data: Default::default(),
            out_valid: Default::default(),
            out_ready: Default::default(),
            out_data: Default::default(),
            level: Default::default(),
            mem: Default::default(),
            wr_ptr: Default::default(),
            wr_seen: Default::default(),
            rd_ptr: Default::default(),
            nonempty: Default::default(),
            rd_next: Default::default(),
            full: Default::default(),
            one: Constant::new(1.into()),
            capacity: Constant::new((1u64 << N).into()),
        }
    }
}

impl<D: Synth, const N: usize, const NP1: usize> Logic for Fifo<D, N, NP1> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, wr_seen, rd_ptr, nonempty);
        self.mem.clock.next = self.clock.val();
        self.level.next = self.wr_ptr.q.val() - self.rd_ptr.q.val();
        // Full: the pointers differ by exactly the capacity (no subtraction needed).
        self.full.next = (self.wr_ptr.q.val() ^ self.rd_ptr.q.val()) == self.capacity.val();
        self.in_ready.next = !self.full.val();
        self.mem.write_address.next = self.wr_ptr.q.val().get_bits::<N>(0);
        self.mem.write_data.next = self.in_data.val();
        self.mem.write_enable.next = self.in_valid.val() && !self.full.val();
        if self.in_valid.val() && !self.full.val() {
            self.wr_ptr.d.next = self.wr_ptr.q.val() + self.one.val();
        }
        // A word is readable once its write pointer has been seen for a cycle: the RAM read
        // issued in the cycle of the write would return the old contents.
        self.wr_seen.d.next = self.wr_ptr.q.val();
        self.out_valid.next = self.nonempty.q.val();
        self.out_data.next = self.mem.read_data.val();
        self.rd_next.next = self.rd_ptr.q.val();
        if self.out_ready.val() && self.nonempty.q.val() {
            self.rd_next.next = self.rd_ptr.q.val() + self.one.val();
        }
        self.rd_ptr.d.next = self.rd_next.val();
        self.nonempty.d.next = self.rd_next.val() != self.wr_ptr.q.val();
        self.mem.read_address.next = self.rd_next.val().get_bits::<N>(0);
        if self.reset.val() {
            self.wr_ptr.d.next = 0.into();
            self.wr_seen.d.next = 0.into();
            self.rd_ptr.d.next = 0.into();
            self.nonempty.d.next = false;
        }
    }
}

impl<D: Synth, const N: usize, const NP1: usize> crate::bench::Clocked for Fifo<D, N, NP1> {
    fn clock_input(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    #[test]
    fn fifo_keeps_order_under_random_stalls() {
        run_seeded(
            "fifo",
            test_seed(),
            Fifo::<Bits<16>, 3, 4>::default,
            |b, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut model = VecDeque::new();
                let mut next = 0u64;
                let mut got = 0u64;
                for cycle in 0..20_000 {
                    let offer = rng.gen_bool(0.6);
                    let take = rng.gen_bool(0.5);
                    b.uut.in_valid.next = offer;
                    b.uut.in_data.next = next.into();
                    b.uut.out_ready.next = take;
                    b.settle();
                    let level = b.uut.level.val().index();
                    if b.uut.in_ready.val() != (level < 8) {
                        return Err(format!("cycle {cycle}: in_ready wrong at level {level}"));
                    }
                    if level != model.len() {
                        return Err(format!(
                            "cycle {cycle}: level {level}, model {}",
                            model.len()
                        ));
                    }
                    if b.uut.out_valid.val() && take {
                        let want: u64 = model.pop_front().ok_or("valid while empty")?;
                        if b.uut.out_data.val().index() as u64 != want {
                            return Err(format!(
                                "cycle {cycle}: got {:?} want {want}",
                                b.uut.out_data.val()
                            ));
                        }
                        got += 1;
                    }
                    if offer && b.uut.in_ready.val() {
                        model.push_back(next);
                        next += 1;
                    }
                    b.tick();
                }
                if got < 4000 {
                    return Err(format!("only {got} words passed"));
                }
                Ok(())
            },
        );
    }
}
