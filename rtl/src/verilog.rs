//! The generated Verilog: what ships.
//!
//! Every block, from the translation core's to the `Device`, connected and turned into Verilog by RustHDL. The
//! `skipwalk-verilog` binary writes these files; the tests lint and synthesize them.

use rust_hdl::prelude::*;

use crate::cu_top::CuTop;
use crate::device::Device;
use crate::prot_table::ProtTable;
use crate::queue_manager::QueueManager;
use crate::rx_engine::RxEngine;
use crate::send_engine::SendEngine;
use crate::shortcut_check::ShortcutCheck;
use crate::speck_decrypt::SpeckDecrypt;
use crate::translator::Translator;
use crate::uart_rx::UartRx;
use crate::uart_tx::UartTx;
use crate::walker::Walker;
use crate::xlate_cache::XlateCache;

/// The Verilog of `block` (top module `top`).
pub fn verilog_of<B: Block>(mut block: B) -> String {
    block.connect_all();
    generate_verilog(&block)
}

/// Every block by file name (without `.v`), the `Translator` first.
pub fn blocks() -> Vec<(&'static str, String)> {
    vec![
        ("translator", verilog_of(Translator::new())),
        ("speck_decrypt", verilog_of(SpeckDecrypt::default())),
        ("shortcut_check", verilog_of(ShortcutCheck::default())),
        ("walker", verilog_of(Walker::default())),
        ("prot_table", verilog_of(ProtTable::default())),
        ("xlate_cache", verilog_of(XlateCache::default())),
        ("queue_manager", verilog_of(QueueManager::default())),
        ("send_engine", verilog_of(SendEngine::default())),
        ("rx_engine", verilog_of(RxEngine::default())),
        ("device", verilog_of(Device::default())),
        ("uart_tx", verilog_of(UartTx::default())),
        ("uart_rx", verilog_of(UartRx::default())),
        ("bridge", verilog_of(crate::bridge::bridge_for_simulation())),
        // The virtual board: the Cu top level at the simulation baud rate.
        ("cu_top", verilog_of(CuTop::for_simulation())),
    ]
}

/// Places in `verilog` where a bare 32-bit literal meets arithmetic or a comparison: the
/// expressions where RustHDL's simulator and the Verilog disagree (see the crate docs). Shift
/// amounts, part-select offsets, case labels and plain assignments are not affected and are
/// not reported.
pub fn literal_width_hazards(verilog: &str) -> Vec<String> {
    let mut found = vec![];
    for (n, line) in verilog.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut at = 0;
        while let Some(i) = code[at..].find("32'h") {
            let start = at + i;
            let mut end = start + 4;
            while end < bytes.len() && bytes[end].is_ascii_hexdigit() {
                end += 1;
            }
            let before = code[..start].trim_end();
            let after = code[end..].trim_start();
            let op_before = ["+", "-", "*", "<", ">", "==", "!=", "<=", ">="]
                .iter()
                .any(|op| {
                    before.ends_with(op) && !before.ends_with("<<") && !before.ends_with(">>")
                });
            let op_after = ["+", "-", "*", "<", ">", "==", "!="].iter().any(|op| {
                after.starts_with(op) && !after.starts_with("<<") && !after.starts_with(">>")
            });
            // `x <= 32'h..;` inside an always block is a non-blocking assignment.
            let nonblocking = before.ends_with("<=") && after.starts_with(';');
            if (op_before || op_after) && !nonblocking {
                found.push(format!("line {}: {}", n + 1, line.trim()));
            }
            at = end;
        }
    }
    found
}
