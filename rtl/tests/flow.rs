//! The FPGA flow end to end on a small block: lint, synthesis, and place and route inside the
//! timing wrapper, plus proof that a broken design is reported rather than passed.

use rtl::flow::{self, FlowError};
use rust_hdl::prelude::*;

/// A registered 32-bit adder with a synchronous reset and a `valid` flag that rises one cycle
/// after reset is released.
#[derive(LogicBlock)]
struct RegisteredAdder {
    clock: Signal<In, Clock>,
    reset: Signal<In, Bit>,
    a: Signal<In, Bits<32>>,
    b: Signal<In, Bits<32>>,
    sum: Signal<Out, Bits<32>>,
    valid: Signal<Out, Bit>,
    acc: DFF<Bits<32>>,
    seen: DFF<Bit>,
    zero: Constant<Bits<32>>,
}

impl RegisteredAdder {
    fn new() -> Self {
        RegisteredAdder {
            clock: Default::default(),
            reset: Default::default(),
            a: Default::default(),
            b: Default::default(),
            sum: Default::default(),
            valid: Default::default(),
            acc: Default::default(),
            seen: Default::default(),
            zero: Constant::new(0.into()),
        }
    }
}

impl Logic for RegisteredAdder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, acc, seen);
        self.acc.d.next = self.a.val() + self.b.val();
        self.seen.d.next = true;
        if self.reset.val() {
            self.acc.d.next = self.zero.val();
            self.seen.d.next = false;
        }
        self.sum.next = self.acc.q.val();
        self.valid.next = self.seen.q.val();
    }
}

fn adder_verilog() -> String {
    let mut block = RegisteredAdder::new();
    block.connect_all();
    generate_verilog(&block)
}

#[test]
fn adder_lints_synthesizes_and_meets_100_mhz() {
    let verilog = adder_verilog();
    flow::lint(&verilog, "flow_test_adder").expect("the adder lints clean");

    let synth = flow::synth(&verilog, "flow_test_adder").expect("the adder synthesizes");
    println!("synth: {synth}");
    assert_eq!(synth.flip_flops, 33, "32 sum bits and the valid flag");
    assert!(synth.carries >= 30, "a 32-bit add uses the carry chain");
    assert!(synth.luts >= 32);
    assert_eq!(synth.brams, 0);

    // The wrapper itself must lint clean too, or its warnings would hide the block's.
    let wrapped = flow::timing_wrapper(&verilog).expect("the adder can be wrapped");
    assert!(wrapped.contains("module dut$acc("));
    flow::lint(&wrapped, "flow_test_adder_wrapped").expect("the wrapped adder lints clean");

    let pnr = flow::place_and_route(&verilog, "flow_test_adder", 100.0)
        .expect("the wrapped adder places and routes");
    println!("place and route: {pnr}");
    assert!(pnr.fmax_mhz > 0.0);
    assert_eq!(
        pnr.block, synth,
        "place_and_route reports the block alone as synth does"
    );
    assert!(synth.logic_cells >= 33, "33 flip-flops need 33 logic cells");
    // 64 stimulus bits, the LFSR and the fold: the wrapper is not free.
    assert!(pnr.wrapper_cells >= 64 + 32);
    assert_eq!(pnr.logic_cells, synth.logic_cells + pnr.wrapper_cells);
    assert_eq!(pnr.brams, 0);
    assert_eq!(pnr.target_mhz, 100.0);
    assert_eq!(pnr.timing_met, pnr.fmax_mhz >= 100.0);
    assert!(
        pnr.timing_met,
        "a registered 32-bit adder runs at 100 MHz: {pnr}"
    );
    let bitstream = std::fs::metadata(&pnr.bitstream).expect("icepack wrote the bitstream");
    assert!(bitstream.len() > 0);
}

#[test]
fn an_unreachable_target_is_reported_not_hidden() {
    let pnr = flow::place_and_route(&adder_verilog(), "flow_test_adder_fast", 1000.0)
        .expect("a missed target is a report, not an error");
    assert!(!pnr.timing_met);
    assert!(pnr.margin_mhz() < 0.0);
}

#[test]
fn broken_verilog_fails_lint_naming_the_tool() {
    let broken = "module top(input wire clock, output reg q);\n    always @(posedge clock)\n        q <= undeclared_signal;\nendmodule\n";
    match flow::lint(broken, "flow_test_broken") {
        Err(FlowError::Tool { tool, tail, .. }) => {
            assert_eq!(tool, "verilator");
            assert!(tail.contains("undeclared_signal"), "log tail: {tail}");
        }
        other => panic!("expected a verilator failure, got {other:?}"),
    }
}

#[test]
fn default_warnings_are_fatal_in_lint() {
    // A case statement without default over a 2-bit selector: Verilator's CASEINCOMPLETE
    // warning is on by default and must fail the lint.
    let incomplete = "module top(input wire clock, input wire [1:0] s, output reg q);
    always @(posedge clock)
        case (s)
            2'd0: q <= 1'b0;
            2'd1: q <= 1'b1;
        endcase
endmodule
";
    let err = flow::lint(incomplete, "flow_test_warning").unwrap_err();
    assert!(
        matches!(
            err,
            FlowError::Tool {
                tool: "verilator",
                ..
            }
        ),
        "{err}"
    );
}

/// A board design on the Cu's pins: a counter on the eight LEDs.
#[derive(LogicBlock)]
struct LedCounter {
    clk: Signal<In, Clock>,
    led: Signal<Out, Bits<8>>,
    count: DFF<Bits<32>>,
    one: Constant<Bits<32>>,
}

impl Logic for LedCounter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clk, count);
        self.count.d.next = self.count.q.val() + self.one.val();
        self.led.next = self.count.q.val().get_bits::<8>(24);
    }
}

fn led_counter() -> (String, String) {
    let mut block = LedCounter {
        clk: Default::default(),
        led: Default::default(),
        count: Default::default(),
        one: Constant::new(1.into()),
    };
    block.connect_all();
    let mut pcf = String::from("set_io clk P7\n");
    for (i, pin) in ["J11", "K11", "K12", "K14", "L12", "L14", "M12", "N14"]
        .iter()
        .enumerate()
    {
        pcf += &format!("set_io led[{i}] {pin}\n");
    }
    (generate_verilog(&block), pcf)
}

#[test]
fn board_build_passes_its_gates_and_writes_a_report() {
    let (verilog, pcf) = led_counter();
    let report = flow::build_bitstream(&verilog, &pcf, "flow_test_board", Default::default())
        .unwrap_or_else(|e| panic!("{e}"));
    println!("{report}");
    assert!(report.timing_met && report.utilization_met);
    assert!(report.logic_cells >= 32 && report.logic_cells < 100);
    assert!(std::fs::metadata(&report.bitstream).unwrap().len() > 100_000);
    let json = std::fs::read_to_string(report.bitstream.with_file_name("report.json")).unwrap();
    assert!(json.contains("\"timing_met\": true") && json.contains("\"target_mhz\": 100.00"));
}

#[test]
fn board_build_fails_on_missed_timing_or_utilization() {
    let (verilog, pcf) = led_counter();
    let fast = flow::BoardTarget {
        freq_mhz: 900.0,
        ..Default::default()
    };
    match flow::build_bitstream(&verilog, &pcf, "flow_test_board_fast", fast) {
        Err(FlowError::NotFit {
            reasons, report, ..
        }) => {
            assert!(reasons.contains("below the 900.00 MHz target"), "{reasons}");
            let json = std::fs::read_to_string(report).unwrap();
            assert!(json.contains("\"timing_met\": false"), "{json}");
        }
        other => panic!("a 900 MHz target must fail the build: {other:?}"),
    }
    let tiny = flow::BoardTarget {
        max_logic_cell_fraction: 0.001,
        ..Default::default()
    };
    match flow::build_bitstream(&verilog, &pcf, "flow_test_board_tiny", tiny) {
        Err(FlowError::NotFit { reasons, .. }) => {
            assert!(
                reasons.contains("logic cells exceed 0 % of 7680 (7)"),
                "{reasons}"
            );
        }
        other => panic!("a 7-cell limit must fail the build: {other:?}"),
    }
    // A name nothing declares (as Verilog from RustHDL shows when an update reads a Rust
    // constant by name) fails synthesis instead of becoming a floating wire.
    let undeclared = verilog.replacen(
        "endmodule",
        "wire stray_use;\nassign stray_use = NOT_DECLARED;\nendmodule",
        1,
    );
    assert_tool_fails(&undeclared, &pcf, "flow_test_board_undeclared", "yosys");
    // A pin the package does not have is a tool error, named as such.
    let bad_pcf = pcf.replace("J11", "Z99");
    assert_tool_fails(&verilog, &bad_pcf, "flow_test_board_pin", "nextpnr-ice40");
}

/// Builds the board design and checks that it fails as an error of `tool`.
fn assert_tool_fails(verilog: &str, pcf: &str, name: &str, tool: &str) {
    match flow::build_bitstream(verilog, pcf, name, Default::default()) {
        Err(FlowError::Tool { tool: failed, .. }) => assert_eq!(failed, tool),
        other => panic!("{name} must fail in {tool}: {other:?}"),
    }
}
