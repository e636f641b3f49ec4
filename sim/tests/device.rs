//! The Device's Verilog in Verilator, end to end through its queues: loopback transfers,
//! every status, descriptor fuzzing. Host memory answers after 60 cycles unless a test says
//! otherwise; hosts stall handshakes at random; the DMA firewall watches every access.

use abi::queues::{Descriptor, Opcode, QueueKind};
use abi::translator::TranslationMode;
use abi::{Access, Key, Shortcut, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rtl::bench::{run_seeded_with, test_seed, Failure};
use sim::host_port::HostConfig;
use sim::testbed::Testbed;
use sim::VDevice;

/// Runs `body` on a fresh testbed; a failure is replayed with a waveform of the clocks before
/// it: where the body stopped, or, when only the DMA firewall saw something wrong, the first
/// violation (that replay records from there to the end of the run).
fn run_device(
    name: &str,
    host: HostConfig,
    loopback: bool,
    body: impl Fn(&mut Testbed, u64) -> Result<(), String>,
) {
    run_seeded_with(
        name,
        test_seed(),
        |waves| {
            let model = match waves {
                None => VDevice::new(),
                Some(w) => VDevice::with_waveform_from(&w.path, w.from_cycle)?,
            };
            Ok(Testbed::new(model, host, 32 << 20, loopback))
        },
        |t, seed| {
            let r = body(t, seed);
            t.sim.model.flush_waveform();
            let v = &t.sim.violations;
            if let Err(e) = r {
                return Err(Failure::from(format!(
                    "{e}; DMA firewall: {:?}",
                    &v[..v.len().min(3)]
                )));
            }
            match t.sim.first_violation_at {
                None => Ok(()),
                Some(at) => Err(Failure::at(
                    at,
                    format!("DMA firewall: {:?}", &v[..v.len().min(5)]),
                )),
            }
        },
    );
}

/// Descriptors of the send fuzz: 100,000, or `SKIPWALK_FUZZ_DESCRIPTORS` for a longer or a
/// shorter campaign (the receive fuzz takes a fiftieth of it).
fn fuzz_descriptors() -> usize {
    std::env::var("SKIPWALK_FUZZ_DESCRIPTORS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000)
}

fn key(n: u128) -> Key {
    Key::from_u128(
        0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100 ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    )
}

#[test]
fn loopback_messages_arrive_byte_for_byte() {
    let host = HostConfig {
        stall: 0.2,
        ..Default::default()
    };
    run_device("device-loopback", host, true, |t, seed| {
        let mut rng = SmallRng::seed_from_u64(seed);
        t.create_pd(0, 64, true, false);
        t.create_pd(1, 64, false, true);
        t.create_vi(0, 0, TranslationMode::Shortcut, key(1), 6);
        t.create_vi(1, 1, TranslationMode::Shortcut, key(2), 6);
        let n = 24;
        let max = 64 * 1024u64;
        let src = t.register(
            0,
            0x7000_0000_0000 - (n as u64 + 1) * max,
            (n as u64 + 1) * max,
            Access::Read,
        );
        let dst = t.register(1, 0x2000_0000, (n as u64) * max, Access::ReadWrite);
        let mut expected = vec![];
        let mut sources = vec![];
        // Receive buffers first.
        for i in 0..n {
            let va = dst.va + i as u64 * max;
            let d = Descriptor {
                opcode: Opcode::Recv as u8,
                length: max as u32,
                wr_id: 1000 + i,
                va,
                shortcut: t.shortcut(1, va).0,
                ..Default::default()
            };
            t.post(1, QueueKind::Recv, &d);
        }
        t.ring(1, QueueKind::Recv);
        let mut sent = 0;
        let mut got_send = vec![];
        let mut got_recv = vec![];
        while got_recv.len() < n as usize {
            if sent < n && t.sq_outstanding(0, got_send.len() as u32) < 8 {
                let len = if rng.gen_bool(0.3) {
                    rng.gen_range(1..=64)
                } else {
                    rng.gen_range(1..=max as u32)
                };
                let off = u64::from(sent) * max
                    + u64::from(rng.gen_range(0..=(max as u32 - len) / 4) * 4);
                let va = src.va + off;
                let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                assert!(t.sim.mem.write(src.da + off, &payload));
                let d = Descriptor {
                    opcode: Opcode::Send as u8,
                    dest: 1,
                    length: len,
                    wr_id: sent,
                    va,
                    shortcut: t.shortcut(0, va).0,
                };
                t.post(0, QueueKind::Send, &d);
                t.ring(0, QueueKind::Send);
                expected.push(payload);
                sources.push(va);
                sent += 1;
            }
            t.sim.run(200);
            got_send.extend(t.poll(0));
            got_recv.extend(t.poll(1));
            if t.sim.cycle() > 3_000_000 {
                return Err(format!(
                    "stuck: {sent} sent, {} send and {} receive completions; {}",
                    got_send.len(),
                    got_recv.len(),
                    t.state()
                ));
            }
        }
        for (i, c) in got_recv.iter().enumerate() {
            let want = &expected[i];
            if c.status() != Some(Status::Ok)
                || c.wr_id != 1000 + i as u32
                || c.bytes as usize != want.len()
                || c.peer != 0
            {
                return Err(format!(
                    "receive completion {i}: {c:?}, expected {} bytes",
                    want.len()
                ));
            }
            let va = dst.va + i as u64 * max;
            let bytes = t
                .sim
                .mem
                .read(dst.da + (va - dst.va), want.len())
                .expect("buffer");
            if bytes != want.as_slice() {
                let at = bytes
                    .iter()
                    .zip(want)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                let differ = bytes.iter().zip(want).filter(|(a, b)| a != b).count();
                return Err(format!(
                    "message {i} ({} bytes, source offset {:#x}) differs at byte {at} ({differ} bytes differ)",
                    want.len(),
                    sources[i]
                ));
            }
        }
        t.sim.run(2000);
        got_send.extend(t.poll(0));
        for (i, c) in got_send.iter().enumerate() {
            if c.status() != Some(Status::Ok)
                || c.wr_id != i as u32
                || c.bytes as usize != expected[i].len()
                || c.index as usize != i
            {
                return Err(format!("send completion {i}: {c:?}"));
            }
        }
        Ok(())
    });
}

/// The translation core keeps no copy of a shortcut: it compares and fills the cache with the
/// requester's, so the arbiter must keep offering that requester's until the request is done.
/// Sends and receives translate side by side here, every first touch of a page a table walk
/// that fills the cache; a second round of the same transfers is then answered by the cache
/// alone, which holds only if every fill kept the shortcut of its own request.
#[test]
fn side_by_side_translations_fill_the_cache_with_their_own_shortcuts() {
    let host = HostConfig {
        stall: 0.2,
        ..Default::default()
    };
    run_device("device-cache-fills", host, true, |t, seed| {
        let mut rng = SmallRng::seed_from_u64(seed);
        t.create_pd(0, 64, true, false);
        t.create_pd(1, 64, false, true);
        t.create_vi(0, 0, TranslationMode::Shortcut, key(3), 6);
        t.create_vi(1, 1, TranslationMode::Shortcut, key(4), 6);
        let pages = 24u64;
        let page = abi::PAGE_SIZE;
        let src = t.register(0, 0x3000_0000, pages * page, Access::Read);
        let dst = t.register(1, 0x5000_0000 + 64 * page, pages * page, Access::ReadWrite);
        let mut sets = std::collections::BTreeSet::new();
        for i in 0..pages {
            sets.insert(abi::translator::cache_index(0, (src.va >> 12) + i));
            sets.insert(abi::translator::cache_index(1, (dst.va >> 12) + i));
        }
        assert_eq!(sets.len() as u64, 2 * pages, "the pages share cache sets");
        let table_reads =
            |t: &Testbed| t.sim.stats.reads_by_client[rtl::device::CLIENT_TABLE as usize];
        let mut reads = vec![];
        for round in 0..2u32 {
            let before = table_reads(t);
            for i in 0..pages {
                let va = dst.va + i * page;
                let d = Descriptor {
                    opcode: Opcode::Recv as u8,
                    length: 64,
                    wr_id: 100 * round + i as u32,
                    va,
                    shortcut: t.shortcut(1, va).0,
                    ..Default::default()
                };
                t.post(1, QueueKind::Recv, &d);
            }
            t.ring(1, QueueKind::Recv);
            let (mut sends, mut recvs) = (vec![], vec![]);
            let mut posted = 0;
            while recvs.len() < pages as usize || sends.len() < pages as usize {
                if posted < pages && rng.gen_bool(0.5) {
                    let va = src.va + posted * page + 4 * rng.gen_range(0..16u64);
                    let d = Descriptor {
                        opcode: Opcode::Send as u8,
                        dest: 1,
                        length: 64,
                        wr_id: 100 * round + posted as u32,
                        va,
                        shortcut: t.shortcut(0, va).0,
                    };
                    t.post(0, QueueKind::Send, &d);
                    t.ring(0, QueueKind::Send);
                    posted += 1;
                }
                t.sim.run(50);
                sends.extend(t.poll(0));
                recvs.extend(t.poll(1));
                if t.sim.cycle() > 2_000_000 {
                    return Err(format!("stuck in round {round}: {}", t.state()));
                }
            }
            if let Some(c) = sends
                .iter()
                .chain(&recvs)
                .find(|c| c.status() != Some(Status::Ok))
            {
                return Err(format!("round {round}: {c:?}"));
            }
            reads.push(table_reads(t) - before);
        }
        // A leaf-level shortcut walks one table entry per page, once.
        if reads != [2 * pages, 0] {
            return Err(format!(
                "table reads per round {reads:?}, expected [{}, 0]",
                2 * pages
            ));
        }
        Ok(())
    });
}

/// What a fuzzed VI looks like to the generator.
struct FuzzVi {
    vi: usize,
    /// Registered buffer: VA, bytes.
    buffer: (u64, u64),
    physical: bool,
}

/// One random descriptor for `v`: mostly good sends, and every kind of bad input.
fn fuzz_descriptor(t: &Testbed, v: &FuzzVi, rng: &mut SmallRng) -> Descriptor {
    let (base, size) = v.buffer;
    let len = match rng.gen_range(0..100) {
        0..=69 => rng.gen_range(1..=64),
        70..=97 => rng.gen_range(1..=2048),
        _ => rng.gen_range(1..=65536),
    };
    let off = rng.gen_range(0..=(size - u64::from(len)) / 4) * 4;
    let va = base + off;
    let mut d = Descriptor {
        opcode: Opcode::Send as u8,
        dest: rng.gen_range(0..4),
        length: len,
        wr_id: rng.gen(),
        va,
        shortcut: if v.physical {
            0
        } else {
            t.shortcut(v.vi, va).0
        },
    };
    match rng.gen_range(0..40) {
        0 => d.opcode = rng.gen(),
        1 => d.opcode = Opcode::Nop as u8,
        2 => d.length = 0,
        3 => d.length = rng.gen_range(65537..=u32::MAX),
        4 => d.va += rng.gen_range(1..4),
        5 => d.dest = rng.gen_range(4..=255),
        6 | 7 => d.shortcut = rng.gen(),
        8 => d.shortcut ^= 1 << rng.gen_range(0..64),
        // A shortcut for another part of the buffer (another leaf table, or the same).
        9 if !v.physical => d.shortcut = t.shortcut(v.vi, base + rng.gen_range(0..size / 4) * 4).0,
        10 => d.va = rng.gen_range(1u64 << 47..u64::MAX) & !3,
        // Unmapped memory next to the buffer (translated modes only).
        11 if !v.physical => d.va = base + size + rng.gen_range(0..16) * 4096,
        // Well-formed shortcuts that must still fail: a stale generation, a table outside
        // the PD's window; and a good level-2 shortcut.
        12..=14 if !v.physical => {
            let vi = t.vis[v.vi].as_ref().expect("VI");
            let pd = t.pds[vi.pd].as_ref().expect("PD");
            let gen = pd.cfg.generation;
            let level = if rng.gen_range(12..=14) == 14 { 2 } else { 1 };
            let table = pd
                .tables
                .table_frame(&t.sim.mem, va, level)
                .expect("tables")
                .expect("table");
            d.shortcut = match rng.gen_range(0..3) {
                0 => Shortcut::mint(
                    &vi.cipher,
                    table as u32,
                    level,
                    gen.wrapping_sub(1) & 0x7f,
                    va,
                ),
                1 => Shortcut::mint(
                    &vi.cipher,
                    (table + u64::from(pd.cfg.window.pages)) as u32,
                    level,
                    gen,
                    va,
                ),
                _ => Shortcut::mint(&vi.cipher, table as u32, level, gen, va),
            }
            .0;
        }
        _ => {}
    }
    d
}

#[test]
fn descriptor_fuzz_100k_every_descriptor_completes_as_the_golden_model_says() {
    let total = fuzz_descriptors();
    let host = HostConfig {
        stall: 0.1,
        ..Default::default()
    };
    run_device("device-fuzz", host, false, |t, seed| {
        let mut rng = SmallRng::seed_from_u64(seed);
        t.write_core_reg(abi::regs::FAULT_THRESHOLD, 48);
        t.create_pd(0, 64, true, false);
        t.create_pd(1, 8, true, false);
        t.create_pd(2, 64, true, false);
        t.create_vi(0, 0, TranslationMode::Shortcut, key(10), 5);
        t.create_vi(1, 0, TranslationMode::FullWalk, key(11), 5);
        t.create_vi(2, 1, TranslationMode::Physical, key(12), 5);
        t.create_vi(3, 2, TranslationMode::Shortcut, key(13), 5);
        // Buffers that straddle a leaf table's span (2 MiB) so transfers can cross it.
        let b0 = t.register(0, 0x4000_0000 - 96 * 1024, 192 * 1024, Access::Read);
        let b2 = t.register(1, 0x10_0000, 160 * 1024, Access::Read);
        let b3 = t.register(2, 0x7fff_ffe0_0000 - 80 * 1024, 160 * 1024, Access::Read);
        let vis = [
            FuzzVi {
                vi: 0,
                buffer: (b0.va, b0.len),
                physical: false,
            },
            FuzzVi {
                vi: 1,
                buffer: (b0.va, b0.len),
                physical: false,
            },
            FuzzVi {
                vi: 2,
                buffer: (b2.da, b2.len),
                physical: true,
            },
            FuzzVi {
                vi: 3,
                buffer: (b3.va, b3.len),
                physical: false,
            },
        ];
        let bytes_at = |t: &Testbed, vi: usize, va: u64, len: usize| -> Vec<u8> {
            let (buf_va, buf_da) = match vi {
                0 | 1 => (b0.va, b0.da),
                2 => (b2.da, b2.da),
                _ => (b3.va, b3.da),
            };
            t.sim
                .mem
                .read(buf_da + (va - buf_va), len)
                .expect("buffer")
                .to_vec()
        };
        let mut posted = 0usize;
        let mut pending: Vec<std::collections::VecDeque<(Descriptor, Status, u32, u16)>> =
            vec![Default::default(); 4];
        let mut frames_expected: Vec<std::collections::VecDeque<Vec<u8>>> =
            vec![Default::default(); 4];
        let mut seen = std::collections::BTreeSet::new();
        let mut last_progress = t.sim.cycle();
        let mut completed = 0usize;
        let mut disabled_rounds = 0;
        while completed < total {
            // Refill VIs whose previous batch is done.
            for v in &vis {
                if !pending[v.vi].is_empty() || posted >= total {
                    continue;
                }
                if t.golden.vi(v.vi).locked {
                    // Unlock (a VI_CTRL write clears faults and the lock) before posting.
                    let cfg = t.golden.vi(v.vi);
                    t.set_vi_ctrl(
                        v.vi,
                        abi::ViConfig {
                            faults: 0,
                            locked: false,
                            ..cfg
                        },
                    );
                }
                let batch = rng.gen_range(1..=16).min(total - posted);
                for _ in 0..batch {
                    let d = fuzz_descriptor(t, v, &mut rng);
                    let (status, bytes) = t.expect_send(v.vi, &d);
                    let index = t.vis[v.vi].as_ref().expect("VI").sq_tail as u16;
                    if status == Status::Ok && d.opcode == Opcode::Send as u8 {
                        frames_expected[v.vi].push_back(bytes_at(t, v.vi, d.va, d.length as usize));
                    }
                    pending[v.vi].push_back((d, status, bytes, index));
                    t.post(v.vi, QueueKind::Send, &d);
                }
                posted += batch;
                // Now and then the VI is disabled when it rings: the doorbell is ignored and
                // counted, nothing is fetched; ringing again once enabled delivers the batch.
                if v.vi == 2 && rng.gen_bool(0.05) {
                    let cfg = t.golden.vi(2);
                    let drops = t.sim.read_reg(u32::from(abi::regs::queue_reg(
                        2,
                        abi::regs::DOORBELL_DROPS,
                    )));
                    t.set_vi_ctrl(
                        2,
                        abi::ViConfig {
                            enabled: false,
                            ..cfg
                        },
                    );
                    t.ring(2, QueueKind::Send);
                    t.sim.run(500);
                    let after = t.sim.read_reg(u32::from(abi::regs::queue_reg(
                        2,
                        abi::regs::DOORBELL_DROPS,
                    )));
                    if after != drops + 1 || !t.poll(2).is_empty() {
                        return Err(format!(
                            "doorbell of a disabled VI: drops {drops} -> {after}"
                        ));
                    }
                    t.set_vi_ctrl(
                        2,
                        abi::ViConfig {
                            enabled: true,
                            ..cfg
                        },
                    );
                    disabled_rounds += 1;
                }
                t.ring(v.vi, QueueKind::Send);
            }
            t.sim.run(100);
            for v in &vis {
                for c in t.poll(v.vi) {
                    let Some((d, status, bytes, index)) = pending[v.vi].pop_front() else {
                        return Err(format!("VI {}: unexpected completion {c:?}", v.vi));
                    };
                    if c.status() != Some(status)
                        || c.bytes != bytes
                        || c.wr_id != d.wr_id
                        || c.index != index & 0xfff
                        || c.opcode != d.opcode
                    {
                        return Err(format!(
                            "VI {} descriptor {d:x?}: completion {c:?}, expected {status:?} with {bytes} bytes, index {index}",
                            v.vi
                        ));
                    }
                    seen.insert(status);
                    completed += 1;
                    last_progress = t.sim.cycle();
                }
            }
            while let Some(frame) = t.sim.tx_frames.pop_front() {
                let Some((h, payload)) = abi::frames::parse_frame(&frame) else {
                    return Err(format!("malformed frame of {} words", frame.len()));
                };
                let want = frames_expected[usize::from(h.src) % 4].pop_front();
                if want.as_deref() != Some(payload.as_slice()) {
                    return Err(format!(
                        "frame from VI {} ({} bytes) differs from its buffer",
                        h.src, h.length
                    ));
                }
            }
            if t.sim.cycle() - last_progress > 400_000 {
                return Err(format!(
                    "no completion for 400,000 cycles: device hung ({completed} of {total}); {}",
                    t.state()
                ));
            }
        }
        if !t.sim.tx_frames.is_empty() || frames_expected.iter().any(|f| !f.is_empty()) {
            return Err("frames missing or left over".into());
        }
        let must = [
            Status::Ok,
            Status::BadOpcode,
            Status::BadLength,
            Status::Misaligned,
            Status::BadDest,
            Status::ShortcutVaTag,
            Status::ShortcutGeneration,
            Status::ShortcutWindow,
            Status::ShortcutPadding,
            Status::CrossesTable,
            Status::NotPresent,
            Status::AddrRange,
            Status::ViLocked,
        ];
        if total >= 50_000 {
            if let Some(s) = must.iter().find(|s| !seen.contains(s)) {
                return Err(format!("status {s:?} never produced: {seen:?}"));
            }
            if disabled_rounds == 0 {
                return Err("the disabled-VI case never ran".into());
            }
        }
        eprintln!(
            "fuzz: {completed} descriptors in {} cycles; statuses {seen:?}",
            t.sim.cycle()
        );
        Ok(())
    });
}

/// Posts one descriptor on `queue` of `vi`, rings, and waits for its completion.
fn one(
    t: &mut Testbed,
    vi: usize,
    queue: QueueKind,
    d: &Descriptor,
) -> Result<abi::Completion, String> {
    t.post(vi, queue, d);
    t.ring(vi, queue);
    for _ in 0..2000 {
        t.sim.run(100);
        if let Some(c) = t.poll(vi).pop() {
            return Ok(c);
        }
    }
    Err(format!(
        "VI {vi}: no completion for {d:x?} in 200,000 cycles"
    ))
}

#[test]
fn every_status_end_to_end_through_the_queues() {
    use abi::pte::{Pte, PTE_PINNED, PTE_PRESENT};
    use abi::shortcut::Plaintext;
    run_device(
        "device-statuses",
        HostConfig {
            stall: 0.1,
            ..Default::default()
        },
        true,
        |t, _seed| {
            let mut seen = std::collections::BTreeMap::new();
            t.create_pd(0, 64, true, false);
            t.create_pd(1, 64, false, true);
            t.create_vi(0, 0, TranslationMode::Shortcut, key(20), 4);
            t.create_vi(1, 1, TranslationMode::Shortcut, key(21), 4);
            t.create_vi(2, 0, TranslationMode::FullWalk, key(22), 4);
            t.create_vi(3, 0, TranslationMode::Shortcut, key(23), 4);
            let buf = t.register(0, 0x4000_0000 - 8192, 16384, Access::Read);
            let rbuf = t.register(1, 0x5000_0000, 16384, Access::ReadWrite);
            let gen = t.pds[0].as_ref().expect("PD").cfg.generation;
            let window = t.pds[0].as_ref().expect("PD").cfg.window;
            let leaf = t.pds[0]
                .as_ref()
                .expect("PD")
                .tables
                .table_frame(&t.sim.mem, buf.va, 1)
                .expect("t")
                .expect("leaf");
            let send = |t: &Testbed, vi: usize, va: u64, len: u32| Descriptor {
                opcode: Opcode::Send as u8,
                dest: 1,
                length: len,
                wr_id: 7,
                va,
                shortcut: if t.vis[vi].as_ref().expect("VI").mode == TranslationMode::Shortcut {
                    t.shortcut(vi, va).0
                } else {
                    0
                },
            };
            let seal = |t: &Testbed, vi: usize, p: Plaintext| {
                t.vis[vi].as_ref().expect("VI").cipher.encrypt(p.pack())
            };
            let mut check_send =
                |t: &mut Testbed, vi: usize, d: Descriptor, want: Status| -> Result<(), String> {
                    let (golden, _) = t.expect_send(vi, &d);
                    let c = one(t, vi, QueueKind::Send, &d)?;
                    if c.status() != Some(want) || golden != want {
                        return Err(format!(
                            "{want:?}: device {:?}, golden {golden:?}, for {d:x?}",
                            c.status()
                        ));
                    }
                    seen.insert(want, ());
                    Ok(())
                };
            // A receive buffer for every good send of VI 0 (they go to VI 1 through the loopback).
            for i in 0..8 {
                let d = Descriptor {
                    opcode: Opcode::Recv as u8,
                    length: 16384,
                    wr_id: 100 + i,
                    va: rbuf.va,
                    shortcut: t.shortcut(1, rbuf.va).0,
                    ..Default::default()
                };
                t.post(1, QueueKind::Recv, &d);
            }
            t.ring(1, QueueKind::Recv);

            check_send(t, 0, send(t, 0, buf.va, 100), Status::Ok)?;
            check_send(
                t,
                0,
                Descriptor {
                    opcode: 9,
                    ..send(t, 0, buf.va, 8)
                },
                Status::BadOpcode,
            )?;
            check_send(t, 0, send(t, 0, buf.va, 0), Status::BadLength)?;
            check_send(t, 0, send(t, 0, buf.va + 2, 8), Status::Misaligned)?;
            check_send(
                t,
                0,
                Descriptor {
                    dest: 9,
                    ..send(t, 0, buf.va, 8)
                },
                Status::BadDest,
            )?;
            check_send(
                t,
                0,
                Descriptor {
                    va: 1 << 47,
                    ..send(t, 0, buf.va, 8)
                },
                Status::AddrRange,
            )?;
            let p = |level: u8, generation: u8, table_frame: u32, va_tag: u32| Plaintext {
                table_frame,
                level,
                generation,
                va_tag,
            };
            let tag = abi::shortcut::va_tag(buf.va, 1);
            check_send(
                t,
                0,
                Descriptor {
                    shortcut: seal(t, 0, p(0, gen, leaf as u32, tag)),
                    ..send(t, 0, buf.va, 8)
                },
                Status::ShortcutLevel,
            )?;
            check_send(
                t,
                0,
                Descriptor {
                    shortcut: seal(t, 0, p(1, gen, leaf as u32, tag | 1 << 26)),
                    ..send(t, 0, buf.va, 8)
                },
                Status::ShortcutPadding,
            )?;
            check_send(
                t,
                0,
                Descriptor {
                    shortcut: seal(t, 0, p(1, gen, leaf as u32, tag ^ 1)),
                    ..send(t, 0, buf.va, 8)
                },
                Status::ShortcutVaTag,
            )?;
            check_send(
                t,
                0,
                Descriptor {
                    shortcut: seal(t, 0, p(1, gen - 1, leaf as u32, tag)),
                    ..send(t, 0, buf.va, 8)
                },
                Status::ShortcutGeneration,
            )?;
            check_send(
                t,
                0,
                Descriptor {
                    shortcut: seal(t, 0, p(1, gen, window.base + window.pages, tag)),
                    ..send(t, 0, buf.va, 8)
                },
                Status::ShortcutWindow,
            )?;
            // The buffer straddles 0x4000_0000, a leaf table's boundary.
            check_send(
                t,
                0,
                send(t, 0, 0x4000_0000 - 64, 128),
                Status::CrossesTable,
            )?;
            check_send(t, 0, send(t, 0, buf.va + 16384, 8), Status::NotPresent)?;
            {
                let pd = t.pds[0].as_mut().expect("PD");
                pd.tables
                    .set_leaf(&mut t.sim.mem, 0x4000_4000, Pte::new(0x1234, PTE_PRESENT))
                    .expect("leaf");
                pd.tables
                    .set_leaf(
                        &mut t.sim.mem,
                        0x4000_5000,
                        Pte::new(1 << 30, PTE_PRESENT | PTE_PINNED),
                    )
                    .expect("leaf");
            }
            check_send(t, 0, send(t, 0, 0x4000_4000, 8), Status::NotPinned)?;
            check_send(t, 0, send(t, 0, 0x4000_5000, 8), Status::FrameRange)?;
            // A root entry of VI 2's PD (full walks) pointing outside the table window.
            let root = t.pds[0].as_ref().expect("PD").tables.root();
            let far_va = 0x0000_7f00_0000_0000u64;
            t.sim.mem.write(
                root * 4096 + abi::level_index(far_va, 4) * 8,
                &Pte::table(u64::from(window.base + window.pages) + 5)
                    .0
                    .to_le_bytes(),
            );
            check_send(t, 2, send(t, 2, far_va, 8), Status::WalkWindow)?;
            check_send(t, 2, send(t, 2, buf.va, 64), Status::Ok)?;
            // VI 3: bad mode, then an invalid PD, then a PD that may not be read.
            let cfg3 = t.golden.vi(3);
            t.set_vi_ctrl(3, abi::ViConfig { mode: 3, ..cfg3 });
            check_send(t, 3, send(t, 0, buf.va, 8), Status::BadMode)?;
            t.set_vi_ctrl(3, abi::ViConfig { pd: 5, ..cfg3 });
            check_send(t, 3, send(t, 0, buf.va, 8), Status::PdInvalid)?;
            t.set_vi_ctrl(3, abi::ViConfig { pd: 1, ..cfg3 });
            check_send(t, 3, send(t, 0, buf.va, 8), Status::OpDenied)?;
            // A PD whose table window is not backed by memory: the table read fails.
            let far = abi::shortcut::TableWindow {
                base: 0x0800_0000,
                pages: 4,
            };
            t.sim.firewall.table_windows[6] = 0x80_0000_0000..0x80_0000_4000;
            t.configure_pd(
                6,
                abi::PdConfig {
                    valid: true,
                    generation: 1,
                    allow_read: true,
                    allow_write: false,
                    window: far,
                },
            );
            t.set_vi_ctrl(
                3,
                abi::ViConfig {
                    pd: 6,
                    mode: TranslationMode::FullWalk as u8,
                    ..cfg3
                },
            );
            check_send(t, 3, send(t, 2, buf.va, 8), Status::DmaError)?;
            // Locking: with a threshold of 1, the first forged shortcut locks the VI and the next
            // descriptor of the same doorbell completes with vi_locked.
            t.set_vi_ctrl(3, cfg3);
            t.write_core_reg(abi::regs::FAULT_THRESHOLD, 1);
            let forged = Descriptor {
                shortcut: 0x0123_4567_89ab_cdef,
                ..send(t, 3, buf.va, 8)
            };
            let e1 = t.expect_send(3, &forged).0;
            let e2 = t.expect_send(3, &forged).0;
            t.post(3, QueueKind::Send, &forged);
            t.post(3, QueueKind::Send, &forged);
            t.ring(3, QueueKind::Send);
            t.sim.run(3000);
            let cs = t.poll(3);
            if cs.len() != 2
                || cs[1].status() != Some(Status::ViLocked)
                || !e1.is_fault()
                || e2 != Status::ViLocked
                || cs[0].status() != Some(e1)
            {
                return Err(format!("locking: {cs:?}, golden {e1:?} {e2:?}"));
            }
            seen.insert(Status::ViLocked, ());
            // A locked VI's doorbell is ignored and counted; nothing is fetched.
            let drops_reg = u32::from(abi::regs::queue_reg(3, abi::regs::DOORBELL_DROPS));
            let drops = t.sim.read_reg(drops_reg);
            let good = send(t, 3, buf.va, 8);
            t.post(3, QueueKind::Send, &good);
            t.ring(3, QueueKind::Send);
            t.sim.run(2000);
            if t.sim.read_reg(drops_reg) != drops + 1 || !t.poll(3).is_empty() {
                return Err("the doorbell of a locked VI was not ignored".into());
            }
            // Unlocking (a VI_CTRL write) and ringing again delivers it.
            t.set_vi_ctrl(3, cfg3);
            let c = t.poll(3);
            t.ring(3, QueueKind::Send);
            let mut got = c;
            for _ in 0..100 {
                t.sim.run(100);
                got.extend(t.poll(3));
                if !got.is_empty() {
                    break;
                }
            }
            if got.len() != 1 || got[0].status() != Some(Status::Ok) {
                return Err(format!("after unlocking: {got:?}"));
            }
            t.write_core_reg(abi::regs::FAULT_THRESHOLD, 0);
            // Disabling a VI whose descriptor is fetched but not yet translated (it waits
            // behind four 8 KiB sends of VI 0): it completes with vi_disabled.
            let sq_head = |t: &mut Testbed, vi: usize| {
                t.sim
                    .read_reg(u32::from(abi::regs::queue_reg(vi, abi::regs::SQ_HEAD)))
            };
            let fetched = |t: &mut Testbed, vi: usize| {
                let tail = t.vis[vi].as_ref().expect("VI").sq_tail;
                (0..100).any(|_| {
                    t.sim.run(50);
                    sq_head(t, vi) == tail
                })
            };
            t.set_vi_ctrl(3, cfg3);
            for _ in 0..4 {
                let d = send(t, 0, buf.va, 8192);
                t.post(0, QueueKind::Send, &d);
            }
            t.ring(0, QueueKind::Send);
            let ahead = fetched(t, 0);
            t.post(3, QueueKind::Send, &send(t, 3, buf.va, 8));
            t.ring(3, QueueKind::Send);
            if !ahead || !fetched(t, 3) {
                return Err(format!("disabling: descriptors not fetched; {}", t.state()));
            }
            t.set_vi_ctrl(
                3,
                abi::ViConfig {
                    enabled: false,
                    ..cfg3
                },
            );
            let mut cs = vec![];
            let mut big = vec![];
            for _ in 0..100 {
                t.sim.run(1000);
                cs.extend(t.poll(3));
                big.extend(t.poll(0));
                if cs.len() == 1 && big.len() == 4 {
                    break;
                }
            }
            if cs.len() != 1
                || cs[0].status() != Some(Status::ViDisabled)
                || big.len() != 4
                || big.iter().any(|c| c.status() != Some(Status::Ok))
            {
                return Err(format!("disabled: {cs:?}; the sends ahead: {big:?}"));
            }
            seen.insert(Status::ViDisabled, ());

            for s in Status::ALL {
                if Status::CHECK_ORDER.contains(s)
                    && !seen.contains_key(s)
                    && *s != Status::ReadOnly
                {
                    return Err(format!("{s:?} not reproduced"));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn receive_statuses_and_malformed_frames() {
    run_device(
        "device-receive",
        HostConfig {
            stall: 0.1,
            ..Default::default()
        },
        true,
        |t, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            t.create_pd(0, 64, true, false);
            t.create_pd(1, 64, false, true);
            t.create_vi(0, 0, TranslationMode::Shortcut, key(30), 4);
            t.create_vi(1, 1, TranslationMode::Shortcut, key(31), 4);
            let src = t.register(0, 0x1000_0000, 8192, Access::Read);
            let rbuf = t.register(1, 0x5000_0000, 8192, Access::ReadWrite);
            let ro = t.register(1, 0x6000_0000, 4096, Access::Read);
            let payload: Vec<u8> = (0..100).map(|_| rng.gen()).collect();
            t.sim.mem.write(src.da, &payload);
            let recv = |t: &Testbed, va: u64, len: u32, opcode: u8, wr_id: u32| Descriptor {
                opcode,
                length: len,
                wr_id,
                va,
                shortcut: t.shortcut(1, va).0,
                ..Default::default()
            };
            let cases = [
                (
                    recv(t, ro.va, 4096, Opcode::Recv as u8, 1),
                    Status::ReadOnly,
                ),
                (
                    recv(t, rbuf.va, 16, Opcode::Recv as u8, 2),
                    Status::BufferTooSmall,
                ),
                (
                    recv(t, rbuf.va, 4096, Opcode::Send as u8, 3),
                    Status::BadOpcode,
                ),
                (
                    recv(t, rbuf.va + 1, 4096, Opcode::Recv as u8, 4),
                    Status::Misaligned,
                ),
                (recv(t, rbuf.va, 4096, Opcode::Recv as u8, 5), Status::Ok),
            ];
            for (d, _) in &cases {
                t.post(1, QueueKind::Recv, d);
            }
            t.ring(1, QueueKind::Recv);
            let send = Descriptor {
                opcode: Opcode::Send as u8,
                dest: 1,
                length: 100,
                wr_id: 9,
                va: src.va,
                shortcut: t.shortcut(0, src.va).0,
            };
            for (d, want) in &cases {
                let c = one(t, 0, QueueKind::Send, &send)?;
                if c.status() != Some(Status::Ok) {
                    return Err(format!("send: {c:?}"));
                }
                let mut r = vec![];
                t.sim.run(50_000);
                r.extend(t.poll(1));
                let c = r.pop().ok_or("no receive completion")?;
                let bytes = if *want == Status::Ok { 100 } else { 0 };
                if c.status() != Some(*want)
                    || c.wr_id != d.wr_id
                    || c.bytes != bytes
                    || c.peer != 0
                    || c.queue != QueueKind::Recv
                {
                    return Err(format!("receive {want:?}: {c:?}"));
                }
            }
            if t.sim.mem.read(rbuf.da, 100).expect("buffer") != payload.as_slice() {
                return Err("received payload differs".into());
            }
            // External frames: loopback off, frames injected on the RX port.
            t.sim.write_reg(u32::from(abi::regs::DEVICE_CTRL), 0);
            let inject = |t: &mut Testbed, words: &[u32]| {
                for (i, w) in words.iter().enumerate() {
                    t.sim.rx_input.push_back((*w, i + 1 == words.len()));
                }
            };
            let bad_before = t.sim.read_reg(u32::from(abi::regs::RX_BAD_FRAMES));
            let drops_before = t
                .sim
                .read_reg(u32::from(abi::regs::queue_reg(1, abi::regs::RX_DROPS)));
            // Bad magic, and a destination the device does not have: dropped and counted.
            inject(t, &[0x1234_0001, 8, 1, 2]);
            inject(t, &abi::frames::frame_words(7, 0, &[1, 2, 3]));
            // No receive descriptor posted: dropped, counted for the VI.
            inject(t, &abi::frames::frame_words(1, 0, &[1, 2, 3]));
            t.sim.run(3000);
            let bad = t.sim.read_reg(u32::from(abi::regs::RX_BAD_FRAMES)) - bad_before;
            let drops = t
                .sim
                .read_reg(u32::from(abi::regs::queue_reg(1, abi::regs::RX_DROPS)))
                - drops_before;
            if bad != 2 || drops != 1 || !t.poll(1).is_empty() {
                return Err(format!("dropped frames: bad {bad}, drops {drops}"));
            }
            // A frame that ends early and one that runs long: bad_frame on a posted descriptor.
            for _ in 0..3 {
                t.post(
                    1,
                    QueueKind::Recv,
                    &recv(t, rbuf.va, 4096, Opcode::Recv as u8, 77),
                );
            }
            t.ring(1, QueueKind::Recv);
            let mut short = abi::frames::frame_words(1, 2, &[7; 64]);
            short.truncate(6);
            inject(t, &short);
            let mut long = abi::frames::frame_words(1, 2, &[7; 16]);
            long.extend([0xdead, 0xbeef]);
            inject(t, &long);
            inject(t, &abi::frames::frame_words(1, 3, &payload));
            t.sim.run(5000);
            let cs = t.poll(1);
            let st: Vec<_> = cs.iter().map(|c| c.status()).collect();
            if st
                != [
                    Some(Status::BadFrame),
                    Some(Status::BadFrame),
                    Some(Status::Ok),
                ]
                || cs[2].peer != 3
                || cs[2].bytes != 100
            {
                return Err(format!("frames: {cs:?}"));
            }
            if t.sim.mem.read(rbuf.da, 100).expect("buffer") != payload.as_slice() {
                return Err("payload after malformed frames differs".into());
            }
            Ok(())
        },
    );
}

#[test]
fn full_cq_holds_back_only_its_vi_events_and_doorbell_checks() {
    run_device(
        "device-flow-control",
        HostConfig {
            stall: 0.1,
            ..Default::default()
        },
        false,
        |t, _seed| {
            use abi::regs::{
                doorbell, queue_reg, CQ_TAIL, DB_CQ_ARM, DB_CQ_HEAD, DB_SQ_TAIL, DOORBELL_DROPS,
                SQ_HEAD,
            };
            t.create_pd(0, 16, true, false);
            t.create_vi(0, 0, TranslationMode::Shortcut, key(40), 4);
            t.create_vi(1, 0, TranslationMode::Shortcut, key(41), 4);
            t.resize_rings(0, 5, 4, 4);
            let buf = t.register(0, 0x1000_0000, 4096, Access::Read);
            let send = |t: &Testbed, vi: usize, wr_id: u32| Descriptor {
                opcode: Opcode::Send as u8,
                dest: 1,
                length: 64,
                wr_id,
                va: buf.va,
                shortcut: t.shortcut(vi, buf.va).0,
            };
            // VI 0: 30 sends against a CQ of 16 entries, not polled.
            for i in 0..30 {
                let d = send(t, 0, i);
                t.post(0, QueueKind::Send, &d);
            }
            t.ring(0, QueueKind::Send);
            // VI 1 keeps working meanwhile.
            let mut got1 = vec![];
            for i in 0..20 {
                let d = send(t, 1, 100 + i);
                got1.push(one(t, 1, QueueKind::Send, &d)?);
            }
            let tail = t.sim.read_reg(u32::from(queue_reg(0, CQ_TAIL)));
            let head = t.sim.read_reg(u32::from(queue_reg(0, SQ_HEAD)));
            if tail > 16 || head > 16 || got1.iter().any(|c| c.status() != Some(Status::Ok)) {
                return Err(format!(
                    "full CQ: VI 0 cq_tail {tail}, sq_head {head}; VI 1 {got1:?}"
                ));
            }
            // Draining VI 0's CQ lets the rest through, in order.
            let mut got0 = vec![];
            for _ in 0..200 {
                got0.extend(t.poll(0));
                if got0.len() == 30 {
                    break;
                }
                t.sim.run(200);
            }
            if got0.len() != 30
                || got0
                    .iter()
                    .enumerate()
                    .any(|(i, c)| c.wr_id != i as u32 || c.status() != Some(Status::Ok))
            {
                return Err(format!(
                    "VI 0 after draining: {} completions: {got0:?}",
                    got0.len()
                ));
            }
            // Events: one per arm.
            t.sim.write_reg(doorbell(1, DB_CQ_ARM), 1);
            t.sim.events.clear();
            let d = send(t, 1, 200);
            one(t, 1, QueueKind::Send, &d)?;
            let d = send(t, 1, 201);
            one(t, 1, QueueKind::Send, &d)?;
            if t.sim.events != [1] {
                return Err(format!("events {:?}, expected one for VI 1", t.sim.events));
            }
            // Impossible doorbell values are ignored and counted.
            let drops = |t: &mut Testbed| t.sim.read_reg(u32::from(queue_reg(1, DOORBELL_DROPS)));
            let before = drops(t);
            let tail1 = t.vis[1].as_ref().expect("VI").sq_tail;
            t.sim.write_reg(doorbell(1, DB_SQ_TAIL), tail1 + 17);
            let cq_head = t.vis[1].as_ref().expect("VI").cq_head;
            t.sim.write_reg(doorbell(1, DB_CQ_HEAD), cq_head + 1);
            t.sim.run(2000);
            let after = drops(t);
            let sq_head1 = t.sim.read_reg(u32::from(queue_reg(1, SQ_HEAD)));
            if after != before + 2 || sq_head1 != tail1 || !t.poll(1).is_empty() {
                return Err(format!(
                    "bad doorbells: drops {before} -> {after}, sq_head {sq_head1} (tail {tail1})"
                ));
            }
            Ok(())
        },
    );
}

#[test]
fn receive_fuzz_every_frame_completes_as_the_golden_model_says() {
    use abi::translator::TranslationRequest;
    let total = (fuzz_descriptors() / 50).max(200);
    run_device(
        "device-receive-fuzz",
        HostConfig {
            stall: 0.1,
            ..Default::default()
        },
        true,
        |t, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            t.create_pd(0, 16, true, false);
            t.create_pd(1, 64, false, true);
            t.create_vi(0, 0, TranslationMode::Shortcut, key(50), 5);
            t.create_vi(1, 1, TranslationMode::Shortcut, key(51), 5);
            let src = t.register(0, 0x1000_0000, 8192, Access::Read);
            // The receive buffer straddles a leaf table's boundary; a read-only page sits after it.
            let rbuf = t.register(1, 0x4000_0000 - 64 * 1024, 128 * 1024, Access::ReadWrite);
            let ro = t.register(1, 0x4000_0000 + 64 * 1024, 4096, Access::Read);
            let mut done = 0;
            let mut seen = std::collections::BTreeSet::new();
            while done < total {
                let batch = 8.min(total - done);
                let mut expect = vec![];
                for i in 0..batch {
                    let len = rng.gen_range(1..=2048u32);
                    let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                    let off = rng.gen_range(0..(128 * 1024 - 2048) / 4u64) * 4;
                    let mut d = Descriptor {
                        opcode: Opcode::Recv as u8,
                        length: len + rng.gen_range(0..64),
                        wr_id: (done + i) as u32,
                        va: rbuf.va + off,
                        shortcut: 0,
                        ..Default::default()
                    };
                    match rng.gen_range(0..16) {
                        0 => d.opcode = rng.gen_range(3..=255),
                        1 => d.length = 0,
                        2 => d.length = len - 1,
                        3 => d.va += 2,
                        4 => d.va = ro.va,
                        5 => d.va = rbuf.va + 128 * 1024 + 8192, // unmapped
                        _ => {}
                    }
                    d.shortcut = if d.va >> 12 == (rbuf.va + 128 * 1024 + 8192) >> 12 {
                        t.shortcut(1, rbuf.va).0
                    } else {
                        t.shortcut(1, d.va & !3).0
                    };
                    if rng.gen_range(0..16) == 0 {
                        d.shortcut = rng.gen();
                    }
                    // What the receive must complete with.
                    let status =
                        abi::queues::precheck(&d, QueueKind::Recv, 4).unwrap_or_else(|| {
                            if len > d.length {
                                Status::BufferTooSmall
                            } else {
                                t.golden
                                    .translate(
                                        &t.sim.mem,
                                        &TranslationRequest {
                                            vi: 1,
                                            va: d.va,
                                            shortcut: Shortcut(d.shortcut),
                                            length: len,
                                            write: true,
                                        },
                                    )
                                    .status
                            }
                        });
                    t.post(1, QueueKind::Recv, &d);
                    expect.push((d, len, status, payload));
                }
                t.ring(1, QueueKind::Recv);
                let mut got = vec![];
                for (i, (d, len, status, payload)) in expect.iter().enumerate() {
                    // One frame at a time: its payload sits in the source buffer until it is sent,
                    // and its receive buffer is checked before the next frame may overwrite it.
                    assert!(t.sim.mem.write(src.da, payload));
                    let s = Descriptor {
                        opcode: Opcode::Send as u8,
                        dest: 1,
                        length: *len,
                        wr_id: i as u32,
                        va: src.va,
                        shortcut: t.shortcut(0, src.va).0,
                    };
                    let c = one(t, 0, QueueKind::Send, &s)?;
                    if c.status() != Some(Status::Ok) {
                        return Err(format!("send: {c:?}"));
                    }
                    for _ in 0..200 {
                        got.extend(t.poll(1));
                        if got.len() > i {
                            break;
                        }
                        t.sim.run(100);
                    }
                    let Some(c) = got.get(i) else {
                        return Err(format!(
                            "no receive completion for frame {i}; {}",
                            t.state()
                        ));
                    };
                    let bytes = if *status == Status::Ok { *len } else { 0 };
                    if c.status() != Some(*status)
                        || c.bytes != bytes
                        || c.wr_id != d.wr_id
                        || c.opcode != d.opcode
                    {
                        return Err(format!(
                            "receive {d:x?} of {len} bytes: {c:?}, expected {status:?}"
                        ));
                    }
                    if *status == Status::Ok
                        && t.sim
                            .mem
                            .read(rbuf.da + (d.va - rbuf.va), payload.len())
                            .expect("buffer")
                            != payload.as_slice()
                    {
                        return Err(format!("received payload of {len} bytes differs"));
                    }
                    seen.insert(*status);
                }
                if got.len() != batch {
                    return Err(format!(
                        "{} receive completions for {batch} frames",
                        got.len()
                    ));
                }
                done += batch;
            }
            if total >= 1000 && seen.len() < 8 {
                return Err(format!("too few outcomes: {seen:?}"));
            }
            Ok(())
        },
    );
}

#[test]
fn a_disabled_vi_finishes_what_it_began_and_starts_nothing_until_enabled() {
    run_device(
        "device-disable",
        HostConfig {
            stall: 0.1,
            ..Default::default()
        },
        true,
        |t, _seed| {
            use abi::queues::MAX_MESSAGE_LEN;
            use abi::regs::{queue_reg, CQ_TAIL, RQ_HEAD, SQ_HEAD, TX_FRAMES};
            use abi::translator::ViConfig;
            use rtl::device::CLIENT_PAYLOAD;
            const SENDS: usize = 32;
            t.create_pd(0, 64, true, false);
            t.create_vi(0, 0, TranslationMode::Shortcut, key(50), 6);
            let buf = t.register(0, 0x2000_0000, 2 * MAX_MESSAGE_LEN, Access::Read);
            let va = buf.va + MAX_MESSAGE_LEN / 2;
            for i in 0..SENDS {
                let d = Descriptor {
                    opcode: Opcode::Send as u8,
                    dest: 0,
                    length: MAX_MESSAGE_LEN as u32,
                    wr_id: i as u32,
                    va,
                    shortcut: t.shortcut(0, va).0,
                };
                t.post(0, QueueKind::Send, &d);
            }
            t.ring(0, QueueKind::Send);
            // Disabled while its first send is on its way.
            let started = t.sim.run_until(100_000, |s| {
                s.stats.reads_by_client[CLIENT_PAYLOAD as usize] > 16
            });
            if !started {
                return Err("no payload read in 100,000 cycles".into());
            }
            let enabled = ViConfig {
                enabled: true,
                mode: TranslationMode::Shortcut as u8,
                pd: 0,
                key_slot: 0,
                ..Default::default()
            };
            t.set_vi_ctrl(0, ViConfig::default());
            let frames_then = t.sim.read_reg(u32::from(TX_FRAMES));
            // What was taken completes: fetched sends plus taken receives equal the CQ tail
            // (the registrar's test before it takes the rings away).
            let reg = |t: &mut Testbed, r: u16| t.sim.read_reg(u32::from(queue_reg(0, r)));
            let mut quiet = false;
            for _ in 0..200 {
                t.sim.run(2048);
                if reg(t, SQ_HEAD) + reg(t, RQ_HEAD) == reg(t, CQ_TAIL) {
                    quiet = true;
                    break;
                }
            }
            let fetched = reg(t, SQ_HEAD) as usize;
            let sent = t.sim.read_reg(u32::from(TX_FRAMES)) - frames_then;
            if !quiet || fetched >= SENDS || sent > 4 {
                return Err(format!(
                    "disabled: quiet {quiet}, {fetched} of {SENDS} fetched, {sent} frames sent \
                     after; {}",
                    t.state()
                ));
            }
            // With its rings and buffer out of the DMA space, the device touches neither.
            let firewall = t.sim.firewall.clone();
            t.sim.firewall.rings[0] = [0..0, 0..0, 0..0];
            t.sim.firewall.registered[0].clear();
            t.sim.run(100_000);
            if reg(t, SQ_HEAD) as usize != fetched {
                return Err(format!(
                    "a disabled VI's descriptors fetched: {}",
                    t.state()
                ));
            }
            t.sim.firewall = firewall;
            // The sends in the engine (three overlap) may finish; the rest fail.
            let mut got = t.poll(0);
            let finished = got
                .iter()
                .take_while(|c| c.status() == Some(Status::Ok))
                .count();
            if got.len() != fetched
                || finished > 4
                || got[finished..]
                    .iter()
                    .any(|c| c.status() != Some(Status::ViDisabled))
            {
                return Err(format!(
                    "{fetched} fetched while disabled, completions {:?}",
                    got.iter().map(|c| c.status()).collect::<Vec<_>>()
                ));
            }
            // Enabled again, the rest of the ring is fetched and sent.
            t.set_vi_ctrl(0, enabled);
            for _ in 0..400 {
                t.sim.run(2048);
                got.extend(t.poll(0));
                if got.len() == SENDS {
                    break;
                }
            }
            let wr_ids: Vec<u32> = got.iter().map(|c| c.wr_id).collect();
            if wr_ids != (0..SENDS as u32).collect::<Vec<_>>()
                || got[fetched..]
                    .iter()
                    .any(|c| c.status() != Some(Status::Ok))
            {
                return Err(format!(
                    "enabled again: completions {:?}",
                    got.iter()
                        .map(|c| (c.wr_id, c.status()))
                        .collect::<Vec<_>>()
                ));
            }
            Ok(())
        },
    );
}
