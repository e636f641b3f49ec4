//! `Bridge`: the device side of the UART host bridge (docs/bridge.md): the master of the
//! Device's host port, talking to the host over one 8N1 line in each direction.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `clock`, `reset` | 1 | in | clock; synchronous reset (the link starts over) |
//! | `rxd` | 1 | in | UART line from the host (idle high; asynchronous) |
//! | `txd` | 1 | out | UART line to the host (idle high) |
//! | `core_reset` | 1 | out | high for [`CORE_RESET_CYCLES`] clocks after a Sync with the reset flag |
//! | `link_up` | 1 | out | a Sync has been answered since reset |
//! | `activity` | 1 | out | a valid frame arrived or a frame was sent lately (stretched) |
//! | `fault` | 1 | out | a frame was rejected lately (stretched) |
//! | `mmio_req_*`, `mmio_rsp_*` | | out/in | register accesses (master side of the Device's port) |
//! | `dma_req_*`, `dma_wr_*` | | in | DMA requests and write data from the Device |
//! | `dma_rd_*` | | out | DMA read data to the Device |
//! | `event_*` | | in | events from the Device |
//!
//! The host port's names and widths are the Device's ([`crate::device`]) with directions
//! reversed. Inside, in the order bytes flow:
//!
//! * **Receive.** [`UartRx`] → [`Deframer`] (unstuffing, CRC, header registers, every check;
//!   `ok` two clocks after the closing flag). Nothing is acted on before that clock. Payload
//!   bytes from the third on are written into one of two 256-byte banks of a block RAM (DMA
//!   read data words); MMIO write data goes straight into the `mmio_req_wdata` register while
//!   no MMIO access is pending. The receiver keeps `expected` of host channels 0 (MMIO) and 1
//!   (DMA read data) and applies `abi::bridge::Receiver`'s rules (the frame's classification
//!   is registered while its header stands still before the closing flag); "room" is an idle MMIO
//!   executor (and no access pending while the frame arrived) for channel 0, an idle DMA data
//!   executor for channel 1, so read data never waits behind an MMIO access (an executor that
//!   became idle in the very clock before is taken as busy: the frame counts as lost).
//! * **Executors.** MMIO: one access at a time; a read stays pending (its address kept in
//!   `mmio_req_addr`) until its data has been queued for the host. DMA read data: the accepted
//!   bank is read byte by byte into `dma_rd_data` (its fourth byte straight from the buffer's
//!   output, whose address holds while the word is presented); `dma_rd_last` on the final
//!   word of a packet with `INFO_LAST`.
//! * **Packet writer.** One source at a time, in priority DMA request, event, MMIO read data
//!   (a DMA write keeps the writer until its last word, so a CQ write goes before its event):
//!   writes type, length and payload of a device packet into a free slot of the
//!   retransmission buffer (block RAM, [`TX_SLOTS`] slots of 512 bytes), reading the port's
//!   fields while they are held (`*_ready` rises with the last byte; an event is taken as its
//!   packet starts, its VI kept, so the VI sent is the one the Device cleared); the field byte is picked
//!   by the offset's bits. A DMA write is split into packets of up to `MAX_DATA_BYTES` at
//!   `da`, `da + 256`, …, `INFO_LAST` on the final one (the packet with the word marked
//!   `dma_wr_last`), the final word's unused bytes zero (from the request's `len`). The data
//!   goes into the slot first and the packet's header and fields after it, so a packet can
//!   end early: when the write's next word is not there while a DMA read request waits (the
//!   Device may be waiting for that read's data to go on writing), the packet ends at the
//!   words it has (none: it is dropped), the read request is queued next, and the write goes
//!   on in a new packet. The write's address is a rotating register: while its five `da`
//!   bytes are written, a serial adder moves it on by the packet's bytes. Each byte takes
//!   three clocks (the field bytes of every kind, the byte, the write: short paths at
//!   100 MHz; a byte on the line takes at least 40).
//! * **Sender.** Go-back-N over the slots (`abi::bridge::Sender`), used as a ring: a frame's
//!   slot is as far from the oldest unacknowledged frame's as its sequence number; ACK/NAK with `next` from the oldest to just
//!   past the newest sent frame release frames; a NAK, or the oldest frame unacknowledged for
//!   `retransmit_timeout_cycles` since it was last sent, sends again from the oldest.
//! * **Framer.** Between frames, due Sync, NAK and ACK replies go first, then the next frame
//!   of the window (picked in a clock of its own, from registered priorities); bytes are
//!   stuffed on the fly and handed to [`UartTx`] (which holds the byte on the line) and the
//!   CRC is computed as they go, a bit a clock. A frame is never cut short.
//! * **Sync.** Resets `expected`, the sequence numbers and the due replies, drops the
//!   unacknowledged frames, and (reset flag) pulses `core_reset` and abandons what the
//!   executors and the writer held; the reply (nonce echoed, `PROTOCOL_VERSION`, the reset
//!   flag as "done") goes out after the pulse.
//!
//! `activity` and `fault` are stretched by a counter of `stretch_cycles / 2` (in ticks of
//! 2^[`TICK_W`] clocks, shared with the retransmission timer): they stay lit for between half
//! and all of `stretch_cycles` after the event.

pub mod crc16;
pub mod deframer;

use rust_hdl::prelude::*;

use abi::bridge as ab;

use crate::bram::BlockRam;
use crate::consts::{konst, DA_W};
use crate::device::DMA_TAG_W;
use crate::queue_manager::DMA_LEN_W;
use crate::uart_rx::UartRx;
use crate::uart_tx::{UartTx, UART_CLOCKS_PER_BIT};
use crate::with_defaults;
use deframer::{Deframer, COUNT_W};

/// Bits of a retransmission-buffer slot index.
pub const TX_SLOT_W: usize = 2;
/// Slots of the retransmission buffer: the device's window.
pub const TX_SLOTS: usize = 1 << TX_SLOT_W;
const _: () = assert!(
    TX_SLOTS <= ab::WINDOW && TX_SLOT_W == 2,
    "the window-full bit in `update` is written out"
);
/// Bits of a byte offset inside a slot (type, length and payload of one packet).
pub const SLOT_OFF_W: usize = 9;
const _: () = assert!(
    (ab::HEADER_BYTES + ab::DMA_WRITE_FIELD_BYTES) % 4 == 3,
    "DMA write data starts at slot offsets 3 mod 4"
);
const _: () = assert!(
    ab::HEADER_BYTES == 4 && ab::HDR_SEQ == 1 && ab::HDR_LEN == 2,
    "the header offsets in `update` are written out"
);
const _: () = assert!(SLOT_OFF_W == 9, "the slot shift in `update` is written out");
const _: () = assert!(
    ab::DMA_READ_DATA_FIELD_BYTES == ab::CRC_BYTES,
    "the deframer's `store_pidx` is the index from DMA read data's third payload byte"
);
const _: () = assert!(ab::HEADER_BYTES + ab::MAX_PAYLOAD_BYTES <= 1 << SLOT_OFF_W);
/// Address bits of the retransmission buffer.
pub const TXMEM_W: usize = TX_SLOT_W + SLOT_OFF_W;
/// Address bits of the receive buffer: two banks of `MAX_DATA_BYTES`.
pub const RXMEM_W: usize = 9;
/// Last of the three clocks a byte of an outgoing packet takes; a data byte is written only
/// when its word was offered in the clock before.
const WPHASE_LAST: u64 = 2;
const _: () = assert!(WPHASE_LAST >= 2);
const _: () = assert!(2 * ab::MAX_DATA_BYTES == 1 << RXMEM_W);
/// Width of the retransmission timeout in clocks (up to 2^24 clocks).
pub const TIMER_W: usize = 24;
/// Width of the LED stretch in clocks.
pub const STRETCH_W: usize = 24;
/// The retransmission timer and the LED stretch count ticks of `2^TICK_W` clocks of one
/// free-running counter.
pub const TICK_W: usize = 10;
/// Width of the retransmission timer in ticks.
const TIMER_TICKS_W: usize = TIMER_W - TICK_W;
/// Width of the LED stretch counter in ticks.
const STRETCH_TICKS_W: usize = STRETCH_W - TICK_W;
/// Width of the core reset pulse counter.
const PULSE_W: usize = 5;
/// Clocks `core_reset` stays high after a Sync with the reset flag.
pub const CORE_RESET_CYCLES: u64 = (1 << PULSE_W) - 1;
const _: () = assert!(CORE_RESET_CYCLES >= 16);

/// Clocks per UART bit of the simulation build ([`bridge_for_simulation`]).
pub const SIM_CLOCKS_PER_BIT: u64 = 4;
/// Retransmission timeout of the simulation build: 3000 byte times, far above a round trip
/// with a full window of the longest frames on the simulated line.
pub const SIM_RETRANSMIT_TIMEOUT_CYCLES: u64 =
    3000 * ab::UART_BITS_PER_BYTE as u64 * SIM_CLOCKS_PER_BIT;
/// LED stretch of the simulation build.
pub const SIM_STRETCH_CYCLES: u64 = 4096;

/// The bridge built for fast simulation (Verilator model `sim::VBridge`).
pub fn bridge_for_simulation() -> Bridge {
    Bridge::new(
        SIM_CLOCKS_PER_BIT,
        SIM_RETRANSMIT_TIMEOUT_CYCLES,
        SIM_STRETCH_CYCLES,
    )
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum MState {
    Idle,
    Req,
    WaitRsp,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum DState {
    Idle,
    Fetch,
    Present,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum WState {
    Idle,
    WaitSlot,
    Fill,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum WKind {
    MmioData,
    ReadReq,
    Write,
    Event,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum FState {
    Idle,
    Pick,
    Open,
    Fetch,
    Load,
    Send,
    Close,
}

#[derive(Copy, Clone, PartialEq, Eq, Debug, LogicState)]
enum CKind {
    Ack,
    Nak,
    Sync,
}

/// The host bridge (see the module documentation).
#[derive(LogicBlock)]
pub struct Bridge {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// UART line from the host.
    pub rxd: Signal<In, Bit>,
    /// UART line to the host.
    pub txd: Signal<Out, Bit>,
    /// Reset the Device (a Sync with the reset flag).
    pub core_reset: Signal<Out, Bit>,
    /// A Sync has been answered.
    pub link_up: Signal<Out, Bit>,
    /// Frames on the line lately.
    pub activity: Signal<Out, Bit>,
    /// A frame was rejected lately.
    pub fault: Signal<Out, Bit>,
    /// Register access offered.
    pub mmio_req_valid: Signal<Out, Bit>,
    /// Register access taken.
    pub mmio_req_ready: Signal<In, Bit>,
    /// Write (else read).
    pub mmio_req_write: Signal<Out, Bit>,
    /// Byte address.
    pub mmio_req_addr: Signal<Out, Bits<20>>,
    /// Value written.
    pub mmio_req_wdata: Signal<Out, Bits<32>>,
    /// Read data valid.
    pub mmio_rsp_valid: Signal<In, Bit>,
    /// Read data taken.
    pub mmio_rsp_ready: Signal<Out, Bit>,
    /// Read data.
    pub mmio_rsp_data: Signal<In, Bits<32>>,
    /// DMA request valid.
    pub dma_req_valid: Signal<In, Bit>,
    /// DMA request taken.
    pub dma_req_ready: Signal<Out, Bit>,
    /// Write (else read).
    pub dma_req_write: Signal<In, Bit>,
    /// Device address.
    pub dma_req_da: Signal<In, Bits<DA_W>>,
    /// Bytes.
    pub dma_req_len: Signal<In, Bits<DMA_LEN_W>>,
    /// Tag.
    pub dma_req_tag: Signal<In, Bits<DMA_TAG_W>>,
    /// Write data valid.
    pub dma_wr_valid: Signal<In, Bit>,
    /// Write data taken.
    pub dma_wr_ready: Signal<Out, Bit>,
    /// Write data.
    pub dma_wr_data: Signal<In, Bits<32>>,
    /// Last word of a write.
    pub dma_wr_last: Signal<In, Bit>,
    /// Read data valid.
    pub dma_rd_valid: Signal<Out, Bit>,
    /// Read data taken.
    pub dma_rd_ready: Signal<In, Bit>,
    /// Read data.
    pub dma_rd_data: Signal<Out, Bits<32>>,
    /// Tag of the read.
    pub dma_rd_tag: Signal<Out, Bits<DMA_TAG_W>>,
    /// Last word of the read.
    pub dma_rd_last: Signal<Out, Bit>,
    /// The read failed.
    pub dma_rd_error: Signal<Out, Bit>,
    /// Event valid.
    pub event_valid: Signal<In, Bit>,
    /// Event taken.
    pub event_ready: Signal<Out, Bit>,
    /// VI of the event.
    pub event_vi: Signal<In, Bits<8>>,

    urx: UartRx,
    utx: UartTx,
    deframer: Deframer,
    rxmem: BlockRam<Bits<8>, RXMEM_W>,
    txmem: BlockRam<Bits<8>, TXMEM_W>,

    // ---- Receiver ----
    wbank: DFF<Bits<1>>,
    exp0: DFF<Bits<8>>,
    exp1: DFF<Bits<8>>,
    nak_sent0: DFF<Bit>,
    nak_sent1: DFF<Bit>,
    ack_due0: DFF<Bit>,
    ack_due1: DFF<Bit>,
    nak_due0: DFF<Bit>,
    nak_due1: DFF<Bit>,
    sync_due: DFF<Bit>,
    nonce: DFF<Bits<8>>,
    sreset: DFF<Bit>,
    pulse: DFF<Bits<PULSE_W>>,
    /// `core_reset`: high while `pulse` counts down.
    busy: DFF<Bit>,
    t_reload_r: DFF<Bit>,
    link: DFF<Bit>,
    // ---- The last frame's classification ----
    h_mw: DFF<Bit>,
    h_mr: DFF<Bit>,
    h_dd: DFF<Bit>,
    h_ack: DFF<Bit>,
    h_nak: DFF<Bit>,
    h_sync: DFF<Bit>,
    h_dzero: DFF<Bit>,
    h_ddup: DFF<Bit>,
    h_an_ok: DFF<Bit>,
    /// `next` of an ACK or NAK minus `base`: frames it releases.
    h_an_n: DFF<Bits<8>>,
    h_an_nz: DFF<Bit>,
    h_room: DFF<Bit>,
    // ---- MMIO executor ----
    m_state: DFF<MState>,
    m_addr: DFF<Bits<20>>,
    m_wdata: DFF<Bits<32>>,
    m_write: DFF<Bit>,
    m_ok: DFF<Bit>,
    // ---- DMA read data executor ----
    d_state: DFF<DState>,
    d_bank: DFF<Bits<1>>,
    d_addr: DFF<Bits<8>>,
    d_primed: DFF<Bit>,
    /// Bytes 0 to 2 of the word presented; byte 3 stays on the receive buffer's output.
    d_word: DFF<Bits<24>>,
    d_tag: DFF<Bits<DMA_TAG_W>>,
    d_err: DFF<Bit>,
    d_lastf: DFF<Bit>,
    d_end: DFF<Bits<8>>,
    // ---- Sender ----
    base: DFF<Bits<8>>,
    head: DFF<Bits<TX_SLOT_W>>,
    nq: DFF<Bits<3>>,
    sent: DFF<Bits<3>>,
    cursor: DFF<Bits<3>>,
    /// Ticks of [`TICK_W`] clocks: the timer and the LED stretch count them.
    tick_count: DFF<Bits<TICK_W>>,
    timer: DFF<Bits<TIMER_TICKS_W>>,
    // ---- Packet writer ----
    w_state: DFF<WState>,
    w_kind: DFF<WKind>,
    woff: DFF<Bits<SLOT_OFF_W>>,
    wr_da: DFF<Bits<DA_W>>,
    /// `(bytes - 1) % 4` of the DMA write: the final word's used bytes.
    w_r: DFF<Bits<2>>,
    /// Carry of the serial adder that moves `wr_da` on.
    w_cy: DFF<Bit>,
    /// Clock at the offset (0 to `WPHASE_LAST`).
    w_phase: DFF<Bits<2>>,
    /// The field bytes at `woff` of each kind (the header bytes: of the writer's kind),
    /// registered in the first clock at the offset.
    w_md_r: DFF<Bits<8>>,
    /// VI of the event being written: the event is taken when its packet starts, so the VI
    /// the packet carries is the one the Device dropped from its pending events.
    ev_vi: DFF<Bits<8>>,
    w_rr_r: DFF<Bits<8>>,
    w_wr_r: DFF<Bits<8>>,
    w_hb_r: DFF<Bits<8>>,
    /// The field byte at `woff`, from those, registered in the second clock; the data byte
    /// at `woff`, registered.
    f_r: DFF<Bits<8>>,
    d_r: DFF<Bits<8>>,
    /// The DMA write word was valid in the clock before.
    w_ok_prev: DFF<Bit>,
    /// `dma_wr_last` in the clock before.
    w_wlast_r: DFF<Bit>,
    /// A DMA read request was offered in the clock before.
    w_rr_wait: DFF<Bit>,
    /// `dma_req_len - 1`, registered (read while the request is held).
    w_lenm1: DFF<Bits<DMA_LEN_W>>,
    w_wordend_r: DFF<Bit>,
    w_last_r: DFF<Bit>,
    /// The offset is the last of a full DMA write packet's data.
    w_full_r: DFF<Bit>,
    /// The offset holds a byte of a DMA write packet's `da`: `wr_da` rotates.
    w_rot_r: DFF<Bit>,
    /// A packet was completed in the clock before: it joins the window now.
    w_commit_r: DFF<Bit>,
    /// A DMA write goes on: its next packet is due (after a waiting read request).
    w_cont: DFF<Bit>,
    /// Writing the header and fields of a DMA write packet (its data is in the slot).
    w_hdr: DFF<Bit>,
    /// Data bytes of the DMA write packet being written, minus one (so far, in words).
    w_cnt: DFF<Bits<8>>,
    /// The DMA write packet being written is the write's final one.
    w_lastpkt: DFF<Bit>,
    // ---- Framer ----
    f_state: DFF<FState>,
    f_data: DFF<Bit>,
    c_kind: DFF<CKind>,
    c_ch: DFF<Bit>,
    tslot: DFF<Bits<TX_SLOT_W>>,
    tseq: DFF<Bits<8>>,
    ti: DFF<Bits<SLOT_OFF_W>>,
    tleft: DFF<Bits<SLOT_OFF_W>>,
    tphase: DFF<Bits<2>>,
    cur: DFF<Bits<8>>,
    esc2: DFF<Bit>,
    /// The transmit CRC register.
    crc_v: DFF<Bits<16>>,
    /// Bit of `cur` the CRC takes next.
    crc_i: DFF<Bits<3>>,
    /// The CRC is taking `cur`'s bits.
    crc_busy: DFF<Bit>,
    /// The bit of `cur` the CRC takes next, registered.
    crc_bit_r: DFF<Bit>,
    /// `crc_busy` a clock later: the CRC takes `crc_bit_r`.
    crc_step: DFF<Bit>,
    /// What the framer sends next, picked (by priority) in the clock before it starts:
    /// the Sync reply, a NAK or ACK of channel 0 or 1, or the frame at `cursor`.
    p_sync: DFF<Bit>,
    p_nak0: DFF<Bit>,
    p_nak1: DFF<Bit>,
    p_ack0: DFF<Bit>,
    p_ack1: DFF<Bit>,
    p_data: DFF<Bit>,
    /// The offset `ti` decoded: 4 or more; the sequence number's offset.
    t_big: DFF<Bit>,
    t_seq: DFF<Bit>,
    /// The byte at `ti` is the payload's last.
    t_end: DFF<Bit>,
    /// The control packet's byte at `ti`.
    cbyte_r: DFF<Bits<8>>,
    /// `cur` is the flag; `cur` is the escape byte.
    cur_flag: DFF<Bit>,
    cur_esc: DFF<Bit>,
    // ---- LEDs ----
    st_count: DFF<Bits<STRETCH_TICKS_W>>,
    act_cur: DFF<Bit>,
    act_prev: DFF<Bit>,
    flt_cur: DFF<Bit>,
    flt_prev: DFF<Bit>,

    // ---- Locals ----
    evt: Signal<Local, Bit>,
    core_busy: Signal<Local, Bit>,
    is_mw: Signal<Local, Bit>,
    is_mr: Signal<Local, Bit>,
    is_dd: Signal<Local, Bit>,
    is_ack: Signal<Local, Bit>,
    is_nak: Signal<Local, Bit>,
    is_sync: Signal<Local, Bit>,
    exp_sel: Signal<Local, Bits<8>>,
    dseq: Signal<Local, Bits<8>>,
    room: Signal<Local, Bit>,
    d_end_calc: Signal<Local, Bits<COUNT_W>>,
    d_inc: Signal<Local, Bit>,
    d_start: Signal<Local, Bit>,
    an_next: Signal<Local, Bits<8>>,
    an_n3: Signal<Local, Bits<3>>,
    rx_pidx: Signal<Local, Bits<COUNT_W>>,
    cand: Signal<Local, Bits<TX_SLOT_W>>,
    cand_on_line: Signal<Local, Bit>,
    slot_free: Signal<Local, Bit>,
    lenm1: Signal<Local, Bits<DMA_LEN_W>>,
    w_o: Signal<Local, Bits<4>>,
    w_data: Signal<Local, Bit>,
    w_md: Signal<Local, Bits<8>>,
    w_rr: Signal<Local, Bits<8>>,
    w_wr: Signal<Local, Bits<8>>,
    w_md2: Signal<Local, Bits<8>>,
    w_rr2: Signal<Local, Bits<8>>,
    w_hb0: Signal<Local, Bits<8>>,
    w_hb2: Signal<Local, Bits<8>>,
    w_hb3: Signal<Local, Bits<8>>,
    w_field: Signal<Local, Bits<8>>,
    w_da_en: Signal<Local, Bit>,
    w_lenq: Signal<Local, Bits<7>>,
    w_bi: Signal<Local, Bits<2>>,
    w_end_o: Signal<Local, Bits<4>>,
    w_add: Signal<Local, Bits<9>>,
    w_sum: Signal<Local, Bits<9>>,
    w_fbyte: Signal<Local, Bits<8>>,
    w_dbyte: Signal<Local, Bits<8>>,
    w_step: Signal<Local, Bit>,
    cbyte: Signal<Local, Bits<8>>,
    src: Signal<Local, Bits<8>>,
    special: Signal<Local, Bit>,
    line: Signal<Local, Bits<8>>,
    t_reload: Signal<Local, Bit>,
    tick: Signal<Local, Bit>,
    crc_sh: Signal<Local, Bits<8>>,
    crc_bit: Signal<Local, Bit>,
    c_sync: Signal<Local, Bit>,
    t_lo: Signal<Local, Bits<3>>,
    crc_fb: Signal<Local, Bit>,
    crc_next: Signal<Local, Bits<16>>,
    act_evt: Signal<Local, Bit>,
    o_valid: Signal<Local, Bit>,
    w_commit: Signal<Local, Bit>,
    w_cut: Signal<Local, Bit>,
    nq_plus: Signal<Local, Bits<3>>,
    o_data: Signal<Local, Bits<8>>,
    o_free: Signal<Local, Bit>,

    // ---- Constants ----
    k_flag: Constant<Bits<8>>,
    k_esc: Constant<Bits<8>>,
    k_esc_flag: Constant<Bits<8>>,
    k_esc_esc: Constant<Bits<8>>,
    k_t_mw: Constant<Bits<8>>,
    k_t_mr: Constant<Bits<8>>,
    k_t_dd: Constant<Bits<8>>,
    k_t_ack: Constant<Bits<8>>,
    k_t_nak: Constant<Bits<8>>,
    k_t_sync: Constant<Bits<8>>,
    k_t_md: Constant<Bits<8>>,
    k_t_rr: Constant<Bits<8>>,
    k_t_wr: Constant<Bits<8>>,
    k_t_ev: Constant<Bits<8>>,
    k_t_dack: Constant<Bits<8>>,
    k_t_dnak: Constant<Bits<8>>,
    k_t_dsync: Constant<Bits<8>>,
    k_version: Constant<Bits<8>>,
    k_len_ack: Constant<Bits<8>>,
    k_len_sync: Constant<Bits<8>>,
    k_byte_one: Constant<Bits<8>>,
    k_wdata_quad: Constant<Bits<7>>,
    k_dd_end_off: Constant<Bits<COUNT_W>>,
    k_two_lsb_all: Constant<Bits<2>>,
    k_slot_one: Constant<Bits<3>>,
    k_pulse: Constant<Bits<PULSE_W>>,
    k_pulse_one: Constant<Bits<PULSE_W>>,
    k_timeout_m1: Constant<Bits<TIMER_TICKS_W>>,
    k_timer_one: Constant<Bits<TIMER_TICKS_W>>,
    k_stretch_m1: Constant<Bits<STRETCH_TICKS_W>>,
    k_stretch_one: Constant<Bits<STRETCH_TICKS_W>>,
    k_tick_one: Constant<Bits<TICK_W>>,
    k_crc_poly: Constant<Bits<16>>,
    k_t3: [Constant<Bits<3>>; 8],
    k_crc_init: Constant<Bits<16>>,
    k_crc_i_top: Constant<Bits<3>>,
    k_crc_i_one: Constant<Bits<3>>,
    k_len_one: Constant<Bits<DMA_LEN_W>>,
    k_plen_md: Constant<Bits<8>>,
    k_plen_rr: Constant<Bits<8>>,
    k_plen_ev: Constant<Bits<8>>,
    k_sel4: [Constant<Bits<4>>; 16],
    k_two_lsb8: Constant<Bits<8>>,
    k_q_two: Constant<Bits<7>>,
    k_q_three: Constant<Bits<6>>,
    k_bi_one: Constant<Bits<2>>,
    k_add_one: Constant<Bits<9>>,
    k_off_wr_full: Constant<Bits<SLOT_OFF_W>>,
    k_off_one: Constant<Bits<SLOT_OFF_W>>,
    k_off_wr_data: Constant<Bits<SLOT_OFF_W>>,
    k_sel2: [Constant<Bits<2>>; 4],
    k_phase_crc_hi: Constant<Bits<2>>,
    k_phase_crc_lo: Constant<Bits<2>>,
    k_phase_one: Constant<Bits<2>>,
    k_wphase_last: Constant<Bits<2>>,
}

impl Bridge {
    /// A bridge with UART bits of `clocks_per_bit` clocks (4 to 256), a retransmission
    /// timeout of `retransmit_timeout_cycles` clocks (2 to 2^24; counted in ticks of
    /// 2^[`TICK_W`] clocks, rounded up: the timeout ends up to one tick early) and LEDs
    /// stretched for up to `stretch_cycles` clocks (4 to 2^25; half of it counted in whole
    /// ticks, at least one).
    pub fn new(clocks_per_bit: u64, retransmit_timeout_cycles: u64, stretch_cycles: u64) -> Bridge {
        assert!(
            (2..=1 << TIMER_W).contains(&retransmit_timeout_cycles),
            "Bridge: retransmit_timeout_cycles must be 2..=2^{TIMER_W}"
        );
        assert!(
            (4..=2 << STRETCH_W).contains(&stretch_cycles),
            "Bridge: stretch_cycles must be 4..=2^{}",
            STRETCH_W + 1
        );
        let cpb = u32::try_from(clocks_per_bit).expect("Bridge: clocks_per_bit too large");
        let hdr = ab::HEADER_BYTES as u64;
        const _: () = assert!((ab::HEADER_BYTES + ab::MMIO_READ_BYTES).is_multiple_of(4));
        with_defaults!(Bridge {
            urx: UartRx::new(cpb),
            utx: UartTx::new(cpb),
            k_flag: konst(u64::from(ab::FLAG)),
            k_esc: konst(u64::from(ab::ESC)),
            k_esc_flag: konst(u64::from(ab::ESC_FLAG)),
            k_esc_esc: konst(u64::from(ab::ESC_ESC)),
            k_t_mw: konst(u64::from(ab::TYPE_MMIO_WRITE)),
            k_t_mr: konst(u64::from(ab::TYPE_MMIO_READ)),
            k_t_dd: konst(u64::from(ab::TYPE_DMA_READ_DATA)),
            k_t_ack: konst(u64::from(ab::TYPE_ACK)),
            k_t_nak: konst(u64::from(ab::TYPE_NAK)),
            k_t_sync: konst(u64::from(ab::TYPE_SYNC)),
            k_t_md: konst(u64::from(ab::TYPE_MMIO_READ_DATA)),
            k_t_rr: konst(u64::from(ab::TYPE_DMA_READ_REQ)),
            k_t_wr: konst(u64::from(ab::TYPE_DMA_WRITE)),
            k_t_ev: konst(u64::from(ab::TYPE_EVENT)),
            k_t_dack: konst(u64::from(ab::TYPE_ACK | ab::TYPE_FROM_DEVICE)),
            k_t_dnak: konst(u64::from(ab::TYPE_NAK | ab::TYPE_FROM_DEVICE)),
            k_t_dsync: konst(u64::from(ab::TYPE_SYNC | ab::TYPE_FROM_DEVICE)),
            k_version: konst(u64::from(ab::PROTOCOL_VERSION)),
            k_len_ack: konst(ab::ACK_BYTES as u64),
            k_len_sync: konst(ab::SYNC_BYTES as u64),
            k_byte_one: konst(1),
            k_wdata_quad: konst((hdr + ab::MMIO_READ_BYTES as u64) / 4),
            k_dd_end_off: konst(ab::DMA_READ_DATA_FIELD_BYTES as u64 + 1),
            k_two_lsb_all: konst(3),
            k_slot_one: konst(1),
            k_pulse: konst(CORE_RESET_CYCLES),
            k_pulse_one: konst(1),
            k_timeout_m1: konst(retransmit_timeout_cycles.div_ceil(1 << TICK_W) - 1),
            k_timer_one: konst(1),
            k_stretch_m1: konst(((stretch_cycles / 2) >> TICK_W).max(1) - 1),
            k_stretch_one: konst(1),
            k_tick_one: konst(1),
            k_crc_poly: konst(u64::from(ab::CRC_POLY)),
            k_t3: std::array::from_fn(|i| konst(i as u64)),
            k_crc_init: konst(u64::from(ab::CRC_INIT)),
            k_crc_i_top: konst(7),
            k_crc_i_one: konst(1),
            k_len_one: konst(1),
            k_plen_md: konst(ab::MMIO_READ_DATA_BYTES as u64),
            k_plen_rr: konst(ab::DMA_READ_REQ_BYTES as u64),
            k_plen_ev: konst(ab::EVENT_BYTES as u64),
            k_off_one: konst(1),
            k_off_wr_data: konst(hdr + ab::DMA_WRITE_FIELD_BYTES as u64),
            k_sel2: std::array::from_fn(|i| konst(i as u64)),
            k_sel4: std::array::from_fn(|i| konst(i as u64)),
            k_two_lsb8: konst(3),
            k_q_two: konst(2),
            k_q_three: konst(3),
            k_bi_one: konst(1),
            k_add_one: konst(1),
            k_off_wr_full: konst(hdr + (ab::DMA_WRITE_FIELD_BYTES + ab::MAX_DATA_BYTES) as u64 - 1),
            k_phase_crc_hi: konst(1),
            k_phase_crc_lo: konst(2),
            k_phase_one: konst(1),
            k_wphase_last: konst(WPHASE_LAST),
        } defaults {
            clock, reset, rxd, txd, core_reset, link_up, activity, fault, mmio_req_valid,
            mmio_req_ready, mmio_req_write, mmio_req_addr, mmio_req_wdata, mmio_rsp_valid,
            mmio_rsp_ready, mmio_rsp_data, dma_req_valid, dma_req_ready, dma_req_write,
            dma_req_da, dma_req_len, dma_req_tag, dma_wr_valid, dma_wr_ready, dma_wr_data,
            dma_wr_last, dma_rd_valid, dma_rd_ready, dma_rd_data, dma_rd_tag, dma_rd_last,
            dma_rd_error, event_valid, event_ready, event_vi, deframer, rxmem, txmem,
            wbank, exp0, exp1, nak_sent0, nak_sent1, ack_due0, ack_due1, nak_due0, nak_due1,
            sync_due, nonce, sreset, pulse, busy, t_reload_r, link, h_mw, h_mr, h_dd, h_ack, h_nak, h_sync, h_dzero, h_ddup, h_an_ok, h_an_n, h_an_nz, h_room, m_state, m_addr, m_wdata, m_write, m_ok,
            d_state, d_bank, d_addr, d_primed, d_word, d_tag, d_err, d_lastf, d_end, base,
            head, nq, sent, cursor, tick_count, timer, w_state, w_kind, woff, wr_da, w_r, w_cy, w_phase, w_md_r, ev_vi, w_rr_r, w_wr_r, w_hb_r, f_r, d_r, w_ok_prev, w_wlast_r, w_rr_wait, w_lenm1, w_wordend_r, w_full_r, w_rot_r, w_last_r, w_commit_r, w_cont, w_hdr, w_cnt, w_lastpkt, f_state,
            f_data, c_kind, c_ch, tslot, tseq, ti, tleft, tphase, cur, esc2, crc_v, crc_i, crc_busy, crc_bit_r, crc_step, p_sync, p_nak0, p_nak1, p_ack0, p_ack1, p_data, t_big, t_seq, t_end, cbyte_r, cur_flag, cur_esc, st_count,
            act_cur, act_prev, flt_cur, flt_prev, evt, core_busy, is_mw, is_mr, is_dd, is_ack,
            is_nak, is_sync, exp_sel, dseq, room, d_end_calc, d_inc, d_start, an_next, an_n3,
            rx_pidx, cand, cand_on_line, slot_free, lenm1, w_o, w_data, w_md, w_rr, w_wr, w_md2, w_rr2, w_hb0, w_hb2, w_hb3, w_field, w_da_en, w_lenq,
            w_bi, w_end_o, w_add, w_sum, w_fbyte, w_dbyte, w_step, cbyte, src, special, line,
            t_reload, tick, c_sync, t_lo, crc_sh, crc_bit, crc_fb, crc_next, act_evt, o_valid, o_data, o_free, w_commit, w_cut, nq_plus,
        })
    }
}

impl Default for Bridge {
    /// The board's bridge: [`UART_CLOCKS_PER_BIT`], a timeout of
    /// [`ab::RETRANSMIT_TIMEOUT_MS`] and LEDs stretched for 1/16 s at
    /// [`abi::board::BOARD_CLOCK_HZ`].
    fn default() -> Self {
        let hz = u64::from(abi::board::BOARD_CLOCK_HZ);
        Bridge::new(
            u64::from(UART_CLOCKS_PER_BIT),
            hz / 1000 * u64::from(ab::RETRANSMIT_TIMEOUT_MS),
            hz / 16,
        )
    }
}

crate::clocked!(Bridge);

impl Logic for Bridge {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            wbank,
            exp0,
            exp1,
            nak_sent0,
            nak_sent1,
            ack_due0,
            ack_due1,
            nak_due0,
            nak_due1,
            sync_due,
            nonce,
            sreset,
            pulse,
            busy,
            t_reload_r,
            link,
            h_mw,
            h_mr,
            h_dd,
            h_ack,
            h_nak,
            h_sync,
            h_dzero,
            h_ddup,
            h_an_ok,
            h_an_n,
            h_an_nz,
            h_room,
            m_state,
            m_addr,
            m_wdata,
            m_write,
            m_ok,
            d_state,
            d_bank,
            d_addr,
            d_primed,
            d_word,
            d_tag,
            d_err,
            d_lastf,
            d_end,
            base,
            head,
            nq,
            sent,
            cursor,
            tick_count,
            timer,
            w_state,
            w_kind,
            woff,
            wr_da,
            w_r,
            w_cy,
            w_phase,
            w_md_r,
            ev_vi,
            w_rr_r,
            w_wr_r,
            w_hb_r,
            f_r,
            d_r,
            w_ok_prev,
            w_wlast_r,
            w_rr_wait,
            w_lenm1,
            w_wordend_r,
            w_full_r,
            w_rot_r,
            w_last_r,
            w_commit_r,
            w_cont,
            w_hdr,
            w_cnt,
            w_lastpkt,
            f_state,
            f_data,
            c_kind,
            c_ch,
            tslot,
            tseq,
            ti,
            tleft,
            tphase,
            cur,
            esc2,
            crc_v,
            crc_i,
            crc_busy,
            crc_bit_r,
            crc_step,
            p_sync,
            p_nak0,
            p_nak1,
            p_ack0,
            p_ack1,
            p_data,
            t_big,
            t_seq,
            t_end,
            cbyte_r,
            cur_flag,
            cur_esc,
            st_count,
            act_cur,
            act_prev,
            flt_cur,
            flt_prev
        );
        clock!(self, clock, urx, utx, deframer, rxmem, txmem);

        // ---- Line in ----
        self.urx.reset.next = self.reset.val();
        self.urx.rxd.next = self.rxd.val();
        self.urx.ready.next = true;
        self.deframer.reset.next = self.reset.val();
        // The deframer takes every byte at once: no holding register.
        self.deframer.in_valid.next = self.urx.fresh.val();
        self.deframer.in_data.next = self.urx.fresh_data.val();
        self.utx.reset.next = self.reset.val();
        self.txd.next = self.utx.txd.val();

        // ---- A valid frame, two clocks after its closing flag ----
        self.evt.next = self.deframer.ok.val();
        self.core_busy.next = self.busy.q.val();
        self.t_reload.next = false;
        self.is_mw.next = self.deframer.ftype.val() == self.k_t_mw.val();
        self.is_mr.next = self.deframer.ftype.val() == self.k_t_mr.val();
        self.is_dd.next = self.deframer.ftype.val() == self.k_t_dd.val();
        self.is_ack.next = self.deframer.ftype.val() == self.k_t_ack.val();
        self.is_nak.next = self.deframer.ftype.val() == self.k_t_nak.val();
        self.is_sync.next = self.deframer.ftype.val() == self.k_t_sync.val();
        self.exp_sel.next = self.exp0.q.val();
        self.room.next = (self.m_state.q.val() == MState::Idle) && self.m_ok.q.val();
        if self.h_dd.q.val() {
            self.exp_sel.next = self.exp1.q.val();
            self.room.next = self.d_state.q.val() == DState::Idle;
        }
        self.dseq.next = self.deframer.seq.val() - self.exp_sel.val();
        self.d_end_calc.next = self.deframer.len.val() - self.k_dd_end_off.val();
        self.an_next.next = self.deframer.info.val().get_bits::<8>(8);
        self.an_n3.next = self.h_an_n.q.val().get_bits::<3>(0);
        // The frame's classification, registered: the header is stable long before `evt`
        // (the sequence number and ACK checks take a second clock, after the type and the
        // difference to `base` are registered). `sent` may grow in the clock before `evt`;
        // the registered range check is then the stricter one (an ACK it rejects is repaired
        // by the next).
        self.h_mw.d.next = self.is_mw.val();
        self.h_mr.d.next = self.is_mr.val();
        self.h_dd.d.next = self.is_dd.val();
        self.h_ack.d.next = self.is_ack.val();
        self.h_nak.d.next = self.is_nak.val();
        self.h_sync.d.next = self.is_sync.val();
        self.h_dzero.d.next = !self.dseq.val().any();
        self.h_ddup.d.next = self.dseq.val().get_bit(7);
        self.h_an_n.d.next = self.an_next.val() - self.base.q.val();
        self.h_an_ok.d.next = self.h_an_n.q.val() <= bit_cast::<8, 3>(self.sent.q.val());
        self.h_an_nz.d.next = self.h_an_n.q.val().any();
        // An executor idle in the clock before `evt` is idle at `evt` (only an accept makes it
        // busy); one that became idle just then counts as busy (the frame is dropped as if
        // lost).
        self.h_room.d.next = self.room.val() && !self.core_busy.val();

        // ---- Receive buffer: payload bytes from the third on, into the free bank ----
        self.rx_pidx.next = self.deframer.store_pidx.val();
        self.rxmem.write_address.next = (bit_cast::<RXMEM_W, 1>(self.wbank.q.val()) << 8)
            | bit_cast::<RXMEM_W, 8>(self.rx_pidx.val().get_bits::<8>(0));
        self.rxmem.write_data.next = self.deframer.store_data.val();
        self.rxmem.write_enable.next = self.deframer.store.val() && !self.rx_pidx.val().get_bit(8);
        self.rxmem.read_address.next = (bit_cast::<RXMEM_W, 1>(self.d_bank.q.val()) << 8)
            | bit_cast::<RXMEM_W, 8>(self.d_addr.q.val());

        // MMIO write data straight into the request register while no access is pending.
        if self.deframer.store.val() {
            if !self.deframer.store_index.val().any() {
                self.m_ok.d.next = self.m_state.q.val() == MState::Idle;
            } else if self.m_state.q.val() != MState::Idle {
                self.m_ok.d.next = false;
            }
            if (self.deframer.store_index.val().get_bits::<7>(2) == self.k_wdata_quad.val())
                && (self.m_state.q.val() == MState::Idle)
            {
                self.m_wdata.d.next = (self.m_wdata.q.val() >> 8)
                    | (bit_cast::<32, 8>(self.deframer.store_data.val()) << 24);
            }
        }

        // ---- MMIO executor ----
        self.mmio_req_valid.next = self.m_state.q.val() == MState::Req;
        self.mmio_req_write.next = self.m_write.q.val();
        self.mmio_req_addr.next = self.m_addr.q.val();
        self.mmio_req_wdata.next = self.m_wdata.q.val();
        if (self.m_state.q.val() == MState::Req) && self.mmio_req_ready.val() {
            if self.m_write.q.val() {
                self.m_state.d.next = MState::Idle;
            } else {
                self.m_state.d.next = MState::WaitRsp;
            }
        }

        // ---- DMA read data executor ----
        self.dma_rd_valid.next = self.d_state.q.val() == DState::Present;
        self.dma_rd_data.next = (bit_cast::<32, 8>(self.rxmem.read_data.val()) << 24)
            | bit_cast::<32, 24>(self.d_word.q.val());
        self.dma_rd_tag.next = self.d_tag.q.val();
        self.dma_rd_error.next = self.d_err.q.val();
        self.dma_rd_last.next = self.d_lastf.q.val() && (self.d_addr.q.val() == self.d_end.q.val());
        self.d_inc.next = false;
        if self.d_state.q.val() == DState::Fetch {
            self.d_primed.d.next = true;
            if self.d_primed.q.val() {
                if self.d_addr.q.val().get_bits::<2>(0) == self.k_two_lsb_all.val() {
                    // Byte 3 stays on the buffer's output: its address holds while presented.
                    self.d_state.d.next = DState::Present;
                } else {
                    self.d_word.d.next = (self.d_word.q.val() >> 8)
                        | (bit_cast::<24, 8>(self.rxmem.read_data.val()) << 16);
                    self.d_inc.next = true;
                    self.d_primed.d.next = false;
                }
            }
        }
        if (self.d_state.q.val() == DState::Present) && self.dma_rd_ready.val() {
            if self.d_addr.q.val() == self.d_end.q.val() {
                self.d_state.d.next = DState::Idle;
            } else {
                self.d_inc.next = true;
                self.d_primed.d.next = false;
                self.d_state.d.next = DState::Fetch;
            }
        }

        // ---- Sequenced frames: Receiver rules per host channel ----
        self.d_start.next = false;
        if self.evt.val() && (self.h_mw.q.val() || self.h_mr.q.val()) {
            if self.h_dzero.q.val() {
                if self.h_room.q.val() {
                    self.exp0.d.next = self.exp0.q.val() + self.k_byte_one.val();
                    self.nak_sent0.d.next = false;
                    self.nak_due0.d.next = false;
                    self.ack_due0.d.next = true;
                    self.m_addr.d.next =
                        (bit_cast::<20, 4>(self.deframer.b2.val().get_bits::<4>(0)) << 16)
                            | bit_cast::<20, 16>(self.deframer.info.val());
                    self.m_write.d.next = self.h_mw.q.val();
                    self.m_state.d.next = MState::Req;
                }
            } else if self.h_ddup.q.val() {
                self.ack_due0.d.next = true;
            } else if !self.nak_sent0.q.val() {
                self.nak_due0.d.next = true;
                self.nak_sent0.d.next = true;
            }
        }
        if self.evt.val() && self.h_dd.q.val() {
            if self.h_dzero.q.val() {
                if self.h_room.q.val() {
                    self.exp1.d.next = self.exp1.q.val() + self.k_byte_one.val();
                    self.nak_sent1.d.next = false;
                    self.nak_due1.d.next = false;
                    self.ack_due1.d.next = true;
                    self.d_bank.d.next = self.wbank.q.val();
                    self.wbank.d.next = !self.wbank.q.val();
                    self.d_tag.d.next = self.deframer.info.val().get_bits::<DMA_TAG_W>(0);
                    self.d_err.d.next = self.deframer.info.val().get_bit(14);
                    self.d_lastf.d.next = self.deframer.info.val().get_bit(15);
                    self.d_end.d.next = self.d_end_calc.val().get_bits::<8>(0);
                    self.d_start.next = true;
                    self.d_primed.d.next = false;
                    self.d_state.d.next = DState::Fetch;
                }
            } else if self.h_ddup.q.val() {
                self.ack_due1.d.next = true;
            } else if !self.nak_sent1.q.val() {
                self.nak_due1.d.next = true;
                self.nak_sent1.d.next = true;
            }
        }

        // The byte address in the bank: from 0 for an accepted frame, up by one per byte read.
        if self.d_start.val() {
            self.d_addr.d.next = 0.into();
        } else if self.d_inc.val() {
            self.d_addr.d.next = self.d_addr.q.val() + self.k_byte_one.val();
        }

        // ---- Packet writer ----
        self.cand.next = self.head.q.val() + self.nq.q.val().get_bits::<TX_SLOT_W>(0);
        // The framer may still be sending a released frame from the candidate slot.
        self.cand_on_line.next = (self.f_state.q.val() != FState::Idle)
            && self.f_data.q.val()
            && (self.tslot.q.val() == self.cand.val());
        self.slot_free.next = !self.nq.q.val().get_bit(2) && !self.cand_on_line.val();
        self.w_lenm1.d.next = self.dma_req_len.val() - self.k_len_one.val();
        self.lenm1.next = self.w_lenm1.q.val();
        // The offset in the header and fields (below 16 there), and whether the writer is in a
        // DMA write packet's data.
        self.w_o.next = self.woff.q.val().get_bits::<4>(0);
        self.w_data.next = (self.w_kind.q.val() == WKind::Write) && !self.w_hdr.q.val();
        // Field bytes, by kind and offset (balanced by the offset's bits): the port's fields
        // are read while they are held. Offsets 4-7 and 8-11 are two groups of four.
        if self.w_o.val().get_bit(1) {
            if self.w_o.val().get_bit(0) {
                self.w_md.next = 0.into();
                self.w_rr.next = self.dma_req_da.val().get_bits::<8>(8);
                self.w_md2.next = self.mmio_rsp_data.val().get_bits::<8>(24);
                self.w_rr2.next = self.lenm1.val().get_bits::<8>(0);
            } else {
                self.w_md.next = bit_cast::<8, 4>(self.m_addr.q.val().get_bits::<4>(16));
                self.w_rr.next = self.dma_req_da.val().get_bits::<8>(0);
                self.w_md2.next = self.mmio_rsp_data.val().get_bits::<8>(16);
                self.w_rr2.next = self.dma_req_da.val().get_bits::<8>(32);
            }
        } else if self.w_o.val().get_bit(0) {
            self.w_md.next = self.m_addr.q.val().get_bits::<8>(8);
            self.w_rr.next = bit_cast::<8, 4>(self.dma_req_tag.val().get_bits::<4>(8));
            self.w_md2.next = self.mmio_rsp_data.val().get_bits::<8>(8);
            self.w_rr2.next = self.dma_req_da.val().get_bits::<8>(24);
        } else {
            self.w_md.next = self.m_addr.q.val().get_bits::<8>(0);
            self.w_rr.next = self.dma_req_tag.val().get_bits::<8>(0);
            self.w_md2.next = self.mmio_rsp_data.val().get_bits::<8>(0);
            self.w_rr2.next = self.dma_req_da.val().get_bits::<8>(16);
        }
        if self.w_o.val().get_bit(3) {
            self.w_md.next = self.w_md2.val();
            self.w_rr.next = self.w_rr2.val();
            if self.w_o.val().get_bit(2) {
                self.w_rr.next = bit_cast::<8, 5>(self.lenm1.val().get_bits::<5>(8));
            }
        }
        // A DMA write packet's fields: `da` from the low byte of the rotating `wr_da`, then
        // `info`.
        self.w_wr.next = self.wr_da.q.val().get_bits::<8>(0);
        if self.w_o.val().get_bit(3) && self.w_o.val().get_bit(0) {
            self.w_wr.next = self.w_cnt.q.val();
        }
        if self.w_o.val().get_bit(3) && self.w_o.val().get_bit(1) {
            self.w_wr.next = bit_cast::<8, 1>(self.w_lastpkt.q.val().into()) << 7;
        }
        // Payload bytes 0 to 3 of a DMA write: 7 + 4 words.
        self.w_lenq.next =
            bit_cast::<7, 6>(self.w_cnt.q.val().get_bits::<6>(2)) + self.k_q_two.val();
        // Header bytes by kind: type, (seq, filled in by the framer), len.
        match self.w_kind.q.val() {
            WKind::MmioData => {
                self.w_hb0.next = self.k_t_md.val();
                self.w_hb2.next = self.k_plen_md.val();
                self.w_hb3.next = 0.into();
                self.w_field.next = self.w_md_r.q.val();
            }
            WKind::ReadReq => {
                self.w_hb0.next = self.k_t_rr.val();
                self.w_hb2.next = self.k_plen_rr.val();
                self.w_hb3.next = 0.into();
                self.w_field.next = self.w_rr_r.q.val();
            }
            WKind::Write => {
                self.w_hb0.next = self.k_t_wr.val();
                self.w_hb2.next = (bit_cast::<8, 6>(self.w_lenq.val().get_bits::<6>(0)) << 2)
                    | self.k_two_lsb8.val();
                self.w_hb3.next = bit_cast::<8, 1>(self.w_lenq.val().get_bits::<1>(6));
                self.w_field.next = self.w_wr_r.q.val();
            }
            WKind::Event => {
                self.w_hb0.next = self.k_t_ev.val();
                self.w_hb2.next = self.k_plen_ev.val();
                self.w_hb3.next = 0.into();
                self.w_field.next = self.ev_vi.q.val();
            }
        }
        // Two clocks: the field bytes of every kind and the header byte are registered, then
        // the one of the writer's kind (`woff` and the fields hold for the offset's clocks).
        self.w_md_r.d.next = self.w_md.val();
        self.w_rr_r.d.next = self.w_rr.val();
        self.w_wr_r.d.next = self.w_wr.val();
        self.w_hb_r.d.next = self.w_hb0.val();
        if self.w_o.val().get_bit(1) {
            self.w_hb_r.d.next = self.w_hb2.val();
            if self.w_o.val().get_bit(0) {
                self.w_hb_r.d.next = self.w_hb3.val();
            }
        }
        self.w_fbyte.next = self.w_field.val();
        if !self.w_o.val().get_bits::<2>(2).any() {
            self.w_fbyte.next = self.w_hb_r.q.val();
        }
        // Data byte `(woff - 11) % 4` of the DMA write word; the final word's unused bytes
        // are zero.
        self.w_bi.next = self.woff.q.val().get_bits::<2>(0) + self.k_bi_one.val();
        self.w_dbyte.next = self.dma_wr_data.val().get_bits::<8>(0);
        if self.w_bi.val() == self.k_sel2[1].val() {
            self.w_dbyte.next = self.dma_wr_data.val().get_bits::<8>(8);
        }
        if self.w_bi.val() == self.k_sel2[2].val() {
            self.w_dbyte.next = self.dma_wr_data.val().get_bits::<8>(16);
        }
        if self.w_bi.val() == self.k_sel2[3].val() {
            self.w_dbyte.next = self.dma_wr_data.val().get_bits::<8>(24);
        }
        if self.dma_wr_last.val() && (self.w_bi.val() > self.w_r.q.val()) {
            self.w_dbyte.next = 0.into();
        }
        // The last offset of a packet's header and fields.
        self.w_end_o.next = self.k_sel4[4].val();
        if self.w_kind.q.val() == WKind::MmioData {
            self.w_end_o.next = self.k_sel4[11].val();
        }
        if self.w_kind.q.val() == WKind::ReadReq {
            self.w_end_o.next = self.k_sel4[12].val();
        }
        if self.w_kind.q.val() == WKind::Write {
            self.w_end_o.next = self.k_sel4[10].val();
        }
        // The serial adder that moves `wr_da` on by the packet's bytes while its five bytes
        // are written: `w_cnt + 1` into the lowest, the carry into the others.
        self.w_add.next = bit_cast::<9, 1>(self.w_cy.q.val().into());
        if self.w_o.val() == self.k_sel4[4].val() {
            self.w_add.next = bit_cast::<9, 8>(self.w_cnt.q.val()) + self.k_add_one.val();
        }
        self.w_sum.next = bit_cast::<9, 8>(self.wr_da.q.val().get_bits::<8>(0)) + self.w_add.val();
        // A data byte is written when the word was offered in the clock before (its byte is
        // in `d_r`): a word offered stays until taken, so it is still there, and
        // `dma_wr_ready` does not depend on `dma_wr_valid` in the same clock.
        self.w_step.next = (self.w_state.q.val() == WState::Fill)
            && (self.w_phase.q.val() == self.k_wphase_last.val())
            && self.w_ok_prev.q.val();
        // Each byte takes three clocks at its offset: the field bytes are registered, then
        // the one of the kind (and the data byte), then the byte is written.
        self.f_r.d.next = self.w_fbyte.val();
        self.d_r.d.next = self.w_dbyte.val();
        self.w_ok_prev.d.next = !self.w_data.val() || self.dma_wr_valid.val();
        self.w_wlast_r.d.next = self.dma_wr_last.val();
        self.w_rr_wait.d.next = self.dma_req_valid.val() && !self.dma_req_write.val();
        // Decisions about the offset, registered in the first clock at it.
        self.w_wordend_r.d.next =
            self.w_data.val() && (self.woff.q.val().get_bits::<2>(0) == self.k_sel2[2].val());
        self.w_full_r.d.next = self.woff.q.val() == self.k_off_wr_full.val();
        self.w_last_r.d.next = !self.w_data.val() && (self.w_o.val() == self.w_end_o.val());
        self.w_rot_r.d.next = (self.w_kind.q.val() == WKind::Write)
            && self.w_hdr.q.val()
            && ((self.w_o.val().get_bits::<2>(2) == self.k_sel2[1].val())
                || (self.w_o.val() == self.k_sel4[8].val()));
        if (self.w_state.q.val() == WState::Fill)
            && (self.w_phase.q.val() != self.k_wphase_last.val())
        {
            self.w_phase.d.next = self.w_phase.q.val() + self.k_phase_one.val();
        }
        self.txmem.write_address.next = (bit_cast::<TXMEM_W, TX_SLOT_W>(self.cand.val()) << 9)
            | bit_cast::<TXMEM_W, SLOT_OFF_W>(self.woff.q.val());
        self.txmem.write_data.next = self.f_r.q.val();
        if self.w_data.val() {
            self.txmem.write_data.next = self.d_r.q.val();
        }
        self.txmem.write_enable.next = self.w_step.val();
        self.w_commit.next = false;
        self.dma_req_ready.next = false;
        self.dma_wr_ready.next = false;
        self.event_ready.next = false;
        self.mmio_rsp_ready.next = false;
        if (self.w_state.q.val() == WState::Idle) && !self.core_busy.val() {
            if self.w_cont.q.val() {
                // The rest of a DMA write, after the read request that made it wait.
                self.w_kind.d.next = WKind::Write;
                if self.dma_req_valid.val() && !self.dma_req_write.val() {
                    self.w_kind.d.next = WKind::ReadReq;
                }
                self.w_state.d.next = WState::WaitSlot;
            } else if self.dma_req_valid.val() {
                if self.dma_req_write.val() {
                    self.dma_req_ready.next = true;
                    self.w_r.d.next = self.dma_req_len.val().get_bits::<2>(0) - self.k_bi_one.val();
                    self.w_kind.d.next = WKind::Write;
                } else {
                    self.w_kind.d.next = WKind::ReadReq;
                }
                self.w_state.d.next = WState::WaitSlot;
            } else if self.event_valid.val() {
                self.event_ready.next = true;
                self.ev_vi.d.next = self.event_vi.val();
                self.w_kind.d.next = WKind::Event;
                self.w_state.d.next = WState::WaitSlot;
            } else if self.mmio_rsp_valid.val() && (self.m_state.q.val() == MState::WaitRsp) {
                self.w_kind.d.next = WKind::MmioData;
                self.w_state.d.next = WState::WaitSlot;
            }
        }
        // `wr_da`: loaded with a DMA write's request, rotated by its serial adder.
        self.w_da_en.next = (self.w_state.q.val() == WState::Idle)
            && !self.core_busy.val()
            && !self.w_cont.q.val()
            && self.dma_req_valid.val()
            && self.dma_req_write.val();
        if self.w_da_en.val() {
            self.wr_da.d.next = self.dma_req_da.val();
        } else if self.w_step.val() && self.w_rot_r.q.val() {
            self.wr_da.d.next = (self.wr_da.q.val() >> 8)
                | (bit_cast::<DA_W, 8>(self.w_sum.val().get_bits::<8>(0)) << 32);
        }
        if (self.w_state.q.val() == WState::WaitSlot) && self.slot_free.val() {
            self.woff.d.next = 0.into();
            self.w_phase.d.next = 0.into();
            self.w_state.d.next = WState::Fill;
            // A DMA write packet: its data first, then its header.
            self.w_hdr.d.next = false;
            self.w_lastpkt.d.next = false;
            if self.w_kind.q.val() == WKind::Write {
                self.woff.d.next = self.k_off_wr_data.val();
            }
        }
        // The write's next word is missing while a read request waits, at a word's start (both
        // seen in the clock before).
        self.w_cut.next = (self.w_state.q.val() == WState::Fill)
            && self.w_data.val()
            && (self.woff.q.val().get_bits::<2>(0) == self.k_sel2[3].val())
            && !self.w_ok_prev.q.val()
            && self.w_rr_wait.q.val();
        if self.w_cut.val() {
            self.w_phase.d.next = 0.into();
            if self.woff.q.val() == self.k_off_wr_data.val() {
                // No data yet: the packet is dropped; the read request goes first.
                self.w_cont.d.next = true;
                self.w_state.d.next = WState::Idle;
            } else {
                // The packet ends with the words it has (`w_cnt` counts them).
                self.w_hdr.d.next = true;
                self.woff.d.next = 0.into();
            }
        }
        if self.w_step.val() {
            self.w_phase.d.next = 0.into();
            self.woff.d.next = self.woff.q.val() + self.k_off_one.val();
            if self.w_rot_r.q.val() {
                self.w_cy.d.next = self.w_sum.val().get_bit(8);
            }
            if self.w_wordend_r.q.val() {
                // A word is in: the packet's data bytes so far, minus one.
                self.dma_wr_ready.next = true;
                self.w_cnt.d.next =
                    (bit_cast::<8, 6>(self.woff.q.val().get_bits::<6>(2) - self.k_q_three.val())
                        << 2)
                        | self.k_two_lsb8.val();
                if self.w_wlast_r.q.val() {
                    self.w_cnt.d.next = (bit_cast::<8, 6>(
                        self.woff.q.val().get_bits::<6>(2) - self.k_q_three.val(),
                    ) << 2)
                        | bit_cast::<8, 2>(self.w_r.q.val());
                }
                if self.w_wlast_r.q.val() || self.w_full_r.q.val() {
                    // The packet's data is in (the write's last word, or 256 bytes): its
                    // header and fields follow.
                    self.w_lastpkt.d.next = self.w_wlast_r.q.val();
                    self.w_hdr.d.next = true;
                    self.woff.d.next = 0.into();
                }
            } else if self.w_last_r.q.val() {
                // The packet is complete: it joins the window.
                self.w_commit.next = true;
                self.w_state.d.next = WState::Idle;
                if self.w_kind.q.val() == WKind::MmioData {
                    self.mmio_rsp_ready.next = true;
                    self.m_state.d.next = MState::Idle;
                }
                if self.w_kind.q.val() == WKind::ReadReq {
                    self.dma_req_ready.next = true;
                }
                if self.w_kind.q.val() == WKind::Write {
                    self.w_cont.d.next = !self.w_lastpkt.q.val();
                }
            }
        }

        // A packet that joins the window, a clock after it was completed (the writer takes
        // two clocks to start the next one), combined with an ACK or a Sync in the same clock.
        self.w_commit_r.d.next = self.w_commit.val();
        self.nq_plus.next = self.nq.q.val();
        if self.w_commit_r.q.val() {
            self.nq_plus.next = self.nq.q.val() + self.k_slot_one.val();
        }
        self.nq.d.next = self.nq_plus.val();

        // ---- ACK and NAK from the host: Sender rules ----
        if self.evt.val() && (self.h_ack.q.val() || self.h_nak.q.val()) && self.h_an_ok.q.val() {
            self.base.d.next = self.an_next.val();
            self.head.d.next = self.head.q.val() + self.an_n3.val().get_bits::<TX_SLOT_W>(0);
            self.nq.d.next = self.nq_plus.val() - self.an_n3.val();
            self.sent.d.next = self.sent.q.val() - self.an_n3.val();
            self.cursor.d.next = 0.into();
            if (self.cursor.q.val() >= self.an_n3.val()) && !self.h_nak.q.val() {
                self.cursor.d.next = self.cursor.q.val() - self.an_n3.val();
            }
            if self.h_an_nz.q.val() {
                self.t_reload.next = true;
            }
        }

        // ---- Framer ----
        self.txmem.read_address.next = (bit_cast::<TXMEM_W, TX_SLOT_W>(self.tslot.q.val()) << 9)
            | bit_cast::<TXMEM_W, SLOT_OFF_W>(self.ti.q.val());
        // The offset's low bits, and its decodes, registered: `ti` changes in `Send` (or
        // before `Open`), and is read in `Load`, `Fetch` clocks later.
        self.t_lo.next = self.ti.q.val().get_bits::<3>(0);
        self.t_big.d.next = self.ti.q.val().get_bits::<7>(2).any();
        self.t_seq.d.next =
            !self.ti.q.val().get_bits::<6>(3).any() && (self.t_lo.val() == self.k_t3[1].val());
        // `tleft` is loaded in `Load`; `Send` takes its decision in a later clock, when the
        // transmitter takes the byte (it is busy with the byte before for ten bit times).
        self.t_end.d.next = (self.t_big.q.val()
            || (self.ti.q.val().get_bits::<2>(0) == self.k_two_lsb_all.val()))
            && !self.tleft.q.val().any();
        // Control packet bytes (offsets 0 to 6), picked by the offset's low bits.
        self.c_sync.next = self.c_kind.q.val() == CKind::Sync;
        self.cbyte.next = 0.into();
        if self.t_lo.val().get_bit(2) {
            if self.t_lo.val().get_bit(1) {
                self.cbyte.next = bit_cast::<8, 1>(self.sreset.q.val().into());
            } else if self.t_lo.val().get_bit(0) {
                if self.c_sync.val() {
                    self.cbyte.next = self.k_version.val();
                } else if self.c_ch.q.val() {
                    self.cbyte.next = self.exp1.q.val();
                } else {
                    self.cbyte.next = self.exp0.q.val();
                }
            } else if self.c_sync.val() {
                self.cbyte.next = self.nonce.q.val();
            } else {
                self.cbyte.next = bit_cast::<8, 1>(self.c_ch.q.val().into());
            }
        } else if !self.t_lo.val().get_bit(0) {
            if self.t_lo.val().get_bit(1) {
                self.cbyte.next = self.k_len_ack.val();
                if self.c_sync.val() {
                    self.cbyte.next = self.k_len_sync.val();
                }
            } else {
                self.cbyte.next = self.k_t_dack.val();
                if self.c_kind.q.val() == CKind::Nak {
                    self.cbyte.next = self.k_t_dnak.val();
                }
                if self.c_sync.val() {
                    self.cbyte.next = self.k_t_dsync.val();
                }
            }
        }
        // Registered like the decodes (`c_kind`, `c_ch` are set before `Open`; a reply's
        // `next` may be a clock older than at `Load`).
        self.cbyte_r.d.next = self.cbyte.val();
        self.src.next = self.cbyte_r.q.val();
        if self.f_data.q.val() {
            self.src.next = self.txmem.read_data.val();
            if self.t_seq.q.val() {
                self.src.next = self.tseq.q.val();
            }
        }
        // `cur`'s compares, registered: `cur` is loaded in `Load`, and the transmitter takes
        // a line byte in a later clock.
        self.cur_flag.d.next = self.cur.q.val() == self.k_flag.val();
        self.cur_esc.d.next = self.cur.q.val() == self.k_esc.val();
        self.special.next = self.cur_flag.q.val() || self.cur_esc.q.val();
        self.line.next = self.cur.q.val();
        if self.esc2.q.val() {
            self.line.next = self.k_esc_esc.val();
            if self.cur_flag.q.val() {
                self.line.next = self.k_esc_flag.val();
            }
        } else if self.special.val() {
            self.line.next = self.k_esc.val();
        }
        // Line bytes go straight to the transmitter, which takes one when it is idle or in the
        // last clock of a stop bit.
        self.o_free.next = self.utx.ready.val();
        self.o_valid.next = false;
        self.o_data.next = self.line.val();
        // The transmit CRC, one bit a clock (MSB first) from `cur` after it is loaded: the
        // bit picked by `crc_i` is registered, the register takes it a clock later; nine
        // clocks a byte, done long before the byte has left on the line.
        self.crc_sh.next = self.cur.q.val() >> bit_cast::<8, 3>(self.crc_i.q.val());
        self.crc_bit.next = self.crc_sh.val().get_bit(0);
        self.crc_bit_r.d.next = self.crc_bit.val();
        self.crc_step.d.next = self.crc_busy.q.val();
        self.crc_fb.next = self.crc_v.q.val().get_bit(15) ^ self.crc_bit_r.q.val();
        self.crc_next.next = self.crc_v.q.val() << 1;
        if self.crc_fb.val() {
            self.crc_next.next = (self.crc_v.q.val() << 1) ^ self.k_crc_poly.val();
        }
        if self.crc_step.q.val() {
            self.crc_v.d.next = self.crc_next.val();
        }
        if self.crc_busy.q.val() {
            self.crc_i.d.next = self.crc_i.q.val() - self.k_crc_i_one.val();
            if !self.crc_i.q.val().any() {
                self.crc_busy.d.next = false;
            }
        }
        // The next thing to send, by priority, registered: `Pick` acts on it in the clock
        // after `Idle`. Only a valid frame (`evt`) clears a due reply or takes `cursor` below
        // `nq` outside the framer, and `Idle` moves on only without one.
        self.p_sync.d.next = false;
        self.p_nak0.d.next = false;
        self.p_nak1.d.next = false;
        self.p_ack0.d.next = false;
        self.p_ack1.d.next = false;
        self.p_data.d.next = false;
        if self.sync_due.q.val() && !self.core_busy.val() {
            self.p_sync.d.next = true;
        } else if self.nak_due0.q.val() {
            self.p_nak0.d.next = true;
        } else if self.nak_due1.q.val() {
            self.p_nak1.d.next = true;
        } else if self.ack_due0.q.val() {
            self.p_ack0.d.next = true;
        } else if self.ack_due1.q.val() {
            self.p_ack1.d.next = true;
        } else if self.cursor.q.val() < self.nq.q.val() {
            self.p_data.d.next = true;
        }
        self.act_evt.next = self.evt.val();
        match self.f_state.q.val() {
            FState::Idle => {
                if !self.evt.val() {
                    self.f_state.d.next = FState::Pick;
                    self.f_data.d.next = false;
                    self.c_ch.d.next = false;
                    self.ti.d.next = 0.into();
                    self.tphase.d.next = 0.into();
                    self.esc2.d.next = false;
                    self.crc_v.d.next = self.k_crc_init.val();
                    self.crc_busy.d.next = false;
                }
            }
            FState::Pick => {
                self.f_state.d.next = FState::Open;
                if self.evt.val() {
                    self.f_state.d.next = FState::Idle;
                } else if self.p_sync.q.val() {
                    self.c_kind.d.next = CKind::Sync;
                    self.sync_due.d.next = false;
                } else if self.p_nak0.q.val() {
                    self.c_kind.d.next = CKind::Nak;
                    self.nak_due0.d.next = false;
                    self.ack_due0.d.next = false;
                } else if self.p_nak1.q.val() {
                    self.c_kind.d.next = CKind::Nak;
                    self.c_ch.d.next = true;
                    self.nak_due1.d.next = false;
                    self.ack_due1.d.next = false;
                } else if self.p_ack0.q.val() {
                    self.c_kind.d.next = CKind::Ack;
                    self.ack_due0.d.next = false;
                } else if self.p_ack1.q.val() {
                    self.c_kind.d.next = CKind::Ack;
                    self.c_ch.d.next = true;
                    self.ack_due1.d.next = false;
                } else if self.p_data.q.val() {
                    self.f_data.d.next = true;
                    self.tslot.d.next =
                        self.head.q.val() + self.cursor.q.val().get_bits::<TX_SLOT_W>(0);
                    self.tseq.d.next = self.base.q.val() + bit_cast::<8, 3>(self.cursor.q.val());
                    self.cursor.d.next = self.cursor.q.val() + self.k_slot_one.val();
                    if self.cursor.q.val() == self.sent.q.val() {
                        self.sent.d.next = self.sent.q.val() + self.k_slot_one.val();
                    }
                    if !self.cursor.q.val().any() {
                        self.t_reload.next = true;
                    }
                } else {
                    self.f_state.d.next = FState::Idle;
                }
            }
            FState::Open => {
                self.o_valid.next = true;
                self.o_data.next = self.k_flag.val();
                if self.o_free.val() {
                    self.f_state.d.next = FState::Fetch;
                }
            }
            FState::Fetch => {
                // The CRC of the byte before is complete first.
                if !self.crc_busy.q.val() && !self.crc_step.q.val() {
                    self.f_state.d.next = FState::Load;
                }
            }
            FState::Load => {
                if !self.tphase.q.val().any() {
                    self.cur.d.next = self.src.val();
                    self.crc_busy.d.next = true;
                    self.crc_i.d.next = self.k_crc_i_top.val();
                    // Payload bytes left: `len` as it goes by, then one less a byte.
                    if self.t_big.q.val() {
                        self.tleft.d.next = self.tleft.q.val() - self.k_off_one.val();
                    } else if self.ti.q.val().get_bit(1) {
                        if self.ti.q.val().get_bit(0) {
                            self.tleft.d.next =
                                (bit_cast::<SLOT_OFF_W, 1>(self.src.val().get_bits::<1>(0)) << 8)
                                    | bit_cast::<SLOT_OFF_W, 8>(
                                        self.tleft.q.val().get_bits::<8>(0),
                                    );
                        } else {
                            self.tleft.d.next = bit_cast::<SLOT_OFF_W, 8>(self.src.val());
                        }
                    }
                }
                if self.tphase.q.val() == self.k_phase_crc_hi.val() {
                    self.cur.d.next = self.crc_v.q.val().get_bits::<8>(8);
                }
                if self.tphase.q.val() == self.k_phase_crc_lo.val() {
                    self.cur.d.next = self.crc_v.q.val().get_bits::<8>(0);
                }
                self.f_state.d.next = FState::Send;
            }
            FState::Send => {
                self.o_valid.next = true;
                if self.o_free.val() {
                    if !self.esc2.q.val() && self.special.val() {
                        self.esc2.d.next = true;
                    } else {
                        self.esc2.d.next = false;
                        self.f_state.d.next = FState::Fetch;
                        if !self.tphase.q.val().any() {
                            if self.t_end.q.val() {
                                self.tphase.d.next = self.k_phase_crc_hi.val();
                            } else {
                                self.ti.d.next = self.ti.q.val() + self.k_off_one.val();
                            }
                        } else if self.tphase.q.val() == self.k_phase_crc_hi.val() {
                            self.tphase.d.next = self.k_phase_crc_lo.val();
                        } else {
                            self.f_state.d.next = FState::Close;
                        }
                    }
                }
            }
            FState::Close => {
                self.o_valid.next = true;
                self.o_data.next = self.k_flag.val();
                if self.o_free.val() {
                    self.f_state.d.next = FState::Idle;
                    self.act_evt.next = true;
                    if !self.f_data.q.val() && (self.c_kind.q.val() == CKind::Sync) {
                        self.link.d.next = true;
                    }
                }
            }
        }

        self.utx.valid.next = self.o_valid.val();
        self.utx.data.next = self.o_data.val();

        // ---- Sync from the host ----
        if self.core_busy.val() {
            self.pulse.d.next = self.pulse.q.val() - self.k_pulse_one.val();
            if self.pulse.q.val() == self.k_pulse_one.val() {
                self.busy.d.next = false;
            }
        }
        if self.evt.val() && self.h_sync.q.val() {
            self.base.d.next = 0.into();
            self.head.d.next = self.head.q.val() + self.nq.q.val().get_bits::<TX_SLOT_W>(0);
            // A packet completed in the clock before is the first of the new session.
            self.nq.d.next = self.nq_plus.val() - self.nq.q.val();
            self.sent.d.next = 0.into();
            self.cursor.d.next = 0.into();
            self.exp0.d.next = 0.into();
            self.exp1.d.next = 0.into();
            self.nak_sent0.d.next = false;
            self.nak_sent1.d.next = false;
            self.ack_due0.d.next = false;
            self.ack_due1.d.next = false;
            self.nak_due0.d.next = false;
            self.nak_due1.d.next = false;
            self.sync_due.d.next = true;
            self.nonce.d.next = self.deframer.info.val().get_bits::<8>(0);
            self.sreset.d.next = self.deframer.b2.val().get_bit(0);
            self.t_reload.next = true;
            if self.deframer.b2.val().get_bit(0) {
                self.nq.d.next = 0.into();
                self.pulse.d.next = self.k_pulse.val();
                self.busy.d.next = true;
            }
        }
        if self.core_busy.val()
            || (self.evt.val() && self.h_sync.q.val() && self.deframer.b2.val().get_bit(0))
        {
            self.m_state.d.next = MState::Idle;
            self.d_state.d.next = DState::Idle;
            self.w_state.d.next = WState::Idle;
            self.w_cont.d.next = false;
            self.w_commit_r.d.next = false;
        }

        // ---- Retransmission timer ----
        // Ticks of a free-running counter, shared with the LED stretch.
        self.tick_count.d.next = self.tick_count.q.val() + self.k_tick_one.val();
        self.tick.next = self.tick_count.q.val().all();
        // Restarts take effect a clock late (a shorter path; the timeout is one clock longer).
        self.t_reload_r.d.next = self.t_reload.val();
        if self.t_reload_r.q.val() || !self.sent.q.val().any() {
            self.timer.d.next = self.k_timeout_m1.val();
        } else if self.tick.val() {
            if self.timer.q.val().any() {
                self.timer.d.next = self.timer.q.val() - self.k_timer_one.val();
            } else if !self.evt.val() {
                // The oldest frame waited too long: go back to it.
                self.cursor.d.next = 0.into();
                self.timer.d.next = self.k_timeout_m1.val();
            }
        }

        // ---- Status ----
        if self.tick.val() {
            if self.st_count.q.val().any() {
                self.st_count.d.next = self.st_count.q.val() - self.k_stretch_one.val();
            } else {
                self.st_count.d.next = self.k_stretch_m1.val();
                self.act_prev.d.next = self.act_cur.q.val();
                self.act_cur.d.next = false;
                self.flt_prev.d.next = self.flt_cur.q.val();
                self.flt_cur.d.next = false;
            }
        }
        if self.act_evt.val() {
            self.act_cur.d.next = true;
        }
        if self.deframer.done.val() && !self.deframer.ok.val() {
            self.flt_cur.d.next = true;
        }
        self.core_reset.next = self.core_busy.val();
        self.link_up.next = self.link.q.val();
        self.activity.next = self.act_cur.q.val() || self.act_prev.q.val();
        self.fault.next = self.flt_cur.q.val() || self.flt_prev.q.val();

        if self.reset.val() {
            self.wbank.d.next = 0.into();
            self.exp0.d.next = 0.into();
            self.exp1.d.next = 0.into();
            self.nak_sent0.d.next = false;
            self.nak_sent1.d.next = false;
            self.ack_due0.d.next = false;
            self.ack_due1.d.next = false;
            self.nak_due0.d.next = false;
            self.nak_due1.d.next = false;
            self.sync_due.d.next = false;
            self.pulse.d.next = 0.into();
            self.busy.d.next = false;
            self.link.d.next = false;
            self.m_state.d.next = MState::Idle;
            self.d_state.d.next = DState::Idle;
            self.w_state.d.next = WState::Idle;
            self.w_cont.d.next = false;
            self.w_commit_r.d.next = false;
            self.f_state.d.next = FState::Idle;
            self.base.d.next = 0.into();
            self.head.d.next = 0.into();
            self.nq.d.next = 0.into();
            self.sent.d.next = 0.into();
            self.cursor.d.next = 0.into();
            self.esc2.d.next = false;
            self.act_cur.d.next = false;
            self.act_prev.d.next = false;
            self.flt_cur.d.next = false;
            self.flt_prev.d.next = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verilog::{literal_width_hazards, verilog_of};

    /// The Verilog of the board build and of the simulation build has no expression where a
    /// bare 32-bit literal widens arithmetic or a comparison.
    #[test]
    fn bridge_verilog_has_no_literal_width_hazards() {
        for v in [
            verilog_of(Bridge::default()),
            verilog_of(bridge_for_simulation()),
        ] {
            let hazards = literal_width_hazards(&v);
            assert!(hazards.is_empty(), "{}", hazards.join("\n"));
        }
    }
}
