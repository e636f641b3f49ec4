//! Places and routes one block alone on the HX8K at 100 MHz (inside the flow's timing
//! wrapper) and prints its logic cells, block RAMs and fmax; the nextpnr log with the critical
//! path is under `target/flow/place-<block>/`.
//!
//! `cargo run --release -p rtl --example place -- <block>`, block one of: bridge, device,
//! translator, queue_manager, send_engine, rx_engine (the whole board top level is
//! `skipwalk bitstream`).

use rtl::verilog::verilog_of;

fn main() {
    let block = std::env::args().nth(1).unwrap_or_default();
    let verilog = match block.as_str() {
        "bridge" => verilog_of(rtl::bridge::Bridge::default()),
        "device" => verilog_of(rtl::device::Device::default()),
        "translator" => verilog_of(rtl::translator::Translator::new()),
        "queue_manager" => verilog_of(rtl::queue_manager::QueueManager::default()),
        "send_engine" => verilog_of(rtl::send_engine::SendEngine::default()),
        "rx_engine" => verilog_of(rtl::rx_engine::RxEngine::default()),
        other => {
            eprintln!(
                "unknown block {other:?}: bridge, device, translator, queue_manager, \
                 send_engine or rx_engine"
            );
            std::process::exit(2);
        }
    };
    match rtl::flow::place_and_route(&verilog, &format!("place-{block}"), 100.0) {
        Ok(r) => println!(
            "{block}: {} logic cells ({} with the wrapper), {} block RAMs, fmax {:.2} MHz",
            r.block.logic_cells, r.logic_cells, r.brams, r.fmax_mhz
        ),
        Err(e) => {
            eprintln!("{block}: {e}");
            std::process::exit(1);
        }
    }
}
