//! The Device benchmark: the Device's Verilog in Verilator, the four translation modes side
//! by side at one host memory latency: table reads per translation, cycles per 64-byte
//! descriptor with 4 VIs busy, doorbell-to-completion latency of a 64-byte send (p50),
//! payload efficiency of 4 KiB sends (payload words per cycle; the host port moves one word
//! per cycle per direction), and the model's simulation speed.
//!
//! [`run`] measures; `cargo bench -p sim --bench device [-- --latency CYCLES] [-- --quick]`
//! and `skipwalk bench` both call it and print its [`BenchReport`]. The simulation is
//! deterministic: the same [`BenchConfig`] gives the same [`ModeFigures`] every time; only
//! the simulation speed varies.

use std::time::{Duration, Instant};

use abi::queues::{Descriptor, Opcode, QueueKind};
use abi::translator::TranslationMode;
use abi::{Access, Key, PAGE_SIZE};
use rtl::device::CLIENT_TABLE;

use crate::host_port::HostConfig;
use crate::testbed::{Buffer, Testbed};
use crate::VDevice;

/// Pages of the benchmark buffer: every send of a run that must miss the translation cache
/// gets a page of its own (the phases of a run share one page counter).
const PAGES: u64 = 8192;
const VA: u64 = 0x10_0000_0000;

/// The modes measured, in the order [`run`] measures and reports them: `physical` (device
/// addresses, no translation), `full_walk` (the table walk from the root), `shortcut` (the
/// leaf-table shortcut, every send on a fresh page) and `shortcut_cached` (the shortcut,
/// every send of a VI on the same page, so the translation cache answers).
pub const MODE_NAMES: [&str; 4] = ["physical", "full_walk", "shortcut", "shortcut_cached"];

struct Mode {
    name: &'static str,
    mode: TranslationMode,
    /// Every descriptor on the same page (the translation cache answers).
    same_page: bool,
}

const MODES: [Mode; 4] = [
    Mode {
        name: MODE_NAMES[0],
        mode: TranslationMode::Physical,
        same_page: false,
    },
    Mode {
        name: MODE_NAMES[1],
        mode: TranslationMode::FullWalk,
        same_page: false,
    },
    Mode {
        name: MODE_NAMES[2],
        mode: TranslationMode::Shortcut,
        same_page: false,
    },
    Mode {
        name: MODE_NAMES[3],
        mode: TranslationMode::Shortcut,
        same_page: true,
    },
];

/// What one translation mode measured.
#[derive(Clone, Copy, Debug)]
pub struct ModeFigures {
    /// Table reads (DMA reads of the translation core) per 64-byte descriptor, over the
    /// whole 64-byte run.
    pub mem_reads_per_translation: f64,
    /// Cycles per 64-byte descriptor with 4 VIs keeping their send queues full, after the
    /// first fifth of the run (the warm-up).
    pub cycles_per_desc_64b: f64,
    /// Doorbell-to-completion cycles of a single 64-byte send on an idle device, median.
    pub latency_cycles_64b_p50: u64,
    /// Payload words per cycle of page-aligned 4 KiB sends from one VI (1.0 is the host
    /// port's limit).
    pub payload_efficiency_4kib: f64,
}

impl ModeFigures {
    /// The figures as one JSON object, keys and number formats as the benchmark prints them:
    /// `{"mem_reads_per_translation": 0.00, "cycles_per_desc_64B": 24.0,
    /// "latency_cycles_64B_p50": 167, "payload_efficiency_4KiB": 0.993}`.
    pub fn json(&self) -> String {
        format!(
            "{{\"mem_reads_per_translation\": {:.2}, \"cycles_per_desc_64B\": {:.1}, \"latency_cycles_64B_p50\": {}, \"payload_efficiency_4KiB\": {:.3}}}",
            self.mem_reads_per_translation,
            self.cycles_per_desc_64b,
            self.latency_cycles_64b_p50,
            self.payload_efficiency_4kib
        )
    }
}

/// How to run the benchmark.
#[derive(Clone, Copy, Debug)]
pub struct BenchConfig {
    /// Host memory latency: cycles from a read request's acceptance to its first data word.
    pub latency: u64,
    /// Fewer samples, for a quick look: per mode 400 64-byte sends, 40 4 KiB sends and 9
    /// latency samples instead of 4000, 300 and 51.
    pub quick: bool,
}

impl Default for BenchConfig {
    /// 60 cycles of memory latency, full sample counts.
    fn default() -> Self {
        BenchConfig {
            latency: 60,
            quick: false,
        }
    }
}

impl BenchConfig {
    /// (64-byte sends, 4 KiB sends, latency samples) per mode.
    fn samples(&self) -> (usize, usize, usize) {
        if self.quick {
            (400, 40, 9)
        } else {
            (4000, 300, 51)
        }
    }
}

/// What [`run`] measured.
#[derive(Clone, Debug)]
pub struct BenchReport {
    /// The host memory latency it ran with (cycles).
    pub mem_latency_cycles: u64,
    /// Figures per mode, in the order of [`MODE_NAMES`].
    pub modes: Vec<(&'static str, ModeFigures)>,
    /// Cycles simulated, all modes together (including setup).
    pub cycles: u64,
    /// Wall-clock time spent inside the Verilator model (evaluation and clock edges).
    pub model_time: Duration,
    /// Wall-clock time of the whole run, including the Rust host model and testbed.
    pub wall_time: Duration,
    /// DMA firewall violations, all modes together; anything but 0 means the Device touched
    /// memory it must not, and the figures are not to be trusted.
    pub firewall_violations: usize,
}

impl BenchReport {
    /// Simulated cycles per second of time inside the Verilator model.
    pub fn model_cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.model_time.as_secs_f64()
    }

    /// Simulated cycles per second of wall-clock time, including the Rust host model and
    /// testbed.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.wall_time.as_secs_f64()
    }

    /// The figures of every mode as one JSON object keyed by mode name, in the order of
    /// [`MODE_NAMES`]: `{"physical": {…}, "full_walk": {…}, …}`, each value as
    /// [`ModeFigures::json`] writes it.
    pub fn modes_json(&self) -> String {
        let rows: Vec<String> = self
            .modes
            .iter()
            .map(|(name, f)| format!("\"{name}\": {}", f.json()))
            .collect();
        format!("{{{}}}", rows.join(", "))
    }
}

fn setup(m: &Mode, latency: u64) -> (Testbed, Buffer) {
    let host = HostConfig {
        latency,
        max_outstanding: 32,
        stall: 0.0,
        seed: 1,
    };
    let mut t = Testbed::new(VDevice::new(), host, 128 << 20, false);
    t.create_pd(0, 32, true, true);
    for vi in 0..4 {
        t.create_vi(
            vi,
            0,
            m.mode,
            Key::from_u128(0x1234_5678 * (vi as u128 + 1)),
            7,
        );
    }
    let buf = t.register(0, VA, PAGES * PAGE_SIZE, Access::Read);
    (t, buf)
}

/// A send of `len` bytes from page `page` of the buffer, for VI `vi` in mode `m`.
fn send(t: &Testbed, m: &Mode, buf: &Buffer, vi: usize, page: u64, len: u32) -> Descriptor {
    let page = if m.same_page { vi as u64 } else { page % PAGES };
    let va = buf.va + page * PAGE_SIZE;
    let (va, shortcut) = match m.mode {
        TranslationMode::Physical => (buf.da + page * PAGE_SIZE, 0),
        TranslationMode::FullWalk => (va, 0),
        _ => (va, t.shortcut(vi, va).0),
    };
    Descriptor {
        opcode: Opcode::Send as u8,
        dest: 0,
        length: len,
        wr_id: page as u32,
        va,
        shortcut,
    }
}

/// Keeps `vis` VIs' send queues full of `len`-byte sends until `total` completed; returns
/// (cycles from the completion that ends the first fifth to the last, descriptors in that
/// span, table reads per descriptor over the whole run).
fn stream(
    t: &mut Testbed,
    m: &Mode,
    buf: &Buffer,
    vis: usize,
    len: u32,
    total: usize,
    next_page: &mut u64,
) -> (u64, usize, f64) {
    let per_vi = total / vis;
    let total = per_vi * vis;
    // The first fifth warms the pipeline up.
    let skip = total / 5;
    // (posted, completed) per VI.
    let mut queues = vec![(0usize, 0usize); vis];
    let mut completed = 0;
    let mut start = None;
    let reads0 = t.sim.stats.reads_by_client[CLIENT_TABLE as usize];
    while completed < total {
        for (vi, (posted, done)) in queues.iter_mut().enumerate() {
            if *posted - *done < 96 && *posted < per_vi {
                for _ in 0..16.min(per_vi - *posted) {
                    let d = send(t, m, buf, vi, *next_page, len);
                    *next_page += 1;
                    t.post(vi, QueueKind::Send, &d);
                    *posted += 1;
                }
                t.ring(vi, QueueKind::Send);
            }
        }
        t.sim.run(64);
        t.sim.tx_frames.clear();
        for (vi, (_, done)) in queues.iter_mut().enumerate() {
            let n = t.poll(vi).len();
            *done += n;
            completed += n;
        }
        if start.is_none() && completed >= skip {
            start = Some((t.sim.cycle(), completed));
        }
    }
    let (c0, n0) = start.expect("warm-up done");
    let reads = t.sim.stats.reads_by_client[CLIENT_TABLE as usize] - reads0;
    (
        t.sim.cycle() - c0,
        completed - n0,
        reads as f64 / completed as f64,
    )
}

/// Doorbell-to-completion cycles of single 64-byte sends on an idle device, p50.
fn latency_p50(
    t: &mut Testbed,
    m: &Mode,
    buf: &Buffer,
    samples: usize,
    next_page: &mut u64,
) -> u64 {
    let mut lat = vec![];
    for i in 0..samples + 1 {
        let d = send(t, m, buf, 0, *next_page, 64);
        *next_page += 1;
        t.post(0, QueueKind::Send, &d);
        t.ring(0, QueueKind::Send);
        let rung = t.sim.cycle();
        let v = t.vis[0].as_ref().expect("VI");
        let (cq, head) = (v.cq, v.cq_head);
        let slot = cq.base + u64::from(head & (cq.entries() - 1)) * abi::queues::CQE_BYTES;
        let phase = abi::queues::phase_of(head, cq.log2);
        let arrived = t.sim.run_until(100_000, |s| {
            let b = s.mem.read(slot + 12, 4).expect("CQ");
            (b[3] >> 7 == 1) == phase
        });
        assert!(arrived, "no completion");
        let cycles = t.sim.cycle() - rung;
        t.poll(0);
        t.sim.tx_frames.clear();
        t.sim.run(200);
        // The first sample warms the cache in the cached mode.
        if i > 0 {
            lat.push(cycles);
        }
    }
    lat.sort_unstable();
    lat[lat.len() / 2]
}

/// Runs the benchmark: for each mode of [`MODE_NAMES`], a fresh Device with 4 VIs, then
/// 64-byte sends on 4 busy VIs, single 64-byte sends for the latency, and 4 KiB sends on one
/// VI. Reports what it is doing to `progress` (one line per phase, no newline) and returns
/// the figures. DMA firewall violations are counted into
/// [`BenchReport::firewall_violations`] (and the first of each mode reported to `progress`);
/// the caller decides what they mean.
///
/// [`BenchConfig::quick`] runs about a tenth of the sends of the full counts. Panics when
/// the Device stops completing sends.
pub fn run(cfg: &BenchConfig, progress: &mut dyn FnMut(&str)) -> BenchReport {
    let (n64, n4k, samples) = cfg.samples();
    let mut modes = Vec::with_capacity(MODES.len());
    let mut cycles = 0u64;
    let mut model_time = Duration::ZERO;
    let mut firewall_violations = 0;
    let wall = Instant::now();
    for m in &MODES {
        progress(&format!("{}: 64-byte sends, 4 VIs", m.name));
        let (mut t, buf) = setup(m, cfg.latency);
        let mut next_page = 0;
        let (c64, d64, reads) = stream(&mut t, m, &buf, 4, 64, n64, &mut next_page);
        progress(&format!("{}: latency", m.name));
        let p50 = latency_p50(&mut t, m, &buf, samples, &mut next_page);
        progress(&format!("{}: 4 KiB sends", m.name));
        let (c4k, d4k, _) = stream(&mut t, m, &buf, 1, 4096, n4k, &mut next_page);
        assert!(next_page <= PAGES, "pages reused");
        cycles += t.sim.cycle();
        model_time += t.sim.stats.model_time;
        if let Some(first) = t.sim.violations.first() {
            progress(&format!(
                "{}: DMA firewall: {} violations, first: {first}",
                m.name,
                t.sim.violations.len()
            ));
        }
        firewall_violations += t.sim.violations.len();
        modes.push((
            m.name,
            ModeFigures {
                mem_reads_per_translation: reads,
                cycles_per_desc_64b: c64 as f64 / d64 as f64,
                latency_cycles_64b_p50: p50,
                payload_efficiency_4kib: (d4k as f64 * 1024.0) / c4k as f64,
            },
        ));
    }
    BenchReport {
        mem_latency_cycles: cfg.latency,
        modes,
        cycles,
        model_time,
        wall_time: wall.elapsed(),
        firewall_violations,
    }
}
