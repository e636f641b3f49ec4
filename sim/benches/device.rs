//! The Device's Verilog in Verilator, the four translation modes side by side at one host
//! memory latency: table reads per translation, cycles per 64-byte descriptor with 4 VIs
//! busy, doorbell-to-completion latency of a 64-byte send (p50), payload efficiency of 4 KiB
//! sends (payload words per cycle; the host port moves one word per cycle per direction), and
//! the model's simulation speed. Prints JSON on stdout, progress on stderr. The measuring is
//! [`sim::bench`]'s; this only parses the arguments and prints.
//!
//! `cargo bench -p sim --bench device [-- --latency CYCLES] [-- --quick]`

use sim::bench::{self, BenchConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cfg = BenchConfig {
        quick: args.iter().any(|a| a == "--quick"),
        latency: args
            .iter()
            .position(|a| a == "--latency")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(BenchConfig::default().latency),
    };
    let r = bench::run(&cfg, &mut |line| eprintln!("{line}"));
    assert_eq!(r.firewall_violations, 0, "DMA firewall violations");
    let rows: Vec<String> = r
        .modes
        .iter()
        .map(|(name, f)| format!("    \"{name}\": {}", f.json()))
        .collect();
    println!(
        "{{\n  \"mem_latency_cycles\": {},\n  \"modes\": {{\n{}\n  }},\n  \"verilator_cycles_per_second\": {{\"model\": {:.0}, \"with_host_model\": {:.0}}},\n  \"note\": \"Device Verilog in Verilator; 64 B: 4 VIs keep their send queues full, frames sunk without stalls; latency: doorbell write taken to CQ entry in memory, idle device; 4 KiB: one VI, page-aligned sends; simulation speed: model = time inside the Verilator model only, with_host_model = wall clock including the Rust host model and testbed\"\n}}",
        r.mem_latency_cycles,
        rows.join(",\n"),
        r.model_cycles_per_second(),
        r.cycles_per_second()
    );
}
