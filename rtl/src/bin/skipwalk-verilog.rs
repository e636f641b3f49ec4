//! Writes the Verilog of every translation-core block into a directory.
//!
//! Usage: `skipwalk-verilog [DIR]` (default `target/verilog`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "target/verilog".into()));
    if let Some(extra) = args.next() {
        eprintln!("unexpected argument {extra:?}; usage: skipwalk-verilog [DIR]");
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("cannot create {}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for (name, text) in rtl::verilog::blocks() {
        let path = dir.join(format!("{name}.v"));
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
        println!("{}", path.display());
    }
    ExitCode::SUCCESS
}
