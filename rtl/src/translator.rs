//! `Translator`: the translation core. A request `{vi, va, shortcut, length, write}` becomes a
//! stream of per-page device addresses, or a status.
//!
//! Two stages, so the decryption of one request overlaps the walk of the previous one:
//!
//! * **front**: accepts a request, looks the VI up, starts the SPECK decryption at once (the
//!   key slot comes from flip-flops), reads the PD and probes the translation cache; one cycle
//!   later it knows the early checks and whether the cache answers. A cache hit, an early
//!   failure, a physical or a full-walk request abandons the decryption; a shortcut request
//!   waits for the plaintext and is checked by [`ShortcutCheck`] (a failure counts as a VI
//!   fault).
//! * **page**: emits one response per page: straight from the cache hit or the physical
//!   address, or from a [`Walker`] job per page (filling the cache with each good page); an
//!   error ends the request with a response carrying the status.
//!
//! Configuration (the registers of `abi::regs`) is taken only when both stages are idle, so a
//! register write never races a request.
//!
//! | port             | width | dir | meaning                                                |
//! |------------------|-------|-----|--------------------------------------------------------|
//! | `clock`, `reset` | 1     | in  | clock; synchronous reset                               |
//! | `req_valid`      | 1     | in  | a translation request                                  |
//! | `req_ready`      | 1     | out | request taken                                          |
//! | `req_vi`         | 3     | in  | requesting VI                                          |
//! | `req_va`         | 64    | in  | virtual address (device address in physical mode)      |
//! | `req_shortcut`   | 64    | in  | the descriptor's shortcut                              |
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
//!
//! Timing: a cache hit answers 2 cycles after the request and the front stage takes a new
//! request every 2 cycles; a shortcut request needs the decryption (28 cycles) before its
//! first table read, and back-to-back shortcut requests are taken every 28 cycles while the
//! page stage keeps up.

use abi::{regs, Status};
use rust_hdl::prelude::*;

use crate::consts::*;
use crate::prot_table::ProtTable;
use crate::shortcut_check::ShortcutCheck;
use crate::speck_decrypt::SpeckDecrypt;
use crate::walker::Walker;
use crate::xlate_cache::{XlateCache, VPAGE_W};

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum FrontState {
    Empty,
    Probe,
    Decrypt,
    Ready,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum PageState {
    Idle,
    Emit,
    WalkStart,
    WalkWait,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum CfgState {
    Idle,
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

    prot: ProtTable,
    cache: XlateCache,
    speck: SpeckDecrypt,
    check: ShortcutCheck,
    walker: Walker,

    // Front stage.
    f_state: DFF<FrontState>,
    f_vi: DFF<Bits<VI_W>>,
    f_va: DFF<Bits<VA_W>>,
    f_va_last_tag: DFF<Bits<27>>,
    f_len: DFF<Bits<LEN_W>>,
    f_shortcut: DFF<Bits<64>>,
    f_write: DFF<Bit>,
    f_mode: DFF<Bits<2>>,
    f_pd: DFF<Bits<PD_W>>,
    f_slot: DFF<Bits<SLOT_W>>,
    f_early: DFF<Bits<STATUS_W>>,
    f_enabled: DFF<Bit>,
    f_range_bad: DFF<Bit>,
    f_single: DFF<Bit>,
    f_kind: DFF<JobKind>,
    f_status: DFF<Bits<STATUS_W>>,
    f_frame: DFF<Bits<FRAME_W>>,
    // Page stage.
    p_state: DFF<PageState>,
    p_kind: DFF<JobKind>,
    p_status: DFF<Bits<STATUS_W>>,
    p_va: DFF<Bits<VA_W>>,
    p_remaining: DFF<Bits<LEN_W>>,
    p_write: DFF<Bit>,
    p_level: DFF<Bits<3>>,
    p_frame: DFF<Bits<FRAME_W>>,
    p_pd: DFF<Bits<PD_W>>,
    p_slot: DFF<Bits<SLOT_W>>,
    p_shortcut: DFF<Bits<64>>,
    p_via_shortcut: DFF<Bit>,
    p_win_base: DFF<Bits<FRAME_W>>,
    p_win_pages: DFF<Bits<FRAME_W>>,
    // Configuration.
    c_state: DFF<CfgState>,
    c_own: DFF<Bit>,
    c_value: DFF<Bits<32>>,

    accept: Signal<Local, Bit>,
    handoff: Signal<Local, Bit>,
    pre_status: Signal<Local, Bits<STATUS_W>>,
    va_last: Signal<Local, Bits<48>>,
    page_left: Signal<Local, Bits<PAGE_BYTES_W>>,
    page_bytes: Signal<Local, Bits<PAGE_BYTES_W>>,
    page_last: Signal<Local, Bit>,
    remaining_page: Signal<Local, Bits<LEN_W>>,
    cfg_fire: Signal<Local, Bit>,
    cfg_page: Signal<Local, Bits<4>>,
    key_hit: Signal<Local, Bit>,
    probe_status: Signal<Local, Bits<STATUS_W>>,
    probe_hit: Signal<Local, Bit>,

    mode_shortcut: Constant<Bits<2>>,
    mode_full_walk: Constant<Bits<2>>,
    mode_physical: Constant<Bits<2>>,
    len_max: Constant<Bits<32>>,
    len_one: Constant<Bits<48>>,
    page_size: Constant<Bits<PAGE_BYTES_W>>,
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
        Self {
            clock: Default::default(),
            reset: Default::default(),
            req_valid: Default::default(),
            req_ready: Default::default(),
            req_vi: Default::default(),
            req_va: Default::default(),
            req_shortcut: Default::default(),
            req_length: Default::default(),
            req_write: Default::default(),
            rsp_valid: Default::default(),
            rsp_ready: Default::default(),
            rsp_status: Default::default(),
            rsp_da: Default::default(),
            rsp_bytes: Default::default(),
            rsp_last: Default::default(),
            rsp_hit: Default::default(),
            pte_req_valid: Default::default(),
            pte_req_ready: Default::default(),
            pte_req_addr: Default::default(),
            pte_req_tag: Default::default(),
            pte_rsp_valid: Default::default(),
            pte_rsp_ready: Default::default(),
            pte_rsp_data: Default::default(),
            pte_rsp_tag: Default::default(),
            pte_rsp_error: Default::default(),
            cfg_valid: Default::default(),
            cfg_ready: Default::default(),
            cfg_write: Default::default(),
            cfg_addr: Default::default(),
            cfg_wdata: Default::default(),
            cfg_rsp_valid: Default::default(),
            cfg_rsp_ready: Default::default(),
            cfg_rsp_data: Default::default(),
            busy: Default::default(),
            prot: Default::default(),
            cache: Default::default(),
            speck: Default::default(),
            check: Default::default(),
            walker: Default::default(),
            f_state: Default::default(),
            f_vi: Default::default(),
            f_va: Default::default(),
            f_va_last_tag: Default::default(),
            f_len: Default::default(),
            f_shortcut: Default::default(),
            f_write: Default::default(),
            f_mode: Default::default(),
            f_pd: Default::default(),
            f_slot: Default::default(),
            f_early: Default::default(),
            f_enabled: Default::default(),
            f_range_bad: Default::default(),
            f_single: Default::default(),
            f_kind: Default::default(),
            f_status: Default::default(),
            f_frame: Default::default(),
            p_state: Default::default(),
            p_kind: Default::default(),
            p_status: Default::default(),
            p_va: Default::default(),
            p_remaining: Default::default(),
            p_write: Default::default(),
            p_level: Default::default(),
            p_frame: Default::default(),
            p_pd: Default::default(),
            p_slot: Default::default(),
            p_shortcut: Default::default(),
            p_via_shortcut: Default::default(),
            p_win_base: Default::default(),
            p_win_pages: Default::default(),
            c_state: Default::default(),
            c_own: Default::default(),
            c_value: Default::default(),
            accept: Default::default(),
            handoff: Default::default(),
            pre_status: Default::default(),
            va_last: Default::default(),
            page_left: Default::default(),
            page_bytes: Default::default(),
            page_last: Default::default(),
            remaining_page: Default::default(),
            cfg_fire: Default::default(),
            cfg_page: Default::default(),
            key_hit: Default::default(),
            probe_status: Default::default(),
            probe_hit: Default::default(),
            mode_shortcut: konst(abi::TranslationMode::Shortcut as u64),
            mode_full_walk: konst(abi::TranslationMode::FullWalk as u64),
            mode_physical: konst(abi::TranslationMode::Physical as u64),
            len_max: konst(abi::MAX_TRANSFER_LEN),
            len_one: konst(1),
            page_size: konst(abi::PAGE_SIZE),
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
        }
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
            f_va_last_tag,
            f_len,
            f_shortcut,
            f_write,
            f_mode,
            f_pd,
            f_slot,
            f_early,
            f_enabled,
            f_range_bad,
            f_single,
            f_kind,
            f_status,
            f_frame,
            p_state,
            p_kind,
            p_status,
            p_va,
            p_remaining,
            p_write,
            p_level,
            p_frame,
            p_pd,
            p_slot,
            p_shortcut,
            p_via_shortcut,
            p_win_base,
            p_win_pages,
            c_state,
            c_own,
            c_value
        );
        clock!(self, clock, prot, cache, speck, walker);
        self.prot.reset.next = self.reset.val();
        self.cache.reset.next = self.reset.val();
        self.speck.reset.next = self.reset.val();
        self.walker.reset.next = self.reset.val();
        self.busy.next = self.cache.busy.val() || self.speck.busy.val();

        // ---- Configuration ----------------------------------------------------------------
        self.cfg_page.next = self.cfg_addr.val().get_bits::<4>(12);
        self.key_hit.next = self.cfg_page.val() == self.page_key.val()
            && !self.cfg_addr.val().get_bits::<5>(7).any()
            && !self.cfg_addr.val().get_bits::<2>(0).any();
        // Reads may watch a key expansion or sweep; writes wait for them.
        self.cfg_ready.next = self.c_state.q.val() == CfgState::Idle
            && self.f_state.q.val() == FrontState::Empty
            && self.p_state.q.val() == PageState::Idle
            && (!self.cfg_write.val()
                || (!self.cache.busy.val()
                    && !self.speck.busy.val()
                    && self.speck.key_ready.val()));
        self.cfg_fire.next = self.cfg_valid.val() && self.cfg_ready.val();
        self.prot.cfg_addr.next = self.cfg_addr.val();
        self.prot.cfg_wdata.next = self.cfg_wdata.val();
        self.prot.cfg_we.next = self.cfg_fire.val() && self.cfg_write.val();
        self.prot.cfg_re.next = self.cfg_fire.val() && !self.cfg_write.val();
        self.speck.key_valid.next =
            self.cfg_fire.val() && self.cfg_write.val() && self.key_hit.val();
        self.speck.key_slot.next = self.cfg_addr.val().get_bits::<SLOT_W>(4);
        self.speck.key_word.next = self.cfg_addr.val().get_bits::<2>(2);
        self.speck.key_data.next = self.cfg_wdata.val();
        // Cache invalidation: explicit commands, any PD register write, any key load.
        self.cache.inv_valid.next = false;
        self.cache.inv_all.next = false;
        self.cache.inv_pd.next = self.cfg_addr.val().get_bits::<PD_W>(4);
        if self.cfg_fire.val() && self.cfg_write.val() {
            if self.prot.pd_written.val() {
                self.cache.inv_valid.next = true;
            }
            if self.key_hit.val()
                && self.cfg_addr.val().get_bits::<2>(2) == self.key_last_word.val()
            {
                self.cache.inv_valid.next = true;
                self.cache.inv_all.next = true;
            }
            if self.cfg_page.val() == self.page_global.val() {
                if self.cfg_addr.val().get_bits::<12>(0) == self.off_inv_all.val() {
                    self.cache.inv_valid.next = true;
                    self.cache.inv_all.next = true;
                }
                if self.cfg_addr.val().get_bits::<12>(0) == self.off_inv_pd.val() {
                    self.cache.inv_valid.next = true;
                    self.cache.inv_pd.next = self.cfg_wdata.val().get_bits::<PD_W>(0);
                }
            }
        }
        self.cfg_rsp_valid.next = false;
        self.cfg_rsp_data.next = self.c_value.q.val();
        match self.c_state.q.val() {
            CfgState::Idle => {
                if self.cfg_fire.val() && !self.cfg_write.val() {
                    self.c_state.d.next = CfgState::ReadWait;
                    self.c_own.d.next = true;
                    self.c_value.d.next = 0.into();
                    if self.cfg_page.val() == self.page_global.val() {
                        if self.cfg_addr.val().get_bits::<12>(0) == self.off_id.val() {
                            self.c_value.d.next = self.device_id.val();
                        } else if self.cfg_addr.val().get_bits::<12>(0) == self.off_version.val() {
                            self.c_value.d.next = self.abi_version.val();
                        } else if self.cfg_addr.val().get_bits::<12>(0) == self.off_status.val() {
                            self.c_value.d.next = bit_cast::<32, 1>(
                                (self.cache.busy.val() || self.speck.busy.val()).into(),
                            );
                        }
                    }
                    if self.prot.cfg_hit.val() {
                        self.c_own.d.next = false;
                    }
                }
            }
            CfgState::ReadWait => {
                if !self.c_own.q.val() {
                    self.c_value.d.next = self.prot.cfg_rdata.val();
                }
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
        // Request-side lookups happen in the accept cycle, straight from the request port.
        self.prot.lk_vi.next = self.req_vi.val();
        // The PD read keeps pointing at the front stage's PD, so its data stays valid for as
        // long as the request is there (and for the page stage's copy at the handoff).
        self.prot.pd_index.next = self.f_pd.q.val();
        if self.accept.val() {
            self.prot.pd_index.next = self.prot.lk_pd.val();
        }
        self.cache.probe_pd.next = self.prot.lk_pd.val();
        self.cache.probe_vpage.next = self.req_va.val().get_bits::<VPAGE_W>(12);
        self.cache.cmp_pd.next = self.f_pd.q.val();
        self.cache.cmp_vpage.next = self.f_va.q.val().get_bits::<VPAGE_W>(12);
        self.cache.cmp_shortcut_mode.next = self.f_mode.q.val() == self.mode_shortcut.val();
        self.cache.cmp_slot.next = self.f_slot.q.val();
        self.cache.cmp_shortcut.next = self.f_shortcut.q.val();
        self.speck.dec_in_slot.next = self.prot.lk_slot.val();
        self.speck.dec_in_data.next = self.req_shortcut.val();
        self.check.plaintext.next = self.speck.dec_out_data.val();
        self.check.va.next = self.f_va.q.val();
        self.check.va_last_tag.next = self.f_va_last_tag.q.val();
        self.check.generation.next = self.prot.pd_gen.val();
        self.check.win_base.next = self.prot.pd_win_base.val();
        self.check.win_pages.next = self.prot.pd_win_pages.val();
        self.prot.fault_valid.next = false;
        self.speck.dec_flush.next = false;
        self.speck.dec_out_ready.next = false;

        self.va_last.next = bit_cast::<48, 48>(self.req_va.val().get_bits::<48>(0))
            + bit_cast::<48, LEN_W>(self.req_length.val().get_bits::<LEN_W>(0))
            - self.len_one.val();
        if self.prot.lk_mode.val() == self.mode_physical.val()
            || self.prot.lk_mode.val() == self.mode_full_walk.val()
            || self.prot.lk_mode.val() == self.mode_shortcut.val()
        {
            if !self.req_length.val().any() || self.req_length.val() > self.len_max.val() {
                self.pre_status.next = self.st_bad_length.val();
            } else {
                self.pre_status.next = self.st_ok.val();
            }
        } else {
            self.pre_status.next = self.st_bad_mode.val();
        }

        // The page stage takes a job when idle.
        self.handoff.next = false;
        if self.p_state.q.val() == PageState::Idle {
            if self.f_state.q.val() == FrontState::Ready {
                self.handoff.next = true;
            }
            if self.f_state.q.val() == FrontState::Decrypt && self.speck.dec_out_valid.val() {
                self.handoff.next = true;
            }
        }
        self.accept.next = self.req_valid.val()
            && (self.f_state.q.val() == FrontState::Empty || self.handoff.val())
            && self.c_state.q.val() == CfgState::Idle
            && !self.cfg_valid.val()
            && !self.cache.busy.val()
            && !self.speck.busy.val()
            && self.speck.dec_in_ready.val();
        self.req_ready.next = self.accept.val();
        self.speck.dec_in_valid.next =
            self.accept.val() && self.prot.lk_mode.val() == self.mode_shortcut.val();

        // Early checks that need the PD (available one cycle after the accept).
        self.prot.chk_vi.next = self.f_vi.q.val();
        if !self.f_enabled.q.val() {
            self.probe_status.next = self.st_vi_disabled.val();
        } else if self.prot.chk_locked.val() {
            self.probe_status.next = self.st_vi_locked.val();
        } else if self.f_early.q.val() != self.st_ok.val() {
            self.probe_status.next = self.f_early.q.val();
        } else if !self.prot.pd_valid.val() {
            self.probe_status.next = self.st_pd_invalid.val();
        } else if (self.f_write.q.val() && !self.prot.pd_allow_write.val())
            || (!self.f_write.q.val() && !self.prot.pd_allow_read.val())
        {
            self.probe_status.next = self.st_op_denied.val();
        } else if self.f_range_bad.q.val() {
            self.probe_status.next = self.st_addr_range.val();
        } else {
            self.probe_status.next = self.st_ok.val();
        }
        self.probe_hit.next = self.f_single.q.val()
            && self.cache.hit.val()
            && self.f_mode.q.val() != self.mode_physical.val();

        match self.f_state.q.val() {
            FrontState::Empty => {}
            FrontState::Probe => {
                self.f_status.d.next = self.probe_status.val();
                if self.probe_status.val() == self.st_ok.val()
                    && self.probe_hit.val()
                    && self.f_write.q.val()
                    && !self.cache.hit_writable.val()
                {
                    self.f_status.d.next = self.st_read_only.val();
                }
                self.f_frame.d.next = self.cache.hit_frame.val();
                self.f_state.d.next = FrontState::Ready;
                self.speck.dec_flush.next = true;
                if self.probe_status.val() != self.st_ok.val() {
                    self.f_kind.d.next = JobKind::Fail;
                } else if self.f_mode.q.val() == self.mode_physical.val() {
                    self.f_kind.d.next = JobKind::Physical;
                } else if self.probe_hit.val() {
                    self.f_kind.d.next = JobKind::Hit;
                } else {
                    self.f_kind.d.next = JobKind::Walk;
                    if self.f_mode.q.val() == self.mode_shortcut.val() {
                        self.f_state.d.next = FrontState::Decrypt;
                        self.speck.dec_flush.next = false;
                    }
                }
            }
            FrontState::Decrypt => {
                if self.handoff.val() {
                    self.speck.dec_out_ready.next = true;
                    self.prot.fault_valid.next = self.check.fault.val();
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
            self.f_vi.d.next = self.req_vi.val();
            self.f_va.d.next = self.req_va.val().get_bits::<VA_W>(0);
            self.f_va_last_tag.d.next = self.va_last.val().get_bits::<27>(21);
            self.f_len.d.next = self.req_length.val().get_bits::<LEN_W>(0);
            self.f_shortcut.d.next = self.req_shortcut.val();
            self.f_write.d.next = self.req_write.val();
            self.f_mode.d.next = self.prot.lk_mode.val();
            self.f_pd.d.next = self.prot.lk_pd.val();
            self.f_slot.d.next = self.prot.lk_slot.val();
            self.f_early.d.next = self.pre_status.val();
            self.f_enabled.d.next = self.prot.lk_enabled.val();
            self.f_single.d.next =
                self.req_va.val().get_bits::<35>(12) == self.va_last.val().get_bits::<35>(12);
            if self.prot.lk_mode.val() == self.mode_physical.val() {
                self.f_range_bad.d.next = self.req_va.val().get_bits::<24>(40).any()
                    || self.va_last.val().get_bits::<8>(40).any();
            } else {
                self.f_range_bad.d.next =
                    self.req_va.val().get_bits::<17>(47).any() || self.va_last.val().get_bit(47);
            }
        }

        // ---- Page stage -------------------------------------------------------------------
        self.page_left.next = self.page_size.val()
            - bit_cast::<PAGE_BYTES_W, 12>(self.p_va.q.val().get_bits::<12>(0));
        self.page_last.next =
            bit_cast::<LEN_W, PAGE_BYTES_W>(self.page_left.val()) >= self.p_remaining.q.val();
        if self.page_last.val() {
            self.page_bytes.next = self.p_remaining.q.val().get_bits::<PAGE_BYTES_W>(0);
        } else {
            self.page_bytes.next = self.page_left.val();
        }
        self.remaining_page.next = bit_cast::<LEN_W, PAGE_BYTES_W>(self.page_bytes.val());

        self.walker.job_valid.next = false;
        self.walker.job_level.next = self.p_level.q.val();
        self.walker.job_table.next = self.p_frame.q.val();
        self.walker.job_va.next = self.p_va.q.val();
        self.walker.job_write.next = self.p_write.q.val();
        self.walker.job_win_base.next = self.p_win_base.q.val();
        self.walker.job_win_pages.next = self.p_win_pages.q.val();
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

        self.cache.fill_valid.next = false;
        self.cache.fill_pd.next = self.p_pd.q.val();
        self.cache.fill_vpage.next = self.p_va.q.val().get_bits::<VPAGE_W>(12);
        self.cache.fill_via_shortcut.next = self.p_via_shortcut.q.val();
        self.cache.fill_slot.next = self.p_slot.q.val();
        self.cache.fill_shortcut.next = self.p_shortcut.q.val();
        self.cache.fill_frame.next = self.walker.res_frame.val();
        self.cache.fill_writable.next = self.walker.res_writable.val();

        self.rsp_valid.next = false;
        self.rsp_status.next = self.st_ok.val();
        self.rsp_da.next = bit_cast::<DA_W, VA_W>(self.p_va.q.val());
        self.rsp_bytes.next = self.page_bytes.val();
        self.rsp_last.next = self.page_last.val();
        self.rsp_hit.next = false;
        match self.p_state.q.val() {
            PageState::Idle => {}
            PageState::Emit => {
                self.rsp_valid.next = true;
                self.rsp_status.next = self.p_status.q.val();
                if self.p_kind.q.val() == JobKind::Hit {
                    self.rsp_hit.next = true;
                    self.rsp_da.next = (bit_cast::<DA_W, FRAME_W>(self.p_frame.q.val()) << 12)
                        | bit_cast::<DA_W, 12>(self.p_va.q.val().get_bits::<12>(0));
                }
                if self.p_status.q.val() != self.st_ok.val() {
                    self.rsp_da.next = 0.into();
                    self.rsp_bytes.next = 0.into();
                    self.rsp_last.next = true;
                }
                if self.rsp_ready.val() {
                    self.p_va.d.next =
                        self.p_va.q.val() + bit_cast::<VA_W, PAGE_BYTES_W>(self.page_bytes.val());
                    self.p_remaining.d.next = self.p_remaining.q.val() - self.remaining_page.val();
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
                    | bit_cast::<DA_W, 12>(self.p_va.q.val().get_bits::<12>(0));
                if self.walker.res_status.val() != self.st_ok.val() {
                    self.rsp_da.next = 0.into();
                    self.rsp_bytes.next = 0.into();
                    self.rsp_last.next = true;
                }
                if self.walker.res_valid.val() && self.rsp_ready.val() {
                    self.cache.fill_valid.next = self.walker.res_status.val() == self.st_ok.val();
                    self.p_va.d.next =
                        self.p_va.q.val() + bit_cast::<VA_W, PAGE_BYTES_W>(self.page_bytes.val());
                    self.p_remaining.d.next = self.p_remaining.q.val() - self.remaining_page.val();
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
            self.p_va.d.next = self.f_va.q.val();
            self.p_remaining.d.next = self.f_len.q.val();
            self.p_write.d.next = self.f_write.q.val();
            self.p_pd.d.next = self.f_pd.q.val();
            self.p_slot.d.next = self.f_slot.q.val();
            self.p_shortcut.d.next = self.f_shortcut.q.val();
            self.p_via_shortcut.d.next = self.f_mode.q.val() == self.mode_shortcut.val();
            self.p_win_base.d.next = self.prot.pd_win_base.val();
            self.p_win_pages.d.next = self.prot.pd_win_pages.val();
            self.p_kind.d.next = self.f_kind.q.val();
            self.p_status.d.next = self.f_status.q.val();
            self.p_level.d.next = self.level_root.val();
            self.p_frame.d.next = self.prot.pd_win_base.val();
            self.p_state.d.next = PageState::Emit;
            if self.f_kind.q.val() == JobKind::Hit {
                self.p_frame.d.next = self.f_frame.q.val();
            }
            if self.f_kind.q.val() == JobKind::Walk {
                self.p_state.d.next = PageState::WalkStart;
            }
            if self.f_state.q.val() == FrontState::Decrypt {
                self.p_level.d.next = self.check.level.val();
                self.p_frame.d.next = self.check.table_frame.val();
                if self.check.status.val() != self.st_ok.val() {
                    self.p_kind.d.next = JobKind::Fail;
                    self.p_status.d.next = self.check.status.val();
                    self.p_state.d.next = PageState::Emit;
                }
            }
        }

        if self.reset.val() {
            self.f_state.d.next = FrontState::Empty;
            self.p_state.d.next = PageState::Idle;
            self.c_state.d.next = CfgState::Idle;
        }
    }
}

crate::clocked!(Translator);
