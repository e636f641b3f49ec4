//! `UartRx`: an 8N1 serial receiver with a valid/ready byte output and a one-byte holding
//! register.
//!
//! | port            | width | dir | meaning                                                  |
//! |-----------------|-------|-----|----------------------------------------------------------|
//! | `clock`, `reset` | 1    | in  | clock; synchronous reset (drops the frame being received and the held byte) |
//! | `rxd`           | 1     | in  | the serial line, high when idle; asynchronous (two synchronizer flops) |
//! | `valid`         | 1     | out | a received byte is held on `data`                        |
//! | `ready`         | 1     | in  | the consumer takes it at this clock edge                 |
//! | `data`          | 8     | out | the byte                                                 |
//! | `overrun`       | 1     | out | one-clock pulse: a byte completed while the held byte was not taken; the new byte is dropped |
//! | `framing_error` | 1     | out | one-clock pulse: a frame's stop bit was low; the byte is dropped |
//! | `fresh`         | 1     | out | one-clock pulse with the rise of `valid` for every received byte, held or not |
//! | `fresh_data`    | 8     | out | the received byte while `fresh` (the shift register: for a consumer that takes every byte at once, without the holding register) |
//!
//! Each bit lasts `clocks_per_bit` clocks ([`UART_CLOCKS_PER_BIT`] = 25 for 4 Mbaud at 100 MHz
//! by default). A low line after the synchronizer starts a frame; the start bit is checked
//! again half a bit later and the frame is abandoned if the line is high by then, so a low
//! glitch shorter than half a bit (`clocks_per_bit / 2` clocks or fewer) is ignored. Data and
//! stop bits are sampled once each, in their middle. After a framing error the receiver waits
//! for the line to go high before it looks for the next start bit, so a break (a line held
//! low) is reported once.
//!
//! Latency: `valid` (or a pulse) comes `3 + 9 * clocks_per_bit + clocks_per_bit / 2` clocks
//! after the start bit's falling edge on `rxd`, in the middle of the stop bit. Throughput: one
//! byte a frame, frames back to back. The holding register gives the consumer a whole frame
//! time to take a byte; `overrun` (and `framing_error`) are pulses for a containing block to
//! count. Mid-bit sampling tolerates a baud-rate mismatch of a few percent (tested at ±3 %).

use rust_hdl::prelude::*;

use crate::consts::konst;
use crate::uart_tx::BIT_COUNT_W;
pub use crate::uart_tx::UART_CLOCKS_PER_BIT;
use crate::with_defaults;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum RxState {
    /// Waiting for the line to go low.
    Idle,
    /// In the start bit, waiting for its middle.
    Start,
    /// In a data bit.
    Data,
    /// In the stop bit.
    Stop,
    /// After a framing error, waiting for the line to go high.
    Break,
}

/// The UART receiver (see the module documentation).
#[derive(LogicBlock)]
pub struct UartRx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Serial line in, idle high.
    pub rxd: Signal<In, Bit>,
    /// A byte is held.
    pub valid: Signal<Out, Bit>,
    /// The held byte is taken at this edge.
    pub ready: Signal<In, Bit>,
    /// The held byte.
    pub data: Signal<Out, Bits<8>>,
    /// A completed byte was dropped: the held one had not been taken.
    pub overrun: Signal<Out, Bit>,
    /// A frame with a low stop bit was dropped.
    pub framing_error: Signal<Out, Bit>,
    /// A byte was received (a pulse, whether or not the holding register took it).
    pub fresh: Signal<Out, Bit>,
    /// The received byte while `fresh` (the shift register).
    pub fresh_data: Signal<Out, Bits<8>>,
    // The synchronizer holds the line inverted, so its power-on value 0 is an idle line.
    sync_low: DFF<Bit>,
    line_low: DFF<Bit>,
    state: DFF<RxState>,
    /// Clocks to the next sample point, minus one.
    count: DFF<Bits<BIT_COUNT_W>>,
    /// Data bits received so far in the frame.
    bit_index: DFF<Bits<3>>,
    /// The byte being received; bits enter at the top (least significant bit first).
    shift: DFF<Bits<8>>,
    held: DFF<Bits<8>>,
    held_valid: DFF<Bit>,
    overrun_pulse: DFF<Bit>,
    framing_pulse: DFF<Bit>,
    fresh_pulse: DFF<Bit>,
    /// The line is sampled at this edge.
    sample: Signal<Local, Bit>,
    /// A frame with a good stop bit ends at this edge.
    complete: Signal<Local, Bit>,
    bit_clocks_m1: Constant<Bits<BIT_COUNT_W>>,
    half_clocks_m1: Constant<Bits<BIT_COUNT_W>>,
    count_one: Constant<Bits<BIT_COUNT_W>>,
    index_one: Constant<Bits<3>>,
    index_last: Constant<Bits<3>>,
    top_bit: Constant<Bits<8>>,
}

impl UartRx {
    /// A receiver for bits of `clocks_per_bit` clocks (4 to 256: with fewer, the mid-bit
    /// sample has no margin for the synchronizer's one-clock uncertainty).
    pub fn new(clocks_per_bit: u32) -> UartRx {
        assert!(
            (4..=1 << BIT_COUNT_W).contains(&clocks_per_bit),
            "UartRx: clocks_per_bit must be 4..=256, got {clocks_per_bit}"
        );
        with_defaults!(UartRx {
            bit_clocks_m1: konst(u64::from(clocks_per_bit - 1)),
            half_clocks_m1: konst(u64::from(clocks_per_bit / 2 - 1)),
            count_one: konst(1),
            index_one: konst(1),
            index_last: konst(7),
            top_bit: konst(0x80),
        } defaults {
            clock, reset, rxd, valid, ready, data, overrun, framing_error, fresh, fresh_data,
            sync_low, line_low, state, count, bit_index, shift, held, held_valid, overrun_pulse,
            framing_pulse, fresh_pulse,
            sample, complete,
        })
    }
}

impl Default for UartRx {
    /// A receiver at the link's baud rate ([`UART_CLOCKS_PER_BIT`]).
    fn default() -> Self {
        UartRx::new(UART_CLOCKS_PER_BIT)
    }
}

impl Logic for UartRx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            sync_low,
            line_low,
            state,
            count,
            bit_index,
            shift,
            held,
            held_valid,
            overrun_pulse,
            framing_pulse,
            fresh_pulse
        );
        self.sync_low.d.next = !self.rxd.val();
        self.line_low.d.next = self.sync_low.q.val();
        self.sample.next = !self.count.q.val().any();
        self.count.d.next = self.count.q.val() - self.count_one.val();
        self.complete.next = false;
        self.overrun_pulse.d.next = false;
        self.framing_pulse.d.next = false;
        match self.state.q.val() {
            RxState::Idle => {
                if self.line_low.q.val() {
                    self.state.d.next = RxState::Start;
                    self.count.d.next = self.half_clocks_m1.val();
                }
            }
            RxState::Start => {
                if self.sample.val() {
                    self.count.d.next = self.bit_clocks_m1.val();
                    self.bit_index.d.next = 0.into();
                    // High again by the middle of the start bit: a glitch.
                    self.state.d.next = RxState::Idle;
                    if self.line_low.q.val() {
                        self.state.d.next = RxState::Data;
                    }
                }
            }
            RxState::Data => {
                if self.sample.val() {
                    self.count.d.next = self.bit_clocks_m1.val();
                    self.bit_index.d.next = self.bit_index.q.val() + self.index_one.val();
                    self.shift.d.next = self.shift.q.val() >> 1;
                    if !self.line_low.q.val() {
                        self.shift.d.next = (self.shift.q.val() >> 1) | self.top_bit.val();
                    }
                    if self.bit_index.q.val() == self.index_last.val() {
                        self.state.d.next = RxState::Stop;
                    }
                }
            }
            RxState::Stop => {
                if self.sample.val() {
                    if self.line_low.q.val() {
                        self.framing_pulse.d.next = true;
                        self.state.d.next = RxState::Break;
                    } else {
                        self.complete.next = true;
                        self.state.d.next = RxState::Idle;
                    }
                }
            }
            RxState::Break => {
                if !self.line_low.q.val() {
                    self.state.d.next = RxState::Idle;
                }
            }
        }
        self.valid.next = self.held_valid.q.val();
        self.data.next = self.held.q.val();
        self.overrun.next = self.overrun_pulse.q.val();
        self.framing_error.next = self.framing_pulse.q.val();
        if self.ready.val() {
            self.held_valid.d.next = false;
        }
        if self.complete.val() {
            if self.held_valid.q.val() && !self.ready.val() {
                self.overrun_pulse.d.next = true;
            } else {
                self.held.d.next = self.shift.q.val();
                self.held_valid.d.next = true;
            }
        }
        self.fresh_pulse.d.next = self.complete.val();
        self.fresh.next = self.fresh_pulse.q.val();
        self.fresh_data.next = self.shift.q.val();
        if self.reset.val() {
            self.state.d.next = RxState::Idle;
            self.fresh_pulse.d.next = false;
            self.held_valid.d.next = false;
            self.overrun_pulse.d.next = false;
            self.framing_pulse.d.next = false;
        }
    }
}

crate::clocked!(UartRx);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench};
    use crate::uart_tx::UartTx;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// Clocks from the start bit's falling edge on `rxd` to `valid` (or a pulse).
    fn rx_latency(cpb: u64) -> u64 {
        3 + 9 * cpb + cpb / 2
    }

    /// A transmitter wired to a receiver.
    #[derive(LogicBlock)]
    struct Loopback {
        clock: Signal<In, Clock>,
        reset: Signal<In, Bit>,
        tx_valid: Signal<In, Bit>,
        tx_ready: Signal<Out, Bit>,
        tx_data: Signal<In, Bits<8>>,
        rx_valid: Signal<Out, Bit>,
        rx_ready: Signal<In, Bit>,
        rx_data: Signal<Out, Bits<8>>,
        overrun: Signal<Out, Bit>,
        framing_error: Signal<Out, Bit>,
        tx: UartTx,
        rx: UartRx,
    }

    impl Logic for Loopback {
        #[hdl_gen]
        fn update(&mut self) {
            self.tx.clock.next = self.clock.val();
            self.rx.clock.next = self.clock.val();
            self.tx.reset.next = self.reset.val();
            self.rx.reset.next = self.reset.val();
            self.tx.valid.next = self.tx_valid.val();
            self.tx.data.next = self.tx_data.val();
            self.tx_ready.next = self.tx.ready.val();
            self.rx.rxd.next = self.tx.txd.val();
            self.rx_valid.next = self.rx.valid.val();
            self.rx_data.next = self.rx.data.val();
            self.rx.ready.next = self.rx_ready.val();
            self.overrun.next = self.rx.overrun.val();
            self.framing_error.next = self.rx.framing_error.val();
        }
    }

    crate::clocked!(Loopback);

    impl Loopback {
        fn new(cpb: u32) -> Loopback {
            Loopback {
                clock: Default::default(),
                reset: Default::default(),
                tx_valid: Default::default(),
                tx_ready: Default::default(),
                tx_data: Default::default(),
                rx_valid: Default::default(),
                rx_ready: Default::default(),
                rx_data: Default::default(),
                overrun: Default::default(),
                framing_error: Default::default(),
                tx: UartTx::new(cpb),
                rx: UartRx::new(cpb),
            }
        }
    }

    /// 300 random bytes through a transmitter and a receiver, with random gaps on the
    /// transmitter's input and random stalls on the receiver's output. With `long_holds`, the
    /// consumer sometimes holds `ready` low for 10 to 30 bit times, so bytes overrun;
    /// without, it never holds it low for more than 3 bit times, so none may.
    ///
    /// A cycle-accurate model of the holding register, fed with each byte at the documented
    /// latency after the transmitter took it, predicts `valid`, `data` and `overrun` in every
    /// clock.
    fn loopback(cpb: u32, long_holds: bool) {
        let cpb64 = u64::from(cpb);
        let frame = 10 * cpb64;
        // From the clock a byte is taken to the clock the receiver decides it: the start bit
        // is on the line one clock after the byte is taken, and the decision is one clock
        // before `valid`.
        let decided = rx_latency(cpb64);
        run_seeded(
            &format!(
                "uart_loopback-{cpb}-{}",
                if long_holds { "holds" } else { "stalls" }
            ),
            test_seed(),
            || Loopback::new(cpb),
            |b, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut offer: Option<u8> = None;
                let mut gap = 0u64;
                let mut low_run = 0u64;
                let mut hold = 0u64;
                // (clock the receiver decides the byte, byte)
                let mut in_flight: VecDeque<(u64, u8)> = VecDeque::new();
                let mut model_held: Option<u8> = None;
                let mut model_overrun = false;
                let (mut sent, mut delivered, mut overruns) = (0, 0, 0);
                let mut t = 0u64;
                while sent < 300 || !in_flight.is_empty() || model_held.is_some() {
                    if offer.is_none() && sent < 300 {
                        if gap > 0 {
                            gap -= 1;
                        } else if rng.gen_bool(0.3) {
                            offer = Some(rng.gen());
                        } else if rng.gen_bool(0.01) {
                            gap = rng.gen_range(1..=2 * frame);
                        }
                    }
                    if long_holds && hold == 0 && rng.gen_bool(1.0 / (4 * frame) as f64) {
                        hold = rng.gen_range(frame..=3 * frame);
                    }
                    let ready = if hold > 0 {
                        hold -= 1;
                        false
                    } else {
                        low_run >= 3 * cpb64 || rng.gen_bool(0.5)
                    };
                    low_run = if ready { 0 } else { low_run + 1 };
                    b.uut.tx_valid.next = offer.is_some();
                    b.uut.tx_data.next = u64::from(offer.unwrap_or(0)).into();
                    b.uut.rx_ready.next = ready;
                    b.settle();

                    let valid = b.uut.rx_valid.val();
                    if valid != model_held.is_some() {
                        return Err(format!(
                            "clock {t}: valid {valid}, model holds {model_held:?}"
                        ));
                    }
                    if let Some(want) = model_held {
                        let got = b.uut.rx_data.val().index() as u8;
                        if got != want {
                            return Err(format!("clock {t}: data {got:#04x} want {want:#04x}"));
                        }
                    }
                    if b.uut.overrun.val() != model_overrun {
                        return Err(format!("clock {t}: overrun {}", b.uut.overrun.val()));
                    }
                    if b.uut.framing_error.val() {
                        return Err(format!("clock {t}: framing error on a clean line"));
                    }

                    if let (Some(byte), true) = (offer, b.uut.tx_ready.val()) {
                        in_flight.push_back((t + decided, byte));
                        offer = None;
                        sent += 1;
                    }
                    if ready && model_held.take().is_some() {
                        delivered += 1;
                    }
                    model_overrun = false;
                    if in_flight.front().is_some_and(|&(at, _)| at == t) {
                        let (_, byte) = in_flight.pop_front().unwrap_or_default();
                        if valid && !ready {
                            model_overrun = true;
                            overruns += 1;
                        } else {
                            model_held = Some(byte);
                        }
                    }
                    b.tick();
                    t += 1;
                }
                if delivered + overruns != 300 {
                    return Err(format!("{delivered} delivered + {overruns} overrun != 300"));
                }
                if long_holds && (overruns == 0 || delivered < 150) {
                    return Err(format!("{delivered} delivered, {overruns} overrun"));
                }
                if !long_holds && overruns != 0 {
                    return Err(format!("{overruns} overruns with short stalls"));
                }
                Ok(())
            },
        );
    }

    #[test]
    fn uart_loopback_in_order_under_short_stalls_25() {
        loopback(25, false);
    }

    #[test]
    fn uart_loopback_in_order_under_short_stalls_7() {
        loopback(7, false);
    }

    #[test]
    fn uart_loopback_overruns_when_consumer_holds_25() {
        loopback(25, true);
    }

    #[test]
    fn uart_loopback_overruns_when_consumer_holds_7() {
        loopback(7, true);
    }

    /// What the receiver reported, and in which clock.
    #[derive(Debug, PartialEq, Eq)]
    enum Event {
        Byte(u64, u8),
        Overrun(u64),
        Framing(u64),
    }

    /// Drives `rxd` with one level a clock (`ready` held high) and collects the receiver's
    /// reports.
    fn drive(cpb: u32, levels: &[bool]) -> Vec<Event> {
        let mut b = Bench::new(UartRx::new(cpb));
        b.uut.ready.next = true;
        let mut events = vec![];
        for (t, &level) in levels.iter().enumerate() {
            let t = t as u64;
            b.uut.rxd.next = level;
            b.settle();
            if b.uut.valid.val() {
                events.push(Event::Byte(t, b.uut.data.val().index() as u8));
            }
            // With `ready` high, `fresh` and `fresh_data` are `valid` and `data`.
            assert_eq!(b.uut.fresh.val(), b.uut.valid.val(), "fresh at clock {t}");
            if b.uut.fresh.val() {
                assert_eq!(
                    b.uut.fresh_data.val(),
                    b.uut.data.val(),
                    "fresh_data at {t}"
                );
            }
            if b.uut.overrun.val() {
                events.push(Event::Overrun(t));
            }
            if b.uut.framing_error.val() {
                events.push(Event::Framing(t));
            }
            b.tick();
        }
        events
    }

    /// A line of `clocks` idle clocks.
    fn idle(line: &mut Vec<bool>, clocks: u64) {
        line.extend((0..clocks).map(|_| true));
    }

    /// Appends a frame of `byte` with bits of `period` clocks (fractional, for baud-rate
    /// error) and the given stop-bit level; returns the clock its start bit begins.
    fn frame(line: &mut Vec<bool>, byte: u8, period: f64, stop: bool) -> u64 {
        let start = line.len() as u64;
        let level = |bit: usize| match bit {
            0 => false,
            1..=8 => byte >> (bit - 1) & 1 == 1,
            _ => stop,
        };
        let edge = |bit: usize| start + (bit as f64 * period).round() as u64;
        for bit in 0..10 {
            let clocks = edge(bit + 1) - edge(bit);
            line.extend((0..clocks).map(|_| level(bit)));
        }
        start
    }

    #[test]
    fn uart_rx_drops_frame_with_low_stop_bit() {
        for cpb in [25u32, 7] {
            let c = u64::from(cpb);
            // The stop bit low, the line back high right after it, or held low (a break).
            for extra_low in [0, 2 * c] {
                let mut line = vec![];
                idle(&mut line, 3 * c);
                let bad = frame(&mut line, 0xa5, c as f64, false);
                line.extend((0..extra_low).map(|_| false));
                idle(&mut line, 3 * c);
                let good = frame(&mut line, 0x3c, c as f64, true);
                idle(&mut line, 3 * c);
                let events = drive(cpb, &line);
                assert_eq!(
                    events,
                    vec![
                        Event::Framing(bad + rx_latency(c)),
                        Event::Byte(good + rx_latency(c), 0x3c)
                    ],
                    "clocks per bit {cpb}, break of {extra_low} clocks"
                );
            }
        }
    }

    #[test]
    fn uart_rx_ignores_glitch_shorter_than_half_a_bit() {
        for cpb in [25u32, 7] {
            let c = u64::from(cpb);
            let mut line = vec![];
            idle(&mut line, 3 * c);
            for glitch in 1..=c / 2 {
                line.extend((0..glitch).map(|_| false));
                idle(&mut line, 12 * c);
            }
            // One clock longer and it is half a bit or more: taken as a start bit, then all
            // ones to the stop bit.
            let long = line.len() as u64;
            line.extend((0..c / 2 + 1).map(|_| false));
            idle(&mut line, 12 * c);
            let good = frame(&mut line, 0x5a, c as f64, true);
            idle(&mut line, 3 * c);
            assert_eq!(
                drive(cpb, &line),
                vec![
                    Event::Byte(long + rx_latency(c), 0xff),
                    Event::Byte(good + rx_latency(c), 0x5a)
                ],
                "clocks per bit {cpb}"
            );
        }
    }

    #[test]
    fn uart_rx_tolerates_3_percent_baud_error() {
        let seed = test_seed();
        println!("SKIPWALK_SEED={seed}");
        let mut rng = SmallRng::seed_from_u64(seed);
        for cpb in [25u32, 7] {
            for error in [-0.03, 0.03] {
                let period = f64::from(cpb) * (1.0 + error);
                let bytes: Vec<u8> = (0..40).map(|_| rng.gen()).collect();
                let mut line = vec![];
                idle(&mut line, 2 * u64::from(cpb));
                for &byte in &bytes {
                    frame(&mut line, byte, period, true);
                }
                idle(&mut line, 20 * u64::from(cpb));
                let got: Vec<u8> = drive(cpb, &line)
                    .into_iter()
                    .map(|e| match e {
                        Event::Byte(_, byte) => Ok(byte),
                        other => Err(other),
                    })
                    .collect::<Result<_, _>>()
                    .unwrap_or_else(|e| {
                        panic!("SKIPWALK_SEED={seed}: cpb {cpb} error {error}: {e:?}")
                    });
                assert_eq!(
                    got, bytes,
                    "SKIPWALK_SEED={seed}: clocks per bit {cpb}, baud error {error}"
                );
            }
        }
    }

    #[test]
    fn uart_rx_reset_drops_held_byte() {
        let mut b = Bench::new(UartRx::new(7));
        let mut line = vec![];
        idle(&mut line, 14);
        frame(&mut line, 0x81, 7.0, true);
        idle(&mut line, 14);
        for level in line {
            b.uut.rxd.next = level;
            b.tick();
        }
        b.settle();
        assert!(b.uut.valid.val(), "the byte is held while ready is low");
        assert_eq!(b.uut.data.val().index(), 0x81);
        b.uut.reset.next = true;
        b.tick();
        b.uut.reset.next = false;
        b.settle();
        assert!(!b.uut.valid.val(), "reset empties the holding register");
    }
}
