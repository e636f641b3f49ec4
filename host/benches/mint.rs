//! Shortcut minting and opening rate on one core.
//!
//! ```text
//! cargo bench -p skipwalk --bench mint
//! ```
//!
//! Mints shortcuts with [`abi::Shortcut::mint`] over varied VAs, table frames and levels, and
//! opens (decrypts and checks) valid ones with [`abi::Shortcut::open`], each for about one
//! second per repetition after a warm-up; reports the median of the repetitions. Prints one
//! line of JSON on stdout:
//!
//! ```text
//! {"shortcut_mints_per_second": N, "shortcut_opens_per_second": M, "target_mints_per_second": 5000000}
//! ```
//!
//! and progress on stderr. The target is the rate the registrar must sustain.

use std::hint::black_box;
use std::time::{Duration, Instant};

use abi::shortcut::TableWindow;
use abi::{Key, Shortcut, ShortcutCipher};

/// Mints per second the registrar must sustain on one core.
const TARGET_MINTS_PER_SECOND: u64 = 5_000_000;
/// Length of one measured repetition.
const REPETITION: Duration = Duration::from_secs(1);
/// Length of the warm-up before the repetitions of each measurement.
const WARM_UP: Duration = Duration::from_millis(300);
/// Measured repetitions of each measurement; the median is reported.
const REPETITIONS: usize = 5;
/// Operations between two looks at the clock.
const BATCH: u64 = 4096;

/// The PD's table window (frames) used by the benchmark.
const WINDOW: TableWindow = TableWindow {
    base: 0x10_0000,
    pages: 1 << 16,
};
/// PD generation used by the benchmark.
const GENERATION: u8 = 42;

/// The `i`-th (table frame, level, VA) input: a cheap mix so consecutive inputs differ in
/// every field, with frames inside [`WINDOW`] and VAs in the user half.
#[inline(always)]
fn input(i: u64) -> (u32, u8, u64) {
    let mixed = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let frame = WINDOW.base + (mixed >> 48) as u32 % WINDOW.pages;
    let level = 1 + (i % 3) as u8;
    let va = (mixed >> 17) & 0x7fff_ffff_f000;
    (frame, level, va)
}

/// Runs `batch` (which performs [`BATCH`] operations starting at the given index and returns
/// a value depending on all of them) for about `length`; returns operations per second and an
/// accumulator of the results.
fn measure(length: Duration, mut batch: impl FnMut(u64) -> u64) -> (f64, u64) {
    let mut acc = 0u64;
    let mut ops = 0u64;
    let start = Instant::now();
    loop {
        acc = acc.rotate_left(7) ^ batch(ops);
        ops += BATCH;
        let elapsed = start.elapsed();
        if elapsed >= length {
            return (ops as f64 / elapsed.as_secs_f64(), acc);
        }
    }
}

/// Warms up, then measures [`REPETITIONS`] times; returns the median rate.
fn median_rate(name: &str, mut batch: impl FnMut(u64) -> u64) -> u64 {
    let (_, warm) = measure(WARM_UP, &mut batch);
    black_box(warm);
    let mut rates = Vec::with_capacity(REPETITIONS);
    for rep in 1..=REPETITIONS {
        let (rate, acc) = measure(REPETITION, &mut batch);
        eprintln!(
            "{name}: repetition {rep}/{REPETITIONS}: {:.0} per second (checksum {acc:#018x})",
            rate
        );
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    let median = rates[rates.len() / 2];
    eprintln!("{name}: median {median:.0} per second");
    median.round() as u64
}

fn main() {
    let key = Key::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
    let cipher = ShortcutCipher::new(&key);

    let mints = median_rate("mint", |first| {
        let cipher = black_box(&cipher);
        let mut acc = 0u64;
        for i in first..first + BATCH {
            let (frame, level, va) = input(black_box(i));
            acc ^= Shortcut::mint(cipher, frame, level, GENERATION, va).0;
        }
        black_box(acc)
    });

    // Valid shortcuts to open, so every open runs all checks; precomputed so that minting is
    // not part of the measured loop.
    const TABLE: usize = 1 << 14;
    let table: Vec<(Shortcut, u64)> = (0..TABLE as u64)
        .map(|i| {
            let (frame, level, va) = input(i);
            (Shortcut::mint(&cipher, frame, level, GENERATION, va), va)
        })
        .collect();
    for &(s, va) in &table {
        assert!(s.open(&cipher, va, GENERATION, &WINDOW).is_ok());
    }
    let opens = median_rate("open", |first| {
        let cipher = black_box(&cipher);
        let mut acc = 0u64;
        for i in first..first + BATCH {
            let (s, va) = table[i as usize % TABLE];
            match s.open(cipher, black_box(va), GENERATION, &WINDOW) {
                Ok(p) => acc ^= u64::from(p.table_frame) ^ u64::from(p.va_tag),
                Err(_) => acc = acc.rotate_left(1),
            }
        }
        black_box(acc)
    });

    eprintln!(
        "mint rate is {:.2}x the target of {TARGET_MINTS_PER_SECOND} per second",
        mints as f64 / TARGET_MINTS_PER_SECOND as f64
    );
    println!(
        "{{\"shortcut_mints_per_second\": {mints}, \"shortcut_opens_per_second\": {opens}, \
         \"target_mints_per_second\": {TARGET_MINTS_PER_SECOND}}}"
    );
}
