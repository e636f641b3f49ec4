//! `QueueManager`: the per-VI queue state and everything that touches it — the queue
//! registers and doorbell pages, the descriptor fetcher, the completion writer and the event
//! output.
//!
//! * **One operation at a time**: every user of the per-VI state — a register access, the
//!   fetcher's pick, the completion writer's accept and finish, a receive query, a refused
//!   receive's count — asks for an operation on one VI. One operation is under way at a time
//!   (register accesses, the finishing completion and the receive counter first; completion
//!   accepts and fetches take turns), so the state of its VI is selected once and its ring
//!   arithmetic exists once. An operation takes four cycles: the block RAM of per-VI words
//!   is read three times (the VI's CQ word, the head and tail of its send or receive ring,
//!   then a ring base or a drop counter), and in the fourth (execute) cycle the words and the
//!   VI's state in flip-flops are at hand and the operation is applied (one block-RAM write;
//!   which word is written is decided by flat expressions of registers). Which operation
//!   comes next is decided every cycle into registers and issued from them a cycle later,
//!   so none is issued in the cycle after an execute: five cycles per operation.
//! * **Registers** (`abi::regs`): the device's global registers from `DEVICE_CTRL` on, one
//!   queue block per VI (`QUEUE_BASE`), one doorbell page per VI (`DOORBELL_BASE`). A
//!   register access is taken into a latch and executed as an operation; what a read returns
//!   is decoded as it is taken, and a ring index or a CQ index is read from its word in the
//!   block RAM. The frame counters (`TX_FRAMES` …) wrap at 16 bits, like the drop counters.
//!   A doorbell write is
//!   ignored and counted in `DOORBELL_DROPS` when the translation core reports the VI disabled
//!   or locked, or when the value is impossible (a tail more than the ring size ahead of the
//!   head, a CQ head past the tail).
//! * **Fetcher**: round-robin over the VIs whose send queue has work; the VI picked gets a
//!   fetch operation, which reads, when its completion queue has room for what is fetched
//!   (plus one entry kept for a receive), a burst of 4 descriptors (or 1 at the ring's end or
//!   near the tail) into the descriptor FIFO, as long as the FIFO has room for every word in
//!   flight; several reads are in flight at once, never past the tail. Each descriptor's VI
//!   and queue index go into a second FIFO beside it. A disabled VI is passed over (a locked
//!   one is not: its descriptors fail with `vi_locked`).
//! * **Completion writer**: takes one completion at a time (latched, with the address of its
//!   entry and its phase bit, so its producer moves on), waits while the VI's CQ is full
//!   (back-pressure, never an overwrite), writes the 16-byte entry, then advances the tail
//!   and raises the VI's event when it is armed (the arm is consumed).
//! * **Receive slots**: the receive engine asks for VI `v`'s next receive descriptor; the
//!   answer grants it (and reserves a CQ entry) or refuses it (VI closed, RQ empty, CQ full),
//!   counting a refusal in `RX_DROPS`.
//!
//! Ring bases, the two drop counters, the send and receive rings' head and tail and the
//! completion queue's head, tail and size of every VI live in one block RAM (address: field,
//! VI; the ring words are zeroed by a sweep after reset); the promised CQ entries, the send
//! and receive ring sizes, the event state and a "send queue not empty" flag per VI (for the
//! fetcher's round robin) in flip-flops. A receive query's answer (one cycle after its
//! execute cycle) carries the address and index of the executed query. The descriptor
//! fetcher's read, the completion writer's write and a receive query's answer share one
//! address register (`dma_da`, `rq_da`): a fetch, a completion accept or a receive query is
//! issued only while no fetch or completion write waits for the DMA arbiter with its address
//! there. A drop is counted in the cycle after the execute cycle (which issues nothing): the
//! counter read, plus one, is registered first.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `mmio_*` | | in/out | register accesses (`valid/ready`, `write`, 20-bit `addr`, `wdata`; reads answer on `mmio_rsp_*`) |
//! | `open_vi`, `open_vi_open` | 3, 1 | out, in | query of the translation core: is the VI enabled and not locked |
//! | `open_vi_enabled` | 1 | in | is the VI enabled (locked or not) |
//! | `fetch_req_*` | | out | descriptor reads: `valid/ready`, `len` bytes, `vi`; the address on `dma_da` |
//! | `fetch_rd_*` | | in | their data: `valid`, `data`, `error` (never back-pressured) |
//! | `desc_*` | | out | descriptor words (`valid/ready/data`; word 0 carries the read-error flag and the VI in reserved bits); `desc_meta` = VI and index of the oldest descriptor not popped with `desc_meta_pop` (its consumer's completion), so it runs behind the words |
//! | `cmp_*` | | in | a completion to write (`valid/ready`; taken, and latched, as soon as its CQ has room; `cmp_ready` is a register, a cycle after the decision) |
//! | `cmp_hold` | 1 | out | a completion accept decides this cycle: the producer's pick must stay |
//! | `cq_req_*`, `cq_wd_*` | | out | CQ entry writes: request (`valid/ready`, `vi`; the address on `dma_da`), then 4 data words |
//! | `dma_da` | 40 | out | the address of the descriptor read or the CQ write requested (never both at once) |
//! | `rq_query`, `rq_vi` | 1, 2 | in | the receive engine asks for a receive descriptor (held until answered) |
//! | `rq_answer`, `rq_granted`, `rq_da`, `rq_index` | | out | the answer (one cycle) |
//! | `event_*` | | out | `valid/ready`, `vi`: a completion reached an armed CQ |
//! | `tx_frame`, `rx_frame`, `rx_bad` | 1 | in | counter strobes |
//! | `loopback` | 1 | out | `DEVICE_CTRL.loopback` |

use abi::queues::{CQE_BYTES, DESC_BYTES, MAX_RING_LOG2};
use abi::regs;
use rust_hdl::prelude::*;

use crate::bram::BlockRam;
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
/// Lowest of the bits of descriptor word 0 (reserved, replaced on the way in) that carry the
/// VI whose send queue the descriptor was read from (from the read's tag).
pub const DESC_VI_SHIFT: usize = 29;
// (Shifted by these literals where word 0 is written.)
const _: () = assert!(DESC_VI_SHIFT == 29 && DESC_ERROR_BIT == 31 && DVI_W == 2);
const _: () = assert!(IDX_W == 12);

const _: () = assert!(DVIS == 1 << DVI_W);
const _: () = assert!(DESC_BYTES == 32 && CQE_BYTES == 16 && MAX_RING_LOG2 == 11);
const _: () = assert!(regs::QUEUE_BASE == 0x4000 && regs::QUEUE_STRIDE == 0x40);
const _: () = assert!(regs::DOORBELL_BASE == 0x10000 && regs::DOORBELL_STRIDE == 0x1000);
const _: () = assert!(regs::MMIO_ADDR_BITS == 20);

/// Bits of a completion's byte count kept: it is at most `MAX_MESSAGE_LEN`.
const CMP_BYTES_W: usize = 17;
const _: () = assert!(abi::queues::MAX_MESSAGE_LEN == 1 << (CMP_BYTES_W - 1));

/// Width of a field number in the block RAM of bases and counters.
const FIELD_W: usize = 3;
/// Address width of that block RAM: field (4:2), VI (1:0).
const VRAM_W: usize = FIELD_W + DVI_W;
/// Fields of the block RAM: the three ring bases, the two drop counters, and the send and
/// receive rings' tail (23:12) and head (11:0).
const F_SQ_BASE: u64 = 0;
const F_RQ_BASE: u64 = 1;
const F_CQ_BASE: u64 = 2;
const F_DB_DROPS: u64 = 3;
const F_RX_DROPS: u64 = 4;
const F_SQ_RING: u64 = 5;
const F_RQ_RING: u64 = 6;
/// The completion queue's word: log2 of its size (27:24), tail (23:12) and head (11:0).
const F_CQ_RING: u64 = 7;
/// Ring words zeroed by the sweep after reset (send, receive and completion ring of every VI,
/// the last words of the block RAM).
const RING_WORDS: u64 = 3 * DVIS as u64;
/// Bits of a CQ word in use.
const CQW_W: usize = 28;
/// Width of an entry's byte offset from its ring's base (a ring of 2^11 32-byte descriptors).
const E_OFF_W: usize = IDX_W + 5;
/// Pages an entry's offset spans.
const E_PAGE_W: usize = E_OFF_W - 12;
/// Width of a descriptor's or CQ entry's address without its low bits (both 16-byte
/// aligned).
const QDA_W: usize = DA_W - 4;
/// Width of the frame and drop counters (wrapping).
const CNT_W: usize = regs::COUNTER_BITS as usize;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum Op {
    Mmio,
    Fetch,
    CmpAccept,
    CmpFinish,
    RxQuery,
    RxDrop,
}

/// What a register read returns, decoded when the access is taken.
#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum Rd {
    Zero,
    Vram,
    Tx,
    Rx,
    Bad,
    Caps,
    Ctrl,
    Sizes,
    // A ring index: bits 11:0 or 23:12 of the word read.
    Lo,
    Hi,
    Armed,
}

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
    Finish,
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
    /// It is enabled, locked or not.
    pub open_vi_enabled: Signal<In, Bit>,
    /// Descriptor read request.
    pub fetch_req_valid: Signal<Out, Bit>,
    /// Descriptor read taken.
    pub fetch_req_ready: Signal<In, Bit>,
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
    /// VI of the read (from its tag).
    pub fetch_rd_vi: Signal<In, Bits<DVI_W>>,
    /// Descriptor word available.
    pub desc_valid: Signal<Out, Bit>,
    /// Descriptor word taken.
    pub desc_ready: Signal<In, Bit>,
    /// The word.
    pub desc_data: Signal<Out, Bits<32>>,
    /// VI (bits 13:12) and queue index (11:0) of the oldest descriptor whose metadata is not
    /// popped.
    pub desc_meta: Signal<Out, Bits<META_W>>,
    /// Pops the metadata (the consumer is done with that descriptor: its completion).
    pub desc_meta_pop: Signal<In, Bit>,
    /// Completion offered.
    pub cmp_valid: Signal<In, Bit>,
    /// Completion taken: a register, high in the cycle after the accept decided to take it
    /// (the producer holds it meanwhile).
    pub cmp_ready: Signal<Out, Bit>,
    /// A completion accept is deciding this cycle: whoever picks the producer keeps the pick
    /// (from registers only).
    pub cmp_hold: Signal<Out, Bit>,
    /// VI of the completion.
    pub cmp_vi: Signal<In, Bits<DVI_W>>,
    /// It reports a receive descriptor.
    pub cmp_recv: Signal<In, Bit>,
    /// The descriptor's `wr_id`.
    pub cmp_wr_id: Signal<In, Bits<32>>,
    /// Bytes moved (at most `MAX_MESSAGE_LEN`).
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
    /// Device address of the first descriptor read or of the CQ entry written, whichever of
    /// `fetch_req_valid` and `cq_req_valid` is high (never both).
    pub dma_da: Signal<Out, Bits<DA_W>>,
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
    // At most 32 descriptors have words in the descriptor FIFO or in flight (256 words; only
    // the oldest can be partly taken), and the send engine holds at most 3 taken ones until
    // their completions pop them, so at most 35 metadata entries are ever queued.
    meta_fifo: Fifo<Bits<META_W>, 6, 7>,
    // Ring bases, drop counters, send and receive ring indices, by field and VI.
    vram: BlockRam<Bits<32>, VRAM_W>,

    sq_log2: [DFF<Bits<4>>; DVIS],
    rq_log2: [DFF<Bits<4>>; DVIS],
    sq_work: [DFF<Bit>; DVIS],
    cq_pending: [DFF<Bits<IDX_W>>; DVIS],
    armed: [DFF<Bit>; DVIS],
    event_pending: [DFF<Bit>; DVIS],
    vi_ids: [Constant<Bits<DVI_W>>; DVIS],
    loopback_on: DFF<Bit>,
    // The frame counters wrap at 16 bits, like the drop counters.
    tx_frames: DFF<Bits<CNT_W>>,
    rx_frames: DFF<Bits<CNT_W>>,
    rx_bad_frames: DFF<Bits<CNT_W>>,
    // The counter strobes, registered (the counters count one cycle late).
    tx_frame_r: DFF<Bit>,
    rx_frame_r: DFF<Bit>,
    rx_bad_r: DFF<Bit>,

    // Register accesses: taken into the latch, executed as an operation.
    m_pend: DFF<Bit>,
    m_write: DFF<Bit>,
    m_wdata: DFF<Bits<32>>,
    rsp_valid: DFF<Bit>,
    rsp_data: DFF<Bits<32>>,
    m_take: Signal<Local, Bit>,
    // The access decoded when it is taken (from the port), kept in the latch.
    m_vi: DFF<Bits<DVI_W>>,
    m_rd: DFF<Rd>,
    m_field: DFF<Bits<FIELD_W>>,
    m_base_write: DFF<Bit>,
    m_rq: DFF<Bit>,
    // Writes decoded at the take: RING_SIZES, and the four doorbell registers.
    m_w_sizes: DFF<Bit>,
    m_w_sq_tail: DFF<Bit>,
    m_w_rq_tail: DFF<Bit>,
    m_w_cq_head: DFF<Bit>,
    m_w_cq_arm: DFF<Bit>,
    t_vi: Signal<Local, Bits<DVI_W>>,
    t_reg: Signal<Local, Bits<6>>,
    t_is_db: Signal<Local, Bit>,
    t_is_queue: Signal<Local, Bit>,
    t_is_global: Signal<Local, Bit>,
    t_rd: Signal<Local, Rd>,
    t_rd_field: Signal<Local, Bits<FIELD_W>>,
    t_field: Signal<Local, Bits<FIELD_W>>,
    t_base_write: Signal<Local, Bit>,
    db_value: Signal<Local, Bits<IDX_W>>,
    read_value: Signal<Local, Bits<32>>,

    // Operations: issued (block RAM addressed), then executed.
    o_busy: DFF<Bit>,
    o_mid: DFF<Bit>,
    o_exec: DFF<Bit>,
    // The VI's ring masks, CQ fill and doorbell CQ distance, registered in the second cycle.
    q_x_mask: DFF<Bits<IDX_W>>,
    q_k_mask: DFF<Bits<IDX_W>>,
    q_k_used: DFF<Bits<IDX_W>>,
    q_db_cq: DFF<Bits<IDX_W>>,
    o_op: DFF<Op>,
    // The operation is a fetch, a completion's finish (decoded at the issue).
    o_fetch: DFF<Bit>,
    o_finish: DFF<Bit>,
    o_vi: DFF<Bits<DVI_W>>,
    o_field: DFF<Bits<FIELD_W>>,
    o_rq: DFF<Bit>,
    o_ring: DFF<Bits<VRAM_W>>,
    o_addr: DFF<Bits<VRAM_W>>,
    o_fetch_next: DFF<Bit>,
    o_ring_word: DFF<Bits<32>>,
    z_left: DFF<Bits<4>>,
    z_next: Signal<Local, Bits<4>>,
    i_valid: Signal<Local, Bit>,
    i_vi: Signal<Local, Bits<DVI_W>>,
    i_field: Signal<Local, Bits<FIELD_W>>,
    i_rq: Signal<Local, Bit>,
    i_ring: Signal<Local, Bits<VRAM_W>>,
    // A CQ word written in the execute cycle.
    k_write: Signal<Local, Bit>,
    x_db_ok: Signal<Local, Bit>,
    k_db_ok: Signal<Local, Bit>,
    k_word: Signal<Local, Bits<32>>,
    // RING_SIZES' CQ size, limited.
    sz_cq: Signal<Local, Bits<4>>,
    v_ring_write: Signal<Local, Bit>,
    v_ring_data: Signal<Local, Bits<32>>,
    i_cmp: Signal<Local, Bit>,
    // The operation to issue next, decided a cycle before (see the issue).
    n_valid: DFF<Bit>,
    n_op: DFF<Op>,
    n_vi: DFF<Bits<DVI_W>>,
    n_field: DFF<Bits<FIELD_W>>,
    n_rq: DFF<Bit>,
    // The cycle after an execute: nothing is issued.
    o_rest: DFF<Bit>,
    // The fetcher's pick, a cycle old: a fetch issued on a stale one finds nothing to do at
    // its execute cycle, which reads the ring word.
    i_pick_vi_r: DFF<Bits<DVI_W>>,
    i_any_r: DFF<Bit>,
    i_fetch: Signal<Local, Bit>,
    // The executing operation's VI.
    s_sq_log2: Signal<Local, Bits<4>>,
    s_rq_log2: Signal<Local, Bits<4>>,
    s_cq_log2: Signal<Local, Bits<4>>,
    s_cq_tail: Signal<Local, Bits<IDX_W>>,
    s_cq_head: Signal<Local, Bits<IDX_W>>,
    s_pending: Signal<Local, Bits<IDX_W>>,
    s_armed: Signal<Local, Bit>,
    // Its send or receive ring (the receive ring for receive queries and RQ doorbells).
    x_rq: Signal<Local, Bit>,
    x_head: Signal<Local, Bits<IDX_W>>,
    x_tail: Signal<Local, Bits<IDX_W>>,
    x_log2: Signal<Local, Bits<4>>,
    x_mask: Signal<Local, Bits<IDX_W>>,
    x_used: Signal<Local, Bits<IDX_W>>,
    x_slot: Signal<Local, Bits<IDX_W>>,
    x_to_end4: Signal<Local, Bit>,
    x_add: Signal<Local, Bits<IDX_W>>,
    // A fetch would read a burst (third cycle).
    t_burst: Signal<Local, Bit>,
    // A fetch reads a burst (registered in the third cycle).
    p_burst: DFF<Bit>,
    // What the promised CQ entries move by.
    k_delta: Signal<Local, Bits<IDX_W>>,
    // The CQ's free entries minus one are -1 (no entry free).
    k_none: Signal<Local, Bit>,
    // The CQ's mask minus the promised entries (second cycle).
    q_k_mp: DFF<Bits<IDX_W>>,
    x_new_head: Signal<Local, Bits<IDX_W>>,
    // Its completion queue.
    k_mask: Signal<Local, Bits<IDX_W>>,
    k_used: Signal<Local, Bits<IDX_W>>,
    k_free: Signal<Local, Bits<IDX_W>>,
    w_head: Signal<Local, Bits<IDX_W>>,
    w_tail: Signal<Local, Bits<IDX_W>>,
    // What the execute cycle needs, registered in the cycle before.
    p_used_any: DFF<Bit>,
    p_used_is1: DFF<Bit>,
    p_used_is4: DFF<Bit>,
    p_kfree_any: DFF<Bit>,
    p_kfree2: DFF<Bit>,
    p_kroom: DFF<Bit>,
    p_db_x_ok: DFF<Bit>,
    p_open: DFF<Bit>,
    p_enabled: DFF<Bit>,
    p_db_cq_ok: DFF<Bit>,
    p_pend: DFF<Bits<IDX_W>>,
    // The VI's CQ word, read first.
    o_cq_word: DFF<Bits<CQW_W>>,
    p_cq_slot: DFF<Bits<IDX_W>>,
    p_x_slot: DFF<Bits<IDX_W>>,
    p_phase: DFF<Bit>,
    k_lap: Signal<Local, Bits<IDX_W>>,
    k_new_tail: Signal<Local, Bits<IDX_W>>,
    pend_next: Signal<Local, Bits<IDX_W>>,
    // The address of a descriptor or CQ entry: ring base from the block RAM, plus the slot.
    e_offset: Signal<Local, Bits<E_OFF_W>>,
    e_frame: Signal<Local, Bits<FRAME_W>>,
    e_da: Signal<Local, Bits<DA_W>>,
    // A drop counted: the counter read in the execute cycle plus one, written in the cycle
    // after (which issues nothing), so no path runs from the block RAM's read through the
    // increment into its write.
    drops_next: DFF<Bits<CNT_W>>,
    o_count: DFF<Bit>,
    db_cq_ok: Signal<Local, Bit>,

    // Fetcher.
    f_state: DFF<FetchState>,
    f_rr: DFF<Bits<DVI_W>>,
    f_vi: DFF<Bits<DVI_W>>,
    f_count: DFF<Bits<3>>,
    f_index: DFF<Bits<IDX_W>>,
    // Words in the descriptor FIFO or requested and not yet arrived.
    f_used: DFF<Bits<9>>,
    // Room for a burst, registered (so a cycle late: one more burst may be on its way).
    f_room: DFF<Bit>,
    f_word: DFF<Bits<3>>,
    f_any: Signal<Local, Bit>,
    f_rot: [Signal<Local, Bit>; DVIS],
    f_offset: Signal<Local, Bits<DVI_W>>,
    vi_offs: [Constant<Bits<DVI_W>>; DVIS],
    f_pick_vi: Signal<Local, Bits<DVI_W>>,
    f_ok: Signal<Local, Bit>,
    f_burst: Signal<Local, Bit>,
    f_pop: Signal<Local, Bits<9>>,
    f_issue: Signal<Local, Bits<9>>,

    // Completion writer.
    c_state: DFF<CqState>,
    c_word: DFF<Bits<2>>,
    // The address of the fetch or CQ write being requested, or of a receive query's answer:
    // each is issued only while no fetch or CQ write request waits.
    q_da: DFF<Bits<QDA_W>>,
    c_phase: DFF<Bit>,
    c_accept: Signal<Local, Bit>,
    // The accept's `cmp_ready`, a cycle after its decision.
    c_ready: DFF<Bit>,
    l_vi: DFF<Bits<DVI_W>>,
    l_recv: DFF<Bit>,
    l_wr_id: DFF<Bits<32>>,
    l_bytes: DFF<Bits<CMP_BYTES_W>>,
    l_index: DFF<Bits<IDX_W>>,
    l_peer: DFF<Bits<8>>,
    l_opcode: DFF<Bits<8>>,
    l_status: DFF<Bits<STATUS_W>>,

    // Receive grants.
    r_answer: DFF<Bit>,
    r_granted: DFF<Bit>,
    r_drop: DFF<Bit>,
    r_drop_vi: DFF<Bits<DVI_W>>,

    ones: Constant<Bits<IDX_W>>,
    not_low2: Constant<Bits<IDX_W>>,
    idx_one: Constant<Bits<IDX_W>>,
    idx_four: Constant<Bits<IDX_W>>,
    log2_max: Constant<Bits<4>>,
    vi_one: Constant<Bits<DVI_W>>,
    cnt_one: Constant<Bits<CNT_W>>,
    count_one: Constant<Bits<3>>,
    count_four: Constant<Bits<3>>,
    words_one: Constant<Bits<9>>,
    words_eight: Constant<Bits<9>>,
    words_32: Constant<Bits<9>>,
    words_fetch_max: Constant<Bits<9>>,
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
    f_sq_base: Constant<Bits<FIELD_W>>,
    f_rq_base: Constant<Bits<FIELD_W>>,
    f_cq_base: Constant<Bits<FIELD_W>>,
    f_db_drops: Constant<Bits<FIELD_W>>,
    f_rx_drops: Constant<Bits<FIELD_W>>,
    f_sq_ring: Constant<Bits<FIELD_W>>,
    f_rq_ring: Constant<Bits<FIELD_W>>,
    f_cq_ring: Constant<Bits<FIELD_W>>,
    z_first: Constant<Bits<VRAM_W>>,
    z_words: Constant<Bits<4>>,
    // A CQ word's size and head, its size and tail.
    cq_keep: Constant<Bits<CQW_W>>,
    cq_keep_tail: Constant<Bits<CQW_W>>,
    z_one: Constant<Bits<4>>,
    caps_value: Constant<Bits<32>>,
}

impl Default for QueueManager {
    fn default() -> Self {
        let ids = [konst(0), konst(1), konst(2), konst(3)];
        with_defaults!(QueueManager {
            vi_ids: ids,
            vi_offs: ids,
            ones: konst(abi::mask(abi::queues::RING_INDEX_BITS)),
            not_low2: konst(abi::mask(abi::queues::RING_INDEX_BITS) & !3),
            idx_one: konst(1),
            idx_four: konst(4),
            log2_max: konst(u64::from(MAX_RING_LOG2)),
            vi_one: konst(1),
            cnt_one: konst(1),
            count_one: konst(1),
            count_four: konst(4),
            words_one: konst(1),
            words_eight: konst(8),
            words_32: konst(32),
            // A burst (32 words) is issued only when the FIFO has room for it and for the
            // burst of a fetch executed in the cycle the room was measured.
            words_fetch_max: konst(256 - 2 * 32),
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
            f_sq_base: konst(F_SQ_BASE),
            f_rq_base: konst(F_RQ_BASE),
            f_cq_base: konst(F_CQ_BASE),
            f_db_drops: konst(F_DB_DROPS),
            f_rx_drops: konst(F_RX_DROPS),
            f_sq_ring: konst(F_SQ_RING),
            f_rq_ring: konst(F_RQ_RING),
            f_cq_ring: konst(F_CQ_RING),
            z_first: konst(F_SQ_RING << DVI_W),
            z_words: konst(RING_WORDS),
            cq_keep: konst(0xf00_0fff),
            cq_keep_tail: konst(0xfff_f000),
            z_one: konst(1),
            caps_value: konst(u64::from(
                regs::CAPS_VIS.put(DVIS as u32) | regs::CAPS_MAX_RING_LOG2.put(MAX_RING_LOG2),
            )),
        } defaults {
            clock, reset, mmio_valid, mmio_ready, mmio_write, mmio_addr, mmio_wdata,
            mmio_rsp_valid, mmio_rsp_ready, mmio_rsp_data, open_vi, open_vi_open,
            open_vi_enabled, fetch_req_valid, fetch_req_ready, fetch_req_len, fetch_req_vi,
            fetch_rd_valid, fetch_rd_data, fetch_rd_error, fetch_rd_vi, desc_valid, desc_ready, desc_data,
            desc_meta, desc_meta_pop, cmp_valid, cmp_ready, cmp_vi, cmp_recv, cmp_wr_id,
            cmp_bytes, cmp_index, cmp_peer, cmp_opcode, cmp_status, cq_req_valid, cq_req_ready,
            dma_da, cq_req_vi, cq_wd_valid, cq_wd_ready, cq_wd_data, cq_wd_last, rq_query,
            rq_vi, rq_answer, rq_granted, rq_da, rq_index, event_valid, event_ready, event_vi,
            tx_frame, rx_frame, rx_bad, loopback, desc_fifo, meta_fifo, vram, sq_log2,
            rq_log2, sq_work, cq_pending,
            armed, event_pending, loopback_on, tx_frames, rx_frames, rx_bad_frames, tx_frame_r, rx_frame_r, rx_bad_r, m_pend,
            m_write, m_wdata, rsp_valid, rsp_data, m_take, m_vi, m_rd, m_field, m_base_write, m_rq, m_w_sizes, m_w_sq_tail,
            m_w_rq_tail, m_w_cq_head, m_w_cq_arm, t_vi, t_reg, t_is_db, t_is_queue, t_is_global, t_rd, t_rd_field,
            t_field, t_base_write, db_value, read_value, o_busy, o_mid, o_exec, q_x_mask,
            q_k_mask, q_k_used, q_db_cq,
            o_op, o_fetch, o_finish, o_vi, o_field, o_rq, o_ring, o_addr, o_fetch_next, o_ring_word, z_left,
            z_next, i_valid, i_vi, i_field, i_rq, i_ring, k_write, x_db_ok, k_db_ok, k_word, sz_cq, v_ring_write, v_ring_data, i_cmp, n_valid, n_op, n_vi, n_field, n_rq, o_rest, i_pick_vi_r, i_any_r, i_fetch,
            s_sq_log2, s_rq_log2, s_cq_log2, s_cq_tail, s_cq_head, s_pending, s_armed, x_rq, x_head, x_tail, x_log2, x_mask,
            x_used, x_slot, x_to_end4, x_add, t_burst, p_burst, k_delta, k_none, q_k_mp, x_new_head, k_mask, k_used, k_free, w_head, w_tail, p_used_any,
            p_used_is1, p_used_is4, p_kfree_any, p_kfree2, p_kroom, p_db_x_ok, p_open,
            p_enabled, p_db_cq_ok, p_pend, o_cq_word, p_cq_slot, p_x_slot, p_phase, k_lap,
            k_new_tail, pend_next, e_offset, e_frame, e_da, drops_next, o_count, db_cq_ok,
            f_state, f_rr, f_vi, f_count, f_index, f_used, f_room, f_word, f_any, f_rot,
            f_offset, f_pick_vi, f_ok, f_burst, f_pop, f_issue, c_state, c_word,
            q_da, c_phase, c_accept, c_ready, cmp_hold, l_vi, l_recv, l_wr_id, l_bytes, l_index, l_peer, l_opcode, l_status,
            r_answer, r_granted, r_drop, r_drop_vi
        })
    }
}

impl Logic for QueueManager {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            drops_next,
            o_count,
            loopback_on,
            tx_frames,
            rx_frames,
            rx_bad_frames,
            tx_frame_r,
            rx_frame_r,
            rx_bad_r,
            m_pend,
            m_write,
            m_wdata,
            m_vi,
            m_rd,
            m_field,
            m_base_write,
            m_rq,
            m_w_sizes,
            m_w_sq_tail,
            m_w_rq_tail,
            m_w_cq_head,
            m_w_cq_arm,
            rsp_valid,
            rsp_data,
            o_busy,
            o_mid,
            o_exec,
            q_x_mask,
            q_k_mask,
            q_k_used,
            q_db_cq,
            o_op,
            o_fetch,
            o_finish,
            o_vi,
            o_field,
            o_rq,
            o_ring,
            o_addr,
            n_valid,
            n_op,
            n_vi,
            n_field,
            n_rq,
            o_rest,
            i_pick_vi_r,
            i_any_r,
            o_fetch_next,
            o_ring_word,
            z_left,
            p_used_any,
            p_used_is1,
            p_used_is4,
            p_kfree_any,
            p_kfree2,
            p_kroom,
            p_db_x_ok,
            p_open,
            p_enabled,
            p_burst,
            q_k_mp,
            p_db_cq_ok,
            p_pend,
            o_cq_word,
            p_cq_slot,
            p_x_slot,
            p_phase,
            f_state,
            f_rr,
            f_vi,
            f_count,
            f_index,
            f_used,
            f_room,
            f_word,
            c_state,
            c_word,
            q_da,
            c_phase,
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
            r_drop,
            r_drop_vi,
            c_ready
        );
        clock!(self, clock, desc_fifo, meta_fifo, vram);
        self.desc_fifo.reset.next = self.reset.val();
        self.meta_fifo.reset.next = self.reset.val();
        for i in 0..4 {
            self.sq_log2[i].clock.next = self.clock.val();
            self.sq_log2[i].d.next = self.sq_log2[i].q.val();
            self.rq_log2[i].clock.next = self.clock.val();
            self.rq_log2[i].d.next = self.rq_log2[i].q.val();
            self.sq_work[i].clock.next = self.clock.val();
            self.sq_work[i].d.next = self.sq_work[i].q.val();
            self.cq_pending[i].clock.next = self.clock.val();
            self.cq_pending[i].d.next = self.cq_pending[i].q.val();
            self.armed[i].clock.next = self.clock.val();
            self.armed[i].d.next = self.armed[i].q.val();
            self.event_pending[i].clock.next = self.clock.val();
            self.event_pending[i].d.next = self.event_pending[i].q.val();
        }
        self.loopback.next = self.loopback_on.q.val();

        // ---- Register accesses: one taken into the latch at a time ----
        self.mmio_ready.next = !self.m_pend.q.val() && !self.rsp_valid.q.val();
        self.m_take.next = self.mmio_valid.val() && !self.m_pend.q.val() && !self.rsp_valid.q.val();
        if self.m_take.val() {
            self.m_pend.d.next = true;
            self.m_write.d.next = self.mmio_write.val();
            self.m_wdata.d.next = self.mmio_wdata.val();
        }
        // Decoded as the access is taken (from the port), so nothing downstream of the latch
        // decodes an address.
        self.t_is_db.next = self.mmio_addr.val().get_bits::<4>(16) == self.page_db.val()
            && self.mmio_addr.val().get_bits::<2>(14) == self.top_zero.val();
        self.t_is_queue.next = self.mmio_addr.val().get_bits::<4>(16) == self.page_global.val()
            && self.mmio_addr.val().get_bits::<4>(12) == self.page_queue.val()
            && self.mmio_addr.val().get_bits::<4>(8) == self.page_global.val();
        // Doorbell pages: VI in bits 13:12; queue blocks: VI in bits 7:6.
        self.t_vi.next = self.mmio_addr.val().get_bits::<DVI_W>(6);
        self.t_reg.next = self.mmio_addr.val().get_bits::<6>(0);
        if self.t_is_db.val() {
            self.t_vi.next = self.mmio_addr.val().get_bits::<DVI_W>(12);
        }
        // The block-RAM field of the access: a base, a counter; doorbells count their drops.
        self.t_field.next = self.f_db_drops.val();
        self.t_base_write.next = false;
        if self.t_is_queue.val() {
            if self.t_reg.val() == self.q_sq_base.val() {
                self.t_field.next = self.f_sq_base.val();
                self.t_base_write.next = self.mmio_write.val();
            }
            if self.t_reg.val() == self.q_rq_base.val() {
                self.t_field.next = self.f_rq_base.val();
                self.t_base_write.next = self.mmio_write.val();
            }
            if self.t_reg.val() == self.q_cq_base.val() {
                self.t_field.next = self.f_cq_base.val();
                self.t_base_write.next = self.mmio_write.val();
            }
            if self.t_reg.val() == self.q_rx_drops.val() {
                self.t_field.next = self.f_rx_drops.val();
            }
        }
        // What a read returns. A ring index is read from its word in the block RAM (a read
        // writes nothing, so its field is free).
        self.t_rd_field.next = self.t_field.val();
        self.t_is_global.next = !self.mmio_addr.val().get_bits::<8>(12).any();
        self.t_rd.next = Rd::Zero;
        if self.t_is_global.val() {
            if self.mmio_addr.val().get_bits::<12>(0) == self.g_ctrl.val() {
                self.t_rd.next = Rd::Ctrl;
            }
            if self.mmio_addr.val().get_bits::<12>(0) == self.g_caps.val() {
                self.t_rd.next = Rd::Caps;
            }
            if self.mmio_addr.val().get_bits::<12>(0) == self.g_tx.val() {
                self.t_rd.next = Rd::Tx;
            }
            if self.mmio_addr.val().get_bits::<12>(0) == self.g_rx.val() {
                self.t_rd.next = Rd::Rx;
            }
            if self.mmio_addr.val().get_bits::<12>(0) == self.g_bad.val() {
                self.t_rd.next = Rd::Bad;
            }
        }
        if self.t_is_queue.val() {
            // Bases and counters are stored zero-extended.
            if (self.t_reg.val() == self.q_sq_base.val())
                || (self.t_reg.val() == self.q_rq_base.val())
                || (self.t_reg.val() == self.q_cq_base.val())
                || (self.t_reg.val() == self.q_db_drops.val())
                || (self.t_reg.val() == self.q_rx_drops.val())
            {
                self.t_rd.next = Rd::Vram;
            }
            if self.t_reg.val() == self.q_sizes.val() {
                self.t_rd.next = Rd::Sizes;
            }
            if self.t_reg.val() == self.q_sq_head.val() {
                self.t_rd.next = Rd::Lo;
                self.t_rd_field.next = self.f_sq_ring.val();
            }
            if self.t_reg.val() == self.q_rq_head.val() {
                self.t_rd.next = Rd::Lo;
                self.t_rd_field.next = self.f_rq_ring.val();
            }
            if self.t_reg.val() == self.q_cq_tail.val() {
                self.t_rd.next = Rd::Hi;
                self.t_rd_field.next = self.f_cq_ring.val();
            }
        }
        if self.t_is_db.val() {
            if self.t_reg.val() == self.d_sq_tail.val() {
                self.t_rd.next = Rd::Hi;
                self.t_rd_field.next = self.f_sq_ring.val();
            }
            if self.t_reg.val() == self.d_rq_tail.val() {
                self.t_rd.next = Rd::Hi;
                self.t_rd_field.next = self.f_rq_ring.val();
            }
            if self.t_reg.val() == self.d_cq_head.val() {
                self.t_rd.next = Rd::Lo;
                self.t_rd_field.next = self.f_cq_ring.val();
            }
            if self.t_reg.val() == self.d_cq_arm.val() {
                self.t_rd.next = Rd::Armed;
            }
        }
        if self.m_take.val() {
            self.m_rd.d.next = self.t_rd.val();
            self.m_vi.d.next = self.t_vi.val();
            self.m_field.d.next = self.t_field.val();
            if !self.mmio_write.val() {
                self.m_field.d.next = self.t_rd_field.val();
            }
            self.m_base_write.d.next = self.t_base_write.val();
            self.m_w_sizes.d.next = self.mmio_write.val()
                && self.t_is_queue.val()
                && (self.t_reg.val() == self.q_sizes.val());
            self.m_w_sq_tail.d.next = self.mmio_write.val()
                && self.t_is_db.val()
                && (self.t_reg.val() == self.d_sq_tail.val());
            self.m_w_rq_tail.d.next = self.mmio_write.val()
                && self.t_is_db.val()
                && (self.t_reg.val() == self.d_rq_tail.val());
            self.m_w_cq_head.d.next = self.mmio_write.val()
                && self.t_is_db.val()
                && (self.t_reg.val() == self.d_cq_head.val());
            self.m_w_cq_arm.d.next = self.mmio_write.val()
                && self.t_is_db.val()
                && (self.t_reg.val() == self.d_cq_arm.val());
            // The receive ring's word, else the send ring's, is read first.
            self.m_rq.d.next = (self.t_is_queue.val()
                && (self.t_reg.val() == self.q_rq_head.val()))
                || (self.t_is_db.val() && (self.t_reg.val() == self.d_rq_tail.val()));
        }
        self.db_value.next = self.m_wdata.q.val().get_bits::<IDX_W>(0);

        // ---- The fetcher's pick ----
        // Round robin over the VIs with descriptors posted, starting after the last one tried;
        // the one picked is then checked for CQ room and burst size by its operation.
        for j in 0..4 {
            self.f_rot[j].next = false;
            for i in 0..4 {
                if self.vi_ids[i].val() == self.f_rr.q.val() + self.vi_offs[j].val() {
                    self.f_rot[j].next = self.sq_work[i].q.val();
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

        // ---- Issue: one operation, when none is under way (nor the sweep after reset) ----
        // What to issue is decided every cycle into registers and issued from them the cycle
        // after; the cycle after an execute issues nothing (what was decided in it did not see
        // the execute's effects).
        self.i_pick_vi_r.d.next = self.f_pick_vi.val();
        self.i_any_r.d.next = self.f_any.val();
        // A fetch and a CQ write share their address register (with a receive query's answer):
        // neither is issued while the other's request waits.
        self.i_cmp.next = (self.c_state.q.val() == CqState::Idle)
            && (self.f_state.q.val() != FetchState::Request)
            && self.cmp_valid.val();
        self.i_fetch.next = (self.f_state.q.val() == FetchState::Idle)
            && (self.c_state.q.val() != CqState::Request)
            && self.i_any_r.q.val()
            && self.f_room.q.val();
        self.f_room.d.next = self.f_used.q.val() <= self.words_fetch_max.val();
        self.n_valid.d.next = true;
        self.n_op.d.next = Op::Mmio;
        self.n_vi.d.next = self.m_vi.q.val();
        self.n_field.d.next = self.m_field.q.val();
        self.n_rq.d.next = self.m_rq.q.val();
        if self.r_drop.q.val() {
            self.n_op.d.next = Op::RxDrop;
            self.n_vi.d.next = self.r_drop_vi.q.val();
            self.n_field.d.next = self.f_rx_drops.val();
            self.n_rq.d.next = false;
        } else if self.c_state.q.val() == CqState::Finish {
            self.n_op.d.next = Op::CmpFinish;
            self.n_vi.d.next = self.l_vi.q.val();
            self.n_rq.d.next = false;
        } else if self.m_pend.q.val() {
            self.n_op.d.next = Op::Mmio;
        } else if self.rq_query.val()
            && !self.r_answer.q.val()
            && (self.f_state.q.val() != FetchState::Request)
            && (self.c_state.q.val() != CqState::Request)
        {
            self.n_op.d.next = Op::RxQuery;
            self.n_vi.d.next = self.rq_vi.val();
            self.n_field.d.next = self.f_rq_base.val();
            self.n_rq.d.next = true;
        } else if self.i_cmp.val() && !(self.i_fetch.val() && self.o_fetch_next.q.val()) {
            // Completion accepts and fetches take turns.
            self.n_op.d.next = Op::CmpAccept;
            self.n_vi.d.next = self.cmp_vi.val();
            self.n_field.d.next = self.f_cq_base.val();
            self.n_rq.d.next = false;
        } else if self.i_fetch.val() {
            self.n_op.d.next = Op::Fetch;
            self.n_vi.d.next = self.i_pick_vi_r.q.val();
            self.n_field.d.next = self.f_sq_base.val();
            self.n_rq.d.next = false;
        } else {
            self.n_valid.d.next = false;
        }
        self.o_rest.d.next = self.o_exec.q.val();
        self.i_valid.next = !self.o_busy.q.val()
            && !self.o_rest.q.val()
            && !self.z_left.q.val().any()
            && self.n_valid.q.val();
        self.i_vi.next = self.n_vi.q.val();
        self.i_field.next = self.n_field.q.val();
        self.i_rq.next = self.n_rq.q.val();
        if self.i_valid.val() {
            self.o_op.d.next = self.n_op.q.val();
            self.o_fetch.d.next = self.n_op.q.val() == Op::Fetch;
            self.o_finish.d.next = self.n_op.q.val() == Op::CmpFinish;
            if self.n_op.q.val() == Op::CmpAccept {
                self.o_fetch_next.d.next = true;
            }
            if self.n_op.q.val() == Op::Fetch {
                self.o_fetch_next.d.next = false;
            }
        }
        // Issue: the VI's CQ word is read. Next cycle: the ring word is read, the CQ word kept
        // and the VI's state selected into registers. The third cycle: the field (base or
        // counter) is read, and what the execute cycle decides on is computed from registers
        // and the ring word. The fourth: execute (the field's value arrives: a receive query's
        // answer address and a drop's new count are registered from it, so nothing reads the
        // block RAM in the cycle after).
        self.i_ring.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_sq_ring.val()) << 2)
            | bit_cast::<VRAM_W, DVI_W>(self.i_vi.val());
        if self.i_rq.val() {
            self.i_ring.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_rq_ring.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.i_vi.val());
        }
        self.vram.read_address.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_cq_ring.val()) << 2)
            | bit_cast::<VRAM_W, DVI_W>(self.i_vi.val());
        if self.o_busy.q.val() && !self.o_mid.q.val() && !self.o_exec.q.val() {
            self.vram.read_address.next = self.o_ring.q.val();
        }
        if self.o_mid.q.val() {
            self.vram.read_address.next = (bit_cast::<VRAM_W, FIELD_W>(self.o_field.q.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.o_vi.q.val());
        }
        if self.i_valid.val() {
            self.o_busy.d.next = true;
            self.o_mid.d.next = false;
            self.o_exec.d.next = false;
            self.o_vi.d.next = self.i_vi.val();
            self.o_field.d.next = self.i_field.val();
            self.o_rq.d.next = self.i_rq.val();
            self.o_ring.d.next = self.i_ring.val();
        }
        if self.o_busy.q.val() && !self.o_mid.q.val() && !self.o_exec.q.val() {
            self.o_mid.d.next = true;
            self.o_cq_word.d.next = self.vram.read_data.val().get_bits::<CQW_W>(0);
        }
        if self.o_mid.q.val() {
            self.o_mid.d.next = false;
            self.o_exec.d.next = true;
            self.o_ring_word.d.next = self.vram.read_data.val();
            self.o_addr.d.next = (bit_cast::<VRAM_W, FIELD_W>(self.o_field.q.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.o_vi.q.val());
        }
        if self.o_exec.q.val() {
            self.o_busy.d.next = false;
            self.o_exec.d.next = false;
        }

        // ---- Execute: the operation's VI, its rings, its arithmetic (once) ----
        self.open_vi.next = bit_cast::<3, DVI_W>(self.o_vi.q.val());
        self.s_sq_log2.next = 0.into();
        self.s_rq_log2.next = 0.into();
        // The CQ word arrives in the second cycle.
        self.s_cq_log2.next = self.vram.read_data.val().get_bits::<4>(24);
        self.s_cq_tail.next = self.vram.read_data.val().get_bits::<IDX_W>(12);
        self.s_cq_head.next = self.vram.read_data.val().get_bits::<IDX_W>(0);
        self.s_pending.next = 0.into();
        self.s_armed.next = false;
        for i in 0..4 {
            if self.o_vi.q.val() == self.vi_ids[i].val() {
                self.s_sq_log2.next = self.sq_log2[i].q.val();
                self.s_rq_log2.next = self.rq_log2[i].q.val();
                self.s_pending.next = self.cq_pending[i].q.val();
                self.s_armed.next = self.armed[i].q.val();
            }
        }
        self.x_rq.next = self.o_rq.q.val();
        self.x_log2.next = self.s_sq_log2.val();
        if self.x_rq.val() {
            self.x_log2.next = self.s_rq_log2.val();
        }
        // Ring masks: the low `log2` bits set (a constant shifted: one LUT a bit).
        self.x_mask.next = !(self.ones.val() << self.x_log2.val());
        self.k_mask.next = !(self.ones.val() << self.s_cq_log2.val());
        // Second cycle: the CQ word arrives from the block RAM and is kept; the VI's state is
        // selected from its flip-flops into registers.
        self.k_used.next = self.s_cq_tail.val() - self.s_cq_head.val();
        self.k_lap.next = self.s_cq_tail.val() >> self.s_cq_log2.val();
        if self.o_busy.q.val() && !self.o_mid.q.val() && !self.o_exec.q.val() {
            self.q_x_mask.d.next = self.x_mask.val();
            self.q_k_mask.d.next = self.k_mask.val();
            self.q_k_used.d.next = self.k_used.val();
            self.q_k_mp.d.next = self.k_mask.val() - self.s_pending.val();
            self.q_db_cq.d.next = self.db_value.val() - self.s_cq_head.val();
            self.p_pend.d.next = self.s_pending.val();
            self.p_cq_slot.d.next = self.s_cq_tail.val() & self.k_mask.val();
            // The phase flips with every pass over the ring.
            self.p_phase.d.next = !self.k_lap.val().get_bit(0);
        }
        // Third cycle: the ring word arrives; what the execute cycle decides on is computed
        // and registered (the ring arithmetic is never in the execute cycle's path).
        self.w_head.next = self.vram.read_data.val().get_bits::<IDX_W>(0);
        self.w_tail.next = self.vram.read_data.val().get_bits::<IDX_W>(12);
        self.x_used.next = self.w_tail.val() - self.w_head.val();
        self.x_slot.next = self.w_head.val() & self.q_x_mask.q.val();
        // At least four entries before the ring's end (the slot at most the size minus 4): a
        // zero among the slot's bits from 2 up that the mask keeps, or a slot that is a
        // multiple of 4 in a ring of 4 or more (no carry chain).
        self.x_to_end4.next = (!self.w_head.val() & self.q_x_mask.q.val() & self.not_low2.val())
            .any()
            || (!self.w_head.val().get_bit(0)
                && !self.w_head.val().get_bit(1)
                && self.q_x_mask.q.val().get_bit(1));
        // Free CQ entries (entries - written and unread - promised) minus one, modulo the
        // index width like the ring indices: -1 (all ones) when none is free.
        self.k_free.next = self.q_k_mp.q.val() - self.q_k_used.q.val();
        self.k_none.next = self.k_free.val() == self.ones.val();
        self.t_burst.next = self.x_used.val().get_bits::<10>(2).any()
            && self.x_to_end4.val()
            && self.k_free.val().get_bits::<10>(2).any()
            && !self.k_none.val();
        if self.o_mid.q.val() {
            self.p_burst.d.next = self.t_burst.val();
            // Comparisons with small constants as bit tests (no carry chains).
            self.p_used_any.d.next = self.x_used.val().any();
            self.p_used_is1.d.next = self.x_used.val() == self.idx_one.val();
            self.p_used_is4.d.next = self.x_used.val() == self.idx_four.val();
            self.p_kfree_any.d.next = !self.k_none.val();
            self.p_kfree2.d.next = self.k_free.val().any() && !self.k_none.val();
            self.p_kroom.d.next = self.q_k_used.q.val() <= self.q_k_mask.q.val();
            // A doorbell's tail at most a ring ahead of the head.
            self.p_db_x_ok.d.next = (self.db_value.val() - self.w_head.val())
                <= (self.q_x_mask.q.val() + self.idx_one.val());
            // The translation core's answer for the VI (asked since the issue).
            self.p_open.d.next = self.open_vi_open.val();
            self.p_enabled.d.next = self.open_vi_enabled.val();
            self.p_db_cq_ok.d.next = self.q_db_cq.q.val() <= self.q_k_used.q.val();
            self.p_x_slot.d.next = self.x_slot.val();
        }
        // Execute cycle.
        self.x_head.next = self.o_ring_word.q.val().get_bits::<IDX_W>(0);
        self.x_tail.next = self.o_ring_word.q.val().get_bits::<IDX_W>(12);
        self.k_new_tail.next = self.o_cq_word.q.val().get_bits::<IDX_W>(12) + self.idx_one.val();
        // The CQ word written by a finish (the tail moves) or a CQ-head doorbell.
        self.k_word.next = bit_cast::<32, CQW_W>(self.o_cq_word.q.val() & self.cq_keep.val())
            | (bit_cast::<32, IDX_W>(self.k_new_tail.val()) << 12);
        // A CQ entry stays free for a receive: the fetcher and the receive engine may both
        // have reserved entries before either is written.
        // A disabled VI's descriptors are not fetched (its teardown waits for nothing else).
        self.f_ok.next = self.p_enabled.q.val() && self.p_used_any.q.val() && self.p_kfree2.q.val();
        self.f_burst.next = self.p_burst.q.val();
        self.x_add.next = self.idx_one.val();
        if self.o_fetch.q.val() && self.f_burst.val() {
            self.x_add.next = self.idx_four.val();
        }
        self.x_new_head.next = self.x_head.val() + self.x_add.val();
        // Plus what is reserved, or minus the one entry written (CmpFinish).
        self.k_delta.next = self.x_add.val();
        if self.o_finish.q.val() {
            self.k_delta.next = self.ones.val();
        }
        self.pend_next.next = self.p_pend.q.val() + self.k_delta.val();
        // Descriptors are 32 bytes, CQ entries 16.
        self.e_offset.next = bit_cast::<E_OFF_W, IDX_W>(self.p_x_slot.q.val()) << 5;
        if self.o_op.q.val() == Op::CmpAccept {
            self.e_offset.next = bit_cast::<E_OFF_W, IDX_W>(self.p_cq_slot.q.val()) << 4;
        }
        // The base is a frame number: the offset's low 12 bits pass, its page is added.
        self.e_frame.next = self.vram.read_data.val().get_bits::<FRAME_W>(0)
            + bit_cast::<FRAME_W, E_PAGE_W>(self.e_offset.val().get_bits::<E_PAGE_W>(12));
        self.e_da.next = (bit_cast::<DA_W, FRAME_W>(self.e_frame.val()) << 12)
            | bit_cast::<DA_W, 12>(self.e_offset.val().get_bits::<12>(0));
        self.drops_next.d.next =
            self.vram.read_data.val().get_bits::<CNT_W>(0) + self.cnt_one.val();
        // Doorbell checks: a tail at most a ring ahead of the head, a CQ head not past the
        // tail.
        self.db_cq_ok.next = self.p_db_cq_ok.q.val();
        self.vram.write_address.next = self.o_addr.q.val();
        self.vram.write_data.next = bit_cast::<32, CNT_W>(self.drops_next.q.val());
        // Which word the execute cycle writes, decided from registers in one flat expression
        // each: the ring word, the CQ word, or the field (a base); a drop is counted in the
        // cycle after.
        self.x_db_ok.next = self.p_open.q.val() && self.p_db_x_ok.q.val();
        self.k_db_ok.next = self.p_open.q.val() && self.db_cq_ok.val();
        self.v_ring_write.next = self.o_exec.q.val()
            && (((self.o_op.q.val() == Op::Mmio)
                && (self.m_w_sizes.q.val()
                    || ((self.m_w_sq_tail.q.val() || self.m_w_rq_tail.q.val())
                        && self.x_db_ok.val())))
                || (self.o_fetch.q.val() && self.f_ok.val())
                || ((self.o_op.q.val() == Op::RxQuery)
                    && self.p_open.q.val()
                    && self.p_used_any.q.val()
                    && self.p_kfree_any.q.val()));
        self.k_write.next = self.o_exec.q.val()
            && (self.o_finish.q.val()
                || ((self.o_op.q.val() == Op::Mmio)
                    && self.m_w_cq_head.q.val()
                    && self.k_db_ok.val()));
        self.o_count.d.next = self.o_exec.q.val()
            && (((self.o_op.q.val() == Op::Mmio)
                && (((self.m_w_sq_tail.q.val() || self.m_w_rq_tail.q.val())
                    && !self.x_db_ok.val())
                    || (self.m_w_cq_head.q.val() && !self.k_db_ok.val())
                    || (self.m_w_cq_arm.q.val() && !self.p_open.q.val())))
                || (self.o_op.q.val() == Op::RxDrop));
        self.vram.write_enable.next =
            (self.o_exec.q.val() && (self.o_op.q.val() == Op::Mmio) && self.m_base_write.q.val())
                || self.o_count.q.val();
        self.v_ring_data.next = (bit_cast::<32, IDX_W>(self.x_tail.val()) << 12)
            | bit_cast::<32, IDX_W>(self.x_new_head.val());
        self.cmp_ready.next = self.c_ready.q.val();
        self.c_ready.d.next = false;
        self.cmp_hold.next = self.o_exec.q.val() && (self.o_op.q.val() == Op::CmpAccept);
        // A completion is taken when its CQ has room. The producer may have changed since the
        // issue (the receive engine goes first): its VI must be the one whose base was read.
        self.c_accept.next = self.cmp_valid.val()
            && (self.cmp_vi.val() == self.o_vi.q.val())
            && self.p_kroom.q.val();
        self.r_answer.d.next = false;
        self.f_issue.next = 0.into();
        // The register read's value: one multiplexer, its source decoded at the take.
        self.read_value.next = 0.into();
        match self.m_rd.q.val() {
            Rd::Vram => {
                self.read_value.next = self.vram.read_data.val();
            }
            Rd::Tx => {
                self.read_value.next = bit_cast::<32, CNT_W>(self.tx_frames.q.val());
            }
            Rd::Rx => {
                self.read_value.next = bit_cast::<32, CNT_W>(self.rx_frames.q.val());
            }
            Rd::Bad => {
                self.read_value.next = bit_cast::<32, CNT_W>(self.rx_bad_frames.q.val());
            }
            Rd::Caps => {
                self.read_value.next = self.caps_value.val();
            }
            Rd::Ctrl => {
                self.read_value.next = bit_cast::<32, 1>(self.loopback_on.q.val().into());
            }
            Rd::Sizes => {
                self.read_value.next = bit_cast::<32, 4>(self.s_sq_log2.val())
                    | (bit_cast::<32, 4>(self.s_rq_log2.val()) << 4)
                    | (bit_cast::<32, 4>(self.o_cq_word.q.val().get_bits::<4>(24)) << 8);
            }
            Rd::Lo => {
                self.read_value.next =
                    bit_cast::<32, IDX_W>(self.vram.read_data.val().get_bits::<IDX_W>(0));
            }
            Rd::Hi => {
                self.read_value.next =
                    bit_cast::<32, IDX_W>(self.vram.read_data.val().get_bits::<IDX_W>(12));
            }
            Rd::Armed => {
                self.read_value.next = bit_cast::<32, 1>(self.s_armed.val().into());
            }
            _ => {}
        }
        if self.o_exec.q.val() {
            match self.o_op.q.val() {
                Op::Mmio => {
                    self.m_pend.d.next = false;
                    if self.m_write.q.val() && (self.m_rd.q.val() == Rd::Ctrl) {
                        self.loopback_on.d.next = self.m_wdata.q.val().get_bit(0);
                    }
                    if !self.m_write.q.val() {
                        self.rsp_valid.d.next = true;
                        self.rsp_data.d.next = self.read_value.val();
                    }
                    if self.m_base_write.q.val() {
                        self.vram.write_data.next =
                            bit_cast::<32, FRAME_W>(self.m_wdata.q.val().get_bits::<FRAME_W>(0));
                    }
                    for i in 0..4 {
                        if self.o_vi.q.val() == self.vi_ids[i].val() {
                            if self.m_w_sizes.q.val() {
                                self.sq_log2[i].d.next = self.m_wdata.q.val().get_bits::<4>(0);
                                if self.m_wdata.q.val().get_bits::<4>(0) > self.log2_max.val() {
                                    self.sq_log2[i].d.next = self.log2_max.val();
                                }
                                self.rq_log2[i].d.next = self.m_wdata.q.val().get_bits::<4>(4);
                                if self.m_wdata.q.val().get_bits::<4>(4) > self.log2_max.val() {
                                    self.rq_log2[i].d.next = self.log2_max.val();
                                }
                                // The receive ring was zeroed two cycles before.
                                self.v_ring_data.next = 0.into();
                                self.sq_work[i].d.next = false;
                                self.armed[i].d.next = false;
                                self.event_pending[i].d.next = false;
                            }
                            // Doorbells: the word written when the value is taken (else the
                            // drop is counted).
                            if self.m_w_sq_tail.q.val() || self.m_w_rq_tail.q.val() {
                                self.v_ring_data.next =
                                    (bit_cast::<32, IDX_W>(self.db_value.val()) << 12)
                                        | bit_cast::<32, IDX_W>(self.x_head.val());
                            }
                            if self.m_w_sq_tail.q.val() && self.x_db_ok.val() {
                                self.sq_work[i].d.next = self.db_value.val() != self.x_head.val();
                            }
                            if self.m_w_cq_head.q.val() {
                                // The new head may not pass the tail.
                                self.k_word.next = bit_cast::<32, CQW_W>(
                                    self.o_cq_word.q.val() & self.cq_keep_tail.val(),
                                ) | bit_cast::<32, IDX_W>(self.db_value.val());
                            }
                            if self.m_w_cq_arm.q.val() && self.p_open.q.val() {
                                self.armed[i].d.next = true;
                            }
                        }
                    }
                }
                Op::Fetch => {
                    self.f_rr.d.next = self.o_vi.q.val() + self.vi_one.val();
                    if self.f_ok.val() {
                        self.f_vi.d.next = self.o_vi.q.val();
                        self.f_state.d.next = FetchState::Request;
                        self.q_da.d.next = self.e_da.val().get_bits::<QDA_W>(4);
                        self.f_index.d.next = self.x_head.val();
                        self.f_count.d.next = self.count_one.val();
                        self.f_issue.next = self.words_eight.val();
                        if self.f_burst.val() {
                            self.f_count.d.next = self.count_four.val();
                            self.f_issue.next = self.words_32.val();
                        }
                        for i in 0..4 {
                            if self.o_vi.q.val() == self.vi_ids[i].val() {
                                // Work is left unless the fetch takes all of it.
                                self.sq_work[i].d.next = !self.p_used_is1.q.val();
                                if self.f_burst.val() {
                                    self.sq_work[i].d.next = !self.p_used_is4.q.val();
                                }
                                self.cq_pending[i].d.next = self.pend_next.val();
                            }
                        }
                    }
                }
                Op::CmpAccept => {
                    self.c_ready.d.next = self.c_accept.val();
                    if self.c_accept.val() {
                        self.l_vi.d.next = self.cmp_vi.val();
                        self.l_recv.d.next = self.cmp_recv.val();
                        self.l_wr_id.d.next = self.cmp_wr_id.val();
                        self.l_bytes.d.next = self.cmp_bytes.val().get_bits::<CMP_BYTES_W>(0);
                        self.l_index.d.next = self.cmp_index.val();
                        self.l_peer.d.next = self.cmp_peer.val();
                        self.l_opcode.d.next = self.cmp_opcode.val();
                        self.l_status.d.next = self.cmp_status.val();
                        self.q_da.d.next = self.e_da.val().get_bits::<QDA_W>(4);
                        self.c_phase.d.next = self.p_phase.q.val();
                        self.c_state.d.next = CqState::Request;
                    }
                }
                Op::CmpFinish => {
                    self.c_state.d.next = CqState::Idle;
                    for i in 0..4 {
                        if self.o_vi.q.val() == self.vi_ids[i].val() {
                            self.cq_pending[i].d.next = self.pend_next.val();
                            if self.armed[i].q.val() {
                                self.armed[i].d.next = false;
                                self.event_pending[i].d.next = true;
                            }
                        }
                    }
                }
                Op::RxQuery => {
                    self.r_answer.d.next = true;
                    self.q_da.d.next = self.e_da.val().get_bits::<QDA_W>(4);
                    if self.p_open.q.val() && self.p_used_any.q.val() && self.p_kfree_any.q.val() {
                        self.r_granted.d.next = true;
                        for i in 0..4 {
                            if self.o_vi.q.val() == self.vi_ids[i].val() {
                                self.cq_pending[i].d.next = self.pend_next.val();
                            }
                        }
                    } else {
                        self.r_granted.d.next = false;
                        self.r_drop.d.next = true;
                        self.r_drop_vi.d.next = self.o_vi.q.val();
                    }
                }
                Op::RxDrop => {
                    self.r_drop.d.next = false;
                }
                _ => {}
            }
        }
        if self.v_ring_write.val() {
            self.vram.write_enable.next = true;
            self.vram.write_address.next = self.o_ring.q.val();
            self.vram.write_data.next = self.v_ring_data.val();
        }
        if self.k_write.val() {
            self.vram.write_enable.next = true;
            self.vram.write_address.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_cq_ring.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.o_vi.q.val());
            self.vram.write_data.next = self.k_word.val();
        }
        // A RING_SIZES write zeroes the VI's receive ring while its send ring is read, and its
        // CQ word (with the new size) in the cycle after.
        self.sz_cq.next = self.m_wdata.q.val().get_bits::<4>(8);
        if self.m_wdata.q.val().get_bits::<4>(8) > self.log2_max.val() {
            self.sz_cq.next = self.log2_max.val();
        }
        if self.o_mid.q.val() && (self.o_op.q.val() == Op::Mmio) && self.m_w_sizes.q.val() {
            self.vram.write_enable.next = true;
            self.vram.write_address.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_cq_ring.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.o_vi.q.val());
            self.vram.write_data.next = bit_cast::<32, 4>(self.sz_cq.val()) << 24;
        }
        if self.o_busy.q.val()
            && !self.o_mid.q.val()
            && !self.o_exec.q.val()
            && (self.o_op.q.val() == Op::Mmio)
            && self.m_w_sizes.q.val()
        {
            self.vram.write_enable.next = true;
            self.vram.write_address.next = (bit_cast::<VRAM_W, FIELD_W>(self.f_rq_ring.val()) << 2)
                | bit_cast::<VRAM_W, DVI_W>(self.o_vi.q.val());
            self.vram.write_data.next = 0.into();
        }
        // After reset: every ring word is zeroed, one a cycle, before any operation.
        self.z_next.next = self.z_left.q.val() - self.z_one.val();
        if self.z_left.q.val().any() {
            self.z_left.d.next = self.z_next.val();
            self.vram.write_enable.next = true;
            self.vram.write_data.next = 0.into();
            self.vram.write_address.next =
                self.z_first.val() + bit_cast::<VRAM_W, 4>(self.z_next.val());
        }
        self.mmio_rsp_valid.next = self.rsp_valid.q.val();
        self.mmio_rsp_data.next = self.rsp_data.q.val();
        if self.rsp_valid.q.val() && self.mmio_rsp_ready.val() {
            self.rsp_valid.d.next = false;
        }

        // ---- Counters ----
        self.tx_frame_r.d.next = self.tx_frame.val();
        self.rx_frame_r.d.next = self.rx_frame.val();
        self.rx_bad_r.d.next = self.rx_bad.val();
        if self.tx_frame_r.q.val() {
            self.tx_frames.d.next = self.tx_frames.q.val() + self.cnt_one.val();
        }
        if self.rx_frame_r.q.val() {
            self.rx_frames.d.next = self.rx_frames.q.val() + self.cnt_one.val();
        }
        if self.rx_bad_r.q.val() {
            self.rx_bad_frames.d.next = self.rx_bad_frames.q.val() + self.cnt_one.val();
        }

        // ---- Fetcher: the read, then the metadata of each descriptor ----
        self.fetch_req_valid.next = false;
        self.dma_da.next = bit_cast::<DA_W, QDA_W>(self.q_da.q.val()) << 4;
        self.fetch_req_vi.next = self.f_vi.q.val();
        self.fetch_req_len.next = self.len_desc.val();
        if self.f_count.q.val() == self.count_four.val() {
            self.fetch_req_len.next = self.len_burst.val();
        }
        self.meta_fifo.in_valid.next = false;
        self.meta_fifo.in_data.next = (bit_cast::<META_W, DVI_W>(self.f_vi.q.val()) << 12)
            | bit_cast::<META_W, IDX_W>(self.f_index.q.val());
        match self.f_state.q.val() {
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
            _ => {}
        }
        // Descriptor words: word 0's reserved bits carry the read's error flag and VI.
        self.desc_fifo.in_valid.next = self.fetch_rd_valid.val();
        self.desc_fifo.in_data.next = self.fetch_rd_data.val();
        if !self.f_word.q.val().any() {
            self.desc_fifo.in_data.next =
                bit_cast::<32, 16>(self.fetch_rd_data.val().get_bits::<16>(0))
                    | (bit_cast::<32, DVI_W>(self.fetch_rd_vi.val()) << 29)
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
        self.f_pop.next = 0.into();
        if self.desc_fifo.out_valid.val() && self.desc_fifo.out_ready.val() {
            self.f_pop.next = self.words_one.val();
        }
        self.f_used.d.next = self.f_used.q.val() + self.f_issue.val() - self.f_pop.val();

        // ---- Completion writer: the entry from the latch ----
        self.cq_req_valid.next = false;
        self.cq_req_vi.next = self.l_vi.q.val();
        self.cq_wd_valid.next = false;
        self.cq_wd_last.next = self.c_word.q.val() == self.word_last.val();
        self.cq_wd_data.next = self.l_wr_id.q.val();
        if self.c_word.q.val() == self.w1.val() {
            self.cq_wd_data.next = bit_cast::<32, CMP_BYTES_W>(self.l_bytes.q.val());
        }
        if self.c_word.q.val() == self.w2.val() {
            self.cq_wd_data.next = bit_cast::<32, IDX_W>(self.l_index.q.val())
                | (bit_cast::<32, 8>(self.l_peer.q.val()) << 16)
                | (bit_cast::<32, 8>(self.l_opcode.q.val()) << 24);
        }
        if self.c_word.q.val() == self.word_last.val() {
            self.cq_wd_data.next = bit_cast::<32, STATUS_W>(self.l_status.q.val())
                | (bit_cast::<32, 1>(self.l_recv.q.val().into()) << 8)
                | (bit_cast::<32, 1>(self.c_phase.q.val().into()) << 31);
        }
        match self.c_state.q.val() {
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
                        // The tail moves (and the event fires) by a finish operation.
                        self.c_state.d.next = CqState::Finish;
                    }
                }
            }
            _ => {}
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

        // ---- Receive descriptors: the answer of the last query ----
        self.rq_answer.next = self.r_answer.q.val();
        self.rq_granted.next = self.r_granted.q.val();
        // The answer's address is the DMA address register's, loaded in the execute cycle (a
        // query is issued only while no fetch or CQ write waits with its address there); its
        // index is the executed query's, still at hand: the ring word and the slot are kept
        // until the next operation's second cycle.
        self.rq_da.next = bit_cast::<DA_W, QDA_W>(self.q_da.q.val()) << 4;
        self.rq_index.next = self.x_head.val();

        if self.reset.val() {
            self.f_state.d.next = FetchState::Idle;
            self.f_used.d.next = 0.into();
            self.f_word.d.next = 0.into();
            self.c_state.d.next = CqState::Idle;
            self.rsp_valid.d.next = false;
            self.m_pend.d.next = false;
            self.o_busy.d.next = false;
            self.o_mid.d.next = false;
            self.o_exec.d.next = false;
            self.n_valid.d.next = false;
            self.z_left.d.next = self.z_words.val();
            self.r_answer.d.next = false;
            self.r_drop.d.next = false;
            self.o_count.d.next = false;
            self.loopback_on.d.next = false;
            for i in 0..4 {
                self.sq_log2[i].d.next = 0.into();
                self.rq_log2[i].d.next = 0.into();
                self.sq_work[i].d.next = false;
                self.cq_pending[i].d.next = 0.into();
                self.armed[i].d.next = false;
                self.event_pending[i].d.next = false;
            }
        }
    }
}

crate::clocked!(QueueManager);
