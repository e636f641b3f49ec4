//! Randomized differential test bench of the `Translator` against `abi::Translator`, for any
//! simulator of it: RustHDL's (here) and Verilator's model of the generated Verilog (crate
//! `sim`) run the very same test through [`TranslatorSim`].
//!
//! Several PDs with their own tables and windows in one memory, VIs in every mode (the four VI
//! slots go through the modes phase by phase; VI numbers without a slot are requested too), keys in
//! several slots; requests mix valid shortcuts of every level with forged, stale, wrong-VA,
//! out-of-window, unpinned, not-present, read-only, locked-VI and disabled-VI cases, bad
//! lengths and out-of-range addresses; configuration changes (generation bumps, table edits
//! with cache invalidation, unlocks, key reloads) happen between requests. Every handshake
//! stalls at random and table reads take 0 to 200 cycles.

use std::collections::{BTreeMap, VecDeque};

use abi::pte::{Pte, PTE_PINNED, PTE_PRESENT, PTE_WRITABLE};
use abi::shortcut::{va_tag, Plaintext, TableWindow};
use abi::translator::{PdConfig, TranslationRequest, Translator as Golden, ViConfig};
use abi::{
    regs, Access, Key, MemoryImage, Shortcut, ShortcutCipher, Status, TableBuilder, PAGE_SIZE,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::bench::{Bench, MemoryDrive, MemoryModel, TableReadPort};
use crate::translator::Translator;

/// Everything the bench drives into the translator in one cycle.
#[derive(Clone, Copy, Debug, Default)]
pub struct TranslatorInputs {
    /// `req_valid`.
    pub req_valid: bool,
    /// The request on `req_*`: the one offered (meaningful when `req_valid`), or the one the
    /// core holds (its shortcut must stay on the port).
    pub req: Option<TranslationRequest>,
    /// `cfg_valid`.
    pub cfg_valid: bool,
    /// `cfg_write`, `cfg_addr`, `cfg_wdata`.
    pub cfg: (bool, u16, u32),
    /// `rsp_ready`.
    pub rsp_ready: bool,
    /// `cfg_rsp_ready`.
    pub cfg_rsp_ready: bool,
    /// The table memory's side of `pte_req_*` / `pte_rsp_*`.
    pub table: MemoryDrive,
}

/// Everything the bench reads from the translator after the inputs settled.
#[derive(Clone, Copy, Debug, Default)]
pub struct TranslatorOutputs {
    /// `req_ready`.
    pub req_ready: bool,
    /// `cfg_ready`.
    pub cfg_ready: bool,
    /// `rsp_valid`.
    pub rsp_valid: bool,
    /// `rsp_status` (raw code).
    pub rsp_status: u64,
    /// `rsp_da`.
    pub rsp_da: u64,
    /// `rsp_bytes`.
    pub rsp_bytes: u64,
    /// `rsp_last`.
    pub rsp_last: bool,
    /// `rsp_hit`.
    pub rsp_hit: bool,
    /// `cfg_rsp_valid`.
    pub cfg_rsp_valid: bool,
    /// `cfg_rsp_data`.
    pub cfg_rsp_data: u64,
    /// `pte_req_valid`, `pte_req_addr`, `pte_req_tag`, `pte_rsp_ready`.
    pub table: (bool, u64, u64, bool),
}

/// A simulator of the `Translator`, stepped one clock at a time.
pub trait TranslatorSim {
    /// Sets the inputs and lets the logic settle.
    fn drive(&mut self, inputs: &TranslatorInputs);
    /// The settled outputs.
    fn outputs(&self) -> TranslatorOutputs;
    /// One clock period (the inputs are sampled at its rising edge).
    fn tick(&mut self);
}

impl TranslatorSim for Bench<Translator> {
    fn drive(&mut self, i: &TranslatorInputs) {
        let u = &mut self.uut;
        u.drive_table_port(&i.table);
        u.req_valid.next = i.req_valid;
        if let Some(r) = &i.req {
            u.offer_request(r);
        }
        u.cfg_valid.next = i.cfg_valid;
        u.cfg_write.next = i.cfg.0;
        u.cfg_addr.next = u64::from(i.cfg.1).into();
        u.cfg_wdata.next = u64::from(i.cfg.2).into();
        u.rsp_ready.next = i.rsp_ready;
        u.cfg_rsp_ready.next = i.cfg_rsp_ready;
        self.settle();
    }

    fn outputs(&self) -> TranslatorOutputs {
        let u = &self.uut;
        TranslatorOutputs {
            req_ready: u.req_ready.val(),
            cfg_ready: u.cfg_ready.val(),
            rsp_valid: u.rsp_valid.val(),
            rsp_status: u.rsp_status.val().to_u64(),
            rsp_da: u.rsp_da.val().to_u64(),
            rsp_bytes: u.rsp_bytes.val().to_u64(),
            rsp_last: u.rsp_last.val(),
            rsp_hit: u.rsp_hit.val(),
            cfg_rsp_valid: u.cfg_rsp_valid.val(),
            cfg_rsp_data: u.cfg_rsp_data.val().to_u64(),
            table: u.table_port(),
        }
    }

    fn tick(&mut self) {
        Bench::tick(self);
    }
}

/// One response as the translator emits it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Response {
    status: Status,
    da: u64,
    bytes: u32,
    last: bool,
}

struct Pd {
    tables: TableBuilder,
    mapped: Vec<u64>,
    generation: u8,
}

struct Expected {
    index: u64,
    req: TranslationRequest,
    responses: VecDeque<Response>,
    pte_reads: u32,
    cache_hit: bool,
}

/// The test bench: the RTL, the golden model, the table memory, and the queues between them.
struct Tb<'a, S: TranslatorSim> {
    b: &'a mut S,
    rng: SmallRng,
    golden: Golden,
    model: MemoryModel<MemoryImage>,
    pds: Vec<Pd>,
    ciphers: Vec<ShortcutCipher>,
    vis: Vec<ViConfig>,
    pending: VecDeque<TranslationRequest>,
    expected: VecDeque<Expected>,
    cfg: VecDeque<(bool, u16, u32)>,
    cfg_reads: VecDeque<u32>,
    issued: u64,
    /// Compare table reads and cache hits exactly (requests one at a time).
    exact: bool,
    outcomes: BTreeMap<Status, u64>,
    reads_at_start: u64,
    hits_seen: u64,
    reads_checked: u64,
    req_gap: f64,
    rsp_ready: f64,
}

const NUM_PDS: usize = 4;
const WINDOW_PAGES: u32 = 96;

/// VI configurations `(mode, pd, key_slot, enabled)`: shortcut mode on several slots and PDs,
/// full walk, physical, a disabled VI and one with the reserved mode. The device has
/// `abi::NUM_VIS` (4) VI slots, so the bench moves its VIs through these.
const VI_PLAN: [(u8, u8, u8, bool); 8] = [
    (0, 0, 0, true),
    (0, 1, 1, true),
    (0, 2, 2, true),
    (0, 3, 3, true),
    (1, 0, 0, true),
    (2, 1, 0, true),
    (0, 0, 1, false),
    (3, 2, 2, true),
];

impl<'a, S: TranslatorSim> Tb<'a, S> {
    fn new(b: &'a mut S, seed: u64, latency: std::ops::RangeInclusive<u64>) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut mem = MemoryImage::with_limit(1 << 30);
        let mut pds = vec![];
        for p in 0..NUM_PDS {
            // The last PD's window runs past the end of memory: its upper table pages fail.
            let base = if p == NUM_PDS - 1 {
                ((1u32 << 30) >> 12) - 8
            } else {
                0x1000 + 0x100 * p as u32
            };
            let window = TableWindow {
                base,
                pages: WINDOW_PAGES,
            };
            let tables = TableBuilder::new(window, &mut mem).expect("root");
            pds.push(Pd {
                tables,
                mapped: vec![],
                generation: rng.gen_range(0..128),
            });
        }
        let mut tb = Tb {
            b,
            golden: Golden::new(),
            model: MemoryModel::new(mem, latency, 0.7),
            pds,
            ciphers: vec![],
            vis: vec![],
            pending: Default::default(),
            expected: Default::default(),
            cfg: Default::default(),
            cfg_reads: Default::default(),
            issued: 0,
            exact: true,
            outcomes: Default::default(),
            reads_at_start: 0,
            hits_seen: 0,
            reads_checked: 0,
            req_gap: 0.3,
            rsp_ready: 0.7,
            rng,
        };
        tb.populate();
        tb
    }

    /// Maps clusters of pages in every PD, with some entries broken on purpose.
    fn populate(&mut self) {
        for p in 0..NUM_PDS {
            let clusters = self.rng.gen_range(2..5);
            for _ in 0..clusters {
                let start = (self.rng.gen::<u64>() & abi::mask(abi::VA_BITS)) & !(PAGE_SIZE - 1);
                // Half the clusters straddle a 2 MiB boundary.
                let start = if self.rng.gen_bool(0.5) {
                    (start | abi::mask(21)) + 1 - 4 * PAGE_SIZE
                } else {
                    start
                };
                for i in 0..self.rng.gen_range(4..24u64) {
                    let va = start + i * PAGE_SIZE;
                    if va >> abi::VA_BITS != 0 {
                        break;
                    }
                    self.map_page(p, va);
                }
            }
        }
    }

    fn map_page(&mut self, p: usize, va: u64) {
        let frame = self.rng.gen::<u64>() & abi::mask(abi::FRAME_BITS);
        let pd = &mut self.pds[p];
        let mem = &mut self.model.mem;
        let r = match self.rng.gen_range(0..16) {
            0 => pd
                .tables
                .set_leaf(mem, va, Pte::new(frame, PTE_PINNED | PTE_WRITABLE)),
            1 => pd
                .tables
                .set_leaf(mem, va, Pte::new(frame, PTE_PRESENT | PTE_WRITABLE)),
            2 => pd.tables.set_leaf(
                mem,
                va,
                Pte::new(frame | 1 << 29, PTE_PRESENT | PTE_PINNED | PTE_WRITABLE),
            ),
            3..=6 => pd.tables.map(mem, va, frame, Access::Read, true),
            _ => pd.tables.map(mem, va, frame, Access::ReadWrite, true),
        };
        if r.is_ok() {
            pd.mapped.push(va);
        }
    }

    // ---- Configuration ----------------------------------------------------------------------

    fn cfg_write(&mut self, addr: u16, value: u32) {
        self.drain();
        if std::env::var("TB_TRACE").is_ok() {
            eprintln!("cfg {addr:#x} = {value:#x}");
        }
        self.golden.write_reg(addr, value);
        self.cfg.push_back((true, addr, value));
        self.drain();
    }

    fn configure(&mut self) {
        let threshold = self.rng.gen_range(8..32);
        self.cfg_write(regs::FAULT_THRESHOLD, threshold);
        for slot in 0..4 {
            let key = Key::from_u128(self.rng.gen());
            for (a, v) in Golden::key_writes(slot, &key) {
                self.cfg_write(a, v);
            }
            self.ciphers.push(ShortcutCipher::new(&key));
        }
        for p in 0..NUM_PDS {
            self.write_pd(p, true);
        }
        self.vis = vec![ViConfig::default(); abi::NUM_VIS];
        self.assign_vis(0);
    }

    /// The VIs' configurations for phase `phase` (one phase is 500 requests): VIs 0 and 1
    /// stay in shortcut mode (their faults accumulate until they lock); VIs 2 and 3 go through
    /// the rest of [`VI_PLAN`] two entries a phase, so that every entry is met by exact and by
    /// pipelined phases.
    fn assign_vis(&mut self, phase: u64) {
        for vi in 0..abi::NUM_VIS {
            let entry = if vi < 2 {
                vi
            } else {
                2 + (vi - 2 + 2 * phase as usize) % (VI_PLAN.len() - 2)
            };
            let (mode, pd, key_slot, enabled) = VI_PLAN[entry];
            let cfg = ViConfig {
                enabled,
                mode,
                pd,
                key_slot,
                ..Default::default()
            };
            if phase == 0 || vi >= 2 {
                self.vis[vi] = cfg;
                self.cfg_write(regs::vi_reg(vi, regs::VI_CTRL), cfg.ctrl_word());
            }
        }
    }

    fn write_pd(&mut self, p: usize, allow_all: bool) {
        let pd = &self.pds[p];
        let cfg = PdConfig {
            valid: true,
            generation: pd.generation,
            allow_read: allow_all || self.rng.gen_bool(0.8),
            allow_write: allow_all || self.rng.gen_bool(0.8),
            window: pd.tables.window(),
        };
        for (a, v) in Golden::pd_writes(p, &cfg) {
            self.cfg_write(a, v);
        }
    }

    fn check_registers(&mut self) -> Result<(), String> {
        self.drain();
        let mut addrs = vec![
            regs::ID,
            regs::VERSION,
            regs::FAULT_THRESHOLD,
            regs::key_reg(1, 2),
        ];
        for i in 0..8 {
            addrs.push(regs::vi_reg(i, regs::VI_CTRL));
            addrs.push(regs::vi_reg(i, regs::VI_FAULTS));
            addrs.push(regs::pd_reg(i, regs::PD_CTRL));
            addrs.push(regs::pd_reg(i, regs::PD_WINDOW_BASE));
            addrs.push(regs::pd_reg(i, regs::PD_WINDOW_PAGES));
        }
        addrs.push(0x1084);
        for &a in &addrs {
            self.cfg.push_back((false, a, 0));
            self.cfg_reads.push_back(self.golden.read_reg(a));
        }
        self.drain();
        Ok(())
    }

    // ---- Requests ------------------------------------------------------------------------------

    fn shortcut_for(&self, vi: usize, va: u64, level: u8) -> Shortcut {
        let v = self.vis[vi];
        let pd = &self.pds[v.pd as usize];
        let table = pd
            .tables
            .table_frame(&self.model.mem, va & !(PAGE_SIZE - 1), level)
            .ok()
            .flatten()
            .unwrap_or(u64::from(pd.tables.window().base) + 1);
        Shortcut::mint(
            &self.ciphers[v.key_slot as usize],
            table as u32,
            level,
            pd.generation,
            va,
        )
    }

    fn random_request(&mut self) -> TranslationRequest {
        let rng = &mut self.rng;
        // Mostly the VIs with slots; at times a VI number without one (`vi_disabled`).
        let vi = match rng.gen_range(0..20) {
            0..=13 => rng.gen_range(0..abi::NUM_VIS),
            14..=15 => 2,
            16..=17 => 3,
            _ => rng.gen_range(abi::NUM_VIS..1 << abi::VI_BITS),
        };
        let v = self.vis[vi % abi::NUM_VIS];
        let pd = &self.pds[v.pd as usize];
        let mut va = if pd.mapped.is_empty() || rng.gen_bool(0.05) {
            rng.gen::<u64>() & abi::mask(abi::VA_BITS)
        } else {
            pd.mapped[rng.gen_range(0..pd.mapped.len())] + rng.gen_range(0..PAGE_SIZE)
        };
        let mut length = match rng.gen_range(0..10) {
            0..=5 => rng.gen_range(1..=64),
            6..=7 => rng.gen_range(1..=PAGE_SIZE as u32),
            8 => rng.gen_range(1..=5 * PAGE_SIZE as u32),
            _ => rng.gen_range(1..=64 * 1024),
        };
        let write = rng.gen_bool(0.4);
        let level = match rng.gen_range(0..10) {
            0..=6 => 1,
            7..=8 => 2,
            _ => 3,
        };
        let mut shortcut = self.shortcut_for(vi % abi::NUM_VIS, va, level);
        let rng = &mut self.rng;
        match rng.gen_range(0..40) {
            0..=2 => shortcut = Shortcut(rng.gen()),
            3..=4 => shortcut = Shortcut(shortcut.0 ^ (1 << rng.gen_range(0..64))),
            5 => {
                // Stale generation.
                let cipher = &self.ciphers[v.key_slot as usize % self.ciphers.len()];
                let mut p = shortcut.decrypt(cipher);
                p.generation = p.generation.wrapping_sub(1) & 0x7f;
                shortcut = Shortcut(cipher.encrypt(p.pack()));
            }
            6 => {
                // A table outside the PD's window (another PD's root).
                let cipher = &self.ciphers[v.key_slot as usize % self.ciphers.len()];
                let other = &self.pds[(v.pd as usize + 1) % NUM_PDS];
                let p = Plaintext {
                    table_frame: other.tables.window().base,
                    level,
                    generation: pd.generation,
                    va_tag: va_tag(va, level),
                };
                shortcut = Shortcut(cipher.encrypt(p.pack()));
            }
            7 => va ^= 1 << rng.gen_range(21..47),
            8 => length = 0,
            9 => length = rng.gen_range(abi::MAX_TRANSFER_LEN as u32..=u32::MAX),
            10 => va |= 1 << rng.gen_range(47..64),
            11 => shortcut = self.shortcut_for((vi + 1) % abi::NUM_VIS, va, level),
            12 => {
                // The last page of the same 2 MiB and beyond: a leaf shortcut cannot cover it.
                let leaf_span = PAGE_SIZE << abi::LEVEL_BITS;
                va = (va & !(leaf_span - 1)) + leaf_span - rng.gen_range(1..=PAGE_SIZE);
                length = rng.gen_range(PAGE_SIZE as u32 + 1..=4 * PAGE_SIZE as u32);
            }
            _ => {}
        }
        TranslationRequest {
            vi: vi as u8,
            va,
            shortcut,
            length,
            write,
        }
    }

    fn issue(&mut self, req: TranslationRequest) {
        let r = self.golden.translate(&self.model.mem, &req);
        let mut responses: VecDeque<Response> = r
            .pages
            .iter()
            .map(|p| Response {
                status: Status::Ok,
                da: p.da,
                bytes: p.bytes,
                last: false,
            })
            .collect();
        if r.status == Status::Ok {
            responses.back_mut().expect("a good request has pages").last = true;
        } else {
            responses.push_back(Response {
                status: r.status,
                da: 0,
                bytes: 0,
                last: true,
            });
        }
        *self.outcomes.entry(r.status).or_default() += 1;
        self.expected.push_back(Expected {
            index: self.issued,
            req,
            responses,
            pte_reads: r.pte_reads,
            cache_hit: r.cache_hit,
        });
        self.issued += 1;
        self.pending.push_back(req);
        if self.exact {
            self.drain();
        }
    }

    // ---- Clocking ------------------------------------------------------------------------------

    /// Runs until every queued request has been answered and every register access done.
    fn drain(&mut self) {
        let mut idle = 0;
        while !(self.pending.is_empty()
            && self.expected.is_empty()
            && self.cfg.is_empty()
            && self.cfg_reads.is_empty())
        {
            self.cycle();
            idle += 1;
            assert!(
                idle < 200_000,
                "translator hangs: {} requests outstanding",
                self.expected.len()
            );
        }
    }

    fn cycle(&mut self) {
        let rng = &mut self.rng;
        let d = self.model.drive(rng);
        let offer_req = !self.pending.is_empty() && !rng.gen_bool(self.req_gap);
        let offer_cfg = !self.cfg.is_empty() && rng.gen_bool(0.7);
        let rsp_ready = rng.gen_bool(self.rsp_ready);
        let cfg_rsp_ready = rng.gen_bool(0.6);
        // A request taken and not yet answered in full is the oldest expected one: its
        // shortcut stays on the port (the core keeps no copy of it), like the engines' do.
        let held = (self.expected.len() > self.pending.len())
            .then(|| self.expected.front().map(|e| e.req))
            .flatten();
        self.b.drive(&TranslatorInputs {
            req_valid: offer_req,
            req: held.or_else(|| self.pending.front().copied()),
            cfg_valid: offer_cfg,
            cfg: self.cfg.front().copied().unwrap_or_default(),
            rsp_ready,
            cfg_rsp_ready,
            table: d,
        });
        let u = self.b.outputs();
        let req_fire = offer_req && u.req_ready;
        let cfg_fire = offer_cfg && u.cfg_ready;
        let rsp = (u.rsp_valid && rsp_ready).then(|| {
            (
                Response {
                    status: Status::from_code(u.rsp_status as u8).unwrap_or(Status::Ok),
                    da: u.rsp_da,
                    bytes: u.rsp_bytes as u32,
                    last: u.rsp_last,
                },
                u.rsp_status,
                u.rsp_hit,
            )
        });
        let cfg_rsp = (u.cfg_rsp_valid && cfg_rsp_ready).then_some(u.cfg_rsp_data as u32);
        let (read, addr, tag, rsp_taken) = u.table;
        if read && d.req_ready {
            // Every table read stays inside the table window of the PD of the request being
            // walked (the oldest unanswered one): forged shortcuts and corrupt tables included.
            let e = self
                .expected
                .front()
                .expect("a table read without a request");
            let pd = self.vis[e.req.vi as usize % abi::NUM_VIS].pd as usize;
            let window = self.pds[pd].tables.window();
            assert!(
                window.contains(addr >> abi::PAGE_SHIFT),
                "request #{} {:?}: table read at {addr:#x} outside PD {pd}'s window {window:?}",
                e.index,
                e.req
            );
            self.reads_checked += 1;
        }
        self.model
            .clock(&mut self.rng, read, addr, tag, d.rsp.is_some(), rsp_taken);
        self.b.tick();
        if req_fire {
            self.pending.pop_front();
            if self.expected.len() == 1 || !self.exact {
                self.reads_at_start = self.model.reads;
            }
        }
        if cfg_fire {
            self.cfg.pop_front();
        }
        if let Some(v) = cfg_rsp {
            let want = self
                .cfg_reads
                .pop_front()
                .expect("a read response without a read");
            assert_eq!(v, want, "register read {:#x} vs golden {:#x}", v, want);
        }
        if let Some((got, raw, hit)) = rsp {
            self.check_response(got, raw, hit);
        }
    }

    fn check_response(&mut self, got: Response, raw: u64, hit: bool) {
        let exact = self.exact;
        let reads = self.model.reads - self.reads_at_start;
        let e = self
            .expected
            .front_mut()
            .expect("a response without a request");
        let want = e
            .responses
            .pop_front()
            .expect("more responses than the golden model");
        if std::env::var("TB_TRACE").is_ok() {
            eprintln!(
                "#{} got {got:?} want {want:?} hit {hit} {:?}",
                e.index, e.req
            );
        }
        assert!(
            Status::from_code(raw as u8).is_some(),
            "request #{} {:?}: undefined status code {raw}",
            e.index,
            e.req
        );
        assert_eq!(got, want, "request #{} {:?}", e.index, e.req);
        if hit {
            self.hits_seen += 1;
        }
        if got.last {
            if std::env::var("TB_TRACE").is_ok() {
                eprintln!(
                    "#{} vi {} page {:#x} len {} {:?} reads {} hit {} golden ({}, {}) exact {}",
                    e.index,
                    e.req.vi,
                    e.req.va >> 12,
                    e.req.length,
                    got.status,
                    reads,
                    hit,
                    e.pte_reads,
                    e.cache_hit,
                    exact
                );
            }
            assert!(e.responses.is_empty(), "request #{}: ended early", e.index);
            if exact {
                assert_eq!(
                    (reads, hit),
                    (u64::from(e.pte_reads), e.cache_hit),
                    "request #{} {:?}: (table reads, cache hit) differ from the golden model",
                    e.index,
                    e.req
                );
            }
            self.expected.pop_front();
        }
    }

    /// Occasional state changes: generation bump, table edit, unlock, permission change.
    fn perturb(&mut self) {
        // The golden model answered every queued request against today's tables.
        self.drain();
        match self.rng.gen_range(0..6) {
            0 => {
                let p = self.rng.gen_range(0..NUM_PDS);
                self.pds[p].generation = (self.pds[p].generation + 1) & 0x7f;
                self.write_pd(p, true);
            }
            1 => {
                // Remap a page: the registrar edits the table, then drops the PD's cache.
                let p = self.rng.gen_range(0..NUM_PDS);
                if let Some(&va) = self.pds[p].mapped.first() {
                    let mem = &mut self.model.mem;
                    let _ = self.pds[p].tables.unmap(mem, va);
                    let frame = self.rng.gen::<u64>() & abi::mask(abi::FRAME_BITS);
                    let _ = self.pds[p]
                        .tables
                        .map(mem, va, frame, Access::ReadWrite, true);
                    self.cfg_write(regs::CACHE_INVALIDATE_PD, p as u32);
                }
            }
            2 => {
                let vi = self.rng.gen_range(0..abi::NUM_VIS);
                let ctrl = self.vis[vi].ctrl_word();
                self.cfg_write(regs::vi_reg(vi, regs::VI_CTRL), ctrl);
            }
            3 => {
                let p = self.rng.gen_range(0..NUM_PDS);
                self.write_pd(p, false);
            }
            4 => self.cfg_write(regs::CACHE_INVALIDATE_ALL, 0),
            _ => {
                let p = self.rng.gen_range(0..NUM_PDS);
                self.write_pd(p, true);
            }
        }
    }
}

/// Runs the randomized differential test on `sim` (a translator in its reset state):
/// `requests` translations with table reads taking `latency` cycles. Any difference from the
/// golden model, hang, or table read outside the walked PD's window is an `Err` naming the
/// request.
pub fn differential<S: TranslatorSim>(
    b: &mut S,
    seed: u64,
    requests: u64,
    latency: std::ops::RangeInclusive<u64>,
) -> Result<(), String> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut tb = Tb::new(b, seed, latency);
        tb.configure();
        tb.check_registers().unwrap();
        for n in 0..requests {
            // Alternate exact (one at a time) and pipelined phases.
            if n % 500 == 0 {
                tb.drain();
                if n > 0 {
                    tb.assign_vis(n / 500);
                }
                tb.exact = (n / 500) % 2 == 0;
                if tb.exact {
                    // Pipelined requests may fill the cache in another order than the golden
                    // model (same translations, other evictions): start the exact phase from
                    // an empty cache on both sides.
                    tb.cfg_write(regs::CACHE_INVALIDATE_ALL, 0);
                }
                tb.req_gap = if tb.exact { 0.3 } else { 0.05 };
                tb.rsp_ready = if tb.rng.gen_bool(0.5) { 0.7 } else { 1.0 };
            }
            if tb.rng.gen_bool(0.01) {
                tb.perturb();
            }
            let req = tb.random_request();
            tb.issue(req);
        }
        tb.drain();
        tb.check_registers().unwrap();
        assert!(tb.reads_checked > 0, "no table read was checked");
        (tb.outcomes, tb.hits_seen)
    }));
    let (outcomes, hits) = outcome.map_err(|e| {
        e.downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })?;
    let required = [
        Status::Ok,
        Status::ViDisabled,
        Status::ViLocked,
        Status::BadMode,
        Status::BadLength,
        Status::AddrRange,
        Status::ShortcutVaTag,
        Status::ShortcutGeneration,
        Status::ShortcutWindow,
        Status::CrossesTable,
        Status::NotPresent,
        Status::NotPinned,
        Status::ReadOnly,
        Status::FrameRange,
    ];
    let missing: Vec<_> = required
        .iter()
        .filter(|s| !outcomes.contains_key(s))
        .collect();
    if !missing.is_empty() && requests >= 2000 {
        return Err(format!(
            "outcomes never exercised: {missing:?} (seen {outcomes:?})"
        ));
    }
    if hits == 0 && requests >= 2000 {
        return Err("the cache never hit".into());
    }
    eprintln!("seed {seed}: {requests} translations, {hits} cache hits, outcomes {outcomes:?}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};

    #[test]
    fn translator_matches_golden_model_10k_requests() {
        run_seeded("translator", test_seed(), Translator::new, |b, s| {
            differential(b, s, 10_000, 0..=200)
        });
    }

    #[test]
    fn translator_matches_golden_model_at_zero_latency() {
        run_seeded("translator-fast", test_seed(), Translator::new, |b, s| {
            differential(b, s, 3_000, 0..=2)
        });
    }
}
