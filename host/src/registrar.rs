//! The registrar: the trusted third party between applications and the device.
//!
//! It owns the DMA space and the device's privileged registers. Each application (a
//! *client*) gets one protection domain with its own 4-level table tree in DMA memory and
//! its own key (key slot = PD), minted from the OS random source and written only to the
//! device. An application asks for DMA memory (*pools*, memfd regions it maps), VIs (rings it
//! maps and a doorbell page it writes) and registrations (`register(pool, va, len, access)`):
//! the registrar pins the pages (the pool can no longer be freed), writes their entries into
//! the PD's tables and answers with one shortcut per leaf table the buffer touches.
//!
//! Revocation: `deregister` clears the entries (a shortcut for them now reaches only
//! not-present entries), invalidates the device's translation cache for the PD and waits
//! until the device has done so, and only then unpins. `revoke_shortcuts` bumps the PD's
//! generation — every shortcut minted before fails — and re-mints the live registrations.
//! A PD slot reused by another application starts at a new generation with a new key.
//!
//! Doorbells: an application writes its VI's doorbell page (memory it maps); [`Registrar::pump`]
//! forwards changed words to the device's doorbell registers and lets the device run. A PCIe
//! backend would map the device's own doorbell page instead; the application cannot tell.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use abi::queues::{CQE_BYTES, DESC_BYTES, MAX_RING_LOG2};
use abi::regs;
use abi::shortcut::TableWindow;
use abi::translator::{PdConfig, TranslationMode, Translator, ViConfig};
use abi::{Access, Key, Pte, Shortcut, ShortcutCipher, TableBuilder, TableMemory, PAGE_SIZE};
use serde::{Deserialize, Serialize};

use crate::backend::{Backend, DmaPolicy};
use crate::dma::DmaRegion;
use crate::error::{Error, Result};

/// Table pages in each PD's window: the root, the upper levels and one leaf table per 2 MiB
/// of virtual addresses registered.
pub const WINDOW_PAGES: u32 = 64;
/// Bytes of each PD's table window.
const WINDOW_BYTES: u64 = WINDOW_PAGES as u64 * PAGE_SIZE;
/// Bytes of virtual addresses one leaf table maps.
pub const LEAF_SPAN: u64 = PAGE_SIZE << abi::LEVEL_BITS;
/// Largest pool an application may ask for at once.
pub const MAX_POOL_BYTES: u64 = 256 << 20;
/// Cycles a backend gets per [`Registrar::pump`] slice.
const PUMP_SLICE: u64 = 2048;
/// Slices without data movement after which [`Registrar::pump`] considers the device idle
/// until the next doorbell.
const QUIET_SLICES_BEFORE_IDLE: u32 = 8;
/// Cycles the device gets to finish a closed VI's work before its memory goes away.
const DRAIN_CYCLES: u64 = 2_000_000;

/// An application, as the registrar knows it (the daemon numbers its connections).
pub type ClientId = u64;

/// A shortcut for the leaf table serving `[va, va + LEAF_SPAN)` (clipped to the buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeafShortcut {
    /// First virtual address of the buffer this shortcut serves.
    pub va: u64,
    /// The shortcut (ciphertext).
    pub shortcut: u64,
}

/// What an application gets for a registration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationGrant {
    /// Handle for `deregister`.
    pub id: u64,
    /// First virtual address.
    pub va: u64,
    /// Bytes.
    pub len: u64,
    /// One shortcut per leaf table, in address order.
    pub shortcuts: Vec<LeafShortcut>,
}

/// What an application gets for a pool (the region itself travels as a file descriptor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolGrant {
    /// Handle for registrations and `free_pool`.
    pub id: u64,
    /// Bytes.
    pub len: u64,
}

/// What an application gets for a VI (rings and doorbell page travel as file descriptors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViGrant {
    /// The device's VI number (the `dest` other VIs send to).
    pub vi: u8,
    /// log2 of the send, receive and completion queue entries.
    pub log2: u32,
    /// Offsets of the send, receive and completion queue in the rings region.
    pub offsets: [u64; 3],
}

/// What [`Registrar::open_vi`] hands over.
pub struct ViHandover {
    /// Geometry.
    pub grant: ViGrant,
    /// The rings (device-reachable memory).
    pub rings: Arc<DmaRegion>,
    /// The doorbell page (not device-reachable; the registrar relays it).
    pub doorbell: Arc<DmaRegion>,
}

/// Identity and state of the device, for `skipwalk info`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Backend name.
    pub backend: String,
    /// ID register (ASCII "SKPW").
    pub id: String,
    /// Contract version.
    pub version: u32,
    /// VIs with queues.
    pub vis: u32,
    /// log2 of the largest ring.
    pub max_ring_log2: u32,
    /// Internal loopback on.
    pub loopback: bool,
    /// Frames sent, received, and received malformed.
    pub tx_frames: u32,
    /// Frames received.
    pub rx_frames: u32,
    /// Frames received malformed.
    pub rx_bad_frames: u32,
    /// Per VI in use: number, PD, mode, queue state and faults.
    pub vi_state: Vec<ViState>,
    /// Bytes of DMA memory the device reaches.
    pub dma_bytes: u64,
    /// Of those, bytes `mlock` refused (raise `RLIMIT_MEMLOCK`, or run as root).
    pub dma_unlocked_bytes: u64,
}

/// One VI's device state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ViState {
    /// VI number.
    pub vi: u8,
    /// Its PD.
    pub pd: u8,
    /// Translation mode.
    pub mode: String,
    /// Next send descriptor the device fetches.
    pub sq_head: u32,
    /// Next receive descriptor the device consumes.
    pub rq_head: u32,
    /// Next completion the device writes.
    pub cq_tail: u32,
    /// Doorbell writes ignored (impossible values, disabled VI).
    pub doorbell_drops: u32,
    /// Frames for this VI dropped (no receive descriptor).
    pub rx_drops: u32,
    /// Shortcut faults and whether the VI locked itself.
    pub faults: u32,
    /// Locked after too many faults.
    pub locked: bool,
}

struct PageUse {
    frame: u64,
    count: u32,
    writers: u32,
}

struct Pd {
    owner: ClientId,
    tables: TableBuilder,
    cfg: PdConfig,
    cipher: ShortcutCipher,
    pages: HashMap<u64, PageUse>,
}

struct Pool {
    owner: ClientId,
    da: u64,
    region: Arc<DmaRegion>,
    pins: u64,
}

struct Registration {
    owner: ClientId,
    pd: usize,
    pool: u64,
    va: u64,
    len: u64,
    access: Access,
    /// Frame of each page, from the first page of `va`.
    frames: Vec<u64>,
    /// Leaf table frame and first buffer address it serves.
    leaves: Vec<(u64, u64)>,
}

struct ViSlot {
    owner: ClientId,
    pd: usize,
    mode: TranslationMode,
    rings_da: u64,
    grant: ViGrant,
    doorbell: Arc<DmaRegion>,
    relayed: [u32; 4],
}

/// Doorbell words in the order the relay forwards them.
const DOORBELL_WORDS: [u32; 4] = [
    regs::DB_SQ_TAIL,
    regs::DB_RQ_TAIL,
    regs::DB_CQ_HEAD,
    regs::DB_CQ_ARM,
];

/// The registrar and the device it owns.
pub struct Registrar {
    backend: Box<dyn Backend>,
    tables_da: u64,
    _tables: Arc<DmaRegion>,
    pds: Vec<Option<Pd>>,
    generations: Vec<u8>,
    vis: Vec<Option<ViSlot>>,
    pools: BTreeMap<u64, Pool>,
    registrations: BTreeMap<u64, Registration>,
    next_id: u64,
    loopback: bool,
    quiet_slices: u32,
}

/// 128 bits from the OS random source.
fn random_key() -> Result<Key> {
    let mut buf = [0u8; 16];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of `buf`.
        let n = unsafe { libc::getrandom(buf[got..].as_mut_ptr().cast(), buf.len() - got, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(Error::io("getrandom for a shortcut key", e));
        }
        got += n as usize;
    }
    Ok(Key::from_u128(u128::from_le_bytes(buf)))
}

impl Registrar {
    /// Takes over `backend`: checks the device's identity, sets loopback, and reserves the
    /// table windows of every PD.
    pub fn new(mut backend: Box<dyn Backend>, loopback: bool) -> Result<Registrar> {
        let id = backend.read_reg(u32::from(regs::ID))?;
        if id != regs::DEVICE_ID {
            return Err(Error::Device {
                backend: backend.name(),
                reason: format!(
                    "ID register reads {id:#010x}, expected {:#010x}",
                    regs::DEVICE_ID
                ),
            });
        }
        let version = backend.read_reg(u32::from(regs::VERSION))?;
        if version != regs::ABI_VERSION {
            return Err(Error::Device {
                backend: backend.name(),
                reason: format!(
                    "contract version {version}, this host speaks {}",
                    regs::ABI_VERSION
                ),
            });
        }
        backend.write_reg(
            u32::from(regs::DEVICE_CTRL),
            regs::DEVICE_CTRL_LOOPBACK.put(loopback.into()),
        )?;
        let (tables_da, tables) = backend.dma_mut().add(
            "skipwalk-tables",
            (WINDOW_BYTES * abi::NUM_PDS as u64) as usize,
        )?;
        let mut r = Registrar {
            backend,
            tables_da,
            _tables: tables,
            pds: (0..abi::NUM_PDS).map(|_| None).collect(),
            generations: vec![0; abi::NUM_PDS],
            vis: (0..abi::DEVICE_VIS).map(|_| None).collect(),
            pools: BTreeMap::new(),
            registrations: BTreeMap::new(),
            next_id: 1,
            loopback,
            quiet_slices: 0,
        };
        r.update_policy();
        Ok(r)
    }

    /// The backend's name.
    pub fn backend_name(&self) -> String {
        self.backend.name()
    }

    /// The backend (benchmarks and tests look at its counters).
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    fn write(&mut self, offset: u16, value: u32) -> Result<()> {
        self.backend.write_reg(u32::from(offset), value)
    }

    /// Waits until the translator has finished key expansion or cache invalidation.
    fn wait_translator_idle(&mut self) -> Result<()> {
        for _ in 0..10_000 {
            if self.backend.read_reg(u32::from(regs::TRANSLATOR_STATUS))? & 1 == 0 {
                return Ok(());
            }
        }
        Err(Error::Device {
            backend: self.backend.name(),
            reason: "translator stays busy".into(),
        })
    }

    fn pd_of(&self, owner: ClientId) -> Option<usize> {
        self.pds
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.owner == owner))
    }

    fn pd_mut(&mut self, owner: ClientId) -> Result<(usize, &mut Pd)> {
        let pd = self.pd_of(owner).ok_or(Error::Unknown {
            kind: "session",
            id: owner,
        })?;
        Ok((pd, self.pds[pd].as_mut().expect("found")))
    }

    /// Opens a session for `owner`: a PD of its own with a fresh key and empty tables.
    /// Returns the PD number.
    pub fn open_session(&mut self, owner: ClientId) -> Result<u8> {
        if self.pd_of(owner).is_some() {
            return Err(Error::Refused(format!(
                "client {owner} already has a session"
            )));
        }
        let pd = self
            .pds
            .iter()
            .position(Option::is_none)
            .ok_or(Error::Exhausted("protection domain", abi::NUM_PDS))?;
        let key = random_key()?;
        for (off, v) in Translator::key_writes(pd, &key) {
            self.write(off, v)?;
        }
        self.wait_translator_idle()?;
        let base = self.table_window(pd).start;
        let window = TableWindow {
            base: (base / PAGE_SIZE) as u32,
            pages: WINDOW_PAGES,
        };
        let tables = TableBuilder::new(window, self.backend.dma_mut())?;
        // A new generation for every session in this slot: shortcuts of the previous owner
        // fail on it even if they were minted under a key that somehow survived.
        self.generations[pd] = (self.generations[pd] + 1) & abi::mask(abi::GEN_BITS) as u8;
        let cfg = PdConfig {
            valid: true,
            generation: self.generations[pd],
            allow_read: true,
            allow_write: true,
            window,
        };
        self.pds[pd] = Some(Pd {
            owner,
            tables,
            cfg,
            cipher: ShortcutCipher::new(&key),
            pages: HashMap::new(),
        });
        self.configure_pd(pd)?;
        self.update_policy();
        Ok(pd as u8)
    }

    fn configure_pd(&mut self, pd: usize) -> Result<()> {
        let cfg = self.pds[pd].as_ref().map(|p| p.cfg).unwrap_or_default();
        for (off, v) in Translator::pd_writes(pd, &cfg) {
            self.write(off, v)?;
        }
        self.write(regs::CACHE_INVALIDATE_PD, pd as u32)?;
        self.wait_translator_idle()
    }

    /// Ends `owner`'s session (it closed, or its process died): disables its VIs, lets the
    /// device drain, revokes every registration, frees its memory and its PD. The other
    /// sessions keep running.
    pub fn close_session(&mut self, owner: ClientId) -> Result<()> {
        let vis: Vec<u8> = self
            .vis
            .iter()
            .enumerate()
            .filter(|(_, v)| v.as_ref().is_some_and(|v| v.owner == owner))
            .map(|(i, _)| i as u8)
            .collect();
        for &vi in &vis {
            self.disable_vi(vi)?;
        }
        self.drain(&vis)?;
        for vi in vis {
            self.forget_vi(vi);
        }
        let regs: Vec<u64> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(&id, _)| id)
            .collect();
        for id in regs {
            self.deregister(owner, id)?;
        }
        let pools: Vec<u64> = self
            .pools
            .iter()
            .filter(|(_, p)| p.owner == owner)
            .map(|(&id, _)| id)
            .collect();
        for id in pools {
            self.free_pool(owner, id)?;
        }
        if let Some(pd) = self.pd_of(owner) {
            self.pds[pd] = None;
            self.configure_pd(pd)?;
            // The key slot is overwritten with a fresh random key nobody holds.
            let key = random_key()?;
            for (off, v) in Translator::key_writes(pd, &key) {
                self.write(off, v)?;
            }
            self.wait_translator_idle()?;
        }
        self.update_policy();
        Ok(())
    }

    /// Runs the device until the disabled `vis` have nothing under way: every send
    /// descriptor fetched and every receive descriptor taken has its completion written
    /// (the device fetches no descriptor of a disabled VI and grants it no receive, so this
    /// is the work already begun, whatever the other VIs do), then one slice more, in which
    /// the last completion's posted write leaves the device.
    fn drain(&mut self, vis: &[u8]) -> Result<()> {
        if vis.is_empty() {
            return Ok(());
        }
        let mut ran = 0;
        loop {
            let mut under_way = None;
            for &vi in vis {
                let n = self.under_way(vi)?;
                if n != 0 {
                    under_way = Some((vi, n));
                    break;
                }
            }
            if let Some((vi, n)) = under_way.filter(|_| ran >= DRAIN_CYCLES) {
                return Err(Error::Device {
                    backend: self.backend.name(),
                    reason: format!(
                        "VI {vi}: {n} descriptors still without completion after \
                         {DRAIN_CYCLES} cycles"
                    ),
                });
            }
            self.backend.run(PUMP_SLICE)?;
            if under_way.is_none() {
                return Ok(());
            }
            ran += PUMP_SLICE;
        }
    }

    /// Descriptors of VI `vi` the device has taken and not completed: sends fetched
    /// (`SQ_HEAD`) plus receives taken (`RQ_HEAD`) minus completions written (`CQ_TAIL`),
    /// all counted from the VI's last ring reset.
    fn under_way(&mut self, vi: u8) -> Result<u32> {
        let mut read = |reg| {
            self.backend
                .read_reg(u32::from(regs::queue_reg(usize::from(vi), reg)))
        };
        let taken = read(regs::SQ_HEAD)?.wrapping_add(read(regs::RQ_HEAD)?);
        let completed = read(regs::CQ_TAIL)?;
        Ok(taken.wrapping_sub(completed) & abi::mask(abi::queues::RING_INDEX_BITS) as u32)
    }

    /// Creates `len` bytes of DMA memory for `owner` to map.
    pub fn alloc_pool(&mut self, owner: ClientId, len: u64) -> Result<(PoolGrant, Arc<DmaRegion>)> {
        self.pd_mut(owner)?;
        if len == 0 || len > MAX_POOL_BYTES {
            return Err(Error::Refused(format!(
                "pool of {len} bytes: expected 1 to {MAX_POOL_BYTES} bytes"
            )));
        }
        let id = self.fresh_id();
        let (da, region) = self
            .backend
            .dma_mut()
            .add(&format!("skipwalk-pool-{owner}-{id}"), len as usize)?;
        self.pools.insert(
            id,
            Pool {
                owner,
                da,
                region: region.clone(),
                pins: 0,
            },
        );
        Ok((
            PoolGrant {
                id,
                len: region.len() as u64,
            },
            region,
        ))
    }

    /// Frees a pool; refused while any registration pins it.
    pub fn free_pool(&mut self, owner: ClientId, id: u64) -> Result<()> {
        let pool = self
            .pools
            .get(&id)
            .filter(|p| p.owner == owner)
            .ok_or(Error::Unknown { kind: "pool", id })?;
        if pool.pins > 0 {
            return Err(Error::Refused(format!(
                "pool {id} has {} registrations; deregister them first",
                pool.pins
            )));
        }
        let da = pool.da;
        self.pools.remove(&id);
        self.backend.dma_mut().remove(da);
        Ok(())
    }

    /// Opens a VI for `owner` in its PD, with rings of `2^log2` entries, in `mode`.
    pub fn open_vi(
        &mut self,
        owner: ClientId,
        mode: TranslationMode,
        log2: u32,
    ) -> Result<ViHandover> {
        let (pd, _) = self.pd_mut(owner)?;
        if !(1..=MAX_RING_LOG2).contains(&log2) {
            return Err(Error::Refused(format!(
                "rings of 2^{log2} entries: expected log2 from 1 to {MAX_RING_LOG2}"
            )));
        }
        let vi = self
            .vis
            .iter()
            .position(Option::is_none)
            .ok_or(Error::Exhausted("VI", abi::DEVICE_VIS))?;
        let entries = 1u64 << log2;
        let pages = |bytes: u64| bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let sq = 0;
        let rq = sq + pages(entries * DESC_BYTES);
        let cq = rq + pages(entries * DESC_BYTES);
        let len = cq + pages(entries * CQE_BYTES);
        let (rings_da, rings) = self
            .backend
            .dma_mut()
            .add(&format!("skipwalk-rings-vi{vi}"), len as usize)?;
        let doorbell = Arc::new(DmaRegion::create(
            &format!("skipwalk-doorbell-vi{vi}"),
            PAGE_SIZE as usize,
        )?);
        let grant = ViGrant {
            vi: vi as u8,
            log2,
            offsets: [sq, rq, cq],
        };
        for (reg, off) in [
            (regs::SQ_BASE, sq),
            (regs::RQ_BASE, rq),
            (regs::CQ_BASE, cq),
        ] {
            self.write(
                regs::queue_reg(vi, reg),
                ((rings_da + off) / PAGE_SIZE) as u32,
            )?;
        }
        // Writing the sizes resets the VI's ring indices.
        self.write(
            regs::queue_reg(vi, regs::RING_SIZES),
            regs::RING_SIZES_SQ.put(log2)
                | regs::RING_SIZES_RQ.put(log2)
                | regs::RING_SIZES_CQ.put(log2),
        )?;
        let ctrl = ViConfig {
            enabled: true,
            mode: mode as u8,
            pd: pd as u8,
            key_slot: pd as u8,
            ..Default::default()
        };
        self.write(regs::vi_reg(vi, regs::VI_CTRL), ctrl.ctrl_word())?;
        // Register writes are posted; the read-back orders this one before any doorbell.
        self.backend
            .read_reg(u32::from(regs::vi_reg(vi, regs::VI_CTRL)))?;
        self.vis[vi] = Some(ViSlot {
            owner,
            pd,
            mode,
            rings_da,
            grant,
            doorbell: doorbell.clone(),
            relayed: [0; 4],
        });
        self.update_policy();
        Ok(ViHandover {
            grant,
            rings,
            doorbell,
        })
    }

    fn disable_vi(&mut self, vi: u8) -> Result<()> {
        let vi = usize::from(vi);
        self.write(
            regs::vi_reg(vi, regs::VI_CTRL),
            ViConfig::default().ctrl_word(),
        )?;
        self.backend
            .read_reg(u32::from(regs::vi_reg(vi, regs::VI_CTRL)))?;
        Ok(())
    }

    fn forget_vi(&mut self, vi: u8) {
        if let Some(slot) = self.vis[usize::from(vi)].take() {
            self.backend.dma_mut().remove(slot.rings_da);
        }
        self.update_policy();
    }

    /// Closes one of `owner`'s VIs: disables it, lets the device finish with its rings, and
    /// takes the rings out of the DMA space.
    pub fn close_vi(&mut self, owner: ClientId, vi: u8) -> Result<()> {
        let owned = self
            .vis
            .get(usize::from(vi))
            .and_then(Option::as_ref)
            .is_some_and(|v| v.owner == owner);
        if !owned {
            return Err(Error::Unknown {
                kind: "VI",
                id: u64::from(vi),
            });
        }
        self.disable_vi(vi)?;
        self.drain(&[vi])?;
        self.forget_vi(vi);
        Ok(())
    }

    /// Registers `[va, va + len)` of `owner`'s pool `pool`, which the application maps at
    /// `pool_va`: pins the pages, maps them in its PD with `access`, and mints one shortcut
    /// per leaf table.
    pub fn register(
        &mut self,
        owner: ClientId,
        pool: u64,
        pool_va: u64,
        va: u64,
        len: u64,
        access: Access,
    ) -> Result<RegistrationGrant> {
        let bad = |reason| Error::BadRange { va, len, reason };
        if len == 0 {
            return Err(bad("zero length"));
        }
        let end = va.checked_add(len).ok_or(bad("the range overflows"))?;
        if end > 1 << abi::VA_BITS {
            return Err(bad("beyond the 47-bit virtual address space"));
        }
        let p = self
            .pools
            .get(&pool)
            .filter(|p| p.owner == owner)
            .ok_or(Error::Unknown {
                kind: "pool",
                id: pool,
            })?;
        if !pool_va.is_multiple_of(PAGE_SIZE) {
            return Err(bad("the pool's mapping is not page-aligned"));
        }
        let pool_len = p.region.len() as u64;
        if va < pool_va
            || pool_va
                .checked_add(pool_len)
                .is_none_or(|pool_end| end > pool_end)
        {
            return Err(bad(
                "outside the application's DMA memory (its pool mapping)",
            ));
        }
        let first_page = va / PAGE_SIZE;
        let pages = end.div_ceil(PAGE_SIZE) - first_page;
        let frame_of = |page: u64| (p.da + page * PAGE_SIZE - pool_va) / PAGE_SIZE;
        let frames: Vec<u64> = (first_page..first_page + pages).map(frame_of).collect();
        let (pd, _) = self.pd_mut(owner)?;
        let pd_state = self.pds[pd].as_mut().expect("session");
        // A page already registered must keep its frame (the application cannot map one
        // virtual page onto two pool pages).
        for (i, &frame) in frames.iter().enumerate() {
            if let Some(u) = pd_state.pages.get(&(first_page + i as u64)) {
                if u.frame != frame {
                    return Err(bad("a page is already registered to other memory"));
                }
            }
        }
        let dma = self.backend.dma_mut();
        let writable = access == Access::ReadWrite;
        let mut leaves: Vec<(u64, u64)> = vec![];
        for (i, &frame) in frames.iter().enumerate() {
            let page_va = (first_page + i as u64) * PAGE_SIZE;
            let leaf = match leaves.last() {
                Some(&(leaf, start)) if start / LEAF_SPAN == page_va / LEAF_SPAN => leaf,
                _ => {
                    let leaf = pd_state.tables.leaf_table(dma, page_va)?;
                    leaves.push((leaf, page_va.max(va)));
                    leaf
                }
            };
            let u = pd_state
                .pages
                .entry(first_page + i as u64)
                .or_insert(PageUse {
                    frame,
                    count: 0,
                    writers: 0,
                });
            u.count += 1;
            u.writers += u32::from(writable);
            let flags = abi::pte::PTE_PRESENT
                | abi::pte::PTE_PINNED
                | if u.writers > 0 {
                    abi::pte::PTE_WRITABLE
                } else {
                    0
                };
            if !dma.write_u64(
                TableBuilder::leaf_entry_da(leaf, page_va),
                Pte::new(frame, flags).0,
            ) {
                return Err(Error::Tables(abi::TableError::Memory(leaf * PAGE_SIZE)));
            }
        }
        let cipher = pd_state.cipher.clone();
        let generation = pd_state.cfg.generation;
        let id = self.fresh_id();
        self.pools.get_mut(&pool).expect("checked").pins += 1;
        let shortcuts = mint_all(&cipher, generation, &leaves);
        self.registrations.insert(
            id,
            Registration {
                owner,
                pd,
                pool,
                va,
                len,
                access,
                frames,
                leaves,
            },
        );
        self.update_policy();
        Ok(RegistrationGrant {
            id,
            va,
            len,
            shortcuts,
        })
    }

    /// Revokes registration `id`: clears its table entries (pages another registration
    /// still uses stay, read-only if only readers remain), invalidates the device's
    /// translation cache for the PD and waits for it, then unpins.
    pub fn deregister(&mut self, owner: ClientId, id: u64) -> Result<()> {
        let r = self
            .registrations
            .get(&id)
            .filter(|r| r.owner == owner)
            .ok_or(Error::Unknown {
                kind: "registration",
                id,
            })?;
        let (pd, va, access) = (r.pd, r.va, r.access);
        let frames = r.frames.clone();
        let leaves = r.leaves.clone();
        let pool = r.pool;
        let pd_state = self.pds[pd].as_mut().expect("registration's session");
        let dma = self.backend.dma_mut();
        let first_page = va / PAGE_SIZE;
        for (i, &frame) in frames.iter().enumerate() {
            let page = first_page + i as u64;
            let page_va = page * PAGE_SIZE;
            let u = pd_state.pages.get_mut(&page).expect("registered page");
            u.count -= 1;
            u.writers -= u32::from(access == Access::ReadWrite);
            let pte = if u.count == 0 {
                pd_state.pages.remove(&page);
                Pte(0)
            } else {
                let w = if u.writers > 0 {
                    abi::pte::PTE_WRITABLE
                } else {
                    0
                };
                Pte::new(frame, abi::pte::PTE_PRESENT | abi::pte::PTE_PINNED | w)
            };
            let leaf = leaves
                .iter()
                .rev()
                .find(|&&(_, start)| start / LEAF_SPAN == page_va / LEAF_SPAN)
                .map(|&(leaf, _)| leaf)
                .expect("registered page has a leaf table");
            dma.write_u64(TableBuilder::leaf_entry_da(leaf, page_va), pte.0);
        }
        self.write(regs::CACHE_INVALIDATE_PD, pd as u32)?;
        self.wait_translator_idle()?;
        self.registrations.remove(&id);
        if let Some(p) = self.pools.get_mut(&pool) {
            p.pins -= 1;
        }
        self.update_policy();
        Ok(())
    }

    /// Bumps `owner`'s PD generation — every shortcut minted before is refused from now on —
    /// and returns fresh shortcuts for its live registrations.
    pub fn revoke_shortcuts(&mut self, owner: ClientId) -> Result<Vec<RegistrationGrant>> {
        let (pd, p) = self.pd_mut(owner)?;
        p.cfg.generation = (p.cfg.generation + 1) & abi::mask(abi::GEN_BITS) as u8;
        self.generations[pd] = p.cfg.generation;
        self.configure_pd(pd)?;
        let p = self.pds[pd].as_ref().expect("session");
        Ok(self
            .registrations
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(&id, r)| RegistrationGrant {
                id,
                va: r.va,
                len: r.len,
                shortcuts: mint_all(&p.cipher, p.cfg.generation, &r.leaves),
            })
            .collect())
    }

    /// Forwards the doorbell words applications changed to the device, then lets the device
    /// run for up to `budget` cycles. Whether anything happened (a doorbell or data moved).
    pub fn pump(&mut self, budget: u64) -> Result<bool> {
        let mut rang = false;
        for vi in 0..abi::DEVICE_VIS {
            let Some(slot) = self.vis[vi].as_mut() else {
                continue;
            };
            let mut writes = vec![];
            for (i, &reg) in DOORBELL_WORDS.iter().enumerate() {
                let value = slot.doorbell.load_u32(reg as usize).unwrap_or(0);
                if value != slot.relayed[i] {
                    slot.relayed[i] = value;
                    writes.push((regs::doorbell(vi, reg), value));
                }
            }
            for (addr, value) in writes {
                self.backend.write_reg(addr, value)?;
                rang = true;
            }
        }
        // A simulated device that moved nothing for a few slices since the last doorbell has
        // nothing to do: stop running it (it would burn a core on an idle clock). A device
        // that runs on its own keeps its link served.
        if rang {
            self.quiet_slices = 0;
        }
        if self.quiet_slices >= QUIET_SLICES_BEFORE_IDLE && !self.backend.runs_on_its_own() {
            return Ok(false);
        }
        let moved = self.backend.run(budget)?;
        let active = rang || moved || self.backend.busy();
        self.quiet_slices = if active { 0 } else { self.quiet_slices + 1 };
        Ok(active)
    }

    /// Device identity, capabilities, VIs and counters.
    pub fn info(&mut self) -> Result<DeviceInfo> {
        let b = &mut self.backend;
        let id = b.read_reg(u32::from(regs::ID))?;
        let caps = b.read_reg(u32::from(regs::CAPS))?;
        let mut vi_state = vec![];
        for (vi, slot) in self.vis.iter().enumerate() {
            let Some(slot) = slot else { continue };
            let q = |b: &mut Box<dyn Backend>, reg| b.read_reg(u32::from(regs::queue_reg(vi, reg)));
            let faults = b.read_reg(u32::from(regs::vi_reg(vi, regs::VI_FAULTS)))?;
            vi_state.push(ViState {
                vi: vi as u8,
                pd: slot.pd as u8,
                mode: slot.mode.name().to_string(),
                sq_head: q(b, regs::SQ_HEAD)?,
                rq_head: q(b, regs::RQ_HEAD)?,
                cq_tail: q(b, regs::CQ_TAIL)?,
                doorbell_drops: q(b, regs::DOORBELL_DROPS)?,
                rx_drops: q(b, regs::RX_DROPS)?,
                faults: regs::VI_FAULTS_COUNT.get(faults),
                locked: regs::VI_FAULTS_LOCKED.get(faults) == 1,
            });
        }
        Ok(DeviceInfo {
            backend: b.name(),
            id: String::from_utf8_lossy(&id.to_be_bytes()).into_owned(),
            version: b.read_reg(u32::from(regs::VERSION))?,
            vis: regs::CAPS_VIS.get(caps),
            max_ring_log2: regs::CAPS_MAX_RING_LOG2.get(caps),
            loopback: self.loopback,
            tx_frames: b.read_reg(u32::from(regs::TX_FRAMES))?,
            rx_frames: b.read_reg(u32::from(regs::RX_FRAMES))?,
            rx_bad_frames: b.read_reg(u32::from(regs::RX_BAD_FRAMES))?,
            vi_state,
            dma_bytes: b.dma().bytes(),
            dma_unlocked_bytes: b.dma().unlocked_bytes(),
        })
    }

    /// Device addresses of PD `pd`'s table window.
    fn table_window(&self, pd: usize) -> std::ops::Range<u64> {
        let base = self.tables_da + pd as u64 * WINDOW_BYTES;
        base..base + WINDOW_BYTES
    }

    /// Tells the backend what the device may touch now.
    fn update_policy(&mut self) {
        let mut policy = DmaPolicy {
            registered: vec![vec![]; abi::NUM_PDS],
            table_windows: vec![0..0; abi::NUM_PDS],
            ..Default::default()
        };
        for (pd, p) in self.pds.iter().enumerate() {
            if p.is_some() {
                policy.table_windows[pd] = self.table_window(pd);
            }
        }
        for (vi, slot) in self.vis.iter().enumerate() {
            let Some(s) = slot else { continue };
            policy.pd_of_vi[vi] = Some(s.pd);
            let entries = 1u64 << s.grant.log2;
            let [sq, rq, cq] = s.grant.offsets.map(|o| s.rings_da + o);
            policy.rings[vi] = [
                sq..sq + entries * DESC_BYTES,
                rq..rq + entries * DESC_BYTES,
                cq..cq + entries * CQE_BYTES,
            ];
        }
        for r in self.registrations.values() {
            // A registration's frames are consecutive: its pages are consecutive in its pool.
            let first = r.frames[0] * PAGE_SIZE;
            let end = first + r.frames.len() as u64 * PAGE_SIZE;
            policy.registered[r.pd].push((first..end, r.access == Access::ReadWrite));
        }
        self.backend.set_policy(&policy);
    }
}

fn mint_all(cipher: &ShortcutCipher, generation: u8, leaves: &[(u64, u64)]) -> Vec<LeafShortcut> {
    leaves
        .iter()
        .map(|&(leaf, va)| LeafShortcut {
            va,
            shortcut: Shortcut::mint(cipher, leaf as u32, 1, generation, va).0,
        })
        .collect()
}
