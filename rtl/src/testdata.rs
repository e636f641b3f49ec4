//! Random translation-table scenarios for the block tests: a PD's tables in a memory image,
//! with clusters of mappings and a share of deliberately broken entries (not present,
//! unpinned, read-only, out-of-range frames, next-level pointers outside the window, table
//! pages beyond the end of memory).

use abi::pte::{Pte, PTE_PINNED, PTE_PRESENT, PTE_WRITABLE};
use abi::shortcut::TableWindow;
use abi::status::Status;
use abi::{level_index, Access, MemoryImage, TableBuilder, TableMemory, PAGE_SHIFT, PAGE_SIZE};
use rand::Rng;

/// Memory ends here: table reads beyond it fail with a DMA error.
pub const MEMORY_LIMIT: u64 = 1 << 32;

/// A PD's tables and the page VAs they map (some mappings broken on purpose).
pub struct Scenario {
    /// The memory image holding the tables.
    pub mem: MemoryImage,
    /// The PD's table window.
    pub window: TableWindow,
    /// The table builder, for looking up table frames.
    pub tables: TableBuilder,
    /// Page-aligned VAs that have leaf entries.
    pub vas: Vec<u64>,
    /// VAs whose walk from the root meets a broken upper-level entry, with that entry's
    /// level (a walk starting at that level or above sees it).
    pub broken_paths: Vec<(u64, u8)>,
}

/// Builds a random scenario.
pub fn random_tables(rng: &mut impl Rng) -> Scenario {
    let mut mem = MemoryImage::with_limit(MEMORY_LIMIT);
    // Window near the end of memory, sometimes running past it.
    let base = ((MEMORY_LIMIT >> PAGE_SHIFT) - 200 + rng.gen_range(0..150)) as u32;
    let window = TableWindow { base, pages: 160 };
    let mut tables = TableBuilder::new(window, &mut mem).expect("root fits");
    let mut vas = vec![];
    for _ in 0..rng.gen_range(3..8) {
        let start = (rng.gen::<u64>() & abi::mask(abi::VA_BITS)) & !(PAGE_SIZE - 1);
        for i in 0..rng.gen_range(1..40u64) {
            let va = start + i * PAGE_SIZE;
            if va >> abi::VA_BITS != 0 {
                break;
            }
            let frame = rng.gen::<u64>() & abi::mask(abi::FRAME_BITS);
            let access = if rng.gen_bool(0.7) {
                Access::ReadWrite
            } else {
                Access::Read
            };
            let ok = match rng.gen_range(0..20) {
                0 => tables.set_leaf(&mut mem, va, Pte::new(frame, PTE_PINNED | PTE_WRITABLE)),
                1 => tables.set_leaf(&mut mem, va, Pte::new(frame, PTE_PRESENT | PTE_WRITABLE)),
                2 => tables.set_leaf(
                    &mut mem,
                    va,
                    Pte::new(frame | 1 << 30, PTE_PRESENT | PTE_PINNED | PTE_WRITABLE),
                ),
                _ => tables.map(&mut mem, va, frame, access, true),
            };
            if ok.is_err() {
                break;
            }
            vas.push(va);
        }
    }
    // One leaf of each broken kind, in a 2 MiB region of their own.
    let special = (rng.gen::<u64>() & abi::mask(abi::VA_BITS)) & !abi::mask(21);
    let broken = [
        Pte::new(1, PTE_PINNED | PTE_WRITABLE),
        Pte::new(2, PTE_PRESENT | PTE_WRITABLE),
        Pte::new(3, PTE_PRESENT | PTE_PINNED),
        Pte::new(1 << 30, PTE_PRESENT | PTE_PINNED | PTE_WRITABLE),
    ];
    // Walks that must keep their outcome while upper-level entries are broken below.
    let mut witnesses = vec![];
    for (i, pte) in broken.into_iter().enumerate() {
        let va = special + i as u64 * PAGE_SIZE;
        if tables.set_leaf(&mut mem, va, pte).is_ok() {
            vas.push(va);
            witnesses.push((va, root_walk(&mem, &window, &tables, va)));
        }
    }
    // Break upper-level entries: one next-level pointer outside the window, one not
    // present, each on a path that leaves the other and the broken leaves reachable.
    let mut broken_paths = vec![];
    for (bad, status) in [
        (Pte::table(u64::from(base) + 500), Status::WalkWindow),
        (Pte(0), Status::NotPresent),
    ] {
        for _ in 0..50 {
            let va = vas[rng.gen_range(0..vas.len())];
            let level = rng.gen_range(2..=4u8);
            let Ok(Some(t)) = tables.table_frame(&mem, va, level) else {
                continue;
            };
            let da = (t << PAGE_SHIFT) + level_index(va, level) * 8;
            // A table page past the end of memory is broken already (DMA error).
            let Some(old) = mem.read_u64(da) else {
                continue;
            };
            mem.write_u64(da, bad.0);
            witnesses.push((va, Err(status)));
            let intact = witnesses
                .iter()
                .all(|(va, want)| root_walk(&mem, &window, &tables, *va) == *want);
            if intact {
                broken_paths.push((va, level));
                break;
            }
            witnesses.pop();
            mem.write_u64(da, old);
        }
    }
    Scenario {
        mem,
        window,
        tables,
        vas,
        broken_paths,
    }
}

/// The outcome of walking `va` for a read from the root table.
fn root_walk(
    mem: &MemoryImage,
    window: &TableWindow,
    tables: &TableBuilder,
    va: u64,
) -> Result<Pte, Status> {
    abi::translator::walk(mem, window, 4, tables.root(), va, false, &mut 0)
}
