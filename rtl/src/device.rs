//! `Device`: the skipwalk device — the translation core, the queue manager, the send and
//! receive engines, and the host port of DESIGN.md, its only link to the host.
//!
//! Inside, besides the blocks: the MMIO decoder (the translation core's registers go to its
//! configuration port, the rest to the [`QueueManager`]; one read in flight at a time), the
//! arbiter of the translation core (the receive engine first; the engine whose request
//! the core sees is a register, so a turn to the other engine costs a cycle; responses
//! return to the requester in order), the completion arbiter (the receive engine first, its
//! pick a register too), the DMA arbiter (one registered request stage, taking a request only
//! when empty, from the client granted a cycle ahead by fixed priority: table reads, receive
//! descriptors, CQ writes, receive payload, descriptor fetches, send payload; one write's data
//! at a time), the adapter that assembles 64-bit table entries from two read
//! words, and the network loopback (through one register: a word every two cycles).
//!
//! ## Host port
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `clock`, `reset` | 1 | in | clock; synchronous reset |
//! | `mmio_req_valid/ready` | 1 | in/out | a register access (taken at the earliest the cycle after it is offered) |
//! | `mmio_req_write` | 1 | in | write (else read) |
//! | `mmio_req_addr` | 20 | in | byte address (`abi::regs`) |
//! | `mmio_req_wdata` | 32 | in | value written |
//! | `mmio_rsp_valid/ready` | 1 | out/in | read data |
//! | `mmio_rsp_data` | 32 | out | the value read |
//! | `dma_req_valid/ready` | 1 | out/in | a DMA request |
//! | `dma_req_write` | 1 | out | write (else read) |
//! | `dma_req_da` | 40 | out | device address, a multiple of 4 |
//! | `dma_req_len` | 13 | out | bytes, 1 to 4096 |
//! | `dma_req_tag` | 12 | out | client (11:8), VI (7:4), walker tag (3:0); returned with read data |
//! | `dma_wr_valid/ready` | 1 | out/in | write data: `ceil(len / 4)` words per write, in request order |
//! | `dma_wr_data`, `dma_wr_last` | 32, 1 | out | the word; last word of its write |
//! | `dma_rd_valid/ready` | 1 | in/out | read data: `ceil(len / 4)` words per read, reads answered in request order |
//! | `dma_rd_data`, `dma_rd_tag` | 32, 12 | in | the word; its request's tag |
//! | `dma_rd_last`, `dma_rd_error` | 1, 1 | in | last word of its read; the read failed |
//! | `event_valid/ready`, `event_vi` | 1, 1, 8 | out/in, out | a completion reached an armed CQ |
//! | `tx_valid/ready`, `tx_data`, `tx_last` | | out | frames sent |
//! | `rx_valid/ready`, `rx_data`, `rx_last` | | in | frames received |
//!
//! `dma_rd_ready` is always high: every read is issued only when its data has room.

use rust_hdl::prelude::*;

use crate::consts::{konst, DA_W, PAGE_BYTES_W, STATUS_W, TAG_W};
use crate::queue_manager::{QueueManager, DMA_LEN_W, DVI_W};
use crate::rx_engine::RxEngine;
use crate::send_engine::SendEngine;
use crate::translator::Translator;
use crate::with_defaults;

/// DMA tags: bits 11:8 name the client, 7:4 the VI the access is for (0 for table reads),
/// 3:0 the walker's tag for table reads.
pub const DMA_TAG_W: usize = 12;
/// Client of descriptor fetches.
pub const CLIENT_FETCH: u64 = 0;
/// Client of table reads (bits 3:0 carry the walker's tag).
pub const CLIENT_TABLE: u64 = 1;
/// Client of send payload reads.
pub const CLIENT_PAYLOAD: u64 = 2;
/// Client of receive-descriptor reads.
pub const CLIENT_RECV_DESC: u64 = 3;
/// Client of receive payload writes.
pub const CLIENT_RECV_DATA: u64 = 4;
/// Client of completion writes.
pub const CLIENT_CQ: u64 = 5;

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum WriteOwner {
    None,
    Recv,
    Cq,
}

/// The device (see the module documentation).
#[derive(LogicBlock)]
pub struct Device {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// Register access offered.
    pub mmio_req_valid: Signal<In, Bit>,
    /// Register access taken.
    pub mmio_req_ready: Signal<Out, Bit>,
    /// Write (else read).
    pub mmio_req_write: Signal<In, Bit>,
    /// Byte address.
    pub mmio_req_addr: Signal<In, Bits<20>>,
    /// Value written.
    pub mmio_req_wdata: Signal<In, Bits<32>>,
    /// Read data valid.
    pub mmio_rsp_valid: Signal<Out, Bit>,
    /// Read data taken.
    pub mmio_rsp_ready: Signal<In, Bit>,
    /// Read data.
    pub mmio_rsp_data: Signal<Out, Bits<32>>,
    /// DMA request valid.
    pub dma_req_valid: Signal<Out, Bit>,
    /// DMA request taken.
    pub dma_req_ready: Signal<In, Bit>,
    /// Write (else read).
    pub dma_req_write: Signal<Out, Bit>,
    /// Device address.
    pub dma_req_da: Signal<Out, Bits<DA_W>>,
    /// Bytes.
    pub dma_req_len: Signal<Out, Bits<DMA_LEN_W>>,
    /// Tag.
    pub dma_req_tag: Signal<Out, Bits<DMA_TAG_W>>,
    /// Write data valid.
    pub dma_wr_valid: Signal<Out, Bit>,
    /// Write data taken.
    pub dma_wr_ready: Signal<In, Bit>,
    /// Write data.
    pub dma_wr_data: Signal<Out, Bits<32>>,
    /// Last word of a write.
    pub dma_wr_last: Signal<Out, Bit>,
    /// Read data valid.
    pub dma_rd_valid: Signal<In, Bit>,
    /// Read data taken (always).
    pub dma_rd_ready: Signal<Out, Bit>,
    /// Read data.
    pub dma_rd_data: Signal<In, Bits<32>>,
    /// Tag of the read.
    pub dma_rd_tag: Signal<In, Bits<DMA_TAG_W>>,
    /// Last word of the read.
    pub dma_rd_last: Signal<In, Bit>,
    /// The read failed.
    pub dma_rd_error: Signal<In, Bit>,
    /// Event valid.
    pub event_valid: Signal<Out, Bit>,
    /// Event taken.
    pub event_ready: Signal<In, Bit>,
    /// VI of the event.
    pub event_vi: Signal<Out, Bits<8>>,
    /// Frame word out.
    pub tx_valid: Signal<Out, Bit>,
    /// Frame word taken.
    pub tx_ready: Signal<In, Bit>,
    /// The word.
    pub tx_data: Signal<Out, Bits<32>>,
    /// Last word of a frame.
    pub tx_last: Signal<Out, Bit>,
    /// Frame word in.
    pub rx_valid: Signal<In, Bit>,
    /// Frame word taken.
    pub rx_ready: Signal<Out, Bit>,
    /// The word.
    pub rx_data: Signal<In, Bits<32>>,
    /// Last word of a frame.
    pub rx_last: Signal<In, Bit>,

    translator: Translator,
    qm: QueueManager,
    send: SendEngine,
    recv: RxEngine,

    // MMIO decoder.
    m_to_xl: Signal<Local, Bit>,
    m_read_pending: DFF<Bit>,
    // The access is offered to the translation core (or the queue manager) from these
    // registers, a cycle after it arrived: the address decode and the read-in-flight check
    // stay off the blocks' paths.
    m_xl_r: DFF<Bit>,
    m_qm_r: DFF<Bit>,
    m_take: Signal<Local, Bit>,
    // Translation-core arbiter: who owns each request in flight, oldest first.
    x_owner: [DFF<Bit>; 4],
    x_wr: DFF<Bits<2>>,
    x_rd: DFF<Bits<2>>,
    x_head_recv: Signal<Local, Bit>,
    // The engine whose request the core sees (1: receive), a register: the request's
    // fields reach the core (and its decryption) through a mux whose select does not depend
    // on the engines' state this cycle.
    x_pick_recv: DFF<Bit>,
    x_push: Signal<Local, Bit>,
    x_pop: Signal<Local, Bit>,
    x_ids: [Constant<Bits<2>>; 4],
    // The translation core's response, registered before the engines (one stage).
    r_valid: DFF<Bit>,
    r_recv: DFF<Bit>,
    r_status: DFF<Bits<STATUS_W>>,
    r_da: DFF<Bits<DA_W>>,
    r_bytes: DFF<Bits<PAGE_BYTES_W>>,
    r_last: DFF<Bit>,
    r_ready: Signal<Local, Bit>,
    // The engine whose completion the writer sees (1: receive).
    c_pick_recv: DFF<Bit>,
    // Internal loopback register.
    l_valid: DFF<Bit>,
    l_data: DFF<Bits<32>>,
    l_last: DFF<Bit>,
    // DMA arbiter.
    d_valid: DFF<Bit>,
    d_write: DFF<Bit>,
    d_da: DFF<Bits<DA_W>>,
    d_len: DFF<Bits<DMA_LEN_W>>,
    d_tag: DFF<Bits<DMA_TAG_W>>,
    d_owner: DFF<WriteOwner>,
    d_load: Signal<Local, Bit>,
    // Whom the next request is taken from (one-hot, decided a cycle ahead).
    g_table: DFF<Bit>,
    g_recv_desc: DFF<Bit>,
    g_cq: DFF<Bit>,
    g_recv_data: DFF<Bit>,
    g_fetch: DFF<Bit>,
    g_payload: DFF<Bit>,
    d_free: Signal<Local, Bit>,
    d_take: Signal<Local, Bit>,
    d_next_write: Signal<Local, Bit>,
    d_next_da: Signal<Local, Bits<DA_W>>,
    d_next_len: Signal<Local, Bits<DMA_LEN_W>>,
    d_next_tag: Signal<Local, Bits<DMA_TAG_W>>,
    // Table-entry assembly.
    t_low: DFF<Bits<32>>,
    t_half: DFF<Bit>,
    t_error: DFF<Bit>,
    rd_client: Signal<Local, Bits<4>>,

    c_fetch: Constant<Bits<4>>,
    c_table: Constant<Bits<4>>,
    c_payload: Constant<Bits<4>>,
    c_recv_desc: Constant<Bits<4>>,
    c_recv_data: Constant<Bits<4>>,
    c_cq: Constant<Bits<4>>,
    pte_len: Constant<Bits<DMA_LEN_W>>,
    cq_len: Constant<Bits<DMA_LEN_W>>,
    xl_page_limit: Constant<Bits<4>>,
    two_one: Constant<Bits<2>>,
}

const _: () = assert!(TAG_W == 4 && DMA_TAG_W == 12);
const _: () = assert!(abi::regs::QUEUE_BASE == 0x4000 && abi::regs::DEVICE_CTRL == 0x20);

impl Default for Device {
    fn default() -> Self {
        with_defaults!(Device {
            translator: Translator::new(),
            x_ids: [konst(0), konst(1), konst(2), konst(3)],
            c_fetch: konst(CLIENT_FETCH),
            c_table: konst(CLIENT_TABLE),
            c_payload: konst(CLIENT_PAYLOAD),
            c_recv_desc: konst(CLIENT_RECV_DESC),
            c_recv_data: konst(CLIENT_RECV_DATA),
            c_cq: konst(CLIENT_CQ),
            pte_len: konst(abi::PTE_BYTES),
            cq_len: konst(abi::queues::CQE_BYTES),
            xl_page_limit: konst(u64::from(abi::regs::QUEUE_BASE >> 12)),
            two_one: konst(1),
        } defaults {
            clock, reset, mmio_req_valid, mmio_req_ready, mmio_req_write, mmio_req_addr,
            mmio_req_wdata, mmio_rsp_valid, mmio_rsp_ready, mmio_rsp_data, dma_req_valid,
            dma_req_ready, dma_req_write, dma_req_da, dma_req_len, dma_req_tag, dma_wr_valid,
            dma_wr_ready, dma_wr_data, dma_wr_last, dma_rd_valid, dma_rd_ready, dma_rd_data,
            dma_rd_tag, dma_rd_last, dma_rd_error, event_valid, event_ready, event_vi, tx_valid,
            tx_ready, tx_data, tx_last, rx_valid, rx_ready, rx_data, rx_last, qm, send, recv,
            m_to_xl, m_read_pending, m_xl_r, m_qm_r, m_take, x_owner, x_wr, x_rd, x_head_recv, x_pick_recv,
            x_push, x_pop, r_valid, r_recv, r_status, r_da, r_bytes, r_last, r_ready, d_valid, d_write, d_da, d_len, d_tag, d_owner,
            d_load, c_pick_recv, l_valid, l_data, l_last, g_table, g_recv_desc, g_cq, g_recv_data, g_fetch, g_payload, d_free, d_take,
            d_next_write, d_next_da, d_next_len, d_next_tag, t_low, t_half, t_error, rd_client
        })
    }
}

impl Logic for Device {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            m_read_pending,
            m_xl_r,
            m_qm_r,
            x_wr,
            x_rd,
            x_pick_recv,
            c_pick_recv,
            l_valid,
            l_data,
            l_last,
            r_valid,
            r_recv,
            r_status,
            r_da,
            r_bytes,
            r_last,
            d_valid,
            d_write,
            d_da,
            d_len,
            d_tag,
            d_owner,
            g_table,
            g_recv_desc,
            g_cq,
            g_recv_data,
            g_fetch,
            g_payload,
            t_low,
            t_half,
            t_error
        );
        clock!(self, clock, translator, qm, send, recv);
        self.translator.reset.next = self.reset.val();
        self.qm.reset.next = self.reset.val();
        self.send.reset.next = self.reset.val();
        self.recv.reset.next = self.reset.val();
        for i in 0..4 {
            self.x_owner[i].clock.next = self.clock.val();
            self.x_owner[i].d.next = self.x_owner[i].q.val();
        }

        // ---- MMIO decoder ----
        // The translation core owns the first four pages except the device's own globals.
        self.m_to_xl.next = !self.mmio_req_addr.val().get_bits::<4>(16).any()
            && (self.mmio_req_addr.val().get_bits::<4>(12) < self.xl_page_limit.val())
            && (self.mmio_req_addr.val().get_bits::<4>(12).any()
                || !self.mmio_req_addr.val().get_bit(5));
        self.translator.cfg_write.next = self.mmio_req_write.val();
        self.translator.cfg_addr.next = self.mmio_req_addr.val().get_bits::<16>(0);
        self.translator.cfg_wdata.next = self.mmio_req_wdata.val();
        self.qm.mmio_write.next = self.mmio_req_write.val();
        self.qm.mmio_addr.next = self.mmio_req_addr.val();
        self.qm.mmio_wdata.next = self.mmio_req_wdata.val();
        // One read in flight, so read data come back in order.
        self.m_take.next = self.mmio_req_valid.val()
            && (self.mmio_req_write.val() || !self.m_read_pending.q.val());
        self.translator.cfg_valid.next = self.m_xl_r.q.val();
        self.qm.mmio_valid.next = self.m_qm_r.q.val();
        self.mmio_req_ready.next = (self.m_xl_r.q.val() && self.translator.cfg_ready.val())
            || (self.m_qm_r.q.val() && self.qm.mmio_ready.val());
        // Offered again the next cycle unless taken now (the access holds still until taken).
        self.m_xl_r.d.next = self.m_take.val()
            && self.m_to_xl.val()
            && !(self.m_xl_r.q.val() && self.translator.cfg_ready.val());
        self.m_qm_r.d.next = self.m_take.val()
            && !self.m_to_xl.val()
            && !(self.m_qm_r.q.val() && self.qm.mmio_ready.val());
        if self.mmio_req_valid.val() && self.mmio_req_ready.val() && !self.mmio_req_write.val() {
            self.m_read_pending.d.next = true;
        }
        self.mmio_rsp_valid.next =
            self.translator.cfg_rsp_valid.val() || self.qm.mmio_rsp_valid.val();
        self.mmio_rsp_data.next = self.qm.mmio_rsp_data.val();
        if self.translator.cfg_rsp_valid.val() {
            self.mmio_rsp_data.next = self.translator.cfg_rsp_data.val();
        }
        self.translator.cfg_rsp_ready.next = self.mmio_rsp_ready.val();
        self.qm.mmio_rsp_ready.next = self.mmio_rsp_ready.val();
        if self.mmio_rsp_valid.val() && self.mmio_rsp_ready.val() {
            self.m_read_pending.d.next = false;
        }
        self.qm.open_vi_open.next = self.translator.open_vi_open.val();
        self.qm.open_vi_enabled.next = self.translator.open_vi_enabled.val();
        self.translator.open_vi.next = self.qm.open_vi.val();

        // ---- Translation core: the receive engine first ----
        self.translator.req_valid.next = self.send.xl_req_valid.val();
        self.translator.req_vi.next = self.send.xl_req_vi.val();
        self.translator.req_va.next = self.send.xl_req_va.val();
        self.translator.req_shortcut.next = self.send.xl_req_shortcut.val();
        self.translator.req_length.next = self.send.xl_req_length.val();
        self.translator.req_write.next = false;
        if self.x_pick_recv.q.val() {
            self.translator.req_valid.next = self.recv.xl_req_valid.val();
            self.translator.req_vi.next = self.recv.xl_req_vi.val();
            self.translator.req_va.next = self.recv.xl_req_va.val();
            self.translator.req_shortcut.next = self.recv.xl_req_shortcut.val();
            self.translator.req_length.next = self.recv.xl_req_length.val();
            self.translator.req_write.next = true;
        }
        self.recv.xl_req_ready.next = self.x_pick_recv.q.val() && self.translator.req_ready.val();
        self.send.xl_req_ready.next = !self.x_pick_recv.q.val() && self.translator.req_ready.val();
        self.x_push.next = self.translator.req_valid.val() && self.translator.req_ready.val();
        // The receive engine first: the pick turns to it whenever it asks, to the send engine
        // when only that one asks (a turn costs one cycle). The pick stays while the core holds
        // a request, and in the cycle it takes one: the core reads the requester's shortcut
        // through this multiplexer until the request's last response.
        if !self.translator.req_held.val() && !self.x_push.val() {
            if self.recv.xl_req_valid.val() {
                self.x_pick_recv.d.next = true;
            } else if self.send.xl_req_valid.val() {
                self.x_pick_recv.d.next = false;
            }
        }
        self.x_head_recv.next = false;
        for i in 0..4 {
            if self.x_rd.q.val() == self.x_ids[i].val() {
                self.x_head_recv.next = self.x_owner[i].q.val();
            }
            if self.x_push.val() && (self.x_wr.q.val() == self.x_ids[i].val()) {
                self.x_owner[i].d.next = self.x_pick_recv.q.val();
            }
        }
        if self.x_push.val() {
            self.x_wr.d.next = self.x_wr.q.val() + self.two_one.val();
        }
        // Responses pass one register stage (taken when it is empty or being emptied), tagged
        // with their requester.
        self.r_ready.next = self.send.xl_rsp_ready.val();
        if self.r_recv.q.val() {
            self.r_ready.next = self.recv.xl_rsp_ready.val();
        }
        if self.r_valid.q.val() && self.r_ready.val() {
            self.r_valid.d.next = false;
        }
        self.translator.rsp_ready.next = !self.r_valid.q.val() || self.r_ready.val();
        if self.translator.rsp_valid.val() && self.translator.rsp_ready.val() {
            self.r_valid.d.next = true;
            self.r_recv.d.next = self.x_head_recv.val();
            self.r_status.d.next = self.translator.rsp_status.val();
            self.r_da.d.next = self.translator.rsp_da.val();
            self.r_bytes.d.next = self.translator.rsp_bytes.val();
            self.r_last.d.next = self.translator.rsp_last.val();
        }
        self.x_pop.next = self.translator.rsp_valid.val()
            && self.translator.rsp_ready.val()
            && self.translator.rsp_last.val();
        if self.x_pop.val() {
            self.x_rd.d.next = self.x_rd.q.val() + self.two_one.val();
        }
        self.recv.xl_rsp_valid.next = self.r_valid.q.val() && self.r_recv.q.val();
        self.send.xl_rsp_valid.next = self.r_valid.q.val() && !self.r_recv.q.val();
        self.send.xl_rsp_status.next = self.r_status.q.val();
        self.send.xl_rsp_da.next = self.r_da.q.val();
        self.send.xl_rsp_last.next = self.r_last.q.val();
        self.recv.xl_rsp_status.next = self.r_status.q.val();
        self.recv.xl_rsp_da.next = self.r_da.q.val();
        self.recv.xl_rsp_bytes.next = self.r_bytes.q.val();
        self.recv.xl_rsp_last.next = self.r_last.q.val();

        // ---- Descriptors, receive slots, counters ----
        self.send.desc_valid.next = self.qm.desc_valid.val();
        self.send.desc_data.next = self.qm.desc_data.val();
        self.send.desc_meta.next = self.qm.desc_meta.val();
        self.qm.desc_ready.next = self.send.desc_ready.val();
        self.qm.desc_meta_pop.next = self.send.desc_meta_pop.val();
        self.qm.rq_query.next = self.recv.rq_query.val();
        self.qm.rq_vi.next = self.recv.rq_vi.val();
        self.recv.rq_answer.next = self.qm.rq_answer.val();
        self.recv.rq_granted.next = self.qm.rq_granted.val();
        self.recv.rq_da.next = self.qm.rq_da.val();
        self.recv.rq_index.next = self.qm.rq_index.val();
        self.qm.tx_frame.next = self.send.tx_frame.val();
        self.qm.rx_frame.next = self.recv.rx_frame.val();
        self.qm.rx_bad.next = self.recv.rx_bad.val();
        self.event_valid.next = self.qm.event_valid.val();
        self.event_vi.next = self.qm.event_vi.val();
        self.qm.event_ready.next = self.event_ready.val();

        // ---- Completions: one writer, the receive engine first (it takes one in a cycle) ----
        // Which engine's completion the writer sees is a register, like the translation
        // core's pick: a turn to the other engine costs a cycle.
        // The pick stays while the queue manager decides on the picked completion (its
        // `cmp_ready` comes a cycle later).
        if !self.qm.cmp_hold.val() {
            if self.recv.cmp_valid.val() {
                self.c_pick_recv.d.next = true;
            } else if self.send.cmp_valid.val() {
                self.c_pick_recv.d.next = false;
            }
        }
        self.qm.cmp_valid.next = self.send.cmp_valid.val();
        self.qm.cmp_recv.next = self.c_pick_recv.q.val();
        self.qm.cmp_vi.next = self.send.cmp_vi.val();
        self.qm.cmp_wr_id.next = self.send.cmp_wr_id.val();
        self.qm.cmp_bytes.next = self.send.cmp_bytes.val();
        self.qm.cmp_index.next = self.send.cmp_index.val();
        self.qm.cmp_peer.next = self.send.cmp_peer.val();
        self.qm.cmp_opcode.next = self.send.cmp_opcode.val();
        self.qm.cmp_status.next = self.send.cmp_status.val();
        self.recv.cmp_ready.next = self.c_pick_recv.q.val() && self.qm.cmp_ready.val();
        self.send.cmp_ready.next = !self.c_pick_recv.q.val() && self.qm.cmp_ready.val();
        if self.c_pick_recv.q.val() {
            self.qm.cmp_valid.next = self.recv.cmp_valid.val();
            self.qm.cmp_vi.next = self.recv.cmp_vi.val();
            self.qm.cmp_wr_id.next = self.recv.cmp_wr_id.val();
            self.qm.cmp_bytes.next = self.recv.cmp_bytes.val();
            self.qm.cmp_index.next = self.recv.cmp_index.val();
            self.qm.cmp_peer.next = self.recv.cmp_peer.val();
            self.qm.cmp_opcode.next = self.recv.cmp_opcode.val();
            self.qm.cmp_status.next = self.recv.cmp_status.val();
        }

        // ---- Network port ----
        self.recv.rx_valid.next = self.rx_valid.val();
        self.recv.rx_data.next = self.rx_data.val();
        self.recv.rx_last.next = self.rx_last.val();
        self.rx_ready.next = self.recv.rx_ready.val();
        self.tx_valid.next = self.send.tx_valid.val();
        self.tx_data.next = self.send.tx_data.val();
        self.tx_last.next = self.send.tx_last.val();
        self.send.tx_ready.next = self.tx_ready.val();
        // Internal loopback through one register (a word every two cycles): neither the
        // receive engine's ready nor the send engine's valid crosses to the other engine in
        // the same cycle.
        if self.qm.loopback.val() {
            self.recv.rx_valid.next = self.l_valid.q.val();
            self.recv.rx_data.next = self.l_data.q.val();
            self.recv.rx_last.next = self.l_last.q.val();
            self.send.tx_ready.next = !self.l_valid.q.val();
            self.rx_ready.next = false;
            self.tx_valid.next = false;
            if self.l_valid.q.val() && self.recv.rx_ready.val() {
                self.l_valid.d.next = false;
            }
            if !self.l_valid.q.val() && self.send.tx_valid.val() {
                self.l_valid.d.next = true;
                self.l_data.d.next = self.send.tx_data.val();
                self.l_last.d.next = self.send.tx_last.val();
            }
        } else {
            self.l_valid.d.next = false;
        }

        // ---- DMA requests: a registered grant, one registered request stage ----
        // The grant is decided a cycle ahead (fixed priority over the requests standing now;
        // a client keeps its request up until taken), and a request is taken only into an
        // empty stage: neither the clients' requests nor the host port's ready reach another
        // client's ready in the same cycle. At most one request every two cycles; each
        // carries up to a page.
        self.d_load.next = !self.d_valid.q.val();
        if self.d_valid.q.val() && self.dma_req_ready.val() {
            self.d_valid.d.next = false;
        }
        self.g_table.d.next = false;
        self.g_recv_desc.d.next = false;
        self.g_cq.d.next = false;
        self.g_recv_data.d.next = false;
        self.g_fetch.d.next = false;
        self.g_payload.d.next = false;
        self.d_free.next = self.d_owner.q.val() == WriteOwner::None;
        if self.translator.pte_req_valid.val() {
            self.g_table.d.next = true;
        } else if self.recv.rd_req_valid.val() {
            self.g_recv_desc.d.next = true;
        } else if self.qm.cq_req_valid.val() && self.d_free.val() {
            self.g_cq.d.next = true;
        } else if self.recv.wr_req_valid.val() && self.d_free.val() {
            self.g_recv_data.d.next = true;
        } else if self.qm.fetch_req_valid.val() {
            self.g_fetch.d.next = true;
        } else if self.send.pl_req_valid.val() {
            self.g_payload.d.next = true;
        }
        self.translator.pte_req_ready.next = self.d_load.val() && self.g_table.q.val();
        self.recv.rd_req_ready.next = self.d_load.val() && self.g_recv_desc.q.val();
        self.qm.cq_req_ready.next = self.d_load.val() && self.g_cq.q.val() && self.d_free.val();
        self.recv.wr_req_ready.next =
            self.d_load.val() && self.g_recv_data.q.val() && self.d_free.val();
        self.qm.fetch_req_ready.next = self.d_load.val() && self.g_fetch.q.val();
        self.send.pl_req_ready.next = self.d_load.val() && self.g_payload.q.val();
        // The granted client's request, selected by the grant alone.
        self.d_next_write.next = false;
        self.d_next_da.next = self.send.pl_req_da.val();
        self.d_next_len.next = self.send.pl_req_len.val();
        self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_payload.val()) << 8)
            | (bit_cast::<DMA_TAG_W, 2>(self.send.pl_req_vi.val()) << 4);
        // The address alone has four sources: the queue manager's fetch and CQ write share
        // one register, and so do the receive engine's descriptor read and payload write.
        if self.g_table.q.val() {
            self.d_next_da.next = self.translator.pte_req_addr.val();
        } else if self.g_recv_desc.q.val() || self.g_recv_data.q.val() {
            self.d_next_da.next = self.recv.dma_da.val();
        } else if self.g_cq.q.val() || self.g_fetch.q.val() {
            self.d_next_da.next = self.qm.dma_da.val();
        }
        if self.g_table.q.val() {
            self.d_next_len.next = self.pte_len.val();
            self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_table.val()) << 8)
                | bit_cast::<DMA_TAG_W, TAG_W>(self.translator.pte_req_tag.val());
        } else if self.g_recv_desc.q.val() {
            self.d_next_len.next = self.recv.rd_req_len.val();
            self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_recv_desc.val()) << 8)
                | (bit_cast::<DMA_TAG_W, 2>(self.recv.dma_vi.val()) << 4);
        } else if self.g_cq.q.val() {
            self.d_next_write.next = true;
            self.d_next_len.next = self.cq_len.val();
            self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_cq.val()) << 8)
                | (bit_cast::<DMA_TAG_W, 2>(self.qm.cq_req_vi.val()) << 4);
        } else if self.g_recv_data.q.val() {
            self.d_next_write.next = true;
            self.d_next_len.next = self.recv.wr_req_len.val();
            self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_recv_data.val()) << 8)
                | (bit_cast::<DMA_TAG_W, 2>(self.recv.dma_vi.val()) << 4);
        } else if self.g_fetch.q.val() {
            self.d_next_len.next = self.qm.fetch_req_len.val();
            self.d_next_tag.next = (bit_cast::<DMA_TAG_W, 4>(self.c_fetch.val()) << 8)
                | (bit_cast::<DMA_TAG_W, 2>(self.qm.fetch_req_vi.val()) << 4);
        }
        self.d_take.next = (self.translator.pte_req_valid.val()
            && self.translator.pte_req_ready.val())
            || (self.recv.rd_req_valid.val() && self.recv.rd_req_ready.val())
            || (self.qm.cq_req_valid.val() && self.qm.cq_req_ready.val())
            || (self.recv.wr_req_valid.val() && self.recv.wr_req_ready.val())
            || (self.qm.fetch_req_valid.val() && self.qm.fetch_req_ready.val())
            || (self.send.pl_req_valid.val() && self.send.pl_req_ready.val());
        // An empty stage follows the grant (its fields matter once it holds a request).
        if self.d_load.val() {
            self.d_write.d.next = self.d_next_write.val();
            self.d_da.d.next = self.d_next_da.val();
            self.d_len.d.next = self.d_next_len.val();
            self.d_tag.d.next = self.d_next_tag.val();
        }
        if self.d_take.val() {
            self.d_valid.d.next = true;
            if self.g_cq.q.val() {
                self.d_owner.d.next = WriteOwner::Cq;
            }
            if self.g_recv_data.q.val() {
                self.d_owner.d.next = WriteOwner::Recv;
            }
        }
        self.dma_req_valid.next = self.d_valid.q.val();
        self.dma_req_write.next = self.d_write.q.val();
        self.dma_req_da.next = self.d_da.q.val();
        self.dma_req_len.next = self.d_len.q.val();
        self.dma_req_tag.next = self.d_tag.q.val();
        // Write data: the words of the write whose request was granted.
        self.dma_wr_valid.next = false;
        self.dma_wr_data.next = self.qm.cq_wd_data.val();
        self.dma_wr_last.next = self.qm.cq_wd_last.val();
        self.qm.cq_wd_ready.next = false;
        self.recv.wr_ready.next = false;
        if self.d_owner.q.val() == WriteOwner::Cq {
            self.dma_wr_valid.next = self.qm.cq_wd_valid.val();
            self.qm.cq_wd_ready.next = self.dma_wr_ready.val();
        }
        if self.d_owner.q.val() == WriteOwner::Recv {
            self.dma_wr_valid.next = self.recv.wr_valid.val();
            self.dma_wr_data.next = self.recv.wr_data.val();
            self.dma_wr_last.next = self.recv.wr_last.val();
            self.recv.wr_ready.next = self.dma_wr_ready.val();
        }
        if self.dma_wr_valid.val() && self.dma_wr_ready.val() && self.dma_wr_last.val() {
            self.d_owner.d.next = WriteOwner::None;
        }

        // ---- Read data, routed by the tag's client ----
        self.dma_rd_ready.next = true;
        self.rd_client.next = self.dma_rd_tag.val().get_bits::<4>(8);
        self.qm.fetch_rd_valid.next =
            self.dma_rd_valid.val() && (self.rd_client.val() == self.c_fetch.val());
        self.qm.fetch_rd_data.next = self.dma_rd_data.val();
        self.qm.fetch_rd_error.next = self.dma_rd_error.val();
        self.qm.fetch_rd_vi.next = self.dma_rd_tag.val().get_bits::<DVI_W>(4);
        self.send.pl_rd_valid.next =
            self.dma_rd_valid.val() && (self.rd_client.val() == self.c_payload.val());
        self.send.pl_rd_data.next = self.dma_rd_data.val();
        self.send.pl_rd_error.next = self.dma_rd_error.val();
        self.recv.rd_rd_valid.next =
            self.dma_rd_valid.val() && (self.rd_client.val() == self.c_recv_desc.val());
        self.recv.rd_rd_data.next = self.dma_rd_data.val();
        self.recv.rd_rd_error.next = self.dma_rd_error.val();
        // Table entries: two words, low first.
        self.translator.pte_rsp_valid.next = false;
        self.translator.pte_rsp_data.next = (bit_cast::<64, 32>(self.dma_rd_data.val()) << 32)
            | bit_cast::<64, 32>(self.t_low.q.val());
        self.translator.pte_rsp_tag.next = self.dma_rd_tag.val().get_bits::<TAG_W>(0);
        self.translator.pte_rsp_error.next = self.t_error.q.val() || self.dma_rd_error.val();
        if self.dma_rd_valid.val() && (self.rd_client.val() == self.c_table.val()) {
            if self.t_half.q.val() {
                self.translator.pte_rsp_valid.next = true;
                self.t_half.d.next = false;
            } else {
                self.t_low.d.next = self.dma_rd_data.val();
                self.t_error.d.next = self.dma_rd_error.val();
                self.t_half.d.next = true;
            }
        }

        if self.reset.val() {
            self.m_read_pending.d.next = false;
            self.m_xl_r.d.next = false;
            self.m_qm_r.d.next = false;
            self.x_wr.d.next = 0.into();
            self.x_rd.d.next = 0.into();
            self.r_valid.d.next = false;
            self.d_valid.d.next = false;
            self.l_valid.d.next = false;
            self.d_owner.d.next = WriteOwner::None;
            self.g_table.d.next = false;
            self.g_recv_desc.d.next = false;
            self.g_cq.d.next = false;
            self.g_recv_data.d.next = false;
            self.g_fetch.d.next = false;
            self.g_payload.d.next = false;
            self.t_half.d.next = false;
        }
    }
}

crate::clocked!(Device);
