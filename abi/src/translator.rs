//! Golden model of the device's translation core.
//!
//! It takes the same register writes as the hardware and answers each request with the same
//! per-page device addresses, the same final status, the same number of table reads and the
//! same cache behaviour, so the RTL can be compared against it request by request.
//!
//! Order of work for one request `{vi, va, shortcut, length, write}`:
//! 1. VI checks (enabled, locked, mode), length, PD checks (valid, operation allowed), and the
//!    address range;
//! 2. single-page requests probe the translation cache: a hit costs no table read and, in
//!    shortcut mode, no decryption (the entry remembers the shortcut and key slot that filled
//!    it, so only that exact shortcut hits);
//! 3. otherwise, in shortcut mode, the shortcut is decrypted and checked (a failure counts as a
//!    fault), the range must stay inside the named table's span, and each page is walked from
//!    the named level; in full-walk mode each page is walked from the PD root; in physical
//!    mode the address is the device address;
//! 4. every page that walks successfully fills the cache.

use crate::cipher::{decrypt_with_round_keys, round_keys, Key, ROUNDS};
use crate::geometry::*;
use crate::memory::TableMemory;
use crate::pte::Pte;
use crate::regs;
use crate::shortcut::{self, Plaintext, Shortcut, TableWindow};
use crate::status::Status;

/// How a VI's descriptors name memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TranslationMode {
    /// Keyed shortcut plus partial walk (the invention).
    Shortcut = 0,
    /// Walk all four levels from the PD root (an IOMMU without caches).
    FullWalk = 1,
    /// The descriptor carries a device address (privileged VIs and benchmarks only).
    Physical = 2,
}

impl TranslationMode {
    /// Every defined mode.
    pub const ALL: [TranslationMode; 3] = [
        TranslationMode::Shortcut,
        TranslationMode::FullWalk,
        TranslationMode::Physical,
    ];

    /// Decodes the 2-bit mode field; 3 is reserved.
    pub fn from_bits(bits: u32) -> Option<TranslationMode> {
        match bits {
            0 => Some(TranslationMode::Shortcut),
            1 => Some(TranslationMode::FullWalk),
            2 => Some(TranslationMode::Physical),
            _ => None,
        }
    }

    /// The mode's name in benchmarks and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            TranslationMode::Shortcut => "shortcut",
            TranslationMode::FullWalk => "full_walk",
            TranslationMode::Physical => "physical",
        }
    }
}

/// Per-VI configuration and fault state, as held by the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ViConfig {
    /// The VI accepts requests.
    pub enabled: bool,
    /// Raw 2-bit translation mode.
    pub mode: u8,
    /// Protection domain.
    pub pd: u8,
    /// Key slot.
    pub key_slot: u8,
    /// Shortcut faults since configuration (saturating).
    pub faults: u8,
    /// Locked after too many faults.
    pub locked: bool,
}

impl ViConfig {
    /// The VI_CTRL value that configures this VI.
    pub fn ctrl_word(&self) -> u32 {
        regs::VI_CTRL_ENABLE.put(u32::from(self.enabled))
            | regs::VI_CTRL_MODE.put(u32::from(self.mode))
            | regs::VI_CTRL_PD.put(u32::from(self.pd))
            | regs::VI_CTRL_KEY_SLOT.put(u32::from(self.key_slot))
    }
}

/// Per-PD configuration, as held by the device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PdConfig {
    /// The PD exists.
    pub valid: bool,
    /// Current generation.
    pub generation: u8,
    /// The device may read the PD's buffers.
    pub allow_read: bool,
    /// The device may write the PD's buffers.
    pub allow_write: bool,
    /// Table window (its first frame is the root).
    pub window: TableWindow,
}

impl PdConfig {
    /// The PD_CTRL value that configures this PD.
    pub fn ctrl_word(&self) -> u32 {
        regs::PD_CTRL_VALID.put(u32::from(self.valid))
            | regs::PD_CTRL_GENERATION.put(u32::from(self.generation))
            | regs::PD_CTRL_ALLOW_READ.put(u32::from(self.allow_read))
            | regs::PD_CTRL_ALLOW_WRITE.put(u32::from(self.allow_write))
    }
}

/// One translation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslationRequest {
    /// Requesting VI.
    pub vi: u8,
    /// Virtual address (device address in physical mode).
    pub va: u64,
    /// Shortcut from the descriptor (ignored outside shortcut mode).
    pub shortcut: Shortcut,
    /// Bytes to transfer.
    pub length: u32,
    /// The device will write the buffer (receive) rather than read it (send).
    pub write: bool,
}

/// One translated page of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageResult {
    /// Device address of the first byte in this page.
    pub da: u64,
    /// Bytes of the transfer in this page.
    pub bytes: u32,
}

/// The outcome of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslationResult {
    /// Pages translated before the request ended (all of them when `status` is `Ok`).
    pub pages: Vec<PageResult>,
    /// `Ok`, or the first failed check.
    pub status: Status,
    /// Table entries read from memory.
    pub pte_reads: u32,
    /// The request was answered from the translation cache.
    pub cache_hit: bool,
    /// The shortcut was decrypted.
    pub decrypted: bool,
}

/// One translation-cache entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheEntry {
    /// The entry holds a translation.
    pub valid: bool,
    /// Filled by a shortcut-mode walk: hits only for the same shortcut and key slot.
    pub via_shortcut: bool,
    /// PD of the translation.
    pub pd: u8,
    /// Key slot that opened the shortcut.
    pub key_slot: u8,
    /// Virtual page bits above the index.
    pub vtag: u32,
    /// Shortcut that filled the entry.
    pub shortcut: u64,
    /// Device frame.
    pub frame: u32,
    /// The page is device-writable.
    pub writable: bool,
}

/// Bits of the cache tag taken from the virtual page number.
pub const CACHE_VTAG_BITS: u32 = VPAGE_BITS - CACHE_INDEX_BITS;

/// Cache set of virtual page `vpage` in PD `pd`: the low page bits, with the PD folded into
/// the top so that PDs mapping the same addresses do not evict each other.
pub fn cache_index(pd: u8, vpage: u64) -> usize {
    let pd_fold = u64::from(pd) << (CACHE_INDEX_BITS - PD_BITS);
    ((vpage ^ pd_fold) & mask(CACHE_INDEX_BITS)) as usize
}

/// The golden translation core.
#[derive(Clone, Debug)]
pub struct Translator {
    vis: [ViConfig; NUM_VIS],
    pds: [PdConfig; NUM_PDS],
    /// Expanded keys; all-zero round keys until a key is loaded, as in the device's RAM.
    round_keys: [[u32; ROUNDS]; NUM_KEY_SLOTS],
    /// Key words 0..2 as written last (one set for all slots, as in the device).
    key_staging: [u32; 4],
    fault_threshold: u8,
    cache: Vec<CacheEntry>,
}

impl Default for Translator {
    fn default() -> Self {
        Translator::new()
    }
}

impl Translator {
    /// A translator in its reset state: everything disabled, cache empty, keys zero.
    pub fn new() -> Translator {
        Translator {
            vis: [ViConfig::default(); NUM_VIS],
            pds: [PdConfig::default(); NUM_PDS],
            round_keys: [[0; ROUNDS]; NUM_KEY_SLOTS],
            key_staging: [0; 4],
            fault_threshold: 0,
            cache: vec![CacheEntry::default(); CACHE_ENTRIES],
        }
    }

    /// A VI's configuration and fault state (the reset state for a VI beyond the table's
    /// `NUM_VIS` slots: never enabled).
    pub fn vi(&self, vi: usize) -> ViConfig {
        self.vis.get(vi).copied().unwrap_or_default()
    }

    /// A PD's configuration.
    pub fn pd(&self, pd: usize) -> PdConfig {
        self.pds[pd]
    }

    /// The cache entry at `index`.
    pub fn cache_entry(&self, index: usize) -> CacheEntry {
        self.cache[index]
    }

    /// Applies a register write, exactly as the device does.
    pub fn write_reg(&mut self, offset: u16, value: u32) {
        let block = |base, stride, count| reg_block(offset, base, stride, count);
        if offset == regs::FAULT_THRESHOLD {
            self.fault_threshold = value as u8;
        } else if offset == regs::CACHE_INVALIDATE_ALL {
            self.invalidate_all();
        } else if offset == regs::CACHE_INVALIDATE_PD {
            self.invalidate_pd((value as usize % NUM_PDS) as u8);
        } else if let Some((pd, reg)) = block(regs::PD_BASE, regs::PD_STRIDE, NUM_PDS) {
            let p = &mut self.pds[pd];
            match reg {
                regs::PD_CTRL => {
                    p.valid = regs::PD_CTRL_VALID.get(value) != 0;
                    p.generation = regs::PD_CTRL_GENERATION.get(value) as u8;
                    p.allow_read = regs::PD_CTRL_ALLOW_READ.get(value) != 0;
                    p.allow_write = regs::PD_CTRL_ALLOW_WRITE.get(value) != 0;
                }
                regs::PD_WINDOW_BASE => p.window.base = value & mask(FRAME_BITS) as u32,
                regs::PD_WINDOW_PAGES => p.window.pages = value & mask(FRAME_BITS) as u32,
                _ => return,
            }
            self.invalidate_pd(pd as u8);
        } else if let Some((vi, reg)) = block(regs::VI_BASE, regs::VI_STRIDE, NUM_VIS) {
            if reg == regs::VI_CTRL {
                self.vis[vi] = ViConfig {
                    enabled: regs::VI_CTRL_ENABLE.get(value) != 0,
                    mode: regs::VI_CTRL_MODE.get(value) as u8,
                    pd: regs::VI_CTRL_PD.get(value) as u8,
                    key_slot: regs::VI_CTRL_KEY_SLOT.get(value) as u8,
                    faults: 0,
                    locked: false,
                };
            }
        } else if let Some((slot, reg)) = block(regs::KEY_BASE, regs::KEY_STRIDE, NUM_KEY_SLOTS) {
            if reg % 4 == 0 {
                let word = (reg / 4) as usize;
                // Words 0..2 are staged for whichever slot word 3 then names; write all four
                // words of a key, one key at a time.
                self.key_staging[word] = value;
                if word == 3 {
                    let [k0, l0, l1, l2] = self.key_staging.map(u128::from);
                    let key = Key::from_u128(k0 | l0 << 32 | l1 << 64 | l2 << 96);
                    self.round_keys[slot] = round_keys(&key);
                    self.invalidate_all();
                }
            }
        }
    }

    /// Answers a register read, exactly as the device does (keys read as 0).
    pub fn read_reg(&self, offset: u16) -> u32 {
        let block = |base, stride, count| reg_block(offset, base, stride, count);
        match offset {
            regs::ID => return regs::DEVICE_ID,
            regs::VERSION => return regs::ABI_VERSION,
            regs::FAULT_THRESHOLD => return u32::from(self.fault_threshold),
            _ => {}
        }
        if let Some((pd, reg)) = block(regs::PD_BASE, regs::PD_STRIDE, NUM_PDS) {
            let p = &self.pds[pd];
            return match reg {
                regs::PD_CTRL => p.ctrl_word(),
                regs::PD_WINDOW_BASE => p.window.base,
                regs::PD_WINDOW_PAGES => p.window.pages,
                _ => 0,
            };
        }
        if let Some((vi, reg)) = block(regs::VI_BASE, regs::VI_STRIDE, NUM_VIS) {
            let v = &self.vis[vi];
            return match reg {
                regs::VI_CTRL => v.ctrl_word(),
                regs::VI_FAULTS => {
                    regs::VI_FAULTS_COUNT.put(u32::from(v.faults))
                        | regs::VI_FAULTS_LOCKED.put(u32::from(v.locked))
                }
                _ => 0,
            };
        }
        0
    }

    /// Register writes that configure PD `pd`.
    pub fn pd_writes(pd: usize, cfg: &PdConfig) -> [(u16, u32); 3] {
        [
            (regs::pd_reg(pd, regs::PD_WINDOW_BASE), cfg.window.base),
            (regs::pd_reg(pd, regs::PD_WINDOW_PAGES), cfg.window.pages),
            (regs::pd_reg(pd, regs::PD_CTRL), cfg.ctrl_word()),
        ]
    }

    /// Register writes that load `key` into key slot `slot`.
    pub fn key_writes(slot: usize, key: &Key) -> [(u16, u32); 4] {
        let w = key.words();
        std::array::from_fn(|i| (regs::key_reg(slot, i), w[i]))
    }

    fn invalidate_all(&mut self) {
        self.cache.iter_mut().for_each(|e| e.valid = false);
    }

    fn invalidate_pd(&mut self, pd: u8) {
        self.cache
            .iter_mut()
            .filter(|e| e.pd == pd)
            .for_each(|e| e.valid = false);
    }

    /// Counts one shortcut fault against `vi` (saturating) and locks the VI when the count
    /// reaches `FAULT_THRESHOLD`, as the device does for every failed shortcut check (a VI
    /// beyond the table's slots has no fault state: nothing happens).
    pub fn record_fault(&mut self, vi: usize) {
        let Some(v) = self.vis.get_mut(vi) else {
            return;
        };
        v.faults = v.faults.saturating_add(1);
        if self.fault_threshold != 0 && v.faults >= self.fault_threshold {
            v.locked = true;
        }
    }

    /// Translates one request, reading tables from `mem`.
    pub fn translate(
        &mut self,
        mem: &impl TableMemory,
        req: &TranslationRequest,
    ) -> TranslationResult {
        let mut out = TranslationResult {
            pages: vec![],
            status: Status::Ok,
            pte_reads: 0,
            cache_hit: false,
            decrypted: false,
        };
        out.status = self.translate_into(mem, req, &mut out);
        out
    }

    fn translate_into(
        &mut self,
        mem: &impl TableMemory,
        req: &TranslationRequest,
        out: &mut TranslationResult,
    ) -> Status {
        // A VI beyond the table's slots has no configuration: it is never enabled.
        let vi_index = req.vi as usize;
        let Some(&vi) = self.vis.get(vi_index) else {
            return Status::ViDisabled;
        };
        if !vi.enabled {
            return Status::ViDisabled;
        }
        if vi.locked {
            return Status::ViLocked;
        }
        let Some(mode) = TranslationMode::from_bits(u32::from(vi.mode)) else {
            return Status::BadMode;
        };
        let len = u64::from(req.length);
        if len == 0 || len > MAX_TRANSFER_LEN {
            return Status::BadLength;
        }
        let pd = self.pds[vi.pd as usize];
        if !pd.valid {
            return Status::PdInvalid;
        }
        if !(if req.write {
            pd.allow_write
        } else {
            pd.allow_read
        }) {
            return Status::OpDenied;
        }
        let va = req.va;
        let limit_bits = if mode == TranslationMode::Physical {
            DA_BITS
        } else {
            VA_BITS
        };
        if va >> limit_bits != 0 || (va + len - 1) >> limit_bits != 0 {
            return Status::AddrRange;
        }
        let pages = pages_spanned(va, len);
        if mode == TranslationMode::Physical {
            for_each_page(va, len, |page_va, bytes| {
                out.pages.push(PageResult { da: page_va, bytes })
            });
            return Status::Ok;
        }

        // Single-page requests may be answered by the cache.
        let shortcut_mode = mode == TranslationMode::Shortcut;
        if pages == 1 {
            let vpage = va >> PAGE_SHIFT;
            let e = self.cache[cache_index(vi.pd, vpage)];
            let hit = e.valid
                && e.pd == vi.pd
                && u64::from(e.vtag) == vpage >> CACHE_INDEX_BITS
                && (!shortcut_mode
                    || (e.via_shortcut
                        && e.key_slot == vi.key_slot
                        && e.shortcut == req.shortcut.0));
            if hit {
                out.cache_hit = true;
                if req.write && !e.writable {
                    return Status::ReadOnly;
                }
                out.pages.push(PageResult {
                    da: (u64::from(e.frame) << PAGE_SHIFT) | (va & mask(PAGE_SHIFT)),
                    bytes: req.length,
                });
                return Status::Ok;
            }
        }

        let (start_level, start_table) = if shortcut_mode {
            out.decrypted = true;
            let rk = &self.round_keys[vi.key_slot as usize];
            let p = Plaintext::unpack(decrypt_with_round_keys(rk, req.shortcut.0));
            if let Err(e) = shortcut::check(&p, va, pd.generation, &pd.window) {
                self.record_fault(vi_index);
                return e.status();
            }
            let span = level_span_shift(p.level);
            if (va + len - 1) >> span != va >> span {
                return Status::CrossesTable;
            }
            (p.level, u64::from(p.table_frame))
        } else {
            (LEVELS, u64::from(pd.window.base))
        };

        let mut status = Status::Ok;
        let mut results = vec![];
        for_each_page(va, len, |page_va, bytes| {
            if status != Status::Ok {
                return;
            }
            match walk(
                mem,
                &pd.window,
                start_level,
                start_table,
                page_va,
                req.write,
                &mut out.pte_reads,
            ) {
                Ok(pte) => results.push((page_va, bytes, pte)),
                Err(s) => status = s,
            }
        });
        for (page_va, bytes, pte) in results {
            let vpage = page_va >> PAGE_SHIFT;
            self.cache[cache_index(vi.pd, vpage)] = CacheEntry {
                valid: true,
                via_shortcut: shortcut_mode,
                pd: vi.pd,
                key_slot: if shortcut_mode { vi.key_slot } else { 0 },
                vtag: (vpage >> CACHE_INDEX_BITS) as u32,
                shortcut: if shortcut_mode { req.shortcut.0 } else { 0 },
                frame: pte.frame() as u32,
                writable: pte.writable(),
            };
            out.pages.push(PageResult {
                da: (pte.frame() << PAGE_SHIFT) | (page_va & mask(PAGE_SHIFT)),
                bytes,
            });
        }
        status
    }
}

/// Which instance of a register array `offset` falls in, and the offset inside it: `None` when
/// it lies before `base` or past the `count` blocks of `stride` bytes.
fn reg_block(offset: u16, base: u16, stride: u16, count: usize) -> Option<(usize, u16)> {
    let rel = offset.checked_sub(base)?;
    let idx = (rel / stride) as usize;
    (idx < count).then_some((idx, rel % stride))
}

/// Calls `f(page_va, bytes)` for each page piece of `[va, va + len)`.
pub fn for_each_page(va: u64, len: u64, mut f: impl FnMut(u64, u32)) {
    let mut at = va;
    let end = va + len;
    while at < end {
        let bytes = page_remaining(at).min(end - at);
        f(at, bytes as u32);
        at += bytes;
    }
}

/// Walks from table `table` at `level` down to the leaf entry for `va`, applying the device's
/// checks; counts every entry read in `reads`.
pub fn walk(
    mem: &impl TableMemory,
    window: &TableWindow,
    level: u8,
    table: u64,
    va: u64,
    write: bool,
    reads: &mut u32,
) -> Result<Pte, Status> {
    let mut table = table;
    for l in (1..=level).rev() {
        let da = (table << PAGE_SHIFT) + level_index(va, l) * PTE_BYTES;
        *reads += 1;
        let pte = Pte(mem.read_u64(da).ok_or(Status::DmaError)?);
        if !pte.present() {
            return Err(Status::NotPresent);
        }
        if l > 1 {
            if !window.contains(pte.frame()) {
                return Err(Status::WalkWindow);
            }
            table = pte.frame();
            continue;
        }
        if !pte.pinned() {
            return Err(Status::NotPinned);
        }
        if write && !pte.writable() {
            return Err(Status::ReadOnly);
        }
        if pte.frame() >> FRAME_BITS != 0 {
            return Err(Status::FrameRange);
        }
        return Ok(pte);
    }
    unreachable!("levels run from `level` down to 1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::ShortcutCipher;
    use crate::memory::MemoryImage;
    use crate::tables::{Access, TableBuilder};

    struct Fixture {
        mem: MemoryImage,
        tr: Translator,
        tables: TableBuilder,
        cipher: ShortcutCipher,
    }

    const VA: u64 = 0x7f00_1234_5000;

    fn fixture() -> Fixture {
        let mut mem = MemoryImage::new();
        let window = TableWindow {
            base: 0x100,
            pages: 32,
        };
        let mut tables = TableBuilder::new(window, &mut mem).unwrap();
        for i in 0..4 {
            tables
                .map(
                    &mut mem,
                    VA + i * PAGE_SIZE,
                    0x5000 + i,
                    Access::ReadWrite,
                    true,
                )
                .unwrap();
        }
        tables
            .map(&mut mem, VA + 4 * PAGE_SIZE, 0x6000, Access::Read, true)
            .unwrap();
        let key = Key::from_u128(0xfeed_f00d_0123_4567_89ab_cdef_0011_2233);
        let mut tr = Translator::new();
        let pd = PdConfig {
            valid: true,
            generation: 5,
            allow_read: true,
            allow_write: true,
            window,
        };
        let writes = Translator::pd_writes(1, &pd)
            .into_iter()
            .chain(Translator::key_writes(2, &key))
            .chain([(
                regs::vi_reg(0, regs::VI_CTRL),
                ViConfig {
                    enabled: true,
                    mode: 0,
                    pd: 1,
                    key_slot: 2,
                    ..Default::default()
                }
                .ctrl_word(),
            )]);
        for (o, v) in writes {
            tr.write_reg(o, v);
        }
        Fixture {
            mem,
            tr,
            tables,
            cipher: ShortcutCipher::new(&key),
        }
    }

    fn leaf_shortcut(f: &Fixture, va: u64, gen: u8) -> Shortcut {
        let leaf = f.tables.table_frame(&f.mem, va, 1).unwrap().unwrap();
        Shortcut::mint(&f.cipher, leaf as u32, 1, gen, va)
    }

    fn req(va: u64, shortcut: Shortcut, length: u32, write: bool) -> TranslationRequest {
        TranslationRequest {
            vi: 0,
            va,
            shortcut,
            length,
            write,
        }
    }

    #[test]
    fn leaf_shortcut_reads_one_entry_then_hits_the_cache() {
        let mut f = fixture();
        let s = leaf_shortcut(&f, VA, 5);
        let r = f.tr.translate(&f.mem, &req(VA + 0x10, s, 64, false));
        assert_eq!(r.status, Status::Ok);
        assert_eq!(r.pte_reads, 1);
        assert_eq!(
            r.pages,
            vec![PageResult {
                da: 0x0500_0010,
                bytes: 64
            }]
        );
        let r = f.tr.translate(&f.mem, &req(VA + 0x20, s, 64, true));
        assert!(r.cache_hit && !r.decrypted);
        assert_eq!(r.pte_reads, 0);
        assert_eq!(r.pages[0].da, 0x0500_0020);
    }

    #[test]
    fn multi_page_requests_split_at_pages() {
        let mut f = fixture();
        let s = leaf_shortcut(&f, VA, 5);
        let r = f.tr.translate(&f.mem, &req(VA + 0xf00, s, 0x1200, false));
        assert_eq!(r.status, Status::Ok);
        assert_eq!(
            r.pages,
            vec![
                PageResult {
                    da: 0x0500_0f00,
                    bytes: 0x100
                },
                PageResult {
                    da: 0x0500_1000,
                    bytes: 0x1000
                },
                PageResult {
                    da: 0x0500_2000,
                    bytes: 0x100
                },
            ]
        );
        assert_eq!(r.pte_reads, 3);
    }

    #[test]
    fn full_walk_reads_four_entries() {
        let mut f = fixture();
        f.tr.write_reg(
            regs::vi_reg(0, regs::VI_CTRL),
            ViConfig {
                enabled: true,
                mode: 1,
                pd: 1,
                key_slot: 2,
                ..Default::default()
            }
            .ctrl_word(),
        );
        let r = f.tr.translate(&f.mem, &req(VA, Shortcut(0), 8, false));
        assert_eq!((r.status, r.pte_reads), (Status::Ok, 4));
    }

    #[test]
    fn forged_stale_and_read_only_each_have_a_status() {
        let mut f = fixture();
        f.tr.write_reg(regs::FAULT_THRESHOLD, 3);
        let good = leaf_shortcut(&f, VA, 5);
        let r =
            f.tr.translate(&f.mem, &req(VA, Shortcut(good.0 ^ 1), 8, false));
        assert!(r.status.is_fault());
        assert_eq!(r.pte_reads, 0);
        let stale = leaf_shortcut(&f, VA, 4);
        let r = f.tr.translate(&f.mem, &req(VA, stale, 8, false));
        assert_eq!(r.status, Status::ShortcutGeneration);
        let ro = VA + 4 * PAGE_SIZE;
        let r =
            f.tr.translate(&f.mem, &req(ro, leaf_shortcut(&f, ro, 5), 8, true));
        assert_eq!(r.status, Status::ReadOnly);
        let r = f.tr.translate(&f.mem, &req(VA, good, 0x20_0000, false));
        assert_eq!(r.status, Status::CrossesTable);
        // Third fault locks the VI.
        f.tr.translate(&f.mem, &req(VA, Shortcut(7), 8, false));
        assert!(f.tr.vi(0).locked);
        assert_eq!(
            f.tr.translate(&f.mem, &req(VA, good, 8, false)).status,
            Status::ViLocked
        );
        assert_eq!(f.tr.read_reg(regs::vi_reg(0, regs::VI_FAULTS)), 3 | 1 << 8);
    }

    #[test]
    fn generation_bump_drops_cached_translations() {
        let mut f = fixture();
        let s = leaf_shortcut(&f, VA, 5);
        assert_eq!(
            f.tr.translate(&f.mem, &req(VA, s, 8, false)).status,
            Status::Ok
        );
        let mut pd = f.tr.pd(1);
        pd.generation = 6;
        f.tr.write_reg(regs::pd_reg(1, regs::PD_CTRL), pd.ctrl_word());
        let r = f.tr.translate(&f.mem, &req(VA, s, 8, false));
        assert_eq!(r.status, Status::ShortcutGeneration);
        assert!(!r.cache_hit);
    }
}
