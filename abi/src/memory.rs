//! Memory seen through device addresses: what the walker reads tables from.

use std::collections::HashMap;

use crate::geometry::{PAGE_SHIFT, PAGE_SIZE};

/// Memory holding translation tables, addressed by device address. The registrar implements
/// it over its DMA arena; tests use [`MemoryImage`].
pub trait TableMemory {
    /// Reads the 8-byte little-endian word at `da` (8-byte aligned). `None` is a DMA error:
    /// the address is not backed.
    fn read_u64(&self, da: u64) -> Option<u64>;
    /// Writes the 8-byte little-endian word at `da` (8-byte aligned). Returns `false` when the
    /// address is not backed.
    fn write_u64(&mut self, da: u64, value: u64) -> bool;
}

/// A sparse memory image of 4 KiB pages; pages appear when first written.
#[derive(Clone, Debug, Default)]
pub struct MemoryImage {
    pages: HashMap<u64, Box<[u8; PAGE_SIZE as usize]>>,
    /// Highest device address (exclusive) the image accepts; beyond it every access fails.
    limit: Option<u64>,
}

impl MemoryImage {
    /// An empty image backing every device address.
    pub fn new() -> MemoryImage {
        MemoryImage::default()
    }

    /// An empty image backing device addresses below `limit` only.
    pub fn with_limit(limit: u64) -> MemoryImage {
        MemoryImage {
            pages: HashMap::new(),
            limit: Some(limit),
        }
    }

    fn backed(&self, da: u64, len: u64) -> bool {
        self.limit
            .is_none_or(|l| da.checked_add(len).is_some_and(|end| end <= l))
    }

    /// Copies `buf.len()` bytes starting at `da` out of the image (unwritten bytes read 0).
    pub fn read(&self, da: u64, buf: &mut [u8]) -> bool {
        if !self.backed(da, buf.len() as u64) {
            return false;
        }
        for (i, b) in buf.iter_mut().enumerate() {
            let a = da + i as u64;
            *b = self
                .pages
                .get(&(a >> PAGE_SHIFT))
                .map_or(0, |p| p[(a & (PAGE_SIZE - 1)) as usize]);
        }
        true
    }

    /// Copies `data` into the image at `da`.
    pub fn write(&mut self, da: u64, data: &[u8]) -> bool {
        if !self.backed(da, data.len() as u64) {
            return false;
        }
        for (i, &b) in data.iter().enumerate() {
            let a = da + i as u64;
            let page = self
                .pages
                .entry(a >> PAGE_SHIFT)
                .or_insert_with(|| Box::new([0; PAGE_SIZE as usize]));
            page[(a & (PAGE_SIZE - 1)) as usize] = b;
        }
        true
    }
}

impl TableMemory for MemoryImage {
    fn read_u64(&self, da: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(da, &mut b).then(|| u64::from_le_bytes(b))
    }

    fn write_u64(&mut self, da: u64, value: u64) -> bool {
        self.write(da, &value.to_le_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_limits() {
        let mut m = MemoryImage::with_limit(0x2000);
        assert!(m.write_u64(0x1ff8, 0x1122_3344_5566_7788));
        assert_eq!(m.read_u64(0x1ff8), Some(0x1122_3344_5566_7788));
        assert_eq!(m.read_u64(0x10), Some(0));
        assert_eq!(m.read_u64(0x2000), None);
        assert!(!m.write_u64(0x1ffc, 1));
    }
}
