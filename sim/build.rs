//! Builds the Verilator models of skipwalk's blocks: RustHDL writes each block's Verilog,
//! Verilator turns it into C++, `cc` compiles it with a C shim whose accessors (one per port)
//! are generated from the Verilog's port list, and one Rust file declares a safe wrapper per
//! model (`V<Block>`: construction, waveform, clocking, one method per port).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A port of module `top`.
struct Port {
    name: String,
    width: u32,
    input: bool,
}

/// The port declarations of module `top` (RustHDL writes one per line:
/// `input wire  [3:0] name;`, `output reg  name;`).
fn ports(verilog: &str) -> Vec<Port> {
    let top = verilog.split("module top(").nth(1).expect("module top");
    let body = top.split("endmodule").next().unwrap_or(top);
    let mut ports = vec![];
    for line in body.lines() {
        let line = line.trim();
        let input = line.starts_with("input ");
        if !(input || line.starts_with("output ")) {
            continue;
        }
        let decl = line.trim_end_matches(';');
        let name = decl
            .split_whitespace()
            .last()
            .expect("port name")
            .to_string();
        let width = match (decl.find('['), decl.find(':')) {
            (Some(a), Some(b)) if a < b => decl[a + 1..b].trim().parse::<u32>().expect("msb") + 1,
            _ => 1,
        };
        assert!(width <= 64, "port {name} is wider than 64 bits");
        ports.push(Port { name, width, input });
    }
    ports
}

fn run(cmd: &mut Command) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (make deps installs verilator)"));
    assert!(status.success(), "{cmd:?} failed with {status}");
}

/// `snake_case` block name to the wrapper's `CamelCase` type name without the `V`.
fn camel(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn new_build(root: &Path) -> cc::Build {
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .flag_if_supported("-w")
        // The models are built where they run (a build script), so the host's instruction
        // set is fair game; it is worth ~15 % of simulation speed on the Device.
        .flag_if_supported("-march=native")
        .include(root.join("include"))
        .include(root.join("include/vltstd"));
    build
}

/// Verilates one block and compiles it; returns the Rust declarations of its wrapper.
fn model(out: &Path, root: &Path, name: &str, verilog: &str) -> String {
    let class = format!("V{}", camel(name));
    let p = name; // prefix of the shim's C symbols
    let dir = out.join(name);
    let mdir = dir.join("obj");
    std::fs::create_dir_all(&mdir).expect("out dir");
    let vfile = dir.join(format!("{name}.v"));
    // Verilating again is skipped while the Verilog text is unchanged.
    let unchanged = std::fs::read_to_string(&vfile).ok().as_deref() == Some(verilog)
        && mdir.join(format!("{class}.h")).exists();
    if !unchanged {
        // A previous run's files go: Verilator splits a model into a varying number of
        // files, and a stale one would be compiled with the new ones.
        std::fs::remove_dir_all(&mdir).expect("clear the model's directory");
        std::fs::create_dir_all(&mdir).expect("out dir");
        std::fs::write(&vfile, verilog).expect("write verilog");
        run(Command::new("verilator")
            .args([
                "--cc",
                "-O3",
                "--x-assign",
                "fast",
                "--x-initial",
                "fast",
                "--noassert",
                "--trace",
                "--top-module",
                "top",
                "--prefix",
                &class,
                "-Wno-fatal",
                "-Wno-WIDTH",
                "--Mdir",
            ])
            .arg(&mdir)
            .arg(&vfile));
    }

    let mut shim = format!(
        "#include <cstdint>\n#include \"{class}.h\"\n#include \"verilated.h\"\n#include \"verilated_vcd_c.h\"\n\
         struct {p}_t {{ VerilatedContext* ctx; {class}* m; VerilatedVcdC* vcd; }};\n\
         extern \"C\" {{\n\
         {p}_t* {p}_new() {{ {p}_t* v = new {p}_t; v->ctx = new VerilatedContext; v->ctx->traceEverOn(true);\n\
           v->m = new {class}{{v->ctx}}; v->vcd = nullptr; return v; }}\n\
         void {p}_free({p}_t* v) {{ if (v->vcd) {{ v->vcd->close(); delete v->vcd; }} v->m->final(); delete v->m; delete v->ctx; delete v; }}\n\
         void {p}_eval({p}_t* v) {{ v->m->eval(); }}\n\
         int {p}_trace_open({p}_t* v, const char* path) {{ v->vcd = new VerilatedVcdC; v->m->trace(v->vcd, 99); v->vcd->open(path); return v->vcd->isOpen(); }}\n\
         void {p}_trace_dump({p}_t* v, uint64_t t) {{ if (v->vcd) v->vcd->dump(t); }}\n\
         void {p}_trace_flush({p}_t* v) {{ if (v->vcd) v->vcd->flush(); }}\n",
    );
    let mut externs = format!(
        "extern \"C\" {{\n    fn {p}_new() -> *mut ModelHandle;\n    fn {p}_free(m: *mut ModelHandle);\n    fn {p}_eval(m: *mut ModelHandle);\n    fn {p}_trace_open(m: *mut ModelHandle, path: *const std::ffi::c_char) -> i32;\n    fn {p}_trace_dump(m: *mut ModelHandle, t: u64);\n    fn {p}_trace_flush(m: *mut ModelHandle);\n"
    );
    let mut methods = String::new();
    // Blocks call their clock `clock`; the board's top level calls it `clk`, as its pins do.
    let clk = if ports(verilog).iter().any(|p| p.name == "clk") {
        "clk"
    } else {
        "clock"
    };
    for port in ports(verilog) {
        let n = &port.name;
        if port.input {
            writeln!(
                shim,
                "void {p}_set_{n}({p}_t* v, uint64_t x) {{ v->m->{n} = x; }}"
            )
            .unwrap();
            writeln!(externs, "    fn {p}_set_{n}(m: *mut ModelHandle, x: u64);").unwrap();
            // Values are cut to the port's width, as the hardware would see them.
            let value = if port.width == 64 {
                "x".to_string()
            } else {
                format!("x & {:#x}", (1u64 << port.width) - 1)
            };
            writeln!(
                methods,
                "    /// Drives input `{n}` ({w} bits).\n    pub fn set_{n}(&mut self, x: u64) {{ unsafe {{ {p}_ffi::{p}_set_{n}(self.ptr, {value}) }} }}",
                w = port.width,
            )
            .unwrap();
        } else {
            writeln!(
                shim,
                "uint64_t {p}_get_{n}({p}_t* v) {{ return v->m->{n}; }}"
            )
            .unwrap();
            writeln!(externs, "    fn {p}_get_{n}(m: *mut ModelHandle) -> u64;").unwrap();
            writeln!(
                methods,
                "    /// Reads output `{n}` ({w} bits).\n    pub fn {n}(&self) -> u64 {{ unsafe {{ {p}_ffi::{p}_get_{n}(self.ptr) }} }}",
                w = port.width
            )
            .unwrap();
        }
    }
    shim.push_str("}\n");
    externs.push_str("}\n");
    let shim_file = dir.join("shim.cpp");
    std::fs::write(&shim_file, shim).expect("shim");

    let mut build = new_build(root);
    build.include(&mdir);
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&mdir)
        .expect("obj dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();
    build.files(&sources).file(shim_file);
    build.compile(&format!("v{name}"));

    format!(
        "mod {p}_ffi {{\n    use super::ModelHandle;\n    {externs}\n}}\n\
         /// The Verilator model of `{name}`'s Verilog, stepped one clock at a time. Freed on drop.\n\
         pub struct {class} {{\n    ptr: *mut ModelHandle,\n    cycle: u64,\n    tracing: bool,\n    trace_from: u64,\n    low_pending: bool,\n}}\n\
         impl {class} {{\n\
         /// A model in its power-on state, clock low, settled.\n\
         pub fn new() -> {class} {{\n\
             // SAFETY: the shim allocates a fresh model; the pointer is owned by the value.\n\
             let ptr = unsafe {{ {p}_ffi::{p}_new() }};\n\
             assert!(!ptr.is_null(), \"model allocation failed\");\n\
             let mut m = {class} {{ ptr, cycle: 0, tracing: false, trace_from: 0, low_pending: false }};\n\
             m.set_{clk}(0);\n\
             m.eval();\n\
             m\n\
         }}\n\
         /// Like `new`, recording every edge into a VCD file at `path`.\n\
         pub fn with_waveform(path: &std::path::Path) -> std::io::Result<{class}> {{\n\
             let mut m = {class}::new();\n\
             let c = crate::trace_path(path)?;\n\
             // SAFETY: the model is live and the path is a valid C string for the call.\n\
             if unsafe {{ {p}_ffi::{p}_trace_open(m.ptr, c.as_ptr()) }} == 0 {{\n\
                 return Err(std::io::Error::other(format!(\"cannot open {{}}\", path.display())));\n\
             }}\n\
             m.tracing = true;\n\
             Ok(m)\n\
         }}\n\
         /// Like `with_waveform`, recording only the edges from cycle `from` on (the end of a\n\
         /// long run).\n\
         pub fn with_waveform_from(path: &std::path::Path, from: u64) -> std::io::Result<{class}> {{\n\
             let mut m = {class}::with_waveform(path)?;\n\
             m.trace_from = from;\n\
             Ok(m)\n\
         }}\n\
         /// Evaluates the combinational logic (and a pending falling clock edge).\n\
         pub fn eval(&mut self) {{ self.low_pending = false; unsafe {{ {p}_ffi::{p}_eval(self.ptr) }} }}\n\
         /// One clock period: rising edge, then falling edge (each dumped when tracing).\n\
         /// The falling edge is evaluated together with the next inputs (by `eval` or the next\n\
         /// `step`): two evaluations a cycle instead of four. Outputs read after `step` show\n\
         /// the state after the rising edge.\n\
         pub fn step(&mut self) {{\n\
             if self.low_pending || self.tracing {{ self.eval(); }}\n\
             if self.tracing && self.cycle >= self.trace_from {{ unsafe {{ {p}_ffi::{p}_trace_dump(self.ptr, self.cycle * 10) }} }}\n\
             self.set_{clk}(1);\n\
             self.eval();\n\
             if self.tracing && self.cycle >= self.trace_from {{ unsafe {{ {p}_ffi::{p}_trace_dump(self.ptr, self.cycle * 10 + 5) }} }}\n\
             self.set_{clk}(0);\n\
             self.low_pending = true;\n\
             self.cycle += 1;\n\
         }}\n\
         /// Writes buffered waveform data to the file.\n\
         pub fn flush_waveform(&mut self) {{ unsafe {{ {p}_ffi::{p}_trace_flush(self.ptr) }} }}\n\
         /// Rising edges so far.\n\
         pub fn cycle(&self) -> u64 {{ self.cycle }}\n\
         }}\n\
         impl Default for {class} {{ fn default() -> Self {{ {class}::new() }} }}\n\
         impl rtl::bench::Cycles for {class} {{ fn cycle(&self) -> u64 {{ self.cycle }} }}\n\
         impl Drop for {class} {{\n\
             fn drop(&mut self) {{\n\
                 // SAFETY: the pointer came from `new` and is freed exactly once.\n\
                 unsafe {{ {p}_ffi::{p}_free(self.ptr) }}\n\
             }}\n\
         }}\n\
         /// Port accessors of the Verilator model.\n\
         #[allow(clippy::missing_safety_doc)]\n\
         impl {class} {{\n{methods}}}\n",
        externs = externs.replace("fn ", "pub(super) fn "),
    )
}

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let root = String::from_utf8(
        Command::new("verilator")
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()
            .expect("verilator (make deps installs it)")
            .stdout,
    )
    .expect("utf-8");
    let root = PathBuf::from(root.trim());

    let mut rust = String::new();
    // The Device's parts are verilated as the Device; their own models are not needed.
    const PARTS_OF_DEVICE: [&str; 3] = ["queue_manager", "send_engine", "rx_engine"];
    for (name, verilog) in rtl::verilog::blocks() {
        if PARTS_OF_DEVICE.contains(&name) {
            continue;
        }
        rust += &model(&out, &root, name, &verilog);
    }
    std::fs::write(out.join("models.rs"), rust).expect("bindings");

    // The Verilator runtime, once for every model.
    let mut runtime = new_build(&root);
    for f in [
        "verilated.cpp",
        "verilated_threads.cpp",
        "verilated_vcd_c.cpp",
    ] {
        runtime.file(root.join("include").join(f));
    }
    runtime.compile("verilated_runtime");
    println!("cargo:rerun-if-changed=build.rs");
}
