//! The FPGA flow for tests and benchmarks: lint, synthesis, and place and route for the iCE40
//! HX8K of the Alchitry Cu, run through the real tools with every exit code checked.
//!
//! | step                | runs                                                     | answers                       |
//! |---------------------|----------------------------------------------------------|-------------------------------|
//! | [`lint`]            | `verilator --lint-only`                                  | does the Verilog lint clean   |
//! | [`synth`]           | `yosys` (`synth_ice40`, `stat`), `nextpnr-ice40 --pack-only` | cells of the block alone  |
//! | [`place_and_route`] | [`synth`], [`timing_wrapper`], `yosys`, `nextpnr-ice40`, `icepack` | fmax, placed size   |
//!
//! Every step works in its own directory `target/flow/<name>/` (under `CARGO_TARGET_DIR` when
//! that is set) and leaves its inputs, outputs and one log per tool there, so a failure can be
//! replayed by hand. A failing tool becomes a [`FlowError`] that names the tool, its exit
//! status, its log file and the log's last lines.
//!
//! The functions take the Verilog text of one RustHDL block (`generate_verilog`), whose top
//! module is always `top`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Logic cells (LUT4 + flip-flop + carry) of the iCE40 HX8K.
pub const HX8K_LOGIC_CELLS: u64 = 7680;
/// 4-Kbit block RAMs of the iCE40 HX8K.
pub const HX8K_BRAMS: u64 = 32;
/// Package pin of the Alchitry Cu's 100 MHz oscillator.
pub const CLOCK_PIN: &str = "P7";
/// Package pin of the Alchitry Cu's first LED, used for the wrapper's single output.
pub const OUT_PIN: &str = "J11";

/// Lines of a tool's log quoted in an error.
const LOG_TAIL_LINES: usize = 40;
/// Cycles the wrapper holds a `reset` input after configuration.
const POWER_ON_RESET_CYCLES: u32 = 15;
/// Width of the wrapper's stimulus LFSR.
const LFSR_BITS: usize = 32;
/// Taps of a maximal-length 32-bit LFSR (x^32 + x^22 + x^2 + x + 1), as bit indices.
const LFSR_TAPS: [usize; 4] = [31, 21, 1, 0];
/// Inputs of one XOR in the wrapper's output fold: one LUT4 per XOR, one register per level.
const FOLD_ARITY: usize = 4;

/// Why a flow step failed.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The design name cannot name a directory.
    #[error(
        "design name {0:?} is not usable as a directory name: use letters, digits, '_' and '-'"
    )]
    BadName(String),
    /// A file of the flow could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A tool could not be started at all.
    #[error(
        "could not run {tool} (is it installed? `make deps` installs the FPGA tools): {source}"
    )]
    Spawn {
        /// The tool.
        tool: &'static str,
        /// Why it did not start.
        source: std::io::Error,
    },
    /// A tool ran and failed.
    #[error("{tool} failed ({status}) on design {design}; full log {log}; last lines:\n{tail}")]
    Tool {
        /// The tool.
        tool: &'static str,
        /// The design name.
        design: String,
        /// Exit status as the OS reports it.
        status: String,
        /// The tool's complete log.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// A tool succeeded but its output did not contain what the flow reads from it.
    #[error("no {what} in the output of {tool}; full log {log}; last lines:\n{tail}")]
    Report {
        /// The tool.
        tool: &'static str,
        /// What was looked for.
        what: &'static str,
        /// The tool's complete log.
        log: PathBuf,
        /// The log's last lines.
        tail: String,
    },
    /// The Verilog does not have the shape RustHDL generates, so it cannot be wrapped.
    #[error("cannot wrap the design for place and route: {0}")]
    Wrap(String),
    /// The placed and routed design misses its clock target or uses too much of the chip
    /// (the bitstream and the report were written all the same).
    #[error("design {design} is not fit for the board: {reasons}; report {report}")]
    NotFit {
        /// The design name.
        design: String,
        /// Every gate that failed.
        reasons: String,
        /// The JSON report.
        report: PathBuf,
    },
}

/// Result of a flow step.
pub type Result<T> = std::result::Result<T, FlowError>;

/// The block alone after `synth_ice40` (cell counts from yosys's `stat`) and after nextpnr's
/// packer (logic cells).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SynthReport {
    /// `SB_LUT4` cells.
    pub luts: u64,
    /// Flip-flops: every `SB_DFF*` variant (enables, sets, resets, negative edges) summed.
    pub flip_flops: u64,
    /// `SB_CARRY` cells.
    pub carries: u64,
    /// `SB_RAM40_4K` block RAMs.
    pub brams: u64,
    /// Every cell type with its count, including the ones above.
    pub cells: Vec<(String, u64)>,
    /// Logic cells (`ICESTORM_LC`) after `nextpnr-ice40 --pack-only`: a logic cell holds one
    /// LUT4, one flip-flop and one carry, and the packer decides which share a cell, so this
    /// is the count the block would occupy, not a guess from the three numbers above. The
    /// ports are left as ports; packing does not check them against the package's pins.
    pub logic_cells: u64,
}

impl fmt::Display for SynthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} logic cells ({} LUT4, {} flip-flops, {} carries), {} BRAMs",
            self.logic_cells, self.luts, self.flip_flops, self.carries, self.brams,
        )
    }
}

/// What place and route measured for a block inside its [`timing_wrapper`].
#[derive(Clone, Debug, PartialEq)]
pub struct PnrReport {
    /// Logic cells (`ICESTORM_LC`) of the placed design: the block **and** its timing wrapper.
    pub logic_cells: u64,
    /// The block synthesized and packed on its own, without the wrapper (see [`synth`]):
    /// `block.logic_cells` is the block's size.
    pub block: SynthReport,
    /// `logic_cells - block.logic_cells`: what the wrapper costs. It is about one cell per
    /// input bit of the block (the stimulus shift register), 32 for the LFSR, a few for the
    /// reset counter and one per three to four output bits (the XOR fold), plus or minus the
    /// few cells that optimization across the block's boundary adds or saves.
    pub wrapper_cells: u64,
    /// Block RAMs (`ICESTORM_RAM`) used; the wrapper uses none.
    pub brams: u64,
    /// Highest clock frequency of the placed and routed design, in MHz, from nextpnr's timing
    /// analysis after routing (the slowest clock when there are several). The wrapper's
    /// registers drive the block's inputs directly (the reset through one LUT) and its fold
    /// puts one LUT after the block's outputs, so the critical path is the block's.
    pub fmax_mhz: f64,
    /// Frequency nextpnr was asked to meet, in MHz.
    pub target_mhz: f64,
    /// nextpnr succeeded and `fmax_mhz >= target_mhz`.
    pub timing_met: bool,
    /// The bitstream `icepack` wrote.
    pub bitstream: PathBuf,
    /// nextpnr's complete log.
    pub log: PathBuf,
}

impl PnrReport {
    /// How far fmax is above (positive) or below (negative) the target, in MHz.
    pub fn margin_mhz(&self) -> f64 {
        self.fmax_mhz - self.target_mhz
    }
}

impl fmt::Display for PnrReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block {} logic cells, {} BRAMs; placed with wrapper {} of {HX8K_LOGIC_CELLS} logic \
             cells ({} wrapper), {} of {HX8K_BRAMS} BRAMs; fmax {:.2} MHz for a {:.2} MHz target \
             ({}, {:+.2} MHz)",
            self.block.logic_cells,
            self.block.brams,
            self.logic_cells,
            self.wrapper_cells,
            self.brams,
            self.fmax_mhz,
            self.target_mhz,
            if self.timing_met { "met" } else { "missed" },
            self.margin_mhz(),
        )
    }
}

/// The directory where the flow works on design `name`: `<target>/flow/<name>/`.
pub fn flow_dir(name: &str) -> Result<PathBuf> {
    let usable = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !usable {
        return Err(FlowError::BadName(name.to_string()));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace.join(dir),
        None => workspace.join("target"),
    };
    Ok(target.join("flow").join(name))
}

fn work_dir(name: &str) -> Result<PathBuf> {
    let dir = flow_dir(name)?;
    std::fs::create_dir_all(&dir).map_err(|source| FlowError::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

fn write_file(path: PathBuf, text: &str) -> Result<PathBuf> {
    std::fs::write(&path, text).map_err(|source| FlowError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
}

/// One tool run in the work directory; its stdout and stderr go to `<step>.log`.
struct Run {
    log: PathBuf,
    text: String,
}

fn run(tool: &'static str, args: &[&str], dir: &Path, step: &str, design: &str) -> Result<Run> {
    let output = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|source| FlowError::Spawn { tool, source })?;
    // stderr last: that is where the tools put the error that ended the run.
    let text = format!(
        "$ {tool} {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let log = write_file(dir.join(format!("{step}.log")), &text)?;
    if !output.status.success() {
        return Err(FlowError::Tool {
            tool,
            design: design.to_string(),
            status: output.status.to_string(),
            log,
            tail: tail(&text),
        });
    }
    Ok(Run { log, text })
}

/// Lints the Verilog with Verilator's default warnings, every one of them fatal, except two
/// that RustHDL's output raises by construction:
/// - `WIDTH`: RustHDL writes bare literals as 32-bit constants (`32'h1`), so nearly every
///   expression with a literal mixes widths on purpose;
/// - `UNOPTFLAT`: RustHDL writes each module's combinational logic as one `always @(*)`
///   block, so a parent that feeds a child's input and reads one of its outputs forms a
///   cycle at block granularity even where no signal depends on itself.
///
/// Real combinational loops are then looked for bit by bit: yosys elaborates and flattens the
/// design and `check -assert` fails on any logic loop (or other structural problem).
pub fn lint(verilog: &str, name: &str) -> Result<()> {
    let dir = work_dir(name)?;
    write_file(dir.join("design.v"), verilog)?;
    run(
        "verilator",
        &[
            "--lint-only",
            "-Wno-WIDTH",
            "-Wno-UNOPTFLAT",
            "--top-module",
            "top",
            "design.v",
        ],
        &dir,
        "verilator-lint",
        name,
    )?;
    write_file(
        dir.join("loops.ys"),
        "read_verilog design.v\nhierarchy -top top\nproc\nflatten\ncheck -assert\n",
    )?;
    run(
        "yosys",
        &["-q", "-s", "loops.ys"],
        &dir,
        "yosys-check",
        name,
    )?;
    Ok(())
}

/// Runs `synth_ice40` on `source` (top module `top`), writes the netlist to `json`, and
/// returns the cell counts of `stat`; `logic_cells` is left 0 for the packer to fill in.
fn yosys_synth(
    dir: &Path,
    step: &str,
    source: &str,
    json: &str,
    design: &str,
) -> Result<SynthReport> {
    let stat_file = format!("{step}-stat.txt");
    // `-noautowire`: a name nothing declares is an error, not a new one-bit wire (which
    // would synthesize a design other than the one simulated).
    let script = format!(
        "read_verilog -noautowire {source}\nsynth_ice40 -top top -json {json}\ntee -q -o {stat_file} stat\n"
    );
    let script_file = format!("{step}.ys");
    write_file(dir.join(&script_file), &script)?;
    // A statistics file left by an earlier run must not pass for this run's.
    let _ = std::fs::remove_file(dir.join(&stat_file));
    let r = run("yosys", &["-q", "-s", &script_file], dir, step, design)?;
    let stat_path = dir.join(&stat_file);
    let stat = std::fs::read_to_string(&stat_path).map_err(|source| FlowError::Io {
        path: stat_path,
        source,
    })?;
    parse_stat(&stat).ok_or_else(|| FlowError::Report {
        tool: "yosys",
        what: "cell statistics of module top",
        log: r.log,
        tail: tail(&stat),
    })
}

/// Parses the `=== top ===` section of yosys's `stat` output.
fn parse_stat(stat: &str) -> Option<SynthReport> {
    let section = stat.split("=== top ===").nth(1)?;
    let section = section.split("===").next().unwrap_or(section);
    if !section.contains("Number of cells:") {
        return None;
    }
    let mut report = SynthReport::default();
    for line in section.lines() {
        let mut words = line.split_whitespace();
        let (Some(cell), Some(count), None) = (words.next(), words.next(), words.next()) else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        match cell {
            "SB_LUT4" => report.luts += count,
            "SB_CARRY" => report.carries += count,
            "SB_RAM40_4K" => report.brams += count,
            c if c.starts_with("SB_DFF") => report.flip_flops += count,
            _ => {}
        }
        report.cells.push((cell.to_string(), count));
    }
    Some(report)
}

/// Synthesizes the block for the iCE40 (`synth_ice40`), counts its cells, and packs them
/// into logic cells with `nextpnr-ice40 --pack-only`. The block is taken as it is, its ports
/// left as ports, so nothing but the block is counted.
pub fn synth(verilog: &str, name: &str) -> Result<SynthReport> {
    let dir = work_dir(name)?;
    write_file(dir.join("design.v"), verilog)?;
    let mut report = yosys_synth(&dir, "yosys-synth", "design.v", "synth.json", name)?;
    let pack = run(
        "nextpnr-ice40",
        &[
            "--hx8k",
            "--package",
            "cb132",
            "--json",
            "synth.json",
            "--pack-only",
        ],
        &dir,
        "nextpnr-pack",
        name,
    )?;
    report.logic_cells =
        parse_utilisation(&pack.text, "ICESTORM_LC").ok_or_else(|| FlowError::Report {
            tool: "nextpnr-ice40",
            what: "ICESTORM_LC utilisation",
            log: pack.log.clone(),
            tail: tail(&pack.text),
        })?;
    Ok(report)
}

/// Direction of a port of the wrapped block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

/// A port of module `top` as RustHDL declares it: `input wire  [31:0] a;`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Port {
    name: String,
    direction: Direction,
    width: usize,
}

fn parse_port(line: &str) -> Result<Option<Port>> {
    let decl = line.trim();
    let direction = match decl.split_whitespace().next() {
        Some("input") => Direction::Input,
        Some("output") => Direction::Output,
        Some("inout") => {
            return Err(FlowError::Wrap(format!(
                "bidirectional port `{decl}` cannot be driven from the wrapper"
            )))
        }
        _ => return Ok(None),
    };
    let bad = || FlowError::Wrap(format!("unexpected port declaration `{decl}`"));
    let body = decl.strip_suffix(';').ok_or_else(bad)?;
    let mut width = 1;
    let mut name = None;
    for word in body.split_whitespace().skip(1) {
        match word {
            "wire" | "reg" | "signed" => {}
            range if range.starts_with('[') => {
                let (hi, lo) = range
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split_once(':')
                    .ok_or_else(bad)?;
                let hi: usize = hi.trim().parse().map_err(|_| bad())?;
                let lo: usize = lo.trim().parse().map_err(|_| bad())?;
                width = hi.abs_diff(lo) + 1;
            }
            ident if name.is_none() => name = Some(ident.to_string()),
            _ => return Err(bad()),
        }
    }
    Ok(Some(Port {
        name: name.ok_or_else(bad)?,
        direction,
        width,
    }))
}

/// Ports of module `top`, in declaration order.
fn top_ports(verilog: &str) -> Result<Vec<Port>> {
    let mut lines = verilog.lines();
    lines
        .by_ref()
        .find(|l| module_declared(l) == Some("top"))
        .ok_or_else(|| FlowError::Wrap("the Verilog has no module `top`".to_string()))?;
    let mut ports = vec![];
    for line in lines.take_while(|l| !l.trim_start().starts_with("endmodule")) {
        if let Some(port) = parse_port(line)? {
            ports.push(port);
        }
    }
    if ports.is_empty() {
        return Err(FlowError::Wrap("module `top` has no ports".to_string()));
    }
    Ok(ports)
}

/// The module a `module NAME(...)` line declares.
fn module_declared(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("module")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let rest = rest.trim_start();
    let end = rest
        .find(|c: char| c == '(' || c == ';' || c == '#' || c.is_whitespace())
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn is_block_module(name: &str) -> bool {
    name == "top" || name.starts_with("top$")
}

fn block_to_dut(name: &str) -> String {
    format!("dut{}", &name["top".len()..])
}

/// Renames the block's module `top` to `dut` and its submodules `top$x` to `dut$x`: their
/// declarations, their `endmodule` comments and their instantiations. Signal names such as
/// `top$q` (a stub of a field called `top`) are left alone, because an instantiation is the
/// only statement that starts with a module name followed by an instance name and `(`.
fn rename_block(verilog: &str) -> String {
    let mut out = String::with_capacity(verilog.len() + 64);
    for line in verilog.lines() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let body = line.trim_start();
        let renamed = if let Some(name) = module_declared(line).filter(|n| is_block_module(n)) {
            let rest = &body["module".len()..].trim_start()[name.len()..];
            Some(format!("module {}{rest}", block_to_dut(name)))
        } else if let Some(name) = body
            .strip_prefix("endmodule // ")
            .filter(|n| is_block_module(n.trim()))
        {
            Some(format!("endmodule // {}", block_to_dut(name.trim())))
        } else {
            let first = body.split_whitespace().next().unwrap_or("");
            let after = body[first.len()..].trim_start();
            let instance_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
                .unwrap_or(after.len());
            let instantiation = is_block_module(first)
                && instance_len > 0
                && after[instance_len..].trim_start().starts_with('(');
            instantiation.then(|| format!("{}{}", block_to_dut(first), &body[first.len()..]))
        };
        out.push_str(indent);
        out.push_str(renamed.as_deref().unwrap_or(body));
        out.push('\n');
    }
    out
}

fn is_clock(p: &Port) -> bool {
    p.direction == Direction::Input && p.width == 1 && p.name == "clock"
}

fn reset_polarity(p: &Port) -> Option<bool> {
    if p.direction != Direction::Input || p.width != 1 {
        return None;
    }
    match p.name.as_str() {
        "reset" => Some(true),
        "reset_n" | "rst_n" => Some(false),
        _ => None,
    }
}

/// The wrapper module `top` around `dut` with these ports.
fn wrapper_module(ports: &[Port]) -> Result<String> {
    let stimulus: Vec<&Port> = ports
        .iter()
        .filter(|p| p.direction == Direction::Input && !is_clock(p) && reset_polarity(p).is_none())
        .collect();
    let outputs: Vec<&Port> = ports
        .iter()
        .filter(|p| p.direction == Direction::Output)
        .collect();
    if outputs.is_empty() {
        return Err(FlowError::Wrap(
            "module `top` has no outputs: everything would be optimized away".to_string(),
        ));
    }
    let stim_bits: usize = stimulus.iter().map(|p| p.width).sum();
    let out_bits: usize = outputs.iter().map(|p| p.width).sum();

    let mut w = String::new();
    let mut line = |s: &str| {
        w.push_str(s);
        w.push('\n');
    };
    line("// Timing wrapper: every input of `dut` comes from a register, every output is");
    line("// folded into one registered XOR, so the block places on the package alone and");
    line("// nothing of it is optimized away.");
    line("module top(input wire clk, output reg out);");
    if stim_bits > 0 {
        line("    // Stimulus: a maximal-length XNOR LFSR (the all-zero power-on state is legal)");
        line("    // shifting into one register bit per dut input bit.");
        line(&format!(
            "    reg [{}:0] lfsr = {LFSR_BITS}'h0;",
            LFSR_BITS - 1
        ));
        let taps: Vec<String> = LFSR_TAPS.iter().map(|t| format!("lfsr[{t}]")).collect();
        line("    always @(posedge clk)");
        line(&format!(
            "        lfsr <= {{lfsr[{}:0], ~({})}};",
            LFSR_BITS - 2,
            taps.join(" ^ ")
        ));
        line(&format!(
            "    reg [{}:0] stim = {stim_bits}'h0;",
            stim_bits - 1
        ));
        line("    always @(posedge clk)");
        if stim_bits == 1 {
            line(&format!("        stim <= lfsr[{}];", LFSR_BITS - 1));
        } else {
            line(&format!(
                "        stim <= {{stim[{}:0], lfsr[{}]}};",
                stim_bits - 2,
                LFSR_BITS - 1
            ));
        }
    }
    if ports.iter().any(|p| reset_polarity(p).is_some()) {
        line(&format!(
            "    // Power-on reset, held for {POWER_ON_RESET_CYCLES} cycles after configuration."
        ));
        line("    reg [3:0] por_count = 4'h0;");
        line(&format!(
            "    wire por = por_count != 4'd{POWER_ON_RESET_CYCLES};"
        ));
        line("    always @(posedge clk)");
        line("        if (por) por_count <= por_count + 4'd1;");
    }
    line("");
    for p in &outputs {
        line(&format!("    wire [{}:0] dut_o_{};", p.width - 1, p.name));
    }
    line("    dut dut_i(");
    let mut next_stim = 0;
    let connections: Vec<String> = ports
        .iter()
        .map(|p| {
            let source = if p.direction == Direction::Output {
                format!("dut_o_{}", p.name)
            } else if is_clock(p) {
                "clk".to_string()
            } else if let Some(active_high) = reset_polarity(p) {
                if active_high { "por" } else { "!por" }.to_string()
            } else {
                let lo = next_stim;
                next_stim += p.width;
                format!("stim[{}:{lo}]", next_stim - 1)
            };
            format!("        .{}({source})", p.name)
        })
        .collect();
    line(&connections.join(",\n"));
    line("    );");
    line("");
    line(&format!(
        "    // Output fold: {FOLD_ARITY} bits per XOR, one register level per XOR level."
    ));
    let all_outputs: Vec<String> = outputs
        .iter()
        .rev()
        .map(|p| format!("dut_o_{}", p.name))
        .collect();
    line(&format!(
        "    wire [{}:0] fold0 = {{{}}};",
        out_bits - 1,
        all_outputs.join(", ")
    ));
    let mut level = 0;
    let mut width = out_bits;
    while width > FOLD_ARITY {
        let next = width.div_ceil(FOLD_ARITY);
        line(&format!(
            "    reg [{}:0] fold{} = {next}'h0;",
            next - 1,
            level + 1
        ));
        line("    always @(posedge clk) begin");
        for i in 0..next {
            let lo = i * FOLD_ARITY;
            let hi = (lo + FOLD_ARITY).min(width) - 1;
            line(&format!(
                "        fold{}[{i}] <= ^fold{level}[{hi}:{lo}];",
                level + 1
            ));
        }
        line("    end");
        level += 1;
        width = next;
    }
    line("    initial out = 1'b0;");
    line("    always @(posedge clk)");
    line(&format!("        out <= ^fold{level};"));
    line("");
    line("endmodule // top");

    Ok(w)
}

/// Wraps a block for place and route on its own. A block has more ports than the package has
/// pins, so the returned Verilog has a new module `top(input wire clk, output reg out)` around
/// the block, renamed `dut` (its submodules `top$x` become `dut$x`):
/// - the block's `clock` input gets `clk`; an input `reset` (or active-low `reset_n`/`rst_n`)
///   gets a power-on reset held for 15 cycles;
/// - every other input bit gets its own bit of a shift register fed by a 32-bit LFSR, so the
///   inputs are registered, distinct and unknown to the synthesizer;
/// - every output bit goes into an XOR fold, pipelined one LUT level per register, so the
///   wrapper never limits fmax below what the block reaches: the block's paths end at its own
///   registers or, for combinational outputs, at the fold's first register after one LUT.
pub fn timing_wrapper(verilog: &str) -> Result<String> {
    let wrapper = wrapper_module(&top_ports(verilog)?)?;
    Ok(format!("{wrapper}\n{}", rename_block(verilog)))
}

/// Places and routes the block inside its [`timing_wrapper`] on the HX8K (cb132 package of the
/// Alchitry Cu: `clk` on P7, `out` on the LED at J11), asking nextpnr for `freq_mhz`, and packs
/// the bitstream. Missing timing is not an error: the report says by how much it was missed
/// (`timing_met`, `margin_mhz`) and the caller decides. Cells are counted for the placed
/// design, wrapper included; [`PnrReport::wrapper_cells`] says how many are the wrapper's.
pub fn place_and_route(verilog: &str, name: &str, freq_mhz: f64) -> Result<PnrReport> {
    let dir = work_dir(name)?;
    let wrapped = timing_wrapper(verilog)?;
    let block = synth(verilog, name)?;
    write_file(dir.join("wrapped.v"), &wrapped)?;
    yosys_synth(&dir, "yosys-wrapped", "wrapped.v", "wrapped.json", name)?;
    write_file(
        dir.join("pins.pcf"),
        &format!("set_io clk {CLOCK_PIN}\nset_io out {OUT_PIN}\n"),
    )?;
    let freq = format!("{freq_mhz}");
    let pnr = run(
        "nextpnr-ice40",
        &[
            "--hx8k",
            "--package",
            "cb132",
            "--pcf",
            "pins.pcf",
            "--freq",
            &freq,
            "--timing-allow-fail",
            "--json",
            "wrapped.json",
            "--asc",
            "wrapped.asc",
        ],
        &dir,
        "nextpnr",
        name,
    )?;
    run(
        "icepack",
        &["wrapped.asc", "wrapped.bin"],
        &dir,
        "icepack",
        name,
    )?;
    let missing = |what| FlowError::Report {
        tool: "nextpnr-ice40",
        what,
        log: pnr.log.clone(),
        tail: tail(&pnr.text),
    };
    let fmax_mhz =
        parse_fmax(&pnr.text).ok_or_else(|| missing("`Max frequency for clock` line"))?;
    let logic_cells = parse_utilisation(&pnr.text, "ICESTORM_LC")
        .ok_or_else(|| missing("ICESTORM_LC utilisation"))?;
    let brams = parse_utilisation(&pnr.text, "ICESTORM_RAM")
        .ok_or_else(|| missing("ICESTORM_RAM utilisation"))?;
    Ok(PnrReport {
        logic_cells,
        wrapper_cells: logic_cells.saturating_sub(block.logic_cells),
        block,
        brams,
        fmax_mhz,
        target_mhz: freq_mhz,
        timing_met: fmax_mhz >= freq_mhz,
        bitstream: dir.join("wrapped.bin"),
        log: pnr.log,
    })
}

/// Limits a board build must meet: [`build_bitstream`] fails when one is missed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BoardTarget {
    /// Clock frequency nextpnr is asked for and fmax must reach, in MHz.
    pub freq_mhz: f64,
    /// Largest share of the HX8K's logic cells the design may use (0 to 1).
    pub max_logic_cell_fraction: f64,
}

impl Default for BoardTarget {
    /// The Alchitry Cu's 100 MHz clock, at most 80 % of the logic cells.
    fn default() -> Self {
        BoardTarget {
            freq_mhz: f64::from(abi::board::BOARD_CLOCK_HZ) / 1e6,
            max_logic_cell_fraction: 0.8,
        }
    }
}

/// What the board build measured; written as `report.json` next to the bitstream.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardReport {
    /// The design name (its directory under `target/flow/`).
    pub design: String,
    /// Logic cells (`ICESTORM_LC`) used.
    pub logic_cells: u64,
    /// Block RAMs (`ICESTORM_RAM`) used.
    pub brams: u64,
    /// fmax after routing, in MHz (the slowest clock).
    pub fmax_mhz: f64,
    /// The limits the build was held to.
    pub target: BoardTarget,
    /// `fmax_mhz >= target.freq_mhz`.
    pub timing_met: bool,
    /// `logic_cells <= target.max_logic_cell_fraction * HX8K_LOGIC_CELLS`.
    pub utilization_met: bool,
    /// The bitstream `icepack` wrote.
    pub bitstream: PathBuf,
    /// nextpnr's complete log.
    pub log: PathBuf,
}

impl BoardReport {
    /// Logic cells the target allows.
    pub fn logic_cell_limit(&self) -> u64 {
        (self.target.max_logic_cell_fraction * HX8K_LOGIC_CELLS as f64).floor() as u64
    }

    /// The report as one JSON object.
    pub fn json(&self) -> String {
        format!(
            "{{\"design\": \"{}\", \"device\": \"iCE40 HX8K cb132 (Alchitry Cu)\", \
             \"logic_cells\": {}, \"logic_cells_available\": {HX8K_LOGIC_CELLS}, \
             \"logic_cell_fraction\": {:.4}, \"logic_cell_limit\": {}, \"brams\": {}, \
             \"brams_available\": {HX8K_BRAMS}, \"fmax_mhz\": {:.2}, \"target_mhz\": {:.2}, \
             \"timing_met\": {}, \"utilization_met\": {}, \"bitstream\": {:?}, \"log\": {:?}}}",
            self.design,
            self.logic_cells,
            self.logic_cells as f64 / HX8K_LOGIC_CELLS as f64,
            self.logic_cell_limit(),
            self.brams,
            self.fmax_mhz,
            self.target.freq_mhz,
            self.timing_met,
            self.utilization_met,
            self.bitstream.display().to_string(),
            self.log.display().to_string(),
        )
    }
}

impl fmt::Display for BoardReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} of {HX8K_LOGIC_CELLS} logic cells ({:.1} %, limit {}: {}), {} of \
             {HX8K_BRAMS} block RAMs, fmax {:.2} MHz for {:.2} MHz ({}); bitstream {}",
            self.design,
            self.logic_cells,
            100.0 * self.logic_cells as f64 / HX8K_LOGIC_CELLS as f64,
            self.logic_cell_limit(),
            if self.utilization_met {
                "met"
            } else {
                "MISSED"
            },
            self.brams,
            self.fmax_mhz,
            self.target.freq_mhz,
            if self.timing_met { "met" } else { "MISSED" },
            self.bitstream.display(),
        )
    }
}

/// Builds the bitstream of a board top level: `yosys` (`synth_ice40`) → `nextpnr-ice40
/// --hx8k --package cb132 --pcf <pcf> --freq <target>` → `icepack`, in
/// `target/flow/<name>/`. Writes `report.json` there, then fails when a tool failed, when
/// fmax is below the target, or when the design uses more logic cells than the target allows
/// ([`FlowError::NotFit`]); the report and the bitstream stay for inspection either way.
pub fn build_bitstream(
    verilog: &str,
    pcf: &str,
    name: &str,
    target: BoardTarget,
) -> Result<BoardReport> {
    let dir = work_dir(name)?;
    write_file(dir.join("top.v"), verilog)?;
    write_file(dir.join("top.pcf"), pcf)?;
    for stale in ["top.asc", "top.bin", "report.json"] {
        let _ = std::fs::remove_file(dir.join(stale));
    }
    yosys_synth(&dir, "yosys", "top.v", "top.json", name)?;
    let freq = format!("{}", target.freq_mhz);
    let pnr = run(
        "nextpnr-ice40",
        &[
            "--hx8k",
            "--package",
            "cb132",
            "--pcf",
            "top.pcf",
            "--freq",
            &freq,
            "--timing-allow-fail",
            "--json",
            "top.json",
            "--asc",
            "top.asc",
        ],
        &dir,
        "nextpnr",
        name,
    )?;
    run("icepack", &["top.asc", "top.bin"], &dir, "icepack", name)?;
    let missing = |what| FlowError::Report {
        tool: "nextpnr-ice40",
        what,
        log: pnr.log.clone(),
        tail: tail(&pnr.text),
    };
    let fmax_mhz =
        parse_fmax(&pnr.text).ok_or_else(|| missing("`Max frequency for clock` line"))?;
    let logic_cells = parse_utilisation(&pnr.text, "ICESTORM_LC")
        .ok_or_else(|| missing("ICESTORM_LC utilisation"))?;
    let brams = parse_utilisation(&pnr.text, "ICESTORM_RAM")
        .ok_or_else(|| missing("ICESTORM_RAM utilisation"))?;
    let mut report = BoardReport {
        design: name.to_string(),
        logic_cells,
        brams,
        fmax_mhz,
        target,
        timing_met: fmax_mhz >= target.freq_mhz,
        utilization_met: false,
        bitstream: dir.join("top.bin"),
        log: pnr.log,
    };
    report.utilization_met = logic_cells <= report.logic_cell_limit();
    let report_path = write_file(dir.join("report.json"), &(report.json() + "\n"))?;
    let mut reasons = vec![];
    if !report.timing_met {
        reasons.push(format!(
            "fmax {:.2} MHz is below the {:.2} MHz target",
            report.fmax_mhz, target.freq_mhz
        ));
    }
    if !report.utilization_met {
        reasons.push(format!(
            "{} logic cells exceed {:.0} % of {HX8K_LOGIC_CELLS} ({})",
            report.logic_cells,
            100.0 * target.max_logic_cell_fraction,
            report.logic_cell_limit()
        ));
    }
    if reasons.is_empty() {
        Ok(report)
    } else {
        Err(FlowError::NotFit {
            design: name.to_string(),
            reasons: reasons.join("; "),
            report: report_path,
        })
    }
}

/// fmax from nextpnr's last timing report (after routing): the slowest of the clocks listed
/// in lines like `Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 157.80 MHz (PASS at ...)`.
fn parse_fmax(log: &str) -> Option<f64> {
    let mut last_report: Vec<f64> = vec![];
    let mut in_report = false;
    for line in log.lines() {
        let Some((_, rest)) = line.split_once("Max frequency for clock") else {
            in_report = false;
            continue;
        };
        if !in_report {
            last_report.clear();
            in_report = true;
        }
        let (_, value) = rest.split_once("':")?;
        let mhz = value.split_whitespace().next()?.parse().ok()?;
        last_report.push(mhz);
    }
    last_report.into_iter().reduce(f64::min)
}

/// Used count of a resource from nextpnr's utilisation lines: `ICESTORM_LC:   106/ 7680  1%`.
fn parse_utilisation(log: &str, resource: &str) -> Option<u64> {
    let key = format!("{resource}:");
    log.lines()
        .rev()
        .filter_map(|l| l.split_once(&key).map(|(_, rest)| rest))
        .find_map(|rest| rest.split('/').next()?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const BLOCK: &str = "
module top(clock,reset,a,b,sum);
    input wire  clock;
    input wire  reset;
    input wire  [3:0] a;
    input wire signed [7:0] b;
    output reg  [8:0] sum;
    reg  acc$d;
    top$acc acc(
        .d(acc$d)
    );
    always @(*) begin
        top$d = 1'b0;
    end
endmodule // top


module top$acc(d);
    input wire  d;
    top$acc$inner inner(.x(d));
endmodule // top$acc
";

    #[test]
    fn ports_of_top_are_parsed() {
        let ports = top_ports(BLOCK).unwrap();
        let summary: Vec<_> = ports
            .iter()
            .map(|p| (p.name.as_str(), p.direction, p.width))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("clock", Direction::Input, 1),
                ("reset", Direction::Input, 1),
                ("a", Direction::Input, 4),
                ("b", Direction::Input, 8),
                ("sum", Direction::Output, 9),
            ]
        );
    }

    #[test]
    fn block_modules_are_renamed_but_signals_are_not() {
        let r = rename_block(BLOCK);
        assert!(r.contains("\nmodule dut(clock,reset,a,b,sum);"));
        assert!(r.contains("\n    dut$acc acc("));
        assert!(r.contains("\nmodule dut$acc(d);"));
        assert!(r.contains("\n    dut$acc$inner inner(.x(d));"));
        assert!(r.contains("endmodule // dut$acc"));
        assert!(r.contains("        top$d = 1'b0;"));
        assert!(!r.contains("module top"));
    }

    #[test]
    fn wrapper_connects_every_port() {
        let w = timing_wrapper(BLOCK).unwrap();
        assert!(w.starts_with("// Timing wrapper"));
        assert!(w.contains("\nmodule top(input wire clk, output reg out);"));
        assert!(w.contains("\n    dut dut_i("));
        assert!(w.contains(".clock(clk)"));
        assert!(w.contains(".reset(por)"));
        assert!(w.contains(".a(stim[3:0])"));
        assert!(w.contains(".b(stim[11:4])"));
        assert!(w.contains(".sum(dut_o_sum)"));
        assert!(w.contains("reg [11:0] stim"));
        // 9 output bits fold to 3, then into `out`.
        assert!(w.contains("reg [2:0] fold1"));
        assert!(w.contains("out <= ^fold1;"));
        assert!(w.contains("\nmodule dut(clock,reset,a,b,sum);"));
    }

    #[test]
    fn inout_ports_cannot_be_wrapped() {
        let v = "module top(x);\n    inout wire  x;\nendmodule\n";
        assert!(matches!(timing_wrapper(v), Err(FlowError::Wrap(_))));
    }

    #[test]
    fn nextpnr_log_is_parsed() {
        let log = "\
Info: Device utilisation:
Info: 	         ICESTORM_LC:   106/ 7680     1%
Info: 	        ICESTORM_RAM:     1/   32     3%
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 140.00 MHz (PASS at 100.00 MHz)
Info: Routing..
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 157.80 MHz (PASS at 100.00 MHz)
Info: Max frequency for clock 'other': 120.50 MHz (PASS at 100.00 MHz)
";
        assert_eq!(parse_fmax(log), Some(120.5));
        assert_eq!(parse_utilisation(log, "ICESTORM_LC"), Some(106));
        assert_eq!(parse_utilisation(log, "ICESTORM_RAM"), Some(1));
        assert_eq!(parse_fmax("Info: nothing"), None);
    }

    #[test]
    fn names_must_be_plain() {
        assert!(flow_dir("adder_32-bit").is_ok());
        for bad in ["", "../x", "a/b", "a b"] {
            assert!(matches!(flow_dir(bad), Err(FlowError::BadName(_))));
        }
    }
}
