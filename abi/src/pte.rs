//! Translation-table entries: the x86-64 4-level format, with a `pinned` bit owned by the
//! registrar.

use crate::geometry::{mask, PAGE_SHIFT};

/// Entry bit: the entry is valid.
pub const PTE_PRESENT: u64 = 1 << 0;
/// Entry bit: the device may write through this entry.
pub const PTE_WRITABLE: u64 = 1 << 1;
/// Entry bit (software-available bit 9 on x86-64): the registrar has really pinned the frame.
pub const PTE_PINNED: u64 = 1 << 9;
/// Bit position of the frame number.
pub const PTE_FRAME_SHIFT: u32 = PAGE_SHIFT;
/// Width of the frame field (bits 51:12).
pub const PTE_FRAME_BITS: u32 = 40;

/// One 8-byte translation-table entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Pte(pub u64);

impl Pte {
    /// An entry for `frame` with the given flag bits.
    pub fn new(frame: u64, flags: u64) -> Pte {
        Pte(((frame & mask(PTE_FRAME_BITS)) << PTE_FRAME_SHIFT) | flags)
    }

    /// A present, writable entry pointing at a next-level table (tables are never pinned by
    /// the device's definition: only leaf frames carry `pinned`).
    pub fn table(frame: u64) -> Pte {
        Pte::new(frame, PTE_PRESENT | PTE_WRITABLE)
    }

    /// Present bit.
    pub fn present(&self) -> bool {
        self.0 & PTE_PRESENT != 0
    }

    /// Device-writable bit.
    pub fn writable(&self) -> bool {
        self.0 & PTE_WRITABLE != 0
    }

    /// Pinned bit.
    pub fn pinned(&self) -> bool {
        self.0 & PTE_PINNED != 0
    }

    /// Frame number (bits 51:12).
    pub fn frame(&self) -> u64 {
        (self.0 >> PTE_FRAME_SHIFT) & mask(PTE_FRAME_BITS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let p = Pte::new(0xab_cdef_0123, PTE_PRESENT | PTE_PINNED);
        assert!(p.present() && p.pinned() && !p.writable());
        assert_eq!(p.frame(), 0xab_cdef_0123);
        assert_eq!(p.0 >> 52, 0);
    }
}
