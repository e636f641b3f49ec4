//! Test bench support for RustHDL's simulator: direct clock stepping, seeded randomized runs,
//! and a VCD waveform under `target/waves/` whenever a run fails.
//!
//! A failing seeded run is replayed with waveform capture switched on (the run is
//! deterministic in its seed), so passing runs pay nothing for tracing.

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
}

impl<B: Clocked> Bench<B> {
    /// Connects `uut` and settles it with the clock low.
    pub fn new(mut uut: B) -> Bench<B> {
        uut.connect_all();
        let mut b = Bench {
            uut,
            cycle: 0,
            vcd: None,
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

    /// Propagates input changes through the combinational logic (clock stays low).
    pub fn settle(&mut self) {
        assert!(
            simulate(&mut self.uut, SETTLE_ITERS),
            "logic did not settle at cycle {}",
            self.cycle
        );
    }

    fn record(&mut self, t: u64) {
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

/// Runs `body` on a fresh bench of `make()` with `seed`. On failure the run is repeated with
/// waveform capture into `target/waves/<name>-<seed>.vcd`, and the test panics naming the seed
/// (rerun with `SKIPWALK_SEED=<seed>`) and the waveform.
pub fn run_seeded<B: Clocked>(
    name: &str,
    seed: u64,
    make: impl Fn() -> B,
    body: impl Fn(&mut Bench<B>, u64) -> Result<(), String>,
) {
    run_seeded_with(
        name,
        seed,
        |waves| match waves {
            None => Ok(Bench::new(make())),
            Some(path) => Bench::with_waveform(make(), path),
        },
        body,
    );
}

/// [`run_seeded`] for any simulator: `make(None)` builds a fresh one, `make(Some(path))` one
/// that records a waveform into `path`.
pub fn run_seeded_with<T>(
    name: &str,
    seed: u64,
    make: impl Fn(Option<&std::path::Path>) -> std::io::Result<T>,
    body: impl Fn(&mut T, u64) -> Result<(), String>,
) {
    let mut sim = make(None).unwrap_or_else(|e| panic!("{name}: cannot build the simulator: {e}"));
    let Err(first) = body(&mut sim, seed) else {
        return;
    };
    drop(sim);
    let path = waves_dir().join(format!("{name}-{seed}.vcd"));
    let replay = match make(Some(&path)) {
        Ok(mut sim) => {
            let r = body(&mut sim, seed);
            drop(sim);
            match r {
                Err(e) if e == first => format!("waveform: {}", path.display()),
                Err(e) => format!(
                    "waveform: {} (replay failed differently: {e})",
                    path.display()
                ),
                Ok(()) => "replay with waveform passed: the run is not deterministic".to_string(),
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
