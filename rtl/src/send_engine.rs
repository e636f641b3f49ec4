//! `SendEngine`: the send half of the DMA engine. Descriptor words in; frames out on the
//! network port and one completion per descriptor.
//!
//! Two stages, so the payload reads of one descriptor overlap the frame of the previous:
//!
//! * **prepare**: takes a descriptor's eight words, applies the descriptor checks of
//!   `abi::queues::precheck` (bad opcode, length, alignment, destination; a descriptor whose
//!   read failed gets `dma_error`), asks the translation core for the whole buffer and keeps
//!   the page frames in block RAM. Only when every page translated does it read the payload:
//!   page by page, in bursts of at most [`BURST_BYTES`], each issued only when the TX FIFO has
//!   room for all its words (so read data is never back-pressured). The payload is read
//!   while the descriptor's context (what the second stage needs of it) waits for the
//!   hand-off register; once both the reads are issued and the context handed over, the
//!   descriptor's fields are free for the next one. So the payloads of three descriptors
//!   (the one being sent, the one handed over, the one being prepared) can be in flight at
//!   once, and a message longer than the TX FIFO is sent while its reads go on.
//! * **transmit**: for a good send, a frame: the two header words of `abi::frames`, then the
//!   payload words from the TX FIFO; then the completion (for failed descriptors and NOPs
//!   only the completion), held on `cmp_*` until the completion writer takes it.
//!
//! The VI of the descriptor being prepared comes with its word 0 (bits
//! [`DESC_VI_SHIFT`]`..`, put there by the fetcher, as the read-error flag in bit
//! [`DESC_ERROR_BIT`]); the VI and queue index of the one being sent or completed are the
//! head of the fetcher's metadata queue, which is popped with the completion: descriptors
//! pass the two stages in order, so nothing of the metadata is copied here.
//!
//! A descriptor's `wr_id` (only copied into its completion) does not travel with its context:
//! it goes from the descriptor words straight into a ring in block RAM, written as its word
//! arrives and read at the completion, in order (descriptors pass the two stages in order).
//! The ring holds the descriptors from their `wr_id` word to their completion: the one being
//! prepared, the hand-off register's and the one being sent, failed ones and NOPs included.
//! The ring's read data follows its read pointer a cycle late, so a descriptor without a
//! frame is taken a cycle after the previous completion (a frame's header words give that
//! cycle anyway).
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `desc_valid/ready/data` | 1/1/32 | in | descriptor words, 8 per descriptor |
//! | `desc_meta`, `desc_meta_pop` | 14, 1 | in, out | VI and queue index of the oldest descriptor not yet completed (the transmit stage's); popped with its completion |
//! | `xl_req_*` | | out | translation request: `vi`, `va`, `shortcut`, `length` |
//! | `xl_rsp_*` | | in | translation responses: `status`, `da`, `bytes`, `last` |
//! | `pl_req_*` | | out | payload reads: `valid/ready`, `da`, `len` bytes |
//! | `pl_rd_*` | | in | payload words: `valid`, `data`, `error` (never back-pressured) |
//! | `tx_*` | | out | frames: `valid/ready`, `data`, `last` |
//! | `cmp_*` | | out | the completion, held until `cmp_ready` |
//! | `tx_frame` | 1 | out | a frame was sent (counter strobe) |

use abi::frames::{FRAME_MAGIC, FRAME_MAGIC_SHIFT};
use abi::queues::{Opcode, MAX_MESSAGE_LEN};
use abi::Status;
use rust_hdl::prelude::*;

use crate::bram::BlockRam;
use crate::consts::{konst, status_const, DA_W, FRAME_W, PAGE_BYTES_W, STATUS_W};
use crate::descriptor_regs::DescriptorRegs;
use crate::fifo::Fifo;
use crate::queue_manager::{DESC_ERROR_BIT, DESC_VI_SHIFT, DMA_LEN_W, DVI_W, IDX_W, META_W};
use crate::with_defaults;

/// Largest payload read.
pub const BURST_BYTES: u64 = 256;
/// Width of a message length (up to `MAX_MESSAGE_LEN`).
pub const MSG_W: usize = 17;
/// Descriptors handed from the prepare stage to the transmit stage and not yet taken (the
/// hand-off register): the payload reads of this many descriptors overlap the frame being
/// sent. The transmit stage copies the context when it starts the descriptor.
pub const CTX_DEPTH: usize = 1;
/// Descriptors between their `wr_id` word and their completion: the one being prepared, the
/// hand-off register's and the one being sent.
pub const WR_ID_LIVE: usize = CTX_DEPTH + 2;
/// Address width of the ring of `wr_id`s: room for [`WR_ID_LIVE`] descriptors. Eight entries
/// where four would do: yosys builds a ring of four 32-bit entries from flip-flops (its
/// estimate for them ties with the two block RAMs').
pub const WR_ID_RING_W: usize = 3;
const _: () = assert!(1 << WR_ID_RING_W >= WR_ID_LIVE);
const _: () = assert!(abi::queues::DESC_W_WR_ID == 2);

const _: () = assert!(IDX_W == 12);
// Word 0's error flag and VI, and the metadata's VI, are sliced with these literals.
const _: () = assert!(DESC_ERROR_BIT == 31 && DESC_VI_SHIFT == 29 && META_W == 12 + DVI_W);
// Comparisons with constants are bit tests: bursts of 2^8 bytes, messages of at most 2^16
// bytes, pages of 2^12 bytes, 4 destination VIs.
const _: () = assert!(BURST_BYTES == 1 << 8 && MAX_MESSAGE_LEN == 1 << 16);
const _: () = assert!(abi::PAGE_SIZE == 1 << 12 && abi::DEVICE_VIS == 4);
const _: () = assert!(MAX_MESSAGE_LEN == 1 << (MSG_W - 1));
const _: () = assert!(FRAME_MAGIC_SHIFT == 16 && abi::frames::FRAME_SRC_SHIFT == 8);
const _: () = assert!(abi::queues::DESC_W_VA == 4 && abi::queues::DESC_W_SHORTCUT == 6);

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum PrepState {
    Load,
    Check,
    XlRequest,
    XlResponse,
    PageLoad,
    PageStart,
    Burst,
    Push,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum TxState {
    Idle,
    Header0,
    Header1,
    Payload,
    Complete,
}

/// The send engine (see the module documentation).
#[derive(LogicBlock)]
pub struct SendEngine {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Descriptor word valid.
    pub desc_valid: Signal<In, Bit>,
    /// Descriptor word taken.
    pub desc_ready: Signal<Out, Bit>,
    /// The word.
    pub desc_data: Signal<In, Bits<32>>,
    /// VI and queue index of the descriptor.
    pub desc_meta: Signal<In, Bits<META_W>>,
    /// The descriptor's last word is taken.
    pub desc_meta_pop: Signal<Out, Bit>,
    /// Translation request.
    pub xl_req_valid: Signal<Out, Bit>,
    /// Translation request taken.
    pub xl_req_ready: Signal<In, Bit>,
    /// Requesting VI.
    pub xl_req_vi: Signal<Out, Bits<3>>,
    /// Buffer address.
    pub xl_req_va: Signal<Out, Bits<64>>,
    /// Shortcut.
    pub xl_req_shortcut: Signal<Out, Bits<64>>,
    /// Bytes.
    pub xl_req_length: Signal<Out, Bits<32>>,
    /// Translation response.
    pub xl_rsp_valid: Signal<In, Bit>,
    /// Translation response taken.
    pub xl_rsp_ready: Signal<Out, Bit>,
    /// Status.
    pub xl_rsp_status: Signal<In, Bits<STATUS_W>>,
    /// Device address of the page's first byte.
    pub xl_rsp_da: Signal<In, Bits<DA_W>>,
    /// Last response of the request.
    pub xl_rsp_last: Signal<In, Bit>,
    /// Payload read request.
    pub pl_req_valid: Signal<Out, Bit>,
    /// Payload read taken.
    pub pl_req_ready: Signal<In, Bit>,
    /// Device address.
    pub pl_req_da: Signal<Out, Bits<DA_W>>,
    /// Bytes.
    pub pl_req_len: Signal<Out, Bits<DMA_LEN_W>>,
    /// VI whose buffer is read.
    pub pl_req_vi: Signal<Out, Bits<DVI_W>>,
    /// Payload word.
    pub pl_rd_valid: Signal<In, Bit>,
    /// The word.
    pub pl_rd_data: Signal<In, Bits<32>>,
    /// The read failed.
    pub pl_rd_error: Signal<In, Bit>,
    /// Frame word valid.
    pub tx_valid: Signal<Out, Bit>,
    /// Frame word taken.
    pub tx_ready: Signal<In, Bit>,
    /// The word.
    pub tx_data: Signal<Out, Bits<32>>,
    /// Last word of the frame.
    pub tx_last: Signal<Out, Bit>,
    /// Completion valid.
    pub cmp_valid: Signal<Out, Bit>,
    /// Completion written.
    pub cmp_ready: Signal<In, Bit>,
    /// VI.
    pub cmp_vi: Signal<Out, Bits<DVI_W>>,
    /// `wr_id`.
    pub cmp_wr_id: Signal<Out, Bits<32>>,
    /// Bytes sent.
    pub cmp_bytes: Signal<Out, Bits<32>>,
    /// Queue index.
    pub cmp_index: Signal<Out, Bits<IDX_W>>,
    /// Destination VI.
    pub cmp_peer: Signal<Out, Bits<8>>,
    /// Opcode byte.
    pub cmp_opcode: Signal<Out, Bits<8>>,
    /// Status.
    pub cmp_status: Signal<Out, Bits<STATUS_W>>,
    /// A frame was sent.
    pub tx_frame: Signal<Out, Bit>,

    desc: DescriptorRegs,
    pages: BlockRam<Bits<FRAME_W>, 5>,
    /// The `wr_id`s of the descriptors between their `wr_id` word and their completion, in
    /// order.
    wr_ids: BlockRam<Bits<32>, WR_ID_RING_W>,
    /// The next descriptor word is word 1.
    w_word1: DFF<Bit>,
    /// The next descriptor word is word 2 (the `wr_id`).
    w_word2: DFF<Bit>,
    /// Ring entry the next `wr_id` is written to.
    w_head: DFF<Bits<WR_ID_RING_W>>,
    /// Ring entry of the next completion's `wr_id`.
    w_tail: DFF<Bits<WR_ID_RING_W>>,
    tx_fifo: Fifo<Bits<33>, 8, 9>,

    // Prepare stage.
    a_state: DFF<PrepState>,
    a_vi: DFF<Bits<DVI_W>>,
    a_status: DFF<Bits<STATUS_W>>,
    a_pages: DFF<Bits<5>>,
    a_page: DFF<Bits<5>>,
    a_da: DFF<Bits<DA_W>>,
    a_page_left: DFF<Bits<PAGE_BYTES_W>>,
    a_left: DFF<Bits<MSG_W>>,
    // Words in the TX FIFO or requested and not yet arrived.
    a_used: DFF<Bits<9>>,
    // The TX FIFO has room for a burst by last cycle's count: a burst is never issued in the
    // cycle after another (`a_wait`), and taken words only lower the count, so it errs on the
    // full side; registered, so the comparison stays off the request's path.
    a_fifo_room: DFF<Bit>,
    // This burst's bytes, registered from `a_page_left`: valid unless `a_wait` (the cycle
    // after `a_page_left` was written).
    a_chunk: DFF<Bits<PAGE_BYTES_W>>,
    a_chunk_n: Signal<Local, Bits<PAGE_BYTES_W>>,
    a_wait: DFF<Bit>,
    a_chunk_words: Signal<Local, Bits<9>>,
    // Bytes from the buffer's first byte to the end of its page, and whether the message
    // ends before that: registered from the descriptor's fields (which stand still from the
    // cycle after its last word), read two cycles later at the first page's response.
    a_first_room: DFF<Bits<PAGE_BYTES_W>>,
    a_first_fits: DFF<Bit>,
    a_room_n: Signal<Local, Bits<PAGE_BYTES_W>>,
    a_issue: Signal<Local, Bits<9>>,
    a_pop: Signal<Local, Bits<9>>,
    // A TX FIFO word was taken last cycle: the count of words in use drops a cycle late (it
    // errs on the full side), so the network's ready does not reach its arithmetic.
    a_popped: DFF<Bit>,
    a_push: Signal<Local, Bit>,
    // The prepare stage's descriptor has been handed over.
    a_pushed: DFF<Bit>,
    // The prepare stage is in `Load` (the descriptor FIFO's ready from a register of its
    // own, not from a decode of the state).
    a_load: DFF<Bit>,
    // Hand-off register: a descriptor's context handed over and not taken yet.
    handed: DFF<Bit>,
    h_length: DFF<Bits<MSG_W>>,
    h_dest: DFF<Bits<8>>,
    h_opcode: DFF<Bits<8>>,
    h_status: DFF<Bits<STATUS_W>>,
    // Transmit stage.
    b_state: DFF<TxState>,
    b_length: DFF<Bits<MSG_W>>,
    b_dest: DFF<Bits<8>>,
    b_opcode: DFF<Bits<8>>,
    b_status: DFF<Bits<STATUS_W>>,
    b_words: DFF<Bits<MSG_W>>,
    b_error: DFF<Bit>,
    b_take: Signal<Local, Bit>,
    /// The hand-off register's descriptor is a good send (it has a frame).
    h_sends: Signal<Local, Bit>,

    op_send: Constant<Bits<8>>,
    op_nop: Constant<Bits<8>>,
    page_one: Constant<Bits<5>>,
    /// One ring entry.
    ring_one: Constant<Bits<WR_ID_RING_W>>,
    page_bytes: Constant<Bits<PAGE_BYTES_W>>,
    burst: Constant<Bits<PAGE_BYTES_W>>,
    three: Constant<Bits<PAGE_BYTES_W>>,
    msg_three: Constant<Bits<MSG_W>>,
    msg_one: Constant<Bits<MSG_W>>,
    words_one: Constant<Bits<9>>,
    words_burst: Constant<Bits<9>>,
    words_burst_max: Constant<Bits<9>>,
    magic: Constant<Bits<32>>,
    da_frame: Constant<Bits<DA_W>>,
    st_ok: Constant<Bits<STATUS_W>>,
    st_bad_opcode: Constant<Bits<STATUS_W>>,
    st_bad_length: Constant<Bits<STATUS_W>>,
    st_misaligned: Constant<Bits<STATUS_W>>,
    st_bad_dest: Constant<Bits<STATUS_W>>,
    st_dma: Constant<Bits<STATUS_W>>,
}

impl Default for SendEngine {
    fn default() -> Self {
        with_defaults!(SendEngine {
            op_send: konst(Opcode::Send as u64),
            op_nop: konst(Opcode::Nop as u64),
            page_one: konst(1),
            ring_one: konst(1),
            page_bytes: konst(abi::PAGE_SIZE),
            burst: konst(BURST_BYTES),
            three: konst(3),
            msg_three: konst(3),
            msg_one: konst(1),
            words_one: konst(1),
            words_burst: konst(BURST_BYTES / 4),
            // A burst is issued only when the TX FIFO has room for its largest size.
            words_burst_max: konst(256 - BURST_BYTES / 4),
            magic: konst(u64::from(FRAME_MAGIC << FRAME_MAGIC_SHIFT)),
            da_frame: konst(abi::mask(abi::DA_BITS) & !abi::mask(abi::PAGE_SHIFT)),
            st_ok: status_const(Status::Ok),
            st_bad_opcode: status_const(Status::BadOpcode),
            st_bad_length: status_const(Status::BadLength),
            st_misaligned: status_const(Status::Misaligned),
            st_bad_dest: status_const(Status::BadDest),
            st_dma: status_const(Status::DmaError),
        } defaults {
            clock, reset, desc_valid, desc_ready, desc_data, desc_meta, desc_meta_pop,
            xl_req_valid, xl_req_ready, xl_req_vi, xl_req_va, xl_req_shortcut, xl_req_length,
            xl_rsp_valid, xl_rsp_ready, xl_rsp_status, xl_rsp_da, xl_rsp_last, pl_req_valid,
            pl_req_ready, pl_req_da, pl_req_len, pl_req_vi, pl_rd_valid, pl_rd_data, pl_rd_error, tx_valid,
            tx_ready, tx_data, tx_last, cmp_valid, cmp_ready, cmp_vi, cmp_wr_id, cmp_bytes,
            cmp_index, cmp_peer, cmp_opcode, cmp_status, tx_frame, pages, wr_ids, w_word1, w_word2, w_head,
            w_tail, tx_fifo, a_state,
            desc, a_vi,
            a_status, a_pages, a_page, a_da, a_page_left, a_left, a_used, a_fifo_room, a_chunk, a_chunk_n, a_wait,
            a_chunk_words, a_first_room, a_first_fits, a_room_n, a_issue, a_pop, a_popped, a_push, handed, a_pushed, a_load, h_length, h_dest, h_opcode, h_status, b_state, b_length, b_dest,
            b_opcode, b_status, b_words, b_error, b_take, h_sends
        })
    }
}

impl Logic for SendEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            a_state,
            a_vi,
            a_status,
            a_pages,
            a_page,
            a_da,
            a_page_left,
            a_chunk,
            a_wait,
            a_left,
            a_used,
            a_fifo_room,
            a_popped,
            a_load,
            handed,
            a_pushed,
            a_first_room,
            a_first_fits,
            h_length,
            h_dest,
            h_opcode,
            h_status,
            b_state,
            b_length,
            b_dest,
            b_opcode,
            b_status,
            b_words,
            b_error,
            w_word1,
            w_word2,
            w_head,
            w_tail
        );
        clock!(self, clock, desc, pages, wr_ids, tx_fifo);
        self.desc.reset.next = self.reset.val();
        self.tx_fifo.reset.next = self.reset.val();

        // ---- Prepare ----
        // The fields are free once the descriptor is handed over.
        self.desc_ready.next = self.a_load.q.val();
        // Word 0's reserved bits carry the fetcher's read-error flag and the VI.
        self.desc.word_valid.next = self.desc_valid.val() && self.desc_ready.val();
        self.desc.word_data.next = self.desc_data.val();
        self.desc.word_error.next = self.desc_data.val().get_bit(31) && self.desc.first.val();
        if self.desc.word_valid.val() && self.desc.first.val() {
            self.a_vi.d.next = self.desc_data.val().get_bits::<DVI_W>(29);
        }
        // The wr_id word goes straight into the ring (word 2; the word count kept here, from
        // `first`, as one flag per word).
        self.wr_ids.write_address.next = self.w_head.q.val();
        self.wr_ids.write_data.next = self.desc_data.val();
        self.wr_ids.write_enable.next = false;
        if self.desc.word_valid.val() {
            self.w_word1.d.next = self.desc.first.val();
            self.w_word2.d.next = self.w_word1.q.val();
            if self.w_word2.q.val() {
                self.wr_ids.write_enable.next = true;
                self.w_head.d.next = self.w_head.q.val() + self.ring_one.val();
            }
        }
        self.xl_req_valid.next = false;
        self.xl_req_vi.next = bit_cast::<3, DVI_W>(self.a_vi.q.val());
        self.xl_req_va.next = self.desc.va.val();
        self.xl_req_shortcut.next = self.desc.shortcut.val();
        self.xl_req_length.next = self.desc.length.val();
        self.xl_rsp_ready.next = self.a_state.q.val() == PrepState::XlResponse;
        self.pages.write_enable.next = false;
        self.pages.write_address.next = self.a_pages.q.val();
        self.pages.write_data.next = self.xl_rsp_da.val().get_bits::<FRAME_W>(12);
        self.pages.read_address.next = self.a_page.q.val();
        self.pl_req_valid.next = false;
        self.pl_req_da.next = self.a_da.q.val();
        self.pl_req_vi.next = self.a_vi.q.val();
        // This burst: the rest of the page, at most BURST_BYTES.
        self.a_chunk_n.next = self.a_page_left.q.val();
        if self.a_page_left.q.val().get_bits::<4>(9).any()
            || (self.a_page_left.q.val().get_bit(8)
                && self.a_page_left.q.val().get_bits::<8>(0).any())
        {
            self.a_chunk_n.next = self.burst.val();
        }
        self.a_chunk.d.next = self.a_chunk_n.val();
        self.a_wait.d.next = false;
        self.pl_req_len.next = self.a_chunk.q.val();
        self.a_chunk_words.next =
            bit_cast::<9, PAGE_BYTES_W>((self.a_chunk.q.val() + self.three.val()) >> 2);
        self.a_issue.next = 0.into();
        self.a_room_n.next = self.page_bytes.val()
            - bit_cast::<PAGE_BYTES_W, 12>(self.desc.va.val().get_bits::<12>(0));
        self.a_first_room.d.next = self.a_room_n.val();
        self.a_first_fits.d.next = bit_cast::<MSG_W, PAGE_BYTES_W>(self.a_room_n.val())
            > self.desc.length.val().get_bits::<MSG_W>(0);
        self.a_push.next = false;
        match self.a_state.q.val() {
            PrepState::Load => {
                self.a_pushed.d.next = false;
                if self.desc.last.val() {
                    self.a_state.d.next = PrepState::Check;
                }
            }
            PrepState::Check => {
                // The checks of abi::queues::precheck, in its order.
                self.a_status.d.next = self.st_ok.val();
                self.a_state.d.next = PrepState::Push;
                if self.desc.error.val() {
                    self.a_status.d.next = self.st_dma.val();
                } else if (self.desc.opcode.val() != self.op_send.val())
                    && (self.desc.opcode.val() != self.op_nop.val())
                {
                    self.a_status.d.next = self.st_bad_opcode.val();
                } else if self.desc.opcode.val() == self.op_send.val() {
                    if !self.desc.length.val().any()
                        || self.desc.length.val().get_bits::<15>(17).any()
                        || (self.desc.length.val().get_bit(16)
                            && self.desc.length.val().get_bits::<16>(0).any())
                    {
                        self.a_status.d.next = self.st_bad_length.val();
                    } else if self.desc.va.val().get_bits::<2>(0).any() {
                        self.a_status.d.next = self.st_misaligned.val();
                    } else if self.desc.dest.val().get_bits::<6>(2).any() {
                        self.a_status.d.next = self.st_bad_dest.val();
                    } else {
                        self.a_state.d.next = PrepState::XlRequest;
                    }
                }
            }
            PrepState::XlRequest => {
                self.xl_req_valid.next = true;
                self.a_pages.d.next = 0.into();
                if self.xl_req_ready.val() {
                    self.a_state.d.next = PrepState::XlResponse;
                }
            }
            PrepState::XlResponse => {
                if self.xl_rsp_valid.val() {
                    if self.xl_rsp_status.val() == self.st_ok.val() {
                        self.pages.write_enable.next = true;
                        self.a_pages.d.next = self.a_pages.q.val() + self.page_one.val();
                        // The first page is read straight from its response.
                        if !self.a_pages.q.val().any() {
                            self.a_da.d.next = self.xl_rsp_da.val();
                            self.a_page_left.d.next = self.a_first_room.q.val();
                            self.a_wait.d.next = true;
                            if self.a_first_fits.q.val() {
                                self.a_page_left.d.next =
                                    self.desc.length.val().get_bits::<PAGE_BYTES_W>(0);
                            }
                        }
                    }
                    if self.xl_rsp_last.val() {
                        self.a_status.d.next = self.xl_rsp_status.val();
                        self.a_page.d.next = 0.into();
                        self.a_left.d.next = self.desc.length.val().get_bits::<MSG_W>(0);
                        // A good send reads its payload first; anything else is handed over.
                        if (self.xl_rsp_status.val() == self.st_ok.val())
                            && (self.desc.opcode.val() == self.op_send.val())
                        {
                            self.a_state.d.next = PrepState::Burst;
                        } else {
                            self.a_state.d.next = PrepState::Push;
                        }
                    }
                }
            }
            PrepState::PageLoad => {
                // The page RAM answers next cycle.
                self.a_state.d.next = PrepState::PageStart;
            }
            PrepState::PageStart => {
                self.a_da.d.next = bit_cast::<DA_W, FRAME_W>(self.pages.read_data.val()) << 12;
                self.a_page_left.d.next = self.page_bytes.val();
                self.a_wait.d.next = true;
                // Less than a page left.
                if !self.a_left.q.val().get_bits::<5>(12).any() {
                    self.a_page_left.d.next = self.a_left.q.val().get_bits::<PAGE_BYTES_W>(0);
                }
                self.a_state.d.next = PrepState::Burst;
            }
            PrepState::Burst => {
                if !self.a_wait.q.val() && self.a_fifo_room.q.val() {
                    self.pl_req_valid.next = true;
                    if self.pl_req_ready.val() {
                        self.a_wait.d.next = true;
                        self.a_issue.next = self.a_chunk_words.val();
                        // Within the page: only the offset moves (at the page's end the next
                        // page's address replaces it).
                        self.a_da.d.next = (self.a_da.q.val() & self.da_frame.val())
                            | bit_cast::<DA_W, 12>(
                                self.a_da.q.val().get_bits::<12>(0)
                                    + self.a_chunk.q.val().get_bits::<12>(0),
                            );
                        self.a_page_left.d.next = self.a_page_left.q.val() - self.a_chunk.q.val();
                        self.a_left.d.next = self.a_left.q.val()
                            - bit_cast::<MSG_W, PAGE_BYTES_W>(self.a_chunk.q.val());
                        if self.a_page_left.q.val() == self.a_chunk.q.val() {
                            self.a_page.d.next = self.a_page.q.val() + self.page_one.val();
                            self.a_state.d.next = PrepState::PageLoad;
                            if self.a_left.q.val()
                                == bit_cast::<MSG_W, PAGE_BYTES_W>(self.a_chunk.q.val())
                            {
                                self.a_state.d.next = PrepState::Push;
                            }
                        }
                    }
                }
            }
            PrepState::Push => {
                if self.a_pushed.q.val() {
                    self.a_state.d.next = PrepState::Load;
                }
            }
            _ => {
                self.a_state.d.next = PrepState::Load;
            }
        }
        // The descriptor goes to the transmit stage (its status with it) when the hand-off
        // register is free; a good send's payload reads go on meanwhile (so the transmit
        // stage drains a message longer than the TX FIFO while its reads go on), and the next
        // descriptor is taken once both are done.
        if ((self.a_state.q.val() == PrepState::Burst) || (self.a_state.q.val() == PrepState::Push))
            && !self.a_pushed.q.val()
        {
            self.a_push.next = !self.handed.q.val();
        }
        if self.a_push.val() {
            self.handed.d.next = true;
            self.h_length.d.next = self.desc.length.val().get_bits::<MSG_W>(0);
            self.h_dest.d.next = self.desc.dest.val();
            self.h_opcode.d.next = self.desc.opcode.val();
            self.h_status.d.next = self.a_status.q.val();
            self.a_pushed.d.next = true;
            if self.a_state.q.val() != PrepState::Burst {
                self.a_state.d.next = PrepState::Load;
            }
        }
        self.tx_fifo.in_valid.next = self.pl_rd_valid.val();
        self.tx_fifo.in_data.next = bit_cast::<33, 32>(self.pl_rd_data.val())
            | (bit_cast::<33, 1>(self.pl_rd_error.val().into()) << 32);

        // ---- Transmit ----
        self.tx_valid.next = false;
        self.tx_last.next = false;
        self.tx_data.next = self.magic.val()
            | (bit_cast::<32, DVI_W>(self.desc_meta.val().get_bits::<DVI_W>(12)) << 8)
            | bit_cast::<32, 8>(self.b_dest.q.val());
        self.tx_fifo.out_ready.next = false;
        self.tx_frame.next = false;
        self.cmp_valid.next = false;
        self.cmp_vi.next = self.desc_meta.val().get_bits::<DVI_W>(12);
        self.cmp_index.next = self.desc_meta.val().get_bits::<IDX_W>(0);
        self.wr_ids.read_address.next = self.w_tail.q.val();
        self.cmp_wr_id.next = self.wr_ids.read_data.val();
        self.cmp_peer.next = self.b_dest.q.val();
        self.cmp_opcode.next = self.b_opcode.q.val();
        self.cmp_status.next = self.b_status.q.val();
        self.cmp_bytes.next = 0.into();
        if (self.b_status.q.val() == self.st_ok.val())
            && (self.b_opcode.q.val() == self.op_send.val())
        {
            self.cmp_bytes.next = bit_cast::<32, MSG_W>(self.b_length.q.val());
        }
        self.h_sends.next = (self.h_status.q.val() == self.st_ok.val())
            && (self.h_opcode.q.val() == self.op_send.val());
        self.b_take.next = false;
        match self.b_state.q.val() {
            TxState::Idle => {
                self.b_take.next = self.handed.q.val();
            }
            TxState::Header0 => {
                self.tx_valid.next = true;
                if self.tx_ready.val() {
                    self.b_state.d.next = TxState::Header1;
                }
            }
            TxState::Header1 => {
                self.tx_valid.next = true;
                self.tx_data.next = bit_cast::<32, MSG_W>(self.b_length.q.val());
                if self.tx_ready.val() {
                    self.b_state.d.next = TxState::Payload;
                }
            }
            TxState::Payload => {
                self.tx_valid.next = self.tx_fifo.out_valid.val();
                self.tx_data.next = self.tx_fifo.out_data.val().get_bits::<32>(0);
                self.tx_last.next = self.b_words.q.val() == self.msg_one.val();
                self.tx_fifo.out_ready.next = self.tx_ready.val();
                if self.tx_fifo.out_valid.val() && self.tx_ready.val() {
                    self.b_words.d.next = self.b_words.q.val() - self.msg_one.val();
                    if self.tx_fifo.out_data.val().get_bit(32) {
                        self.b_error.d.next = true;
                    }
                    if self.b_words.q.val() == self.msg_one.val() {
                        self.tx_frame.next = true;
                        self.b_state.d.next = TxState::Complete;
                    }
                }
            }
            TxState::Complete => {
                self.cmp_valid.next = true;
                if self.b_error.q.val() {
                    self.cmp_status.next = self.st_dma.val();
                    self.cmp_bytes.next = 0.into();
                }
                if self.cmp_ready.val() {
                    // The ring's read data follows the tail a cycle late: a descriptor
                    // without a frame is taken from Idle, a cycle on, so its completion
                    // never shows the previous one's `wr_id` (a frame's header words give
                    // that cycle).
                    self.w_tail.d.next = self.w_tail.q.val() + self.ring_one.val();
                    self.b_take.next = self.handed.q.val() && self.h_sends.val();
                    self.b_state.d.next = TxState::Idle;
                }
            }
            _ => {
                self.b_state.d.next = TxState::Idle;
            }
        }
        // The metadata queue's head is the completing descriptor's: popped with the completion.
        self.desc_meta_pop.next =
            (self.b_state.q.val() == TxState::Complete) && self.cmp_ready.val();
        // The next descriptor is copied from the hand-off register as soon as the previous
        // one is done (a cycle later for one without a frame, see `Complete`; never in the
        // cycle it is handed over: a hand-over needs the last one taken).
        if self.b_take.val() {
            self.handed.d.next = false;
            self.b_length.d.next = self.h_length.q.val();
            self.b_dest.d.next = self.h_dest.q.val();
            self.b_opcode.d.next = self.h_opcode.q.val();
            self.b_status.d.next = self.h_status.q.val();
            self.b_error.d.next = false;
            self.b_words.d.next = (self.h_length.q.val() + self.msg_three.val()) >> 2;
            self.b_state.d.next = TxState::Complete;
            if self.h_sends.val() {
                self.b_state.d.next = TxState::Header0;
            }
        }
        // TX FIFO words taken by the transmit stage free room for payload reads.
        self.a_popped.d.next = self.tx_fifo.out_valid.val() && self.tx_fifo.out_ready.val();
        self.a_pop.next = 0.into();
        if self.a_popped.q.val() {
            self.a_pop.next = self.words_one.val();
        }
        self.a_used.d.next = self.a_used.q.val() + self.a_issue.val() - self.a_pop.val();
        self.a_fifo_room.d.next = self.a_used.q.val() <= self.words_burst_max.val();
        if self.reset.val() {
            self.handed.d.next = false;
            self.a_pushed.d.next = false;
            self.a_state.d.next = PrepState::Load;
            self.a_used.d.next = 0.into();
            self.a_popped.d.next = false;
            self.a_fifo_room.d.next = false;
            self.b_state.d.next = TxState::Idle;
            self.w_word1.d.next = false;
            self.w_word2.d.next = false;
            self.w_head.d.next = 0.into();
            self.w_tail.d.next = 0.into();
        }
        // Whether the next state is Load, written out from the transitions into it (a decode
        // of the next state would put the descriptor checks on the FIFO's ready).
        self.a_load.d.next = self.reset.val()
            || ((self.a_state.q.val() == PrepState::Load) && !self.desc.last.val())
            || ((self.a_state.q.val() == PrepState::Push)
                && (self.a_pushed.q.val() || !self.handed.q.val()));
    }
}

crate::clocked!(SendEngine);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};
    use abi::queues::{precheck, Descriptor, QueueKind};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::VecDeque;

    /// Device address of virtual address `va` in the test's mapping.
    const DA_OFFSET: u64 = 0x10_0000_0000;
    /// Virtual addresses with this bit fail translation.
    const UNMAPPED: u64 = 1 << 40;

    fn word_at(da: u64) -> u32 {
        (da as u32).wrapping_mul(0x9e37_79b9) ^ (da >> 20) as u32
    }

    /// The engine alone, every handshake around it stalled at random: descriptors, the
    /// translation port, payload reads and data, TX and completions. Frames and completions
    /// are compared with what `abi::queues::precheck` and the test's page mapping say.
    #[test]
    fn frames_and_completions_under_random_stalls() {
        run_engine("send-engine", false, |rng, d| match rng.gen_range(0..12) {
            0 => d.opcode = Opcode::Nop as u8,
            1 => d.opcode = 0x7f,
            2 => d.length = 0,
            3 => d.va |= 2,
            4 => d.dest = 9,
            5 => d.va |= UNMAPPED,
            _ => {}
        });
    }

    /// Mostly descriptors without a frame (NOPs, failed checks, failed translations) and
    /// short sends, with completions stalled for long stretches: the `wr_id` ring holds as
    /// many descriptors as it ever can (every descriptor from its `wr_id` word to its
    /// completion has an entry), and completions follow each other back to back.
    #[test]
    fn wr_id_ring_full_of_frameless_descriptors() {
        run_engine("send-engine-ring", true, |rng, d| {
            match rng.gen_range(0..10) {
                0..=2 => d.opcode = Opcode::Nop as u8,
                3 => d.opcode = 0x7f,
                4 => d.length = 0,
                5 => d.va |= 2,
                6 => d.dest = 9,
                7 => d.va |= UNMAPPED,
                _ => d.length = d.length % 64 + 1,
            }
        });
    }

    /// Runs 300 random descriptors through the engine, `vary` making each a NOP, a failing
    /// one or a different send; `cmp_stalls`: completions are also held off for long
    /// stretches, and the `wr_id` ring must have held all [`WR_ID_LIVE`] descriptors at some
    /// point. The completion's
    /// `wr_id` is checked in every cycle `cmp_valid` is high, not only when it is taken.
    fn run_engine(name: &str, cmp_stalls: bool, vary: fn(&mut SmallRng, &mut Descriptor)) {
        run_seeded(name, test_seed(), SendEngine::default, |b, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let n = 300;
            let descs: Vec<(Descriptor, u64)> = (0..n)
                .map(|i| {
                    let mut d = Descriptor {
                        opcode: Opcode::Send as u8,
                        dest: rng.gen_range(0..4),
                        length: rng.gen_range(1..=9000),
                        wr_id: rng.gen(),
                        va: rng.gen_range(0..1u64 << 30) & !3,
                        shortcut: rng.gen(),
                    };
                    vary(&mut rng, &mut d);
                    (d, (i as u64 & 3) << 12 | i as u64)
                })
                .collect();
            let ring = 1u64 << WR_ID_RING_W;
            let mut ring_max = 0;
            let mut cmp_hold = 0u32;
            let mut expected_cmp = VecDeque::new();
            let mut expected_frames = VecDeque::new();
            // The VIs of the translation requests, in order: every send that passes the
            // descriptor checks asks for one.
            let mut expected_xl_vi = VecDeque::new();
            for (d, meta) in &descs {
                let status = precheck(d, QueueKind::Send, 4).unwrap_or(if d.va & UNMAPPED != 0 {
                    Status::NotPresent
                } else {
                    Status::Ok
                });
                let sends = status == Status::Ok && d.opcode == Opcode::Send as u8;
                if d.opcode == Opcode::Send as u8 && precheck(d, QueueKind::Send, 4).is_none() {
                    expected_xl_vi.push_back(meta >> 12);
                }
                let bytes = if sends { d.length } else { 0 };
                expected_cmp.push_back((meta & 0xfff, d.wr_id, bytes, status.code(), d.opcode));
                if sends {
                    let mut w = abi::frames::FrameHeader {
                        dest: d.dest,
                        src: (meta >> 12) as u8,
                        length: d.length,
                    }
                    .to_words()
                    .to_vec();
                    w.extend(
                        (0..d.length.div_ceil(4))
                            .map(|k| word_at(d.va + DA_OFFSET + 4 * u64::from(k))),
                    );
                    expected_frames.push_back(w);
                }
            }
            // The next descriptor offered, its next word, and the oldest not completed (whose
            // metadata the queue shows until the completion pops it).
            let (mut di, mut wi, mut ci) = (0usize, 0usize, 0usize);
            let mut xl: VecDeque<(u64, u64, bool, u64)> = VecDeque::new(); // (ready_at, da, last, status)
            let mut reads: VecDeque<(u64, u64, u64)> = VecDeque::new(); // (ready_at, da, words)
            let mut frame = vec![];
            let mut cycles = 0u64;
            while !expected_cmp.is_empty() {
                cycles += 1;
                if cycles > 2_000_000 {
                    return Err(format!(
                        "stuck with {} completions to go",
                        expected_cmp.len()
                    ));
                }
                let now = b.cycle;
                let u = &mut b.uut;
                let offer = di < descs.len() && rng.gen_bool(0.7);
                u.desc_valid.next = offer;
                if di < descs.len() {
                    // Word 0's reserved bits carry the VI, as the fetcher writes it.
                    let mut word = u64::from(descs[di].0.to_words()[wi]);
                    if wi == 0 {
                        word |= (descs[di].1 >> 12) << DESC_VI_SHIFT;
                    }
                    u.desc_data.next = word.into();
                }
                if ci < descs.len() {
                    u.desc_meta.next = descs[ci].1.into();
                }
                let xl_ready = rng.gen_bool(0.5);
                u.xl_req_ready.next = xl_ready;
                let rsp = xl
                    .front()
                    .copied()
                    .filter(|r| r.0 <= now && rng.gen_bool(0.7));
                u.xl_rsp_valid.next = rsp.is_some();
                if let Some((_, da, last, status)) = rsp {
                    u.xl_rsp_da.next = da.into();
                    u.xl_rsp_last.next = last;
                    u.xl_rsp_status.next = status.into();
                }
                let pl_ready = rng.gen_bool(0.5);
                u.pl_req_ready.next = pl_ready;
                let word = reads
                    .front()
                    .copied()
                    .filter(|r| r.0 <= now && rng.gen_bool(0.8));
                u.pl_rd_valid.next = word.is_some();
                u.pl_rd_error.next = false;
                if let Some((_, da, _)) = word {
                    u.pl_rd_data.next = u64::from(word_at(da)).into();
                }
                let tx_ready = rng.gen_bool(0.6);
                u.tx_ready.next = tx_ready;
                let cmp_ready = if cmp_stalls && cmp_hold > 0 {
                    cmp_hold -= 1;
                    false
                } else if cmp_stalls && rng.gen_bool(0.05) {
                    cmp_hold = rng.gen_range(10..100);
                    false
                } else {
                    rng.gen_bool(0.4)
                };
                u.cmp_ready.next = cmp_ready;
                b.settle();
                let u = &b.uut;
                let used = (u.w_head.q.val().to_u64() + ring - u.w_tail.q.val().to_u64()) % ring;
                ring_max = ring_max.max(used);
                if u.cmp_valid.val() {
                    let got = u.cmp_wr_id.val().to_u64() as u32;
                    let want = expected_cmp.front().ok_or("unexpected completion")?.1;
                    if got != want {
                        return Err(format!(
                            "completion shows wr_id {got:#x}, expected {want:#x}"
                        ));
                    }
                }
                if offer && u.desc_ready.val() {
                    wi += 1;
                    if wi == 8 {
                        wi = 0;
                        di += 1;
                    }
                }
                if u.desc_meta_pop.val() != (u.cmp_valid.val() && cmp_ready) {
                    return Err("metadata popped other than with a completion".into());
                }
                if u.xl_req_valid.val() && xl_ready {
                    let want = expected_xl_vi.pop_front().ok_or("unexpected translation")?;
                    let got = u.xl_req_vi.val().to_u64();
                    if got != want {
                        return Err(format!("translation asked for VI {got}, expected {want}"));
                    }
                    let va = u.xl_req_va.val().to_u64();
                    let len = u.xl_req_length.val().to_u64();
                    let delay = now + rng.gen_range(1..30);
                    if va & UNMAPPED != 0 {
                        xl.push_back((delay, 0, true, u64::from(Status::NotPresent.code())));
                    } else {
                        let pages = abi::pages_spanned(va, len);
                        for p in 0..pages {
                            let page_va = if p == 0 { va } else { (va & !0xfff) + p * 4096 };
                            xl.push_back((delay, page_va + DA_OFFSET, p + 1 == pages, 0));
                        }
                    }
                }
                if rsp.is_some() && u.xl_rsp_ready.val() {
                    xl.pop_front();
                }
                if u.pl_req_valid.val() && pl_ready {
                    let da = u.pl_req_da.val().to_u64();
                    let len = u.pl_req_len.val().to_u64();
                    reads.push_back((now + rng.gen_range(0..40), da, len.div_ceil(4)));
                }
                if let Some((at, da, words)) = word {
                    reads.pop_front();
                    if words > 1 {
                        reads.push_front((at, da + 4, words - 1));
                    }
                }
                if u.tx_valid.val() && tx_ready {
                    frame.push(u.tx_data.val().to_u64() as u32);
                    if u.tx_last.val() {
                        let want = expected_frames.pop_front().ok_or("unexpected frame")?;
                        if frame != want {
                            return Err(format!(
                                "frame of {} words differs from the expected {}",
                                frame.len(),
                                want.len()
                            ));
                        }
                        frame.clear();
                    }
                }
                if u.cmp_valid.val() && cmp_ready {
                    let got = (
                        u.cmp_index.val().to_u64(),
                        u.cmp_wr_id.val().to_u64() as u32,
                        u.cmp_bytes.val().to_u64() as u32,
                        u.cmp_status.val().to_u64() as u8,
                        u.cmp_opcode.val().to_u64() as u8,
                    );
                    let want = expected_cmp.pop_front().expect("pending");
                    if got != want {
                        return Err(format!("completion {got:?}, expected {want:?}"));
                    }
                    let vi = u.cmp_vi.val().to_u64();
                    if vi != descs[ci].1 >> 12 {
                        return Err(format!(
                            "completion for VI {vi}, expected {}",
                            descs[ci].1 >> 12
                        ));
                    }
                    ci += 1;
                }
                b.tick();
            }
            if !expected_frames.is_empty() {
                return Err(format!("{} frames never sent", expected_frames.len()));
            }
            if cmp_stalls && ring_max < WR_ID_LIVE as u64 {
                return Err(format!(
                    "the wr_id ring held at most {ring_max} of {WR_ID_LIVE} descriptors"
                ));
            }
            Ok(())
        });
    }
}
