//! Widths and typed constants derived from `abi`, shared by the blocks.
//!
//! RustHDL emits bare integer literals as 32-bit Verilog literals, which widens expressions
//! and makes the Verilog disagree with RustHDL's own simulator. Blocks therefore compare and
//! compute only with typed `Constant<Bits<N>>` values built here.

use abi::Status;
use rust_hdl::prelude::*;

/// Width of a status code on the ports.
pub const STATUS_W: usize = abi::status::STATUS_BITS as usize;
/// Width of a device address.
pub const DA_W: usize = abi::DA_BITS as usize;
/// Width of a frame number.
pub const FRAME_W: usize = abi::FRAME_BITS as usize;
/// Width of a VI index.
pub const VI_W: usize = abi::VI_BITS as usize;
/// Width of a PD index.
pub const PD_W: usize = abi::PD_BITS as usize;
/// Width of a key-slot index.
pub const SLOT_W: usize = abi::KEY_SLOT_BITS as usize;
/// Width of a PD generation.
pub const GEN_W: usize = abi::GEN_BITS as usize;
/// Width of a translated virtual address.
pub const VA_W: usize = abi::VA_BITS as usize;
/// Width of a byte count within one page (0..=4096).
pub const PAGE_BYTES_W: usize = abi::PAGE_SHIFT as usize + 1;
/// Width of a transfer length inside the translator (up to `MAX_TRANSFER_LEN`).
pub const LEN_W: usize = 22;
/// Width of the PTE-read tag.
pub const TAG_W: usize = 4;

const _: () = assert!(abi::MAX_TRANSFER_LEN < 1 << LEN_W);
const _: () = assert!(STATUS_W == 5 && DA_W == 40 && FRAME_W == 28 && VA_W == 47);
const _: () = assert!(VI_W == 3 && PD_W == 3 && SLOT_W == 3 && GEN_W == 7);

/// A typed constant holding a status code.
pub fn status_const(s: Status) -> Constant<Bits<STATUS_W>> {
    Constant::new(u64::from(s.code()).into())
}

/// A typed constant of width `N`.
pub fn konst<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

/// Builds a block whose fields are all `Default` except the listed ones (constants, mostly).
#[macro_export]
macro_rules! with_defaults {
    ($t:ident { $($field:ident : $value:expr),* $(,)? } defaults { $($d:ident),* $(,)? }) => {
        $t { $($field: $value,)* $($d: Default::default(),)* }
    };
}
