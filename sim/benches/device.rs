//! The Device's Verilog in Verilator, the four translation modes side by side at one host
//! memory latency: table reads per translation, cycles per 64-byte descriptor with 4 VIs
//! busy, doorbell-to-completion latency of a 64-byte send (p50), payload efficiency of 4 KiB
//! sends (payload words per cycle; the host port moves one word per cycle per direction), and
//! the model's simulation speed. Prints JSON on stdout, progress on stderr.
//!
//! `cargo bench -p sim --bench device [-- --latency CYCLES] [-- --quick]`

use std::time::Instant;

use abi::queues::{Descriptor, Opcode, QueueKind};
use abi::translator::TranslationMode;
use abi::{Access, Key, PAGE_SIZE};
use rtl::device::CLIENT_TABLE;
use sim::host_port::HostConfig;
use sim::testbed::{Buffer, Testbed};
use sim::VDevice;

/// Pages of the benchmark buffer: every send of a run that must miss the translation cache
/// gets a page of its own (the phases of a run share one page counter).
const PAGES: u64 = 8192;
const VA: u64 = 0x10_0000_0000;

struct Mode {
    name: &'static str,
    mode: TranslationMode,
    /// Every descriptor on the same page (the translation cache answers).
    same_page: bool,
}

const MODES: [Mode; 4] = [
    Mode {
        name: "physical",
        mode: TranslationMode::Physical,
        same_page: false,
    },
    Mode {
        name: "full_walk",
        mode: TranslationMode::FullWalk,
        same_page: false,
    },
    Mode {
        name: "shortcut",
        mode: TranslationMode::Shortcut,
        same_page: false,
    },
    Mode {
        name: "shortcut_cached",
        mode: TranslationMode::Shortcut,
        same_page: true,
    },
];

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
/// (cycles from the completion that ends the first fifth to the last, descriptors in that span, table reads
/// per descriptor over the whole run).
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let latency = args
        .iter()
        .position(|a| a == "--latency")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(60u64);
    let (n64, n4k, samples) = if quick { (400, 40, 9) } else { (4000, 300, 51) };
    let mut rows = vec![];
    let mut cycles = 0u64;
    let mut model_time = std::time::Duration::ZERO;
    let wall = Instant::now();
    for m in &MODES {
        eprintln!("{}: 64-byte sends, 4 VIs", m.name);
        let (mut t, buf) = setup(m, latency);
        let mut next_page = 0;
        let (c64, d64, reads) = stream(&mut t, m, &buf, 4, 64, n64, &mut next_page);
        eprintln!("{}: latency", m.name);
        let p50 = latency_p50(&mut t, m, &buf, samples, &mut next_page);
        eprintln!("{}: 4 KiB sends", m.name);
        let (c4k, d4k, _) = stream(&mut t, m, &buf, 1, 4096, n4k, &mut next_page);
        assert!(next_page <= PAGES, "pages reused");
        let efficiency = (d4k as f64 * 1024.0) / c4k as f64;
        cycles += t.sim.cycle();
        model_time += t.sim.stats.model_time;
        assert!(
            t.sim.violations.is_empty(),
            "DMA firewall: {:?}",
            &t.sim.violations[..1]
        );
        rows.push(format!(
            "    \"{}\": {{\"mem_reads_per_translation\": {reads:.2}, \"cycles_per_desc_64B\": {:.1}, \"latency_cycles_64B_p50\": {p50}, \"payload_efficiency_4KiB\": {efficiency:.3}}}",
            m.name,
            c64 as f64 / d64 as f64
        ));
    }
    let rate = cycles as f64 / wall.elapsed().as_secs_f64();
    let model_rate = cycles as f64 / model_time.as_secs_f64();
    println!(
        "{{\n  \"mem_latency_cycles\": {latency},\n  \"modes\": {{\n{}\n  }},\n  \"verilator_cycles_per_second\": {{\"model\": {model_rate:.0}, \"with_host_model\": {rate:.0}}},\n  \"note\": \"Device Verilog in Verilator; 64 B: 4 VIs keep their send queues full, frames sunk without stalls; latency: doorbell write taken to CQ entry in memory, idle device; 4 KiB: one VI, page-aligned sends; simulation speed: model = time inside the Verilator model only, with_host_model = wall clock including the Rust host model and testbed\"\n}}",
        rows.join(",\n")
    );
}
