//! `Translator`: the translation core. A request `{vi, va, shortcut, length, write}` becomes a
//! stream of per-page device addresses, or a status.
//!
//! Two stages, one request at a time: the front stage takes a request only when both stages
//! are idle, so the page stage works on the front stage's registers (the request, the PD
//! entry still read for it, the window end) instead of copies of its own:
//!
//! * **front**: accepts a request and starts the SPECK decryption in the same cycle (the key
//!   slot comes from the VI's flip-flops), while the PD's entry and the translation-cache set
//!   are read from block RAM. The next cycle (`Probe`) evaluates the mode, length and PD
//!   checks and the cache's tag compare in parts (registered); the one after (`Decide`)
//!   finishes them and decides: a cache hit, an early failure, a physical or a full-walk
//!   request abandons the decryption and goes to the page stage at once; a shortcut request
//!   goes there with the plaintext as soon as the decryption ends.
//! * **page**: judges a plaintext (a failure counts as a VI fault): [`ShortcutCheck`] takes its
//!   comparisons at the handoff (the PD's window among them), straight from the decryptor's
//!   result, the front stage's request and the PD entry read for it, and the page stage
//!   keeps its verdict; then it emits one response per page: straight from the cache hit or
//!   the physical address, or from a [`Walker`] job per page, filling the cache with each
//!   good page; an error ends the request with a response carrying the status. Of the last
//!   byte only its page offset is kept (the table-span crossings are worked out by the front
//!   stage, one bit per level).
//!
//! Every decision is taken from registers, so no path runs from a block-RAM output or the
//! request port through the control logic in one cycle; the request and configuration
//! registers sample their ports whenever they are free, so the handshakes drive only state
//! changes, not the enables of wide registers. Configuration (the registers of `abi::regs`) is
//! taken only when both stages are idle, so a register write never races a request. The
//! protection table has `abi::NUM_VIS` (4) VI slots: a request naming another VI fails with
//! `vi_disabled`.
//!
//! | port             | width | dir | meaning                                                |
//! |------------------|-------|-----|--------------------------------------------------------|
//! | `clock`, `reset` | 1     | in  | clock; synchronous reset                               |
//! | `req_valid`      | 1     | in  | a translation request                                  |
//! | `req_ready`      | 1     | out | request taken                                          |
//! | `req_vi`         | 3     | in  | requesting VI                                          |
//! | `req_va`         | 64    | in  | virtual address (device address in physical mode)      |
//! | `req_shortcut`   | 64    | in  | the descriptor's shortcut; held from the request's acceptance until its last response is taken |
//! | `req_length`     | 32    | in  | bytes                                                  |
//! | `req_write`      | 1     | in  | the device writes the buffer (receive)                 |
//! | `rsp_valid`      | 1     | out | one page of the translation, or the final status       |
//! | `rsp_ready`      | 1     | in  | response taken                                         |
//! | `rsp_status`     | 5     | out | `Ok`, or why the request ends here                     |
//! | `rsp_da`         | 40    | out | device address of the page's first byte (when `Ok`)    |
//! | `rsp_bytes`      | 13    | out | bytes of the transfer in this page (when `Ok`)         |
//! | `rsp_last`       | 1     | out | last response of the request                           |
//! | `rsp_hit`        | 1     | out | answered from the translation cache                    |
//! | `pte_req_*`      |       | out | table reads (see [`Walker`])                           |
//! | `pte_rsp_*`      |       | in  | table-read responses (see [`Walker`])                  |
//! | `cfg_valid`      | 1     | in  | a register access                                      |
//! | `cfg_ready`      | 1     | out | access taken (both stages idle)                        |
//! | `cfg_write`      | 1     | in  | write (else read)                                      |
//! | `cfg_addr`       | 16    | in  | register byte offset                                   |
//! | `cfg_wdata`      | 32    | in  | value written                                          |
//! | `cfg_rsp_valid`  | 1     | out | read data                                              |
//! | `cfg_rsp_ready`  | 1     | in  | read data taken                                        |
//! | `cfg_rsp_data`   | 32    | out | the value read (keys read as 0)                        |
//! | `busy`           | 1     | out | key expansion or cache invalidation under way          |
//! | `req_held`       | 1     | out | a request is held (taken, its last response not taken): `req_shortcut` must stay |
//! | `open_vi`        | 3     | in  | VI to query (for the doorbells)                        |
//! | `open_vi_open`   | 1     | out | that VI is enabled and not locked (combinational)      |
//! | `open_vi_enabled` | 1    | out | that VI is enabled, locked or not (for the fetcher)    |
//!
//! Timing (`docs/performance.md`): a cache hit, a physical request or an early failure is
//! answered 6 cycles after its request is taken; a shortcut request reaches the page stage 28
//! cycles after it is taken (the decryption) and its first table read is issued 32 cycles
//! after it was taken. The next request is taken no earlier than the cycle after the previous
//! one's last response was taken (the stages do not overlap).

use abi::{regs, Status};
use rust_hdl::prelude::*;

use crate::consts::*;
use crate::prot_table::ProtTable;
use crate::shortcut_check::ShortcutCheck;
use crate::speck_decrypt::SpeckDecrypt;
use crate::walker::Walker;
use crate::with_defaults;
use crate::xlate_cache::{XlateCache, VPAGE_W};

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum FrontState {
    Empty,
    Probe,
    Decide,
    Decrypt,
    Ready,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum PageState {
    Idle,
    Start,
    Verdict,
    Emit,
    WalkStart,
    WalkWait,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum CfgState {
    Idle,
    Decode,
    Write,
    Read,
    ReadWait,
    ReadRsp,
}

/// What the page stage does with a job.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum JobKind {
    Fail,
    Hit,
    Physical,
    Walk,
}

/// The translation core (see the module documentation).
#[derive(LogicBlock)]
pub struct Translator {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Request valid.
    pub req_valid: Signal<In, Bit>,
    /// Request taken.
    pub req_ready: Signal<Out, Bit>,
    /// Requesting VI.
    pub req_vi: Signal<In, Bits<VI_W>>,
    /// Virtual address.
    pub req_va: Signal<In, Bits<64>>,
    /// Shortcut.
    pub req_shortcut: Signal<In, Bits<64>>,
    /// Length in bytes.
    pub req_length: Signal<In, Bits<32>>,
    /// The device writes the buffer.
    pub req_write: Signal<In, Bit>,
    /// Response valid.
    pub rsp_valid: Signal<Out, Bit>,
    /// Response taken.
    pub rsp_ready: Signal<In, Bit>,
    /// Response status.
    pub rsp_status: Signal<Out, Bits<STATUS_W>>,
    /// Device address of the page's first byte.
    pub rsp_da: Signal<Out, Bits<DA_W>>,
    /// Bytes in this page.
    pub rsp_bytes: Signal<Out, Bits<PAGE_BYTES_W>>,
    /// Last response of the request.
    pub rsp_last: Signal<Out, Bit>,
    /// Answered from the cache.
    pub rsp_hit: Signal<Out, Bit>,
    /// Table-read request valid.
    pub pte_req_valid: Signal<Out, Bit>,
    /// Table-read request taken.
    pub pte_req_ready: Signal<In, Bit>,
    /// Table-read address.
    pub pte_req_addr: Signal<Out, Bits<DA_W>>,
    /// Table-read tag.
    pub pte_req_tag: Signal<Out, Bits<TAG_W>>,
    /// Table-read response valid.
    pub pte_rsp_valid: Signal<In, Bit>,
    /// Table-read response taken.
    pub pte_rsp_ready: Signal<Out, Bit>,
    /// Table-read data.
    pub pte_rsp_data: Signal<In, Bits<64>>,
    /// Table-read response tag.
    pub pte_rsp_tag: Signal<In, Bits<TAG_W>>,
    /// Table-read error.
    pub pte_rsp_error: Signal<In, Bit>,
    /// Register access valid.
    pub cfg_valid: Signal<In, Bit>,
    /// Register access taken.
    pub cfg_ready: Signal<Out, Bit>,
    /// Register write (else read).
    pub cfg_write: Signal<In, Bit>,
    /// Register offset.
    pub cfg_addr: Signal<In, Bits<16>>,
    /// Value written.
    pub cfg_wdata: Signal<In, Bits<32>>,
    /// Read data valid.
    pub cfg_rsp_valid: Signal<Out, Bit>,
    /// Read data taken.
    pub cfg_rsp_ready: Signal<In, Bit>,
    /// Read data.
    pub cfg_rsp_data: Signal<Out, Bits<32>>,
    /// Key expansion or cache invalidation under way.
    pub busy: Signal<Out, Bit>,
    /// A request is held: taken, its last response not yet taken. The core keeps no copy of
    /// the shortcut (the cache compares and fills it from `req_shortcut`), so the requester
    /// and the arbiter in front of it keep `req_shortcut` still while this is high.
    pub req_held: Signal<Out, Bit>,
    /// VI to query (the doorbells ask whether it takes work).
    pub open_vi: Signal<In, Bits<VI_W>>,
    /// `open_vi` is enabled and not locked.
    pub open_vi_open: Signal<Out, Bit>,
    /// `open_vi` is enabled, locked or not.
    pub open_vi_enabled: Signal<Out, Bit>,

    prot: ProtTable,
    cache: XlateCache,
    speck: SpeckDecrypt,
    check: ShortcutCheck,
    walker: Walker,

    // Front stage: the request, and what the probe found.
    f_state: DFF<FrontState>,
    f_vi: DFF<Bits<VI_W>>,
    f_va: DFF<Bits<VA_W>>,
    f_va_top47: DFF<Bit>,
    f_va_top40: DFF<Bit>,
    // VA bits 22 up to 29, 38, 39, 46 all ones (a carry out of bit 21 crosses that span),
    // taken with the request so the carry meets a single LUT in `Probe`.
    f_ones_29: DFF<Bit>,
    f_ones_38: DFF<Bit>,
    f_ones_39: DFF<Bit>,
    f_ones_46: DFF<Bit>,
    f_len_m1: DFF<Bits<LEN_W>>,
    f_len_bad: DFF<Bit>,
    // The last byte's page offset plus one (1 to 4096).
    f_last_end: DFF<Bits<PAGE_BYTES_W>>,
    f_cross: DFF<Bits<3>>,
    f_va_high: DFF<Bit>,
    f_da_high: DFF<Bit>,
    f_write: DFF<Bit>,
    f_enabled: DFF<Bit>,
    f_mode: DFF<Bits<2>>,
    f_pd: DFF<Bits<PD_W>>,
    f_slot: DFF<Bits<SLOT_W>>,
    f_status: DFF<Bits<STATUS_W>>,
    f_hit_part: DFF<Bits<14>>,
    f_hit_writable: DFF<Bit>,
    f_kind: DFF<JobKind>,
    f_ready: DFF<Bit>,
    f_decrypting: DFF<Bit>,
    f_pages: DFF<Bits<10>>,
    f_win_end: DFF<Bits<29>>,
    f_win_lo: DFF<Bits<15>>,
    f_early: DFF<Bits<STATUS_W>>,
    f_flush: DFF<Bit>,
    f_idle: DFF<Bit>,
    // A request can be taken (unless a register access is offered): both stages and the
    // configuration idle, no key expansion or cache sweep (as of the previous cycle: one
    // can start only in the cycle after a register write, which this flag leaves out).
    f_open: DFF<Bit>,
    // Page stage: the job, walked page by page.
    p_state: DFF<PageState>,
    p_busy: DFF<Bit>,
    p_kind: DFF<JobKind>,
    p_status: DFF<Bits<STATUS_W>>,
    p_decrypt: DFF<Bit>,
    p_fault: DFF<Bit>,
    p_via_shortcut: DFF<Bit>,
    p_level: DFF<Bits<3>>,
    p_frame: DFF<Bits<FRAME_W>>,
    p_chk_status: DFF<Bits<STATUS_W>>,
    p_chk_fault: DFF<Bit>,
    // Configuration.
    c_state: DFF<CfgState>,
    c_idle: DFF<Bit>,
    // A read of the core's own registers (ID, VERSION, TRANSLATOR_STATUS with its value).
    c_rd_id: DFF<Bit>,
    c_rd_version: DFF<Bit>,
    c_rd_busy: DFF<Bit>,
    c_addr: DFF<Bits<16>>,
    c_wdata: DFF<Bits<32>>,
    c_key: DFF<Bit>,
    c_write: DFF<Bit>,
    c_key_last: DFF<Bit>,
    c_inv_all: DFF<Bit>,
    c_inv_pd: DFF<Bit>,

    accept: Signal<Local, Bit>,
    handoff: Signal<Local, Bit>,
    f_take: Signal<Local, Bit>,
    carry22: Signal<Local, Bit>,
    single_page: Signal<Local, Bit>,
    hit: Signal<Local, Bit>,
    pages_after: Signal<Local, Bits<10>>,
    pages_sum: Signal<Local, Bits<LEN_W>>,
    va_low_sum: Signal<Local, Bits<23>>,
    probe_status: Signal<Local, Bits<STATUS_W>>,
    early_status: Signal<Local, Bits<STATUS_W>>,
    page_last: Signal<Local, Bit>,
    page_bytes: Signal<Local, Bits<PAGE_BYTES_W>>,
    page_end: Signal<Local, Bits<PAGE_BYTES_W>>,
    next_page_va: Signal<Local, Bits<VA_W>>,
    cfg_fire: Signal<Local, Bit>,
    cfg_page: Signal<Local, Bits<4>>,
    cfg_offset: Signal<Local, Bits<12>>,
    key_hit: Signal<Local, Bit>,
    own_rdata: Signal<Local, Bits<32>>,

    mode_shortcut: Constant<Bits<2>>,
    mode_full_walk: Constant<Bits<2>>,
    mode_physical: Constant<Bits<2>>,
    len_max: Constant<Bits<32>>,
    len_one: Constant<Bits<LEN_W>>,
    page_size: Constant<Bits<PAGE_BYTES_W>>,
    page_one: Constant<Bits<PAGE_BYTES_W>>,
    vpage_one: Constant<Bits<VPAGE_W>>,
    pages_one: Constant<Bits<10>>,
    ones5: Constant<Bits<5>>,
    ones8: Constant<Bits<8>>,
    ones9: Constant<Bits<9>>,
    ones17: Constant<Bits<17>>,
    ones18: Constant<Bits<18>>,
    ones25: Constant<Bits<25>>,
    level_root: Constant<Bits<3>>,
    page_key: Constant<Bits<4>>,
    page_global: Constant<Bits<4>>,
    off_id: Constant<Bits<12>>,
    off_version: Constant<Bits<12>>,
    off_status: Constant<Bits<12>>,
    off_inv_all: Constant<Bits<12>>,
    off_inv_pd: Constant<Bits<12>>,
    device_id: Constant<Bits<32>>,
    abi_version: Constant<Bits<32>>,
    key_last_word: Constant<Bits<2>>,
    st_ok: Constant<Bits<STATUS_W>>,
    st_vi_disabled: Constant<Bits<STATUS_W>>,
    st_vi_locked: Constant<Bits<STATUS_W>>,
    st_bad_mode: Constant<Bits<STATUS_W>>,
    st_bad_length: Constant<Bits<STATUS_W>>,
    st_pd_invalid: Constant<Bits<STATUS_W>>,
    st_op_denied: Constant<Bits<STATUS_W>>,
    st_addr_range: Constant<Bits<STATUS_W>>,
    st_read_only: Constant<Bits<STATUS_W>>,
}

const _: () = assert!(abi::TranslationMode::Shortcut as u8 == 0);
const _: () = assert!(regs::KEY_BASE == 0x3000 && regs::KEY_STRIDE == 0x10 && regs::KEY_WORD == 0);
const _: () = assert!(abi::LEVELS == 4 && abi::PAGE_SIZE == 4096);

impl Translator {
    /// A translator in its reset state.
    pub fn new() -> Self {
        with_defaults!(Translator {
            mode_shortcut: konst(abi::TranslationMode::Shortcut as u64),
            mode_full_walk: konst(abi::TranslationMode::FullWalk as u64),
            mode_physical: konst(abi::TranslationMode::Physical as u64),
            len_max: konst(abi::MAX_TRANSFER_LEN),
            len_one: konst(1),
            page_size: konst(abi::PAGE_SIZE),
            page_one: konst(1),
            vpage_one: konst(1),
            pages_one: konst(1),
            ones5: konst(abi::mask(5)),
            ones8: konst(abi::mask(8)),
            ones9: konst(abi::mask(9)),
            ones17: konst(abi::mask(17)),
            ones18: konst(abi::mask(18)),
            ones25: konst(abi::mask(25)),
            level_root: konst(u64::from(abi::LEVELS)),
            page_key: konst(u64::from(regs::KEY_BASE >> 12)),
            page_global: konst(0),
            off_id: konst(u64::from(regs::ID)),
            off_version: konst(u64::from(regs::VERSION)),
            off_status: konst(u64::from(regs::TRANSLATOR_STATUS)),
            off_inv_all: konst(u64::from(regs::CACHE_INVALIDATE_ALL)),
            off_inv_pd: konst(u64::from(regs::CACHE_INVALIDATE_PD)),
            device_id: konst(u64::from(regs::DEVICE_ID)),
            abi_version: konst(u64::from(regs::ABI_VERSION)),
            key_last_word: konst(3),
            st_ok: status_const(Status::Ok),
            st_vi_disabled: status_const(Status::ViDisabled),
            st_vi_locked: status_const(Status::ViLocked),
            st_bad_mode: status_const(Status::BadMode),
            st_bad_length: status_const(Status::BadLength),
            st_pd_invalid: status_const(Status::PdInvalid),
            st_op_denied: status_const(Status::OpDenied),
            st_addr_range: status_const(Status::AddrRange),
            st_read_only: status_const(Status::ReadOnly),
        } defaults {
            clock, reset, open_vi, open_vi_open, open_vi_enabled, req_valid, req_ready, req_vi, req_va, req_shortcut, req_length,
            req_write, rsp_valid, rsp_ready, rsp_status, rsp_da, rsp_bytes, rsp_last, rsp_hit,
            pte_req_valid, pte_req_ready, pte_req_addr, pte_req_tag, pte_rsp_valid,
            pte_rsp_ready, pte_rsp_data, pte_rsp_tag, pte_rsp_error, cfg_valid, cfg_ready,
            cfg_write, cfg_addr, cfg_wdata, cfg_rsp_valid, cfg_rsp_ready, cfg_rsp_data, busy, req_held,
            prot, cache, speck, check, walker,
            f_state, f_vi, f_va, f_va_top47, f_va_top40, f_ones_29, f_ones_38, f_ones_39, f_ones_46, f_len_m1, f_len_bad, f_last_end, f_cross,
            f_va_high, f_da_high,
            f_write, f_enabled, f_mode, f_pd, f_slot, f_status, f_hit_part, f_hit_writable,
            f_kind,
            f_ready,
            f_decrypting,
            f_pages,
            f_flush,
            f_idle,
            f_open,
            f_win_end,
            f_win_lo,
            f_early,
            p_state, p_busy, p_kind, p_status,
            p_decrypt, p_fault,
            p_via_shortcut, p_level, p_frame,
            p_chk_status, p_chk_fault,
            c_state, c_idle, c_rd_id, c_rd_version, c_rd_busy, c_addr, c_wdata, c_key, c_write, c_key_last, c_inv_all, c_inv_pd,
            accept, handoff, f_take, carry22, single_page, hit, pages_after, pages_sum, va_low_sum, probe_status, early_status, page_last,
            page_bytes, page_end, next_page_va,
            cfg_fire, cfg_page, cfg_offset, key_hit, own_rdata,
        })
    }
}

impl Default for Translator {
    fn default() -> Self {
        Translator::new()
    }
}

impl Logic for Translator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            f_state,
            f_vi,
            f_va,
            f_va_top47,
            f_va_top40,
            f_ones_29,
            f_ones_38,
            f_ones_39,
            f_ones_46,
            f_len_m1,
            f_len_bad,
            f_last_end,
            f_cross,
            f_va_high,
            f_da_high,
            f_write,
            f_enabled,
            f_mode,
            f_pd,
            f_slot,
            f_status,
            f_hit_part,
            f_hit_writable,
            f_kind,
            f_ready,
            f_decrypting,
            f_pages,
            f_flush,
            f_idle,
            f_open,
            f_win_end,
            f_win_lo,
            f_early,
            p_state,
            p_busy,
            p_kind,
            p_status,
            p_decrypt,
            p_fault,
            p_via_shortcut,
            p_level,
            p_frame,
            p_chk_status,
            p_chk_fault,
            c_state,
            c_idle,
            c_rd_id,
            c_rd_version,
            c_rd_busy,
            c_addr,
            c_wdata,
            c_key,
            c_write,
            c_key_last,
            c_inv_all,
            c_inv_pd
        );
        clock!(self, clock, prot, cache, speck, check, walker);
        self.prot.reset.next = self.reset.val();
        self.cache.reset.next = self.reset.val();
        // A decryption started for nothing is dropped by resetting the decryptor for a cycle
        // (its reset acts on the state register only), not by its flush input: the flush
        // also steers the round's datapath, which would put this register in front of the
        // round's carry chain. No request is taken in that cycle (a reset decryptor takes
        // none), and no key is loading (the front stage holds a request).
        self.speck.reset.next = self.reset.val() || self.f_flush.q.val();
        self.walker.reset.next = self.reset.val();
        self.busy.next = self.cache.busy.val() || self.speck.busy.val();

        // ---- Configuration ----------------------------------------------------------------
        // An access is taken into registers first, decoded in the next cycle and carried out
        // in the one after, so neither the handshake nor the decode sits in front of a write.
        self.cfg_page.next = self.c_addr.q.val().get_bits::<4>(12);
        self.cfg_offset.next = self.c_addr.q.val().get_bits::<12>(0);
        // Key-register decode, done on the access's way in (from the port) and kept.
        self.key_hit.next = self.cfg_addr.val().get_bits::<4>(12) == self.page_key.val()
            && !self.cfg_addr.val().get_bits::<5>(7).any()
            && !self.cfg_addr.val().get_bits::<2>(0).any();
        // Reads may watch a key expansion or sweep; writes wait for them.
        // (From one-bit state flags.)
        self.cfg_ready.next = self.c_idle.q.val()
            && self.f_idle.q.val()
            && !self.p_busy.q.val()
            && (!self.cfg_write.val() || (!self.cache.busy.val() && !self.speck.busy.val()));
        self.cfg_fire.next = self.cfg_valid.val() && self.cfg_ready.val();
        self.prot.cfg_addr.next = self.c_addr.q.val();
        self.prot.cfg_wdata.next = self.c_wdata.q.val();
        self.prot.cfg_we.next = self.c_state.q.val() == CfgState::Write;
        self.prot.cfg_re.next = self.c_state.q.val() == CfgState::Read;
        self.speck.key_valid.next = self.c_state.q.val() == CfgState::Write && self.c_key.q.val();
        self.speck.key_slot.next = self.c_addr.q.val().get_bits::<SLOT_W>(4);
        self.speck.key_word.next = self.c_addr.q.val().get_bits::<2>(2);
        self.speck.key_data.next = self.c_wdata.q.val();
        // Cache invalidation: explicit commands, any PD register write, any key load. The
        // commands are decoded from `c_addr` in the cycle before the write (`Decode`).
        self.c_inv_all.d.next = self.cfg_page.val() == self.page_global.val()
            && self.cfg_offset.val() == self.off_inv_all.val();
        self.c_inv_pd.d.next = self.cfg_page.val() == self.page_global.val()
            && self.cfg_offset.val() == self.off_inv_pd.val();
        self.cache.inv_valid.next = false;
        self.cache.inv_all.next = false;
        self.cache.inv_pd.next = self.c_addr.q.val().get_bits::<PD_W>(4);
        if self.c_state.q.val() == CfgState::Write {
            if self.prot.pd_written.val() {
                self.cache.inv_valid.next = true;
            }
            if self.c_key_last.q.val() {
                self.cache.inv_valid.next = true;
                self.cache.inv_all.next = true;
            }
            if self.c_inv_all.q.val() {
                self.cache.inv_valid.next = true;
                self.cache.inv_all.next = true;
            }
            if self.c_inv_pd.q.val() {
                self.cache.inv_valid.next = true;
                self.cache.inv_pd.next = self.c_wdata.q.val().get_bits::<PD_W>(0);
            }
        }
        self.cfg_rsp_valid.next = false;
        self.own_rdata.next = bit_cast::<32, 1>(self.c_rd_busy.q.val().into());
        if self.c_rd_id.q.val() {
            self.own_rdata.next = self.device_id.val();
        }
        if self.c_rd_version.q.val() {
            self.own_rdata.next = self.abi_version.val();
        }
        // A read's value goes into `c_wdata` (a read writes nothing).
        self.cfg_rsp_data.next = self.c_wdata.q.val();
        match self.c_state.q.val() {
            CfgState::Idle => {
                // The port is sampled in every idle cycle (only the state change waits for the
                // handshake), which keeps the handshake off these registers' enables: until
                // an access is taken nothing uses them.
                self.c_addr.d.next = self.cfg_addr.val();
                self.c_wdata.d.next = self.cfg_wdata.val();
                self.c_key.d.next = self.key_hit.val();
                self.c_key_last.d.next = self.key_hit.val()
                    && self.cfg_addr.val().get_bits::<2>(2) == self.key_last_word.val();
                self.c_write.d.next = self.cfg_write.val();
                if self.cfg_fire.val() {
                    self.c_state.d.next = CfgState::Decode;
                }
            }
            CfgState::Decode => {
                // The protection table registers its decode of the address in this cycle.
                if self.c_write.q.val() {
                    self.c_state.d.next = CfgState::Write;
                } else {
                    self.c_state.d.next = CfgState::Read;
                }
            }
            CfgState::Write => {
                self.c_state.d.next = CfgState::Idle;
            }
            CfgState::Read => {
                self.c_state.d.next = CfgState::ReadWait;
                self.c_rd_id.d.next = self.cfg_page.val() == self.page_global.val()
                    && self.cfg_offset.val() == self.off_id.val();
                self.c_rd_version.d.next = self.cfg_page.val() == self.page_global.val()
                    && self.cfg_offset.val() == self.off_version.val();
                self.c_rd_busy.d.next = self.cfg_page.val() == self.page_global.val()
                    && self.cfg_offset.val() == self.off_status.val()
                    && (self.cache.busy.val() || self.speck.busy.val());
            }
            CfgState::ReadWait => {
                // The protection table reads as 0 at the core's own offsets, and the core's
                // own registers are 0 at the table's: one OR instead of a multiplexer.
                self.c_wdata.d.next = self.prot.cfg_rdata.val() | self.own_rdata.val();
                self.c_state.d.next = CfgState::ReadRsp;
            }
            CfgState::ReadRsp => {
                self.cfg_rsp_valid.next = true;
                if self.cfg_rsp_ready.val() {
                    self.c_state.d.next = CfgState::Idle;
                }
            }
            _ => {
                self.c_state.d.next = CfgState::Idle;
            }
        }

        // ---- Front stage --------------------------------------------------------------------
        // In the accept cycle the VI is looked up straight from the request port; the PD and
        // cache reads keep pointing at the front stage's request afterwards, so their data
        // stays valid while the request is there.
        self.prot.lk_vi.next = self.req_vi.val();
        // The cache set is read from the request port (its data serves only the request taken
        // in that cycle). The PD is read from the request port's VI in a cycle the front stage
        // can take a request (so its entry is there from `Probe` on), else from the front
        // stage's register (so it stays there until the handoff). Neither address depends on
        // the handshake (`f_take` comes from one-bit state flags).
        self.prot.pd_index.next = self.f_pd.q.val();
        if self.f_take.val() {
            self.prot.pd_index.next = self.prot.lk_pd.val();
        }
        self.cache.probe_pd.next = self.prot.lk_pd.val();
        self.cache.probe_vpage.next = self.req_va.val().get_bits::<VPAGE_W>(12);
        self.cache.cmp_pd.next = self.f_pd.q.val();
        self.cache.cmp_vpage.next = self.f_va.q.val().get_bits::<VPAGE_W>(12);
        self.cache.cmp_shortcut_mode.next = self.f_mode.q.val() == self.mode_shortcut.val();
        self.cache.cmp_slot.next = self.f_slot.q.val();
        self.cache.cmp_shortcut.next = self.req_shortcut.val();
        self.speck.dec_in_slot.next = self.prot.lk_slot.val();
        self.speck.dec_in_data.next = self.req_shortcut.val();
        self.speck.dec_flush.next = false;
        self.f_flush.d.next = false;
        self.speck.dec_out_ready.next = false;
        // The page stage takes a job when idle.
        // From one-bit state flags, so the handoff is a single LUT in front of its fan-out.
        self.handoff.next = !self.p_busy.q.val()
            && (self.f_ready.q.val() || (self.f_decrypting.q.val() && self.speck.dec_done.val()));
        // The front stage can take a request: both stages idle (two one-bit flags). The page
        // stage then works on the front stage's registers, which hold still until it is done.
        // (`f_flush` is only ever set in the cycle of a handoff from `Ready`, never while
        // both stages are idle.)
        self.f_take.next = self.f_idle.q.val() && !self.p_busy.q.val();
        self.req_held.next = !self.f_take.val();
        // From one flag and the two valid inputs: a single LUT.
        self.accept.next = self.req_valid.val() && self.f_open.q.val() && !self.cfg_valid.val();
        // The decryptor is always idle when a request can be taken: a decryption is either
        // taken at its handoff or dropped in the `Ready` cycle, before both stages are idle.
        self.req_ready.next = self.accept.val();
        // Every request starts a decryption; the front stage drops it when it is not needed,
        // which keeps the VI's mode off this path.
        self.speck.dec_in_valid.next = self.accept.val();

        // The last byte, computed in `Probe` without a full-width adder: the low 22 bits add,
        // and since `length - 1 < 2^22` a carry out of them moves a higher span boundary only
        // when the VA bits above are all ones. Pages after the first: (page offset + length -
        // 1) / 4096, which fits ten bits for any valid length (at most 513 pages); the low
        // twelve bits of that sum are the last byte's page offset.
        self.va_low_sum.next = bit_cast::<23, 22>(self.f_va.q.val().get_bits::<22>(0))
            + bit_cast::<23, LEN_W>(self.f_len_m1.q.val());
        self.carry22.next = self.va_low_sum.val().get_bit(22);
        self.pages_sum.next =
            bit_cast::<LEN_W, 12>(self.f_va.q.val().get_bits::<12>(0)) + self.f_len_m1.q.val();
        self.pages_after.next = self.pages_sum.val().get_bits::<10>(12);
        self.single_page.next = !self.f_pages.q.val().any();
        // The end of the PD's window, registered in every cycle (no enable in front of the
        // carry chains) in two steps: the PD entry read for the front stage's request is valid
        // from `Probe` on, the low half's sum from `Decide`, the end from the cycle after it,
        // before any handoff.
        self.f_win_lo.d.next = bit_cast::<15, 14>(self.prot.pd_win_base.val().get_bits::<14>(0))
            + bit_cast::<15, 14>(self.prot.pd_win_pages.val().get_bits::<14>(0));
        self.f_win_end.d.next = (bit_cast::<29, 15>(
            bit_cast::<15, 14>(self.prot.pd_win_base.val().get_bits::<14>(14))
                + bit_cast::<15, 14>(self.prot.pd_win_pages.val().get_bits::<14>(14))
                + bit_cast::<15, 1>(self.f_win_lo.q.val().get_bits::<1>(14)),
        ) << 14)
            | bit_cast::<29, 14>(self.f_win_lo.q.val().get_bits::<14>(0));

        // Early checks: those on the mode, the length and the PD evaluated in `Probe` (the PD
        // entry is there) and registered in every cycle, the address range in `Decide`. The
        // VI lock is checked by the page stage when the job starts, after any fault of the
        // previous request is counted.
        if self.f_mode.q.val() != self.mode_physical.val()
            && self.f_mode.q.val() != self.mode_full_walk.val()
            && self.f_mode.q.val() != self.mode_shortcut.val()
        {
            self.early_status.next = self.st_bad_mode.val();
        } else if self.f_len_bad.q.val() {
            self.early_status.next = self.st_bad_length.val();
        } else if !self.prot.pd_valid.val() {
            self.early_status.next = self.st_pd_invalid.val();
        } else if (self.f_write.q.val() && !self.prot.pd_allow_write.val())
            || (!self.f_write.q.val() && !self.prot.pd_allow_read.val())
        {
            self.early_status.next = self.st_op_denied.val();
        } else {
            self.early_status.next = self.st_ok.val();
        }
        self.f_early.d.next = self.early_status.val();
        if self.f_early.q.val() != self.st_ok.val() {
            self.probe_status.next = self.f_early.q.val();
        } else if (self.f_mode.q.val() == self.mode_physical.val() && self.f_da_high.q.val())
            || (self.f_mode.q.val() != self.mode_physical.val() && self.f_va_high.q.val())
        {
            self.probe_status.next = self.st_addr_range.val();
        } else {
            self.probe_status.next = self.st_ok.val();
        }

        // The probe's verdict, registered in every cycle (no enable behind the comparison) in
        // parts (the tag compare takes two LUT levels behind the cache's block RAM in `Probe`),
        // finished in `Decide` (a physical request never gets there).
        self.f_hit_part.d.next = self.cache.hit_part.val();
        self.hit.next = self.f_hit_part.q.val().get_bits::<5>(0) == self.ones5.val()
            && (self.f_mode.q.val() != self.mode_shortcut.val()
                || self.f_hit_part.q.val().get_bits::<9>(5) == self.ones9.val());
        self.f_hit_writable.d.next = self.cache.hit_writable.val();
        match self.f_state.q.val() {
            FrontState::Empty => {}
            FrontState::Probe => {
                // Whether the last byte lies past the span of a level-1, -2, -3 table, past
                // 2^47 (VA) or past 2^40 (DA); see `va_low_sum`.
                self.f_cross.d.next = bit_cast::<3, 1>(
                    (self.carry22.val()
                        || (self.va_low_sum.val().get_bit(21) && !self.f_va.q.val().get_bit(21)))
                    .into(),
                ) | (bit_cast::<3, 1>(
                    (self.carry22.val() && self.f_ones_29.q.val()).into(),
                ) << 1)
                    | (bit_cast::<3, 1>((self.carry22.val() && self.f_ones_38.q.val()).into())
                        << 2);
                self.f_va_high.d.next =
                    self.f_va_top47.q.val() || (self.carry22.val() && self.f_ones_46.q.val());
                self.f_da_high.d.next =
                    self.f_va_top40.q.val() || (self.carry22.val() && self.f_ones_39.q.val());
                self.f_last_end.d.next =
                    bit_cast::<PAGE_BYTES_W, 12>(self.pages_sum.val().get_bits::<12>(0))
                        + self.page_one.val();
                self.f_pages.d.next = self.pages_after.val();
                self.p_frame.d.next = self.cache.hit_frame.val();
                self.f_state.d.next = FrontState::Decide;
            }
            FrontState::Decide => {
                self.f_state.d.next = FrontState::Ready;
                // A decryption started for nothing is dropped in the next cycle.
                self.f_flush.d.next = true;
                self.f_status.d.next = self.probe_status.val();
                if !self.f_enabled.q.val() {
                    self.f_kind.d.next = JobKind::Fail;
                    self.f_status.d.next = self.st_vi_disabled.val();
                } else if self.probe_status.val() != self.st_ok.val() {
                    self.f_kind.d.next = JobKind::Fail;
                } else if self.f_mode.q.val() == self.mode_physical.val() {
                    self.f_kind.d.next = JobKind::Physical;
                } else if self.hit.val() && self.single_page.val() {
                    self.f_kind.d.next = JobKind::Hit;
                    if self.f_write.q.val() && !self.f_hit_writable.q.val() {
                        self.f_status.d.next = self.st_read_only.val();
                    }
                } else {
                    self.f_kind.d.next = JobKind::Walk;
                    if self.f_mode.q.val() == self.mode_shortcut.val() {
                        self.f_state.d.next = FrontState::Decrypt;
                        self.f_flush.d.next = false;
                    }
                }
            }
            FrontState::Decrypt => {
                if self.handoff.val() {
                    self.speck.dec_out_ready.next = true;
                    self.f_state.d.next = FrontState::Empty;
                }
            }
            FrontState::Ready => {
                if self.handoff.val() {
                    self.f_state.d.next = FrontState::Empty;
                }
            }
            _ => {
                self.f_state.d.next = FrontState::Empty;
            }
        }
        if self.accept.val() {
            self.f_state.d.next = FrontState::Probe;
        }
        // The request registers sample the port whenever the front stage can take a request,
        // whether or not one is taken: the handshake stays off their enables, and an empty
        // front stage uses none of them.
        if self.f_take.val() {
            self.f_vi.d.next = self.req_vi.val();
            self.f_va.d.next = self.req_va.val().get_bits::<VA_W>(0);
            self.f_va_top47.d.next = self.req_va.val().get_bits::<17>(47).any();
            self.f_va_top40.d.next = self.req_va.val().get_bits::<24>(40).any();
            self.f_ones_29.d.next = self.req_va.val().get_bits::<8>(22) == self.ones8.val();
            self.f_ones_38.d.next = self.req_va.val().get_bits::<17>(22) == self.ones17.val();
            self.f_ones_39.d.next = self.req_va.val().get_bits::<18>(22) == self.ones18.val();
            self.f_ones_46.d.next = self.req_va.val().get_bits::<25>(22) == self.ones25.val();
            self.f_len_m1.d.next = self.req_length.val().get_bits::<LEN_W>(0) - self.len_one.val();
            self.f_len_bad.d.next =
                !self.req_length.val().any() || self.req_length.val() > self.len_max.val();
            self.f_write.d.next = self.req_write.val();
            self.f_enabled.d.next = self.prot.lk_enabled.val();
            self.f_mode.d.next = self.prot.lk_mode.val();
            self.f_pd.d.next = self.prot.lk_pd.val();
            self.f_slot.d.next = self.prot.lk_slot.val();
        }

        // ---- Page stage -------------------------------------------------------------------
        // The shortcut checker takes its comparisons at the handoff, straight from the
        // decryptor's result, the front stage's request and the PD read for it (the PD RAM
        // keeps reading the front stage's PD); its verdict is kept in `Start`: the page stage
        // needs no copy of the plaintext, the generation or the last byte's tag. The last
        // byte's tag it is given is the first byte's, with one bit flipped for each table
        // span crossed (bit 0: a leaf table's, 9: a level-2 table's, 18: a level-3 table's;
        // crossing a larger span implies crossing the smaller ones).
        self.check.plaintext.next = self.speck.dec_out_data.val();
        self.check.va.next = self.f_va.q.val();
        self.check.va_last_tag.next = bit_cast::<27, 26>(self.f_va.q.val().get_bits::<26>(21))
            ^ (bit_cast::<27, 1>(self.f_cross.q.val().get_bits::<1>(0))
                | (bit_cast::<27, 1>(self.f_cross.q.val().get_bits::<1>(1)) << 9)
                | (bit_cast::<27, 1>(self.f_cross.q.val().get_bits::<1>(2)) << 18));
        self.check.generation.next = self.prot.pd_gen.val();
        // The PD's window: its entry is read for the front stage's request until the job
        // ends, and its end is registered long before a decryption ends.
        self.check.win_base.next = self.prot.pd_win_base.val();
        self.check.win_end.next = self.f_win_end.q.val();
        self.prot.chk_vi.next = self.f_vi.q.val();
        self.prot.open_vi.next = self.open_vi.val();
        self.open_vi_open.next = self.prot.open_vi_open.val();
        self.open_vi_enabled.next = self.prot.open_vi_enabled.val();
        // A shortcut fault is counted once, in the first cycle of its response.
        self.prot.fault_valid.next =
            self.p_fault.q.val() && self.p_state.q.val() == PageState::Emit;
        if self.prot.fault_valid.val() {
            self.p_fault.d.next = false;
        }

        // The page of `f_va`: the last one when it holds the last byte; its bytes run to the
        // end of the page or to the last byte (one subtraction from either end).
        self.page_last.next = !self.f_pages.q.val().any();
        self.page_end.next = self.page_size.val();
        if self.page_last.val() {
            self.page_end.next = self.f_last_end.q.val();
        }
        self.page_bytes.next =
            self.page_end.val() - bit_cast::<PAGE_BYTES_W, 12>(self.f_va.q.val().get_bits::<12>(0));
        self.next_page_va.next = bit_cast::<VA_W, VPAGE_W>(
            self.f_va.q.val().get_bits::<VPAGE_W>(12) + self.vpage_one.val(),
        ) << 12;

        self.walker.job_valid.next = false;
        self.walker.job_level.next = self.p_level.q.val();
        self.walker.job_table.next = self.p_frame.q.val();
        self.walker.job_va.next = self.f_va.q.val();
        self.walker.job_write.next = self.f_write.q.val();
        self.walker.job_win_base.next = self.prot.pd_win_base.val();
        self.walker.job_win_end.next = self.f_win_end.q.val();
        self.walker.res_ready.next = false;
        self.pte_req_valid.next = self.walker.pte_req_valid.val();
        self.walker.pte_req_ready.next = self.pte_req_ready.val();
        self.pte_req_addr.next = self.walker.pte_req_addr.val();
        self.pte_req_tag.next = self.walker.pte_req_tag.val();
        self.walker.pte_rsp_valid.next = self.pte_rsp_valid.val();
        self.pte_rsp_ready.next = self.walker.pte_rsp_ready.val();
        self.walker.pte_rsp_data.next = self.pte_rsp_data.val();
        self.walker.pte_rsp_tag.next = self.pte_rsp_tag.val();
        self.walker.pte_rsp_error.next = self.pte_rsp_error.val();

        self.cache.fill_valid.next = self.walker.res_good.val();
        self.cache.fill_pd.next = self.f_pd.q.val();
        self.cache.fill_vpage.next = self.f_va.q.val().get_bits::<VPAGE_W>(12);
        self.cache.fill_via_shortcut.next = self.p_via_shortcut.q.val();
        self.cache.fill_slot.next = self.f_slot.q.val();
        self.cache.fill_shortcut.next = self.req_shortcut.val();
        self.cache.fill_frame.next = self.walker.res_frame.val();
        self.cache.fill_writable.next = self.walker.res_writable.val();

        self.rsp_valid.next = false;
        self.rsp_status.next = self.st_ok.val();
        self.rsp_da.next = bit_cast::<DA_W, VA_W>(self.f_va.q.val());
        self.rsp_bytes.next = self.page_bytes.val();
        self.rsp_last.next = self.page_last.val();
        self.rsp_hit.next = false;
        match self.p_state.q.val() {
            PageState::Idle => {}
            PageState::Start => {
                // The checker's verdict on the inputs of the handoff cycle.
                self.p_chk_status.d.next = self.check.status.val();
                self.p_chk_fault.d.next = self.check.fault.val();
                self.p_state.d.next = PageState::Verdict;
            }
            PageState::Verdict => {
                // The shortcut's verdict, then the VI's lock (after any fault of the previous
                // request was counted).
                if self.p_kind.q.val() == JobKind::Walk {
                    self.p_state.d.next = PageState::WalkStart;
                } else {
                    self.p_state.d.next = PageState::Emit;
                }
                if self.p_decrypt.q.val() && self.p_chk_status.q.val() != self.st_ok.val() {
                    self.p_kind.d.next = JobKind::Fail;
                    self.p_status.d.next = self.p_chk_status.q.val();
                    self.p_fault.d.next = self.p_chk_fault.q.val();
                    self.p_state.d.next = PageState::Emit;
                }
                if self.f_enabled.q.val() && self.prot.chk_locked.val() {
                    self.p_kind.d.next = JobKind::Fail;
                    self.p_status.d.next = self.st_vi_locked.val();
                    self.p_fault.d.next = false;
                    self.p_state.d.next = PageState::Emit;
                }
            }
            PageState::Emit => {
                self.rsp_valid.next = true;
                self.rsp_status.next = self.p_status.q.val();
                if self.p_kind.q.val() == JobKind::Hit {
                    self.rsp_hit.next = true;
                    self.rsp_da.next = (bit_cast::<DA_W, FRAME_W>(self.p_frame.q.val()) << 12)
                        | bit_cast::<DA_W, 12>(self.f_va.q.val().get_bits::<12>(0));
                }
                if self.p_status.q.val() != self.st_ok.val() {
                    self.rsp_da.next = 0.into();
                    self.rsp_bytes.next = 0.into();
                    self.rsp_last.next = true;
                }
                if self.rsp_ready.val() {
                    self.f_va.d.next = self.next_page_va.val();
                    self.f_pages.d.next = self.f_pages.q.val() - self.pages_one.val();
                    if self.rsp_last.val() {
                        self.p_state.d.next = PageState::Idle;
                    }
                }
            }
            PageState::WalkStart => {
                self.walker.job_valid.next = true;
                if self.walker.job_ready.val() {
                    self.p_state.d.next = PageState::WalkWait;
                }
            }
            PageState::WalkWait => {
                self.rsp_valid.next = self.walker.res_valid.val();
                self.walker.res_ready.next = self.rsp_ready.val();
                self.rsp_status.next = self.walker.res_status.val();
                self.rsp_da.next = (bit_cast::<DA_W, FRAME_W>(self.walker.res_frame.val()) << 12)
                    | bit_cast::<DA_W, 12>(self.f_va.q.val().get_bits::<12>(0));
                if !self.walker.res_ok.val() {
                    self.rsp_da.next = 0.into();
                    self.rsp_bytes.next = 0.into();
                    self.rsp_last.next = true;
                }
                // A good page fills the cache as soon as the walker has it (again each cycle the
                // response waits: same entry), independent of the response handshake.
                // (`res_good` is a registered flag of the walker: only a walker job of this
                // state has a result, and no page-stage state decode sits in front of the
                // cache's write enable.)
                if self.walker.res_valid.val() && self.rsp_ready.val() {
                    self.f_va.d.next = self.next_page_va.val();
                    self.f_pages.d.next = self.f_pages.q.val() - self.pages_one.val();
                    if self.rsp_last.val() {
                        self.p_state.d.next = PageState::Idle;
                    } else {
                        self.p_state.d.next = PageState::WalkStart;
                    }
                }
            }
            _ => {
                self.p_state.d.next = PageState::Idle;
            }
        }
        if self.handoff.val() {
            self.p_decrypt.d.next = self.f_state.q.val() == FrontState::Decrypt;
            self.p_via_shortcut.d.next = self.f_mode.q.val() == self.mode_shortcut.val();
            self.p_kind.d.next = self.f_kind.q.val();
            self.p_status.d.next = self.f_status.q.val();
            // The table to walk from: the shortcut's (when decrypted), else the PD root; a hit
            // keeps the frame the probe put there.
            self.p_level.d.next = self.level_root.val();
            if self.f_state.q.val() == FrontState::Decrypt {
                self.p_level.d.next = self.check.level.val();
                self.p_frame.d.next = self.check.table_frame.val();
            } else if self.f_kind.q.val() != JobKind::Hit {
                self.p_frame.d.next = self.prot.pd_win_base.val();
            }
            self.p_state.d.next = PageState::Start;
        }

        if self.reset.val() {
            self.f_state.d.next = FrontState::Empty;
            self.p_state.d.next = PageState::Idle;
            self.c_state.d.next = CfgState::Idle;
        }
        self.p_busy.d.next = self.p_state.d.val() != PageState::Idle;
        self.f_ready.d.next = self.f_state.d.val() == FrontState::Ready;
        self.f_idle.d.next = self.f_state.d.val() == FrontState::Empty;
        self.f_open.d.next = self.f_state.d.val() == FrontState::Empty
            && self.p_state.d.val() == PageState::Idle
            && self.c_state.d.val() == CfgState::Idle
            && self.c_state.q.val() != CfgState::Write
            && !self.cache.busy.val()
            && !self.speck.busy.val();
        self.f_decrypting.d.next = self.f_state.d.val() == FrontState::Decrypt;
        self.c_idle.d.next = self.c_state.d.val() == CfgState::Idle;
    }
}

crate::clocked!(Translator);
crate::table_read_port!(Translator);

impl Translator {
    /// Puts `req` on the request port (test benches and benchmarks).
    pub fn offer_request(&mut self, req: &abi::TranslationRequest) {
        self.req_vi.next = u64::from(req.vi).into();
        self.req_va.next = req.va.into();
        self.req_shortcut.next = req.shortcut.0.into();
        self.req_length.next = u64::from(req.length).into();
        self.req_write.next = req.write;
    }
}
