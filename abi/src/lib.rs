//! The skipwalk contract between hardware and software, and its golden models.
//!
//! Everything that the RTL, the simulator harness, the host driver and the documentation must
//! agree on lives here exactly once: address widths, the shortcut plaintext layout, the
//! translation-table entry format, the register map of the translation core, the status codes,
//! and reference models (cipher, shortcut codec, table builder, walker, translator) that every
//! test compares the hardware against.

pub mod board;
pub mod bridge;
pub mod cipher;
pub mod frames;
pub mod geometry;
pub mod memory;
pub mod pte;
pub mod queues;
pub mod regs;
pub mod shortcut;
pub mod status;
pub mod tables;
pub mod translator;

pub use cipher::{Key, ShortcutCipher};
pub use geometry::*;
pub use memory::{MemoryImage, TableMemory};
pub use pte::Pte;
pub use queues::{Completion, Descriptor, Opcode, QueueKind};
pub use shortcut::{Plaintext, Shortcut, ShortcutError};
pub use status::Status;
pub use tables::{Access, TableBuilder, TableError};
pub use translator::{
    PageResult, PdConfig, TranslationMode, TranslationRequest, TranslationResult, Translator,
    ViConfig,
};

/// The seed for a randomized test: `SKIPWALK_SEED` when set, else fresh from the clock (every
/// randomized test prints the seed it used, so a failure can be replayed).
pub fn test_seed() -> u64 {
    if let Some(s) = std::env::var("SKIPWALK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return s;
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()).rotate_left(32)
}
