//! `QueueManager`: the per-VI queue state and everything that touches it — the queue
//! registers and doorbell pages, the descriptor fetcher, the completion writer and the event
//! output.
//!
//! * **Registers** (`abi::regs`): the device's global registers from `DEVICE_CTRL` on, one
//!   queue block per VI (`QUEUE_BASE`), one doorbell page per VI (`DOORBELL_BASE`). A doorbell
//!   write is applied one cycle after it is taken: it is ignored and counted in
//!   `DOORBELL_DROPS` when the translation core reports the VI disabled or locked, or when the
//!   value is impossible (a tail more than the ring size ahead of the head, a CQ head past the
//!   tail).
//! * **Fetcher**: round-robin over the VIs whose send queue has work and whose completion
//!   queue has room for what is fetched (plus one entry kept for a receive), it reads bursts of
//!   4 descriptors (or 1 at the ring's end or near the tail) into the descriptor FIFO, as long
//!   as the FIFO has room for every word in flight; several reads are in flight at once, never
//!   past the tail. Each descriptor's VI and queue index go into a second FIFO beside it.
//! * **Completion writer**: takes one completion at a time (latched, so its producer moves
//!   on), waits while the VI's CQ is full (back-pressure, never an overwrite), writes the
//!   16-byte entry with its phase bit, and
//!   raises the VI's event when it is armed (the arm is consumed).
//! * **Receive slots**: the receive engine asks for VI `v`'s next receive descriptor; the
//!   answer grants it (and reserves a CQ entry) or refuses it (VI closed, RQ empty, CQ full),
//!   counting a refusal in `RX_DROPS`.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `mmio_*` | | in/out | register accesses (`valid/ready`, `write`, 20-bit `addr`, `wdata`; reads answer on `mmio_rsp_*`) |
//! | `open_vi`, `open_vi_open` | 3, 1 | out, in | query of the translation core: is the VI enabled and not locked |
//! | `fetch_req_*` | | out | descriptor reads: `valid/ready`, `da`, `len` bytes |
//! | `fetch_rd_*` | | in | their data: `valid`, `data`, `error` (never back-pressured) |
//! | `desc_*` | | out | descriptor words (`valid/ready/data`); `desc_meta` = VI and index, valid with every word |
//! | `cmp_*` | | in | a completion to write (`valid/ready`; taken, and latched, as soon as its CQ has room) |
//! | `cq_req_*`, `cq_wd_*` | | out | CQ entry writes: request, then 4 data words |
//! | `rq_query`, `rq_vi` | 1, 2 | in | the receive engine asks for a receive descriptor (held until answered) |
//! | `rq_answer`, `rq_granted`, `rq_da`, `rq_index` | | out | the answer (one cycle) |
//! | `event_*` | | out | `valid/ready`, `vi`: a completion reached an armed CQ |
//! | `tx_frame`, `rx_frame`, `rx_bad` | 1 | in | counter strobes |
//! | `loopback` | 1 | out | `DEVICE_CTRL.loopback` |

use abi::queues::{CQE_BYTES, DESC_BYTES, MAX_RING_LOG2};
use abi::regs;
use rust_hdl::prelude::*;

use crate::consts::{konst, DA_W, FRAME_W, STATUS_W};
use crate::fifo::Fifo;
use crate::with_defaults;

/// VIs with queues.
pub const DVIS: usize = abi::DEVICE_VIS;
/// Width of a device-VI index.
pub const DVI_W: usize = 2;
/// Width of a ring index.
pub const IDX_W: usize = abi::queues::RING_INDEX_BITS as usize;
/// Width of a DMA length in bytes (up to one page).
pub const DMA_LEN_W: usize = 13;
/// Width of a descriptor's metadata in the FIFO: VI and queue index.
pub const META_W: usize = DVI_W + IDX_W;
/// Bit of descriptor word 0 (a reserved bit, cleared on the way in) that marks a descriptor
/// whose read failed.
pub const DESC_ERROR_BIT: usize = 31;
const _: () = assert!(IDX_W == 12);

const _: () = assert!(DVIS == 1 << DVI_W);
const _: () = assert!(DESC_BYTES == 32 && CQE_BYTES == 16 && MAX_RING_LOG2 == 11);
const _: () = assert!(regs::QUEUE_BASE == 0x4000 && regs::QUEUE_STRIDE == 0x40);
const _: () = assert!(regs::DOORBELL_BASE == 0x10000 && regs::DOORBELL_STRIDE == 0x1000);
const _: () = assert!(regs::MMIO_ADDR_BITS == 20);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum FetchState {
    Idle,
    Request,
    Meta,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum CqState {
    Idle,
    Request,
    Data,
}

/// The queue manager (see the module documentation).
#[derive(LogicBlock)]
pub struct QueueManager {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Register access offered.
    pub mmio_valid: Signal<In, Bit>,
    /// Register access taken.
    pub mmio_ready: Signal<Out, Bit>,
    /// Write (else read).
    pub mmio_write: Signal<In, Bit>,
    /// Byte address.
    pub mmio_addr: Signal<In, Bits<20>>,
    /// Value written.
    pub mmio_wdata: Signal<In, Bits<32>>,
    /// Read data valid.
    pub mmio_rsp_valid: Signal<Out, Bit>,
    /// Read data taken.
    pub mmio_rsp_ready: Signal<In, Bit>,
    /// Read data.
    pub mmio_rsp_data: Signal<Out, Bits<32>>,
    /// VI asked about.
    pub open_vi: Signal<Out, Bits<3>>,
    /// It is enabled and not locked.
    pub open_vi_open: Signal<In, Bit>,
    /// Descriptor read request.
    pub fetch_req_valid: Signal<Out, Bit>,
    /// Descriptor read taken.
    pub fetch_req_ready: Signal<In, Bit>,
    /// Device address of the first descriptor.
    pub fetch_req_da: Signal<Out, Bits<DA_W>>,
    /// Bytes to read.
    pub fetch_req_len: Signal<Out, Bits<DMA_LEN_W>>,
    /// VI whose send queue is read.
    pub fetch_req_vi: Signal<Out, Bits<DVI_W>>,
    /// Descriptor data word.
    pub fetch_rd_valid: Signal<In, Bit>,
    /// The word.
    pub fetch_rd_data: Signal<In, Bits<32>>,
    /// The read failed.
    pub fetch_rd_error: Signal<In, Bit>,
    /// Descriptor word available.
    pub desc_valid: Signal<Out, Bit>,
    /// Descriptor word taken.
    pub desc_ready: Signal<In, Bit>,
    /// The word.
    pub desc_data: Signal<Out, Bits<32>>,
    /// VI (bits 13:12) and queue index (11:0) of the descriptor the word belongs to.
    pub desc_meta: Signal<Out, Bits<META_W>>,
    /// The last word of a descriptor is taken (pops the metadata).
    pub desc_meta_pop: Signal<In, Bit>,
    /// Completion offered.
    pub cmp_valid: Signal<In, Bit>,
    /// Completion written.
    pub cmp_ready: Signal<Out, Bit>,
    /// VI of the completion.
    pub cmp_vi: Signal<In, Bits<DVI_W>>,
    /// It reports a receive descriptor.
    pub cmp_recv: Signal<In, Bit>,
    /// The descriptor's `wr_id`.
    pub cmp_wr_id: Signal<In, Bits<32>>,
    /// Bytes moved.
    pub cmp_bytes: Signal<In, Bits<32>>,
    /// Queue index of the descriptor.
    pub cmp_index: Signal<In, Bits<IDX_W>>,
    /// Peer VI.
    pub cmp_peer: Signal<In, Bits<8>>,
    /// Opcode byte.
    pub cmp_opcode: Signal<In, Bits<8>>,
    /// Status code.
    pub cmp_status: Signal<In, Bits<STATUS_W>>,
    /// CQ write request.
    pub cq_req_valid: Signal<Out, Bit>,
    /// CQ write request taken.
    pub cq_req_ready: Signal<In, Bit>,
    /// Device address of the entry.
    pub cq_req_da: Signal<Out, Bits<DA_W>>,
    /// VI whose CQ is written.
    pub cq_req_vi: Signal<Out, Bits<DVI_W>>,
    /// Entry data word.
    pub cq_wd_valid: Signal<Out, Bit>,
    /// Entry data word taken.
    pub cq_wd_ready: Signal<In, Bit>,
    /// The word.
    pub cq_wd_data: Signal<Out, Bits<32>>,
    /// Last word of the entry.
    pub cq_wd_last: Signal<Out, Bit>,
    /// The receive engine asks for a receive descriptor.
    pub rq_query: Signal<In, Bit>,
    /// For this VI.
    pub rq_vi: Signal<In, Bits<DVI_W>>,
    /// The answer is out (one cycle).
    pub rq_answer: Signal<Out, Bit>,
    /// A descriptor is granted (else the frame is dropped).
    pub rq_granted: Signal<Out, Bit>,
    /// Device address of the granted descriptor.
    pub rq_da: Signal<Out, Bits<DA_W>>,
    /// Its queue index.
    pub rq_index: Signal<Out, Bits<IDX_W>>,
    /// Event offered.
    pub event_valid: Signal<Out, Bit>,
    /// Event taken.
    pub event_ready: Signal<In, Bit>,
    /// VI of the event.
    pub event_vi: Signal<Out, Bits<8>>,
    /// A frame was sent.
    pub tx_frame: Signal<In, Bit>,
    /// A frame filled a receive descriptor.
    pub rx_frame: Signal<In, Bit>,
    /// A malformed frame was dropped.
    pub rx_bad: Signal<In, Bit>,
    /// Internal loopback.
    pub loopback: Signal<Out, Bit>,

    desc_fifo: Fifo<Bits<32>, 8, 9>,
    meta_fifo: Fifo<Bits<META_W>, 8, 9>,

    sq_base: [DFF<Bits<FRAME_W>>; DVIS],
    rq_base: [DFF<Bits<FRAME_W>>; DVIS],
    cq_base: [DFF<Bits<FRAME_W>>; DVIS],
    sq_log2: [DFF<Bits<4>>; DVIS],
    rq_log2: [DFF<Bits<4>>; DVIS],
    cq_log2: [DFF<Bits<4>>; DVIS],
    sq_tail: [DFF<Bits<IDX_W>>; DVIS],
    sq_head: [DFF<Bits<IDX_W>>; DVIS],
    rq_tail: [DFF<Bits<IDX_W>>; DVIS],
    rq_head: [DFF<Bits<IDX_W>>; DVIS],
    cq_head: [DFF<Bits<IDX_W>>; DVIS],
    cq_tail: [DFF<Bits<IDX_W>>; DVIS],
    cq_pending: [DFF<Bits<IDX_W>>; DVIS],
    armed: [DFF<Bit>; DVIS],
    event_pending: [DFF<Bit>; DVIS],
    db_drops: [DFF<Bits<16>>; DVIS],
    rx_drops: [DFF<Bits<16>>; DVIS],
    vi_ids: [Constant<Bits<DVI_W>>; DVIS],
    loopback_on: DFF<Bit>,
    tx_frames: DFF<Bits<32>>,
    rx_frames: DFF<Bits<32>>,
    rx_bad_frames: DFF<Bits<32>>,

    // Register accesses: decoded in the cycle taken, applied (doorbells) or answered (reads)
    // in the next.
    m_write: DFF<Bit>,
    m_read: DFF<Bit>,
    m_addr: DFF<Bits<20>>,
    m_wdata: DFF<Bits<32>>,
    rsp_valid: DFF<Bit>,
    rsp_data: DFF<Bits<32>>,
    m_vi: Signal<Local, Bits<DVI_W>>,
    m_reg: Signal<Local, Bits<6>>,
    m_is_db: Signal<Local, Bit>,
    m_is_queue: Signal<Local, Bit>,
    m_is_global: Signal<Local, Bit>,
    m_in_range: Signal<Local, Bit>,
    db_value: Signal<Local, Bits<IDX_W>>,
    s_sq_base: Signal<Local, Bits<FRAME_W>>,
    s_rq_base: Signal<Local, Bits<FRAME_W>>,
    s_cq_base: Signal<Local, Bits<FRAME_W>>,
    s_sq_log2: Signal<Local, Bits<4>>,
    s_rq_log2: Signal<Local, Bits<4>>,
    s_cq_log2: Signal<Local, Bits<4>>,
    s_sq_head: Signal<Local, Bits<IDX_W>>,
    s_rq_head: Signal<Local, Bits<IDX_W>>,
    s_cq_tail: Signal<Local, Bits<IDX_W>>,
    s_sq_tail: Signal<Local, Bits<IDX_W>>,
    s_rq_tail: Signal<Local, Bits<IDX_W>>,
    s_cq_head: Signal<Local, Bits<IDX_W>>,
    s_db_drops: Signal<Local, Bits<16>>,
    s_rx_drops: Signal<Local, Bits<16>>,
    s_armed: Signal<Local, Bit>,
    p_base: Signal<Local, Bits<FRAME_W>>,
    p_slot: Signal<Local, Bits<IDX_W>>,
    c_base: Signal<Local, Bits<FRAME_W>>,
    c_slot: Signal<Local, Bits<IDX_W>>,
    c_lap: Signal<Local, Bits<IDX_W>>,
    q_base: Signal<Local, Bits<FRAME_W>>,
    q_slot: Signal<Local, Bits<IDX_W>>,
    s_sq_mask: Signal<Local, Bits<IDX_W>>,
    s_rq_mask: Signal<Local, Bits<IDX_W>>,
    db_sq_ok: Signal<Local, Bit>,
    db_rq_ok: Signal<Local, Bit>,
    db_cq_ok: Signal<Local, Bit>,
    db_drops_next: Signal<Local, Bits<16>>,
    p_head: Signal<Local, Bits<IDX_W>>,
    p_tail: Signal<Local, Bits<IDX_W>>,
    p_sq_log2: Signal<Local, Bits<4>>,
    p_cq_tail: Signal<Local, Bits<IDX_W>>,
    p_cq_head: Signal<Local, Bits<IDX_W>>,
    p_cq_log2: Signal<Local, Bits<4>>,
    p_pending: Signal<Local, Bits<IDX_W>>,
    p_mask: Signal<Local, Bits<IDX_W>>,
    p_cq_mask: Signal<Local, Bits<IDX_W>>,
    p_used: Signal<Local, Bits<IDX_W>>,
    p_cq_free: Signal<Local, Bits<IDX_W>>,
    p_to_end: Signal<Local, Bits<IDX_W>>,
    f_new_head: Signal<Local, Bits<IDX_W>>,
    c_tail: Signal<Local, Bits<IDX_W>>,
    c_head: Signal<Local, Bits<IDX_W>>,
    c_log2: Signal<Local, Bits<4>>,
    c_mask: Signal<Local, Bits<IDX_W>>,
    c_new_tail: Signal<Local, Bits<IDX_W>>,
    q_head: Signal<Local, Bits<IDX_W>>,
    q_tail: Signal<Local, Bits<IDX_W>>,
    q_log2: Signal<Local, Bits<4>>,
    g_cq_tail: Signal<Local, Bits<IDX_W>>,
    g_cq_head: Signal<Local, Bits<IDX_W>>,
    g_cq_log2: Signal<Local, Bits<4>>,
    q_pending: Signal<Local, Bits<IDX_W>>,
    q_drops: Signal<Local, Bits<16>>,
    q_mask: Signal<Local, Bits<IDX_W>>,
    g_cq_mask: Signal<Local, Bits<IDX_W>>,
    q_grant: Signal<Local, Bit>,
    q_new_head: Signal<Local, Bits<IDX_W>>,
    q_drops_next: Signal<Local, Bits<16>>,
    read_value: Signal<Local, Bits<32>>,

    // Fetcher.
    f_state: DFF<FetchState>,
    f_rr: DFF<Bits<DVI_W>>,
    f_vi: DFF<Bits<DVI_W>>,
    f_da: DFF<Bits<DA_W>>,
    f_count: DFF<Bits<3>>,
    f_index: DFF<Bits<IDX_W>>,
    f_inflight: DFF<Bits<9>>,
    f_pick_ok: Signal<Local, Bit>,
    f_any: Signal<Local, Bit>,
    f_rot: [Signal<Local, Bit>; DVIS],
    f_offset: Signal<Local, Bits<DVI_W>>,
    vi_offs: [Constant<Bits<DVI_W>>; DVIS],
    f_pick_vi: Signal<Local, Bits<DVI_W>>,
    f_pick_burst: Signal<Local, Bit>,
    f_word: DFF<Bits<3>>,
    // Completions promised or written this cycle, per VI (added to / taken from cq_pending).
    f_take: [Signal<Local, Bits<IDX_W>>; DVIS],
    r_take: [Signal<Local, Bits<IDX_W>>; DVIS],
    c_take: [Signal<Local, Bits<IDX_W>>; DVIS],
    f_add: Signal<Local, Bits<IDX_W>>,
    f_credit: Signal<Local, Bits<9>>,
    f_arrive: Signal<Local, Bits<9>>,
    f_issue: Signal<Local, Bits<9>>,

    // Completion writer.
    c_state: DFF<CqState>,
    c_word: DFF<Bits<2>>,
    c_room: Signal<Local, Bit>,
    c_slot_da: Signal<Local, Bits<DA_W>>,
    c_phase: Signal<Local, Bit>,
    c_done: Signal<Local, Bit>,
    c_vi: Signal<Local, Bits<DVI_W>>,
    l_vi: DFF<Bits<DVI_W>>,
    l_recv: DFF<Bit>,
    l_wr_id: DFF<Bits<32>>,
    l_bytes: DFF<Bits<32>>,
    l_index: DFF<Bits<IDX_W>>,
    l_peer: DFF<Bits<8>>,
    l_opcode: DFF<Bits<8>>,
    l_status: DFF<Bits<STATUS_W>>,

    // Receive grants.
    r_answer: DFF<Bit>,
    r_granted: DFF<Bit>,
    r_da: DFF<Bits<DA_W>>,
    r_index: DFF<Bits<IDX_W>>,
    r_serve: Signal<Local, Bit>,

    ones: Constant<Bits<IDX_W>>,
    idx_one: Constant<Bits<IDX_W>>,
    idx_two: Constant<Bits<IDX_W>>,
    idx_four: Constant<Bits<IDX_W>>,
    idx_five: Constant<Bits<IDX_W>>,
    log2_max: Constant<Bits<4>>,
    log2_span: Constant<Bits<4>>,
    vi_one: Constant<Bits<DVI_W>>,
    cnt_one: Constant<Bits<16>>,
    frames_one: Constant<Bits<32>>,
    count_one: Constant<Bits<3>>,
    count_four: Constant<Bits<3>>,
    words_one: Constant<Bits<9>>,
    words_eight: Constant<Bits<9>>,
    words_32: Constant<Bits<9>>,
    words_cap: Constant<Bits<9>>,
    len_desc: Constant<Bits<DMA_LEN_W>>,
    len_burst: Constant<Bits<DMA_LEN_W>>,
    word_last: Constant<Bits<2>>,
    word_one: Constant<Bits<2>>,
    w1: Constant<Bits<2>>,
    w2: Constant<Bits<2>>,
    page_db: Constant<Bits<4>>,
    page_queue: Constant<Bits<4>>,
    page_global: Constant<Bits<4>>,
    top_zero: Constant<Bits<2>>,
    g_ctrl: Constant<Bits<12>>,
    g_caps: Constant<Bits<12>>,
    g_tx: Constant<Bits<12>>,
    g_rx: Constant<Bits<12>>,
    g_bad: Constant<Bits<12>>,
    q_sq_base: Constant<Bits<6>>,
    q_rq_base: Constant<Bits<6>>,
    q_cq_base: Constant<Bits<6>>,
    q_sizes: Constant<Bits<6>>,
    q_sq_head: Constant<Bits<6>>,
    q_rq_head: Constant<Bits<6>>,
    q_cq_tail: Constant<Bits<6>>,
    q_db_drops: Constant<Bits<6>>,
    q_rx_drops: Constant<Bits<6>>,
    d_sq_tail: Constant<Bits<6>>,
    d_rq_tail: Constant<Bits<6>>,
    d_cq_head: Constant<Bits<6>>,
    d_cq_arm: Constant<Bits<6>>,
    caps_value: Constant<Bits<32>>,
}

impl Default for QueueManager {
    fn default() -> Self {
        let ids = [konst(0), konst(1), konst(2), konst(3)];
        with_defaults!(QueueManager {
            vi_ids: ids,
            vi_offs: ids,
            ones: konst(abi::mask(abi::queues::RING_INDEX_BITS)),
            idx_one: konst(1),
            idx_two: konst(2),
            idx_four: konst(4),
            idx_five: konst(5),
            log2_max: konst(u64::from(MAX_RING_LOG2)),
            log2_span: konst(u64::from(abi::queues::RING_INDEX_BITS)),
            vi_one: konst(1),
            cnt_one: konst(1),
            frames_one: konst(1),
            count_one: konst(1),
            count_four: konst(4),
            words_one: konst(1),
            words_eight: konst(8),
            words_32: konst(32),
            words_cap: konst(256),
            len_desc: konst(DESC_BYTES),
            len_burst: konst(4 * DESC_BYTES),
            word_last: konst(3),
            word_one: konst(1),
            w1: konst(1),
            w2: konst(2),
            page_db: konst(u64::from(regs::DOORBELL_BASE >> 16)),
            page_queue: konst(u64::from(regs::QUEUE_BASE >> 12)),
            page_global: konst(0),
            top_zero: konst(0),
            g_ctrl: konst(u64::from(regs::DEVICE_CTRL)),
            g_caps: konst(u64::from(regs::CAPS)),
            g_tx: konst(u64::from(regs::TX_FRAMES)),
            g_rx: konst(u64::from(regs::RX_FRAMES)),
            g_bad: konst(u64::from(regs::RX_BAD_FRAMES)),
            q_sq_base: konst(u64::from(regs::SQ_BASE)),
            q_rq_base: konst(u64::from(regs::RQ_BASE)),
            q_cq_base: konst(u64::from(regs::CQ_BASE)),
            q_sizes: konst(u64::from(regs::RING_SIZES)),
            q_sq_head: konst(u64::from(regs::SQ_HEAD)),
            q_rq_head: konst(u64::from(regs::RQ_HEAD)),
            q_cq_tail: konst(u64::from(regs::CQ_TAIL)),
            q_db_drops: konst(u64::from(regs::DOORBELL_DROPS)),
            q_rx_drops: konst(u64::from(regs::RX_DROPS)),
            d_sq_tail: konst(u64::from(regs::DB_SQ_TAIL)),
            d_rq_tail: konst(u64::from(regs::DB_RQ_TAIL)),
            d_cq_head: konst(u64::from(regs::DB_CQ_HEAD)),
            d_cq_arm: konst(u64::from(regs::DB_CQ_ARM)),
            caps_value: konst(u64::from(
                regs::CAPS_VIS.put(DVIS as u32) | regs::CAPS_MAX_RING_LOG2.put(MAX_RING_LOG2),
            )),
        } defaults {
            clock, reset, mmio_valid, mmio_ready, mmio_write, mmio_addr, mmio_wdata,
            mmio_rsp_valid, mmio_rsp_ready, mmio_rsp_data, open_vi, open_vi_open,
            fetch_req_valid, fetch_req_ready, fetch_req_da, fetch_req_len, fetch_req_vi, cq_req_vi, fetch_rd_valid,
            fetch_rd_data, fetch_rd_error, desc_valid, desc_ready, desc_data, desc_meta,
            desc_meta_pop, cmp_valid, cmp_ready, cmp_vi, cmp_recv, cmp_wr_id, cmp_bytes,
            cmp_index, cmp_peer, cmp_opcode, cmp_status, cq_req_valid, cq_req_ready, cq_req_da,
            cq_wd_valid, cq_wd_ready, cq_wd_data, cq_wd_last, rq_query, rq_vi, rq_answer,
            rq_granted, rq_da, rq_index, event_valid, event_ready, event_vi, tx_frame, rx_frame,
            rx_bad, loopback, desc_fifo, meta_fifo, sq_base, rq_base, cq_base, sq_log2,
            rq_log2, cq_log2, sq_tail, sq_head, rq_tail, rq_head, cq_head, cq_tail, cq_pending,
            armed, event_pending, db_drops, rx_drops, loopback_on, tx_frames, rx_frames,
            rx_bad_frames, m_write, m_read, m_addr, m_wdata, rsp_valid, rsp_data, m_vi, m_reg,
            m_is_db, m_is_queue, m_is_global, m_in_range, db_value, s_sq_base, s_rq_base, s_cq_base, s_sq_log2, s_rq_log2, s_cq_log2, s_sq_head, s_rq_head, s_cq_tail, s_sq_tail, s_rq_tail, s_cq_head, s_db_drops, s_rx_drops, s_armed, p_base, p_slot, c_base, c_slot, c_lap, q_base, q_slot, s_sq_mask, s_rq_mask, db_sq_ok, db_rq_ok, db_cq_ok, db_drops_next, p_head, p_tail, p_sq_log2, p_cq_tail, p_cq_head, p_cq_log2, p_pending, p_mask, p_cq_mask, p_used, p_cq_free, p_to_end, f_new_head, c_tail, c_head, c_log2, c_mask, c_new_tail, q_head, q_tail, q_log2, g_cq_tail, g_cq_head, g_cq_log2, q_pending, q_drops, q_mask, g_cq_mask, q_grant, q_new_head, q_drops_next, read_value, f_state, f_rr,
            f_vi, f_da, f_count, f_index, f_inflight, f_pick_ok, f_any, f_rot, f_offset, f_pick_vi, f_pick_burst,
            f_word, f_take, r_take, c_take, f_add, f_credit, f_arrive, f_issue, c_state, c_word, c_room,
            c_slot_da, c_phase, c_done, c_vi, l_vi, l_recv, l_wr_id, l_bytes, l_index, l_peer, l_opcode, l_status, r_answer, r_granted, r_da, r_index, r_serve
        })
    }
}

impl Logic for QueueManager {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            loopback_on,
            tx_frames,
            rx_frames,
            rx_bad_frames,
            m_write,
            m_read,
            m_addr,
            m_wdata,
            rsp_valid,
            rsp_data,
            f_state,
            f_rr,
            f_vi,
            f_da,
            f_count,
            f_index,
            f_inflight,
            f_word,
            c_state,
            c_word,
            l_vi,
            l_recv,
            l_wr_id,
            l_bytes,
            l_index,
            l_peer,
            l_opcode,
            l_status,
            r_answer,
            r_granted,
            r_da,
            r_index
        );
        clock!(self, clock, desc_fifo, meta_fifo);
        self.desc_fifo.reset.next = self.reset.val();
        self.meta_fifo.reset.next = self.reset.val();
        for i in 0..4 {
            self.sq_base[i].clock.next = self.clock.val();
            self.sq_base[i].d.next = self.sq_base[i].q.val();
            self.rq_base[i].clock.next = self.clock.val();
            self.rq_base[i].d.next = self.rq_base[i].q.val();
            self.cq_base[i].clock.next = self.clock.val();
            self.cq_base[i].d.next = self.cq_base[i].q.val();
            self.sq_log2[i].clock.next = self.clock.val();
            self.sq_log2[i].d.next = self.sq_log2[i].q.val();
            self.rq_log2[i].clock.next = self.clock.val();
            self.rq_log2[i].d.next = self.rq_log2[i].q.val();
            self.cq_log2[i].clock.next = self.clock.val();
            self.cq_log2[i].d.next = self.cq_log2[i].q.val();
            self.sq_tail[i].clock.next = self.clock.val();
            self.sq_tail[i].d.next = self.sq_tail[i].q.val();
            self.sq_head[i].clock.next = self.clock.val();
            self.sq_head[i].d.next = self.sq_head[i].q.val();
            self.rq_tail[i].clock.next = self.clock.val();
            self.rq_tail[i].d.next = self.rq_tail[i].q.val();
            self.rq_head[i].clock.next = self.clock.val();
            self.rq_head[i].d.next = self.rq_head[i].q.val();
            self.cq_head[i].clock.next = self.clock.val();
            self.cq_head[i].d.next = self.cq_head[i].q.val();
            self.cq_tail[i].clock.next = self.clock.val();
            self.cq_tail[i].d.next = self.cq_tail[i].q.val();
            self.cq_pending[i].clock.next = self.clock.val();
            self.armed[i].clock.next = self.clock.val();
            self.armed[i].d.next = self.armed[i].q.val();
            self.event_pending[i].clock.next = self.clock.val();
            self.event_pending[i].d.next = self.event_pending[i].q.val();
            self.db_drops[i].clock.next = self.clock.val();
            self.db_drops[i].d.next = self.db_drops[i].q.val();
            self.rx_drops[i].clock.next = self.clock.val();
            self.rx_drops[i].d.next = self.rx_drops[i].q.val();
            self.f_take[i].next = 0.into();
            self.r_take[i].next = 0.into();
            self.c_take[i].next = 0.into();
        }
        self.loopback.next = self.loopback_on.q.val();

        // ---- Register accesses ----
        self.mmio_ready.next = !self.rsp_valid.q.val() && !self.m_read.q.val();
        self.m_write.d.next = false;
        self.m_read.d.next = false;
        if self.mmio_valid.val() && !self.rsp_valid.q.val() && !self.m_read.q.val() {
            self.m_write.d.next = self.mmio_write.val();
            self.m_read.d.next = !self.mmio_write.val();
            self.m_addr.d.next = self.mmio_addr.val();
            self.m_wdata.d.next = self.mmio_wdata.val();
        }
        self.m_is_db.next = self.m_addr.q.val().get_bits::<4>(16) == self.page_db.val()
            && self.m_addr.q.val().get_bits::<2>(14) == self.top_zero.val();
        self.m_is_queue.next = self.m_addr.q.val().get_bits::<4>(16) == self.page_global.val()
            && self.m_addr.q.val().get_bits::<4>(12) == self.page_queue.val()
            && self.m_addr.q.val().get_bits::<4>(8) == self.page_global.val();
        self.m_is_global.next = !self.m_addr.q.val().get_bits::<8>(12).any();
        // Doorbell pages: VI in bits 13:12; queue blocks: VI in bits 7:6.
        self.m_vi.next = self.m_addr.q.val().get_bits::<DVI_W>(6);
        self.m_reg.next = self.m_addr.q.val().get_bits::<6>(0);
        if self.m_is_db.val() {
            self.m_vi.next = self.m_addr.q.val().get_bits::<DVI_W>(12);
        }
        self.m_in_range.next = self.m_is_db.val() || self.m_is_queue.val();
        self.db_value.next = self.m_wdata.q.val().get_bits::<IDX_W>(0);
        self.open_vi.next = bit_cast::<3, DVI_W>(self.m_vi.val());
        self.r_serve.next = false;
        if !(self.m_write.q.val() && self.m_is_db.val()) {
            self.open_vi.next = bit_cast::<3, DVI_W>(self.rq_vi.val());
            self.r_serve.next = self.rq_query.val() && !self.r_answer.q.val();
        }
        self.read_value.next = 0.into();
        if self.m_is_global.val() {
            if self.m_addr.q.val().get_bits::<12>(0) == self.g_ctrl.val() {
                self.read_value.next = bit_cast::<32, 1>(self.loopback_on.q.val().into());
                if self.m_write.q.val() {
                    self.loopback_on.d.next = self.m_wdata.q.val().get_bit(0);
                }
            }
            if self.m_addr.q.val().get_bits::<12>(0) == self.g_caps.val() {
                self.read_value.next = self.caps_value.val();
            }
            if self.m_addr.q.val().get_bits::<12>(0) == self.g_tx.val() {
                self.read_value.next = self.tx_frames.q.val();
            }
            if self.m_addr.q.val().get_bits::<12>(0) == self.g_rx.val() {
                self.read_value.next = self.rx_frames.q.val();
            }
            if self.m_addr.q.val().get_bits::<12>(0) == self.g_bad.val() {
                self.read_value.next = self.rx_bad_frames.q.val();
            }
        }
        // The addressed VI's state, for register reads.
        self.s_sq_base.next = 0.into();
        self.s_rq_base.next = 0.into();
        self.s_cq_base.next = 0.into();
        self.s_sq_log2.next = 0.into();
        self.s_rq_log2.next = 0.into();
        self.s_cq_log2.next = 0.into();
        self.s_sq_head.next = 0.into();
        self.s_rq_head.next = 0.into();
        self.s_cq_tail.next = 0.into();
        self.s_sq_tail.next = 0.into();
        self.s_rq_tail.next = 0.into();
        self.s_cq_head.next = 0.into();
        self.s_db_drops.next = 0.into();
        self.s_rx_drops.next = 0.into();
        self.s_armed.next = false;
        for i in 0..4 {
            if self.m_vi.val() == self.vi_ids[i].val() {
                self.s_sq_base.next = self.sq_base[i].q.val();
                self.s_rq_base.next = self.rq_base[i].q.val();
                self.s_cq_base.next = self.cq_base[i].q.val();
                self.s_sq_log2.next = self.sq_log2[i].q.val();
                self.s_rq_log2.next = self.rq_log2[i].q.val();
                self.s_cq_log2.next = self.cq_log2[i].q.val();
                self.s_sq_head.next = self.sq_head[i].q.val();
                self.s_rq_head.next = self.rq_head[i].q.val();
                self.s_cq_tail.next = self.cq_tail[i].q.val();
                self.s_sq_tail.next = self.sq_tail[i].q.val();
                self.s_rq_tail.next = self.rq_tail[i].q.val();
                self.s_cq_head.next = self.cq_head[i].q.val();
                self.s_db_drops.next = self.db_drops[i].q.val();
                self.s_rx_drops.next = self.rx_drops[i].q.val();
                self.s_armed.next = self.armed[i].q.val();
            }
        }
        // Doorbell checks on the addressed VI, computed once: a tail at most a ring ahead of
        // the head, a CQ head not past the tail.
        self.s_sq_mask.next = self.ones.val() >> (self.log2_span.val() - self.s_sq_log2.val());
        self.s_rq_mask.next = self.ones.val() >> (self.log2_span.val() - self.s_rq_log2.val());
        self.db_sq_ok.next = (self.db_value.val() - self.s_sq_head.val())
            <= (self.s_sq_mask.val() + self.idx_one.val());
        self.db_rq_ok.next = (self.db_value.val() - self.s_rq_head.val())
            <= (self.s_rq_mask.val() + self.idx_one.val());
        self.db_cq_ok.next = (self.db_value.val() - self.s_cq_head.val())
            <= (self.s_cq_tail.val() - self.s_cq_head.val());
        self.db_drops_next.next = self.s_db_drops.val() + self.cnt_one.val();
        if self.m_is_queue.val() {
            if self.m_reg.val() == self.q_sq_base.val() {
                self.read_value.next = bit_cast::<32, FRAME_W>(self.s_sq_base.val());
            }
            if self.m_reg.val() == self.q_rq_base.val() {
                self.read_value.next = bit_cast::<32, FRAME_W>(self.s_rq_base.val());
            }
            if self.m_reg.val() == self.q_cq_base.val() {
                self.read_value.next = bit_cast::<32, FRAME_W>(self.s_cq_base.val());
            }
            if self.m_reg.val() == self.q_sizes.val() {
                self.read_value.next = bit_cast::<32, 4>(self.s_sq_log2.val())
                    | (bit_cast::<32, 4>(self.s_rq_log2.val()) << 4)
                    | (bit_cast::<32, 4>(self.s_cq_log2.val()) << 8);
            }
            if self.m_reg.val() == self.q_sq_head.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_sq_head.val());
            }
            if self.m_reg.val() == self.q_rq_head.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_rq_head.val());
            }
            if self.m_reg.val() == self.q_cq_tail.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_cq_tail.val());
            }
            if self.m_reg.val() == self.q_db_drops.val() {
                self.read_value.next = bit_cast::<32, 16>(self.s_db_drops.val());
            }
            if self.m_reg.val() == self.q_rx_drops.val() {
                self.read_value.next = bit_cast::<32, 16>(self.s_rx_drops.val());
            }
        }
        if self.m_is_db.val() {
            if self.m_reg.val() == self.d_sq_tail.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_sq_tail.val());
            }
            if self.m_reg.val() == self.d_rq_tail.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_rq_tail.val());
            }
            if self.m_reg.val() == self.d_cq_head.val() {
                self.read_value.next = bit_cast::<32, IDX_W>(self.s_cq_head.val());
            }
            if self.m_reg.val() == self.d_cq_arm.val() {
                self.read_value.next = bit_cast::<32, 1>(self.s_armed.val().into());
            }
        }
        for i in 0..4 {
            if self.m_in_range.val() && self.m_vi.val() == self.vi_ids[i].val() {
                if self.m_is_queue.val() {
                    if self.m_reg.val() == self.q_sq_base.val() && self.m_write.q.val() {
                        self.sq_base[i].d.next = self.m_wdata.q.val().get_bits::<FRAME_W>(0);
                    }
                    if self.m_reg.val() == self.q_rq_base.val() && self.m_write.q.val() {
                        self.rq_base[i].d.next = self.m_wdata.q.val().get_bits::<FRAME_W>(0);
                    }
                    if self.m_reg.val() == self.q_cq_base.val() && self.m_write.q.val() {
                        self.cq_base[i].d.next = self.m_wdata.q.val().get_bits::<FRAME_W>(0);
                    }
                    if self.m_reg.val() == self.q_sizes.val() && self.m_write.q.val() {
                        self.sq_log2[i].d.next = self.m_wdata.q.val().get_bits::<4>(0);
                        if self.m_wdata.q.val().get_bits::<4>(0) > self.log2_max.val() {
                            self.sq_log2[i].d.next = self.log2_max.val();
                        }
                        self.rq_log2[i].d.next = self.m_wdata.q.val().get_bits::<4>(4);
                        if self.m_wdata.q.val().get_bits::<4>(4) > self.log2_max.val() {
                            self.rq_log2[i].d.next = self.log2_max.val();
                        }
                        self.cq_log2[i].d.next = self.m_wdata.q.val().get_bits::<4>(8);
                        if self.m_wdata.q.val().get_bits::<4>(8) > self.log2_max.val() {
                            self.cq_log2[i].d.next = self.log2_max.val();
                        }
                        self.sq_tail[i].d.next = 0.into();
                        self.sq_head[i].d.next = 0.into();
                        self.rq_tail[i].d.next = 0.into();
                        self.rq_head[i].d.next = 0.into();
                        self.cq_head[i].d.next = 0.into();
                        self.cq_tail[i].d.next = 0.into();
                        self.armed[i].d.next = false;
                        self.event_pending[i].d.next = false;
                    }
                }
                if self.m_is_db.val() {
                    if self.m_reg.val() == self.d_sq_tail.val() && self.m_write.q.val() {
                        if self.open_vi_open.val() && self.db_sq_ok.val() {
                            self.sq_tail[i].d.next = self.db_value.val();
                        } else {
                            self.db_drops[i].d.next = self.db_drops_next.val();
                        }
                    }
                    if self.m_reg.val() == self.d_rq_tail.val() && self.m_write.q.val() {
                        if self.open_vi_open.val() && self.db_rq_ok.val() {
                            self.rq_tail[i].d.next = self.db_value.val();
                        } else {
                            self.db_drops[i].d.next = self.db_drops_next.val();
                        }
                    }
                    if self.m_reg.val() == self.d_cq_head.val() && self.m_write.q.val() {
                        // The new head may not pass the tail.
                        if self.open_vi_open.val() && self.db_cq_ok.val() {
                            self.cq_head[i].d.next = self.db_value.val();
                        } else {
                            self.db_drops[i].d.next = self.db_drops_next.val();
                        }
                    }
                    if self.m_reg.val() == self.d_cq_arm.val() && self.m_write.q.val() {
                        if self.open_vi_open.val() {
                            self.armed[i].d.next = true;
                        } else {
                            self.db_drops[i].d.next = self.db_drops_next.val();
                        }
                    }
                }
            }
        }
        if self.m_read.q.val() {
            self.rsp_valid.d.next = true;
            self.rsp_data.d.next = self.read_value.val();
        }
        if self.rsp_valid.q.val() && self.mmio_rsp_ready.val() {
            self.rsp_valid.d.next = false;
        }
        self.mmio_rsp_valid.next = self.rsp_valid.q.val();
        self.mmio_rsp_data.next = self.rsp_data.q.val();

        // ---- Counters ----
        if self.tx_frame.val() {
            self.tx_frames.d.next = self.tx_frames.q.val() + self.frames_one.val();
        }
        if self.rx_frame.val() {
            self.rx_frames.d.next = self.rx_frames.q.val() + self.frames_one.val();
        }
        if self.rx_bad.val() {
            self.rx_bad_frames.d.next = self.rx_bad_frames.q.val() + self.frames_one.val();
        }

        // ---- Fetcher ----
        // Round robin over the VIs with descriptors posted, starting after the last one tried;
        // the one picked is then checked for CQ room and burst size on its own.
        for j in 0..4 {
            self.f_rot[j].next = false;
            for i in 0..4 {
                if self.vi_ids[i].val() == self.f_rr.q.val() + self.vi_offs[j].val() {
                    self.f_rot[j].next = self.sq_tail[i].q.val() != self.sq_head[i].q.val();
                }
            }
        }
        self.f_offset.next = 0.into();
        if !self.f_rot[0].val() {
            if self.f_rot[1].val() {
                self.f_offset.next = self.vi_offs[1].val();
            } else if self.f_rot[2].val() {
                self.f_offset.next = self.vi_offs[2].val();
            } else {
                self.f_offset.next = self.vi_offs[3].val();
            }
        }
        self.f_pick_vi.next = self.f_rr.q.val() + self.f_offset.val();
        self.f_any.next = self.f_rot[0].val()
            || self.f_rot[1].val()
            || self.f_rot[2].val()
            || self.f_rot[3].val();
        self.p_base.next = 0.into();
        self.p_head.next = 0.into();
        self.p_tail.next = 0.into();
        self.p_sq_log2.next = 0.into();
        self.p_cq_tail.next = 0.into();
        self.p_cq_head.next = 0.into();
        self.p_cq_log2.next = 0.into();
        self.p_pending.next = 0.into();
        for i in 0..4 {
            if self.f_pick_vi.val() == self.vi_ids[i].val() {
                self.p_base.next = self.sq_base[i].q.val();
                self.p_head.next = self.sq_head[i].q.val();
                self.p_tail.next = self.sq_tail[i].q.val();
                self.p_sq_log2.next = self.sq_log2[i].q.val();
                self.p_cq_tail.next = self.cq_tail[i].q.val();
                self.p_cq_head.next = self.cq_head[i].q.val();
                self.p_cq_log2.next = self.cq_log2[i].q.val();
                self.p_pending.next = self.cq_pending[i].q.val();
            }
        }
        self.p_mask.next = self.ones.val() >> (self.log2_span.val() - self.p_sq_log2.val());
        self.p_cq_mask.next = self.ones.val() >> (self.log2_span.val() - self.p_cq_log2.val());
        self.p_slot.next = self.p_head.val() & self.p_mask.val();
        self.p_used.next = self.p_tail.val() - self.p_head.val();
        // Free CQ entries: entries - written and unread - promised.
        self.p_cq_free.next = self.p_cq_mask.val() + self.idx_one.val()
            - (self.p_cq_tail.val() - self.p_cq_head.val())
            - self.p_pending.val();
        self.p_to_end.next = self.p_mask.val() + self.idx_one.val() - self.p_slot.val();
        // A CQ entry stays free for a receive: the fetcher and the receive engine may reserve
        // in the same cycle.
        self.f_pick_ok.next = self.f_any.val() && (self.p_cq_free.val() >= self.idx_two.val());
        self.f_pick_burst.next = (self.p_used.val() >= self.idx_four.val())
            && (self.p_to_end.val() >= self.idx_four.val())
            && (self.p_cq_free.val() >= self.idx_five.val());
        self.f_credit.next =
            self.words_cap.val() - self.desc_fifo.level.val() - self.f_inflight.q.val();
        self.f_arrive.next = 0.into();
        if self.fetch_rd_valid.val() {
            self.f_arrive.next = self.words_one.val();
        }
        self.f_issue.next = 0.into();
        self.f_add.next = 0.into();
        self.fetch_req_valid.next = false;
        self.fetch_req_da.next = self.f_da.q.val();
        self.fetch_req_vi.next = self.f_vi.q.val();
        self.fetch_req_len.next = self.len_desc.val();
        if self.f_count.q.val() == self.count_four.val() {
            self.fetch_req_len.next = self.len_burst.val();
        }
        self.meta_fifo.in_valid.next = false;
        self.meta_fifo.in_data.next = (bit_cast::<META_W, DVI_W>(self.f_vi.q.val()) << 12)
            | bit_cast::<META_W, IDX_W>(self.f_index.q.val());
        match self.f_state.q.val() {
            FetchState::Idle => {
                if self.f_any.val() {
                    self.f_rr.d.next = self.f_pick_vi.val() + self.vi_one.val();
                }
                if self.f_pick_ok.val() && (self.f_credit.val() >= self.words_32.val()) {
                    self.f_vi.d.next = self.f_pick_vi.val();
                    self.f_state.d.next = FetchState::Request;
                    self.f_da.d.next = (bit_cast::<DA_W, FRAME_W>(self.p_base.val()) << 12)
                        + (bit_cast::<DA_W, IDX_W>(self.p_slot.val()) << 5);
                    self.f_index.d.next = self.p_head.val();
                    if self.f_pick_burst.val() {
                        self.f_count.d.next = self.count_four.val();
                        self.f_issue.next = self.words_32.val();
                        self.f_add.next = self.idx_four.val();
                    } else {
                        self.f_count.d.next = self.count_one.val();
                        self.f_issue.next = self.words_eight.val();
                        self.f_add.next = self.idx_one.val();
                    }
                    self.f_new_head.next = self.p_head.val() + self.f_add.val();
                    for i in 0..4 {
                        if self.vi_ids[i].val() == self.f_pick_vi.val() {
                            self.f_take[i].next = self.f_add.val();
                            self.sq_head[i].d.next = self.f_new_head.val();
                        }
                    }
                }
            }
            FetchState::Request => {
                self.fetch_req_valid.next = true;
                if self.fetch_req_ready.val() {
                    self.f_state.d.next = FetchState::Meta;
                }
            }
            FetchState::Meta => {
                self.meta_fifo.in_valid.next = true;
                self.f_index.d.next = self.f_index.q.val() + self.idx_one.val();
                self.f_count.d.next = self.f_count.q.val() - self.count_one.val();
                if self.f_count.q.val() == self.count_one.val() {
                    self.f_state.d.next = FetchState::Idle;
                }
            }
            _ => {
                self.f_state.d.next = FetchState::Idle;
            }
        }
        self.f_inflight.d.next = self.f_inflight.q.val() + self.f_issue.val() - self.f_arrive.val();
        // Descriptor words: word 0's reserved bits carry the read's error flag.
        self.desc_fifo.in_valid.next = self.fetch_rd_valid.val();
        self.desc_fifo.in_data.next = self.fetch_rd_data.val();
        if !self.f_word.q.val().any() {
            self.desc_fifo.in_data.next =
                bit_cast::<32, 16>(self.fetch_rd_data.val().get_bits::<16>(0))
                    | (bit_cast::<32, 1>(self.fetch_rd_error.val().into()) << 31);
        }
        if self.fetch_rd_valid.val() {
            self.f_word.d.next = self.f_word.q.val() + self.count_one.val();
        }
        self.desc_valid.next = self.desc_fifo.out_valid.val() && self.meta_fifo.out_valid.val();
        self.desc_data.next = self.desc_fifo.out_data.val();
        self.desc_meta.next = self.meta_fifo.out_data.val();
        self.desc_fifo.out_ready.next = self.desc_ready.val() && self.meta_fifo.out_valid.val();
        self.meta_fifo.out_ready.next = self.desc_meta_pop.val();

        // ---- Completion writer ----
        // A completion is taken (and its fields latched) as soon as its CQ has room; the
        // entry is written from the latch.
        self.c_vi.next = self.l_vi.q.val();
        if self.c_state.q.val() == CqState::Idle {
            self.c_vi.next = self.cmp_vi.val();
        }
        self.c_base.next = 0.into();
        self.c_tail.next = 0.into();
        self.c_head.next = 0.into();
        self.c_log2.next = 0.into();
        for i in 0..4 {
            if self.c_vi.val() == self.vi_ids[i].val() {
                self.c_base.next = self.cq_base[i].q.val();
                self.c_tail.next = self.cq_tail[i].q.val();
                self.c_head.next = self.cq_head[i].q.val();
                self.c_log2.next = self.cq_log2[i].q.val();
            }
        }
        self.c_mask.next = self.ones.val() >> (self.log2_span.val() - self.c_log2.val());
        self.c_room.next = (self.c_tail.val() - self.c_head.val()) <= self.c_mask.val();
        self.c_slot.next = self.c_tail.val() & self.c_mask.val();
        self.c_lap.next = self.c_tail.val() >> self.c_log2.val();
        self.c_new_tail.next = self.c_tail.val() + self.idx_one.val();
        self.c_slot_da.next = (bit_cast::<DA_W, FRAME_W>(self.c_base.val()) << 12)
            + (bit_cast::<DA_W, IDX_W>(self.c_slot.val()) << 4);
        // The phase flips with every pass over the ring.
        self.c_phase.next = !self.c_lap.val().get_bit(0);
        self.cq_req_valid.next = false;
        self.cq_req_da.next = self.c_slot_da.val();
        self.cq_req_vi.next = self.l_vi.q.val();
        self.cq_wd_valid.next = false;
        self.cq_wd_last.next = self.c_word.q.val() == self.word_last.val();
        self.cq_wd_data.next = self.l_wr_id.q.val();
        if self.c_word.q.val() == self.w1.val() {
            self.cq_wd_data.next = self.l_bytes.q.val();
        }
        if self.c_word.q.val() == self.w2.val() {
            self.cq_wd_data.next = bit_cast::<32, IDX_W>(self.l_index.q.val())
                | (bit_cast::<32, 8>(self.l_peer.q.val()) << 16)
                | (bit_cast::<32, 8>(self.l_opcode.q.val()) << 24);
        }
        if self.c_word.q.val() == self.word_last.val() {
            self.cq_wd_data.next = bit_cast::<32, STATUS_W>(self.l_status.q.val())
                | (bit_cast::<32, 1>(self.l_recv.q.val().into()) << 8)
                | (bit_cast::<32, 1>(self.c_phase.val().into()) << 31);
        }
        self.c_done.next = false;
        self.cmp_ready.next = false;
        match self.c_state.q.val() {
            CqState::Idle => {
                if self.cmp_valid.val() && self.c_room.val() {
                    self.cmp_ready.next = true;
                    self.l_vi.d.next = self.cmp_vi.val();
                    self.l_recv.d.next = self.cmp_recv.val();
                    self.l_wr_id.d.next = self.cmp_wr_id.val();
                    self.l_bytes.d.next = self.cmp_bytes.val();
                    self.l_index.d.next = self.cmp_index.val();
                    self.l_peer.d.next = self.cmp_peer.val();
                    self.l_opcode.d.next = self.cmp_opcode.val();
                    self.l_status.d.next = self.cmp_status.val();
                    self.c_state.d.next = CqState::Request;
                }
            }
            CqState::Request => {
                self.cq_req_valid.next = true;
                if self.cq_req_ready.val() {
                    self.c_state.d.next = CqState::Data;
                    self.c_word.d.next = 0.into();
                }
            }
            CqState::Data => {
                self.cq_wd_valid.next = true;
                if self.cq_wd_ready.val() {
                    self.c_word.d.next = self.c_word.q.val() + self.word_one.val();
                    if self.c_word.q.val() == self.word_last.val() {
                        self.c_done.next = true;
                        self.c_state.d.next = CqState::Idle;
                    }
                }
            }
            _ => {
                self.c_state.d.next = CqState::Idle;
            }
        }
        for i in 0..4 {
            if self.c_done.val() && self.l_vi.q.val() == self.vi_ids[i].val() {
                self.c_take[i].next = self.idx_one.val();
                self.cq_tail[i].d.next = self.c_new_tail.val();
                if self.armed[i].q.val() {
                    self.armed[i].d.next = false;
                    self.event_pending[i].d.next = true;
                }
            }
        }

        // ---- Events: the lowest VI with one pending goes first ----
        self.event_valid.next = self.event_pending[0].q.val()
            || self.event_pending[1].q.val()
            || self.event_pending[2].q.val()
            || self.event_pending[3].q.val();
        self.event_vi.next = 3.into();
        if self.event_pending[0].q.val() {
            self.event_vi.next = 0.into();
        } else if self.event_pending[1].q.val() {
            self.event_vi.next = 1.into();
        } else if self.event_pending[2].q.val() {
            self.event_vi.next = 2.into();
        }
        for i in 0..4 {
            if self.event_ready.val()
                && self.event_pending[i].q.val()
                && bit_cast::<DVI_W, 8>(self.event_vi.val()) == self.vi_ids[i].val()
            {
                self.event_pending[i].d.next = false;
            }
        }

        // ---- Receive descriptors ----
        self.r_answer.d.next = false;
        self.rq_answer.next = self.r_answer.q.val();
        self.rq_granted.next = self.r_granted.q.val();
        self.rq_da.next = self.r_da.q.val();
        self.rq_index.next = self.r_index.q.val();
        self.q_base.next = 0.into();
        self.q_head.next = 0.into();
        self.q_tail.next = 0.into();
        self.q_log2.next = 0.into();
        self.g_cq_tail.next = 0.into();
        self.g_cq_head.next = 0.into();
        self.g_cq_log2.next = 0.into();
        self.q_pending.next = 0.into();
        self.q_drops.next = 0.into();
        for i in 0..4 {
            if self.rq_vi.val() == self.vi_ids[i].val() {
                self.q_base.next = self.rq_base[i].q.val();
                self.q_head.next = self.rq_head[i].q.val();
                self.q_tail.next = self.rq_tail[i].q.val();
                self.q_log2.next = self.rq_log2[i].q.val();
                self.g_cq_tail.next = self.cq_tail[i].q.val();
                self.g_cq_head.next = self.cq_head[i].q.val();
                self.g_cq_log2.next = self.cq_log2[i].q.val();
                self.q_pending.next = self.cq_pending[i].q.val();
                self.q_drops.next = self.rx_drops[i].q.val();
            }
        }
        self.q_mask.next = self.ones.val() >> (self.log2_span.val() - self.q_log2.val());
        self.g_cq_mask.next = self.ones.val() >> (self.log2_span.val() - self.g_cq_log2.val());
        self.q_slot.next = self.q_head.val() & self.q_mask.val();
        self.q_grant.next = self.open_vi_open.val()
            && (self.q_tail.val() != self.q_head.val())
            && ((self.g_cq_mask.val() + self.idx_one.val()
                - (self.g_cq_tail.val() - self.g_cq_head.val())
                - self.q_pending.val())
            .any());
        self.q_new_head.next = self.q_head.val() + self.idx_one.val();
        self.q_drops_next.next = self.q_drops.val() + self.cnt_one.val();
        for i in 0..4 {
            if self.r_serve.val() && self.rq_vi.val() == self.vi_ids[i].val() {
                self.r_answer.d.next = true;
                self.r_index.d.next = self.q_head.val();
                if self.q_grant.val() {
                    self.r_granted.d.next = true;
                    self.r_take[i].next = self.idx_one.val();
                    self.rq_head[i].d.next = self.q_new_head.val();
                } else {
                    self.r_granted.d.next = false;
                    self.rx_drops[i].d.next = self.q_drops_next.val();
                }
            }
        }
        // After the loop: the Verilog evaluates in program order.
        self.r_da.d.next = (bit_cast::<DA_W, FRAME_W>(self.q_base.val()) << 12)
            + (bit_cast::<DA_W, IDX_W>(self.q_slot.val()) << 5);

        // ---- Promised completions: fetched or granted, minus written ----
        for i in 0..4 {
            self.cq_pending[i].d.next =
                self.cq_pending[i].q.val() + self.f_take[i].val() + self.r_take[i].val()
                    - self.c_take[i].val();
        }

        if self.reset.val() {
            self.f_state.d.next = FetchState::Idle;
            self.f_inflight.d.next = 0.into();
            self.f_word.d.next = 0.into();
            self.c_state.d.next = CqState::Idle;
            self.rsp_valid.d.next = false;
            self.m_write.d.next = false;
            self.m_read.d.next = false;
            self.r_answer.d.next = false;
            self.loopback_on.d.next = false;
            for i in 0..4 {
                self.sq_log2[i].d.next = 0.into();
                self.rq_log2[i].d.next = 0.into();
                self.cq_log2[i].d.next = 0.into();
                self.sq_tail[i].d.next = 0.into();
                self.sq_head[i].d.next = 0.into();
                self.rq_tail[i].d.next = 0.into();
                self.rq_head[i].d.next = 0.into();
                self.cq_head[i].d.next = 0.into();
                self.cq_tail[i].d.next = 0.into();
                self.cq_pending[i].d.next = 0.into();
                self.armed[i].d.next = false;
                self.event_pending[i].d.next = false;
            }
        }
    }
}

crate::clocked!(QueueManager);
