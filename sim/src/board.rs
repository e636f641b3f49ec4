//! The virtual board: the Verilator model of the exact Alchitry Cu top level
//! ([`rtl::cu_top::CuTop`]), built at a faster UART baud rate than the board's and otherwise
//! the same RTL, its UART pins driven and sampled bit by bit as the FTDI chip would.
//!
//! [`VirtualBoard`] keeps a queue of bytes for the board's `usb_rx` pin (sent 8N1, back to
//! back, one bit every [`VirtualBoard::clocks_per_bit`] cycles) and a UART receiver on its
//! `usb_tx` pin (falling edge, then mid-bit samples; a missing stop bit counts as a framing
//! error). Its [`LineMonitor`] decodes both directions passively, byte by byte as they cross
//! the pins, with `abi::bridge`'s decoder to
//! measure payload throughput against the line rate.

use std::collections::VecDeque;

use abi::bridge::{Decoder, Packet, Side, UART_BITS_PER_BYTE};

use crate::VCuTop;

/// Clocks per UART bit of the virtual board ([`rtl::cu_top::SIM_CLOCKS_PER_BIT`]; the
/// board's is [`abi::board`]'s 25, 4 Mbaud at 100 MHz).
pub const CLOCKS_PER_BIT: u64 = rtl::cu_top::SIM_CLOCKS_PER_BIT;

/// Where the board's receiver is in a byte.
#[derive(Clone, Copy, Debug)]
enum TxSample {
    /// Line idle (high), waiting for a start bit.
    Idle,
    /// In a byte: bits sampled so far (0 = start bit), cycles to the next sample, the bits.
    Byte { bit: u32, wait: u64, value: u16 },
}

/// Counters of the board's UART pins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PinStats {
    /// Bytes driven into `usb_rx`.
    pub bytes_in: u64,
    /// Bytes received from `usb_tx`.
    pub bytes_out: u64,
    /// Bytes from `usb_tx` without a stop bit (never expected: the RTL's transmitter is exact).
    pub framing_errors: u64,
}

/// The Cu top level in Verilator with its UART pins attached to byte queues.
pub struct VirtualBoard {
    model: VCuTop,
    rx_queue: VecDeque<u8>,
    /// The byte being driven: its 10 line bits (start, data LSB first, stop), the bit, cycles
    /// left of it.
    rx_bits: Option<(u16, u32, u64)>,
    tx: TxSample,
    tx_out: Vec<u8>,
    stats: PinStats,
    monitor: LineMonitor,
}

impl Default for VirtualBoard {
    fn default() -> Self {
        VirtualBoard::new()
    }
}

impl VirtualBoard {
    /// A board just configured: the button released, the line idle.
    pub fn new() -> VirtualBoard {
        let mut model = VCuTop::new();
        model.set_rst_n(1);
        model.set_usb_rx(1);
        model.eval();
        VirtualBoard {
            model,
            rx_queue: VecDeque::new(),
            rx_bits: None,
            tx: TxSample::Idle,
            tx_out: vec![],
            stats: PinStats::default(),
            monitor: LineMonitor::default(),
        }
    }

    /// Clocks per UART bit of this board.
    pub fn clocks_per_bit(&self) -> u64 {
        CLOCKS_PER_BIT
    }

    /// Queues bytes for the board's `usb_rx` pin.
    pub fn send(&mut self, bytes: &[u8]) {
        self.rx_queue.extend(bytes);
    }

    /// Bytes queued for `usb_rx` and not yet fully on the pin.
    pub fn pending_input(&self) -> usize {
        self.rx_queue.len() + usize::from(self.rx_bits.is_some())
    }

    /// Takes the bytes the board sent on `usb_tx` so far.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.tx_out)
    }

    /// Whether the board is sending a byte right now.
    pub fn transmitting(&self) -> bool {
        matches!(self.tx, TxSample::Byte { .. })
    }

    /// The eight LEDs.
    pub fn leds(&self) -> u8 {
        self.model.led() as u8
    }

    /// Presses (`true`) or releases the reset button.
    pub fn press_reset(&mut self, pressed: bool) {
        self.model.set_rst_n(u64::from(!pressed));
    }

    /// Pin counters.
    pub fn stats(&self) -> PinStats {
        self.stats
    }

    /// Both directions of the line as decoded so far (bytes counted as they cross the pins).
    pub fn monitor(&self) -> &LineMonitor {
        &self.monitor
    }

    /// Prints every frame the line monitor decodes to stderr (clock, direction, sequence
    /// number, packet), or stops doing so.
    pub fn trace_frames(&mut self, on: bool) {
        self.monitor.to_board.trace = on.then_some("host->board");
        self.monitor.to_host.trace = on.then_some("board->host");
    }

    /// Starts a new measurement of the line (frame tracing stays as it was).
    pub fn reset_monitor(&mut self) {
        let trace = (self.monitor.to_board.trace, self.monitor.to_host.trace);
        self.monitor = LineMonitor::default();
        (self.monitor.to_board.trace, self.monitor.to_host.trace) = trace;
    }

    /// Clock cycles run.
    pub fn cycle(&self) -> u64 {
        self.model.cycle()
    }

    /// Runs `cycles` clock cycles, driving and sampling the UART pins.
    pub fn run(&mut self, cycles: u64) {
        for _ in 0..cycles {
            self.drive_rx();
            self.model.step();
            self.sample_tx();
        }
    }

    fn drive_rx(&mut self) {
        if self.rx_bits.is_none() {
            if let Some(b) = self.rx_queue.pop_front() {
                // Start bit 0, the data LSB first, stop bit 1.
                let bits = (u16::from(b) << 1) | (1 << 9);
                self.rx_bits = Some((bits, 0, CLOCKS_PER_BIT));
                self.stats.bytes_in += 1;
                self.monitor.to_board.observe(&[b], self.model.cycle());
            }
        }
        let level = match &mut self.rx_bits {
            None => 1,
            Some((bits, bit, left)) => {
                let level = (*bits >> *bit) & 1;
                *left -= 1;
                if *left == 0 {
                    *bit += 1;
                    *left = CLOCKS_PER_BIT;
                    if *bit == UART_BITS_PER_BYTE as u32 {
                        self.rx_bits = None;
                    }
                }
                level
            }
        };
        self.model.set_usb_rx(u64::from(level));
    }

    fn sample_tx(&mut self) {
        let level = self.model.usb_tx() as u16 & 1;
        self.tx = match self.tx {
            TxSample::Idle if level == 0 => TxSample::Byte {
                bit: 0,
                wait: CLOCKS_PER_BIT / 2,
                value: 0,
            },
            TxSample::Idle => TxSample::Idle,
            TxSample::Byte { bit, wait, value } if wait > 1 => TxSample::Byte {
                bit,
                wait: wait - 1,
                value,
            },
            TxSample::Byte { bit, value, .. } => {
                let value = value | (level << bit);
                if bit + 1 < UART_BITS_PER_BYTE as u32 {
                    TxSample::Byte {
                        bit: bit + 1,
                        wait: CLOCKS_PER_BIT,
                        value,
                    }
                } else {
                    // value: bit 0 start, bits 1..=8 data, bit 9 stop.
                    if value & 1 == 0 && value >> 9 == 1 {
                        self.tx_out.push((value >> 1) as u8);
                        self.stats.bytes_out += 1;
                        self.monitor
                            .to_host
                            .observe(&[(value >> 1) as u8], self.model.cycle());
                    } else {
                        self.stats.framing_errors += 1;
                    }
                    TxSample::Idle
                }
            }
        };
    }
}

/// One direction of the line as a passive observer sees it.
#[derive(Clone, Debug)]
pub struct DirectionStats {
    decoder: Decoder,
    /// Line bytes.
    pub line_bytes: u64,
    /// DMA data bytes in intact frames (DMA read data words, DMA write data), duplicates
    /// included: what the line carried, not what was new.
    pub payload_bytes: u64,
    /// Intact frames.
    pub frames: u64,
    /// Damaged frames (dropped by the receiver).
    pub damaged_frames: u64,
    /// Cycle of the first and of the last line byte.
    pub span: Option<(u64, u64)>,
    /// Prints every frame to stderr, with its clock and this label, when set.
    pub trace: Option<&'static str>,
}

impl DirectionStats {
    fn new(from: Side) -> DirectionStats {
        DirectionStats {
            decoder: Decoder::new(from),
            line_bytes: 0,
            payload_bytes: 0,
            frames: 0,
            damaged_frames: 0,
            span: None,
            trace: None,
        }
    }

    fn observe(&mut self, bytes: &[u8], cycle: u64) {
        if bytes.is_empty() {
            return;
        }
        self.line_bytes += bytes.len() as u64;
        self.span = Some(
            self.span
                .map_or((cycle, cycle), |(first, _)| (first, cycle)),
        );
        for result in self.decoder.push_all(bytes) {
            if let Some(label) = self.trace {
                match &result {
                    Ok((seq, packet)) => eprintln!("{cycle:>12} {label} #{seq} {}", brief(packet)),
                    Err(e) => eprintln!("{cycle:>12} {label} damaged frame: {e}"),
                }
            }
            match result {
                Ok((_, Packet::DmaReadData { words, .. })) => {
                    self.frames += 1;
                    self.payload_bytes += 4 * words.len() as u64;
                }
                Ok((_, Packet::DmaWrite { data, .. })) => {
                    self.frames += 1;
                    self.payload_bytes += data.len() as u64;
                }
                Ok(_) => self.frames += 1,
                Err(_) => self.damaged_frames += 1,
            }
        }
    }

    /// DMA data bytes per byte time of the line between the first and the last byte seen:
    /// the payload throughput as a fraction of the line rate (baud / 10 bytes a second).
    pub fn payload_fraction(&self, clocks_per_bit: u64) -> f64 {
        match self.span {
            Some((first, last)) if last > first => {
                let byte_times =
                    (last - first) as f64 / (clocks_per_bit * UART_BITS_PER_BYTE as u64) as f64;
                self.payload_bytes as f64 / byte_times
            }
            _ => 0.0,
        }
    }
}

/// A packet in one line: its kind and fields, data summarized by length.
fn brief(packet: &Packet) -> String {
    match packet {
        Packet::DmaReadData {
            tag,
            last,
            error,
            words,
        } => format!(
            "DmaReadData {{ tag: {tag}, last: {last}, error: {error} }} ({} words)",
            words.len()
        ),
        Packet::DmaWrite { da, last, data } => format!(
            "DmaWrite {{ da: {da:#x}, last: {last} }} ({} bytes)",
            data.len()
        ),
        _ => format!("{packet:?}"),
    }
}

/// Both directions of the line, decoded passively.
#[derive(Clone, Debug)]
pub struct LineMonitor {
    /// Host → board.
    pub to_board: DirectionStats,
    /// Board → host.
    pub to_host: DirectionStats,
}

impl Default for LineMonitor {
    fn default() -> Self {
        LineMonitor {
            to_board: DirectionStats::new(Side::Host),
            to_host: DirectionStats::new(Side::Device),
        }
    }
}
