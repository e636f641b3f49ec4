//! The generated Verilog of the translation core must be hardware: it lints clean under
//! Verilator, synthesizes for the iCE40 HX8K with yosys, and has no bare 32-bit literal in
//! arithmetic or comparisons (where RustHDL's simulator and the Verilog would disagree).

use rtl::flow;
use rtl::verilog::{blocks, literal_width_hazards};

#[test]
fn every_block_lints_and_has_no_literal_width_hazard() {
    for (name, text) in blocks() {
        let hazards = literal_width_hazards(&text);
        assert!(
            hazards.is_empty(),
            "{name}: bare literals in arithmetic:\n{}",
            hazards.join("\n")
        );
        flow::lint(&text, &format!("lint-{name}")).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn hazard_scan_finds_what_it_looks_for() {
    let bad = "    x = (a + 32'h1) >> 32'h1;\n    y = b == 32'h3;\n";
    assert_eq!(literal_width_hazards(bad).len(), 2);
    let fine = "    x = a[(32'h4)+:(8)] << 32'h2;\n    q <= 32'h0;\n    z = 32'h5;\n";
    assert!(
        literal_width_hazards(fine).is_empty(),
        "{:?}",
        literal_width_hazards(fine)
    );
}

#[test]
fn translator_synthesizes_for_ice40() {
    let (_, text) = blocks().into_iter().next().expect("translator first");
    let report = flow::synth(&text, "synth-translator").unwrap_or_else(|e| panic!("{e}"));
    println!("translator: {report:?}");
    assert!(report.logic_cells > 0 && report.logic_cells < flow::HX8K_LOGIC_CELLS);
    // Round keys, the PD table and the cache live in block RAM, not in flip-flops.
    assert!(report.brams >= 3, "block RAMs inferred: {}", report.brams);
}
