//! Verilator models of skipwalk's generated Verilog, driven from Rust.
//!
//! `build.rs` writes each block's Verilog with RustHDL, verilates it, and compiles the C++
//! with a shim of per-port accessors generated from the Verilog's port list; this crate wraps
//! every model safely (`VTranslator`, `VDevice`, … one per block), plugs the translator into
//! its differential test bench ([`rtl::translator_bench`]), so the test that runs in RustHDL's
//! simulator runs on the Verilog too, and surrounds the `Device` with a host
//! ([`host_port`]: host memory, DMA firewall, MMIO, network) and a small registrar
//! ([`testbed`]). The Verilog is what ships.

pub mod bench;
pub mod board;
pub mod host_port;
pub mod testbed;

use std::ffi::CString;
use std::path::Path;

use rtl::bench::MemoryDrive;
use rtl::translator_bench::{TranslatorInputs, TranslatorOutputs, TranslatorSim};

/// The C++ side of a model (opaque).
#[repr(C)]
pub struct ModelHandle {
    _private: [u8; 0],
}

/// `path` as a C string for the waveform writer, its directory created.
fn trace_path(path: &Path) -> std::io::Result<CString> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    CString::new(path.to_string_lossy().as_bytes()).map_err(std::io::Error::other)
}

#[allow(unsafe_op_in_unsafe_fn, clippy::new_without_default)]
mod models {
    use super::ModelHandle;
    include!(concat!(env!("OUT_DIR"), "/models.rs"));
}
pub use models::*;

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
