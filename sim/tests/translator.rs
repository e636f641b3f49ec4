//! The translator's differential test on the Verilator model of its Verilog, alone and in
//! lockstep with RustHDL's simulator (every output compared every cycle).

use rtl::bench::{run_seeded_with, test_seed, Bench};
use rtl::translator::Translator;
use rtl::translator_bench::{differential, TranslatorInputs, TranslatorOutputs, TranslatorSim};
use sim::VTranslator;

/// Runs `body` on a fresh model, replaying a failure with a waveform of the clocks before it.
fn run_seeded(name: &str, seed: u64, body: impl Fn(&mut VTranslator, u64) -> Result<(), String>) {
    run_seeded_with(
        name,
        seed,
        |waves| match waves {
            None => Ok(VTranslator::new()),
            Some(w) => VTranslator::with_waveform_from(&w.path, w.from_cycle),
        },
        body,
    );
}

#[test]
fn verilog_translator_matches_golden_model_10k_requests() {
    run_seeded("verilator-translator", test_seed(), |m, s| {
        differential(m, s, 10_000, 0..=200)
    });
}

#[test]
fn verilog_translator_matches_golden_model_at_zero_latency() {
    run_seeded("verilator-translator-fast", test_seed(), |m, s| {
        differential(m, s, 3_000, 0..=2)
    });
}

/// Both simulators, driven alike; any output that differs in any cycle fails.
struct Lockstep {
    verilog: VTranslator,
    rusthdl: Bench<Translator>,
}

impl TranslatorSim for Lockstep {
    fn drive(&mut self, inputs: &TranslatorInputs) {
        self.verilog.drive(inputs);
        self.rusthdl.drive(inputs);
    }

    fn outputs(&self) -> TranslatorOutputs {
        let (v, r) = (self.verilog.outputs(), self.rusthdl.outputs());
        assert_eq!(
            format!("{v:?}"),
            format!("{r:?}"),
            "Verilator and RustHDL disagree at cycle {}",
            self.verilog.cycle()
        );
        v
    }

    fn tick(&mut self) {
        self.verilog.tick();
        TranslatorSim::tick(&mut self.rusthdl);
    }
}

#[test]
fn verilator_and_rusthdl_agree_cycle_by_cycle() {
    let seed = test_seed();
    let mut both = Lockstep {
        verilog: VTranslator::new(),
        rusthdl: Bench::new(Translator::new()),
    };
    if let Err(e) = differential(&mut both, seed, 2_000, 0..=40) {
        panic!("lockstep failed with SKIPWALK_SEED={seed}: {e}");
    }
}
