//! Verilator models of skipwalk's generated Verilog, driven from Rust.
//!
//! `build.rs` writes the `Translator`'s Verilog with RustHDL, verilates it, and compiles the
//! C++ with a shim of per-port accessors generated from the Verilog's port list; this crate
//! wraps the model safely ([`VTranslator`]) and plugs it into the translator's differential
//! test bench ([`rtl::translator_bench`]), so the test that runs in RustHDL's simulator runs
//! on the Verilog too: the two simulators must agree, and the Verilog is what ships.

use std::ffi::CString;
use std::path::Path;

use rtl::bench::MemoryDrive;
use rtl::translator_bench::{TranslatorInputs, TranslatorOutputs, TranslatorSim};

/// The C++ side of a model (opaque).
#[repr(C)]
pub struct Vt {
    _private: [u8; 0],
}

include!(concat!(env!("OUT_DIR"), "/vtranslator_ports.rs"));

/// The Verilator model of the `Translator`, stepped one clock at a time. Freed on drop.
pub struct VTranslator {
    ptr: *mut Vt,
    cycle: u64,
    tracing: bool,
}

impl VTranslator {
    /// A model in its power-on state, clock low, settled.
    pub fn new() -> VTranslator {
        // SAFETY: the shim allocates a fresh model; the pointer is owned by the value.
        let ptr = unsafe { vt_new() };
        assert!(!ptr.is_null(), "model allocation failed");
        let mut m = VTranslator {
            ptr,
            cycle: 0,
            tracing: false,
        };
        m.set_clock(0);
        m.eval();
        m
    }

    /// Like [`VTranslator::new`], recording every edge into a VCD file at `path`.
    pub fn with_waveform(path: &Path) -> std::io::Result<VTranslator> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let m = VTranslator::new();
        let c = CString::new(path.to_string_lossy().as_bytes()).map_err(std::io::Error::other)?;
        // SAFETY: the model is live and the path is a valid C string for the call.
        if unsafe { vt_trace_open(m.ptr, c.as_ptr()) } == 0 {
            return Err(std::io::Error::other(format!(
                "cannot open {}",
                path.display()
            )));
        }
        Ok(VTranslator { tracing: true, ..m })
    }

    /// Evaluates the combinational logic.
    pub fn eval(&mut self) {
        // SAFETY: the model is live.
        unsafe { vt_eval(self.ptr) }
    }

    fn dump(&mut self, t: u64) {
        if self.tracing {
            // SAFETY: the model is live and tracing was opened on it.
            unsafe { vt_trace_dump(self.ptr, t) }
        }
    }

    /// One clock period: rising edge, then falling edge.
    pub fn step(&mut self) {
        self.eval();
        self.dump(self.cycle * 10);
        self.set_clock(1);
        self.eval();
        self.dump(self.cycle * 10 + 5);
        self.set_clock(0);
        self.eval();
        self.cycle += 1;
    }

    /// Rising edges so far.
    pub fn cycle(&self) -> u64 {
        self.cycle
    }
}

impl Default for VTranslator {
    fn default() -> Self {
        VTranslator::new()
    }
}

impl Drop for VTranslator {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `vt_new` and is freed exactly once.
        unsafe { vt_free(self.ptr) }
    }
}

impl TranslatorSim for VTranslator {
    fn drive(&mut self, i: &TranslatorInputs) {
        let MemoryDrive { req_ready, rsp } = i.table;
        self.set_pte_req_ready(req_ready.into());
        self.set_pte_rsp_valid(rsp.is_some().into());
        if let Some((data, tag, err)) = rsp {
            self.set_pte_rsp_data(data);
            self.set_pte_rsp_tag(tag);
            self.set_pte_rsp_error(err.into());
        }
        self.set_req_valid(i.req_valid.into());
        if let Some(r) = &i.req {
            self.set_req_vi(r.vi.into());
            self.set_req_va(r.va);
            self.set_req_shortcut(r.shortcut.0);
            self.set_req_length(r.length.into());
            self.set_req_write(r.write.into());
        }
        self.set_cfg_valid(i.cfg_valid.into());
        self.set_cfg_write(i.cfg.0.into());
        self.set_cfg_addr(i.cfg.1.into());
        self.set_cfg_wdata(i.cfg.2.into());
        self.set_rsp_ready(i.rsp_ready.into());
        self.set_cfg_rsp_ready(i.cfg_rsp_ready.into());
        self.eval();
    }

    fn outputs(&self) -> TranslatorOutputs {
        TranslatorOutputs {
            req_ready: self.req_ready() != 0,
            cfg_ready: self.cfg_ready() != 0,
            rsp_valid: self.rsp_valid() != 0,
            rsp_status: self.rsp_status(),
            rsp_da: self.rsp_da(),
            rsp_bytes: self.rsp_bytes(),
            rsp_last: self.rsp_last() != 0,
            rsp_hit: self.rsp_hit() != 0,
            cfg_rsp_valid: self.cfg_rsp_valid() != 0,
            cfg_rsp_data: self.cfg_rsp_data(),
            table: (
                self.pte_req_valid() != 0,
                self.pte_req_addr(),
                self.pte_req_tag(),
                self.pte_rsp_ready() != 0,
            ),
        }
    }

    fn tick(&mut self) {
        self.step();
    }
}
