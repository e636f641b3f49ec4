//! Test bench support for RustHDL's simulator: direct clock stepping, seeded randomized runs,
//! and a VCD waveform under `target/waves/` whenever a run fails.
//!
//! A failing seeded run is replayed with waveform capture switched on (the run is
//! deterministic in its seed), so passing runs pay nothing for tracing; the replay records the
//! last [`DEFAULT_WAVE_CLOCKS`] clocks before the failure only.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use rust_hdl::core::prelude::*;
use rust_hdl::core::vcd_probe::{write_vcd_change, write_vcd_dump, write_vcd_header, VCDProbe};

/// The `rand` crate the harness models draw from ([`MemoryModel::drive`] takes its generators),
/// for test crates that do not depend on it themselves.
pub use rand;

/// A block driven by one clock.
pub trait Clocked: Block {
    /// The block's clock input.
    fn clock_input(&mut self) -> &mut Signal<In, Clock>;
}

/// Implements [`Clocked`] for blocks whose clock input is the field `clock`.
#[macro_export]
macro_rules! clocked {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::bench::Clocked for $t {
            fn clock_input(&mut self) -> &mut rust_hdl::core::prelude::Signal<
                rust_hdl::core::prelude::In,
                rust_hdl::core::prelude::Clock,
            > {
                &mut self.clock
            }
        })*
    };
}

/// Iterations allowed for combinational logic to settle.
const SETTLE_ITERS: usize = 1000;

/// A block under test, stepped one clock at a time.
pub struct Bench<B: Clocked> {
    /// The block under test; set its inputs' `next`, read its outputs' `val()`.
    pub uut: B,
    /// Rising edges so far.
    pub cycle: u64,
    vcd: Option<VCDProbe<BufWriter<File>>>,
    trace_from: u64,
}

impl<B: Clocked> Bench<B> {
    /// Connects `uut` and settles it with the clock low.
    pub fn new(mut uut: B) -> Bench<B> {
        uut.connect_all();
        let mut b = Bench {
            uut,
            cycle: 0,
            vcd: None,
            trace_from: 0,
        };
        b.settle();
        b
    }

    /// Like [`Bench::new`], recording every edge into a VCD file at `path`.
    pub fn with_waveform(uut: B, path: &std::path::Path) -> std::io::Result<Bench<B>> {
        let mut b = Bench::new(uut);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let w = BufWriter::new(File::create(path)?);
        let mut vcd = write_vcd_header(w, &b.uut);
        vcd = write_vcd_dump(vcd, &b.uut);
        b.vcd = Some(vcd);
        Ok(b)
    }

    /// Like [`Bench::with_waveform`], recording the edges from cycle `from` on only (after
    /// the initial values).
    pub fn with_waveform_from(
        uut: B,
        path: &std::path::Path,
        from: u64,
    ) -> std::io::Result<Bench<B>> {
        let mut b = Bench::with_waveform(uut, path)?;
        b.trace_from = from;
        Ok(b)
    }

    /// Propagates input changes through the combinational logic (clock stays low).
    pub fn settle(&mut self) {
        assert!(
            simulate(&mut self.uut, SETTLE_ITERS),
            "logic did not settle at cycle {}",
            self.cycle
        );
    }

    fn record(&mut self, t: u64) {
        if self.cycle < self.trace_from {
            return;
        }
        if let Some(vcd) = self.vcd.take() {
            let mut vcd = vcd;
            vcd.timestamp(t).expect("waveform write");
            self.vcd = Some(write_vcd_change(vcd, &self.uut));
        }
    }

    /// One clock period: the rising edge (state updates), then the falling edge. Inputs set
    /// before the call are sampled at the rising edge.
    pub fn tick(&mut self) {
        self.settle();
        self.record(self.cycle * 10_000);
        self.uut.clock_input().next = true.into();
        self.settle();
        self.record(self.cycle * 10_000 + 5_000);
        self.uut.clock_input().next = false.into();
        self.settle();
        self.cycle += 1;
    }
}

/// Directory for waveforms of failed runs: `target/waves/` of the workspace.
pub fn waves_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("waves")
}

pub use abi::test_seed;

/// Clocks of waveform a failing seeded run leaves: the replay records the last
/// `DEFAULT_WAVE_CLOCKS` clocks before the failure and nothing earlier (a whole Verilator run
/// would take tens of gigabytes). Both [`run_seeded`] (RustHDL's simulator) and
/// [`run_seeded_with`] use this window.
pub const DEFAULT_WAVE_CLOCKS: u64 = 400_000;

/// A simulator with a clock count, so a failing run can tell at which clock it failed.
pub trait Cycles {
    /// Rising clock edges so far.
    fn cycle(&self) -> u64;
}

impl<B: Clocked> Cycles for Bench<B> {
    fn cycle(&self) -> u64 {
        self.cycle
    }
}

/// Why a seeded run failed. A plain `String` (or `&str`) converts into one that failed at the
/// simulator's current clock; [`Failure::at`] names an earlier clock, for a failure found only
/// after the fact (a violation logged during the run and checked at its end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong.
    pub message: String,
    /// The clock at which it went wrong; `None` for the simulator's clock when the body returned.
    pub cycle: Option<u64>,
}

impl Failure {
    /// A failure at clock `cycle`.
    pub fn at(cycle: u64, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            cycle: Some(cycle),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            cycle: None,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Failure {
        message.to_string().into()
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where and from which clock the replay of a failed run records its waveform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waveform {
    /// The VCD file to write.
    pub path: PathBuf,
    /// The first clock to record: [`DEFAULT_WAVE_CLOCKS`] before the failure, or 0.
    pub from_cycle: u64,
}

/// Runs `body` on a fresh bench of `make()` with `seed`. On failure the run is repeated with
/// waveform capture of its last [`DEFAULT_WAVE_CLOCKS`] clocks into
/// `target/waves/<name>-<seed>.vcd`, and the test panics naming the seed (rerun with
/// `SKIPWALK_SEED=<seed>`) and the waveform.
pub fn run_seeded<B: Clocked, E: Into<Failure>>(
    name: &str,
    seed: u64,
    make: impl Fn() -> B,
    body: impl Fn(&mut Bench<B>, u64) -> Result<(), E>,
) {
    run_seeded_with(
        name,
        seed,
        |waves| match waves {
            None => Ok(Bench::new(make())),
            Some(w) => Bench::with_waveform_from(make(), &w.path, w.from_cycle),
        },
        body,
    );
}

/// [`run_seeded`] for any simulator: `make(None)` builds a fresh one, `make(Some(w))` one that
/// records a waveform into `w.path` from clock `w.from_cycle` on (Verilator models:
/// `with_waveform_from`).
///
/// The failing clock is the one the body's [`Failure`] names, else the simulator's
/// [`Cycles::cycle`] when the body returned; the replay records the [`DEFAULT_WAVE_CLOCKS`]
/// clocks before it (and the clocks after it, up to where the replay stops).
pub fn run_seeded_with<T: Cycles, E: Into<Failure>>(
    name: &str,
    seed: u64,
    make: impl Fn(Option<Waveform>) -> std::io::Result<T>,
    body: impl Fn(&mut T, u64) -> Result<(), E>,
) {
    run_seeded_window(name, seed, DEFAULT_WAVE_CLOCKS, make, body);
}

/// The body of a failed run: its failure with the failing clock resolved.
fn run_once<T: Cycles, E: Into<Failure>>(
    sim: &mut T,
    seed: u64,
    body: &impl Fn(&mut T, u64) -> Result<(), E>,
) -> Option<(String, u64)> {
    let Failure { message, cycle } = body(sim, seed).err()?.into();
    Some((message, cycle.unwrap_or_else(|| sim.cycle())))
}

/// [`run_seeded_with`] with a waveform of the last `window` clocks.
fn run_seeded_window<T: Cycles, E: Into<Failure>>(
    name: &str,
    seed: u64,
    window: u64,
    make: impl Fn(Option<Waveform>) -> std::io::Result<T>,
    body: impl Fn(&mut T, u64) -> Result<(), E>,
) {
    let mut sim = make(None).unwrap_or_else(|e| panic!("{name}: cannot build the simulator: {e}"));
    let Some((first, at)) = run_once(&mut sim, seed, &body) else {
        return;
    };
    drop(sim);
    let path = waves_dir().join(format!("{name}-{seed}.vcd"));
    let from_cycle = at.saturating_sub(window);
    let shown = format!(
        "{} (from clock {from_cycle}; the run failed at clock {at})",
        path.display()
    );
    let replay = match make(Some(Waveform {
        path: path.clone(),
        from_cycle,
    })) {
        Ok(mut sim) => {
            let r = run_once(&mut sim, seed, &body);
            drop(sim);
            match r {
                Some((e, c)) if e == first && c == at => format!("waveform: {shown}"),
                Some((e, c)) => {
                    format!("waveform: {shown} (replay failed differently, at clock {c}: {e})")
                }
                None => "replay with waveform passed: the run is not deterministic".to_string(),
            }
        }
        Err(e) => format!("could not write waveform {}: {e}", path.display()),
    };
    panic!("{name} failed with SKIPWALK_SEED={seed}: {first}\n{replay}");
}

/// A table memory behind a tagged read port, with random latency and random back-pressure:
/// the harness side of `pte_req_*` / `pte_rsp_*`.
///
/// Per cycle: [`MemoryModel::drive`] gives the values to put on the block's inputs, then,
/// after the block has settled, [`MemoryModel::clock`] takes what the block did at the edge.
pub struct MemoryModel<M: abi::TableMemory> {
    /// The memory image tables are read from.
    pub mem: M,
    /// Latency range of a read, in cycles after the request is accepted.
    pub latency: std::ops::RangeInclusive<u64>,
    /// Probability that the request channel is ready in a cycle.
    pub ready_prob: f64,
    /// Table reads accepted so far.
    pub reads: u64,
    pending: std::collections::VecDeque<(u64, u64, u64, bool)>,
    now: u64,
    ready: bool,
}

/// What a [`MemoryModel`] drives onto the block in one cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryDrive {
    /// `pte_req_ready`.
    pub req_ready: bool,
    /// `pte_rsp_valid` with `(data, tag, error)`.
    pub rsp: Option<(u64, u64, bool)>,
}

impl<M: abi::TableMemory> MemoryModel<M> {
    /// A model over `mem` with the given latency range and ready probability.
    pub fn new(mem: M, latency: std::ops::RangeInclusive<u64>, ready_prob: f64) -> Self {
        MemoryModel {
            mem,
            latency,
            ready_prob,
            reads: 0,
            pending: Default::default(),
            now: 0,
            ready: false,
        }
    }

    /// Inputs for this cycle. Responses come back in request order.
    pub fn drive(&mut self, rng: &mut impl rand::Rng) -> MemoryDrive {
        self.ready = rng.gen_bool(self.ready_prob);
        let rsp = self
            .pending
            .front()
            .filter(|p| p.0 <= self.now)
            .map(|p| (p.1, p.2, p.3));
        MemoryDrive {
            req_ready: self.ready,
            rsp,
        }
    }

    /// Takes the block's outputs at the clock edge: a request fires when valid and ready; the
    /// driven response is consumed when the block was ready for it.
    pub fn clock(
        &mut self,
        rng: &mut impl rand::Rng,
        req_valid: bool,
        req_addr: u64,
        req_tag: u64,
        rsp_valid_driven: bool,
        rsp_ready: bool,
    ) {
        if rsp_valid_driven && rsp_ready {
            self.pending.pop_front();
        }
        if req_valid && self.ready {
            self.reads += 1;
            let lat = rng.gen_range(self.latency.clone());
            let (data, err) = match self.mem.read_u64(req_addr) {
                Some(d) => (d, false),
                None => (rng.gen(), true),
            };
            let at = (self.now + 1 + lat).max(self.pending.back().map_or(0, |p| p.0));
            self.pending.push_back((at, data, req_tag, err));
        }
        self.now += 1;
    }

    /// Reads accepted but not yet answered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

/// A block with the tagged table-read port (`pte_req_*`, `pte_rsp_*`), so one
/// [`MemoryModel`] can serve any of them.
pub trait TableReadPort {
    /// Puts the memory side's values on the block's inputs.
    fn drive_table_port(&mut self, d: &MemoryDrive);
    /// The block's outputs: `(pte_req_valid, pte_req_addr, pte_req_tag, pte_rsp_ready)`.
    fn table_port(&self) -> (bool, u64, u64, bool);
}

/// Implements [`TableReadPort`] for blocks whose ports carry the usual names.
#[macro_export]
macro_rules! table_read_port {
    ($($t:ty),* $(,)?) => {
        $(impl $crate::bench::TableReadPort for $t {
            fn drive_table_port(&mut self, d: &$crate::bench::MemoryDrive) {
                self.pte_req_ready.next = d.req_ready;
                self.pte_rsp_valid.next = d.rsp.is_some();
                if let Some((data, tag, err)) = d.rsp {
                    self.pte_rsp_data.next = data.into();
                    self.pte_rsp_tag.next = tag.into();
                    self.pte_rsp_error.next = err;
                }
            }
            fn table_port(&self) -> (bool, u64, u64, bool) {
                (
                    self.pte_req_valid.val(),
                    self.pte_req_addr.val().to_u64(),
                    self.pte_req_tag.val().to_u64(),
                    self.pte_rsp_ready.val(),
                )
            }
        })*
    };
}

impl<M: abi::TableMemory> MemoryModel<M> {
    /// [`MemoryModel::drive`], straight onto the block's inputs.
    pub fn drive_port(
        &mut self,
        rng: &mut impl rand::Rng,
        uut: &mut impl TableReadPort,
    ) -> MemoryDrive {
        let d = self.drive(rng);
        uut.drive_table_port(&d);
        d
    }

    /// [`MemoryModel::clock`], from the block's settled outputs.
    pub fn clock_port(
        &mut self,
        rng: &mut impl rand::Rng,
        uut: &impl TableReadPort,
        d: &MemoryDrive,
    ) {
        let (req_valid, addr, tag, rsp_ready) = uut.table_port();
        self.clock(rng, req_valid, addr, tag, d.rsp.is_some(), rsp_ready);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    /// A simulator that only counts clocks.
    struct Counter(u64);

    impl Cycles for Counter {
        fn cycle(&self) -> u64 {
            self.0
        }
    }

    /// Runs a body that fails at clock `fail_at` (through `Failure::at` when `explicit`, else
    /// by returning there); the panic message and the waveforms `make` was asked for.
    fn fail_at(fail_at: u64, window: u64, explicit: bool) -> (String, Vec<Option<Waveform>>) {
        let asked = RefCell::new(vec![]);
        let r = catch_unwind(AssertUnwindSafe(|| {
            run_seeded_window(
                "harness",
                7,
                window,
                |w| {
                    asked.borrow_mut().push(w);
                    Ok(Counter(0))
                },
                |sim, _| {
                    let stop = if explicit { fail_at + 1_000 } else { fail_at };
                    while sim.0 < stop {
                        sim.0 += 1;
                    }
                    if explicit {
                        Err(Failure::at(fail_at, "logged earlier"))
                    } else {
                        Err(Failure::from(format!("wrong at {}", sim.0)))
                    }
                },
            )
        }));
        let panic = r.expect_err("a failing body must panic");
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .expect("a formatted panic message");
        (msg, asked.into_inner())
    }

    #[test]
    fn replay_records_the_window_before_the_failing_clock() {
        let path = waves_dir().join("harness-7.vcd");
        let (msg, asked) = fail_at(1_000_000, DEFAULT_WAVE_CLOCKS, false);
        assert_eq!(
            asked,
            [
                None,
                Some(Waveform {
                    path: path.clone(),
                    from_cycle: 600_000
                })
            ]
        );
        assert!(msg.starts_with("harness failed with SKIPWALK_SEED=7: wrong at 1000000\n"));
        assert!(
            msg.contains(&format!("waveform: {}", path.display())),
            "{msg}"
        );
        assert!(!msg.contains("differently"), "{msg}");
    }

    #[test]
    fn window_saturates_at_clock_zero_and_failure_names_its_clock() {
        let (_, asked) = fail_at(30, 100, false);
        assert_eq!(asked[1].as_ref().map(|w| w.from_cycle), Some(0));
        let (msg, asked) = fail_at(5_000, 100, true);
        assert_eq!(asked[1].as_ref().map(|w| w.from_cycle), Some(4_900));
        assert!(msg.contains("the run failed at clock 5000"), "{msg}");
    }

    #[test]
    fn replay_that_differs_or_passes_is_reported() {
        for (replay, expect) in [
            (
                Some("second"),
                "replay failed differently, at clock 10: second",
            ),
            (None, "replay with waveform passed"),
        ] {
            let runs = std::cell::Cell::new(0);
            let r = catch_unwind(AssertUnwindSafe(|| {
                run_seeded_with(
                    "harness",
                    7,
                    |_| Ok(Counter(0)),
                    |sim, _| {
                        runs.set(runs.get() + 1);
                        sim.0 = 10;
                        match (runs.get(), replay) {
                            (1, _) => Err("first"),
                            (_, Some(e)) => Err(e),
                            (_, None) => Ok(()),
                        }
                    },
                )
            }));
            let msg = r.expect_err("a failing body must panic");
            let msg = msg
                .downcast_ref::<String>()
                .expect("a formatted panic message");
            assert!(
                msg.starts_with("harness failed with SKIPWALK_SEED=7: first"),
                "{msg}"
            );
            assert!(msg.contains(expect), "{msg}");
        }
    }

    #[test]
    fn passing_run_builds_no_waveform() {
        let asked = RefCell::new(vec![]);
        run_seeded_with(
            "harness",
            7,
            |w| {
                asked.borrow_mut().push(w);
                Ok(Counter(0))
            },
            |_, _| Ok::<(), String>(()),
        );
        assert_eq!(asked.into_inner(), [None]);
    }
}
