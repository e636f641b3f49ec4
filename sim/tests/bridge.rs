//! The UART host bridge's Verilog (`rtl::bridge::Bridge`, simulation build) in Verilator,
//! between a host and a device model.
//!
//! The host side drives `rxd` bit by bit (8N1, back to back) with frames from
//! `abi::bridge::encode` and decodes `txd` bit by bit into `abi::bridge::Decoder`; it keeps the
//! link with `abi::bridge::Sender` (its channels 0 and 1) and `abi::bridge::Receiver` (the
//! device's channel), answers DMA reads from its memory (zero words with `error` beyond
//! [`ERROR_BASE`]) and applies DMA writes to it. The device side plays the Device's host port:
//! a register file behind `mmio_req`/`mmio_rsp` and a script of DMA reads, DMA writes and
//! events; every valid and every ready on the port stalls at random, and a valid, once raised,
//! holds its data until taken. Its events can instead be the queue manager's: a pending bit
//! per VI and `event_vi` the lowest pending, which changes under a held `event_valid` when a
//! lower VI's event arrives.
//!
//! Checks: every MMIO write reaches the register file exactly once and in order; every MMIO
//! read returns the value of the last write before it; every DMA read delivers exactly its
//! `ceil(len / 4)` words with its tag, `error`, and `last` on the final word only; every DMA
//! write arrives in order as packets of 256 bytes at consecutive addresses, the rest in the
//! final one with `last` (a packet ends early, at a word, only when the write's data waits for
//! a read the Device requested after it), padding zero, and the host's memory ends up
//! byte-exact; events arrive in order, each with the VI taken at the port, and every event
//! raised is taken. The fuzz damages the line in both directions (bit flips, dropped bytes,
//! inserted bytes with flags and escapes among them).
//!
//! A failing run names its seed (rerun with `SKIPWALK_SEED=<seed>`) and is replayed with a
//! waveform of its last clocks under `target/waves/`.

use std::collections::{HashMap, VecDeque};

use abi::bridge::{
    self as ab, encode, split_dma_read, Decoder, Packet, Receiver, Reply, Sender, Side,
};
use abi::DEVICE_VIS;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rtl::bench::{run_seeded_with, test_seed, Cycles};
use rtl::bridge::{CORE_RESET_CYCLES, SIM_CLOCKS_PER_BIT as CPB};
use sim::VBridge;

/// Clocks of one byte on the line.
const BYTE_CYCLES: u64 = ab::UART_BITS_PER_BYTE as u64 * CPB;
/// The host's retransmission timeout (the device's is `SIM_RETRANSMIT_TIMEOUT_CYCLES`).
const HOST_TIMEOUT: u64 = 3000 * BYTE_CYCLES;
/// Host memory size; DMA writes go below [`READ_BASE`], reads above it.
const MEM_BYTES: usize = 1 << 20;
/// Start of the read-only region DMA reads come from.
const READ_BASE: u64 = 1 << 19;
/// Reads at or beyond this address fail (the host answers with `error`).
const ERROR_BASE: u64 = MEM_BYTES as u64;

/// Damage done to each byte crossing the line, as probabilities.
#[derive(Clone, Copy, Debug, Default)]
struct Damage {
    flip: f64,
    drop: f64,
    insert: f64,
}

impl Damage {
    fn apply(&self, rng: &mut SmallRng, byte: u8, out: &mut Vec<u8>) {
        if self.insert > 0.0 && rng.gen_bool(self.insert) {
            out.push(match rng.gen_range(0..4) {
                0 => ab::FLAG,
                1 => ab::ESC,
                _ => rng.gen(),
            });
        }
        if self.drop > 0.0 && rng.gen_bool(self.drop) {
            return;
        }
        if self.flip > 0.0 && rng.gen_bool(self.flip) {
            out.push(byte ^ 1 << rng.gen_range(0..8));
        } else {
            out.push(byte);
        }
    }
}

/// One 8N1 byte stream onto a pin.
#[derive(Default)]
struct Serializer {
    queue: VecDeque<u8>,
    /// Line bits of the byte on the pin, the bit, clocks left of it.
    cur: Option<(u16, u32, u64)>,
}

impl Serializer {
    /// The pin level for this clock.
    fn level(&mut self) -> bool {
        if self.cur.is_none() {
            if let Some(b) = self.queue.pop_front() {
                self.cur = Some((u16::from(b) << 1 | 1 << 9, 0, CPB));
            }
        }
        let Some((bits, bit, left)) = self.cur else {
            return true;
        };
        let level = bits >> bit & 1 == 1;
        self.cur = if left > 1 {
            Some((bits, bit, left - 1))
        } else if bit < 9 {
            Some((bits, bit + 1, CPB))
        } else {
            None
        };
        level
    }

    fn idle(&self) -> bool {
        self.queue.is_empty() && self.cur.is_none()
    }
}

/// One 8N1 byte stream from a pin, sampled mid-bit.
#[derive(Default)]
struct Deserializer {
    /// In a byte: bit index (0 = start), clocks to its sample, bits so far.
    cur: Option<(u32, u64, u8)>,
}

impl Deserializer {
    /// Takes the pin level of one clock; a byte when its stop bit is sampled.
    fn clock(&mut self, level: bool) -> Result<Option<u8>, String> {
        match self.cur {
            None => {
                if !level {
                    self.cur = Some((0, CPB / 2 - 1, 0));
                }
                Ok(None)
            }
            Some((bit, wait, value)) if wait > 0 => {
                self.cur = Some((bit, wait - 1, value));
                Ok(None)
            }
            Some((bit, _, value)) => match bit {
                0 if level => Err("txd: start bit too short".into()),
                0 => {
                    self.cur = Some((1, CPB - 1, 0));
                    Ok(None)
                }
                1..=8 => {
                    self.cur = Some((bit + 1, CPB - 1, value | u8::from(level) << (bit - 1)));
                    Ok(None)
                }
                _ => {
                    self.cur = None;
                    if level {
                        Ok(Some(value))
                    } else {
                        Err("txd: missing stop bit".into())
                    }
                }
            },
        }
    }
}

/// A register access the host performs.
#[derive(Clone, Copy, Debug)]
enum MmioOp {
    Write(u32, u32),
    Read(u32),
}

/// A host channel: its sender, what waits for the window, and its timer.
struct HostChannel {
    sender: Sender<Packet>,
    backlog: VecDeque<Packet>,
    timer_start: u64,
    base: u8,
}

impl HostChannel {
    fn new() -> HostChannel {
        HostChannel {
            sender: Sender::new(),
            backlog: VecDeque::new(),
            timer_start: 0,
            base: 0,
        }
    }
}

/// The host's end of the link.
struct Host {
    dec: Decoder,
    out: Serializer,
    inp: Deserializer,
    damage_out: Damage,
    damage_in: Damage,
    synced: bool,
    sync_reset: bool,
    nonce: u8,
    sync_sent_at: Option<u64>,
    ch: [HostChannel; 2],
    rx: Receiver,
    reply: Option<Reply>,
    mmio_ops: VecDeque<MmioOp>,
    /// Host's view of the registers: what reads must return.
    regs: HashMap<u32, u32>,
    /// Reads offered, oldest first, with the value they must return.
    reads: VecDeque<(u32, u32)>,
    writes_sent: Vec<(u32, u32)>,
    mem: Vec<u8>,
    /// Device writes not yet fully arrived: address and data of the rest, and whether its
    /// packets may end before 256 bytes (its data waits for a read).
    expect_writes: VecDeque<(u64, Vec<u8>, bool)>,
    /// DMA write packets that ended before 256 bytes without being their write's last.
    early_packets: u64,
    expect_reads: VecDeque<Packet>,
    expect_events: VecDeque<u8>,
    /// Events delivered, in order.
    events: Vec<u8>,
    frames_rejected: u64,
}

impl Host {
    fn new(mem: Vec<u8>, damage: Damage, sync_reset: bool) -> Host {
        Host {
            dec: Decoder::new(Side::Device),
            out: Serializer::default(),
            inp: Deserializer::default(),
            damage_out: damage,
            damage_in: damage,
            synced: false,
            sync_reset,
            nonce: 0x5a,
            sync_sent_at: None,
            ch: [HostChannel::new(), HostChannel::new()],
            rx: Receiver::new(),
            reply: None,
            mmio_ops: VecDeque::new(),
            regs: HashMap::new(),
            reads: VecDeque::new(),
            writes_sent: vec![],
            mem,
            expect_writes: VecDeque::new(),
            early_packets: 0,
            expect_reads: VecDeque::new(),
            expect_events: VecDeque::new(),
            events: vec![],
            frames_rejected: 0,
        }
    }

    /// Puts one frame on the line (through the damage).
    fn send(&mut self, rng: &mut SmallRng, p: &Packet, seq: u8) {
        let mut line = vec![];
        for b in encode(p, seq) {
            self.damage_out.apply(rng, b, &mut line);
        }
        self.out.queue.extend(line);
    }

    /// Everything the host does in one clock but driving the pin.
    fn clock(&mut self, rng: &mut SmallRng, now: u64, txd: bool) -> Result<(), String> {
        if let Some(byte) = self.inp.clock(txd)? {
            let mut bytes = vec![];
            self.damage_in.apply(rng, byte, &mut bytes);
            for b in bytes {
                match self.dec.push(b) {
                    Some(Ok((seq, p))) => self.receive(now, seq, p)?,
                    Some(Err(_)) => self.frames_rejected += 1,
                    None => {}
                }
            }
        }
        // Session: Sync until answered, again after a timeout with a new nonce.
        if !self.synced {
            let due = self.sync_sent_at.is_none_or(|t| now > t + HOST_TIMEOUT);
            if due && self.out.idle() {
                self.nonce = self.nonce.wrapping_add(1);
                let p = Packet::Sync {
                    from: Side::Host,
                    nonce: self.nonce,
                    version: ab::PROTOCOL_VERSION,
                    reset: self.sync_reset,
                };
                self.send(rng, &p, 0);
                self.sync_sent_at = Some(now);
            }
            return Ok(());
        }
        // Fill the windows.
        while let Some(op) = self.mmio_ops.front().copied() {
            let p = match op {
                MmioOp::Write(addr, data) => Packet::MmioWrite { addr, data },
                MmioOp::Read(addr) => Packet::MmioRead { addr },
            };
            if self.ch[0].sender.offer(p).is_err() {
                break;
            }
            self.mmio_ops.pop_front();
            match op {
                MmioOp::Write(addr, data) => {
                    self.regs.insert(addr, data);
                    self.writes_sent.push((addr, data));
                }
                MmioOp::Read(addr) => {
                    let v = self.regs.get(&addr).copied().unwrap_or(0);
                    self.reads.push_back((addr, v));
                }
            }
        }
        while let Some(p) = self.ch[1].backlog.pop_front() {
            if let Err(p) = self.ch[1].sender.offer(p) {
                self.ch[1].backlog.push_front(p);
                break;
            }
        }
        // Timeouts: go back to the oldest frame.
        for c in &mut self.ch {
            if c.sender.unacknowledged() == 0 || c.sender.base() != c.base {
                c.timer_start = now;
                c.base = c.sender.base();
            } else if now > c.timer_start + HOST_TIMEOUT {
                c.sender.on_timeout();
                c.timer_start = now;
            }
        }
        // One frame at a time onto the line: control first, then completions, then requests.
        if self.out.idle() {
            if let Some(r) = self.reply.take() {
                let p = r.packet(Side::Host, ab::CH_DEVICE);
                self.send(rng, &p, 0);
            } else if let Some((seq, p)) = self.ch[1].sender.next_frame() {
                self.send(rng, &p, seq);
            } else if let Some((seq, p)) = self.ch[0].sender.next_frame() {
                self.send(rng, &p, seq);
            }
        }
        Ok(())
    }

    /// A valid frame from the device.
    fn receive(&mut self, now: u64, seq: u8, p: Packet) -> Result<(), String> {
        if let Packet::Sync {
            nonce,
            version,
            reset,
            ..
        } = p
        {
            if !self.synced && nonce == self.nonce {
                if version != ab::PROTOCOL_VERSION || reset != self.sync_reset {
                    return Err(format!("Sync reply {p:?}"));
                }
                self.synced = true;
                for c in &mut self.ch {
                    c.timer_start = now;
                }
            }
            return Ok(());
        }
        if !self.synced {
            return Ok(());
        }
        match p {
            Packet::Ack { channel, next, .. } => {
                self.ch[usize::from(channel)].sender.on_ack(next);
            }
            Packet::Nak { channel, next, .. } => {
                self.ch[usize::from(channel)].sender.on_nak(next);
            }
            _ => {
                let receipt = self.rx.receive(seq, true);
                if let Some(r) = receipt.reply {
                    self.reply = Some(r);
                }
                if receipt.act {
                    self.act(p)?;
                }
            }
        }
        Ok(())
    }

    /// A device packet accepted in order.
    fn act(&mut self, p: Packet) -> Result<(), String> {
        match p {
            Packet::MmioReadData { addr, data } => {
                let (want_addr, want) = self
                    .reads
                    .pop_front()
                    .ok_or_else(|| format!("MMIO read data {addr:#x} without a read"))?;
                if (addr, data) != (want_addr, want) {
                    return Err(format!(
                        "MMIO read of {want_addr:#x}: got {data:#x} at {addr:#x}, want {want:#x}"
                    ));
                }
            }
            Packet::DmaReadReq { tag, da, len } => {
                let want = self.expect_reads.pop_front();
                if want.as_ref() != Some(&p) {
                    return Err(format!("DMA read request {p:?}, want {want:?}"));
                }
                let n = len.div_ceil(4) as u64;
                let error = da + 4 * n > ERROR_BASE;
                let words: Vec<u32> = (0..n)
                    .map(|i| {
                        if error {
                            0
                        } else {
                            let a = (da + 4 * i) as usize;
                            u32::from_le_bytes(self.mem[a..a + 4].try_into().unwrap())
                        }
                    })
                    .collect();
                self.ch[1]
                    .backlog
                    .extend(split_dma_read(tag, &words, error));
            }
            Packet::DmaWrite { da, last, ref data } => {
                let Some((want_da, rest, may_cut)) = self.expect_writes.front_mut() else {
                    return Err(format!("DMA write {p:?} without a write"));
                };
                let n = data.len();
                let whole = n == rest.len();
                let ok = da == *want_da
                    && n <= rest.len()
                    && data[..] == rest[..n]
                    && last == whole
                    && (whole || n == ab::MAX_DATA_BYTES || (*may_cut && n % 4 == 0));
                if !ok {
                    return Err(format!(
                        "DMA write at {da:#x} of {n} bytes (last {last}), want one at                          {want_da:#x} of the {} bytes left (packets may end early: {may_cut})",
                        rest.len()
                    ));
                }
                self.mem[da as usize..da as usize + n].copy_from_slice(data);
                if !whole && n < ab::MAX_DATA_BYTES {
                    self.early_packets += 1;
                }
                if whole {
                    self.expect_writes.pop_front();
                } else {
                    *want_da += n as u64;
                    rest.drain(..n);
                }
            }
            Packet::Event { vi } => {
                let want = self.expect_events.pop_front();
                if want != Some(vi) {
                    return Err(format!("event {vi}, want {want:?}"));
                }
                self.events.push(vi);
            }
            other => return Err(format!("unexpected packet {other:?}")),
        }
        Ok(())
    }

    fn idle(&self) -> bool {
        self.synced
            && self.mmio_ops.is_empty()
            && self.reads.is_empty()
            && self
                .ch
                .iter()
                .all(|c| c.backlog.is_empty() && c.sender.unacknowledged() == 0)
    }
}

/// What the device model does next on its DMA and event ports.
#[derive(Clone, Debug)]
enum DevOp {
    Read {
        da: u64,
        len: u32,
        tag: u16,
    },
    /// A write; with `dependent`, the Device requests a read (the second op, a `Read`) when
    /// the write has reached that word and withholds the rest of the data until the read's
    /// data is in (as the receive engine's data waits for the send engine's reads in loopback).
    Write {
        da: u64,
        data: Vec<u8>,
        dependent: Option<(usize, Box<DevOp>)>,
    },
    Event(u8),
}

/// Where the device model is in its script.
enum DevState {
    Gap(u64),
    Request(DevOp),
    /// A write's words, the next, the read it still has to request before a word, and
    /// whether it waits for read data.
    WriteData {
        words: Vec<u32>,
        i: usize,
        dependent: Option<(usize, Box<DevOp>)>,
        waiting: bool,
    },
}

/// The Device's side of the host port.
struct Device {
    regs: HashMap<u32, u32>,
    write_log: Vec<(u32, u32)>,
    /// A read's data and the clock it may be offered.
    rsp: Option<(u32, u64)>,
    script: VecDeque<DevOp>,
    state: DevState,
    /// A valid already raised on this port (it holds until taken).
    req_shown: bool,
    wr_shown: bool,
    /// Reads issued: their tag, words and error, the next word.
    read_data: VecDeque<(u16, Vec<u32>, bool, usize)>,
    stall: f64,
    /// The queue manager's events, offered on the event port in place of the script's
    /// (which then has none).
    events: Option<PendingEvents>,
}

impl Device {
    fn new(script: Vec<DevOp>, stall: f64) -> Device {
        Device {
            regs: HashMap::new(),
            write_log: vec![],
            rsp: None,
            script: script.into(),
            state: DevState::Gap(0),
            req_shown: false,
            wr_shown: false,
            read_data: VecDeque::new(),
            stall,
            events: None,
        }
    }

    fn idle(&self) -> bool {
        self.script.is_empty()
            && matches!(self.state, DevState::Gap(_))
            && self.read_data.is_empty()
            && self.events.as_ref().is_none_or(PendingEvents::idle)
    }
}

/// Clocks after an event is taken in which the bridge writes its packet (a slot free: four
/// bytes of three clocks, and the slot's pick and commit).
const EVENT_WRITE_CLOCKS: u64 = 16;

/// The queue manager's events as the Device offers them: a pending bit per VI, raised at
/// random clocks (a VI raised while pending merges with its pending event); `event_valid`
/// while any is pending and `event_vi` the lowest, from the bits at the clock's start, so the
/// VI offered changes under a held `event_valid` when a lower VI's event arrives; the VI
/// offered is cleared in the clock the bridge takes it (a raise of it in that clock merges).
struct PendingEvents {
    /// Bit `vi` set while VI `vi` has an event pending.
    pending: u8,
    /// Raises still to come, and the clock of the next.
    left: u32,
    next_at: u64,
    /// Raises per VI that found its bit clear (each must be taken once).
    raised: [u64; DEVICE_VIS],
    /// Raises merged into a pending event.
    merged: u64,
    /// VIs taken at the port, in order.
    taken: Vec<u8>,
    /// The clock of the last take.
    last_take: Option<u64>,
    /// The VI offered and not taken in the clock before.
    prev_offer: Option<u8>,
    /// Clocks whose VI offered is lower than the one offered and not taken in the clock
    /// before: a lower VI's event arrived while a higher one was offered.
    overtakes: u64,
    /// Raises within [`EVENT_WRITE_CLOCKS`] of a take, while its packet is being written.
    raised_after_take: u64,
}

impl PendingEvents {
    fn new(raises: u32) -> PendingEvents {
        PendingEvents {
            pending: 0,
            left: raises,
            next_at: 0,
            raised: [0; DEVICE_VIS],
            merged: 0,
            taken: vec![],
            last_take: None,
            prev_offer: None,
            overtakes: 0,
            raised_after_take: 0,
        }
    }

    /// The VI on the port: the lowest with an event pending.
    fn offer(&self) -> Option<u8> {
        (self.pending != 0).then(|| self.pending.trailing_zeros() as u8)
    }

    fn idle(&self) -> bool {
        self.left == 0 && self.pending == 0
    }

    /// The end of a clock in which `offer` was on the port and `taken` says whether the
    /// bridge took it: a raise when one is due (once `started`), then the VI taken, which is
    /// returned, leaves the set.
    fn clock(
        &mut self,
        rng: &mut SmallRng,
        now: u64,
        started: bool,
        offer: Option<u8>,
        taken: bool,
    ) -> Option<u8> {
        if offer
            .zip(self.prev_offer)
            .is_some_and(|(vi, prev)| vi < prev)
        {
            self.overtakes += 1;
        }
        self.prev_offer = offer.filter(|_| !taken);
        if started && self.left > 0 && now >= self.next_at {
            let vi = rng.gen_range(0..DEVICE_VIS);
            if self.pending & (1 << vi) != 0 {
                self.merged += 1;
            } else {
                self.pending |= 1 << vi;
                self.raised[vi] += 1;
            }
            if self.last_take.is_some_and(|t| now < t + EVENT_WRITE_CLOCKS) {
                self.raised_after_take += 1;
            }
            self.left -= 1;
            // Bursts a few clocks apart, pauses of up to a few frames between them.
            self.next_at = now
                + match rng.gen_range(0..8) {
                    0..=3 => rng.gen_range(1..32),
                    4..=6 => rng.gen_range(1..10 * BYTE_CYCLES),
                    _ => rng.gen_range(1..100 * BYTE_CYCLES),
                };
        }
        let vi = offer.filter(|_| taken)?;
        self.pending &= !(1 << vi);
        self.taken.push(vi);
        self.last_take = Some(now);
        Some(vi)
    }
}

/// Host, line, device model and the Verilator model, stepped together.
struct Rig {
    m: VBridge,
    rng: SmallRng,
    host: Host,
    dev: Device,
    now: u64,
    core_reset_run: u64,
    core_reset_pulses: Vec<u64>,
    /// Clocks `fault` was high.
    fault_clocks: u64,
}

impl Rig {
    fn new(m: VBridge, seed: u64, host: Host, dev: Device) -> Rig {
        Rig {
            m,
            rng: SmallRng::seed_from_u64(seed),
            host,
            dev,
            now: 0,
            core_reset_run: 0,
            core_reset_pulses: vec![],
            fault_clocks: 0,
        }
    }

    /// One clock.
    fn cycle(&mut self) -> Result<(), String> {
        let rng = &mut self.rng;
        let m = &mut self.m;
        let d = &mut self.dev;
        let now = self.now;
        let go = |rng: &mut SmallRng, stall: f64| !rng.gen_bool(stall);

        // ---- Inputs ----
        m.set_reset(u64::from(now < 4));
        m.set_rxd(u64::from(self.host.out.level()));
        let mmio_ready = go(rng, d.stall);
        m.set_mmio_req_ready(u64::from(mmio_ready));
        let rsp_valid = d.rsp.is_some_and(|(_, t)| now >= t);
        m.set_mmio_rsp_valid(u64::from(rsp_valid));
        m.set_mmio_rsp_data(d.rsp.map_or_else(|| rng.gen(), |(v, _)| u64::from(v)));
        if let DevState::WriteData { waiting, .. } = &mut d.state {
            *waiting &= !d.read_data.is_empty();
        }
        // The op on the request port: the script's, or a write's dependent read.
        let pending_op = match &d.state {
            DevState::Request(op) => Some(op),
            DevState::WriteData {
                i,
                dependent: Some((at, op)),
                ..
            } if i == at => Some(&**op),
            _ => None,
        };
        if !d.req_shown {
            d.req_shown = pending_op.is_some() && go(rng, d.stall);
        }
        let word_due = match &d.state {
            DevState::WriteData {
                words,
                i,
                dependent,
                waiting,
            } => (!*waiting && dependent.as_ref().is_none_or(|(at, _)| at != i))
                .then(|| (words[*i], *i + 1 == words.len())),
            _ => None,
        };
        if !d.wr_shown {
            d.wr_shown = word_due.is_some() && go(rng, d.stall);
        }
        let (mut req_valid, mut ev_valid) = (false, false);
        m.set_dma_req_da(rng.gen());
        m.set_dma_req_len(rng.gen());
        m.set_dma_req_tag(rng.gen());
        m.set_dma_req_write(rng.gen());
        m.set_event_vi(rng.gen());
        if let (Some(op), true) = (pending_op, d.req_shown) {
            match op {
                DevOp::Read { da, len, tag } => {
                    req_valid = true;
                    m.set_dma_req_write(0);
                    m.set_dma_req_da(*da);
                    m.set_dma_req_len(u64::from(*len));
                    m.set_dma_req_tag(u64::from(*tag));
                }
                DevOp::Write { da, data, .. } => {
                    req_valid = true;
                    m.set_dma_req_write(1);
                    m.set_dma_req_da(*da);
                    m.set_dma_req_len(data.len() as u64);
                    m.set_dma_req_tag(rng.gen());
                }
                DevOp::Event(vi) => {
                    ev_valid = true;
                    m.set_event_vi(u64::from(*vi));
                }
            }
        }
        let qm_offer = d.events.as_ref().and_then(PendingEvents::offer);
        if let Some(vi) = qm_offer {
            ev_valid = true;
            m.set_event_vi(u64::from(vi));
        }
        m.set_dma_req_valid(u64::from(req_valid));
        m.set_event_valid(u64::from(ev_valid));
        let wr = word_due.filter(|_| d.wr_shown);
        m.set_dma_wr_valid(u64::from(wr.is_some()));
        m.set_dma_wr_data(wr.map_or_else(|| rng.gen(), |(w, _)| u64::from(w)));
        m.set_dma_wr_last(u64::from(wr.is_some_and(|(_, l)| l)));
        let rd_ready = go(rng, d.stall);
        m.set_dma_rd_ready(u64::from(rd_ready));
        m.eval();

        // ---- Handshakes ----
        if m.mmio_req_valid() != 0 && mmio_ready {
            let addr = m.mmio_req_addr() as u32;
            if d.rsp.is_some() {
                return Err(format!("MMIO request at {addr:#x} while a read is pending"));
            }
            if m.mmio_req_write() != 0 {
                let data = m.mmio_req_wdata() as u32;
                d.regs.insert(addr, data);
                d.write_log.push((addr, data));
            } else {
                let v = d.regs.get(&addr).copied().unwrap_or(0);
                d.rsp = Some((v, now + rng.gen_range(1..40)));
            }
        }
        if rsp_valid && m.mmio_rsp_ready() != 0 {
            d.rsp = None;
        }
        let req_taken = req_valid && m.dma_req_ready() != 0;
        let ev_taken = ev_valid && m.event_ready() != 0;
        if let Some(q) = &mut d.events {
            if let Some(vi) = q.clock(rng, now, self.host.synced, qm_offer, ev_taken) {
                self.host.expect_events.push_back(vi);
            }
        }
        if req_taken || (ev_taken && qm_offer.is_none()) {
            d.req_shown = false;
            let op = match &mut d.state {
                DevState::WriteData {
                    dependent, waiting, ..
                } => {
                    // The write's dependent read: its data comes before the write goes on.
                    *waiting = true;
                    *dependent.take().expect("a dependent read was offered").1
                }
                _ => {
                    let DevState::Request(op) = std::mem::replace(&mut d.state, DevState::Gap(0))
                    else {
                        unreachable!()
                    };
                    op
                }
            };
            match op {
                DevOp::Read { da, len, tag } => {
                    let n = len.div_ceil(4) as u64;
                    let error = da + 4 * n > ERROR_BASE;
                    let words = (0..n)
                        .map(|i| {
                            if error {
                                0
                            } else {
                                let a = (da + 4 * i) as usize;
                                u32::from_le_bytes(self.host.mem[a..a + 4].try_into().unwrap())
                            }
                        })
                        .collect();
                    d.read_data.push_back((tag, words, error, 0));
                    self.host
                        .expect_reads
                        .push_back(Packet::DmaReadReq { tag, da, len });
                }
                DevOp::Write {
                    da,
                    data,
                    dependent,
                } => {
                    // The unused bytes of the final word are garbage: the bridge zeroes them.
                    let words = data
                        .chunks(4)
                        .map(|c| {
                            let mut w = rng.gen::<u32>().to_le_bytes();
                            w[..c.len()].copy_from_slice(c);
                            u32::from_le_bytes(w)
                        })
                        .collect();
                    self.host
                        .expect_writes
                        .push_back((da, data, dependent.is_some()));
                    d.state = DevState::WriteData {
                        words,
                        i: 0,
                        dependent,
                        waiting: false,
                    };
                }
                DevOp::Event(vi) => self.host.expect_events.push_back(vi),
            }
        }
        if wr.is_some() && m.dma_wr_ready() != 0 {
            d.wr_shown = false;
            if let DevState::WriteData { words, i, .. } = &mut d.state {
                *i += 1;
                if *i == words.len() {
                    d.state = DevState::Gap(0);
                }
            }
        }
        if m.dma_rd_valid() != 0 && rd_ready {
            let (word, tag, last, error) = (
                m.dma_rd_data() as u32,
                m.dma_rd_tag() as u16,
                m.dma_rd_last() != 0,
                m.dma_rd_error() != 0,
            );
            let Some((want_tag, words, want_error, i)) = d.read_data.front_mut() else {
                return Err(format!(
                    "DMA read data {word:#x} (tag {tag:#x}) without a read"
                ));
            };
            let want_last = *i + 1 == words.len();
            if (word, tag, last, error) != (words[*i], *want_tag, want_last, *want_error) {
                return Err(format!(
                    "DMA read tag {want_tag:#x} word {i}/{}: got {word:#x} tag {tag:#x} last \
                     {last} error {error}, want {:#x} last {want_last} error {want_error}",
                    words.len(),
                    words[*i]
                ));
            }
            *i += 1;
            if want_last {
                d.read_data.pop_front();
            }
        }
        if let DevState::Gap(n) = d.state {
            if n > 0 {
                d.state = DevState::Gap(n - 1);
            } else if !self.host.synced {
                // The Device starts once the session is up (a Sync drops older frames).
            } else if let Some(op) = d.script.pop_front() {
                d.state = DevState::Request(op);
            }
        }

        // ---- Clock edge ----
        m.step();
        let core_reset = m.core_reset() != 0;
        if core_reset {
            self.core_reset_run += 1;
        } else if self.core_reset_run > 0 {
            self.core_reset_pulses.push(self.core_reset_run);
            self.core_reset_run = 0;
        }
        self.fault_clocks += m.fault();
        let txd = m.txd() != 0;
        self.host.clock(rng, now, txd)?;
        self.now += 1;
        Ok(())
    }

    /// Runs until host and device model are done (and the line quiet), or fails after
    /// `limit` clocks.
    fn run(&mut self, limit: u64) -> Result<(), String> {
        let mut quiet = 0;
        while quiet < 50 * BYTE_CYCLES {
            self.cycle()?;
            if self.now > limit {
                return Err(format!(
                    "not done after {limit} clocks: {} MMIO ops, {} reads, backlog {}/{} \
                     unacked {}/{}, device script {}, reads in flight {}, expected writes {}, \
                     events {}, pending events {:?}, synced {}",
                    self.host.mmio_ops.len(),
                    self.host.reads.len(),
                    self.host.ch[0].backlog.len(),
                    self.host.ch[1].backlog.len(),
                    self.host.ch[0].sender.unacknowledged(),
                    self.host.ch[1].sender.unacknowledged(),
                    self.dev.script.len(),
                    self.dev.read_data.len(),
                    self.host.expect_writes.len(),
                    self.host.expect_events.len(),
                    self.dev.events.as_ref().map(|q| (q.pending, q.left)),
                    self.host.synced,
                ));
            }
            let done = self.host.idle()
                && self.dev.idle()
                && self.dev.rsp.is_none()
                && self.host.expect_writes.is_empty()
                && self.host.expect_events.is_empty()
                && self.host.expect_reads.is_empty();
            quiet = if done { quiet + 1 } else { 0 };
        }
        self.check()
    }

    /// The end state: registers, memory, link.
    fn check(&mut self) -> Result<(), String> {
        if self.dev.write_log != self.host.writes_sent {
            let n = self
                .dev
                .write_log
                .iter()
                .zip(&self.host.writes_sent)
                .take_while(|(a, b)| a == b)
                .count();
            return Err(format!(
                "MMIO writes differ from #{n}: {} done, {} sent; done {:x?}, sent {:x?}",
                self.dev.write_log.len(),
                self.host.writes_sent.len(),
                self.dev.write_log.get(n),
                self.host.writes_sent.get(n),
            ));
        }
        if self.m.link_up() == 0 {
            return Err("link_up is low after the session".into());
        }
        Ok(())
    }
}

impl Cycles for Rig {
    fn cycle(&self) -> u64 {
        self.now
    }
}

/// Runs `body` on a fresh rig from `setup`; a failure is replayed with a waveform of the
/// clocks before it.
fn run_rig(
    name: &str,
    setup: impl Fn(&mut SmallRng) -> (Host, Device),
    body: impl Fn(&mut Rig) -> Result<(), String>,
) {
    let seed = test_seed();
    println!("{name}: SKIPWALK_SEED={seed}");
    run_seeded_with(
        name,
        seed,
        |waves| {
            let m = match waves {
                None => VBridge::new(),
                Some(w) => VBridge::with_waveform_from(&w.path, w.from_cycle)?,
            };
            let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed);
            let (host, dev) = setup(&mut rng);
            Ok(Rig::new(m, seed, host, dev))
        },
        |rig, _| {
            let r = body(rig);
            rig.m.flush_waveform();
            r
        },
    );
}

/// Host memory: random bytes.
fn random_memory(rng: &mut SmallRng) -> Vec<u8> {
    let mut mem = vec![0u8; MEM_BYTES];
    rng.fill(&mut mem[..]);
    mem
}

/// Random MMIO accesses over a few registers (so reads meet earlier writes).
fn random_mmio(rng: &mut SmallRng, n: usize) -> Vec<MmioOp> {
    (0..n)
        .map(|_| {
            let addr = rng.gen_range(0..16u32) * 4 + if rng.gen() { 0xF_FF00 } else { 0 };
            if rng.gen_bool(0.6) {
                // Data with flag and escape bytes now and then.
                let data = match rng.gen_range(0..4) {
                    0 => u32::from_le_bytes([ab::FLAG, ab::ESC, ab::FLAG, ab::ESC]),
                    _ => rng.gen(),
                };
                MmioOp::Write(addr, data)
            } else {
                MmioOp::Read(addr)
            }
        })
        .collect()
}

/// A DMA operation of `len` bytes: a read from the read region (now and then beyond the end
/// of memory, which fails) or a write to the write region, whose data waits now and then
/// for a read it requests after its own request.
fn dma_op(rng: &mut SmallRng, len: u32, write: bool) -> DevOp {
    if write {
        let dependent = rng.gen_bool(0.3).then(|| {
            let at = rng.gen_range(0..len.div_ceil(4) as usize);
            let read_len = rng.gen_range(1..=600);
            (at, Box::new(dma_op(rng, read_len, false)))
        });
        write_op(rng, len, dependent)
    } else {
        let da = if rng.gen_bool(0.1) {
            ERROR_BASE - 4 * rng.gen_range(0..4)
        } else {
            READ_BASE + rng.gen_range(0..(READ_BASE - 8192) / 4) * 4
        };
        DevOp::Read {
            da,
            len,
            tag: rng.gen_range(0..1 << ab::DMA_TAG_BITS),
        }
    }
}

/// A write of `len` random bytes into the write region.
fn write_op(rng: &mut SmallRng, len: u32, dependent: Option<(usize, Box<DevOp>)>) -> DevOp {
    let da = rng.gen_range(0..(READ_BASE - 8192) / 4) * 4;
    let data = (0..len).map(|_| rng.gen()).collect();
    DevOp::Write {
        da,
        data,
        dependent,
    }
}

/// Lengths at every boundary of the split (words, 256-byte packets, the largest request).
const DMA_LENGTHS: [u32; 14] = [
    4, 1, 5, 8, 252, 255, 256, 257, 260, 511, 512, 1000, 4093, 4096,
];

#[test]
fn bridge_mmio_round_trips() {
    run_rig(
        "bridge-mmio",
        |rng| {
            let mut host = Host::new(vec![0; MEM_BYTES], Damage::default(), true);
            host.mmio_ops = random_mmio(rng, 300).into();
            (host, Device::new(vec![], 0.5))
        },
        |rig| rig.run(20_000_000),
    );
}

#[test]
fn bridge_dma_reads_and_writes_split_at_256_bytes() {
    run_rig(
        "bridge-dma",
        |rng| {
            let host = Host::new(random_memory(rng), Damage::default(), true);
            let mut script = vec![];
            for &len in &DMA_LENGTHS {
                script.push(dma_op(rng, len, false));
                script.push(dma_op(rng, len, true));
            }
            (host, Device::new(script, 0.4))
        },
        |rig| rig.run(40_000_000),
    );
}

/// Writes whose data waits for a read the Device requests after the write (loopback: the
/// receive engine writes what the send engine reads): the read must overtake the write, at
/// the start of a packet, inside one, and at a packet boundary.
#[test]
fn bridge_write_waiting_for_a_read_lets_the_read_pass() {
    run_rig(
        "bridge-dependent",
        |rng| {
            let host = Host::new(random_memory(rng), Damage::default(), true);
            let script = [0, 1, 2, 63, 64, 65, 500, 1023]
                .iter()
                .map(|&at| {
                    let read = dma_op(rng, 256, false);
                    write_op(rng, 4096, Some((at, Box::new(read))))
                })
                .collect();
            (host, Device::new(script, 0.4))
        },
        |rig| {
            rig.run(40_000_000)?;
            // Reads requested at the start of a packet drop it instead (nothing to end).
            if rig.host.early_packets < 4 {
                return Err(format!(
                    "only {} packets ended early for a waiting read",
                    rig.host.early_packets
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn bridge_events_arrive_in_order() {
    run_rig(
        "bridge-events",
        |rng| {
            let host = Host::new(vec![0; MEM_BYTES], Damage::default(), true);
            let script = (0..100)
                .map(|i| {
                    if i % 10 == 9 {
                        dma_op(rng, 16, true)
                    } else {
                        DevOp::Event(rng.gen())
                    }
                })
                .collect();
            (host, Device::new(script, 0.5))
        },
        |rig| rig.run(20_000_000),
    );
}

/// The queue manager's events ([`PendingEvents`], 3000 raises) on a line with `damage`:
/// `event_vi` is the lowest VI with an event pending, so it changes under a held
/// `event_valid` when a lower VI's event arrives, also while the packet of the event just
/// taken is being written; DMA requests and MMIO read data compete for the packet writer.
/// The host must receive exactly the VIs taken at the port, in the order taken, and every
/// event raised must be taken (once for all the raises merged into it). At least 100 lower
/// VIs must arrive under a held event, and 100 raises while a packet is written. With
/// `waits`, DMA writes now and then wait for a read.
fn changing_vi_events(name: &str, damage: Damage, waits: bool) {
    run_rig(
        name,
        |rng| {
            let mut host = Host::new(random_memory(rng), damage, true);
            host.mmio_ops = random_mmio(rng, 100).into();
            let script = (0..40)
                .map(|_| {
                    let (len, write) = (rng.gen_range(1..=64), rng.gen());
                    if write && !waits {
                        write_op(rng, len, None)
                    } else {
                        dma_op(rng, len, write)
                    }
                })
                .collect();
            let mut dev = Device::new(script, 0.5);
            dev.events = Some(PendingEvents::new(3000));
            (host, dev)
        },
        |rig| {
            rig.run(100_000_000)?;
            let q = rig.dev.events.as_ref().expect("the queue manager's events");
            if rig.host.events != q.taken {
                let n = rig
                    .host
                    .events
                    .iter()
                    .zip(&q.taken)
                    .take_while(|(a, b)| a == b)
                    .count();
                return Err(format!(
                    "events differ from #{n}: {} delivered, {} taken; delivered {:?}, taken {:?}",
                    rig.host.events.len(),
                    q.taken.len(),
                    rig.host.events.get(n),
                    q.taken.get(n),
                ));
            }
            if !q.idle() {
                return Err(format!(
                    "events left: pending {:#06b}, {} to raise",
                    q.pending, q.left
                ));
            }
            for (vi, &raised) in q.raised.iter().enumerate() {
                let taken = q.taken.iter().filter(|&&v| usize::from(v) == vi).count() as u64;
                if taken != raised {
                    return Err(format!("VI {vi}: {raised} events raised, {taken} taken"));
                }
            }
            println!(
                "bridge events: {} clocks, {} events taken ({} raises merged), {} overtaken \
                 by a lower VI, {} raised while a packet was written, host rejected {} frames",
                rig.now,
                q.taken.len(),
                q.merged,
                q.overtakes,
                q.raised_after_take,
                rig.host.frames_rejected
            );
            if q.overtakes < 100 || q.raised_after_take < 100 {
                return Err(format!(
                    "too few lower VIs under a held event ({}) or raises while a packet was \
                     written ({})",
                    q.overtakes, q.raised_after_take
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn bridge_events_of_changing_vi_arrive_as_taken() {
    changing_vi_events("bridge-events-vi", Damage::default(), true);
}

#[test]
fn bridge_sync_with_reset_pulses_core_reset() {
    run_rig(
        "bridge-sync",
        |_| {
            let host = Host::new(vec![0; MEM_BYTES], Damage::default(), true);
            (host, Device::new(vec![], 0.0))
        },
        |rig| {
            rig.run(1_000_000)?;
            if rig.core_reset_pulses.len() != 1 || rig.core_reset_pulses[0] < 16 {
                return Err(format!("core_reset pulses {:?}", rig.core_reset_pulses));
            }
            if rig.core_reset_pulses[0] != CORE_RESET_CYCLES {
                return Err(format!(
                    "core_reset pulse of {} clocks",
                    rig.core_reset_pulses[0]
                ));
            }
            // A second session without reset: no pulse, link still up.
            rig.host.synced = false;
            rig.host.sync_reset = false;
            rig.host.sync_sent_at = None;
            rig.host.ch = [HostChannel::new(), HostChannel::new()];
            rig.host.rx = Receiver::new();
            rig.host.mmio_ops = vec![MmioOp::Write(8, 1), MmioOp::Read(8)].into();
            rig.dev.write_log.clear();
            rig.host.writes_sent.clear();
            rig.run(2_000_000)?;
            if rig.core_reset_pulses.len() != 1 {
                return Err(format!("core_reset pulses {:?}", rig.core_reset_pulses));
            }
            Ok(())
        },
    );
}

/// Damage per byte of the fuzz: `SKIPWALK_BRIDGE_DAMAGE` (a probability), else 5e-3 split
/// among flips, drops and insertions.
fn fuzz_damage() -> Damage {
    let p = std::env::var("SKIPWALK_BRIDGE_DAMAGE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5e-3);
    Damage {
        flip: p / 2.0,
        drop: p / 4.0,
        insert: p / 4.0,
    }
}

#[test]
fn bridge_fuzz_damaged_line() {
    run_rig(
        "bridge-fuzz",
        |rng| {
            let mut host = Host::new(random_memory(rng), fuzz_damage(), true);
            host.mmio_ops = random_mmio(rng, 400).into();
            let script = (0..60)
                .map(|_| match rng.gen_range(0..6) {
                    0 => DevOp::Event(rng.gen()),
                    k => {
                        let len = if rng.gen_bool(0.2) {
                            DMA_LENGTHS[rng.gen_range(0..DMA_LENGTHS.len())]
                        } else {
                            rng.gen_range(1..=600)
                        };
                        dma_op(rng, len, k % 2 == 0)
                    }
                })
                .collect();
            (host, Device::new(script, 0.5))
        },
        |rig| {
            rig.run(200_000_000)?;
            println!(
                "bridge fuzz: {} clocks, host rejected {} frames, device fault LED lit {} clocks",
                rig.now, rig.host.frames_rejected, rig.fault_clocks
            );
            if rig.fault_clocks == 0 {
                return Err("the damaged line never lit the fault LED".into());
            }
            Ok(())
        },
    );
}

/// [`changing_vi_events`] on a damaged line (a fifth of the fuzz's damage): event packets
/// lost and sent again while others wait. Writes do not wait for reads here: on a damaged
/// line such a write holds the packet writer until the read's data has been sent again,
/// after the host's timeout, and the events meanwhile only merge.
#[test]
fn bridge_fuzz_events_of_changing_vi() {
    let damage = Damage {
        flip: 5e-4,
        drop: 2.5e-4,
        insert: 2.5e-4,
    };
    changing_vi_events("bridge-fuzz-events-vi", damage, false);
}
