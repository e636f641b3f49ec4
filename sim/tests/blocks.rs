//! The translation core's block tests on its Verilog: each block runs in RustHDL's simulator and,
//! in lockstep, as the Verilator model of its generated Verilog. Both get the same inputs every
//! cycle and every output port is compared every cycle. The two simulators must agree, and the
//! Verilog is what ships.
//!
//! Each block gets traffic that follows its protocol (see the block's module docs). Every
//! valid/ready stalls at random, and payloads carry noise whenever the block must not sample
//! them. A golden model from `abi` judges the results, so a test fails for a wrong design as
//! well as for a disagreement:
//!
//! - `SpeckDecrypt`: keys loaded word by word (words 0..2 in random order, word 3 last) into
//!   every slot, reloads, ciphertexts under every loaded slot, output stalls, flushes and resets;
//!   plaintexts against `abi::ShortcutCipher`, and the handshake signals, latency and expansion
//!   time against the documented ones.
//! - `ShortcutCheck`: shortcuts of every level, valid and broken in each field, against PD windows
//!   and transfers near their edges; the status against `abi::shortcut::check` plus the table-span
//!   check, one cycle later, as documented.
//! - `Walker`: walk jobs from every level over random tables (with broken entries and tables
//!   beyond the end of memory) behind `rtl::bench::MemoryModel` with random latency and
//!   back-pressure, plus resets; each result and read count against `abi::translator::walk`.
//! - `ProtTable`: register writes and reads with the documented address setup, shortcut faults
//!   spaced as documented, resets, and random lookups; every lookup, register read, PD read,
//!   lock and hit against `abi::translator::Translator`'s registers.
//! - `XlateCache`: fills, pipelined probes (with fills of the probed set in the same cycle) in
//!   both modes, and invalidation sweeps (some cut short by a reset) against a direct-mapped array
//!   of `abi::translator::CacheEntry` indexed by `abi::translator::cache_index`.
//!
//! A failing run names its seed (rerun with `SKIPWALK_SEED=<seed>`) and is replayed with both
//! waveforms written under `target/waves/`: `<test>-<seed>.vcd` from RustHDL and
//! `<test>-<seed>.verilator.vcd` from Verilator.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use abi::pte::{Pte, PTE_PINNED, PTE_PRESENT, PTE_WRITABLE};
use abi::shortcut::{check, va_tag, Plaintext, TableWindow};
use abi::translator::{cache_index, walk, CacheEntry, PdConfig, Translator as Golden};
use abi::{
    regs, Access, Key, MemoryImage, ShortcutCipher, Status, TableBuilder, TableMemory, PAGE_SIZE,
};
use rtl::bench::rand::rngs::SmallRng;
use rtl::bench::rand::seq::SliceRandom;
use rtl::bench::rand::{Rng, SeedableRng};
use rtl::bench::{run_seeded_with, test_seed, Bench, Cycles, MemoryModel, Waveform};
use rtl::prot_table::ProtTable;
use rtl::shortcut_check::ShortcutCheck;
use rtl::speck_decrypt::{SpeckDecrypt, EXPAND_CYCLES, LATENCY};
use rtl::walker::Walker;
use rtl::xlate_cache::XlateCache;
use sim::{VProtTable, VShortcutCheck, VSpeckDecrypt, VWalker, VXlateCache};

// ---------------------------------------------------------------------------------------------
// The lockstep harness.

/// Port names and widths.
type Ports = &'static [(&'static str, u32)];

/// A block in RustHDL's simulator paired with the Verilator model of its Verilog.
trait Pair: Cycles + Sized {
    /// Input ports (the clock aside) the pair drives, with their widths.
    const INPUTS: Ports;
    /// Output ports the pair compares, with their widths.
    const OUTPUTS: Ports;
    /// Both simulators in their power-on state; with `waves`, both record waveforms from
    /// clock `from_cycle` on.
    fn new(waves: Option<Waveform>) -> std::io::Result<Self>;
    /// The block's generated Verilog.
    fn verilog() -> String;
}

/// Where the Verilator waveform goes, next to RustHDL's at `path`.
fn verilator_waves(path: &Path) -> PathBuf {
    path.with_extension("verilator.vcd")
}

/// Sets a RustHDL input from a `u64`: a `Bit` from its lowest bit, `Bits<N>` cut to `N` bits
/// (the Verilator wrapper cuts its inputs the same way).
macro_rules! drive_port {
    ($uut:ident . $port:ident, 1, $value:expr) => {
        $uut.$port.next = $value & 1 != 0
    };
    ($uut:ident . $port:ident, $width:tt, $value:expr) => {
        $uut.$port.next = ($value & abi::mask($width)).into()
    };
}

/// Declares a [`Pair`] for a block: its inputs struct (one `u64` per input port, with the
/// Verilator model's setter), its outputs struct (one `u64` per output port), and `drive`,
/// which sets the inputs in both simulators, lets them settle and compares every output.
macro_rules! lockstep {
    (
        $(#[$doc:meta])*
        $pair:ident: $block:ty, $model:ty;
        $(#[$in_doc:meta])*
        inputs $inputs:ident { $($i:ident / $set:ident: $iw:tt),* $(,)? }
        $(#[$out_doc:meta])*
        outputs $outputs:ident { $($o:ident: $ow:tt),* $(,)? }
    ) => {
        $(#[$in_doc])*
        #[derive(Clone, Copy, Debug, Default)]
        struct $inputs {
            $($i: u64,)*
        }

        $(#[$out_doc])*
        #[derive(Clone, Copy, Debug, Default)]
        struct $outputs {
            $($o: u64,)*
        }

        $(#[$doc])*
        struct $pair {
            rusthdl: Bench<$block>,
            verilog: $model,
        }

        impl Pair for $pair {
            const INPUTS: Ports = &[$((stringify!($i), $iw)),*];
            const OUTPUTS: Ports = &[$((stringify!($o), $ow)),*];

            fn new(waves: Option<Waveform>) -> std::io::Result<Self> {
                Ok(match waves {
                    None => $pair {
                        rusthdl: Bench::new(<$block>::default()),
                        verilog: <$model>::new(),
                    },
                    Some(Waveform { path, from_cycle }) => {
                        let verilator = verilator_waves(&path);
                        eprintln!(
                            "waveforms: {} (RustHDL), {} (Verilator)",
                            path.display(),
                            verilator.display()
                        );
                        $pair {
                            rusthdl: Bench::with_waveform_from(
                                <$block>::default(),
                                &path,
                                from_cycle,
                            )?,
                            verilog: <$model>::with_waveform_from(&verilator, from_cycle)?,
                        }
                    }
                })
            }

            fn verilog() -> String {
                rtl::verilog::verilog_of(<$block>::default())
            }
        }

        impl $pair {
            /// Drives `inputs` into both simulators, lets them settle and compares every
            /// output: the outputs, or an error naming the cycle and every port that differs.
            fn drive(&mut self, inputs: &$inputs) -> Result<$outputs, String> {
                let uut = &mut self.rusthdl.uut;
                $(
                    drive_port!(uut.$i, $iw, inputs.$i);
                    self.verilog.$set(inputs.$i);
                )*
                self.rusthdl.settle();
                self.verilog.eval();
                let uut = &self.rusthdl.uut;
                let mut differ = vec![];
                let outputs = $outputs {
                    $($o: {
                        let rusthdl: u64 = uut.$o.val().into();
                        let verilog = self.verilog.$o();
                        if rusthdl != verilog {
                            differ.push(format!(
                                "`{}` (RustHDL {rusthdl:#x}, Verilator {verilog:#x})",
                                stringify!($o)
                            ));
                        }
                        rusthdl
                    },)*
                };
                if differ.is_empty() {
                    Ok(outputs)
                } else {
                    Err(format!(
                        "cycle {}: the simulators disagree on {}",
                        self.rusthdl.cycle,
                        differ.join(", ")
                    ))
                }
            }

            /// One clock period in both simulators.
            fn tick(&mut self) {
                self.rusthdl.tick();
                self.verilog.step();
            }
        }

        impl Cycles for $pair {
            fn cycle(&self) -> u64 {
                self.rusthdl.cycle
            }
        }
    };
}

/// The ports of module `top` in `verilog` (RustHDL writes one declaration a line:
/// `input wire  [3:0] name;`): `(inputs, outputs)`, each name with its width.
fn verilog_ports(verilog: &str) -> (BTreeMap<String, u32>, BTreeMap<String, u32>) {
    let top = verilog.split("module top(").nth(1).expect("module top");
    let body = top.split("endmodule").next().unwrap_or(top);
    let (mut inputs, mut outputs) = (BTreeMap::new(), BTreeMap::new());
    for line in body.lines().map(str::trim) {
        let ports = if line.starts_with("input ") {
            &mut inputs
        } else if line.starts_with("output ") {
            &mut outputs
        } else {
            continue;
        };
        let decl = line.trim_end_matches(';');
        let name = decl.split_whitespace().last().expect("port name");
        let width = match (decl.find('['), decl.find(':')) {
            (Some(a), Some(b)) if a < b => decl[a + 1..b].trim().parse::<u32>().expect("msb") + 1,
            _ => 1,
        };
        ports.insert(name.to_string(), width);
    }
    (inputs, outputs)
}

/// Checks that the pair drives every input and compares every output of the block's Verilog,
/// with the Verilog's widths, so no port escapes the comparison.
fn check_ports<P: Pair>(name: &str) {
    let (inputs, outputs) = verilog_ports(&P::verilog());
    let listed = |ports: Ports| -> BTreeMap<String, u32> {
        ports.iter().map(|&(n, w)| (n.to_string(), w)).collect()
    };
    let mut driven = listed(P::INPUTS);
    driven.insert("clock".into(), 1);
    assert_eq!(
        driven, inputs,
        "{name}: the inputs driven are not the Verilog's input ports"
    );
    assert_eq!(
        listed(P::OUTPUTS),
        outputs,
        "{name}: the outputs compared are not the Verilog's output ports"
    );
}

/// Runs `body` on a fresh pair with a seed from [`test_seed`], after checking the pair's ports
/// against the Verilog; a failure is replayed with waveforms of the clocks before it.
fn run<P: Pair>(name: &str, body: impl Fn(&mut P, u64) -> Result<(), String>) {
    check_ports::<P>(name);
    let seed = test_seed();
    println!("{name}: SKIPWALK_SEED={seed}");
    // The first failure is told before the replay, so nothing in the replay can hide it.
    let told = std::cell::Cell::new(false);
    run_seeded_with(name, seed, P::new, |pair, seed| {
        body(pair, seed).inspect_err(|e| {
            if !told.replace(true) {
                eprintln!("{name} failed with SKIPWALK_SEED={seed}: {e}\nreplaying with waveforms");
            }
        })
    });
}

/// A random value, for payloads the block must not sample.
fn noise(rng: &mut SmallRng) -> u64 {
    rng.gen()
}

/// A status code on a port, by name.
fn status_name(code: u64) -> String {
    match u8::try_from(code).ok().and_then(Status::from_code) {
        Some(s) => format!("{s:?}"),
        None => format!("code {code}"),
    }
}

// ---------------------------------------------------------------------------------------------
// SpeckDecrypt.

lockstep! {
    /// `SpeckDecrypt` in both simulators.
    SpeckPair: SpeckDecrypt, VSpeckDecrypt;
    /// What drives `SpeckDecrypt` in one cycle.
    inputs SpeckIn {
        reset / set_reset: 1,
        key_valid / set_key_valid: 1,
        key_slot / set_key_slot: 3,
        key_word / set_key_word: 2,
        key_data / set_key_data: 32,
        dec_in_valid / set_dec_in_valid: 1,
        dec_in_slot / set_dec_in_slot: 3,
        dec_in_data / set_dec_in_data: 64,
        dec_out_ready / set_dec_out_ready: 1,
        dec_flush / set_dec_flush: 1,
    }
    /// `SpeckDecrypt`'s outputs in one cycle.
    outputs SpeckOut {
        key_ready: 1,
        busy: 1,
        dec_in_ready: 1,
        dec_out_valid: 1,
        dec_out_data: 64,
        dec_done: 1,
    }
}

/// Key slots of the decryptor.
const KEY_SLOTS: usize = abi::NUM_KEY_SLOTS;
/// The key word that starts the expansion.
const LAST_KEY_WORD: u64 = 3;

/// A key on its way into a slot: the words still to offer as `(word, value)`, words 0..2 in
/// random order, then word 3.
struct KeyLoad {
    slot: usize,
    key: Key,
    words: VecDeque<(u64, u64)>,
}

impl KeyLoad {
    fn new(rng: &mut SmallRng, slot: usize, key: Key) -> KeyLoad {
        let w = key.words();
        let mut first = [0u64, 1, 2];
        first.shuffle(rng);
        let mut words: VecDeque<(u64, u64)> = first
            .iter()
            .map(|&i| (i, u64::from(w[i as usize])))
            .collect();
        words.push_back((LAST_KEY_WORD, u64::from(w[3])));
        KeyLoad { slot, key, words }
    }
}

/// A decryption the block owes: the plaintext and the cycle `dec_done` rises.
#[derive(Clone, Copy)]
struct Owed {
    plaintext: u64,
    due: u64,
}

fn speck_traffic(pair: &mut SpeckPair, seed: u64) -> Result<(), String> {
    const DECRYPTIONS: u64 = 8_000;
    const FLUSHES: u64 = 100;
    const RELOADS: u64 = 30;
    const MAX_CYCLES: u64 = 2_000_000;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut ciphers: [Option<ShortcutCipher>; KEY_SLOTS] = Default::default();
    let mut loads = VecDeque::new();
    let mut slots: Vec<usize> = (0..KEY_SLOTS).collect();
    slots.shuffle(&mut rng);
    for &slot in &slots[..KEY_SLOTS - 1] {
        let key = Key::from_u128(rng.gen());
        loads.push_back(KeyLoad::new(&mut rng, slot, key));
    }
    let mut key_gap = 0u32;
    // The ciphertext offered: slot and ciphertext.
    let mut request: Option<(usize, u64)> = None;
    let mut request_gap = 0u32;
    let mut owed: Option<Owed> = None;
    // The expansion under way: slot and its last busy cycle.
    let mut expanding: Option<(usize, u64)> = None;
    let mut out_stall = 0u32;
    let (mut done, mut flushes, mut reloads, mut resets) = (0u64, 0u64, 0u64, 0u64);

    while done < DECRYPTIONS || flushes < FLUSHES || reloads < RELOADS {
        let at = pair.cycle();
        if at > MAX_CYCLES {
            return Err(format!(
                "stalled: {done} decryptions, {flushes} flushes, {reloads} reloads"
            ));
        }
        if loads.is_empty() && done > 0 && rng.gen_ratio(1, 1_500) {
            let slot = rng.gen_range(0..KEY_SLOTS);
            let key = Key::from_u128(rng.gen());
            loads.push_back(KeyLoad::new(&mut rng, slot, key));
            reloads += 1;
        }
        if request.is_none() && request_gap == 0 {
            let loaded: Vec<usize> = (0..KEY_SLOTS).filter(|&s| ciphers[s].is_some()).collect();
            if let Some(&slot) = loaded.choose(&mut rng) {
                request = Some((slot, rng.gen()));
            }
        }
        // Output stalls: mostly short, sometimes long.
        if out_stall == 0 && rng.gen_ratio(1, 40) {
            out_stall = rng.gen_range(1..60);
        }
        let out_ready = out_stall == 0 && rng.gen_bool(0.7);
        out_stall = out_stall.saturating_sub(1);
        let key_word = loads
            .front()
            .and_then(|l| l.words.front().map(|&w| (l.slot, w)));
        // A parent in reset offers nothing.
        let reset = rng.gen_ratio(1, 3_000);
        let flush = rng.gen_ratio(1, if owed.is_some() { 250 } else { 120 });
        let key_valid = key_word.is_some() && key_gap == 0 && !reset;
        let inputs = SpeckIn {
            reset: reset.into(),
            key_valid: key_valid.into(),
            // The slot counts with word 3 only.
            key_slot: match key_word {
                Some((slot, (LAST_KEY_WORD, _))) => slot as u64,
                _ => noise(&mut rng),
            },
            key_word: key_word.map_or_else(|| noise(&mut rng), |(_, w)| w.0),
            key_data: key_word.map_or_else(|| noise(&mut rng), |(_, w)| w.1),
            dec_in_valid: (request.is_some() && !reset).into(),
            dec_in_slot: request.map_or_else(|| noise(&mut rng), |r| r.0 as u64),
            dec_in_data: request.map_or_else(|| noise(&mut rng), |r| r.1),
            dec_out_ready: out_ready.into(),
            dec_flush: flush.into(),
        };
        let o = pair.drive(&inputs)?;

        // The documented handshakes, from the state the traffic implies.
        let busy = expanding.is_some_and(|(_, last)| at <= last);
        let held = owed.filter(|w| at >= w.due);
        let idle = !busy && owed.is_none();
        let free = idle || (held.is_some() && out_ready) || (flush && owed.is_some());
        let key_start = key_valid && inputs.key_word == LAST_KEY_WORD;
        let want = SpeckOut {
            key_ready: idle.into(),
            busy: busy.into(),
            dec_in_ready: (free && !key_start).into(),
            dec_out_valid: (held.is_some() && !reset && !flush).into(),
            dec_out_data: o.dec_out_data,
            dec_done: held.is_some().into(),
        };
        let handshakes = |o: &SpeckOut| {
            [
                o.key_ready,
                o.busy,
                o.dec_in_ready,
                o.dec_out_valid,
                o.dec_done,
            ]
        };
        if handshakes(&o) != handshakes(&want) {
            return Err(format!("cycle {at}: outputs {o:?}, documented {want:?}"));
        }
        if let Some(w) = held {
            if o.dec_out_data != w.plaintext {
                return Err(format!(
                    "cycle {at}: plaintext {:016x}, abi decrypts to {:016x}",
                    o.dec_out_data, w.plaintext
                ));
            }
        }

        // What the edge does.
        if o.dec_out_valid != 0 && out_ready {
            owed = None;
            done += 1;
        }
        // A flush drops what was owed before a ciphertext of the same cycle starts.
        if flush && owed.take().is_some() {
            flushes += 1;
        }
        if inputs.dec_in_valid != 0 && o.dec_in_ready != 0 {
            let (slot, ciphertext) = request.take().ok_or("accepted without valid")?;
            let cipher = ciphers[slot].as_ref().ok_or("request for an empty slot")?;
            owed = Some(Owed {
                plaintext: cipher.decrypt(ciphertext),
                due: at + 1 + LATENCY,
            });
            request_gap = if rng.gen_ratio(1, 8) {
                rng.gen_range(0..60)
            } else {
                rng.gen_range(0..3)
            };
        }
        if key_valid && o.key_ready != 0 {
            let load = loads.front_mut().ok_or("key word taken without valid")?;
            let (word, _) = load.words.pop_front().ok_or("key word taken twice")?;
            if word == LAST_KEY_WORD {
                ciphers[load.slot] = Some(ShortcutCipher::new(&load.key));
                expanding = Some((load.slot, at + EXPAND_CYCLES));
                loads.pop_front();
            }
            key_gap = rng.gen_range(0..4);
        } else {
            key_gap = key_gap.saturating_sub(1);
        }
        if reset {
            resets += 1;
            owed = None;
            // An expansion cut short leaves its slot partly written; a load half sent starts
            // over.
            if let Some((slot, _)) = expanding.take().filter(|_| busy) {
                ciphers[slot] = None;
                if request.is_some_and(|r| r.0 == slot) {
                    request = None;
                }
            }
            if let Some(l) = loads.front_mut() {
                *l = KeyLoad::new(&mut rng, l.slot, l.key);
            }
        }
        request_gap = request_gap.saturating_sub(1);
        pair.tick();
    }
    println!(
        "speck_decrypt: {done} decryptions, {flushes} flushes, {reloads} reloads, {resets} \
         resets in {} cycles",
        pair.cycle()
    );
    Ok(())
}

#[test]
fn speck_decrypt_verilog_agrees_and_decrypts() {
    run("verilator-speck_decrypt", speck_traffic);
}

// ---------------------------------------------------------------------------------------------
// ShortcutCheck.

lockstep! {
    /// `ShortcutCheck` in both simulators.
    CheckPair: ShortcutCheck, VShortcutCheck;
    /// What drives `ShortcutCheck` in one cycle.
    inputs CheckIn {
        plaintext / set_plaintext: 64,
        va / set_va: 47,
        va_last_tag / set_va_last_tag: 27,
        generation / set_generation: 7,
        win_base / set_win_base: 28,
        win_end / set_win_end: 29,
    }
    /// `ShortcutCheck`'s outputs in one cycle.
    outputs CheckOut {
        status: 5,
        fault: 1,
        table_frame: 28,
        level: 3,
    }
}

/// One shortcut check: the decrypted shortcut, the transfer, and the PD.
#[derive(Clone, Copy, Debug)]
struct CheckCase {
    plaintext: Plaintext,
    va: u64,
    len: u64,
    generation: u8,
    window: TableWindow,
}

impl CheckCase {
    /// A shortcut near the edges of what passes: at or around the window's ends, stale, with a
    /// wrong VA tag or padding, or plain random; transfers that cross their table's span.
    fn random(rng: &mut SmallRng) -> CheckCase {
        let va_mask = abi::mask(abi::VA_BITS);
        let frame_mask = abi::mask(abi::FRAME_BITS);
        let len = if rng.gen_bool(0.5) {
            rng.gen_range(1..=abi::MAX_TRANSFER_LEN)
        } else {
            rng.gen_range(1..=64)
        };
        let va = match rng.gen_range(0..8) {
            0 => va_mask - rng.gen_range(0..2 * len),
            _ => rng.gen::<u64>() & va_mask,
        };
        let base = match rng.gen_range(0..4) {
            0 => frame_mask - rng.gen_range(0..64),
            1 => rng.gen_range(0..64),
            _ => rng.gen::<u64>() & frame_mask,
        } as u32;
        let pages = match rng.gen_range(0..4) {
            0 => rng.gen::<u32>() & frame_mask as u32,
            _ => rng.gen_range(0..64),
        };
        let window = TableWindow { base, pages };
        let generation = rng.gen::<u8>() & abi::mask(abi::GEN_BITS) as u8;
        let level = rng.gen_range(0..4u8);
        let (base, end) = (u64::from(base), u64::from(base) + u64::from(pages));
        let frame = match rng.gen_range(0..6) {
            0 => base.wrapping_sub(1),
            1 => base,
            2 => end.wrapping_sub(1),
            3 => end,
            4 => rng.gen::<u64>(),
            _ => base + rng.gen_range(0..=u64::from(pages)),
        } & frame_mask;
        let mut plaintext = Plaintext {
            table_frame: frame as u32,
            level,
            generation: if rng.gen_bool(0.85) {
                generation
            } else {
                rng.gen::<u8>() & abi::mask(abi::GEN_BITS) as u8
            },
            va_tag: if level == 0 { 0 } else { va_tag(va, level) },
        };
        match rng.gen_range(0..10) {
            0 => plaintext.va_tag ^= 1 << rng.gen_range(0..abi::shortcut::VA_TAG_FIELD_BITS),
            1 => plaintext = Plaintext::unpack(rng.gen()),
            _ => {}
        }
        CheckCase {
            plaintext,
            va,
            len,
            generation,
            window,
        }
    }

    fn inputs(&self) -> CheckIn {
        let base = u64::from(self.window.base);
        CheckIn {
            plaintext: self.plaintext.pack(),
            va: self.va,
            va_last_tag: (self.va + self.len - 1) >> abi::level_span_shift(1),
            generation: u64::from(self.generation),
            win_base: base,
            win_end: base + u64::from(self.window.pages),
        }
    }

    /// The device's verdict: `abi`'s shortcut checks, then the transfer must stay inside the
    /// named table's span (as `abi::translator::Translator` applies them).
    fn golden(&self) -> Status {
        let p = &self.plaintext;
        if let Err(e) = check(p, self.va, self.generation, &self.window) {
            return e.status();
        }
        let span = abi::level_span_shift(p.level);
        if (self.va + self.len - 1) >> span != self.va >> span {
            return Status::CrossesTable;
        }
        Status::Ok
    }
}

fn shortcut_checks(pair: &mut CheckPair, seed: u64) -> Result<(), String> {
    const CYCLES: u64 = 200_000;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut seen = BTreeMap::new();
    let mut previous: Option<CheckCase> = None;
    let mut case = CheckCase::random(&mut rng);
    while pair.cycle() < CYCLES {
        // Inputs are held for two cycles at times, as the translator does.
        if rng.gen_bool(0.7) {
            case = CheckCase::random(&mut rng);
        }
        let o = pair.drive(&case.inputs())?;
        let at = pair.cycle();
        let p = &case.plaintext;
        if o.table_frame != u64::from(p.table_frame) || o.level != u64::from(p.level) {
            return Err(format!(
                "cycle {at}: table frame {:#x} level {}, the shortcut names {:#x} level {}",
                o.table_frame, o.level, p.table_frame, p.level
            ));
        }
        // The status judges the previous cycle's inputs.
        if let Some(judged) = previous {
            let want = judged.golden();
            if o.status != u64::from(want.code()) || (o.fault != 0) != want.is_fault() {
                return Err(format!(
                    "cycle {at}: status {} fault {}, abi says {want:?} for {judged:?}",
                    status_name(o.status),
                    o.fault
                ));
            }
            *seen.entry(want).or_insert(0u64) += 1;
        }
        previous = Some(case);
        pair.tick();
    }
    println!("shortcut_check: {CYCLES} cycles, outcomes {seen:?}");
    let every = [
        Status::Ok,
        Status::ShortcutLevel,
        Status::ShortcutPadding,
        Status::ShortcutVaTag,
        Status::ShortcutGeneration,
        Status::ShortcutWindow,
        Status::CrossesTable,
    ];
    match every.iter().find(|s| !seen.contains_key(s)) {
        Some(s) => Err(format!("outcome {s:?} never exercised: {seen:?}")),
        None => Ok(()),
    }
}

#[test]
fn shortcut_check_verilog_agrees_and_checks() {
    run("verilator-shortcut_check", shortcut_checks);
}

// ---------------------------------------------------------------------------------------------
// Walker.

lockstep! {
    /// `Walker` in both simulators.
    WalkerPair: Walker, VWalker;
    /// What drives `Walker` in one cycle.
    inputs WalkerIn {
        reset / set_reset: 1,
        job_valid / set_job_valid: 1,
        job_level / set_job_level: 3,
        job_table / set_job_table: 28,
        job_va / set_job_va: 47,
        job_write / set_job_write: 1,
        job_win_base / set_job_win_base: 28,
        job_win_end / set_job_win_end: 29,
        pte_req_ready / set_pte_req_ready: 1,
        pte_rsp_valid / set_pte_rsp_valid: 1,
        pte_rsp_data / set_pte_rsp_data: 64,
        pte_rsp_tag / set_pte_rsp_tag: 4,
        pte_rsp_error / set_pte_rsp_error: 1,
        res_ready / set_res_ready: 1,
    }
    /// `Walker`'s outputs in one cycle.
    outputs WalkerOut {
        job_ready: 1,
        pte_req_valid: 1,
        pte_req_addr: 40,
        pte_req_tag: 4,
        pte_rsp_ready: 1,
        res_valid: 1,
        res_status: 5,
        res_frame: 28,
        res_writable: 1,
        res_good: 1,
        res_ok: 1,
    }
}

/// Memory ends here: table reads beyond it fail with a DMA error.
const MEMORY_LIMIT: u64 = 1 << 32;

/// A PD's tables in a memory image, some entries broken on purpose, and the page VAs mapped.
struct WalkTables {
    mem: MemoryImage,
    window: TableWindow,
    tables: TableBuilder,
    vas: Vec<u64>,
}

impl WalkTables {
    /// Clusters of mappings, some leaves broken (not present, not pinned, read-only, frame out
    /// of range), a next-level entry outside the window and one not present; the window sits
    /// near the end of memory and sometimes runs past it.
    fn random(rng: &mut SmallRng) -> WalkTables {
        let mut mem = MemoryImage::with_limit(MEMORY_LIMIT);
        let base = ((MEMORY_LIMIT >> abi::PAGE_SHIFT) - 200 + rng.gen_range(0..150)) as u32;
        let window = TableWindow { base, pages: 160 };
        let mut tables = TableBuilder::new(window, &mut mem).expect("the root fits");
        let mut vas = vec![];
        let va_mask = abi::mask(abi::VA_BITS);
        let frame_mask = abi::mask(abi::FRAME_BITS);
        for _ in 0..rng.gen_range(3..8) {
            let start = rng.gen::<u64>() & va_mask & !(PAGE_SIZE - 1);
            for i in 0..rng.gen_range(1..40u64) {
                let va = start + i * PAGE_SIZE;
                if va > va_mask {
                    break;
                }
                let frame = rng.gen::<u64>() & frame_mask;
                let all = PTE_PRESENT | PTE_PINNED | PTE_WRITABLE;
                let done = match rng.gen_range(0..24) {
                    0 => tables.set_leaf(&mut mem, va, Pte::new(frame, all & !PTE_PRESENT)),
                    1 => tables.set_leaf(&mut mem, va, Pte::new(frame, all & !PTE_PINNED)),
                    2 => tables.set_leaf(&mut mem, va, Pte::new(frame, all & !PTE_WRITABLE)),
                    3 => tables.set_leaf(&mut mem, va, Pte::new(frame | 1 << 30, all)),
                    n => {
                        let access = if n % 3 == 0 {
                            Access::Read
                        } else {
                            Access::ReadWrite
                        };
                        tables.map(&mut mem, va, frame, access, true)
                    }
                };
                if done.is_err() {
                    break;
                }
                vas.push(va);
            }
        }
        // Next-level entries: one pointing outside the window, one not present.
        for bad in [Pte::table(u64::from(base) + 500), Pte(0)] {
            let Some(&va) = vas.choose(rng) else { break };
            let level = rng.gen_range(2..=abi::LEVELS);
            if let Ok(Some(t)) = tables.table_frame(&mem, va, level) {
                let da = (t << abi::PAGE_SHIFT) + abi::level_index(va, level) * abi::PTE_BYTES;
                mem.write_u64(da, bad.0);
            }
        }
        WalkTables {
            mem,
            window,
            tables,
            vas,
        }
    }
}

/// A walk job and the golden walk's verdict.
#[derive(Debug)]
struct WalkJob {
    level: u8,
    table: u64,
    va: u64,
    write: bool,
    want: Result<Pte, Status>,
    reads: u32,
}

fn walker_jobs(pair: &mut WalkerPair, seed: u64) -> Result<(), String> {
    const ROUNDS: u64 = 6;
    const JOBS: u64 = 800;
    const JOB_TIMEOUT: u64 = 20_000;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut outcomes = BTreeMap::new();
    let (mut resets, mut table_reads) = (0, 0);
    for round in 0..ROUNDS {
        // Fresh tables every round; between jobs no read is in flight.
        let WalkTables {
            mem,
            window,
            tables,
            vas,
        } = WalkTables::random(&mut rng);
        let mut memory = MemoryModel::new(mem, 0..=0, 0.6);
        let win_base = u64::from(window.base);
        let win_end = win_base + u64::from(window.pages);
        for job in round * JOBS..(round + 1) * JOBS {
            memory.latency = match job % 3 {
                0 => 0..=0,
                1 => 0..=3,
                _ => 0..=60,
            };
            memory.ready_prob = [0.3, 0.6, 1.0][(job / 3 % 3) as usize];
            let va = vas.choose(&mut rng).copied().filter(|_| rng.gen_bool(0.8));
            let va = va.unwrap_or_else(|| rng.gen::<u64>() & abi::mask(abi::VA_BITS))
                | rng.gen_range(0..PAGE_SIZE);
            let level = rng.gen_range(1..=abi::LEVELS);
            let table = if level == abi::LEVELS {
                tables.root()
            } else {
                match tables.table_frame(&memory.mem, va, level) {
                    Ok(Some(t)) if rng.gen_bool(0.9) => t,
                    _ => win_base + rng.gen_range(0..u64::from(window.pages) + 2),
                }
            };
            let write = rng.gen_bool(0.5);
            let mut reads = 0;
            let want = walk(&memory.mem, &window, level, table, va, write, &mut reads);
            let j = WalkJob {
                level,
                table,
                va,
                write,
                want,
                reads,
            };

            // Idle cycles with noise on the job fields, then the job offered until taken; its VA,
            // write flag and window held until the result is taken.
            let gap = rng.gen_range(0..4u64);
            let start = pair.cycle();
            let reads_before = memory.reads;
            let (mut taken, mut result, mut abandoned) = (false, None, false);
            while result.is_none() && !abandoned {
                let at = pair.cycle();
                if at - start > JOB_TIMEOUT {
                    return Err(format!("job {job}: no result by cycle {at}: {j:?}"));
                }
                let offering = !taken && at - start >= gap;
                let holding = offering || taken;
                let m = memory.drive(&mut rng);
                // A reset cuts a walk short; only with no read in flight, so no stale response
                // can answer the next job's read.
                let reset = taken && memory.in_flight() == 0 && rng.gen_ratio(1, 300);
                let res_ready = !reset && rng.gen_bool(0.5);
                let (rsp_data, rsp_tag, rsp_error) = m
                    .rsp
                    .unwrap_or_else(|| (noise(&mut rng), noise(&mut rng), rng.gen()));
                let inputs = WalkerIn {
                    reset: reset.into(),
                    job_valid: offering.into(),
                    job_level: if offering {
                        j.level.into()
                    } else {
                        noise(&mut rng)
                    },
                    job_table: if offering { j.table } else { noise(&mut rng) },
                    job_va: if holding { j.va } else { noise(&mut rng) },
                    job_write: if holding {
                        j.write.into()
                    } else {
                        noise(&mut rng)
                    },
                    job_win_base: if holding { win_base } else { noise(&mut rng) },
                    job_win_end: if holding { win_end } else { noise(&mut rng) },
                    pte_req_ready: (m.req_ready && !reset).into(),
                    pte_rsp_valid: m.rsp.is_some().into(),
                    pte_rsp_data: rsp_data,
                    pte_rsp_tag: rsp_tag,
                    pte_rsp_error: rsp_error.into(),
                    res_ready: res_ready.into(),
                };
                let o = pair.drive(&inputs)?;
                if o.pte_rsp_ready == 0 {
                    return Err(format!("cycle {at}: response back-pressured"));
                }
                if (o.job_ready != 0) == taken {
                    return Err(format!(
                        "cycle {at}: job_ready {} with a job {}",
                        o.job_ready,
                        if taken { "running" } else { "not yet taken" }
                    ));
                }
                if !taken && (o.pte_req_valid != 0 || o.res_valid != 0) {
                    return Err(format!("cycle {at}: read or result without a job: {o:?}"));
                }
                memory.clock(
                    &mut rng,
                    o.pte_req_valid != 0 && !reset,
                    o.pte_req_addr,
                    o.pte_req_tag,
                    m.rsp.is_some(),
                    o.pte_rsp_ready != 0,
                );
                // `res_good`: a result with status `Ok`; `res_ok`: its status is `Ok`.
                let ok = o.res_status == u64::from(Status::Ok.code());
                if o.res_good != u64::from(o.res_valid != 0 && ok)
                    || (o.res_valid != 0 && (o.res_ok != 0) != ok)
                {
                    return Err(format!("cycle {at}: res_good/res_ok disagree: {o:?}"));
                }
                if o.res_valid != 0 && res_ready {
                    result = Some((o.res_status, o.res_frame, o.res_writable != 0));
                }
                if offering && o.job_ready != 0 {
                    taken = true;
                }
                if reset {
                    abandoned = true;
                    resets += 1;
                }
                pair.tick();
            }
            let Some((status, frame, writable)) = result else {
                continue;
            };
            let reads = memory.reads - reads_before;
            let verdict = match j.want {
                Ok(pte) => {
                    status == u64::from(Status::Ok.code())
                        && frame == pte.frame()
                        && writable == pte.writable()
                }
                Err(s) => status == u64::from(s.code()),
            };
            if !verdict || reads != u64::from(j.reads) {
                return Err(format!(
                    "job {job}: {} frame {frame:#x} writable {writable} after {reads} reads; \
                     abi walks {:?} in {} reads ({j:?})",
                    status_name(status),
                    j.want,
                    j.reads
                ));
            }
            *outcomes.entry(status_name(status)).or_insert(0u64) += 1;
        }
        table_reads += memory.reads;
    }
    println!(
        "walker: {} jobs ({resets} cut short by reset), {table_reads} table reads in {} cycles, \
         outcomes {outcomes:?}",
        ROUNDS * JOBS,
        pair.cycle()
    );
    if outcomes.len() < 6 {
        return Err(format!("too few outcomes exercised: {outcomes:?}"));
    }
    Ok(())
}

#[test]
fn walker_verilog_agrees_and_walks() {
    run("verilator-walker", walker_jobs);
}

// ---------------------------------------------------------------------------------------------
// ProtTable.

lockstep! {
    /// `ProtTable` in both simulators.
    ProtPair: ProtTable, VProtTable;
    /// What drives `ProtTable` in one cycle.
    inputs ProtIn {
        reset / set_reset: 1,
        cfg_we / set_cfg_we: 1,
        cfg_addr / set_cfg_addr: 16,
        cfg_wdata / set_cfg_wdata: 32,
        cfg_re / set_cfg_re: 1,
        lk_vi / set_lk_vi: 3,
        chk_vi / set_chk_vi: 3,
        pd_index / set_pd_index: 3,
        fault_valid / set_fault_valid: 1,
        open_vi / set_open_vi: 3,
    }
    /// `ProtTable`'s outputs in one cycle.
    outputs ProtOut {
        cfg_rdata: 32,
        cfg_hit: 1,
        pd_written: 1,
        lk_enabled: 1,
        chk_locked: 1,
        lk_mode: 2,
        lk_pd: 3,
        lk_slot: 3,
        pd_valid: 1,
        pd_gen: 7,
        pd_allow_read: 1,
        pd_allow_write: 1,
        pd_win_base: 28,
        pd_win_pages: 28,
        open_vi_open: 1,
        open_vi_enabled: 1,
    }
}

/// The PD registers of the protection table.
fn pd_registers() -> impl Iterator<Item = u16> {
    (0..abi::NUM_PDS).flat_map(|pd| {
        [regs::PD_CTRL, regs::PD_WINDOW_BASE, regs::PD_WINDOW_PAGES].map(|r| regs::pd_reg(pd, r))
    })
}

/// The VI registers of the protection table.
fn vi_registers() -> impl Iterator<Item = u16> {
    (0..abi::NUM_VIS).flat_map(|vi| [regs::VI_CTRL, regs::VI_FAULTS].map(|r| regs::vi_reg(vi, r)))
}

/// The registers the protection table holds (`cfg_hit`).
fn prot_table_registers() -> BTreeSet<u16> {
    let mut set: BTreeSet<u16> = pd_registers().chain(vi_registers()).collect();
    set.insert(regs::FAULT_THRESHOLD);
    set
}

/// A register access, performed in the cycle after its address is set up.
#[derive(Clone, Copy, Debug)]
enum RegAccess {
    Write(u32),
    Read,
}

/// What the previous cycle leaves to check in this one.
#[derive(Clone, Copy, Default)]
struct ProtPending {
    /// `cfg_addr` of the previous cycle (judged by `cfg_hit`).
    cfg_addr: u16,
    /// `chk_vi` of the previous cycle.
    chk_vi: u64,
    /// `chk_locked` now: the lock of the previous `chk_vi` as of the previous cycle.
    locked: bool,
    /// `cfg_rdata` now, after a read in the previous cycle.
    read: Option<(u16, u32)>,
    /// `pd_*` now: the PD read in the previous cycle (none when its RAM was written then).
    pd: Option<(usize, PdConfig)>,
    /// A fault may come now: the previous cycle had no fault, reset or VI_CTRL write.
    fault_ok: bool,
}

fn prot_table_traffic(pair: &mut ProtPair, seed: u64) -> Result<(), String> {
    const CYCLES: u64 = 200_000;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut golden = Golden::new();
    let registers = prot_table_registers();
    let vi_ctrls: BTreeSet<u16> = (0..abi::NUM_VIS)
        .map(|vi| regs::vi_reg(vi, regs::VI_CTRL))
        .collect();
    let pds: BTreeSet<u16> = pd_registers().collect();
    // Every register, neighbours that must miss, and other blocks' registers.
    let mut pool: Vec<u16> = registers.iter().copied().collect();
    pool.extend([
        regs::ID,
        regs::VERSION,
        regs::FAULT_THRESHOLD + 4,
        regs::CACHE_INVALIDATE_ALL,
        regs::pd_reg(0, 0xc),
        regs::pd_reg(abi::NUM_PDS, regs::PD_CTRL),
        regs::vi_reg(abi::NUM_VIS, regs::VI_CTRL),
        regs::vi_reg(3, 0x8),
        regs::key_reg(2, 3),
        regs::FAULT_THRESHOLD | 0x1000,
    ]);
    let mut prev = ProtPending::default();
    let mut armed: Option<RegAccess> = None;
    let mut addr = 0u16;
    let mut chk_vi = 0u64;
    let (mut reads, mut writes, mut faults, mut locked_cycles, mut resets) = (0, 0, 0, 0, 0);
    while pair.cycle() < CYCLES {
        let at = pair.cycle();
        // The address is set up a cycle before the access that uses it.
        let access = armed.take();
        let reset = access.is_none() && rng.gen_ratio(1, 800);
        let cfg_addr = if access.is_some() {
            addr
        } else if !reset && rng.gen_bool(0.45) {
            addr = *pool.choose(&mut rng).expect("addresses");
            if rng.gen_ratio(1, 20) {
                addr = rng.gen();
            }
            armed = Some(if rng.gen_bool(0.5) {
                RegAccess::Read
            } else {
                RegAccess::Write(register_value(&mut rng, addr))
            });
            addr
        } else {
            rng.gen()
        };
        // Back to back on the same address, at times.
        if access.is_some() && rng.gen_ratio(1, 4) {
            armed = Some(if rng.gen_bool(0.5) {
                RegAccess::Read
            } else {
                RegAccess::Write(register_value(&mut rng, addr))
            });
        }
        let write = match access {
            Some(RegAccess::Write(v)) => Some(v),
            _ => None,
        };
        let read = matches!(access, Some(RegAccess::Read));
        let vi_ctrl_write = write.is_some() && vi_ctrls.contains(&cfg_addr);
        // Faults: on a VI held since the previous cycle, at least two cycles apart, and not
        // next to a reset or a VI_CTRL write (the count is taken from the previous cycle).
        let fault =
            prev.fault_ok && prev.chk_vi == chk_vi && !reset && !vi_ctrl_write && rng.gen_bool(0.3);
        let lk_vi = rng.gen_range(0..abi::NUM_VIS);
        let open_vi = rng.gen_range(0..abi::NUM_VIS);
        let pd_index = rng.gen_range(0..abi::NUM_PDS);
        let inputs = ProtIn {
            reset: reset.into(),
            cfg_we: write.is_some().into(),
            cfg_addr: cfg_addr.into(),
            cfg_wdata: write.map_or_else(|| noise(&mut rng), u64::from),
            cfg_re: read.into(),
            lk_vi: lk_vi as u64,
            chk_vi,
            pd_index: pd_index as u64,
            fault_valid: fault.into(),
            open_vi: open_vi as u64,
        };
        let o = pair.drive(&inputs)?;

        // Against the golden registers as of the start of this cycle.
        let fail = |what: String| Err(format!("cycle {at}: {what}"));
        let hit = registers.contains(&prev.cfg_addr);
        if at > 0 && (o.cfg_hit != 0) != hit {
            return fail(format!("cfg_hit {} for {:#06x}", o.cfg_hit, prev.cfg_addr));
        }
        if at > 0 && (o.chk_locked != 0) != prev.locked {
            return fail(format!(
                "chk_locked {} for VI {}",
                o.chk_locked, prev.chk_vi
            ));
        }
        locked_cycles += o.chk_locked;
        if let Some((a, want)) = prev.read {
            if o.cfg_rdata != u64::from(want) {
                return fail(format!(
                    "read {a:#06x} = {:#x}, want {want:#x}",
                    o.cfg_rdata
                ));
            }
        }
        if let Some((pd, want)) = prev.pd {
            let got = (
                o.pd_valid != 0,
                o.pd_gen,
                o.pd_allow_read != 0,
                o.pd_allow_write != 0,
                o.pd_win_base,
                o.pd_win_pages,
            );
            let expect = (
                want.valid,
                u64::from(want.generation),
                want.allow_read,
                want.allow_write,
                u64::from(want.window.base),
                u64::from(want.window.pages),
            );
            if got != expect {
                return fail(format!("PD {pd} reads {got:?}, want {expect:?}"));
            }
        }
        let vi = golden.vi(lk_vi);
        let got = (o.lk_enabled != 0, o.lk_mode, o.lk_pd, o.lk_slot);
        let want = (
            vi.enabled,
            u64::from(vi.mode),
            u64::from(vi.pd),
            u64::from(vi.key_slot),
        );
        if got != want {
            return fail(format!("VI {lk_vi} looks up as {got:?}, want {want:?}"));
        }
        let open = golden.vi(open_vi);
        if (o.open_vi_open != 0) != (open.enabled && !open.locked) {
            return fail(format!("open_vi_open {} for {open:?}", o.open_vi_open));
        }
        if (o.open_vi_enabled != 0) != open.enabled {
            return fail(format!(
                "open_vi_enabled {} for {open:?}",
                o.open_vi_enabled
            ));
        }
        if (o.pd_written != 0) != (write.is_some() && pds.contains(&cfg_addr)) {
            return fail(format!(
                "pd_written {} writing {cfg_addr:#06x}",
                o.pd_written
            ));
        }

        // What this cycle leaves for the next, then what the edge does.
        let pd_read = if read {
            usize::from(cfg_addr >> 4) % abi::NUM_PDS
        } else {
            pd_index
        };
        let pd_written = write.is_some()
            && pds.contains(&cfg_addr)
            && usize::from(cfg_addr >> 4) % abi::NUM_PDS == pd_read;
        prev = ProtPending {
            cfg_addr,
            chk_vi,
            locked: golden.vi(chk_vi as usize).locked,
            read: read.then(|| {
                let value = if registers.contains(&cfg_addr) {
                    golden.read_reg(cfg_addr)
                } else {
                    0
                };
                (cfg_addr, value)
            }),
            // A read of the PD written in the same cycle is undefined in block RAM.
            pd: (!pd_written).then(|| (pd_read, golden.pd(pd_read))),
            fault_ok: !fault && !reset && !vi_ctrl_write,
        };
        if fault {
            golden.record_fault(chk_vi as usize);
            faults += 1;
        }
        if let Some(value) = write.filter(|_| registers.contains(&cfg_addr)) {
            golden.write_reg(cfg_addr, value);
            writes += 1;
        }
        reads += u32::from(read);
        if reset {
            // Reset clears the VI state and the threshold, as writing them does.
            for vi in 0..abi::NUM_VIS {
                golden.write_reg(regs::vi_reg(vi, regs::VI_CTRL), 0);
            }
            golden.write_reg(regs::FAULT_THRESHOLD, 0);
            resets += 1;
        }
        if !fault && rng.gen_ratio(1, 6) {
            chk_vi = rng.gen_range(0..abi::NUM_VIS as u64);
        }
        pair.tick();
    }
    println!(
        "prot_table: {reads} reads, {writes} writes, {faults} faults, {resets} resets, \
         {locked_cycles} cycles with chk_vi locked in {CYCLES} cycles"
    );
    if locked_cycles == 0 || reads < 1_000 || writes < 1_000 {
        return Err(format!(
            "too little exercised: {reads} reads, {writes} writes, {locked_cycles} cycles locked"
        ));
    }
    Ok(())
}

/// A value to write to `addr`: small thresholds (so VIs lock), enabled VIs in every mode, or
/// anything.
fn register_value(rng: &mut SmallRng, addr: u16) -> u32 {
    match rng.gen_range(0..3) {
        _ if addr == regs::FAULT_THRESHOLD => rng.gen_range(0..6),
        0 => rng.gen(),
        1 => rng.gen_range(0..8),
        _ => 1 | rng.gen_range(0..0x800),
    }
}

#[test]
fn prot_table_verilog_agrees_and_keeps_registers() {
    run("verilator-prot_table", prot_table_traffic);
}

// ---------------------------------------------------------------------------------------------
// XlateCache.

lockstep! {
    /// `XlateCache` in both simulators.
    CachePair: XlateCache, VXlateCache;
    /// What drives `XlateCache` in one cycle.
    inputs CacheIn {
        reset / set_reset: 1,
        probe_pd / set_probe_pd: 3,
        probe_vpage / set_probe_vpage: 35,
        cmp_pd / set_cmp_pd: 3,
        cmp_vpage / set_cmp_vpage: 35,
        cmp_shortcut_mode / set_cmp_shortcut_mode: 1,
        cmp_slot / set_cmp_slot: 3,
        cmp_shortcut / set_cmp_shortcut: 64,
        fill_valid / set_fill_valid: 1,
        fill_pd / set_fill_pd: 3,
        fill_vpage / set_fill_vpage: 35,
        fill_via_shortcut / set_fill_via_shortcut: 1,
        fill_slot / set_fill_slot: 3,
        fill_shortcut / set_fill_shortcut: 64,
        fill_frame / set_fill_frame: 28,
        fill_writable / set_fill_writable: 1,
        inv_valid / set_inv_valid: 1,
        inv_all / set_inv_all: 1,
        inv_pd / set_inv_pd: 3,
    }
    /// `XlateCache`'s outputs in one cycle.
    outputs CacheOut {
        hit: 1,
        hit_frame: 28,
        hit_writable: 1,
        hit_part: 14,
        busy: 1,
    }
}

/// A probe started in the previous cycle: what it looks up, and the entry it reads.
#[derive(Clone, Copy, Debug)]
struct Probe {
    pd: u8,
    vpage: u64,
    entry: CacheEntry,
    /// The probed set was filled in the same cycle: a miss.
    collided: bool,
    /// The entry's state is not known (a sweep was cut short).
    unknown: bool,
}

/// Whether `e` answers a probe for `(pd, vpage)` in the given mode.
fn cache_hit(e: &CacheEntry, pd: u8, vpage: u64, shortcut_mode: bool, slot: u8, sc: u64) -> bool {
    e.valid
        && e.pd == pd
        && u64::from(e.vtag) == vpage >> abi::CACHE_INDEX_BITS
        && (!shortcut_mode || (e.via_shortcut && e.key_slot == slot && e.shortcut == sc))
}

fn cache_traffic(pair: &mut CachePair, seed: u64) -> Result<(), String> {
    const CYCLES: u64 = 200_000;
    const SWEEP_CYCLES: u64 = abi::CACHE_ENTRIES as u64 + 2;
    const PDS: u8 = 3;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut model = vec![CacheEntry::default(); abi::CACHE_ENTRIES];
    let mut unknown = vec![false; abi::CACHE_ENTRIES];
    // A small pool of pages, some sharing their set with others, and of shortcuts, so probes
    // hit and conflict often.
    let vpage_mask = abi::mask(abi::VPAGE_BITS);
    let mut pages: Vec<u64> = (0..32).map(|_| rng.gen::<u64>() & vpage_mask).collect();
    for i in 0..8 {
        let alias = pages[i] ^ (rng.gen::<u64>() << abi::CACHE_INDEX_BITS) & vpage_mask;
        pages.push(alias);
    }
    let shortcuts: Vec<u64> = (0..4).map(|_| rng.gen()).collect();
    let mut probe: Option<Probe> = None;
    // Busy cycles left of the sweep under way, and what it drops.
    let mut sweep_left = 0u64;
    let mut sweep: (bool, u8) = (false, 0);
    let (mut hits, mut shortcut_hits, mut misses, mut collisions) = (0, 0, 0, 0);
    let (mut sweeps, mut cut_short) = (0, 0);
    while pair.cycle() < CYCLES {
        let at = pair.cycle();
        let busy = sweep_left > 0;
        let reset = rng.gen_ratio(1, 1_500);
        // A probe every cycle; it counts while no sweep runs.
        let probe_pd = rng.gen_range(0..PDS);
        let probe_vpage = *pages.choose(&mut rng).expect("pages");
        // The comparison of the previous cycle's probe: its page, or one that must miss.
        let (cmp_pd, cmp_vpage) = match (probe, rng.gen_range(0..10)) {
            (Some(p), 0) => (p.pd, p.vpage ^ (1 << rng.gen_range(8..abi::VPAGE_BITS))),
            (Some(p), 1) => ((p.pd + 1) % PDS, p.vpage),
            (Some(p), _) => (p.pd, p.vpage),
            (None, _) => (rng.gen_range(0..8), rng.gen::<u64>() & vpage_mask),
        };
        let shortcut_mode = rng.gen_bool(0.5);
        let (cmp_slot, cmp_shortcut) = match probe {
            Some(p) if rng.gen_bool(0.6) => (p.entry.key_slot, p.entry.shortcut),
            _ => (
                rng.gen_range(0..8),
                *shortcuts.choose(&mut rng).expect("shortcuts"),
            ),
        };
        let quiet = busy || reset;
        let fill = (!quiet && rng.gen_bool(0.3)).then(|| {
            // At times into the set probed in the same cycle.
            let (pd, vpage) = if rng.gen_ratio(1, 10) {
                (probe_pd, probe_vpage)
            } else {
                (
                    rng.gen_range(0..PDS),
                    *pages.choose(&mut rng).expect("pages"),
                )
            };
            let entry = CacheEntry {
                valid: true,
                via_shortcut: rng.gen(),
                pd,
                key_slot: rng.gen_range(0..8),
                vtag: (vpage >> abi::CACHE_INDEX_BITS) as u32,
                shortcut: *shortcuts.choose(&mut rng).expect("shortcuts"),
                frame: rng.gen::<u32>() & abi::mask(abi::FRAME_BITS) as u32,
                writable: rng.gen(),
            };
            (vpage, entry)
        });
        let invalidate =
            (!quiet && rng.gen_ratio(1, 400)).then(|| (rng.gen_bool(0.3), rng.gen_range(0..8u8)));
        let f = fill.map(|(_, e)| e);
        let inputs = CacheIn {
            reset: reset.into(),
            probe_pd: probe_pd.into(),
            probe_vpage,
            cmp_pd: cmp_pd.into(),
            cmp_vpage,
            cmp_shortcut_mode: shortcut_mode.into(),
            cmp_slot: cmp_slot.into(),
            cmp_shortcut,
            fill_valid: fill.is_some().into(),
            fill_pd: f.map_or_else(|| noise(&mut rng), |e| e.pd.into()),
            fill_vpage: fill.map_or_else(|| noise(&mut rng), |(v, _)| v),
            fill_via_shortcut: f.map_or_else(|| noise(&mut rng), |e| e.via_shortcut.into()),
            fill_slot: f.map_or_else(|| noise(&mut rng), |e| e.key_slot.into()),
            fill_shortcut: f.map_or_else(|| noise(&mut rng), |e| e.shortcut),
            fill_frame: f.map_or_else(|| noise(&mut rng), |e| e.frame.into()),
            fill_writable: f.map_or_else(|| noise(&mut rng), |e| e.writable.into()),
            inv_valid: invalidate.is_some().into(),
            inv_all: invalidate.map_or_else(|| noise(&mut rng), |i| i.0.into()),
            inv_pd: invalidate.map_or_else(|| noise(&mut rng), |i| i.1.into()),
        };
        let o = pair.drive(&inputs)?;

        if (o.busy != 0) != busy {
            return Err(format!(
                "cycle {at}: busy {}, {sweep_left} sweep cycles left",
                o.busy
            ));
        }
        if let Some(p) = probe.filter(|p| !p.unknown) {
            let want = !p.collided
                && cache_hit(
                    &p.entry,
                    cmp_pd,
                    cmp_vpage,
                    shortcut_mode,
                    cmp_slot,
                    cmp_shortcut,
                );
            // `hit` in parts: bits 0-4 all set and, in shortcut mode, bits 5-13 too.
            let from_parts =
                o.hit_part & 0x1f == 0x1f && (!shortcut_mode || o.hit_part >> 5 == 0x1ff);
            if from_parts != (o.hit != 0) {
                return Err(format!(
                    "cycle {at}: hit {} but hit_part {:#x} (mode {shortcut_mode})",
                    o.hit, o.hit_part
                ));
            }
            if (o.hit != 0) != want {
                return Err(format!(
                    "cycle {at}: hit {} comparing PD {cmp_pd} page {cmp_vpage:#x} mode \
                     {shortcut_mode} slot {cmp_slot} shortcut {cmp_shortcut:#x}, want {want} \
                     ({p:?})",
                    o.hit
                ));
            }
            if want
                && (o.hit_frame != u64::from(p.entry.frame)
                    || (o.hit_writable != 0) != p.entry.writable)
            {
                return Err(format!(
                    "cycle {at}: hit frame {:#x} writable {}, entry {:?}",
                    o.hit_frame, o.hit_writable, p.entry
                ));
            }
            hits += u32::from(want);
            shortcut_hits += u32::from(want && shortcut_mode);
            misses += u32::from(!want);
            collisions += u32::from(p.collided);
        }

        // What the edge does: the probe reads the set before this cycle's fill lands.
        let set = cache_index(probe_pd, probe_vpage);
        probe = (!busy).then(|| Probe {
            pd: probe_pd,
            vpage: probe_vpage,
            entry: model[set],
            collided: fill.is_some_and(|(v, e)| cache_index(e.pd, v) == set),
            unknown: unknown[set],
        });
        if let Some((vpage, entry)) = fill {
            let i = cache_index(entry.pd, vpage);
            model[i] = entry;
            unknown[i] = false;
        }
        let drops = |e: &CacheEntry, (all, pd): (bool, u8)| all || e.pd == pd;
        if busy {
            sweep_left -= 1;
            if reset {
                // A sweep cut short leaves the entries it would drop either way.
                for (e, u) in model.iter().zip(unknown.iter_mut()) {
                    *u |= drops(e, sweep);
                }
                sweep_left = 0;
                cut_short += 1;
            }
        }
        if let Some(inv) = invalidate {
            for e in model.iter_mut().filter(|e| drops(e, inv)) {
                e.valid = false;
            }
            sweep = inv;
            sweep_left = SWEEP_CYCLES;
            sweeps += 1;
        }
        pair.tick();
    }
    println!(
        "xlate_cache: {hits} hits ({shortcut_hits} in shortcut mode), {misses} misses, \
         {collisions} probes of a set filled at once, {sweeps} sweeps ({cut_short} cut short) \
         in {CYCLES} cycles"
    );
    if hits < 200 || shortcut_hits < 20 || collisions == 0 || sweeps < 10 {
        return Err(format!(
            "too little exercised: {hits} hits, {shortcut_hits} in shortcut mode, \
             {collisions} collisions, {sweeps} sweeps"
        ));
    }
    Ok(())
}

#[test]
fn xlate_cache_verilog_agrees_and_caches() {
    run("verilator-xlate_cache", cache_traffic);
}
