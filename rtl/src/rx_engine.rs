//! `RxEngine`: the receive half of the DMA engine. Frames in; payloads written into the
//! buffers of the destination VI's receive descriptors, one completion per frame taken.
//!
//! One frame at a time: the header is checked (`abi::frames`: magic, length, a VI of the
//! device) — a malformed frame is drained and counted (`rx_bad`). The queue manager then
//! grants the VI's next receive descriptor or refuses (VI closed, RQ empty, CQ full: the frame
//! is drained, counted there). The descriptor is read and checked like a send's (opcode
//! `recv`, length, alignment, and `buffer_too_small` when the frame does not fit), the first
//! `length` bytes of its buffer are translated for a device write, and each translated page is
//! written straight from the RX stream. A frame whose `last` comes early or late ends with
//! `bad_frame` (a write already requested is completed with zero words, inside the buffer);
//! any failure drains the rest of the frame and of the translation, then completes.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `rx_*` | | in | frames: `valid/ready`, `data`, `last` |
//! | `rq_query`, `rq_vi` | 1, 2 | out | ask for the VI's next receive descriptor |
//! | `rq_answer`, `rq_granted`, `rq_da`, `rq_index` | | in | the answer |
//! | `rd_req_*`, `rd_rd_*` | | out, in | the receive descriptor's read (32 bytes) and its words |
//! | `dma_vi`, `dma_da` | 2, 40 | out | VI of the engine's DMA accesses (the frame's destination); the address of the descriptor read or payload write requested (one register: never both at once) |
//! | `xl_req_*`, `xl_rsp_*` | | out, in | translation of the buffer (a device write) |
//! | `wr_req_*` | | out | payload writes: `valid/ready`, `len` bytes (the address on `dma_da`) |
//! | `wr_*` | | out | their data: `valid/ready`, `data`, `last` |
//! | `cmp_*` | | out | the completion, held until `cmp_ready` |
//! | `rx_frame`, `rx_bad` | 1 | out | counter strobes: a frame took a descriptor; a malformed frame was dropped |

use abi::frames::{FRAME_MAGIC, FRAME_MAGIC_SHIFT};

const _: () = assert!(FRAME_MAGIC_SHIFT == 16);
use abi::queues::{Opcode, DESC_BYTES, MAX_MESSAGE_LEN};
use abi::Status;
use rust_hdl::prelude::*;

use crate::consts::{konst, status_const, DA_W, PAGE_BYTES_W, STATUS_W};
use crate::descriptor_regs::DescriptorRegs;
use crate::queue_manager::{DMA_LEN_W, DVI_W, IDX_W};
use crate::send_engine::MSG_W;
use crate::with_defaults;

// Length and destination checks are bit tests: above 2^16 bytes, a VI of 4 or more.
const _: () = assert!(MAX_MESSAGE_LEN == 1 << 16 && abi::DEVICE_VIS == 4);

/// Width of the sum that turns a header's byte count into words.
const RX_WORDS_W: usize = MSG_W + 1;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum RxState {
    Header0,
    Header1,
    Drain,
    Query,
    DescRequest,
    DescWait,
    DescCheck,
    XlRequest,
    XlWait,
    WriteRequest,
    WriteData,
    Pad,
    Finish,
    Complete,
}

/// The receive engine (see the module documentation).
#[derive(LogicBlock)]
pub struct RxEngine {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Frame word valid.
    pub rx_valid: Signal<In, Bit>,
    /// Frame word taken.
    pub rx_ready: Signal<Out, Bit>,
    /// The word.
    pub rx_data: Signal<In, Bits<32>>,
    /// Last word of the frame.
    pub rx_last: Signal<In, Bit>,
    /// Ask for a receive descriptor.
    pub rq_query: Signal<Out, Bit>,
    /// Of this VI.
    pub rq_vi: Signal<Out, Bits<DVI_W>>,
    /// The answer is here.
    pub rq_answer: Signal<In, Bit>,
    /// A descriptor is granted.
    pub rq_granted: Signal<In, Bit>,
    /// Its device address.
    pub rq_da: Signal<In, Bits<DA_W>>,
    /// Its queue index.
    pub rq_index: Signal<In, Bits<IDX_W>>,
    /// Descriptor read request.
    pub rd_req_valid: Signal<Out, Bit>,
    /// Descriptor read taken.
    pub rd_req_ready: Signal<In, Bit>,
    /// Bytes.
    pub rd_req_len: Signal<Out, Bits<DMA_LEN_W>>,
    /// VI of the access (the frame's destination).
    pub dma_vi: Signal<Out, Bits<DVI_W>>,
    /// Device address of the descriptor read or of the payload write requested.
    pub dma_da: Signal<Out, Bits<DA_W>>,
    /// Descriptor word.
    pub rd_rd_valid: Signal<In, Bit>,
    /// The word.
    pub rd_rd_data: Signal<In, Bits<32>>,
    /// The read failed.
    pub rd_rd_error: Signal<In, Bit>,
    /// Translation request.
    pub xl_req_valid: Signal<Out, Bit>,
    /// Translation request taken.
    pub xl_req_ready: Signal<In, Bit>,
    /// VI.
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
    /// Bytes in this page.
    pub xl_rsp_bytes: Signal<In, Bits<PAGE_BYTES_W>>,
    /// Last response.
    pub xl_rsp_last: Signal<In, Bit>,
    /// Payload write request.
    pub wr_req_valid: Signal<Out, Bit>,
    /// Payload write taken.
    pub wr_req_ready: Signal<In, Bit>,
    /// Bytes.
    pub wr_req_len: Signal<Out, Bits<DMA_LEN_W>>,
    /// Write data valid.
    pub wr_valid: Signal<Out, Bit>,
    /// Write data taken.
    pub wr_ready: Signal<In, Bit>,
    /// The word.
    pub wr_data: Signal<Out, Bits<32>>,
    /// Last word of the write.
    pub wr_last: Signal<Out, Bit>,
    /// Completion valid.
    pub cmp_valid: Signal<Out, Bit>,
    /// Completion written.
    pub cmp_ready: Signal<In, Bit>,
    /// VI.
    pub cmp_vi: Signal<Out, Bits<DVI_W>>,
    /// `wr_id`.
    pub cmp_wr_id: Signal<Out, Bits<32>>,
    /// Bytes received.
    pub cmp_bytes: Signal<Out, Bits<32>>,
    /// Queue index.
    pub cmp_index: Signal<Out, Bits<IDX_W>>,
    /// Source VI.
    pub cmp_peer: Signal<Out, Bits<8>>,
    /// Opcode byte of the receive descriptor.
    pub cmp_opcode: Signal<Out, Bits<8>>,
    /// Status.
    pub cmp_status: Signal<Out, Bits<STATUS_W>>,
    /// A frame took a receive descriptor.
    pub rx_frame: Signal<Out, Bit>,
    /// A malformed frame was dropped.
    pub rx_bad: Signal<Out, Bit>,

    desc: DescriptorRegs,
    state: DFF<RxState>,
    dest: DFF<Bits<8>>,
    src: DFF<Bits<8>>,
    magic_ok: DFF<Bit>,
    length: DFF<Bits<MSG_W>>,
    index: DFF<Bits<IDX_W>>,
    da: DFF<Bits<DA_W>>,
    status: DFF<Bits<STATUS_W>>,
    page_last: DFF<Bit>,
    bytes: DFF<Bits<PAGE_BYTES_W>>,
    words: DFF<Bits<PAGE_BYTES_W>>,
    // `words == 1`, registered from the count's next value.
    words_one: DFF<Bit>,
    frame_words: DFF<Bits<MSG_W>>,
    seen_last: DFF<Bit>,
    xl_open: DFF<Bit>,
    rx_words: Signal<Local, Bits<RX_WORDS_W>>,

    op_recv: Constant<Bits<8>>,
    magic: Constant<Bits<16>>,
    desc_len: Constant<Bits<DMA_LEN_W>>,
    pb_three: Constant<Bits<PAGE_BYTES_W>>,
    pb_one: Constant<Bits<PAGE_BYTES_W>>,
    msg_three: Constant<Bits<RX_WORDS_W>>,
    msg_one: Constant<Bits<MSG_W>>,
    st_ok: Constant<Bits<STATUS_W>>,
    st_bad_opcode: Constant<Bits<STATUS_W>>,
    st_bad_length: Constant<Bits<STATUS_W>>,
    st_misaligned: Constant<Bits<STATUS_W>>,
    st_too_small: Constant<Bits<STATUS_W>>,
    st_bad_frame: Constant<Bits<STATUS_W>>,
    st_dma: Constant<Bits<STATUS_W>>,
}

impl Default for RxEngine {
    fn default() -> Self {
        with_defaults!(RxEngine {
            op_recv: konst(Opcode::Recv as u64),
            magic: konst(u64::from(FRAME_MAGIC)),
            desc_len: konst(DESC_BYTES),
            pb_three: konst(3),
            pb_one: konst(1),
            msg_three: konst(3),
            msg_one: konst(1),
            st_ok: status_const(Status::Ok),
            st_bad_opcode: status_const(Status::BadOpcode),
            st_bad_length: status_const(Status::BadLength),
            st_misaligned: status_const(Status::Misaligned),
            st_too_small: status_const(Status::BufferTooSmall),
            st_bad_frame: status_const(Status::BadFrame),
            st_dma: status_const(Status::DmaError),
        } defaults {
            clock, reset, rx_valid, rx_ready, rx_data, rx_last, rq_query, rq_vi, rq_answer,
            rq_granted, rq_da, rq_index, rd_req_valid, rd_req_ready, rd_req_len, dma_vi, dma_da,
            rd_rd_valid, rd_rd_data, rd_rd_error, xl_req_valid, xl_req_ready, xl_req_vi,
            xl_req_va, xl_req_shortcut, xl_req_length, xl_rsp_valid, xl_rsp_ready,
            xl_rsp_status, xl_rsp_da, xl_rsp_bytes, xl_rsp_last, wr_req_valid, wr_req_ready,
            wr_req_len, wr_valid, wr_ready, wr_data, wr_last, cmp_valid, cmp_ready,
            cmp_vi, cmp_wr_id, cmp_bytes, cmp_index, cmp_peer, cmp_opcode, cmp_status, rx_frame,
            rx_bad, state, dest, src, magic_ok, length, index, da, desc, status, page_last, bytes, words, words_one, frame_words,
            seen_last, xl_open, rx_words
        })
    }
}

impl Logic for RxEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            dest,
            src,
            magic_ok,
            length,
            index,
            da,
            status,
            page_last,
            bytes,
            words,
            words_one,
            frame_words,
            seen_last,
            xl_open
        );
        // Payload words announced by a header's length word (exact for every length
        // accepted, at most MAX_MESSAGE_LEN).
        self.rx_words.next =
            (self.rx_data.val().get_bits::<RX_WORDS_W>(0) + self.msg_three.val()) >> 2;
        self.desc.clock.next = self.clock.val();
        self.desc.reset.next = self.reset.val();
        // Read data comes only for the descriptor read, in `DescWait`: the state stays off
        // the words' path (and the state's enable off the state).
        self.desc.word_valid.next = self.rd_rd_valid.val();
        self.desc.word_data.next = self.rd_rd_data.val();
        self.desc.word_error.next = self.rd_rd_error.val();
        self.rx_ready.next = false;
        self.rq_query.next = false;
        self.rq_vi.next = self.dest.q.val().get_bits::<DVI_W>(0);
        self.rd_req_valid.next = false;
        self.dma_da.next = self.da.q.val();
        self.rd_req_len.next = self.desc_len.val();
        self.dma_vi.next = self.dest.q.val().get_bits::<DVI_W>(0);
        self.xl_req_valid.next = false;
        self.xl_req_vi.next = bit_cast::<3, DVI_W>(self.dest.q.val().get_bits::<DVI_W>(0));
        self.xl_req_va.next = self.desc.va.val();
        self.xl_req_shortcut.next = self.desc.shortcut.val();
        self.xl_req_length.next = bit_cast::<32, MSG_W>(self.length.q.val());
        self.xl_rsp_ready.next = false;
        self.wr_req_valid.next = false;
        self.wr_req_len.next = self.bytes.q.val();
        self.wr_valid.next = false;
        self.wr_data.next = self.rx_data.val();
        self.wr_last.next = self.words_one.q.val();
        self.cmp_valid.next = false;
        self.cmp_vi.next = self.dest.q.val().get_bits::<DVI_W>(0);
        self.cmp_wr_id.next = self.desc.wr_id.val();
        self.cmp_bytes.next = 0.into();
        if self.status.q.val() == self.st_ok.val() {
            self.cmp_bytes.next = bit_cast::<32, MSG_W>(self.length.q.val());
        }
        self.cmp_index.next = self.index.q.val();
        self.cmp_peer.next = self.src.q.val();
        self.cmp_opcode.next = self.desc.opcode.val();
        self.cmp_status.next = self.status.q.val();
        self.rx_frame.next = false;
        self.rx_bad.next = false;
        match self.state.q.val() {
            RxState::Header0 => {
                self.rx_ready.next = true;
                if self.rx_valid.val() {
                    self.dest.d.next = self.rx_data.val().get_bits::<8>(0);
                    self.src.d.next = self.rx_data.val().get_bits::<8>(8);
                    self.magic_ok.d.next =
                        self.rx_data.val().get_bits::<16>(16) == self.magic.val();
                    if self.rx_last.val() {
                        self.rx_bad.next = true;
                    } else {
                        self.state.d.next = RxState::Header1;
                    }
                }
            }
            RxState::Header1 => {
                self.rx_ready.next = true;
                if self.rx_valid.val() {
                    // Kept only when at most MAX_MESSAGE_LEN (else the frame is dropped).
                    self.length.d.next = self.rx_data.val().get_bits::<MSG_W>(0);
                    self.frame_words.d.next = self.rx_words.val().get_bits::<MSG_W>(0);
                    if self.rx_last.val() {
                        self.rx_bad.next = true;
                        self.state.d.next = RxState::Header0;
                    } else if !self.magic_ok.q.val()
                        || !self.rx_data.val().any()
                        || self.rx_data.val().get_bits::<15>(17).any()
                        || (self.rx_data.val().get_bit(16)
                            && self.rx_data.val().get_bits::<16>(0).any())
                        || self.dest.q.val().get_bits::<6>(2).any()
                    {
                        self.rx_bad.next = true;
                        self.state.d.next = RxState::Drain;
                    } else {
                        self.state.d.next = RxState::Query;
                    }
                }
            }
            RxState::Drain => {
                self.rx_ready.next = true;
                if self.rx_valid.val() && self.rx_last.val() {
                    self.state.d.next = RxState::Header0;
                }
            }
            RxState::Query => {
                self.rq_query.next = true;
                if self.rq_answer.val() {
                    self.da.d.next = self.rq_da.val();
                    self.index.d.next = self.rq_index.val();
                    self.state.d.next = RxState::Drain;
                    if self.rq_granted.val() {
                        self.state.d.next = RxState::DescRequest;
                    }
                }
            }
            RxState::DescRequest => {
                self.rd_req_valid.next = true;
                self.seen_last.d.next = false;
                self.xl_open.d.next = false;
                if self.rd_req_ready.val() {
                    self.state.d.next = RxState::DescWait;
                }
            }
            RxState::DescWait => {
                if self.desc.last.val() {
                    self.state.d.next = RxState::DescCheck;
                }
            }
            RxState::DescCheck => {
                self.state.d.next = RxState::Finish;
                self.status.d.next = self.st_ok.val();
                if self.desc.error.val() {
                    self.status.d.next = self.st_dma.val();
                } else if self.desc.opcode.val() != self.op_recv.val() {
                    self.status.d.next = self.st_bad_opcode.val();
                } else if !self.desc.length.val().any()
                    || self.desc.length.val().get_bits::<15>(17).any()
                    || (self.desc.length.val().get_bit(16)
                        && self.desc.length.val().get_bits::<16>(0).any())
                {
                    self.status.d.next = self.st_bad_length.val();
                } else if self.desc.va.val().get_bits::<2>(0).any() {
                    self.status.d.next = self.st_misaligned.val();
                } else if bit_cast::<32, MSG_W>(self.length.q.val()) > self.desc.length.val() {
                    self.status.d.next = self.st_too_small.val();
                } else {
                    self.state.d.next = RxState::XlRequest;
                }
            }
            RxState::XlRequest => {
                self.xl_req_valid.next = true;
                if self.xl_req_ready.val() {
                    self.xl_open.d.next = true;
                    self.state.d.next = RxState::XlWait;
                }
            }
            RxState::XlWait => {
                self.xl_rsp_ready.next = true;
                if self.xl_rsp_valid.val() {
                    if self.xl_rsp_last.val() {
                        self.xl_open.d.next = false;
                    }
                    self.page_last.d.next = self.xl_rsp_last.val();
                    self.da.d.next = self.xl_rsp_da.val();
                    self.bytes.d.next = self.xl_rsp_bytes.val();
                    self.words.d.next = (self.xl_rsp_bytes.val() + self.pb_three.val()) >> 2;
                    if self.xl_rsp_status.val() == self.st_ok.val() {
                        self.state.d.next = RxState::WriteRequest;
                    } else {
                        self.status.d.next = self.xl_rsp_status.val();
                        self.state.d.next = RxState::Finish;
                    }
                }
            }
            RxState::WriteRequest => {
                self.wr_req_valid.next = true;
                if self.wr_req_ready.val() {
                    self.state.d.next = RxState::WriteData;
                }
            }
            RxState::WriteData => {
                self.wr_valid.next = self.rx_valid.val();
                self.rx_ready.next = self.wr_ready.val();
                if self.rx_valid.val() && self.wr_ready.val() {
                    self.words.d.next = self.words.q.val() - self.pb_one.val();
                    self.frame_words.d.next = self.frame_words.q.val() - self.msg_one.val();
                    if self.rx_last.val() {
                        self.seen_last.d.next = true;
                    }
                    if self.rx_last.val() && (self.frame_words.q.val() != self.msg_one.val()) {
                        // The frame ended early: complete the write with zeros.
                        self.status.d.next = self.st_bad_frame.val();
                        self.state.d.next = RxState::Pad;
                        if self.words_one.q.val() {
                            self.state.d.next = RxState::Finish;
                        }
                    } else if self.words_one.q.val() {
                        self.state.d.next = RxState::XlWait;
                        if self.page_last.q.val() {
                            self.state.d.next = RxState::Finish;
                            if !self.rx_last.val() {
                                // More words than the header announced.
                                self.status.d.next = self.st_bad_frame.val();
                            }
                        }
                    }
                }
            }
            RxState::Pad => {
                self.wr_valid.next = true;
                self.wr_data.next = 0.into();
                if self.wr_ready.val() {
                    self.words.d.next = self.words.q.val() - self.pb_one.val();
                    if self.words_one.q.val() {
                        self.state.d.next = RxState::Finish;
                    }
                }
            }
            RxState::Finish => {
                // Whatever is left of the frame and of the translation is dropped.
                self.rx_ready.next = !self.seen_last.q.val();
                self.xl_rsp_ready.next = self.xl_open.q.val();
                if self.rx_valid.val() && self.rx_last.val() {
                    self.seen_last.d.next = true;
                }
                if self.xl_rsp_valid.val() && self.xl_rsp_last.val() {
                    self.xl_open.d.next = false;
                }
                if self.seen_last.q.val() && !self.xl_open.q.val() {
                    self.state.d.next = RxState::Complete;
                }
            }
            RxState::Complete => {
                self.cmp_valid.next = true;
                if self.cmp_ready.val() {
                    self.rx_frame.next = true;
                    self.state.d.next = RxState::Header0;
                }
            }
            _ => {
                self.state.d.next = RxState::Header0;
            }
        }
        if self.reset.val() {
            self.state.d.next = RxState::Header0;
        }
        self.words_one.d.next = self.words.d.val() == self.pb_one.val();
    }
}

crate::clocked!(RxEngine);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed};
    use abi::frames::frame_words;
    use abi::queues::Descriptor;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::{HashMap, VecDeque};

    const DA_OFFSET: u64 = 0x20_0000_0000;
    const UNMAPPED: u64 = 1 << 40;

    /// What a frame must end in.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        /// Malformed header: dropped and counted.
        Bad,
        /// No receive descriptor granted: dropped.
        Refused,
        /// A completion with this status; for `Ok`, the payload at this buffer address.
        Done(Status, u64, Vec<u8>),
    }

    /// The engine alone, every handshake around it stalled at random: frames, receive
    /// grants, descriptor reads, the translation port, payload writes and completions.
    #[test]
    fn receives_under_random_stalls() {
        run_seeded("rx-engine", test_seed(), RxEngine::default, |b, seed| {
            let mut rng = SmallRng::seed_from_u64(seed);
            let mut words: VecDeque<(u32, bool)> = VecDeque::new();
            let mut outcomes = VecDeque::new();
            let mut descs = VecDeque::new();
            for i in 0..150u32 {
                let len = rng.gen_range(1..=9000usize);
                let payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
                let dest = rng.gen_range(0..4u8);
                let mut w = frame_words(dest, 1, &payload);
                let kind = rng.gen_range(0..10);
                if kind == 0 {
                    w[0] ^= 1 << 20; // bad magic
                    outcomes.push_back(Outcome::Bad);
                } else if kind == 1 {
                    outcomes.push_back(Outcome::Refused);
                } else {
                    let va = (u64::from(i) << 16) & !3;
                    let mut d = Descriptor {
                        opcode: Opcode::Recv as u8,
                        length: len as u32 + rng.gen_range(0..100),
                        wr_id: i,
                        va,
                        ..Default::default()
                    };
                    let status = match kind {
                        2 => {
                            d.opcode = 9;
                            Status::BadOpcode
                        }
                        3 => {
                            d.length = len as u32 - 1;
                            if len == 1 {
                                Status::BadLength
                            } else {
                                Status::BufferTooSmall
                            }
                        }
                        4 => {
                            d.va |= UNMAPPED;
                            Status::NotPresent
                        }
                        _ => Status::Ok,
                    };
                    descs.push_back(d);
                    outcomes.push_back(Outcome::Done(status, va, payload));
                }
                let n = w.len();
                words.extend(w.into_iter().enumerate().map(|(k, x)| (x, k + 1 == n)));
            }
            let grants: Vec<bool> = outcomes
                .iter()
                .filter(|o| **o != Outcome::Bad)
                .map(|o| *o != Outcome::Refused)
                .collect();
            let mut grant_i = 0;
            let mut answer_at: Option<u64> = None;
            let mut quiet = false;
            let mut desc_reads: VecDeque<(u64, [u32; 8], usize)> = VecDeque::new();
            let mut xl: VecDeque<(u64, u64, u64, bool, u64)> = VecDeque::new(); // at, da, bytes, last, status
            let mut writes: VecDeque<(u64, u64)> = VecDeque::new(); // da, words left
            let mut mem: HashMap<u64, u32> = HashMap::new();
            let mut bad = 0;
            let mut cycles = 0u64;
            let mut pending_desc = VecDeque::new();
            while outcomes.iter().any(|o| matches!(o, Outcome::Done(..))) || !words.is_empty() {
                cycles += 1;
                if cycles > 3_000_000 {
                    return Err(format!("stuck: {} words left", words.len()));
                }
                let now = b.cycle;
                let u = &mut b.uut;
                let rx = words.front().copied().filter(|_| rng.gen_bool(0.7));
                u.rx_valid.next = rx.is_some();
                if let Some((w, last)) = rx {
                    u.rx_data.next = u64::from(w).into();
                    u.rx_last.next = last;
                }
                let answer = answer_at == Some(now);
                u.rq_answer.next = answer;
                u.rq_granted.next = answer && grants[grant_i];
                u.rq_da.next = 0x1000.into();
                u.rq_index.next = (grant_i as u64).into();
                let rd_ready = rng.gen_bool(0.5);
                u.rd_req_ready.next = rd_ready;
                let rd = desc_reads
                    .front()
                    .copied()
                    .filter(|r| r.0 <= now && rng.gen_bool(0.7));
                u.rd_rd_valid.next = rd.is_some();
                u.rd_rd_error.next = false;
                if let Some((_, d, k)) = rd {
                    u.rd_rd_data.next = u64::from(d[k]).into();
                }
                let xl_ready = rng.gen_bool(0.5);
                u.xl_req_ready.next = xl_ready;
                let rsp = xl
                    .front()
                    .copied()
                    .filter(|r| r.0 <= now && rng.gen_bool(0.7));
                u.xl_rsp_valid.next = rsp.is_some();
                if let Some((_, da, bytes, last, status)) = rsp {
                    u.xl_rsp_da.next = da.into();
                    u.xl_rsp_bytes.next = bytes.into();
                    u.xl_rsp_last.next = last;
                    u.xl_rsp_status.next = status.into();
                }
                let wr_req_ready = rng.gen_bool(0.5);
                u.wr_req_ready.next = wr_req_ready;
                let wr_ready = !writes.is_empty() && rng.gen_bool(0.6);
                u.wr_ready.next = wr_ready;
                let cmp_ready = rng.gen_bool(0.5);
                u.cmp_ready.next = cmp_ready;
                b.settle();
                let u = &b.uut;
                if rx.is_some() && u.rx_ready.val() {
                    words.pop_front();
                }
                if u.rx_bad.val() {
                    bad += 1;
                    if outcomes.pop_front() != Some(Outcome::Bad) {
                        return Err("a good frame was counted as malformed".into());
                    }
                }
                if answer {
                    if !grants[grant_i] {
                        if outcomes.pop_front() != Some(Outcome::Refused) {
                            return Err("refusal out of order".into());
                        }
                    } else {
                        pending_desc.push_back(descs.pop_front().expect("descriptor"));
                    }
                    grant_i += 1;
                    answer_at = None;
                    quiet = true;
                } else if u.rq_query.val() && answer_at.is_none() && !quiet {
                    answer_at = Some(now + rng.gen_range(1..6));
                } else {
                    quiet = false;
                }
                if u.rd_req_valid.val() && rd_ready {
                    let d: Descriptor = pending_desc
                        .pop_front()
                        .ok_or("descriptor read without a grant")?;
                    desc_reads.push_back((now + rng.gen_range(1..30), d.to_words(), 0));
                }
                if let Some((at, d, k)) = rd {
                    desc_reads.pop_front();
                    if k < 7 {
                        desc_reads.push_front((at, d, k + 1));
                    }
                }
                if u.xl_req_valid.val() && xl_ready {
                    let va = u.xl_req_va.val().to_u64();
                    let len = u.xl_req_length.val().to_u64();
                    let at = now + rng.gen_range(1..30);
                    if va & UNMAPPED != 0 {
                        xl.push_back((at, 0, 0, true, u64::from(Status::NotPresent.code())));
                    } else {
                        abi::translator::for_each_page(va, len, |page_va, bytes| {
                            xl.push_back((at, page_va + DA_OFFSET, u64::from(bytes), false, 0));
                        });
                        xl.back_mut().expect("a page").3 = true;
                    }
                }
                if rsp.is_some() && u.xl_rsp_ready.val() {
                    xl.pop_front();
                }
                if u.wr_req_valid.val() && wr_req_ready {
                    let len = u.wr_req_len.val().to_u64();
                    writes.push_back((u.dma_da.val().to_u64(), len.div_ceil(4)));
                }
                if wr_ready && u.wr_valid.val() {
                    let (da, left) = writes.pop_front().expect("write");
                    mem.insert(da, u.wr_data.val().to_u64() as u32);
                    if u.wr_last.val() != (left == 1) {
                        return Err("write data `last` misplaced".into());
                    }
                    if left > 1 {
                        writes.push_front((da + 4, left - 1));
                    }
                }
                if u.cmp_valid.val() && cmp_ready {
                    let Some(Outcome::Done(status, va, payload)) = outcomes.pop_front() else {
                        return Err("completion for a dropped frame".into());
                    };
                    let got = u.cmp_status.val().to_u64() as u8;
                    if got != status.code()
                        || u.cmp_bytes.val().to_u64()
                            != if status == Status::Ok {
                                payload.len() as u64
                            } else {
                                0
                            }
                    {
                        return Err(format!("completion status {got}, expected {status:?}"));
                    }
                    if status == Status::Ok {
                        for (k, chunk) in payload.chunks(4).enumerate() {
                            let w = mem
                                .get(&(va + DA_OFFSET + 4 * k as u64))
                                .copied()
                                .unwrap_or(!0);
                            if w.to_le_bytes()[..chunk.len()] != *chunk {
                                return Err(format!(
                                    "payload word {k} of {} bytes differs",
                                    payload.len()
                                ));
                            }
                        }
                    }
                }
                b.tick();
            }
            if bad == 0 {
                return Err("no malformed frame was generated".into());
            }
            Ok(())
        });
    }
}
