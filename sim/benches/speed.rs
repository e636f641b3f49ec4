//! Simulation speed of the `Translator`: clock cycles per second of the Verilator model and
//! of RustHDL's simulator, each running the same randomized differential test. Prints JSON.
//!
//! `cargo bench -p sim --bench speed`

use std::time::Instant;

use rtl::bench::Bench;
use rtl::translator::Translator;
use rtl::translator_bench::{differential, TranslatorInputs, TranslatorOutputs, TranslatorSim};
use sim::VTranslator;

/// Counts the clock cycles of the simulator it wraps.
struct Counted<S> {
    sim: S,
    cycles: u64,
}

impl<S: TranslatorSim> TranslatorSim for Counted<S> {
    fn drive(&mut self, inputs: &TranslatorInputs) {
        self.sim.drive(inputs);
    }
    fn outputs(&self) -> TranslatorOutputs {
        self.sim.outputs()
    }
    fn tick(&mut self) {
        self.cycles += 1;
        self.sim.tick();
    }
}

/// Cycles per second of `sim` on `requests` translations (seed fixed, so both simulators run
/// the same cycles).
fn rate<S: TranslatorSim>(sim: S, requests: u64) -> (u64, f64) {
    let mut c = Counted { sim, cycles: 0 };
    let start = Instant::now();
    differential(&mut c, 7, requests, 0..=60).expect("the differential test passes");
    (c.cycles, c.cycles as f64 / start.elapsed().as_secs_f64())
}

fn main() {
    eprintln!("Verilator model");
    let (vc, vr) = rate(VTranslator::new(), 10_000);
    eprintln!("RustHDL simulator");
    let (rc, rr) = rate(Bench::new(Translator::new()), 2_000);
    println!(
        "{{\"verilator\": {{\"cycles\": {vc}, \"cycles_per_second\": {vr:.0}}}, \"rusthdl\": {{\"cycles\": {rc}, \"cycles_per_second\": {rr:.0}}}, \"note\": \"cycles include the Rust test bench (golden model, table memory, random stalls)\"}}"
    );
}
