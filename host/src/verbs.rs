//! The application's side, in the shape users of ibverbs know: a [`Session`] (one PD, one
//! key the application never sees), [`Pool`]s of DMA memory it maps, [`MemoryRegion`]s that
//! carry their shortcuts, and [`Vi`]s whose rings live in its own address space.
//!
//! Posting is `unsafe`: once a descriptor is posted the device reads (send) or writes
//! (receive) the buffer while the program runs; nothing stops the program from touching it
//! meanwhile. A [`Batch`] borrows the VI, so a batch of descriptors rings the doorbell once.
//! Completions are an iterator; it hands the completion-queue head back to the device when
//! dropped. A transfer is split at leaf-table boundaries (a shortcut names one leaf table)
//! and at the largest message. Drop order does the teardown: a registration holds its pool,
//! so it is revoked before the memory is unmapped.
//!
//! The same API runs against a registrar in this process ([`Session::in_process`], for tests
//! and benchmarks) or in the daemon ([`Session::connect`], the normal case): only the
//! [`Control`] behind the session differs.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use abi::queues::{phase_of, ring_used, Descriptor, CQE_BYTES, DESC_BYTES, MAX_MESSAGE_LEN};
use abi::translator::TranslationMode;
use abi::{Access, Completion, Opcode, QueueKind};

use crate::dma::DmaRegion;
use crate::error::{Error, Result};
use crate::registrar::{
    ClientId, LeafShortcut, PoolGrant, Registrar, RegistrationGrant, ViGrant, LEAF_SPAN,
};

/// The registrar's services as an application reaches them: in this process or over the
/// daemon's socket. Regions come back mapped into this process.
pub trait Control {
    /// A pool of `len` bytes of DMA memory.
    fn alloc_pool(&mut self, len: u64) -> Result<(PoolGrant, DmaRegion)>;
    /// Frees a pool (refused while registered).
    fn free_pool(&mut self, id: u64) -> Result<()>;
    /// A VI with rings of `2^log2` entries: its geometry, rings and doorbell page.
    fn open_vi(
        &mut self,
        mode: TranslationMode,
        log2: u32,
    ) -> Result<(ViGrant, DmaRegion, DmaRegion)>;
    /// Closes a VI.
    fn close_vi(&mut self, vi: u8) -> Result<()>;
    /// Registers `[va, va + len)` of pool `pool` mapped at `pool_va`.
    fn register(
        &mut self,
        pool: u64,
        pool_va: u64,
        va: u64,
        len: u64,
        access: Access,
    ) -> Result<RegistrationGrant>;
    /// Revokes a registration.
    fn deregister(&mut self, id: u64) -> Result<()>;
    /// Bumps the PD generation; fresh shortcuts for every live registration.
    fn revoke_shortcuts(&mut self) -> Result<Vec<RegistrationGrant>>;
    /// Lets the device make progress (in process: runs the device; remote: the daemon does).
    fn progress(&mut self) -> Result<()>;
}

/// A second mapping of a registrar-owned region, as an application process gets one.
pub fn map_again(region: &DmaRegion) -> Result<DmaRegion> {
    let fd = region
        .fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("duplicating a DMA region's descriptor", e))?;
    Ok(DmaRegion::from_fd(fd)?)
}

/// [`Control`] for a registrar in this process.
pub struct LocalControl {
    registrar: Rc<RefCell<Registrar>>,
    owner: ClientId,
}

impl LocalControl {
    /// Opens a session of `owner` on `registrar`.
    pub fn open(registrar: Rc<RefCell<Registrar>>, owner: ClientId) -> Result<LocalControl> {
        registrar.borrow_mut().open_session(owner)?;
        Ok(LocalControl { registrar, owner })
    }
}

impl Drop for LocalControl {
    fn drop(&mut self) {
        // Errors here mean the device is gone; nothing is left to revoke then.
        let _ = self.registrar.borrow_mut().close_session(self.owner);
    }
}

impl Control for LocalControl {
    fn alloc_pool(&mut self, len: u64) -> Result<(PoolGrant, DmaRegion)> {
        let (grant, region) = self.registrar.borrow_mut().alloc_pool(self.owner, len)?;
        Ok((grant, map_again(&region)?))
    }

    fn free_pool(&mut self, id: u64) -> Result<()> {
        self.registrar.borrow_mut().free_pool(self.owner, id)
    }

    fn open_vi(
        &mut self,
        mode: TranslationMode,
        log2: u32,
    ) -> Result<(ViGrant, DmaRegion, DmaRegion)> {
        let h = self
            .registrar
            .borrow_mut()
            .open_vi(self.owner, mode, log2)?;
        Ok((h.grant, map_again(&h.rings)?, map_again(&h.doorbell)?))
    }

    fn close_vi(&mut self, vi: u8) -> Result<()> {
        self.registrar.borrow_mut().close_vi(self.owner, vi)
    }

    fn register(
        &mut self,
        pool: u64,
        pool_va: u64,
        va: u64,
        len: u64,
        access: Access,
    ) -> Result<RegistrationGrant> {
        self.registrar
            .borrow_mut()
            .register(self.owner, pool, pool_va, va, len, access)
    }

    fn deregister(&mut self, id: u64) -> Result<()> {
        self.registrar.borrow_mut().deregister(self.owner, id)
    }

    fn revoke_shortcuts(&mut self) -> Result<Vec<RegistrationGrant>> {
        self.registrar.borrow_mut().revoke_shortcuts(self.owner)
    }

    fn progress(&mut self) -> Result<()> {
        self.registrar.borrow_mut().pump(512).map(|_| ())
    }
}

type SharedControl = Rc<RefCell<Box<dyn Control>>>;
type ShortcutTable = Rc<RefCell<HashMap<u64, Vec<LeafShortcut>>>>;

/// An application's session with the registrar: its PD and key.
pub struct Session {
    ctl: SharedControl,
    shortcuts: ShortcutTable,
}

impl Session {
    /// A session over `ctl`.
    pub fn new(ctl: Box<dyn Control>) -> Session {
        Session {
            ctl: Rc::new(RefCell::new(ctl)),
            shortcuts: Rc::default(),
        }
    }

    /// A session on a registrar in this process, as client `owner`.
    pub fn in_process(registrar: Rc<RefCell<Registrar>>, owner: ClientId) -> Result<Session> {
        Ok(Session::new(Box::new(LocalControl::open(
            registrar, owner,
        )?)))
    }

    /// A session with the daemon listening at `socket`.
    pub fn connect(socket: &std::path::Path) -> Result<Session> {
        Ok(Session::new(Box::new(
            crate::client::RemoteControl::connect(socket)?,
        )))
    }

    /// `len` bytes of DMA memory, mapped into this process.
    pub fn alloc(&self, len: u64) -> Result<Pool> {
        let (grant, region) = self.ctl.borrow_mut().alloc_pool(len)?;
        Ok(Pool {
            inner: Rc::new(PoolInner {
                id: grant.id,
                region,
                ctl: self.ctl.clone(),
            }),
        })
    }

    /// Registers `len` bytes of `pool` from `offset` for the device with `access`.
    pub fn register(
        &self,
        pool: &Pool,
        offset: u64,
        len: u64,
        access: Access,
    ) -> Result<MemoryRegion> {
        let va = pool.va().checked_add(offset).ok_or(Error::BadRange {
            va: pool.va(),
            len,
            reason: "the offset overflows",
        })?;
        let grant = self
            .ctl
            .borrow_mut()
            .register(pool.inner.id, pool.va(), va, len, access)?;
        self.shortcuts
            .borrow_mut()
            .insert(grant.id, grant.shortcuts.clone());
        Ok(MemoryRegion {
            id: grant.id,
            va,
            len,
            pool: pool.inner.clone(),
            shortcuts: self.shortcuts.clone(),
            ctl: self.ctl.clone(),
        })
    }

    /// Bumps this session's PD generation: every shortcut minted so far is refused by the
    /// device from now on; the session's registrations get fresh ones.
    pub fn revoke_shortcuts(&self) -> Result<()> {
        let grants = self.ctl.borrow_mut().revoke_shortcuts()?;
        let mut table = self.shortcuts.borrow_mut();
        for g in grants {
            table.insert(g.id, g.shortcuts);
        }
        Ok(())
    }

    /// Opens a VI with rings of `2^log2` entries in translation `mode`.
    pub fn open_vi(&self, mode: TranslationMode, log2: u32) -> Result<Vi> {
        let (grant, rings, doorbell) = self.ctl.borrow_mut().open_vi(mode, log2)?;
        Ok(Vi {
            ctl: self.ctl.clone(),
            grant,
            rings,
            doorbell,
            sq_tail: 0,
            rq_tail: 0,
            cq_head: 0,
            sq_done: 0,
            rq_done: 0,
        })
    }

    /// Lets the device make progress (needed only in process; harmless otherwise).
    pub fn progress(&self) -> Result<()> {
        self.ctl.borrow_mut().progress()
    }
}

struct PoolInner {
    id: u64,
    region: DmaRegion,
    ctl: SharedControl,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // Every registration of this pool held it, so none is left: freeing cannot be refused.
        let _ = self.ctl.borrow_mut().free_pool(self.id);
    }
}

/// DMA memory mapped into this process.
#[derive(Clone)]
pub struct Pool {
    inner: Rc<PoolInner>,
}

impl Pool {
    /// Virtual address of the first byte in this process.
    pub fn va(&self) -> u64 {
        self.inner.region.as_ptr() as u64
    }

    /// Bytes.
    pub fn len(&self) -> u64 {
        self.inner.region.len() as u64
    }

    /// Whether the pool is empty (never: pools have at least a page).
    pub fn is_empty(&self) -> bool {
        self.inner.region.is_empty()
    }

    /// Copies `data` to `offset`; `false` when it does not fit.
    pub fn write(&self, offset: u64, data: &[u8]) -> bool {
        usize::try_from(offset).is_ok_and(|o| self.inner.region.write(o, data))
    }

    /// Copies from `offset` into `buf`; `false` when it does not fit.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        usize::try_from(offset).is_ok_and(|o| self.inner.region.read(o, buf))
    }
}

/// A registered buffer: its virtual addresses, its shortcuts, and the pool it pins.
pub struct MemoryRegion {
    id: u64,
    va: u64,
    len: u64,
    pool: Rc<PoolInner>,
    shortcuts: ShortcutTable,
    ctl: SharedControl,
}

impl MemoryRegion {
    /// First virtual address.
    pub fn va(&self) -> u64 {
        self.va
    }

    /// Bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region is empty (never: registrations have at least a byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The registrar's handle.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The shortcut serving `va` (the leaf table of its 2 MiB), if `va` is in the region.
    pub fn shortcut_for(&self, va: u64) -> Option<u64> {
        if va < self.va || va >= self.va + self.len {
            return None;
        }
        let table = self.shortcuts.borrow();
        table
            .get(&self.id)?
            .iter()
            .rev()
            .find(|s| s.va / LEAF_SPAN == va / LEAF_SPAN)
            .map(|s| s.shortcut)
    }

    /// Copies `data` to `offset` in the region; `false` when it does not fit.
    pub fn write(&self, offset: u64, data: &[u8]) -> bool {
        offset
            .checked_add(data.len() as u64)
            .is_some_and(|e| e <= self.len)
            && self.pool.region.write(
                (self.va - self.pool.region.as_ptr() as u64 + offset) as usize,
                data,
            )
    }

    /// Copies from `offset` in the region into `buf`; `false` when it does not fit.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> bool {
        offset
            .checked_add(buf.len() as u64)
            .is_some_and(|e| e <= self.len)
            && self.pool.region.read(
                (self.va - self.pool.region.as_ptr() as u64 + offset) as usize,
                buf,
            )
    }
}

impl Drop for MemoryRegion {
    fn drop(&mut self) {
        self.shortcuts.borrow_mut().remove(&self.id);
        // The registrar revokes (entries cleared, device cache invalidated) before this
        // returns; the pool is unmapped only after, when its last holder goes.
        let _ = self.ctl.borrow_mut().deregister(self.id);
    }
}

/// One piece of a transfer: a descriptor's address, length and shortcut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// Virtual address.
    pub va: u64,
    /// Bytes.
    pub len: u32,
    /// Shortcut of its leaf table.
    pub shortcut: u64,
}

/// Splits `[offset, offset + len)` of `mr` at leaf-table boundaries and at the largest
/// message.
pub fn pieces(mr: &MemoryRegion, offset: u64, len: u64) -> Result<Vec<Piece>> {
    let bad = |reason| Error::BadRange {
        va: mr.va.wrapping_add(offset),
        len,
        reason,
    };
    if len == 0 {
        return Err(bad("zero length"));
    }
    let end = offset.checked_add(len).ok_or(bad("the range overflows"))?;
    if end > mr.len {
        return Err(bad("beyond the end of the registered region"));
    }
    let mut out = vec![];
    let mut va = mr.va + offset;
    let stop = mr.va + end;
    while va < stop {
        let leaf_end = (va / LEAF_SPAN + 1) * LEAF_SPAN;
        let piece_end = stop.min(leaf_end).min(va + MAX_MESSAGE_LEN);
        out.push(Piece {
            va,
            len: (piece_end - va) as u32,
            shortcut: mr.shortcut_for(va).ok_or(bad("no shortcut (revoked?)"))?,
        });
        va = piece_end;
    }
    Ok(out)
}

/// A VI: send, receive and completion queue in this process's memory, and its doorbell page.
pub struct Vi {
    ctl: SharedControl,
    grant: ViGrant,
    rings: DmaRegion,
    doorbell: DmaRegion,
    sq_tail: u32,
    rq_tail: u32,
    cq_head: u32,
    sq_done: u32,
    rq_done: u32,
}

const INDEX_MASK: u32 = abi::mask(abi::queues::RING_INDEX_BITS) as u32;

impl Vi {
    /// The device's number of this VI (what senders put in `dest`).
    pub fn number(&self) -> u8 {
        self.grant.vi
    }

    /// Entries of each ring.
    pub fn ring_entries(&self) -> u32 {
        1 << self.grant.log2
    }

    /// Free send-queue slots.
    pub fn sq_free(&self) -> u32 {
        self.ring_entries() - ring_used(self.sq_tail, self.sq_done)
    }

    /// Free receive-queue slots.
    pub fn rq_free(&self) -> u32 {
        self.ring_entries() - ring_used(self.rq_tail, self.rq_done)
    }

    /// Starts a batch of descriptors; its doorbell rings when it is dropped.
    pub fn batch(&mut self) -> Batch<'_> {
        Batch {
            vi: self,
            send: false,
            recv: false,
        }
    }

    /// New completions, in order. The iterator returns the completion-queue head to the
    /// device when dropped.
    pub fn completions(&mut self) -> Completions<'_> {
        Completions {
            start: self.cq_head,
            vi: self,
        }
    }

    /// Collects `n` completions, letting the device progress, or fails after `timeout`.
    pub fn wait(&mut self, n: usize, timeout: Duration) -> Result<Vec<Completion>> {
        let started = Instant::now();
        let mut out = Vec::with_capacity(n);
        loop {
            out.extend(self.completions().take(n - out.len()));
            if out.len() == n {
                return Ok(out);
            }
            if started.elapsed() > timeout {
                return Err(Error::Refused(format!(
                    "VI {}: {} of {n} completions after {timeout:?}",
                    self.grant.vi,
                    out.len()
                )));
            }
            self.ctl.borrow_mut().progress()?;
        }
    }

    /// Arms the VI's event: the device raises one at the next completion.
    pub fn arm(&mut self) {
        let n = self
            .doorbell
            .load_u32(abi::regs::DB_CQ_ARM as usize)
            .unwrap_or(0);
        self.doorbell
            .store_u32(abi::regs::DB_CQ_ARM as usize, n.wrapping_add(1));
    }

    fn cqe_offset(&self, index: u32) -> usize {
        (self.grant.offsets[2] + u64::from(index & (self.ring_entries() - 1)) * CQE_BYTES) as usize
    }
}

impl Drop for Vi {
    fn drop(&mut self) {
        let _ = self.ctl.borrow_mut().close_vi(self.grant.vi);
    }
}

/// Descriptors posted together; one doorbell write per queue when dropped.
pub struct Batch<'a> {
    vi: &'a mut Vi,
    send: bool,
    recv: bool,
}

impl Batch<'_> {
    /// Posts `desc` as it is on `queue`.
    ///
    /// # Safety
    /// The device reads or writes the memory the descriptor names until its completion
    /// arrives; the program must not touch that memory meanwhile.
    pub unsafe fn post_descriptor(&mut self, queue: QueueKind, desc: &Descriptor) -> Result<()> {
        let vi = &mut *self.vi;
        let (tail, done, offset) = match queue {
            QueueKind::Send => (&mut vi.sq_tail, vi.sq_done, vi.grant.offsets[0]),
            QueueKind::Recv => (&mut vi.rq_tail, vi.rq_done, vi.grant.offsets[1]),
        };
        let entries = 1u32 << vi.grant.log2;
        if ring_used(*tail, done) >= entries {
            return Err(Error::Refused(format!(
                "VI {}: {queue:?} queue full ({entries} descriptors outstanding)",
                vi.grant.vi
            )));
        }
        let at = offset + u64::from(*tail & (entries - 1)) * DESC_BYTES;
        vi.rings.write(at as usize, &desc.to_bytes());
        *tail = (*tail + 1) & INDEX_MASK;
        match queue {
            QueueKind::Send => self.send = true,
            QueueKind::Recv => self.recv = true,
        }
        Ok(())
    }

    /// Posts a send of `len` bytes from `offset` in `mr` to VI `dest`, split at leaf-table
    /// boundaries and at the largest message; every piece completes with `wr_id`. Returns
    /// the number of descriptors posted.
    ///
    /// # Safety
    /// The device reads the buffer until the sends complete; do not write it meanwhile.
    pub unsafe fn post_send(
        &mut self,
        mr: &MemoryRegion,
        offset: u64,
        len: u64,
        dest: u8,
        wr_id: u32,
    ) -> Result<usize> {
        self.post_pieces(QueueKind::Send, mr, offset, len, dest, wr_id)
    }

    /// Posts a receive buffer of `len` bytes at `offset` in `mr` (split like a send). Returns
    /// the number of descriptors posted.
    ///
    /// # Safety
    /// The device writes the buffer until the receives complete; do not touch it meanwhile.
    pub unsafe fn post_recv(
        &mut self,
        mr: &MemoryRegion,
        offset: u64,
        len: u64,
        wr_id: u32,
    ) -> Result<usize> {
        self.post_pieces(QueueKind::Recv, mr, offset, len, 0, wr_id)
    }

    unsafe fn post_pieces(
        &mut self,
        queue: QueueKind,
        mr: &MemoryRegion,
        offset: u64,
        len: u64,
        dest: u8,
        wr_id: u32,
    ) -> Result<usize> {
        let pieces = pieces(mr, offset, len)?;
        let free = match queue {
            QueueKind::Send => self.vi.sq_free(),
            QueueKind::Recv => self.vi.rq_free(),
        };
        if pieces.len() > free as usize {
            return Err(Error::Refused(format!(
                "VI {}: {} descriptors needed, {free} free in the {queue:?} queue",
                self.vi.grant.vi,
                pieces.len()
            )));
        }
        let opcode = match queue {
            QueueKind::Send => Opcode::Send,
            QueueKind::Recv => Opcode::Recv,
        };
        for p in &pieces {
            let d = Descriptor {
                opcode: opcode as u8,
                dest,
                length: p.len,
                wr_id,
                va: p.va,
                shortcut: p.shortcut,
            };
            // SAFETY: the caller's promise covers every piece of the buffer.
            unsafe { self.post_descriptor(queue, &d)? };
        }
        Ok(pieces.len())
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let db = &self.vi.doorbell;
        if self.send {
            db.store_u32(abi::regs::DB_SQ_TAIL as usize, self.vi.sq_tail);
        }
        if self.recv {
            db.store_u32(abi::regs::DB_RQ_TAIL as usize, self.vi.rq_tail);
        }
    }
}

/// New completions of a VI, oldest first.
pub struct Completions<'a> {
    vi: &'a mut Vi,
    start: u32,
}

impl Iterator for Completions<'_> {
    type Item = Completion;

    fn next(&mut self) -> Option<Completion> {
        let vi = &mut *self.vi;
        let at = vi.cqe_offset(vi.cq_head);
        // The device writes the status word (with the phase bit) last.
        let w3 = vi.rings.load_u32(at + 12)?;
        let phase = w3 >> 31 == 1;
        if phase != phase_of(vi.cq_head, vi.grant.log2) {
            return None;
        }
        let mut bytes = [0u8; CQE_BYTES as usize];
        vi.rings.read(at, &mut bytes[..12]);
        bytes[12..].copy_from_slice(&w3.to_le_bytes());
        let c = Completion::from_bytes(&bytes);
        let next = (u32::from(c.index) + 1) & INDEX_MASK;
        // Every completion consumed the descriptor at its index (a frame with no receive
        // descriptor is dropped without one).
        match c.queue {
            QueueKind::Send => vi.sq_done = next,
            QueueKind::Recv => vi.rq_done = next,
        }
        vi.cq_head = (vi.cq_head + 1) & INDEX_MASK;
        Some(c)
    }
}

impl Drop for Completions<'_> {
    fn drop(&mut self) {
        if self.vi.cq_head != self.start {
            self.vi
                .doorbell
                .store_u32(abi::regs::DB_CQ_HEAD as usize, self.vi.cq_head);
        }
    }
}
