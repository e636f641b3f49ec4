//! The table builder: maps a PD's virtual pages to device frames in a memory image.
//!
//! One piece of code serves the registrar (over its DMA arena) and the test harnesses (over a
//! [`crate::MemoryImage`]). Table pages are taken from the PD's [`TableWindow`]; the first
//! page of the window is the root.

use crate::geometry::{level_index, mask, ENTRIES_PER_TABLE, LEVELS, PAGE_SHIFT, PTE_BYTES};
use crate::geometry::{FRAME_BITS, VA_BITS};
use crate::memory::TableMemory;
use crate::pte::{Pte, PTE_PINNED, PTE_PRESENT, PTE_WRITABLE};
use crate::shortcut::TableWindow;

/// What the device may do with a mapped page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The device may only read (send from the buffer).
    Read,
    /// The device may read and write (send and receive).
    ReadWrite,
}

/// Why a table operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The VA is outside the translatable range or not page aligned.
    #[error("virtual address {0:#x} is not a page-aligned address below 2^47")]
    BadVa(u64),
    /// The frame does not fit a device address.
    #[error("frame {0:#x} does not fit a device address")]
    BadFrame(u64),
    /// The PD's table window has no free page left.
    #[error("the PD's table window ({0} pages) is full")]
    WindowFull(u32),
    /// The VA is already mapped.
    #[error("virtual page {0:#x} is already mapped")]
    AlreadyMapped(u64),
    /// The VA is not mapped.
    #[error("virtual page {0:#x} is not mapped")]
    NotMapped(u64),
    /// The memory behind the tables rejected an access.
    #[error("table memory at {0:#x} is not backed")]
    Memory(u64),
}

/// Builds and edits one PD's 4-level table tree.
#[derive(Clone, Debug)]
pub struct TableBuilder {
    window: TableWindow,
    next_free: u32,
}

fn entry_da(table_frame: u64, index: u64) -> u64 {
    (table_frame << PAGE_SHIFT) + index * PTE_BYTES
}

fn read_entry(mem: &impl TableMemory, da: u64) -> Result<Pte, TableError> {
    mem.read_u64(da).map(Pte).ok_or(TableError::Memory(da))
}

fn write_entry(mem: &mut impl TableMemory, da: u64, pte: Pte) -> Result<(), TableError> {
    mem.write_u64(da, pte.0)
        .then_some(())
        .ok_or(TableError::Memory(da))
}

impl TableBuilder {
    /// A builder whose tables live in `window`; clears the root table.
    pub fn new(
        window: TableWindow,
        mem: &mut impl TableMemory,
    ) -> Result<TableBuilder, TableError> {
        let mut b = TableBuilder {
            window,
            next_free: 0,
        };
        b.alloc_table(mem)?;
        Ok(b)
    }

    /// The PD's table window.
    pub fn window(&self) -> TableWindow {
        self.window
    }

    /// Frame of the root (level-4) table.
    pub fn root(&self) -> u64 {
        u64::from(self.window.base)
    }

    /// Table pages in use.
    pub fn tables_used(&self) -> u32 {
        self.next_free
    }

    fn alloc_table(&mut self, mem: &mut impl TableMemory) -> Result<u64, TableError> {
        if self.next_free >= self.window.pages {
            return Err(TableError::WindowFull(self.window.pages));
        }
        let frame = u64::from(self.window.base) + u64::from(self.next_free);
        for i in 0..ENTRIES_PER_TABLE {
            write_entry(mem, entry_da(frame, i), Pte(0))?;
        }
        self.next_free += 1;
        Ok(frame)
    }

    fn check_va(va: u64) -> Result<(), TableError> {
        if va >> VA_BITS != 0 || va & mask(PAGE_SHIFT) != 0 {
            return Err(TableError::BadVa(va));
        }
        Ok(())
    }

    /// Frame of the table at `level` (1 = leaf … 4 = root) on the path of `va`, creating the
    /// tables on the way when `create` is set.
    fn table_for(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        level: u8,
        create: bool,
    ) -> Result<Option<u64>, TableError> {
        let mut table = self.root();
        for l in (level + 1..=LEVELS).rev() {
            let da = entry_da(table, level_index(va, l));
            let pte = read_entry(mem, da)?;
            table = if pte.present() {
                pte.frame()
            } else if create {
                let t = self.alloc_table(mem)?;
                write_entry(mem, da, Pte::table(t))?;
                t
            } else {
                return Ok(None);
            };
        }
        Ok(Some(table))
    }

    /// Frame of the existing table at `level` on the path of `va`; `None` when the path is
    /// not built. This is what a shortcut for `va` at `level` seals.
    pub fn table_frame(
        &self,
        mem: &impl TableMemory,
        va: u64,
        level: u8,
    ) -> Result<Option<u64>, TableError> {
        let mut table = self.root();
        for l in (level + 1..=LEVELS).rev() {
            let pte = read_entry(mem, entry_da(table, level_index(va, l)))?;
            if !pte.present() {
                return Ok(None);
            }
            table = pte.frame();
        }
        Ok(Some(table))
    }

    /// Frame of the leaf table that serves `va`, building the path to it when missing. A
    /// registrar mapping many pages finds each leaf table once and then writes the entries
    /// at [`TableBuilder::leaf_entry_da`] itself.
    pub fn leaf_table(&mut self, mem: &mut impl TableMemory, va: u64) -> Result<u64, TableError> {
        Self::check_va(va & !mask(PAGE_SHIFT))?;
        Ok(self
            .table_for(mem, va & !mask(PAGE_SHIFT), 1, true)?
            .expect("created on the way"))
    }

    /// Device address of the entry for `va` in the leaf table `leaf_frame`.
    pub fn leaf_entry_da(leaf_frame: u64, va: u64) -> u64 {
        entry_da(leaf_frame, level_index(va, 1))
    }

    /// Maps the page at `va` to `frame`. `pinned` must be set only for frames the registrar
    /// has really pinned.
    pub fn map(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        frame: u64,
        access: Access,
        pinned: bool,
    ) -> Result<(), TableError> {
        Self::check_va(va)?;
        if frame >> FRAME_BITS != 0 {
            return Err(TableError::BadFrame(frame));
        }
        let leaf = self
            .table_for(mem, va, 1, true)?
            .expect("created on the way");
        let da = entry_da(leaf, level_index(va, 1));
        if read_entry(mem, da)?.present() {
            return Err(TableError::AlreadyMapped(va));
        }
        let mut flags = PTE_PRESENT;
        if access == Access::ReadWrite {
            flags |= PTE_WRITABLE;
        }
        if pinned {
            flags |= PTE_PINNED;
        }
        write_entry(mem, da, Pte::new(frame, flags))
    }

    /// Writes an arbitrary leaf entry for `va` (building the path), for tests that need
    /// entries the registrar would never write: not present, unpinned, out-of-range frames.
    pub fn set_leaf(
        &mut self,
        mem: &mut impl TableMemory,
        va: u64,
        pte: Pte,
    ) -> Result<(), TableError> {
        Self::check_va(va)?;
        let leaf = self
            .table_for(mem, va, 1, true)?
            .expect("created on the way");
        write_entry(mem, entry_da(leaf, level_index(va, 1)), pte)
    }

    /// Removes the mapping of `va` and returns the entry it had. Table pages stay allocated
    /// for later mappings.
    pub fn unmap(&mut self, mem: &mut impl TableMemory, va: u64) -> Result<Pte, TableError> {
        Self::check_va(va)?;
        let leaf = self
            .table_frame(mem, va, 1)?
            .ok_or(TableError::NotMapped(va))?;
        let da = entry_da(leaf, level_index(va, 1));
        let old = read_entry(mem, da)?;
        if !old.present() {
            return Err(TableError::NotMapped(va));
        }
        write_entry(mem, da, Pte(0))?;
        Ok(old)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryImage;

    #[test]
    fn map_builds_four_levels_inside_the_window() {
        let mut mem = MemoryImage::new();
        let win = TableWindow {
            base: 0x40,
            pages: 8,
        };
        let mut b = TableBuilder::new(win, &mut mem).unwrap();
        b.map(&mut mem, 0x7f00_0020_1000, 0x1234, Access::Read, true)
            .unwrap();
        assert_eq!(b.tables_used(), 4);
        let leaf = b.table_frame(&mem, 0x7f00_0020_1000, 1).unwrap().unwrap();
        assert!(win.contains(leaf));
        // A neighbour in the same 2 MiB shares the leaf table.
        b.map(&mut mem, 0x7f00_0020_2000, 0x1235, Access::ReadWrite, true)
            .unwrap();
        assert_eq!(b.tables_used(), 4);
        assert_eq!(
            b.map(&mut mem, 0x7f00_0020_2000, 1, Access::Read, true),
            Err(TableError::AlreadyMapped(0x7f00_0020_2000))
        );
        assert_eq!(b.unmap(&mut mem, 0x7f00_0020_2000).unwrap().frame(), 0x1235);
        assert!(b.unmap(&mut mem, 0x7f00_0020_2000).is_err());
        assert_eq!(
            b.map(&mut mem, 0x8000_0000_0000, 1, Access::Read, true),
            Err(TableError::BadVa(0x8000_0000_0000))
        );
    }

    #[test]
    fn leaf_table_is_the_one_map_uses() {
        let mut mem = MemoryImage::new();
        let win = TableWindow {
            base: 0x40,
            pages: 8,
        };
        let mut b = TableBuilder::new(win, &mut mem).unwrap();
        let va = 0x7f00_0020_3000;
        let leaf = b.leaf_table(&mut mem, va + 0x123).unwrap();
        assert_eq!(b.tables_used(), 4);
        assert_eq!(b.table_frame(&mem, va, 1).unwrap(), Some(leaf));
        b.map(&mut mem, va, 0x99, Access::Read, true).unwrap();
        let entry = mem.read_u64(TableBuilder::leaf_entry_da(leaf, va)).unwrap();
        assert_eq!(Pte(entry).frame(), 0x99);
        assert_eq!(
            b.leaf_table(&mut mem, 0x8000_0000_0000),
            Err(TableError::BadVa(0x8000_0000_0000))
        );
    }

    #[test]
    fn window_exhaustion_is_an_error() {
        let mut mem = MemoryImage::new();
        let mut b = TableBuilder::new(
            TableWindow {
                base: 0x40,
                pages: 4,
            },
            &mut mem,
        )
        .unwrap();
        b.map(&mut mem, 0, 1, Access::Read, true).unwrap();
        assert_eq!(
            b.map(&mut mem, 1 << 30, 1, Access::Read, true),
            Err(TableError::WindowFull(4))
        );
    }
}
