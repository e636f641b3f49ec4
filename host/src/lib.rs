//! skipwalk's host software: the trusted registrar that owns DMA memory, builds each
//! application's translation tables, mints keys and shortcuts and programs the device; the
//! application API that posts descriptors from the application's own address space; the
//! daemon that serves applications in other processes; and the device backends behind one
//! trait.
//!
//! | module | what it is |
//! |---|---|
//! | [`dma`] | sealed, locked memfd regions: the memory the device reaches |
//! | [`backend`] | the `Backend` trait (a device and its DMA space) and the DMA space |
//! | [`sim_backend`] | the Verilator model of the Device as a backend |
//! | [`serial_backend`] | the Device on the Alchitry Cu (or the virtual board) over the UART bridge |
//! | [`registrar`] | PDs, keys, VIs, pools, registrations, revocation, doorbell relay |
//! | [`verbs`] | the application API: sessions, pools, memory regions, VIs, batches, completions |
//! | [`wire`], [`daemon`], [`client`] | the daemon socket protocol and its two ends |
//! | [`demo`] | `skipwalk demo`: two applications and the registrar in three processes |
//! | [`shortcut_cmd`] | `skipwalk shortcut mint|open` |
//! | [`fpga`] | `skipwalk bitstream` and `skipwalk flash`: the board's gated build, iceprog |
//! | [`board_sim`] | `skipwalk board-sim`: the virtual board on a pseudo-terminal |

pub mod backend;
pub mod board_sim;
pub mod client;
pub mod daemon;
pub mod demo;
pub mod dma;
pub mod error;
pub mod fpga;
pub mod registrar;
pub mod serial_backend;
pub mod shortcut_cmd;
pub mod sim_backend;
pub mod verbs;
pub mod wire;

pub use error::{Error, Result};
