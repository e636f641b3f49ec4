//! Address widths and sizes shared by the device and the host.
//!
//! A device address (DA) is what the device puts on its DMA port. Virtual addresses are the
//! application's own; the device only accepts the canonical lower half that user space uses.

/// Bits in a device address. Frames are `DA >> PAGE_SHIFT`, so `FRAME_BITS` wide.
pub const DA_BITS: u32 = 40;
/// Bits of a virtual address the device translates (user-space canonical half of x86-64).
pub const VA_BITS: u32 = 47;
/// Log2 of the page size.
pub const PAGE_SHIFT: u32 = 12;
/// Page size in bytes.
pub const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;
/// Bits of a frame number (`DA_BITS - PAGE_SHIFT`).
pub const FRAME_BITS: u32 = DA_BITS - PAGE_SHIFT;
/// Bits of a virtual page number (`VA_BITS - PAGE_SHIFT`).
pub const VPAGE_BITS: u32 = VA_BITS - PAGE_SHIFT;
/// Index bits per translation-table level (512 entries of 8 bytes in a 4 KiB page).
pub const LEVEL_BITS: u32 = 9;
/// Number of translation-table levels (x86-64 4-level format). Level 1 is the leaf table.
pub const LEVELS: u8 = 4;
/// Entries per table page.
pub const ENTRIES_PER_TABLE: u64 = 1 << LEVEL_BITS;
/// Bytes per table entry.
pub const PTE_BYTES: u64 = 8;
/// Largest transfer one translation request may cover: the span of one leaf table, so a
/// request never needs more than one leaf-level shortcut.
pub const MAX_TRANSFER_LEN: u64 = 1 << (PAGE_SHIFT + LEVEL_BITS);

/// Bits of a VI index on the device's ports.
pub const VI_BITS: u32 = 3;
/// VI slots the translation core holds configuration for: the registers of VIs
/// `NUM_VIS..2^VI_BITS` are not implemented (they read as 0 and ignore writes), and a request
/// naming such a VI fails with `vi_disabled`.
pub const NUM_VIS: usize = 4;
/// Bits of a protection-domain index.
pub const PD_BITS: u32 = 3;
/// Protection domains the translation core holds configuration for.
pub const NUM_PDS: usize = 1 << PD_BITS;
/// Bits of a key-slot index.
pub const KEY_SLOT_BITS: u32 = 3;
/// Key slots (each holds one expanded SPECK64/128 key).
pub const NUM_KEY_SLOTS: usize = 1 << KEY_SLOT_BITS;
/// Bits of a PD generation number.
pub const GEN_BITS: u32 = 7;
/// Bits of the per-VI fault counter (saturating).
pub const FAULT_COUNT_BITS: u32 = 8;
/// Bits of the translation-cache index (direct mapped, one block-RAM deep).
pub const CACHE_INDEX_BITS: u32 = 8;
/// Entries in the translation cache.
pub const CACHE_ENTRIES: usize = 1 << CACHE_INDEX_BITS;

/// Mask with the low `bits` bits set.
pub const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The VA bit where the index of table `level` (1 = leaf) starts.
pub const fn level_shift(level: u8) -> u32 {
    PAGE_SHIFT + LEVEL_BITS * (level as u32 - 1)
}

/// Index into the table at `level` for virtual address `va`.
pub const fn level_index(va: u64, level: u8) -> u64 {
    (va >> level_shift(level)) & mask(LEVEL_BITS)
}

/// Log2 of the VA span covered by one table at `level` (a leaf table covers 2 MiB).
pub const fn level_span_shift(level: u8) -> u32 {
    level_shift(level) + LEVEL_BITS
}

/// Bytes left in the page of `va`.
pub const fn page_remaining(va: u64) -> u64 {
    PAGE_SIZE - (va & (PAGE_SIZE - 1))
}

/// Number of pages touched by `[va, va + len)`; `len` must be non-zero.
pub const fn pages_spanned(va: u64, len: u64) -> u64 {
    ((va + len - 1) >> PAGE_SHIFT) - (va >> PAGE_SHIFT) + 1
}

/// VIs of the default device build (each with queues and a doorbell page); the translation
/// core's tables have room for [`NUM_VIS`].
pub const DEVICE_VIS: usize = 4;
const _: () = assert!(DEVICE_VIS.is_power_of_two() && DEVICE_VIS <= NUM_VIS);
const _: () = assert!(NUM_VIS <= 1 << VI_BITS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_geometry_matches_x86_64() {
        assert_eq!(level_shift(1), 12);
        assert_eq!(level_shift(4), 39);
        assert_eq!(level_span_shift(1), 21);
        assert_eq!(level_index(0x0000_7fff_ffff_f000, 4), 0xff);
        assert_eq!(level_index(0x0000_0000_0020_3000, 1), 3);
        assert_eq!(level_index(0x0000_0000_0020_3000, 2), 1);
        assert_eq!(MAX_TRANSFER_LEN, 2 << 20);
    }

    #[test]
    fn page_spans() {
        assert_eq!(pages_spanned(0xfff, 1), 1);
        assert_eq!(pages_spanned(0xfff, 2), 2);
        assert_eq!(pages_spanned(0x1000, 0x1000), 1);
        assert_eq!(pages_spanned(0x1001, 0x1000), 2);
        assert_eq!(page_remaining(0x1ffe), 2);
    }
}
