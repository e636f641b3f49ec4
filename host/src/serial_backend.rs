//! The `serial` backend: the Device on the Alchitry Cu (or the virtual board, its Verilator
//! model on a pseudo-terminal), reached through the UART host bridge of `docs/bridge.md`.
//!
//! [`Link`] is the host's end of the bridge protocol: framing through `abi::bridge`'s encoder
//! and [`Decoder`], go-back-N [`Sender`]s for the host's two channels (MMIO requests and DMA
//! read data), a [`Receiver`] for the device's channel, Sync, and retransmission on NAK or
//! timeout. [`SerialBackend`] puts the registrar's DMA space behind it: register accesses
//! become MMIO packets, the device's DMA read requests are answered from DMA memory and its
//! DMA writes applied to it, each checked against the registrar's [`DmaPolicy`] first.
//!
//! Device writes carry no tag on the line, so a write is checked against the union of what
//! the policy lets *any* VI write (its CQ ring, memory registered writable to its PD); reads
//! carry the tag and are checked per client and VI like the simulator's firewall.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use abi::bridge::{
    self, Decoder, Packet, Receiver, Reply, Sender, Side, CH_COMPLETIONS, CH_DEVICE, CH_REQUESTS,
    HOST_CHANNELS, MAX_DATA_WORDS, PROTOCOL_VERSION, RETRANSMIT_TIMEOUT_MS, RETRY_LIMIT,
};
use rtl::device::{CLIENT_CQ, CLIENT_RECV_DATA, CLIENT_TABLE};

use crate::backend::{Backend, BackendStats, DmaPolicy, DmaSpace};
use crate::error::{Error, Result};

/// The shortest retransmission timeout (the protocol's).
const MIN_RTO: Duration = Duration::from_millis(RETRANSMIT_TIMEOUT_MS as u64);
/// The longest retransmission timeout after back-off.
const MAX_RTO: Duration = Duration::from_secs(4);
/// Shortest time one [`Backend::run`] call serves the line: the device runs on its own, and
/// a call must be long enough for a DMA request to cross the line and be answered.
const MIN_SLICE: Duration = Duration::from_millis(5);
/// Longest time to wait for one register read (the device may be walking tables, its
/// MMIO queue full; the link's own give-up rule normally ends the wait first).
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters of the link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames put on the line (retransmissions and control packets included).
    pub frames_sent: u64,
    /// Sequenced frames sent again (NAK or timeout).
    pub retransmitted: u64,
    /// Valid frames received.
    pub frames_received: u64,
    /// Frames dropped because a check failed (CRC, length, escape, type, field).
    pub frames_rejected: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Line bytes sent.
    pub bytes_sent: u64,
    /// Line bytes received.
    pub bytes_received: u64,
}

/// One host channel's sender and its timing.
struct Channel {
    sender: Sender<Packet>,
    /// First send time of each sent, unacknowledged frame, oldest first, and whether it was
    /// sent again since (Karn: such frames give no round-trip sample).
    sent: VecDeque<(Instant, bool)>,
    /// When the oldest unacknowledged frame was last put on the line.
    oldest_sent: Option<Instant>,
}

impl Channel {
    fn new() -> Channel {
        Channel {
            sender: Sender::new(),
            sent: VecDeque::new(),
            oldest_sent: None,
        }
    }
}

/// The host's end of the UART bridge over any byte stream (a serial port, a pty).
pub struct Link<P: Read + Write> {
    port: P,
    name: String,
    decoder: Decoder,
    channels: [Channel; HOST_CHANNELS as usize],
    receiver: Receiver,
    reply: Option<Reply>,
    inbox: VecDeque<Packet>,
    nonce: u8,
    srtt: Option<Duration>,
    rto: Duration,
    timeouts_in_row: u32,
    stats: LinkStats,
    out: Vec<u8>,
}

impl<P: Read + Write> Link<P> {
    /// A link over `port` (reads must return within a few milliseconds when nothing
    /// arrives), not yet synchronized: call [`Link::sync`].
    pub fn new(port: P, name: &str) -> Link<P> {
        Link {
            port,
            name: name.to_string(),
            decoder: Decoder::new(Side::Device),
            channels: [Channel::new(), Channel::new()],
            receiver: Receiver::new(),
            reply: None,
            inbox: VecDeque::new(),
            nonce: std::process::id() as u8,
            srtt: None,
            rto: MIN_RTO,
            timeouts_in_row: 0,
            stats: LinkStats::default(),
            out: Vec::with_capacity(4096),
        }
    }

    fn device_error(&self, reason: String) -> Error {
        Error::Device {
            backend: self.name.clone(),
            reason,
        }
    }

    /// Starts a session: Sync (with `reset`, the device core is reset too) until the device
    /// echoes it; every sequence number restarts at 0.
    pub fn sync(&mut self, reset: bool) -> Result<()> {
        for _ in 0..RETRY_LIMIT {
            self.nonce = self.nonce.wrapping_add(1);
            let nonce = self.nonce;
            self.send_now(&Packet::Sync {
                from: Side::Host,
                nonce,
                version: PROTOCOL_VERSION,
                reset,
            })?;
            let deadline = Instant::now() + self.rto.max(Duration::from_millis(200));
            while Instant::now() < deadline {
                for result in self.read_some(deadline - Instant::now())? {
                    if let Ok((
                        _,
                        Packet::Sync {
                            from: Side::Device,
                            nonce: n,
                            version,
                            ..
                        },
                    )) = result
                    {
                        if n != nonce {
                            continue;
                        }
                        if version != PROTOCOL_VERSION {
                            return Err(self.device_error(format!(
                                "bridge protocol version {version}; this host speaks {PROTOCOL_VERSION}"
                            )));
                        }
                        self.channels = [Channel::new(), Channel::new()];
                        self.receiver = Receiver::new();
                        self.reply = None;
                        self.inbox.clear();
                        self.timeouts_in_row = 0;
                        return Ok(());
                    }
                }
            }
        }
        Err(self.device_error(format!(
            "no answer to {RETRY_LIMIT} Sync packets: is the board attached, configured with \
             the skipwalk bitstream, and is this its UART?"
        )))
    }

    /// Whether `channel` has room for another packet.
    pub fn has_room(&self, channel: u8) -> bool {
        self.channels[usize::from(channel)].sender.unacknowledged() < bridge::WINDOW
    }

    /// Queues a sequenced packet on `channel`; waits for room first.
    pub fn post(&mut self, channel: u8, packet: Packet) -> Result<()> {
        while !self.has_room(channel) {
            self.poll(Duration::from_millis(1))?;
        }
        let accepted = self.channels[usize::from(channel)].sender.offer(packet);
        debug_assert!(accepted.is_ok());
        Ok(())
    }

    /// Packets the device sent, accepted in order, not yet taken.
    pub fn take_inbox(&mut self) -> VecDeque<Packet> {
        std::mem::take(&mut self.inbox)
    }

    /// Whether any sequenced packet of the host awaits its acknowledgement.
    pub fn unacknowledged(&self) -> usize {
        self.channels
            .iter()
            .map(|c| c.sender.unacknowledged())
            .sum()
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// The retransmission timeout now in force.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    fn send_now(&mut self, packet: &Packet) -> Result<()> {
        let bytes = bridge::encode(packet, 0);
        self.stats.frames_sent += 1;
        self.stats.bytes_sent += bytes.len() as u64;
        self.port
            .write_all(&bytes)
            .and_then(|_| self.port.flush())
            .map_err(|e| Error::io(format!("{}: write", self.name), e))
    }

    /// Sends what is due, then reads for up to `wait` (less once something arrived), handles
    /// ACKs, NAKs and the device's packets, and applies the retransmission timeout.
    pub fn poll(&mut self, wait: Duration) -> Result<()> {
        self.flush_frames()?;
        let results = self.read_some(wait)?;
        let now = Instant::now();
        for result in results {
            let (seq, packet) = match result {
                Ok(frame) => frame,
                Err(_) => {
                    self.stats.frames_rejected += 1;
                    continue;
                }
            };
            self.stats.frames_received += 1;
            match packet {
                Packet::Ack { channel, next, .. } | Packet::Nak { channel, next, .. }
                    if channel < HOST_CHANNELS =>
                {
                    let nak = matches!(packet, Packet::Nak { .. });
                    self.acknowledge(channel, next, nak, now);
                }
                Packet::Ack { .. } | Packet::Nak { .. } | Packet::Sync { .. } => {}
                sequenced => {
                    let receipt = self.receiver.receive(seq, true);
                    if receipt.act {
                        self.inbox.push_back(sequenced);
                    }
                    if receipt.reply.is_some() {
                        self.reply = receipt.reply;
                    }
                }
            }
        }
        for ch in 0..HOST_CHANNELS {
            let c = &mut self.channels[usize::from(ch)];
            let expired = c
                .oldest_sent
                .is_some_and(|t| c.sender.unacknowledged() > 0 && now - t >= self.rto);
            if expired {
                c.sender.on_timeout();
                c.oldest_sent = None;
                self.stats.timeouts += 1;
                self.timeouts_in_row += 1;
                self.rto = (self.rto * 2).min(MAX_RTO);
                if self.timeouts_in_row >= RETRY_LIMIT {
                    return Err(self.device_error(format!(
                        "link lost: {RETRY_LIMIT} retransmission timeouts in a row without \
                         progress (board reset or unplugged?)"
                    )));
                }
            }
        }
        self.flush_frames()
    }

    fn acknowledge(&mut self, channel: u8, next: u8, nak: bool, now: Instant) {
        let c = &mut self.channels[usize::from(channel)];
        let released = usize::from(next.wrapping_sub(c.sender.base()));
        let ok = if nak {
            c.sender.on_nak(next)
        } else {
            c.sender.on_ack(next)
        };
        if !ok || released == 0 {
            return;
        }
        let n = released.min(c.sent.len());
        if let Some(&(first_sent, again)) = c.sent.get(n - 1) {
            if !again {
                let sample = now - first_sent;
                let srtt = self.srtt.map_or(sample, |s| (s * 7 + sample) / 8);
                self.srtt = Some(srtt);
                self.rto = (srtt * 3).clamp(MIN_RTO, MAX_RTO);
            }
        }
        c.sent.drain(..n);
        c.oldest_sent = (c.sender.unacknowledged() > 0).then_some(now);
        self.timeouts_in_row = 0;
    }

    /// Puts the due reply and every frame the senders release on the line.
    fn flush_frames(&mut self) -> Result<()> {
        self.out.clear();
        let mut frames = 0;
        if let Some(reply) = self.reply.take() {
            self.out
                .extend(bridge::encode(&reply.packet(Side::Host, CH_DEVICE), 0));
            frames += 1;
        }
        let now = Instant::now();
        for c in &mut self.channels {
            while let Some((seq, packet)) = c.sender.next_frame() {
                let index = usize::from(seq.wrapping_sub(c.sender.base()));
                if index < c.sent.len() {
                    c.sent[index].1 = true;
                    self.stats.retransmitted += 1;
                } else {
                    c.sent.push_back((now, false));
                }
                if index == 0 {
                    c.oldest_sent = Some(now);
                }
                self.out.extend(bridge::encode(&packet, seq));
                frames += 1;
            }
        }
        if self.out.is_empty() {
            return Ok(());
        }
        self.stats.frames_sent += frames;
        self.stats.bytes_sent += self.out.len() as u64;
        let out = std::mem::take(&mut self.out);
        let result = self
            .port
            .write_all(&out)
            .and_then(|_| self.port.flush())
            .map_err(|e| Error::io(format!("{}: write", self.name), e));
        self.out = out;
        result
    }

    /// Reads what arrives within `wait` and decodes it.
    fn read_some(
        &mut self,
        wait: Duration,
    ) -> Result<Vec<Result<(u8, Packet), bridge::FrameError>>> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 4096];
        let mut results = vec![];
        loop {
            match self.port.read(&mut buf) {
                Ok(0) => {}
                Ok(n) => {
                    self.stats.bytes_received += n as u64;
                    results.extend(self.decoder.push_all(&buf[..n]));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(Error::io(format!("{}: read", self.name), e)),
            }
            if !results.is_empty() || Instant::now() >= deadline {
                return Ok(results);
            }
        }
    }
}

/// A device read being answered: the request and how far its answer has been queued.
struct PendingRead {
    tag: u16,
    words: Vec<u32>,
    error: bool,
    queued: usize,
}

/// The Device behind the UART bridge, with the registrar's DMA space.
pub struct SerialBackend {
    link: Link<Box<dyn serialport::SerialPort>>,
    path: String,
    mem: DmaSpace,
    policy: DmaPolicy,
    reads: VecDeque<PendingRead>,
    read_data: Option<(u32, u32)>,
    table_reads: u64,
    violations: u64,
    events: u64,
    device_time: Duration,
}

impl SerialBackend {
    /// Opens the UART at `path` (the Cu's FTDI port or the virtual board's pty) at the
    /// board's baud rate and starts a session that resets the device core.
    pub fn open(path: &str) -> Result<SerialBackend> {
        let name = format!("serial:{path}");
        let port = serialport::new(path, abi::board::UART_BAUD)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .timeout(Duration::from_millis(1))
            .open()
            .map_err(|e| Error::Device {
                backend: name.clone(),
                reason: format!(
                    "cannot open {path}: {e} (the Cu's UART is the second FTDI port, \
                     usually /dev/ttyUSB1; `skipwalk board-sim` prints the virtual board's)"
                ),
            })?;
        let mut link = Link::new(port, &name);
        link.sync(true)?;
        Ok(SerialBackend {
            link,
            path: path.to_string(),
            mem: DmaSpace::new(),
            policy: DmaPolicy::default(),
            reads: VecDeque::new(),
            read_data: None,
            table_reads: 0,
            violations: 0,
            events: 0,
            device_time: Duration::ZERO,
        })
    }

    /// The link's counters.
    pub fn link_stats(&self) -> LinkStats {
        self.link.stats()
    }

    /// Events (completions that reached an armed CQ) the device reported.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Whether a device write of `len` bytes at `da` lies where some VI may write.
    fn write_allowed(&self, da: u64, len: u64) -> bool {
        (0..abi::DEVICE_VIS).any(|vi| {
            self.policy.allows(CLIENT_CQ, vi, da, len, true)
                || self.policy.allows(CLIENT_RECV_DATA, vi, da, len, true)
        })
    }

    /// Acts on what the device sent; whether any DMA was served.
    fn serve_inbox(&mut self) -> bool {
        let mut moved = false;
        for packet in self.link.take_inbox() {
            match packet {
                Packet::MmioReadData { addr, data } => self.read_data = Some((addr, data)),
                Packet::DmaReadReq { tag, da, len } => {
                    moved = true;
                    let tag64 = u64::from(tag);
                    let (client, vi) = (tag64 >> 8, ((tag64 >> 4) & 0xF) as usize);
                    if client == CLIENT_TABLE {
                        self.table_reads += 1;
                    }
                    let words = (len as usize).div_ceil(4);
                    let mut bytes = vec![0u8; words * 4];
                    let ok = self.policy.allows(client, vi, da, u64::from(len), false)
                        && sim::host_port::DmaSpace::dma_read(&self.mem, da, &mut bytes);
                    if !ok {
                        self.violations += 1;
                        bytes.fill(0);
                    }
                    self.reads.push_back(PendingRead {
                        tag,
                        words: bytes
                            .chunks(4)
                            .map(|w| u32::from_le_bytes(w.try_into().expect("4 bytes")))
                            .collect(),
                        error: !ok,
                        queued: 0,
                    });
                }
                Packet::DmaWrite { da, data, .. } => {
                    moved = true;
                    let ok = self.write_allowed(da, data.len() as u64)
                        && sim::host_port::DmaSpace::dma_write(&mut self.mem, da, &data);
                    if !ok {
                        self.violations += 1;
                    }
                }
                Packet::Event { .. } => self.events += 1,
                _ => {}
            }
        }
        moved
    }

    /// Queues read data while the completion channel has room, reads in request order.
    fn queue_read_data(&mut self) -> Result<()> {
        while let Some(read) = self.reads.front_mut() {
            if !self.link.has_room(CH_COMPLETIONS) {
                break;
            }
            let end = (read.queued + MAX_DATA_WORDS).min(read.words.len());
            let packet = Packet::DmaReadData {
                tag: read.tag,
                last: end == read.words.len(),
                error: read.error,
                words: read.words[read.queued..end].to_vec(),
            };
            read.queued = end;
            if end == read.words.len() {
                self.reads.pop_front();
            }
            self.link.post(CH_COMPLETIONS, packet)?;
        }
        Ok(())
    }

    /// One round of service: the line, the device's packets, read data.
    fn service(&mut self, wait: Duration) -> Result<bool> {
        let started = Instant::now();
        self.link.poll(wait)?;
        let moved = self.serve_inbox();
        self.queue_read_data()?;
        self.device_time += started.elapsed();
        Ok(moved)
    }
}

impl Backend for SerialBackend {
    fn name(&self) -> String {
        format!("serial:{}", self.path)
    }

    fn dma(&self) -> &DmaSpace {
        &self.mem
    }

    fn dma_mut(&mut self) -> &mut DmaSpace {
        &mut self.mem
    }

    fn write_reg(&mut self, offset: u32, value: u32) -> Result<()> {
        while !self.link.has_room(CH_REQUESTS) {
            self.service(Duration::from_millis(1))?;
        }
        self.link.post(
            CH_REQUESTS,
            Packet::MmioWrite {
                addr: offset,
                data: value,
            },
        )?;
        self.service(Duration::ZERO).map(|_| ())
    }

    fn read_reg(&mut self, offset: u32) -> Result<u32> {
        while !self.link.has_room(CH_REQUESTS) {
            self.service(Duration::from_millis(1))?;
        }
        self.read_data = None;
        self.link
            .post(CH_REQUESTS, Packet::MmioRead { addr: offset })?;
        let deadline = Instant::now() + READ_TIMEOUT;
        loop {
            self.service(Duration::from_millis(1))?;
            match self.read_data.take() {
                Some((addr, data)) if addr == offset => return Ok(data),
                Some((addr, _)) => {
                    return Err(Error::Device {
                        backend: self.name(),
                        reason: format!("read data for register {addr:#x}, expected {offset:#x}"),
                    })
                }
                None if Instant::now() >= deadline => {
                    return Err(Error::Device {
                        backend: self.name(),
                        reason: format!("no read data for register {offset:#x}"),
                    })
                }
                None => {}
            }
        }
    }

    fn run(&mut self, budget: u64) -> Result<bool> {
        let slice = Duration::from_nanos(
            budget.saturating_mul(1_000_000_000) / u64::from(abi::board::BOARD_CLOCK_HZ),
        )
        .max(MIN_SLICE);
        let deadline = Instant::now() + slice;
        let mut moved = false;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(moved);
            }
            moved |= self.service(deadline - now)?;
        }
    }

    fn runs_on_its_own(&self) -> bool {
        true
    }

    fn busy(&self) -> bool {
        !self.reads.is_empty() || self.link.unacknowledged() > 0
    }

    fn stats(&self) -> BackendStats {
        BackendStats {
            cycles: 0,
            table_reads: self.table_reads,
            dma_violations: self.violations,
            device_time: self.device_time,
        }
    }

    fn set_policy(&mut self, policy: &DmaPolicy) {
        self.policy = policy.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::os::unix::net::UnixStream;

    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// The device's end of the protocol from `abi::bridge`'s reference models, with a
    /// register file behind it and a line that damages bytes it sends and receives.
    fn device_model(mut line: UnixStream, damage: f64, stop: std::sync::mpsc::Receiver<()>) {
        line.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let mut rng = SmallRng::seed_from_u64(5);
        let mut decoder = Decoder::new(Side::Host);
        let mut receivers = [Receiver::new(), Receiver::new()];
        let mut sender: Sender<Packet> = Sender::new();
        let mut regs: HashMap<u32, u32> = HashMap::new();
        let mut last_sent = Instant::now();
        let mut buf = [0u8; 1024];
        while stop.try_recv().is_err() {
            let mut out = vec![];
            let n = line.read(&mut buf).unwrap_or(0);
            let mut bytes = buf[..n].to_vec();
            for b in bytes.iter_mut() {
                if rng.gen_bool(damage) {
                    *b ^= 1 << rng.gen_range(0..8);
                }
            }
            for frame in decoder.push_all(&bytes) {
                let Ok((seq, packet)) = frame else { continue };
                match packet {
                    Packet::Sync { nonce, .. } => {
                        receivers = [Receiver::new(), Receiver::new()];
                        sender = Sender::new();
                        out.extend(bridge::encode(
                            &Packet::Sync {
                                from: Side::Device,
                                nonce,
                                version: PROTOCOL_VERSION,
                                reset: true,
                            },
                            0,
                        ));
                    }
                    Packet::Ack { next, .. } => {
                        sender.on_ack(next);
                    }
                    Packet::Nak { next, .. } => {
                        sender.on_nak(next);
                    }
                    p => {
                        let ch = p.channel().unwrap();
                        let room = sender.unacknowledged() < bridge::WINDOW;
                        let r = receivers[usize::from(ch)].receive(seq, room);
                        if r.act {
                            match p {
                                Packet::MmioWrite { addr, data } => {
                                    regs.insert(addr, data);
                                }
                                Packet::MmioRead { addr } => {
                                    let data = regs.get(&addr).copied().unwrap_or(0);
                                    assert!(sender
                                        .offer(Packet::MmioReadData { addr, data })
                                        .is_ok());
                                }
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                        if let Some(reply) = r.reply {
                            out.extend(bridge::encode(&reply.packet(Side::Device, ch), 0));
                        }
                    }
                }
            }
            if last_sent.elapsed() > Duration::from_millis(20) {
                sender.on_timeout();
                last_sent = Instant::now();
            }
            while let Some((seq, p)) = sender.next_frame() {
                out.extend(bridge::encode(&p, seq));
                last_sent = Instant::now();
            }
            for b in out.iter_mut() {
                if rng.gen_bool(damage) {
                    *b ^= 1 << rng.gen_range(0..8);
                }
            }
            if !out.is_empty() && line.write_all(&out).is_err() {
                return;
            }
        }
    }

    fn exchange(damage: f64) -> LinkStats {
        let (host, device) = UnixStream::pair().unwrap();
        host.set_read_timeout(Some(Duration::from_millis(1)))
            .unwrap();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let model = std::thread::spawn(move || device_model(device, damage, stop_rx));
        let mut link = Link::new(host, "test");
        link.sync(true).unwrap();
        let mut expect = HashMap::new();
        for i in 0..300u32 {
            let addr = (i % 37) * 4;
            link.post(CH_REQUESTS, Packet::MmioWrite { addr, data: i })
                .unwrap();
            expect.insert(addr, i);
            if i % 10 == 9 {
                link.post(CH_REQUESTS, Packet::MmioRead { addr }).unwrap();
                let data = loop {
                    link.poll(Duration::from_millis(1)).unwrap();
                    let inbox = link.take_inbox();
                    if let Some(Packet::MmioReadData { addr: a, data }) = inbox.into_iter().next() {
                        assert_eq!(a, addr);
                        break data;
                    }
                };
                assert_eq!(data, expect[&addr], "read after write {i}");
            }
        }
        while link.unacknowledged() > 0 {
            link.poll(Duration::from_millis(1)).unwrap();
        }
        stop_tx.send(()).unwrap();
        model.join().unwrap();
        link.stats()
    }

    #[test]
    fn link_carries_register_accesses_in_order() {
        let s = exchange(0.0);
        assert_eq!(s.frames_rejected, 0);
        assert_eq!(s.retransmitted, 0, "{s:?}");
    }

    #[test]
    fn link_recovers_from_a_damaging_line() {
        let s = exchange(0.002);
        assert!(s.frames_rejected > 0 && s.retransmitted > 0, "{s:?}");
    }
}
