//! skipwalk RTL: RustHDL blocks of the translation core.
//!
//! One block per file; ports are grouped by channel with a prefix naming the protocol
//! (`req_*`, `rsp_*`, `pte_req_*`, `pte_rsp_*`, `cfg_*`). Every width and constant comes
//! from the `abi` crate. Literals never appear in arithmetic or comparisons: typed constants
//! (`Constant<Bits<N>>`) do, so RustHDL's simulator and the generated Verilog agree.

pub mod bench;
pub mod bram;
pub mod bridge;
pub mod consts;
pub mod cu_top;
pub mod descriptor_regs;
pub mod device;
pub mod fifo;
pub mod flow;
pub mod prot_table;
pub mod queue_manager;
pub mod rx_engine;
pub mod send_engine;
pub mod shortcut_check;
pub mod speck_decrypt;
#[cfg(test)]
pub(crate) mod testdata;
pub mod translator;
pub mod translator_bench;
pub mod uart_rx;
pub mod uart_tx;
pub mod verilog;
pub mod walker;
pub mod xlate_cache;
