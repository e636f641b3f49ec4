//! The Device's Verilog in Verilator, end to end through its queues: loopback transfers,
//! every status, descriptor fuzzing. Host memory answers after 60 cycles unless a test says
//! otherwise; hosts stall handshakes at random; the DMA firewall watches every access.

use abi::queues::{Descriptor, Opcode, QueueKind};
use abi::translator::TranslationMode;
use abi::{Access, Key, Status};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rtl::bench::{run_seeded_with, test_seed};
use sim::host_port::HostConfig;
use sim::testbed::Testbed;
use sim::VDevice;

/// Runs `body` on a fresh testbed; a failure is replayed with a waveform.
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
                Some(path) => VDevice::with_waveform(path)?,
            };
            let seeded = HostConfig { ..host };
            Ok(Testbed::new(model, seeded, 32 << 20, loopback))
        },
        |t, seed| {
            let r = body(t, seed);
            t.sim.model.flush_waveform();
            if let Err(e) = r {
                let v = &t.sim.violations;
                return Err(format!("{e}; DMA firewall: {:?}", &v[..v.len().min(3)]));
            }
            if t.sim.violations.is_empty() {
                Ok(())
            } else {
                Err(format!("DMA firewall: {:?}", &t.sim.violations[..t.sim.violations.len().min(5)]))
            }
        },
    );
}

fn key(n: u128) -> Key {
    Key::from_u128(0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100 ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
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
        let src = t.register(0, 0x7000_0000_0000 - (n as u64 + 1) * max, (n as u64 + 1) * max, Access::Read);
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
                let len = if rng.gen_bool(0.3) { rng.gen_range(1..=64) } else { rng.gen_range(1..=max as u32) };
                let off = u64::from(sent) * max + u64::from(rng.gen_range(0..=(max as u32 - len) / 4) * 4);
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
            if c.status() != Some(Status::Ok) || c.wr_id != 1000 + i as u32 || c.bytes as usize != want.len() || c.peer != 0 {
                return Err(format!("receive completion {i}: {c:?}, expected {} bytes", want.len()));
            }
            let va = dst.va + i as u64 * max;
            let bytes = t.sim.mem.read(dst.da + (va - dst.va), want.len()).expect("buffer");
            if bytes != want.as_slice() {
                let at = bytes.iter().zip(want).position(|(a, b)| a != b).unwrap_or(0);
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
            if c.status() != Some(Status::Ok) || c.wr_id != i as u32 || c.bytes as usize != expected[i].len() || c.index as usize != i {
                return Err(format!("send completion {i}: {c:?}"));
            }
        }
        Ok(())
    });
}
