//! Builds the Verilator model of the `Translator`: RustHDL writes the Verilog, Verilator turns
//! it into C++, `cc` compiles it with a C shim whose accessors (one per port) are generated
//! from the Verilog's port list, and a Rust file of bindings is written beside it.

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

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let dir = out.join("translator");
    let mdir = dir.join("obj");
    std::fs::create_dir_all(&mdir).expect("out dir");
    let (_, verilog) = rtl::verilog::blocks()
        .into_iter()
        .next()
        .expect("translator first");
    let vfile = dir.join("translator.v");
    // Verilating again is skipped while the Verilog text is unchanged.
    let unchanged = std::fs::read_to_string(&vfile).ok().as_deref() == Some(verilog.as_str())
        && mdir.join("VTranslator.h").exists();
    if !unchanged {
        std::fs::write(&vfile, &verilog).expect("write verilog");
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
                "VTranslator",
                "-Wno-fatal",
                "-Wno-WIDTH",
                "--Mdir",
            ])
            .arg(&mdir)
            .arg(&vfile));
    }
    let root = String::from_utf8(
        Command::new("verilator")
            .args(["--getenv", "VERILATOR_ROOT"])
            .output()
            .expect("verilator")
            .stdout,
    )
    .expect("utf-8");
    let root = Path::new(root.trim());

    let ports = ports(&verilog);
    let mut shim = String::from(
        "#include <cstdint>\n#include \"VTranslator.h\"\n#include \"verilated.h\"\n#include \"verilated_vcd_c.h\"\n\
         struct Vt { VerilatedContext* ctx; VTranslator* m; VerilatedVcdC* vcd; };\n\
         extern \"C\" {\n\
         Vt* vt_new() { Vt* v = new Vt; v->ctx = new VerilatedContext; v->ctx->traceEverOn(true);\n\
           v->m = new VTranslator{v->ctx}; v->vcd = nullptr; return v; }\n\
         void vt_free(Vt* v) { if (v->vcd) { v->vcd->close(); delete v->vcd; } v->m->final(); delete v->m; delete v->ctx; delete v; }\n\
         void vt_eval(Vt* v) { v->m->eval(); }\n\
         int vt_trace_open(Vt* v, const char* path) { v->vcd = new VerilatedVcdC; v->m->trace(v->vcd, 99); v->vcd->open(path); return v->vcd->isOpen(); }\n\
         void vt_trace_dump(Vt* v, uint64_t t) { if (v->vcd) v->vcd->dump(t); }\n",
    );
    let mut rust = String::from("extern \"C\" {\n    fn vt_new() -> *mut Vt;\n    fn vt_free(m: *mut Vt);\n    fn vt_eval(m: *mut Vt);\n    fn vt_trace_open(m: *mut Vt, path: *const std::ffi::c_char) -> i32;\n    fn vt_trace_dump(m: *mut Vt, t: u64);\n");
    let mut methods = String::new();
    for p in &ports {
        let n = &p.name;
        if p.input {
            writeln!(
                shim,
                "void vt_set_{n}(Vt* v, uint64_t x) {{ v->m->{n} = x; }}"
            )
            .unwrap();
            writeln!(rust, "    fn vt_set_{n}(m: *mut Vt, x: u64);").unwrap();
            // Values are cut to the port's width, as the hardware would see them.
            let value = if p.width == 64 {
                "x".to_string()
            } else {
                format!("x & {:#x}", (1u64 << p.width) - 1)
            };
            writeln!(
                methods,
                "    /// Drives input `{n}` ({w} bits).\n    pub fn set_{n}(&mut self, x: u64) {{ unsafe {{ vt_set_{n}(self.ptr, {value}) }} }}",
                w = p.width,
            )
            .unwrap();
        } else {
            writeln!(shim, "uint64_t vt_get_{n}(Vt* v) {{ return v->m->{n}; }}").unwrap();
            writeln!(rust, "    fn vt_get_{n}(m: *mut Vt) -> u64;").unwrap();
            writeln!(
                methods,
                "    /// Reads output `{n}` ({w} bits).\n    pub fn {n}(&self) -> u64 {{ unsafe {{ vt_get_{n}(self.ptr) }} }}",
                w = p.width
            )
            .unwrap();
        }
    }
    shim.push_str("}\n");
    rust.push_str("}\n\n/// Port accessors of the Verilator model.\nimpl VTranslator {\n");
    rust.push_str(&methods);
    rust.push_str("}\n");
    std::fs::write(dir.join("shim.cpp"), shim).expect("shim");
    std::fs::write(out.join("vtranslator_ports.rs"), rust).expect("bindings");

    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .warnings(false)
        .flag_if_supported("-w");
    build
        .include(&mdir)
        .include(root.join("include"))
        .include(root.join("include/vltstd"));
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&mdir)
        .expect("obj dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "cpp"))
        .collect();
    sources.sort();
    build.files(&sources);
    for f in [
        "verilated.cpp",
        "verilated_threads.cpp",
        "verilated_vcd_c.cpp",
    ] {
        build.file(root.join("include").join(f));
    }
    build.file(dir.join("shim.cpp"));
    build.compile("vtranslator");
    println!("cargo:rerun-if-changed=build.rs");
}
