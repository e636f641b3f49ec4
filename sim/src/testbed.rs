//! A small registrar and application side around [`DeviceSim`], for the Device's tests and
//! benchmarks: protection domains with their table trees in host memory, VIs with rings and
//! keys, buffer registration, shortcuts, posting descriptors, ringing doorbells and polling
//! completions — and the golden model (`abi::queues::precheck` and `abi::Translator`, fed the
//! same register writes) that says what each descriptor must complete with.

use abi::queues::{precheck, ring_used, Completion, Descriptor, QueueKind, CQE_BYTES, DESC_BYTES};
use abi::regs;
use abi::shortcut::TableWindow;
use abi::translator::{PdConfig, TranslationMode, TranslationRequest, Translator, ViConfig};
use abi::{Access, Key, Shortcut, ShortcutCipher, Status, TableBuilder, PAGE_SIZE};

use crate::host_port::{DeviceSim, HostConfig, HostMemory};
use crate::VDevice;

/// Device address of the host memory's first byte.
pub const ARENA_BASE: u64 = 0x1000_0000;

/// A ring in host memory.
#[derive(Clone, Copy, Debug)]
pub struct Ring {
    /// Device address of entry 0.
    pub base: u64,
    /// log2 of the entries.
    pub log2: u32,
}

impl Ring {
    /// Entries.
    pub fn entries(&self) -> u32 {
        1 << self.log2
    }
}

/// One PD as the registrar keeps it.
pub struct Pd {
    /// Its table tree.
    pub tables: TableBuilder,
    /// Its device configuration.
    pub cfg: PdConfig,
}

/// One VI as the registrar and its application keep it.
pub struct Vi {
    /// Its PD.
    pub pd: usize,
    /// Translation mode.
    pub mode: TranslationMode,
    /// The cipher of its key (the registrar's; applications only ever see shortcuts).
    pub cipher: ShortcutCipher,
    /// Send queue.
    pub sq: Ring,
    /// Receive queue.
    pub rq: Ring,
    /// Completion queue.
    pub cq: Ring,
    /// Next SQ index the application writes.
    pub sq_tail: u32,
    /// Next RQ index the application writes.
    pub rq_tail: u32,
    /// Next CQ index the application reads.
    pub cq_head: u32,
}

/// A registered buffer: virtual addresses `va..va + len` backed by contiguous device memory.
#[derive(Clone, Copy, Debug)]
pub struct Buffer {
    /// First virtual address.
    pub va: u64,
    /// Device address of the first byte.
    pub da: u64,
    /// Bytes.
    pub len: u64,
}

/// The device, its host memory, and the software around them.
pub struct Testbed {
    /// The device and host port.
    pub sim: DeviceSim,
    /// The golden translation core, configured alike.
    pub golden: Translator,
    /// PDs by index.
    pub pds: Vec<Option<Pd>>,
    /// VIs by index.
    pub vis: Vec<Option<Vi>>,
    next_free: u64,
}

impl rtl::bench::Cycles for Testbed {
    fn cycle(&self) -> u64 {
        self.sim.model.cycle()
    }
}

impl Testbed {
    /// A device with `arena` bytes of host memory, in loopback mode when `loopback`.
    pub fn new(model: VDevice, host: HostConfig, arena: usize, loopback: bool) -> Testbed {
        let mem = HostMemory::new(ARENA_BASE, arena);
        let mut t = Testbed {
            sim: DeviceSim::new(model, mem, host),
            golden: Translator::new(),
            pds: (0..abi::NUM_PDS).map(|_| None).collect(),
            vis: (0..abi::DEVICE_VIS).map(|_| None).collect(),
            next_free: ARENA_BASE,
        };
        t.sim.firewall.registered = vec![vec![]; abi::NUM_PDS];
        t.sim.firewall.table_windows = vec![0..0; abi::NUM_PDS];
        t.sim.write_reg(
            u32::from(regs::DEVICE_CTRL),
            regs::DEVICE_CTRL_LOOPBACK.put(loopback.into()),
        );
        t
    }

    /// `bytes` of zeroed, page-aligned host memory.
    pub fn alloc(&mut self, bytes: u64) -> u64 {
        let da = self.next_free;
        self.next_free += bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        assert!(
            self.sim.mem.span().contains(&(self.next_free - 1)),
            "arena exhausted"
        );
        da
    }

    /// Writes a translation-core register on the device and in the golden model.
    pub fn write_core_reg(&mut self, offset: u16, value: u32) {
        self.sim.write_reg(u32::from(offset), value);
        self.golden.write_reg(offset, value);
    }

    /// Waits until the translation core is idle (key expansion, cache sweeps).
    pub fn wait_idle(&mut self) {
        for _ in 0..1000 {
            if self.sim.read_reg(u32::from(regs::TRANSLATOR_STATUS)) & 1 == 0 {
                return;
            }
        }
        panic!("translator stays busy");
    }

    /// Creates PD `pd` with a table window of `window_pages` pages.
    pub fn create_pd(&mut self, pd: usize, window_pages: u32, allow_read: bool, allow_write: bool) {
        let base = self.alloc(u64::from(window_pages) * PAGE_SIZE);
        let window = TableWindow {
            base: (base / PAGE_SIZE) as u32,
            pages: window_pages,
        };
        let tables = TableBuilder::new(window, &mut self.sim.mem).expect("root table");
        let cfg = PdConfig {
            valid: true,
            generation: 1,
            allow_read,
            allow_write,
            window,
        };
        self.sim.firewall.table_windows[pd] = base..base + u64::from(window_pages) * PAGE_SIZE;
        self.configure_pd(pd, cfg);
        self.pds[pd] = Some(Pd { tables, cfg });
    }

    /// Rewrites PD `pd`'s configuration (e.g. a generation bump or invalidation).
    pub fn configure_pd(&mut self, pd: usize, cfg: PdConfig) {
        for (off, v) in Translator::pd_writes(pd, &cfg) {
            self.write_core_reg(off, v);
        }
        if let Some(p) = self.pds[pd].as_mut() {
            p.cfg = cfg;
        }
        self.wait_idle();
    }

    /// Creates VI `vi` in `pd` with `key` (in key slot `vi`) and rings of `2^log2` entries.
    pub fn create_vi(&mut self, vi: usize, pd: usize, mode: TranslationMode, key: Key, log2: u32) {
        for (off, v) in Translator::key_writes(vi, &key) {
            self.write_core_reg(off, v);
        }
        self.wait_idle();
        self.set_vi_ctrl(
            vi,
            ViConfig {
                enabled: true,
                mode: mode as u8,
                pd: pd as u8,
                key_slot: vi as u8,
                ..Default::default()
            },
        );
        let entries = 1u64 << log2;
        let sq = Ring {
            base: self.alloc(entries * DESC_BYTES),
            log2,
        };
        let rq = Ring {
            base: self.alloc(entries * DESC_BYTES),
            log2,
        };
        let cq = Ring {
            base: self.alloc(entries * CQE_BYTES),
            log2,
        };
        for (reg, ring) in [
            (regs::SQ_BASE, sq),
            (regs::RQ_BASE, rq),
            (regs::CQ_BASE, cq),
        ] {
            self.sim.write_reg(
                u32::from(regs::queue_reg(vi, reg)),
                (ring.base / PAGE_SIZE) as u32,
            );
        }
        self.sim.write_reg(
            u32::from(regs::queue_reg(vi, regs::RING_SIZES)),
            regs::RING_SIZES_SQ.put(log2)
                | regs::RING_SIZES_RQ.put(log2)
                | regs::RING_SIZES_CQ.put(log2),
        );
        self.sim.firewall.pd_of_vi[vi] = Some(pd);
        self.sim.firewall.rings[vi] = [
            sq.base..sq.base + entries * DESC_BYTES,
            rq.base..rq.base + entries * DESC_BYTES,
            cq.base..cq.base + entries * CQE_BYTES,
        ];
        self.vis[vi] = Some(Vi {
            pd,
            mode,
            cipher: ShortcutCipher::new(&key),
            sq,
            rq,
            cq,
            sq_tail: 0,
            rq_tail: 0,
            cq_head: 0,
        });
    }

    /// Resizes VI `vi`'s rings within the page each was given (and resets its indices).
    pub fn resize_rings(&mut self, vi: usize, sq_log2: u32, rq_log2: u32, cq_log2: u32) {
        assert!(
            DESC_BYTES << sq_log2.max(rq_log2) <= PAGE_SIZE && CQE_BYTES << cq_log2 <= PAGE_SIZE
        );
        let v = self.vis[vi].as_mut().expect("VI exists");
        v.sq.log2 = sq_log2;
        v.rq.log2 = rq_log2;
        v.cq.log2 = cq_log2;
        (v.sq_tail, v.rq_tail, v.cq_head) = (0, 0, 0);
        let (sq, rq, cq) = (v.sq, v.rq, v.cq);
        self.sim.firewall.rings[vi] = [
            sq.base..sq.base + (DESC_BYTES << sq_log2),
            rq.base..rq.base + (DESC_BYTES << rq_log2),
            cq.base..cq.base + (CQE_BYTES << cq_log2),
        ];
        self.sim.write_reg(
            u32::from(regs::queue_reg(vi, regs::RING_SIZES)),
            regs::RING_SIZES_SQ.put(sq_log2)
                | regs::RING_SIZES_RQ.put(rq_log2)
                | regs::RING_SIZES_CQ.put(cq_log2),
        );
    }

    /// Writes VI `vi`'s control register (enable, mode, PD, key slot; clears its faults).
    /// Register writes are posted: the read-back makes sure the write has taken effect
    /// before a doorbell (decoded elsewhere) relies on it.
    pub fn set_vi_ctrl(&mut self, vi: usize, cfg: ViConfig) {
        self.write_core_reg(regs::vi_reg(vi, regs::VI_CTRL), cfg.ctrl_word());
        self.sim
            .read_reg(u32::from(regs::vi_reg(vi, regs::VI_CTRL)));
    }

    /// Registers `len` bytes at `va` in `pd`: fresh pinned frames, mapped page by page.
    pub fn register(&mut self, pd: usize, va: u64, len: u64, access: Access) -> Buffer {
        let first = va & !(PAGE_SIZE - 1);
        let pages = (va + len).div_ceil(PAGE_SIZE) - first / PAGE_SIZE;
        let frames = self.alloc(pages * PAGE_SIZE);
        let p = self.pds[pd].as_mut().expect("PD exists");
        for i in 0..pages {
            p.tables
                .map(
                    &mut self.sim.mem,
                    first + i * PAGE_SIZE,
                    frames / PAGE_SIZE + i,
                    access,
                    true,
                )
                .expect("map");
        }
        let da = frames + (va - first);
        self.sim.firewall.registered[pd].push((
            frames..frames + pages * PAGE_SIZE,
            access == Access::ReadWrite,
        ));
        Buffer { va, da, len }
    }

    /// The leaf-table shortcut for `va`, minted with VI `vi`'s key.
    pub fn shortcut(&self, vi: usize, va: u64) -> Shortcut {
        let v = self.vis[vi].as_ref().expect("VI exists");
        let p = self.pds[v.pd].as_ref().expect("PD exists");
        let frame = p
            .tables
            .table_frame(&self.sim.mem, va, 1)
            .expect("tables readable")
            .expect("leaf table exists");
        Shortcut::mint(&v.cipher, frame as u32, 1, p.cfg.generation, va)
    }

    fn ring_of(&mut self, vi: usize, queue: QueueKind) -> (Ring, &mut u32) {
        let v = self.vis[vi].as_mut().expect("VI exists");
        match queue {
            QueueKind::Send => (v.sq, &mut v.sq_tail),
            QueueKind::Recv => (v.rq, &mut v.rq_tail),
        }
    }

    /// Writes `desc` into the next slot of VI `vi`'s queue (the doorbell is separate).
    pub fn post(&mut self, vi: usize, queue: QueueKind, desc: &Descriptor) {
        let (ring, tail) = self.ring_of(vi, queue);
        let da = ring.base + u64::from(*tail & (ring.entries() - 1)) * DESC_BYTES;
        *tail = (*tail + 1) & abi::mask(abi::queues::RING_INDEX_BITS) as u32;
        assert!(self.sim.mem.write(da, &desc.to_bytes()));
    }

    /// Rings VI `vi`'s doorbell for `queue` with the tail posted so far.
    pub fn ring(&mut self, vi: usize, queue: QueueKind) {
        let (_, tail) = self.ring_of(vi, queue);
        let tail = *tail;
        let reg = match queue {
            QueueKind::Send => regs::DB_SQ_TAIL,
            QueueKind::Recv => regs::DB_RQ_TAIL,
        };
        self.sim.write_reg(regs::doorbell(vi, reg), tail);
    }

    /// Entries posted to the VI's send queue and not yet completed.
    pub fn sq_outstanding(&self, vi: usize, completed: u32) -> u32 {
        let v = self.vis[vi].as_ref().expect("VI exists");
        ring_used(v.sq_tail, completed)
    }

    /// New completions of VI `vi`, in order; returns the CQ head to the device when any.
    pub fn poll(&mut self, vi: usize) -> Vec<Completion> {
        let mut out = vec![];
        let v = self.vis[vi].as_mut().expect("VI exists");
        loop {
            let idx = v.cq_head;
            let da = v.cq.base + u64::from(idx & (v.cq.entries() - 1)) * CQE_BYTES;
            let c = Completion::from_bytes(self.sim.mem.read(da, CQE_BYTES as usize).expect("CQ"));
            if c.phase != abi::queues::phase_of(idx, v.cq.log2) {
                break;
            }
            out.push(c);
            v.cq_head = (idx + 1) & abi::mask(abi::queues::RING_INDEX_BITS) as u32;
        }
        if !out.is_empty() {
            let head = v.cq_head;
            self.sim
                .write_reg(regs::doorbell(vi, regs::DB_CQ_HEAD), head);
        }
        out
    }

    /// The device's queue state and counters in one line, for failure messages.
    pub fn state(&mut self) -> String {
        let mut out = String::new();
        for g in [regs::TX_FRAMES, regs::RX_FRAMES, regs::RX_BAD_FRAMES] {
            out += &format!("{:#x}={} ", g, self.sim.read_reg(u32::from(g)));
        }
        for vi in 0..abi::DEVICE_VIS {
            if self.vis[vi].is_none() {
                continue;
            }
            let r: Vec<u32> = [
                regs::SQ_HEAD,
                regs::RQ_HEAD,
                regs::CQ_TAIL,
                regs::DOORBELL_DROPS,
                regs::RX_DROPS,
            ]
            .iter()
            .map(|&reg| self.sim.read_reg(u32::from(regs::queue_reg(vi, reg))))
            .collect();
            let faults = self
                .sim
                .read_reg(u32::from(regs::vi_reg(vi, regs::VI_FAULTS)));
            out += &format!(
                "| VI {vi}: sq_head {} rq_head {} cq_tail {} db_drops {} rx_drops {} faults {faults:#x} ",
                r[0], r[1], r[2], r[3], r[4]
            );
        }
        out + &format!("| DMA in flight {}", self.sim.dma_in_flight())
    }

    /// What a send descriptor of VI `vi` must complete with, per the golden models; the
    /// golden translator's state (faults, cache) advances as the device's does.
    pub fn expect_send(&mut self, vi: usize, d: &Descriptor) -> (Status, u32) {
        if let Some(s) = precheck(d, QueueKind::Send, abi::DEVICE_VIS) {
            return (s, 0);
        }
        if d.opcode == abi::Opcode::Nop as u8 {
            return (Status::Ok, 0);
        }
        let r = self.golden.translate(
            &self.sim.mem,
            &TranslationRequest {
                vi: vi as u8,
                va: d.va,
                shortcut: Shortcut(d.shortcut),
                length: d.length,
                write: false,
            },
        );
        let bytes = if r.status == Status::Ok { d.length } else { 0 };
        (r.status, bytes)
    }
}
