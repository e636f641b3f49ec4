//! The host side of the `Device`'s host port, around its Verilator model: a host memory
//! serving the DMA channels with a configurable latency and outstanding-request limit, the
//! DMA firewall, an MMIO master, the network port's far end, and random stalls on every
//! valid/ready handshake the host controls.
//!
//! **DMA firewall.** Every DMA request names its client and VI in its tag
//! (`rtl::device::DMA_TAG_W`). The firewall allows: descriptor fetches inside that VI's send
//! queue, receive-descriptor reads inside its receive queue, completion writes inside its
//! completion queue, payload reads inside memory registered to the VI's PD, payload writes
//! inside memory registered writable to it, and table reads inside some PD's table window.
//! Anything else is recorded as a violation (and answered with an error); tests fail on any.

use std::collections::VecDeque;
use std::ops::Range;

use abi::TableMemory;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rtl::device::{
    CLIENT_CQ, CLIENT_FETCH, CLIENT_PAYLOAD, CLIENT_RECV_DATA, CLIENT_RECV_DESC, CLIENT_TABLE,
};

use crate::VDevice;

/// How the host behaves.
#[derive(Clone, Copy, Debug)]
pub struct HostConfig {
    /// Cycles from a read request's acceptance to its first data word.
    pub latency: u64,
    /// Requests accepted and not yet completed, at most.
    pub max_outstanding: usize,
    /// Probability that the host holds a ready low (or a valid back) in a given cycle.
    pub stall: f64,
    /// Seed of the stall pattern.
    pub seed: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            latency: 60,
            max_outstanding: 16,
            stall: 0.0,
            seed: 1,
        }
    }
}

/// The memory behind the host port's DMA channels: whatever answers device addresses. The
/// tests' [`HostMemory`] is one arena; the host driver's DMA memory is a set of memfd regions.
pub trait DmaSpace {
    /// Copies the bytes at `da` into `buf`; `false` when any of them is not backed.
    fn dma_read(&self, da: u64, buf: &mut [u8]) -> bool;
    /// Writes `data` at `da`; `false` (and nothing written) when any byte is not backed.
    fn dma_write(&mut self, da: u64, data: &[u8]) -> bool;
    /// Whether every byte of `[da, da + len)` is backed.
    fn dma_backed(&self, da: u64, len: u64) -> bool;
}

/// Host memory: one contiguous arena at a non-zero device address.
#[derive(Clone, Debug)]
pub struct HostMemory {
    base: u64,
    bytes: Vec<u8>,
}

impl HostMemory {
    /// `size` zeroed bytes at device address `base`.
    pub fn new(base: u64, size: usize) -> HostMemory {
        HostMemory {
            base,
            bytes: vec![0; size],
        }
    }

    /// Device addresses the arena covers.
    pub fn span(&self) -> Range<u64> {
        self.base..self.base + self.bytes.len() as u64
    }

    fn offset(&self, da: u64, len: usize) -> Option<usize> {
        let off = da.checked_sub(self.base)? as usize;
        (off.checked_add(len)? <= self.bytes.len()).then_some(off)
    }

    /// Bytes at `da`, or `None` outside the arena.
    pub fn read(&self, da: u64, len: usize) -> Option<&[u8]> {
        let off = self.offset(da, len)?;
        Some(&self.bytes[off..off + len])
    }

    /// Writes `data` at `da`; `false` outside the arena.
    pub fn write(&mut self, da: u64, data: &[u8]) -> bool {
        match self.offset(da, data.len()) {
            Some(off) => {
                self.bytes[off..off + data.len()].copy_from_slice(data);
                true
            }
            None => false,
        }
    }
}

impl DmaSpace for HostMemory {
    fn dma_read(&self, da: u64, buf: &mut [u8]) -> bool {
        match self.read(da, buf.len()) {
            Some(b) => {
                buf.copy_from_slice(b);
                true
            }
            None => false,
        }
    }

    fn dma_write(&mut self, da: u64, data: &[u8]) -> bool {
        self.write(da, data)
    }

    fn dma_backed(&self, da: u64, len: u64) -> bool {
        usize::try_from(len).is_ok_and(|len| self.offset(da, len).is_some())
    }
}

impl TableMemory for HostMemory {
    fn read_u64(&self, da: u64) -> Option<u64> {
        self.read(da, 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }

    fn write_u64(&mut self, da: u64, value: u64) -> bool {
        self.write(da, &value.to_le_bytes())
    }
}

/// What the firewall lets each VI's DMA touch.
#[derive(Clone, Debug, Default)]
pub struct Firewall {
    /// PD of each device VI.
    pub pd_of_vi: [Option<usize>; abi::DEVICE_VIS],
    /// Send, receive and completion rings of each VI.
    pub rings: [[Range<u64>; 3]; abi::DEVICE_VIS],
    /// Memory registered to each PD: range and whether the device may write it.
    pub registered: Vec<Vec<(Range<u64>, bool)>>,
    /// Each PD's table window.
    pub table_windows: Vec<Range<u64>>,
}

fn inside(r: &Range<u64>, da: u64, len: u64) -> bool {
    da >= r.start && da + len <= r.end
}

impl Firewall {
    /// Whether a request of `client` for `vi` may touch `[da, da + len)`.
    pub fn allows(&self, client: u64, vi: usize, da: u64, len: u64, write: bool) -> bool {
        let rings = self.rings.get(vi);
        let registered = |need_write: bool| {
            self.pd_of_vi
                .get(vi)
                .copied()
                .flatten()
                .and_then(|pd| self.registered.get(pd))
                .is_some_and(|rs| {
                    rs.iter()
                        .any(|(r, w)| inside(r, da, len) && (*w || !need_write))
                })
        };
        match client {
            CLIENT_FETCH => !write && rings.is_some_and(|r| inside(&r[0], da, len)),
            CLIENT_RECV_DESC => !write && rings.is_some_and(|r| inside(&r[1], da, len)),
            CLIENT_CQ => write && rings.is_some_and(|r| inside(&r[2], da, len)),
            CLIENT_PAYLOAD => !write && registered(false),
            CLIENT_RECV_DATA => write && registered(true),
            CLIENT_TABLE => !write && self.table_windows.iter().any(|w| inside(w, da, len)),
            _ => false,
        }
    }
}

struct PendingRead {
    ready_at: u64,
    da: u64,
    words: usize,
    sent: usize,
    tag: u64,
    error: bool,
}

struct PendingWrite {
    da: u64,
    len: usize,
    got: usize,
    allowed: bool,
}

/// One register access in progress.
enum MmioOp {
    Write(u32, u32),
    Read(u32),
    WaitRead,
}

/// Counters of the host port, for benchmarks.
#[derive(Clone, Copy, Debug, Default)]
pub struct PortStats {
    /// DMA read requests, by client (`rtl::device::CLIENT_*`).
    pub reads_by_client: [u64; 8],
    /// Read data words delivered.
    pub read_words: u64,
    /// Write data words taken.
    pub write_words: u64,
    /// Wall-clock time spent inside the Verilator model (evaluation and clock edges).
    pub model_time: std::time::Duration,
}

/// The Device's Verilator model with its host around it.
pub struct DeviceSim<M: DmaSpace = HostMemory> {
    /// The model.
    pub model: VDevice,
    /// Host memory.
    pub mem: M,
    /// The DMA firewall.
    pub firewall: Firewall,
    /// Whether the firewall is enforced (violations recorded and answered with an error);
    /// otherwise only unbacked addresses fail.
    pub firewall_on: bool,
    /// Firewall violations seen (a test fails on any).
    pub violations: Vec<String>,
    /// The clock of the first violation.
    pub first_violation_at: Option<u64>,
    /// Frames the device sent on its network port (loopback off), whole.
    pub tx_frames: VecDeque<Vec<u32>>,
    /// Words to feed into the device's RX port: (word, last).
    pub rx_input: VecDeque<(u32, bool)>,
    /// Events raised: VI numbers.
    pub events: Vec<u8>,
    /// Host-port counters.
    pub stats: PortStats,
    cfg: HostConfig,
    rng: SmallRng,
    reads: VecDeque<PendingRead>,
    writes: VecDeque<PendingWrite>,
    tx_partial: Vec<u32>,
    mmio: Option<MmioOp>,
    mmio_result: Option<u32>,
}

impl<M: DmaSpace> DeviceSim<M> {
    /// A device out of reset, with `mem` as host memory.
    pub fn new(model: VDevice, mem: M, cfg: HostConfig) -> DeviceSim<M> {
        let mut s = DeviceSim {
            model,
            mem,
            firewall: Firewall::default(),
            firewall_on: true,
            violations: vec![],
            first_violation_at: None,
            tx_frames: VecDeque::new(),
            rx_input: VecDeque::new(),
            events: vec![],
            stats: PortStats::default(),
            rng: SmallRng::seed_from_u64(cfg.seed),
            cfg,
            reads: VecDeque::new(),
            writes: VecDeque::new(),
            tx_partial: vec![],
            mmio: None,
            mmio_result: None,
        };
        s.model.set_reset(1);
        for _ in 0..4 {
            s.model.step();
        }
        s.model.set_reset(0);
        s
    }

    /// Changes the host's behaviour (latency, limit, stalls) from the next cycle on.
    pub fn set_host(&mut self, cfg: HostConfig) {
        self.cfg = cfg;
        self.rng = SmallRng::seed_from_u64(cfg.seed);
    }

    /// The host's behaviour.
    pub fn host(&self) -> HostConfig {
        self.cfg
    }

    /// Cycles so far.
    pub fn cycle(&self) -> u64 {
        self.model.cycle()
    }

    /// One clock cycle of the device and its host.
    pub fn tick(&mut self) {
        let now = self.model.cycle();
        let m = &mut self.model;
        // -- inputs --
        let req_ready = self.reads.len() + self.writes.len() < self.cfg.max_outstanding;
        let stall_req = self.cfg.stall > 0.0 && self.rng.gen_bool(self.cfg.stall);
        m.set_dma_req_ready(u64::from(req_ready && !stall_req));
        // Read data, RX words, events and MMIO read data are held back at random too.
        let hold_rd = self.cfg.stall > 0.0 && self.rng.gen_bool(self.cfg.stall);
        let hold_rx = self.cfg.stall > 0.0 && self.rng.gen_bool(self.cfg.stall);
        let event_ready = self.cfg.stall <= 0.0 || !self.rng.gen_bool(self.cfg.stall);
        let rsp_ready = self.cfg.stall <= 0.0 || !self.rng.gen_bool(self.cfg.stall);
        let rd = self.reads.front().filter(|r| r.ready_at <= now && !hold_rd);
        let rd_word = rd.map(|r| {
            let da = r.da + 4 * r.sent as u64;
            let mut b = [0u8; 4];
            if !r.error {
                self.mem.dma_read(da, &mut b);
            }
            let word = u32::from_le_bytes(b);
            (word, r.tag, r.sent + 1 == r.words, r.error)
        });
        m.set_dma_rd_valid(u64::from(rd_word.is_some()));
        if let Some((word, tag, last, error)) = rd_word {
            m.set_dma_rd_data(u64::from(word));
            m.set_dma_rd_tag(tag);
            m.set_dma_rd_last(u64::from(last));
            m.set_dma_rd_error(u64::from(error));
        }
        let wr_ready = !self.writes.is_empty() && {
            let stall = self.cfg.stall > 0.0 && self.rng.gen_bool(self.cfg.stall);
            !stall
        };
        let m = &mut self.model;
        m.set_dma_wr_ready(u64::from(wr_ready));
        let tx_ready = self.cfg.stall <= 0.0 || !self.rng.gen_bool(self.cfg.stall);
        let m = &mut self.model;
        m.set_tx_ready(u64::from(tx_ready));
        let rx = self.rx_input.front().copied().filter(|_| !hold_rx);
        m.set_rx_valid(u64::from(rx.is_some()));
        if let Some((w, last)) = rx {
            m.set_rx_data(u64::from(w));
            m.set_rx_last(u64::from(last));
        }
        m.set_event_ready(u64::from(event_ready));
        match self.mmio {
            Some(MmioOp::Write(a, v)) => {
                m.set_mmio_req_valid(1);
                m.set_mmio_req_write(1);
                m.set_mmio_req_addr(u64::from(a));
                m.set_mmio_req_wdata(u64::from(v));
            }
            Some(MmioOp::Read(a)) => {
                m.set_mmio_req_valid(1);
                m.set_mmio_req_write(0);
                m.set_mmio_req_addr(u64::from(a));
            }
            _ => m.set_mmio_req_valid(0),
        }
        m.set_mmio_rsp_ready(u64::from(rsp_ready));
        let started = std::time::Instant::now();
        m.eval();
        self.stats.model_time += started.elapsed();

        // -- handshakes at this edge --
        if m.dma_req_valid() == 1 && req_ready && !stall_req {
            let (write, da, len, tag) = (
                m.dma_req_write() == 1,
                m.dma_req_da(),
                m.dma_req_len(),
                m.dma_req_tag(),
            );
            let client = tag >> 8;
            let vi = ((tag >> 4) & 0xf) as usize;
            let allowed = !self.firewall_on || self.firewall.allows(client, vi, da, len, write);
            if !allowed {
                self.first_violation_at.get_or_insert(now);
                self.violations.push(format!(
                    "cycle {now}: client {client} VI {vi} {} {len} bytes at {da:#x}",
                    if write { "writes" } else { "reads" }
                ));
            }
            let backed = self.mem.dma_backed(da, len);
            let words = len.div_ceil(4) as usize;
            if write {
                self.writes.push_back(PendingWrite {
                    da,
                    len: len as usize,
                    got: 0,
                    allowed: allowed && backed,
                });
            } else {
                self.stats.reads_by_client[client as usize & 7] += 1;
                self.reads.push_back(PendingRead {
                    ready_at: now + self.cfg.latency,
                    da,
                    words: words.max(1),
                    sent: 0,
                    tag,
                    error: !(allowed && backed) || da % 4 != 0,
                });
            }
        }
        let m = &self.model;
        if let Some((_, _, last, _)) = rd_word {
            // The device never back-pressures read data.
            assert_eq!(m.dma_rd_ready(), 1, "dma_rd_ready low");
            self.stats.read_words += 1;
            let r = self.reads.front_mut().expect("read in flight");
            r.sent += 1;
            if last {
                self.reads.pop_front();
            }
        }
        if wr_ready && m.dma_wr_valid() == 1 {
            let data = (m.dma_wr_data() as u32).to_le_bytes();
            let last_flag = m.dma_wr_last() == 1;
            let w = self.writes.front_mut().expect("write in flight");
            let off = 4 * w.got;
            let n = (w.len - off).min(4);
            let done = w.got + 1 == w.len.div_ceil(4);
            if w.allowed {
                self.mem.dma_write(w.da + off as u64, &data[..n]);
            }
            w.got += 1;
            self.stats.write_words += 1;
            if done != last_flag {
                self.first_violation_at.get_or_insert(now);
                self.violations.push(format!(
                    "cycle {now}: write data `last` {last_flag} at word {} of {}",
                    w.got,
                    w.len.div_ceil(4)
                ));
            }
            if done {
                self.writes.pop_front();
            }
        }
        if tx_ready && m.tx_valid() == 1 {
            self.tx_partial.push(m.tx_data() as u32);
            if m.tx_last() == 1 {
                self.tx_frames
                    .push_back(std::mem::take(&mut self.tx_partial));
            }
        }
        if rx.is_some() && m.rx_ready() == 1 {
            self.rx_input.pop_front();
        }
        if m.event_valid() == 1 && event_ready {
            self.events.push(m.event_vi() as u8);
        }
        match self.mmio {
            Some(MmioOp::Write(..)) if m.mmio_req_ready() == 1 => self.mmio = None,
            Some(MmioOp::Read(..)) if m.mmio_req_ready() == 1 => self.mmio = Some(MmioOp::WaitRead),
            _ => {}
        }
        if m.mmio_rsp_valid() == 1 && rsp_ready {
            self.mmio_result = Some(m.mmio_rsp_data() as u32);
            if matches!(self.mmio, Some(MmioOp::WaitRead)) {
                self.mmio = None;
            }
        }
        let started = std::time::Instant::now();
        self.model.step();
        self.stats.model_time += started.elapsed();
    }

    /// Runs `n` cycles.
    pub fn run(&mut self, n: u64) {
        for _ in 0..n {
            self.tick();
        }
    }

    /// Runs until `done` holds, at most `limit` cycles; whether it held.
    pub fn run_until(
        &mut self,
        limit: u64,
        mut done: impl FnMut(&mut DeviceSim<M>) -> bool,
    ) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.tick();
        }
        done(self)
    }

    /// Writes a register (MMIO), waiting until the device takes it.
    pub fn write_reg(&mut self, addr: u32, value: u32) {
        self.mmio = Some(MmioOp::Write(addr, value));
        let taken = self.run_until(10_000, |s| s.mmio.is_none());
        assert!(taken, "MMIO write of {addr:#x} not taken in 10,000 cycles");
    }

    /// Reads a register (MMIO).
    pub fn read_reg(&mut self, addr: u32) -> u32 {
        self.mmio = Some(MmioOp::Read(addr));
        self.mmio_result = None;
        let answered = self.run_until(10_000, |s| s.mmio.is_none() && s.mmio_result.is_some());
        assert!(
            answered,
            "MMIO read of {addr:#x} not answered in 10,000 cycles"
        );
        self.mmio_result.take().expect("answered")
    }

    /// Requests accepted and not completed.
    pub fn dma_in_flight(&self) -> usize {
        self.reads.len() + self.writes.len()
    }
}
