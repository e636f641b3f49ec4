//! `UartTx`: an 8N1 serial transmitter with a valid/ready byte input.
//!
//! | port     | width | dir | meaning                                                        |
//! |----------|-------|-----|----------------------------------------------------------------|
//! | `clock`, `reset` | 1 | in | clock; synchronous reset (abandons the byte being sent, line goes idle) |
//! | `valid`  | 1     | in  | a byte is offered                                              |
//! | `ready`  | 1     | out | the transmitter takes the byte at this clock edge              |
//! | `data`   | 8     | in  | the byte, sent least significant bit first                     |
//! | `txd`    | 1     | out | the serial line, high when idle; driven from a flip-flop       |
//!
//! A frame is a low start bit, eight data bits and a high stop bit, each `clocks_per_bit`
//! clocks long ([`UART_CLOCKS_PER_BIT`] = 25 for 4 Mbaud at 100 MHz by default).
//!
//! Latency: the start bit begins on `txd` one clock after the byte is taken (`valid && ready`).
//! Throughput: one byte per `10 * clocks_per_bit` clocks. `ready` is high when the line is idle
//! and in the last clock of a stop bit, so a byte offered in time follows the previous one
//! with no idle gap beyond the stop bit.

use rust_hdl::prelude::*;

use crate::consts::konst;
use crate::with_defaults;

/// Device clocks per UART bit at the link's baud rate ([`abi::board::UART_BAUD`]).
pub const UART_CLOCKS_PER_BIT: u32 = abi::board::BOARD_CLOCK_HZ / abi::board::UART_BAUD;

const _: () = assert!(
    abi::board::BOARD_CLOCK_HZ.is_multiple_of(abi::board::UART_BAUD),
    "the baud rate must divide the board clock exactly"
);

/// Width of the bit-period counters of the UART blocks: up to 256 clocks per bit (a baud rate
/// of at least 1/256 of the clock; the link runs at 1/25).
pub const BIT_COUNT_W: usize = 8;

/// The UART transmitter (see the module documentation).
#[derive(LogicBlock)]
pub struct UartTx {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A byte is offered.
    pub valid: Signal<In, Bit>,
    /// The byte is taken at this edge.
    pub ready: Signal<Out, Bit>,
    /// The byte.
    pub data: Signal<In, Bits<8>>,
    /// Serial line out, idle high.
    pub txd: Signal<Out, Bit>,
    /// A frame is on the line.
    busy: DFF<Bit>,
    /// The line, inverted: the power-on value 0 is an idle (high) line.
    line_low: DFF<Bit>,
    /// Bits still to send after the current one, stop bit at bit 8.
    shift: DFF<Bits<9>>,
    /// Clocks left in the current bit, minus one.
    count: DFF<Bits<BIT_COUNT_W>>,
    /// Bits of the frame still to start after the current one (9 after the start bit).
    bits_left: DFF<Bits<4>>,
    /// `count` is zero: a register of its own, so a bit's end (and `ready`) is one gate
    /// from the flip-flops.
    count_zero: DFF<Bit>,
    /// `bits_left` is zero.
    bits_done: DFF<Bit>,
    /// The current bit ends at this edge.
    bit_end: Signal<Local, Bit>,
    /// The stop bit ends at this edge.
    frame_end: Signal<Local, Bit>,
    bit_clocks_m1: Constant<Bits<BIT_COUNT_W>>,
    count_one: Constant<Bits<BIT_COUNT_W>>,
    bits_after_start: Constant<Bits<4>>,
    bits_one: Constant<Bits<4>>,
    stop_bit: Constant<Bits<9>>,
}

impl UartTx {
    /// A transmitter sending each bit for `clocks_per_bit` clocks (2 to 256).
    pub fn new(clocks_per_bit: u32) -> UartTx {
        assert!(
            (2..=1 << BIT_COUNT_W).contains(&clocks_per_bit),
            "UartTx: clocks_per_bit must be 2..=256, got {clocks_per_bit}"
        );
        with_defaults!(UartTx {
            bit_clocks_m1: konst(u64::from(clocks_per_bit - 1)),
            count_one: konst(1),
            bits_after_start: konst(9),
            bits_one: konst(1),
            stop_bit: konst(1 << 8),
        } defaults {
            clock, reset, valid, ready, data, txd, busy, line_low, shift, count, bits_left,
            count_zero, bits_done, bit_end, frame_end,
        })
    }
}

impl Default for UartTx {
    /// A transmitter at the link's baud rate ([`UART_CLOCKS_PER_BIT`]).
    fn default() -> Self {
        UartTx::new(UART_CLOCKS_PER_BIT)
    }
}

impl Logic for UartTx {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, line_low, shift, count, bits_left, count_zero, bits_done);
        self.bit_end.next = self.busy.q.val() && self.count_zero.q.val();
        self.frame_end.next = self.bit_end.val() && self.bits_done.q.val();
        // Taking the next byte in the stop bit's last clock starts its start bit right after.
        self.ready.next = !self.busy.q.val() || self.frame_end.val();
        self.txd.next = !self.line_low.q.val();
        if self.busy.q.val() {
            self.count.d.next = self.count.q.val() - self.count_one.val();
        }
        if self.frame_end.val() {
            self.busy.d.next = false;
            self.line_low.d.next = false;
        } else if self.bit_end.val() {
            self.count.d.next = self.bit_clocks_m1.val();
            self.line_low.d.next = !self.shift.q.val().get_bit(0);
            self.shift.d.next = self.shift.q.val() >> 1;
            self.bits_left.d.next = self.bits_left.q.val() - self.bits_one.val();
        }
        if self.valid.val() && self.ready.val() {
            self.busy.d.next = true;
            self.line_low.d.next = true;
            self.shift.d.next = bit_cast::<9, 8>(self.data.val()) | self.stop_bit.val();
            self.count.d.next = self.bit_clocks_m1.val();
            self.bits_left.d.next = self.bits_after_start.val();
        }
        if self.reset.val() {
            self.busy.d.next = false;
            self.line_low.d.next = false;
        }
        // Both flags follow their counters' next values, from the registers alone (they
        // matter only while busy, and a frame's start loads both counters with nonzero
        // values): `count` reaches zero after one, a bit's end reloads it; `bits_left`
        // changes only at a bit's end, and the stop bit's end ends the frame.
        self.count_zero.d.next = self.busy.q.val()
            && !self.bit_end.val()
            && (self.count.q.val() == self.count_one.val());
        self.bits_done.d.next = self.busy.q.val() && self.bits_done.q.val();
        if self.bit_end.val() {
            self.bits_done.d.next = self.busy.q.val()
                && !self.bits_done.q.val()
                && (self.bits_left.q.val() == self.bits_one.val());
        }
    }
}

crate::clocked!(UartTx);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// The line level `clock` clocks after a frame of `byte` started: start bit, data LSB
    /// first, stop bit.
    fn frame_level(byte: u8, cpb: u64, clock: u64) -> bool {
        match clock / cpb {
            0 => false,
            i @ 1..=8 => byte >> (i - 1) & 1 == 1,
            _ => true,
        }
    }

    /// Random bytes offered with random gaps (valid held with its byte until taken): the line
    /// must match the frame model in every clock, and `ready` must rise exactly when the
    /// previous frame's stop bit reaches its last clock.
    fn line_matches_model(cpb: u32) {
        let cpb64 = u64::from(cpb);
        run_seeded(
            &format!("uart_tx-{cpb}"),
            test_seed(),
            || UartTx::new(cpb),
            |b, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                // (clock the frame's start bit begins, byte)
                let mut frame: Option<(u64, u8)> = None;
                let mut offer: Option<u8> = None;
                let mut gap = 0u64;
                let mut sent = 0;
                let mut back_to_back = 0;
                let mut t = 0u64;
                while sent < 300 || frame.is_some_and(|(s, _)| t < s + 10 * cpb64 + 2) {
                    if offer.is_none() && sent < 300 {
                        if gap > 0 {
                            gap -= 1;
                        } else if rng.gen_bool(0.3) {
                            offer = Some(rng.gen());
                        } else if rng.gen_bool(0.01) {
                            gap = rng.gen_range(1..=15 * cpb64);
                        }
                    }
                    b.uut.valid.next = offer.is_some();
                    b.uut.data.next = u64::from(offer.unwrap_or(0)).into();
                    b.settle();
                    let want_line = match frame {
                        Some((s, byte)) if t >= s && t < s + 10 * cpb64 => {
                            frame_level(byte, cpb64, t - s)
                        }
                        _ => true,
                    };
                    if b.uut.txd.val() != want_line {
                        return Err(format!(
                            "clock {t}: txd {} want {want_line}",
                            b.uut.txd.val()
                        ));
                    }
                    let want_ready = frame.is_none_or(|(s, _)| t + 1 >= s + 10 * cpb64);
                    if b.uut.ready.val() != want_ready {
                        return Err(format!(
                            "clock {t}: ready {} want {want_ready}",
                            b.uut.ready.val()
                        ));
                    }
                    if let (Some(byte), true) = (offer, want_ready) {
                        if frame.is_some_and(|(s, _)| t + 1 == s + 10 * cpb64) {
                            back_to_back += 1;
                        }
                        frame = Some((t + 1, byte));
                        offer = None;
                        sent += 1;
                    }
                    b.tick();
                    t += 1;
                }
                if back_to_back < 50 {
                    return Err(format!("only {back_to_back} frames followed without a gap"));
                }
                // Reset in the middle of a frame: the line is idle and ready again at once.
                b.uut.valid.next = true;
                b.uut.data.next = 0.into();
                b.tick();
                for _ in 0..cpb64 + 1 {
                    b.uut.valid.next = false;
                    b.tick();
                }
                b.settle();
                if b.uut.txd.val() || b.uut.ready.val() {
                    return Err("the zero byte's first data bit is not on the line".into());
                }
                b.uut.reset.next = true;
                b.tick();
                b.uut.reset.next = false;
                b.settle();
                if !b.uut.txd.val() || !b.uut.ready.val() {
                    return Err("after reset the line is not idle and ready".into());
                }
                Ok(())
            },
        );
    }

    #[test]
    fn uart_tx_line_matches_frames_at_25_clocks_per_bit() {
        line_matches_model(25);
    }

    #[test]
    fn uart_tx_line_matches_frames_at_7_clocks_per_bit() {
        line_matches_model(7);
    }
}
