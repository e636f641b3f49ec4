//! Translation-core benchmark: table reads per translation for each mode, decryption and
//! request latency, the request period, and the size and speed of the `Translator` on the
//! iCE40 HX8K. Prints one JSON object on stdout (progress on stderr).
//!
//! `cargo bench -p rtl --bench translator` (or `make bench`). `--quick` skips place and route.

use std::collections::BTreeMap;

use abi::shortcut::TableWindow;
use abi::translator::{PdConfig, TranslationRequest, Translator as Golden, ViConfig};
use abi::{regs, Access, Key, MemoryImage, Shortcut, ShortcutCipher, TableBuilder, PAGE_SIZE};
use rand::SeedableRng;
use rtl::bench::{Bench, MemoryModel};
use rtl::translator::Translator;

/// VIs of the benchmark: one per translation mode, all on PD 0 and key slot 0.
const VI_SHORTCUT: u8 = 0;
const VI_FULL_WALK: u8 = 1;
const VI_PHYSICAL: u8 = 2;
const BASE_VA: u64 = 0x7f12_3400_0000;
const PAGES: u64 = 256;

struct Rig {
    b: Bench<Translator>,
    model: MemoryModel<MemoryImage>,
    tables: TableBuilder,
    cipher: ShortcutCipher,
    rng: rand::rngs::SmallRng,
}

/// One request's timeline, in cycles from its acceptance.
#[derive(Default, Clone, Copy)]
struct Timeline {
    accepted: u64,
    first_read: Option<u64>,
    done: u64,
    reads: u64,
}

impl Rig {
    fn new(latency: u64) -> Rig {
        let mut mem = MemoryImage::new();
        let window = TableWindow {
            base: 0x1000,
            pages: 64,
        };
        let mut tables = TableBuilder::new(window, &mut mem).unwrap();
        for i in 0..PAGES {
            tables
                .map(
                    &mut mem,
                    BASE_VA + i * PAGE_SIZE,
                    0x8_0000 + i,
                    Access::ReadWrite,
                    true,
                )
                .unwrap();
        }
        let key = Key::from_u128(0x0f1e_2d3c_4b5a_6978_8796_a5b4_c3d2_e1f0);
        let mut rig = Rig {
            b: Bench::new(Translator::new()),
            model: MemoryModel::new(mem, latency..=latency, 1.0),
            tables,
            cipher: ShortcutCipher::new(&key),
            rng: rand::rngs::SmallRng::seed_from_u64(1),
        };
        let pd = PdConfig {
            valid: true,
            generation: 3,
            allow_read: true,
            allow_write: true,
            window,
        };
        let mut writes: Vec<(u16, u32)> = Golden::key_writes(0, &key).to_vec();
        writes.extend(Golden::pd_writes(0, &pd));
        for (vi, mode) in [(VI_SHORTCUT, 0), (VI_FULL_WALK, 1), (VI_PHYSICAL, 2)] {
            let cfg = ViConfig {
                enabled: true,
                mode,
                pd: 0,
                key_slot: 0,
                ..Default::default()
            };
            writes.push((regs::vi_reg(vi as usize, regs::VI_CTRL), cfg.ctrl_word()));
        }
        for (a, v) in writes {
            rig.cfg_write(a, v);
        }
        rig
    }

    fn cfg_write(&mut self, addr: u16, value: u32) {
        let u = &mut self.b.uut;
        u.cfg_valid.next = true;
        u.cfg_write.next = true;
        u.cfg_addr.next = u64::from(addr).into();
        u.cfg_wdata.next = u64::from(value).into();
        loop {
            self.b.settle();
            let fire = self.b.uut.cfg_ready.val();
            self.b.tick();
            if fire {
                break;
            }
        }
        self.b.uut.cfg_valid.next = false;
        while {
            self.b.settle();
            self.b.uut.busy.val()
        } {
            self.b.tick();
        }
    }

    fn shortcut(&self, va: u64, level: u8) -> Shortcut {
        let t = self
            .tables
            .table_frame(&self.model.mem, va & !(PAGE_SIZE - 1), level)
            .unwrap()
            .unwrap();
        Shortcut::mint(&self.cipher, t as u32, level, 3, va)
    }

    /// Runs `reqs` back to back (each offered as soon as the previous is taken) and returns
    /// each one's timeline.
    fn run(&mut self, reqs: &[(u8, u64, Shortcut, u32)]) -> Vec<Timeline> {
        let mut out = vec![Timeline::default(); reqs.len()];
        let (mut next, mut done) = (0, 0);
        let mut guard = 0;
        while done < reqs.len() {
            guard += 1;
            assert!(guard < 10_000_000, "translator hangs");
            let d = self.model.drive_port(&mut self.rng, &mut self.b.uut);
            let u = &mut self.b.uut;
            u.rsp_ready.next = true;
            u.req_valid.next = next < reqs.len();
            if let Some(&(vi, va, shortcut, length)) = reqs.get(next) {
                u.offer_request(&TranslationRequest {
                    vi,
                    va,
                    shortcut,
                    length,
                    write: false,
                });
            }
            self.b.settle();
            let u = &self.b.uut;
            let now = self.b.cycle;
            let accepted = next < reqs.len() && u.req_ready.val();
            let read = u.pte_req_valid.val() && d.req_ready;
            if read && done < reqs.len() {
                // Reads belong to the oldest unfinished request.
                let t = &mut out[done];
                t.reads += 1;
                t.first_read.get_or_insert(now);
            }
            if u.rsp_valid.val() && u.rsp_last.val() {
                assert_eq!(u.rsp_status.val().to_u64(), 0, "request {done} failed");
                out[done].done = now;
                done += 1;
            }
            self.model.clock_port(&mut self.rng, u, &d);
            self.b.tick();
            if accepted {
                out[next].accepted = now;
                next += 1;
            }
        }
        out
    }

    fn invalidate(&mut self) {
        self.cfg_write(regs::CACHE_INVALIDATE_ALL, 0);
    }
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn mean(v: &[u64]) -> f64 {
    v.iter().sum::<u64>() as f64 / v.len() as f64
}

/// Per-mode figures at one memory latency: reads per translation and request latency.
fn modes(latency: u64) -> BTreeMap<&'static str, (f64, u64)> {
    let mut rig = Rig::new(latency);
    let mut out = BTreeMap::new();
    let n = 64u64;
    let va = |i: u64| BASE_VA + (i % PAGES) * PAGE_SIZE + 0x40;
    let mut serial = |rig: &mut Rig, name: &'static str, reqs: Vec<(u8, u64, Shortcut, u32)>| {
        let mut lat = vec![];
        let mut reads = vec![];
        for r in reqs {
            let t = rig.run(&[r])[0];
            lat.push(t.done - t.accepted);
            reads.push(t.reads);
        }
        out.insert(name, (mean(&reads), median(lat)));
    };
    for (name, level) in [
        ("shortcut_leaf", 1u8),
        ("shortcut_level2", 2),
        ("shortcut_level3", 3),
    ] {
        rig.invalidate();
        let reqs = (0..n)
            .map(|i| (VI_SHORTCUT, va(i), rig.shortcut(va(i), level), 64))
            .collect();
        serial(&mut rig, name, reqs);
    }
    // The same pages again: now answered by the cache.
    let reqs = (0..n)
        .map(|i| (VI_SHORTCUT, va(i), rig.shortcut(va(i), 3), 64))
        .collect();
    serial(&mut rig, "shortcut_cached", reqs);
    rig.invalidate();
    let reqs: Vec<_> = (0..n)
        .map(|i| (VI_FULL_WALK, va(i), Shortcut(0), 64))
        .collect();
    serial(&mut rig, "full_walk", reqs.clone());
    serial(&mut rig, "full_walk_cached", reqs);
    let reqs = (0..n)
        .map(|i| (VI_PHYSICAL, 0x8_0000_0000 + i * PAGE_SIZE, Shortcut(0), 64))
        .collect();
    serial(&mut rig, "physical", reqs);
    out
}

/// Cycles between accepted requests when they are offered back to back at zero memory latency.
fn periods() -> (f64, f64, u64) {
    let mut rig = Rig::new(0);
    let n = 200u64;
    let va = |i: u64| BASE_VA + (i % PAGES) * PAGE_SIZE;
    rig.invalidate();
    let misses: Vec<_> = (0..n)
        .map(|i| (VI_SHORTCUT, va(i), rig.shortcut(va(i), 1), 64))
        .collect();
    let t = rig.run(&misses);
    let miss_period = (t[t.len() - 1].accepted - t[0].accepted) as f64 / (t.len() - 1) as f64;
    let decrypt_to_read = median(
        t.iter()
            .map(|t| t.first_read.unwrap() - t.accepted)
            .collect(),
    );
    let t = rig.run(&misses);
    let hit_period = (t[t.len() - 1].accepted - t[0].accepted) as f64 / (t.len() - 1) as f64;
    (miss_period, hit_period, decrypt_to_read)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut json = String::from("{\n");
    for latency in [0u64, 60] {
        eprintln!("modes at memory latency {latency}");
        let m = modes(latency);
        json += &format!("  \"modes_latency_{latency}\": {{\n");
        let rows: Vec<String> = m
            .iter()
            .map(|(k, (reads, lat))| {
                format!("    \"{k}\": {{\"table_reads_per_translation\": {reads:.2}, \"latency_cycles_p50\": {lat}}}")
            })
            .collect();
        json += &rows.join(",\n");
        json += "\n  },\n";
    }
    eprintln!("request periods");
    let (miss, hit, to_read) = periods();
    json += &format!(
        "  \"speck_decrypt_latency_cycles\": {},\n  \"accept_to_first_table_read_cycles\": {to_read},\n  \"request_period_cycles\": {{\"shortcut_miss\": {miss:.2}, \"cache_hit\": {hit:.2}}}",
        rtl::speck_decrypt::LATENCY
    );
    if !quick {
        eprintln!("synthesis of each block");
        let rows: Vec<String> = rtl::verilog::blocks()
            .iter()
            .map(|(name, text)| match rtl::flow::synth(text, &format!("bench-{name}")) {
                Ok(r) => format!(
                    "    \"{name}\": {{\"logic_cells\": {}, \"luts\": {}, \"flip_flops\": {}, \"brams\": {}}}",
                    r.logic_cells, r.luts, r.flip_flops, r.brams
                ),
                Err(e) => {
                    eprintln!("synthesis of {name} failed: {e}");
                    std::process::exit(1);
                }
            })
            .collect();
        json += &format!(",\n  \"blocks\": {{\n{}\n  }}", rows.join(",\n"));
        for (name, key) in [
            ("translator", "ice40_hx8k"),
            ("device", "ice40_hx8k_device"),
        ] {
            eprintln!("place and route of the {name} (minutes)");
            let (_, text) = rtl::verilog::blocks()
                .into_iter()
                .find(|(n, _)| *n == name)
                .expect("block");
            match rtl::flow::place_and_route(&text, &format!("bench-{name}"), 100.0) {
                Ok(r) => {
                    json += &format!(
                        ",\n  \"{key}\": {{\"logic_cells\": {}, \"luts\": {}, \"flip_flops\": {}, \"brams\": {}, \"fmax_mhz\": {:.2}, \"target_mhz\": {:.0}, \"timing_met\": {}}}",
                        r.block.logic_cells, r.block.luts, r.block.flip_flops, r.brams, r.fmax_mhz, r.target_mhz, r.timing_met
                    );
                }
                // The Device does not fit the HX8K yet: the failure is reported, not fatal.
                Err(e) if name == "device" => {
                    eprintln!("place and route of the {name} failed: {e}");
                    let why = e.to_string().replace('"', "'");
                    let why = why.lines().last().unwrap_or("").to_string();
                    json += &format!(",\n  \"{key}\": {{\"error\": \"{why}\"}}");
                }
                Err(e) => {
                    eprintln!("place and route of the {name} failed: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    json += "\n}";
    println!("{json}");
    let dir = rtl::bench::waves_dir().with_file_name("bench");
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(dir.join("translator.json"), &json);
}
