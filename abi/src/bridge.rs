//! The UART host bridge: the Device's host port carried over a serial line.
//!
//! The Alchitry Cu talks to the host over its FTDI UART (8N1, full duplex). Both directions
//! carry *frames*: a flag byte, a header (type, sequence number, payload length), the payload,
//! a CRC-16 and a closing flag, byte-stuffed so that the flag never occurs inside a frame.
//! Each frame carries one [`Packet`]: the MMIO accesses of the host port, DMA requests and
//! data, events, and the ACK/NAK/Sync packets that make the link reliable (go-back-N with
//! per-channel sequence numbers). [`encode`] builds frames, [`Decoder`] takes bytes one at a
//! time and yields packets, discarding anything damaged, and [`Sender`] and [`Receiver`] are
//! reference models of the reliability rules. `docs/bridge.md` renders this module.

use std::collections::VecDeque;

use crate::geometry::DA_BITS;
use crate::regs::MMIO_ADDR_BITS;

// ---- Framing ----------------------------------------------------------------------------

/// Opens and closes every frame (RFC 1055 `END`); never occurs inside a frame.
pub const FLAG: u8 = 0xC0;
/// Escape (RFC 1055 `ESC`): the next byte stands for a [`FLAG`] or an [`ESC`] of the frame.
pub const ESC: u8 = 0xDB;
/// After [`ESC`]: a [`FLAG`] byte of the frame.
pub const ESC_FLAG: u8 = 0xDC;
/// After [`ESC`]: an [`ESC`] byte of the frame.
pub const ESC_ESC: u8 = 0xDD;

/// Bytes of the frame header: type, sequence number, payload length (two bytes).
pub const HEADER_BYTES: usize = 4;
/// Header byte 0: the packet type (`TYPE_*`).
pub const HDR_TYPE: usize = 0;
/// Header byte 1: the sequence number (sequenced packets) or 0 (control packets).
pub const HDR_SEQ: usize = 1;
/// Header bytes 2–3: payload bytes, little-endian.
pub const HDR_LEN: usize = 2;
/// Bytes of the CRC after the payload (most significant byte first).
pub const CRC_BYTES: usize = 2;

/// DMA data bytes one packet carries at most; longer reads and writes are split.
pub const MAX_DATA_BYTES: usize = 256;
/// DMA data words one packet carries at most.
pub const MAX_DATA_WORDS: usize = MAX_DATA_BYTES / 4;
/// Bytes of a device address on the line (little-endian).
pub const DA_BYTES: usize = 5;
const _: () = assert!(DA_BYTES * 8 == DA_BITS as usize);
/// Bits of a DMA tag (the port's `dma_req_tag` / `dma_rd_tag`).
pub const DMA_TAG_BITS: u32 = 12;
/// Largest DMA request in bytes.
pub const MAX_DMA_LEN: u32 = 64 * 1024;
/// Bits of the VI number of an event (the port's `event_vi`).
pub const EVENT_VI_BITS: u32 = 8;

/// Payload bytes of an MMIO write: `addr`, `data`.
pub const MMIO_WRITE_BYTES: usize = 8;
/// Payload bytes of an MMIO read: `addr`.
pub const MMIO_READ_BYTES: usize = 4;
/// Payload bytes of MMIO read data: `addr`, `data`.
pub const MMIO_READ_DATA_BYTES: usize = 8;
/// Payload bytes of a DMA read request: `tag`, `da`, `len_m1`.
pub const DMA_READ_REQ_BYTES: usize = 2 + DA_BYTES + 2;
/// Payload bytes of DMA read data before its words: `info`.
pub const DMA_READ_DATA_FIELD_BYTES: usize = 2;
/// Payload bytes of a DMA write before its words: `da`, `info`.
pub const DMA_WRITE_FIELD_BYTES: usize = DA_BYTES + 2;
/// Payload bytes of an event: `vi`.
pub const EVENT_BYTES: usize = 1;
/// Payload bytes of an ACK or a NAK: `channel`, `next`.
pub const ACK_BYTES: usize = 2;
/// Payload bytes of a Sync: `nonce`, `version`, `flags`.
pub const SYNC_BYTES: usize = 3;

/// The largest payload: a DMA write of [`MAX_DATA_BYTES`].
pub const MAX_PAYLOAD_BYTES: usize = DMA_WRITE_FIELD_BYTES + MAX_DATA_BYTES;
/// The largest frame body (header, payload, CRC; what lies between the flags once unstuffed):
/// the receiver's buffer.
pub const MAX_BODY_BYTES: usize = HEADER_BYTES + MAX_PAYLOAD_BYTES + CRC_BYTES;
/// The smallest frame body: every packet has at least one payload byte.
pub const MIN_BODY_BYTES: usize = HEADER_BYTES + 1 + CRC_BYTES;
/// The most bytes one frame can take on the line (both flags, every body byte escaped).
pub const MAX_LINE_BYTES: usize = 2 + 2 * MAX_BODY_BYTES;

// ---- Packet types and fields ---------------------------------------------------------------

/// Type bit 7: the device sent the packet (else the host).
pub const TYPE_FROM_DEVICE: u8 = 0x80;
/// Type bit 6: a control packet (ACK, NAK, Sync): not sequenced, never acknowledged.
pub const TYPE_CONTROL: u8 = 0x40;
/// Host → device: MMIO write.
pub const TYPE_MMIO_WRITE: u8 = 0x01;
/// Host → device: MMIO read.
pub const TYPE_MMIO_READ: u8 = 0x02;
/// Host → device: DMA read data (a read completion).
pub const TYPE_DMA_READ_DATA: u8 = 0x03;
/// Device → host: MMIO read data.
pub const TYPE_MMIO_READ_DATA: u8 = TYPE_FROM_DEVICE | 0x01;
/// Device → host: DMA read request.
pub const TYPE_DMA_READ_REQ: u8 = TYPE_FROM_DEVICE | 0x02;
/// Device → host: DMA write.
pub const TYPE_DMA_WRITE: u8 = TYPE_FROM_DEVICE | 0x03;
/// Device → host: event.
pub const TYPE_EVENT: u8 = TYPE_FROM_DEVICE | 0x04;
/// ACK as the host sends it; the device's is `TYPE_ACK | TYPE_FROM_DEVICE`.
pub const TYPE_ACK: u8 = TYPE_CONTROL | 0x01;
/// NAK as the host sends it; the device's is `TYPE_NAK | TYPE_FROM_DEVICE`.
pub const TYPE_NAK: u8 = TYPE_CONTROL | 0x02;
/// Sync as the host sends it; the device's reply is `TYPE_SYNC | TYPE_FROM_DEVICE`.
pub const TYPE_SYNC: u8 = TYPE_CONTROL | 0x03;

/// `info` of DMA read data and DMA writes, bit 15: the final packet of its read or write.
pub const INFO_LAST: u16 = 1 << 15;
/// `info` of DMA read data, bit 14: the read failed (the packet's words are zero).
pub const INFO_ERROR: u16 = 1 << 14;
/// `info` of DMA read data, bits 11:0: the read's tag.
pub const INFO_TAG_MASK: u16 = (1 << DMA_TAG_BITS) - 1;
/// `info` of a DMA write, bits 7:0: data bytes of the packet minus one.
pub const INFO_BYTES_M1_MASK: u16 = 0xFF;
/// `flags` of a Sync, bit 0: reset the device core as well as the link.
pub const SYNC_RESET: u8 = 1 << 0;

// ---- Reliability -------------------------------------------------------------------------

/// Host channel of MMIO writes and reads.
pub const CH_REQUESTS: u8 = 0;
/// Host channel of DMA read data: completions never wait behind requests.
pub const CH_COMPLETIONS: u8 = 1;
/// The device's only channel.
pub const CH_DEVICE: u8 = 0;
/// Channels of the host → device direction.
pub const HOST_CHANNELS: u8 = 2;
/// Channels of the device → host direction.
pub const DEVICE_CHANNELS: u8 = 1;
/// Bits of a sequence number (numbers count modulo 256).
pub const SEQ_BITS: u32 = 8;
/// Unacknowledged sequenced frames a sender may have per channel at most (a sender may keep
/// fewer; receivers do not depend on it).
pub const WINDOW: usize = 8;
const _: () = assert!(WINDOW < 1 << (SEQ_BITS - 1));
/// Time after which a sender goes back to its oldest unacknowledged frame.
pub const RETRANSMIT_TIMEOUT_MS: u32 = 50;
/// Timeouts in a row without progress after which the host reports the link as lost.
pub const RETRY_LIMIT: u32 = 8;
/// Version of this protocol, exchanged in Sync packets.
pub const PROTOCOL_VERSION: u8 = 1;

// ---- CRC ---------------------------------------------------------------------------------

/// CRC-16/CCITT-FALSE: generator polynomial x^16 + x^12 + x^5 + 1, shifted MSB first.
pub const CRC_POLY: u16 = 0x1021;
/// CRC register at the start of a frame.
pub const CRC_INIT: u16 = 0xFFFF;
/// Value XORed into the final register (none).
pub const CRC_XOROUT: u16 = 0x0000;
/// CRC of the ASCII bytes `123456789` (the catalogue's check value).
pub const CRC_CHECK: u16 = 0x29B1;
/// CRC register after a whole body including its CRC: every intact frame ends here.
pub const CRC_RESIDUE: u16 = 0x0000;

/// One byte into the CRC register, bit-serially (eight shift/XOR steps, as RTL may do it).
pub const fn crc16_update(crc: u16, byte: u8) -> u16 {
    let mut c = crc ^ ((byte as u16) << 8);
    let mut i = 0;
    while i < 8 {
        c = if c & 0x8000 != 0 {
            (c << 1) ^ CRC_POLY
        } else {
            c << 1
        };
        i += 1;
    }
    c
}

/// CRC-16/CCITT-FALSE of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(CRC_INIT, |c, &b| crc16_update(c, b)) ^ CRC_XOROUT
}

// ---- Packets -----------------------------------------------------------------------------

/// The two ends of the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The host's serial backend.
    Host,
    /// The bridge in the FPGA, in front of the Device's host port.
    Device,
}

impl Side {
    /// The other end.
    pub const fn other(self) -> Side {
        match self {
            Side::Host => Side::Device,
            Side::Device => Side::Host,
        }
    }

    /// Channels of the sequenced packets this side sends.
    pub const fn channels(self) -> u8 {
        match self {
            Side::Host => HOST_CHANNELS,
            Side::Device => DEVICE_CHANNELS,
        }
    }

    const fn type_bit(self) -> u8 {
        match self {
            Side::Host => 0,
            Side::Device => TYPE_FROM_DEVICE,
        }
    }
}

/// What one frame carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// Host → device: write `data` to the register at byte address `addr`.
    MmioWrite {
        /// MMIO byte address: below 2^20, a multiple of 4.
        addr: u32,
        /// Value written.
        data: u32,
    },
    /// Host → device: read the register at `addr`; answered by [`Packet::MmioReadData`].
    MmioRead {
        /// MMIO byte address: below 2^20, a multiple of 4.
        addr: u32,
    },
    /// Host → device: words answering a [`Packet::DmaReadReq`], in order.
    DmaReadData {
        /// The request's tag (12 bits).
        tag: u16,
        /// The final packet of the read.
        last: bool,
        /// The read failed; the words are zero.
        error: bool,
        /// 1 to [`MAX_DATA_WORDS`] words, the first at the lowest address.
        words: Vec<u32>,
    },
    /// Device → host: the value an [`Packet::MmioRead`] read.
    MmioReadData {
        /// The read's address (echoed).
        addr: u32,
        /// The value read.
        data: u32,
    },
    /// Device → host: read `len` bytes at `da`; answered by [`Packet::DmaReadData`].
    DmaReadReq {
        /// Tag returned with the data (12 bits).
        tag: u16,
        /// Device address, below 2^40, a multiple of 4.
        da: u64,
        /// Bytes, 1 to [`MAX_DMA_LEN`]; the answer has `ceil(len / 4)` words.
        len: u32,
    },
    /// Device → host: write `data` at `da` (a whole device write or a piece of one).
    DmaWrite {
        /// Device address of `data[0]`, below 2^40, a multiple of 4.
        da: u64,
        /// The final packet of the device's write.
        last: bool,
        /// 1 to [`MAX_DATA_BYTES`] bytes.
        data: Vec<u8>,
    },
    /// Device → host: a completion reached VI `vi`'s armed CQ.
    Event {
        /// The VI.
        vi: u8,
    },
    /// Every sequenced frame before `next` on `channel` has been accepted.
    Ack {
        /// The side sending the ACK (the receiver of the acknowledged channel).
        from: Side,
        /// The acknowledged channel of the other side.
        channel: u8,
        /// Sequence number the receiver expects next.
        next: u8,
    },
    /// As [`Packet::Ack`], and a frame after `next` arrived while `next` is missing: the
    /// sender goes back to `next`.
    Nak {
        /// The side sending the NAK.
        from: Side,
        /// The channel of the other side.
        channel: u8,
        /// Sequence number the receiver expects next.
        next: u8,
    },
    /// Starts a session (host) or confirms it (device): every sequence number restarts at 0.
    Sync {
        /// The side sending it.
        from: Side,
        /// Chosen by the host, new for each Sync; echoed by the device.
        nonce: u8,
        /// The sender's [`PROTOCOL_VERSION`].
        version: u8,
        /// Reset the device core too (host); done (device).
        reset: bool,
    },
}

/// Why a frame was dropped, or a packet cannot be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// An escape byte not followed by `ESC_FLAG` or `ESC_ESC` (or directly by the flag).
    #[error("bad escape sequence")]
    BadEscape,
    /// More than [`MAX_BODY_BYTES`] between two flags.
    #[error("frame longer than {} bytes", MAX_BODY_BYTES)]
    TooLong,
    /// Fewer than [`MIN_BODY_BYTES`] between two flags.
    #[error("frame of {0} bytes is too short")]
    TooShort(usize),
    /// The CRC register did not end at [`CRC_RESIDUE`].
    #[error("CRC mismatch")]
    Crc,
    /// The header's length disagrees with the bytes between the flags.
    #[error("header says {header} payload bytes, the frame has {actual}")]
    Length {
        /// Payload bytes according to the header.
        header: usize,
        /// Payload bytes received.
        actual: usize,
    },
    /// No packet has this type.
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// A packet type the other side sends (an echo, or a receiver on the wrong end).
    #[error("packet type {0:#04x} comes from the other side")]
    WrongDirection(u8),
    /// The payload length does not fit the type.
    #[error("payload of {len} bytes does not fit type {type_code:#04x}")]
    PayloadLength {
        /// The packet type.
        type_code: u8,
        /// Payload bytes.
        len: usize,
    },
    /// A field is out of range or a reserved bit is set.
    #[error("field `{field}` of type {type_code:#04x} is out of range")]
    BadField {
        /// The packet type.
        type_code: u8,
        /// The field.
        field: &'static str,
    },
}

impl Packet {
    /// The type byte of the packet's frame.
    pub fn type_code(&self) -> u8 {
        match self {
            Packet::MmioWrite { .. } => TYPE_MMIO_WRITE,
            Packet::MmioRead { .. } => TYPE_MMIO_READ,
            Packet::DmaReadData { .. } => TYPE_DMA_READ_DATA,
            Packet::MmioReadData { .. } => TYPE_MMIO_READ_DATA,
            Packet::DmaReadReq { .. } => TYPE_DMA_READ_REQ,
            Packet::DmaWrite { .. } => TYPE_DMA_WRITE,
            Packet::Event { .. } => TYPE_EVENT,
            Packet::Ack { from, .. } => TYPE_ACK | from.type_bit(),
            Packet::Nak { from, .. } => TYPE_NAK | from.type_bit(),
            Packet::Sync { from, .. } => TYPE_SYNC | from.type_bit(),
        }
    }

    /// The side that sends this packet.
    pub fn sender(&self) -> Side {
        if self.type_code() & TYPE_FROM_DEVICE != 0 {
            Side::Device
        } else {
            Side::Host
        }
    }

    /// The sender's channel of a sequenced packet; `None` for control packets.
    pub fn channel(&self) -> Option<u8> {
        match self {
            Packet::MmioWrite { .. } | Packet::MmioRead { .. } => Some(CH_REQUESTS),
            Packet::DmaReadData { .. } => Some(CH_COMPLETIONS),
            Packet::MmioReadData { .. }
            | Packet::DmaReadReq { .. }
            | Packet::DmaWrite { .. }
            | Packet::Event { .. } => Some(CH_DEVICE),
            Packet::Ack { .. } | Packet::Nak { .. } | Packet::Sync { .. } => None,
        }
    }

    /// Checks every field against its range.
    pub fn check(&self) -> Result<(), FrameError> {
        let type_code = self.type_code();
        let bad = |ok: bool, field| {
            if ok {
                Ok(())
            } else {
                Err(FrameError::BadField { type_code, field })
            }
        };
        let addr_ok = |addr: u32| addr >> MMIO_ADDR_BITS == 0 && addr.is_multiple_of(4);
        let da_ok = |da: u64| da >> DA_BITS == 0 && da.is_multiple_of(4);
        match self {
            Packet::MmioWrite { addr, .. }
            | Packet::MmioRead { addr }
            | Packet::MmioReadData { addr, .. } => bad(addr_ok(*addr), "addr"),
            Packet::DmaReadData { tag, words, .. } => {
                bad(*tag >> DMA_TAG_BITS == 0, "tag")?;
                bad((1..=MAX_DATA_WORDS).contains(&words.len()), "words")
            }
            Packet::DmaReadReq { tag, da, len } => {
                bad(*tag >> DMA_TAG_BITS == 0, "tag")?;
                bad(da_ok(*da), "da")?;
                bad((1..=MAX_DMA_LEN).contains(len), "len")
            }
            Packet::DmaWrite { da, data, .. } => {
                bad(da_ok(*da), "da")?;
                bad((1..=MAX_DATA_BYTES).contains(&data.len()), "data")
            }
            Packet::Event { .. } | Packet::Sync { .. } => Ok(()),
            Packet::Ack { from, channel, .. } | Packet::Nak { from, channel, .. } => {
                bad(*channel < from.other().channels(), "channel")
            }
        }
    }

    /// The payload bytes (fields little-endian, then data words).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::new();
        match self {
            Packet::MmioWrite { addr, data } | Packet::MmioReadData { addr, data } => {
                p.extend(addr.to_le_bytes());
                p.extend(data.to_le_bytes());
            }
            Packet::MmioRead { addr } => p.extend(addr.to_le_bytes()),
            Packet::DmaReadData {
                tag,
                last,
                error,
                words,
            } => {
                let info = (tag & INFO_TAG_MASK)
                    | if *last { INFO_LAST } else { 0 }
                    | if *error { INFO_ERROR } else { 0 };
                p.extend(info.to_le_bytes());
                for w in words {
                    p.extend(w.to_le_bytes());
                }
            }
            Packet::DmaReadReq { tag, da, len } => {
                p.extend(tag.to_le_bytes());
                p.extend(&da.to_le_bytes()[..DA_BYTES]);
                p.extend((len.wrapping_sub(1) as u16).to_le_bytes());
            }
            Packet::DmaWrite { da, last, data } => {
                p.extend(&da.to_le_bytes()[..DA_BYTES]);
                let info = (data.len().wrapping_sub(1) as u16 & INFO_BYTES_M1_MASK)
                    | if *last { INFO_LAST } else { 0 };
                p.extend(info.to_le_bytes());
                p.extend(data);
                p.resize(p.len() + (4 - data.len() % 4) % 4, 0);
            }
            Packet::Event { vi } => p.push(*vi),
            Packet::Ack { channel, next, .. } | Packet::Nak { channel, next, .. } => {
                p.extend([*channel, *next]);
            }
            Packet::Sync {
                nonce,
                version,
                reset,
                ..
            } => p.extend([*nonce, *version, if *reset { SYNC_RESET } else { 0 }]),
        }
        p
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
}

fn parse_payload(t: u8, p: &[u8]) -> Result<Packet, FrameError> {
    let length = |ok: bool| {
        if ok {
            Ok(())
        } else {
            Err(FrameError::PayloadLength {
                type_code: t,
                len: p.len(),
            })
        }
    };
    let field = |ok: bool, field| {
        if ok {
            Ok(())
        } else {
            Err(FrameError::BadField {
                type_code: t,
                field,
            })
        }
    };
    let from = if t & TYPE_FROM_DEVICE != 0 {
        Side::Device
    } else {
        Side::Host
    };
    let words = |b: &[u8]| -> Vec<u32> { b.chunks(4).map(|w| le(w) as u32).collect() };
    Ok(match t {
        TYPE_MMIO_WRITE | TYPE_MMIO_READ_DATA => {
            length(p.len() == MMIO_WRITE_BYTES)?;
            let (addr, data) = (le(&p[0..4]) as u32, le(&p[4..8]) as u32);
            if t == TYPE_MMIO_WRITE {
                Packet::MmioWrite { addr, data }
            } else {
                Packet::MmioReadData { addr, data }
            }
        }
        TYPE_MMIO_READ => {
            length(p.len() == MMIO_READ_BYTES)?;
            Packet::MmioRead { addr: le(p) as u32 }
        }
        TYPE_DMA_READ_DATA => {
            let n = p.len().wrapping_sub(DMA_READ_DATA_FIELD_BYTES);
            length(
                p.len() > DMA_READ_DATA_FIELD_BYTES && n.is_multiple_of(4) && n <= MAX_DATA_BYTES,
            )?;
            let info = le(&p[..2]) as u16;
            field(
                info & !(INFO_LAST | INFO_ERROR | INFO_TAG_MASK) == 0,
                "info",
            )?;
            Packet::DmaReadData {
                tag: info & INFO_TAG_MASK,
                last: info & INFO_LAST != 0,
                error: info & INFO_ERROR != 0,
                words: words(&p[DMA_READ_DATA_FIELD_BYTES..]),
            }
        }
        TYPE_DMA_READ_REQ => {
            length(p.len() == DMA_READ_REQ_BYTES)?;
            Packet::DmaReadReq {
                tag: le(&p[0..2]) as u16,
                da: le(&p[2..2 + DA_BYTES]),
                len: le(&p[2 + DA_BYTES..]) as u32 + 1,
            }
        }
        TYPE_DMA_WRITE => {
            let n = p.len().wrapping_sub(DMA_WRITE_FIELD_BYTES);
            length(p.len() > DMA_WRITE_FIELD_BYTES && n.is_multiple_of(4) && n <= MAX_DATA_BYTES)?;
            let info = le(&p[DA_BYTES..DMA_WRITE_FIELD_BYTES]) as u16;
            field(info & !(INFO_LAST | INFO_BYTES_M1_MASK) == 0, "info")?;
            let bytes = usize::from(info & INFO_BYTES_M1_MASK) + 1;
            length(bytes.div_ceil(4) * 4 == n)?;
            let data = &p[DMA_WRITE_FIELD_BYTES..];
            field(data[bytes..].iter().all(|&b| b == 0), "padding")?;
            Packet::DmaWrite {
                da: le(&p[..DA_BYTES]),
                last: info & INFO_LAST != 0,
                data: data[..bytes].to_vec(),
            }
        }
        TYPE_EVENT => {
            length(p.len() == EVENT_BYTES)?;
            Packet::Event { vi: p[0] }
        }
        _ if t & !TYPE_FROM_DEVICE == TYPE_ACK || t & !TYPE_FROM_DEVICE == TYPE_NAK => {
            length(p.len() == ACK_BYTES)?;
            let (channel, next) = (p[0], p[1]);
            if t & !TYPE_FROM_DEVICE == TYPE_ACK {
                Packet::Ack {
                    from,
                    channel,
                    next,
                }
            } else {
                Packet::Nak {
                    from,
                    channel,
                    next,
                }
            }
        }
        _ if t & !TYPE_FROM_DEVICE == TYPE_SYNC => {
            length(p.len() == SYNC_BYTES)?;
            field(p[2] & !SYNC_RESET == 0, "flags")?;
            Packet::Sync {
                from,
                nonce: p[0],
                version: p[1],
                reset: p[2] & SYNC_RESET != 0,
            }
        }
        _ => return Err(FrameError::UnknownType(t)),
    })
}

// ---- Encoding and decoding ---------------------------------------------------------------

/// The unstuffed body of the frame carrying `packet`: header, payload, CRC. `seq` is the
/// sequence number of a sequenced packet; control packets carry 0 whatever `seq` says.
///
/// # Panics
///
/// When a field of `packet` is out of range ([`Packet::check`]).
pub fn frame_body(packet: &Packet, seq: u8) -> Vec<u8> {
    if let Err(e) = packet.check() {
        panic!("bridge: cannot encode {packet:?}: {e}");
    }
    let payload = packet.payload();
    let seq = if packet.channel().is_some() { seq } else { 0 };
    let mut b = Vec::with_capacity(HEADER_BYTES + payload.len() + CRC_BYTES);
    b.push(packet.type_code());
    b.push(seq);
    b.extend((payload.len() as u16).to_le_bytes());
    b.extend(payload);
    let crc = crc16(&b);
    b.extend(crc.to_be_bytes());
    b
}

/// A body as it goes on the line: [`FLAG`], the body with every [`FLAG`] and [`ESC`]
/// escaped, [`FLAG`].
pub fn stuff(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 8);
    out.push(FLAG);
    for &b in body {
        match b {
            FLAG => out.extend([ESC, ESC_FLAG]),
            ESC => out.extend([ESC, ESC_ESC]),
            _ => out.push(b),
        }
    }
    out.push(FLAG);
    out
}

/// The line bytes of the frame carrying `packet` with sequence number `seq` (see
/// [`frame_body`]).
///
/// # Panics
///
/// When a field of `packet` is out of range ([`Packet::check`]).
pub fn encode(packet: &Packet, seq: u8) -> Vec<u8> {
    stuff(&frame_body(packet, seq))
}

/// Decodes an unstuffed body sent by `from`: the sequence number (0 for control packets)
/// and the packet, or why the frame must be dropped.
pub fn decode_body(from: Side, body: &[u8]) -> Result<(u8, Packet), FrameError> {
    if body.len() < MIN_BODY_BYTES {
        return Err(FrameError::TooShort(body.len()));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(FrameError::TooLong);
    }
    if crc16(body) != CRC_RESIDUE {
        return Err(FrameError::Crc);
    }
    let header = le(&body[HDR_LEN..HDR_LEN + 2]) as usize;
    let actual = body.len() - HEADER_BYTES - CRC_BYTES;
    if header != actual {
        return Err(FrameError::Length { header, actual });
    }
    let (t, seq) = (body[HDR_TYPE], body[HDR_SEQ]);
    let packet = parse_payload(t, &body[HEADER_BYTES..HEADER_BYTES + actual])?;
    if packet.sender() != from {
        return Err(FrameError::WrongDirection(t));
    }
    if packet.channel().is_none() && seq != 0 {
        return Err(FrameError::BadField {
            type_code: t,
            field: "seq",
        });
    }
    packet.check()?;
    Ok((seq, packet))
}

/// Turns the byte stream from one side into packets. Every [`FLAG`] ends what came before
/// it; only a complete, intact frame yields a packet, so garbage costs at most the frame it
/// lands in, and the decoder is in step again at the next flag.
#[derive(Clone, Debug)]
pub struct Decoder {
    from: Side,
    body: Vec<u8>,
    count: usize,
    escaped: bool,
    bad_escape: bool,
}

impl Decoder {
    /// A decoder of frames sent by `from`, at the start of a frame.
    pub fn new(from: Side) -> Decoder {
        Decoder {
            from,
            body: Vec::with_capacity(MAX_BODY_BYTES),
            count: 0,
            escaped: false,
            bad_escape: false,
        }
    }

    /// Takes one line byte. At a flag that ends a non-empty frame: the frame's sequence
    /// number and packet, or why it was dropped; `None` otherwise.
    pub fn push(&mut self, byte: u8) -> Option<Result<(u8, Packet), FrameError>> {
        if byte == FLAG {
            let result = if self.bad_escape || self.escaped {
                Some(Err(FrameError::BadEscape))
            } else if self.count == 0 {
                None
            } else if self.count > MAX_BODY_BYTES {
                Some(Err(FrameError::TooLong))
            } else {
                Some(decode_body(self.from, &self.body))
            };
            self.body.clear();
            self.count = 0;
            self.escaped = false;
            self.bad_escape = false;
            return result;
        }
        if self.bad_escape {
            return None;
        }
        let b = if self.escaped {
            self.escaped = false;
            match byte {
                ESC_FLAG => FLAG,
                ESC_ESC => ESC,
                _ => {
                    self.bad_escape = true;
                    return None;
                }
            }
        } else if byte == ESC {
            self.escaped = true;
            return None;
        } else {
            byte
        };
        if self.count < MAX_BODY_BYTES {
            self.body.push(b);
        }
        self.count = (self.count + 1).min(MAX_BODY_BYTES + 1);
        None
    }

    /// Takes several line bytes; the results of the frames they end, in order.
    pub fn push_all(&mut self, bytes: &[u8]) -> Vec<Result<(u8, Packet), FrameError>> {
        bytes.iter().filter_map(|&b| self.push(b)).collect()
    }
}

// ---- Splitting DMA transfers -------------------------------------------------------------

/// The packets of one device write of `data` at `da`: [`MAX_DATA_BYTES`] each (the rest in
/// the final one) at `da`, `da + 256`, …, `last` on the final one. Empty for empty `data`.
/// (The device ends a packet early, at a word, when the write's data waits for a read it
/// requested afterwards; see `docs/bridge.md`.)
pub fn split_dma_write(da: u64, data: &[u8]) -> Vec<Packet> {
    let n = data.len().div_ceil(MAX_DATA_BYTES);
    data.chunks(MAX_DATA_BYTES)
        .enumerate()
        .map(|(i, chunk)| Packet::DmaWrite {
            da: da + (i * MAX_DATA_BYTES) as u64,
            last: i + 1 == n,
            data: chunk.to_vec(),
        })
        .collect()
}

/// The packets answering one read with `words` (its `ceil(len / 4)` words): up to
/// [`MAX_DATA_WORDS`] each, all with `tag` and `error`, `last` on the final one.
pub fn split_dma_read(tag: u16, words: &[u32], error: bool) -> Vec<Packet> {
    let n = words.len().div_ceil(MAX_DATA_WORDS);
    words
        .chunks(MAX_DATA_WORDS)
        .enumerate()
        .map(|(i, chunk)| Packet::DmaReadData {
            tag,
            last: i + 1 == n,
            error,
            words: chunk.to_vec(),
        })
        .collect()
}

// ---- Reliability: reference models -------------------------------------------------------

/// Where a sequenced frame that passed every check stands relative to the number its
/// receiver expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// `seq == expected`: accept it.
    Next,
    /// `seq` is 1 to 127 ahead: a frame before it was lost.
    Ahead,
    /// `seq` is 1 to 128 behind: a retransmission of an accepted frame.
    Duplicate,
}

/// Classifies `seq` against `expected` (both modulo 256).
pub const fn arrival(expected: u8, seq: u8) -> Arrival {
    match seq.wrapping_sub(expected) {
        0 => Arrival::Next,
        1..=127 => Arrival::Ahead,
        _ => Arrival::Duplicate,
    }
}

/// A control packet a receiver owes its sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply {
    /// ACK with this `next`.
    Ack(u8),
    /// NAK with this `next`.
    Nak(u8),
}

impl Reply {
    /// The packet, sent by `from` about the other side's `channel`.
    pub fn packet(self, from: Side, channel: u8) -> Packet {
        match self {
            Reply::Ack(next) => Packet::Ack {
                from,
                channel,
                next,
            },
            Reply::Nak(next) => Packet::Nak {
                from,
                channel,
                next,
            },
        }
    }
}

/// What a receiver does with one valid sequenced frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Receipt {
    /// Act on the frame (exactly once per sequence number, in order).
    pub act: bool,
    /// The control packet now due, if any.
    pub reply: Option<Reply>,
}

/// The receiving end of one channel (reference model of the rules in `docs/bridge.md`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Receiver {
    expected: u8,
    nak_sent: bool,
}

impl Receiver {
    /// A receiver at the start of a session.
    pub fn new() -> Receiver {
        Receiver::default()
    }

    /// The sequence number expected next.
    pub fn expected(&self) -> u8 {
        self.expected
    }

    /// A frame with `seq` passed every check; `room` says whether the receiver can take it
    /// now (a frame it cannot take counts as lost).
    pub fn receive(&mut self, seq: u8, room: bool) -> Receipt {
        let (act, reply) = match arrival(self.expected, seq) {
            Arrival::Next if room => {
                self.expected = self.expected.wrapping_add(1);
                self.nak_sent = false;
                (true, Some(Reply::Ack(self.expected)))
            }
            Arrival::Next => (false, None),
            Arrival::Duplicate => (false, Some(Reply::Ack(self.expected))),
            Arrival::Ahead if self.nak_sent => (false, None),
            Arrival::Ahead => {
                self.nak_sent = true;
                (false, Some(Reply::Nak(self.expected)))
            }
        };
        Receipt { act, reply }
    }
}

/// The sending end of one channel, go-back-N (reference model of the rules in
/// `docs/bridge.md`): holds up to [`WINDOW`] unacknowledged packets.
#[derive(Clone, Debug)]
pub struct Sender<T> {
    base: u8,
    frames: VecDeque<T>,
    sent: usize,
    cursor: usize,
}

impl<T> Default for Sender<T> {
    fn default() -> Self {
        Sender::new()
    }
}

impl<T> Sender<T> {
    /// A sender at the start of a session (next sequence number 0).
    pub fn new() -> Sender<T> {
        Sender {
            base: 0,
            frames: VecDeque::with_capacity(WINDOW),
            sent: 0,
            cursor: 0,
        }
    }

    /// Queues `item` for sending: its sequence number, or the item back when the window is
    /// full.
    pub fn offer(&mut self, item: T) -> Result<u8, T> {
        if self.frames.len() >= WINDOW {
            return Err(item);
        }
        self.frames.push_back(item);
        Ok(self.base.wrapping_add(self.frames.len() as u8 - 1))
    }

    /// Packets not yet acknowledged (sent or waiting to be sent).
    pub fn unacknowledged(&self) -> usize {
        self.frames.len()
    }

    /// Sequence number of the oldest unacknowledged packet (or of the next one).
    pub fn base(&self) -> u8 {
        self.base
    }

    /// An ACK (or the acknowledging part of a NAK) with `next`: releases every packet before
    /// it. `false`, and no change, when `next` is not between the oldest unacknowledged and
    /// the newest sent packet.
    pub fn on_ack(&mut self, next: u8) -> bool {
        let n = usize::from(next.wrapping_sub(self.base));
        if n > self.sent {
            return false;
        }
        self.frames.drain(..n);
        self.base = next;
        self.sent -= n;
        self.cursor = self.cursor.saturating_sub(n);
        true
    }

    /// A NAK with `next`: acknowledges what is before it and sends again from `next` on.
    pub fn on_nak(&mut self, next: u8) -> bool {
        let ok = self.on_ack(next);
        if ok {
            self.cursor = 0;
        }
        ok
    }

    /// The retransmission timeout expired: send again from the oldest unacknowledged packet.
    pub fn on_timeout(&mut self) {
        self.cursor = 0;
    }
}

impl<T: Clone> Sender<T> {
    /// The next packet to put on the line (new or a retransmission) and its sequence number.
    pub fn next_frame(&mut self) -> Option<(u8, T)> {
        let item = self.frames.get(self.cursor)?.clone();
        let seq = self.base.wrapping_add(self.cursor as u8);
        self.cursor += 1;
        self.sent = self.sent.max(self.cursor);
        Some((seq, item))
    }
}

// ---- Line efficiency ---------------------------------------------------------------------

/// Line bytes of a frame whose payload has `payload` bytes, without escapes.
pub const fn line_bytes(payload: usize) -> usize {
    2 + HEADER_BYTES + payload + CRC_BYTES
}

/// Line bytes of a DMA write carrying `bytes` data bytes, without escapes.
pub const fn dma_write_line_bytes(bytes: usize) -> usize {
    line_bytes(DMA_WRITE_FIELD_BYTES + 4 * bytes.div_ceil(4))
}

/// Line bytes of DMA read data carrying `bytes` data bytes, without escapes.
pub const fn dma_read_data_line_bytes(bytes: usize) -> usize {
    line_bytes(DMA_READ_DATA_FIELD_BYTES + 4 * bytes.div_ceil(4))
}

/// Line bytes of an ACK or NAK frame.
pub const ACK_LINE_BYTES: usize = line_bytes(ACK_BYTES);

/// Line bits per byte of UART 8N1 (start bit, 8 data bits, stop bit).
pub const UART_BITS_PER_BYTE: usize = 10;

/// Data bytes per line byte of back-to-back packets of `data` data bytes that take `line`
/// line bytes each, plus `extra` line bytes per packet (expected escapes, ACKs sharing the
/// line).
pub fn efficiency(data: usize, line: usize, extra: f64) -> f64 {
    data as f64 / (line as f64 + extra)
}

// ---- Document ----------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hex of `bytes` as they appear on the line inside a frame (escaped, no flags).
fn stuffed(bytes: &[u8]) -> String {
    let t = stuff(bytes);
    hex(&t[1..t.len() - 1])
}

fn example_packet() -> (Packet, u8) {
    (
        Packet::MmioWrite {
            addr: crate::regs::doorbell(1, crate::regs::DB_SQ_TAIL),
            data: 0xC0,
        },
        5,
    )
}

/// `docs/bridge.md`, rendered from the constants and functions of this module.
pub fn markdown() -> String {
    let mut s = format!(
        "# UART host bridge\n\n\
         Generated from `abi::bridge` by `make docs`; do not edit by hand.\n\n\
         The Device's host port ([device.md](device.md)) carried over the Alchitry Cu's \
         FTDI UART (8N1, full duplex) between the bridge in the FPGA and the host's `serial` \
         backend (or the virtual board). Each direction is a stream of frames; each frame \
         carries one packet: MMIO accesses, DMA requests and data, events, and the \
         ACK/NAK/Sync packets that make the link reliable. The RTL bridge and the host take \
         every constant from `abi::bridge`; `Decoder`, `Sender` and `Receiver` there are the \
         reference models.\n\n\
         ## Frame\n\n\
         | bytes | field | meaning |\n|---|---|---|\n\
         | 1 | flag | `{FLAG:#04x}`: opens the frame |\n\
         | 1 | `type` | packet type (below); bit 7 set when the device sends it, bit 6 on control packets |\n\
         | 1 | `seq` | sequence number in the sender's channel (sequenced packets); 0 in control packets |\n\
         | 2 | `len` | payload bytes, little-endian, 1 to {MAX_PAYLOAD_BYTES} |\n\
         | `len` | payload | the packet's fields, little-endian, then its data words |\n\
         | 2 | `crc` | CRC-16/CCITT-FALSE of `type` … payload, most significant byte first |\n\
         | 1 | flag | `{FLAG:#04x}`: closes the frame |\n\n\
         Between the flags, every byte `{FLAG:#04x}` of the frame is sent as `{ESC:#04x} \
         {ESC_FLAG:#04x}` and every `{ESC:#04x}` as `{ESC:#04x} {ESC_ESC:#04x}` (SLIP, RFC \
         1055), so a flag on the line is always a frame boundary. A frame has {MIN_BODY_BYTES} \
         to {MAX_BODY_BYTES} bytes between its flags once unstuffed (the receiver's buffer: \
         one 512-byte iCE40 block RAM), and takes at most {MAX_LINE_BYTES} line bytes. Every \
         frame is sent with both flags; two flags in a row (an empty frame) are ignored. Data \
         words are little-endian: byte 0 of a word is the byte at the lowest address.\n\n\
         ### The receiver\n\n\
         State: a byte counter, an escape bit, an error bit, the CRC register and the body \
         buffer. For each line byte:\n\n\
         * `{FLAG:#04x}`: the frame so far is complete; check it (below), then clear the \
         state. An empty frame is ignored.\n\
         * after an error: ignored until the next flag.\n\
         * after `{ESC:#04x}`: `{ESC_FLAG:#04x}` stores `{FLAG:#04x}`, `{ESC_ESC:#04x}` stores \
         `{ESC:#04x}`, anything else sets the error bit.\n\
         * `{ESC:#04x}`: sets the escape bit.\n\
         * otherwise: stores the byte and runs it through the CRC (bytes beyond \
         {MAX_BODY_BYTES} are not stored; the frame is then too long).\n\n\
         At the flag the frame is accepted only if: no error and no escape pending; \
         {MIN_BODY_BYTES} to {MAX_BODY_BYTES} bytes; the CRC register, having taken the two \
         CRC bytes too, is `{CRC_RESIDUE:#06x}`; `len` equals the byte count minus \
         {}; the type is known and sent by the other side; the payload length fits the type; \
         reserved bits are zero, control packets have `seq` 0, and every field is in range. \
         Nothing is acted on before the closing flag, so a partial or damaged frame has no \
         effect; a frame that fails is dropped silently (its loss is recovered by the \
         reliability rules below). One damaged bit anywhere in a frame is always rejected \
         (by the CRC, `len` or the escape rule), except one that turns a byte into the flag: \
         then what follows it is checked as a frame of its own, and passes only if its \
         type, its exact `len` and its CRC all come out right by chance.\n\n\
         ### The transmitter\n\n\
         Stuffing is stateless: the flag, then each byte of header, payload and CRC (escaped \
         when it is `{FLAG:#04x}` or `{ESC:#04x}`), then the flag. The CRC is computed while \
         the bytes go out, so a retransmission buffer holds the type and the payload only; \
         the sequence number follows from the buffer slot.\n\n\
         ### Why byte stuffing\n\n\
         With a length-delimited frame found by hunting for a start byte, the length can only \
         be trusted after the header is validated; a corrupted length swallows the frames \
         that follow, and a false start byte inside a payload means scanning the same bytes \
         again from the one after it (a buffer and a rewind in RTL). With stuffing, the byte \
         values alone mark the boundaries: every flag resets the receiver, a damaged frame \
         never takes the next one with it, and the receiver is a few flip-flops around the \
         buffer. The cost is data-dependent expansion: none for data free of \
         `{FLAG:#04x}`/`{ESC:#04x}`, 2/256 for random data, and up to twice the size for \
         data made of those two values only (see the efficiency table). COBS bounds the \
         expansion to one byte in 254 but needs a look-ahead of up to 254 bytes in the \
         transmitter. The header's `len` is still sent: it makes a dropped or inserted byte \
         a certain rejection, and tells the RTL the payload size from the fourth byte on.\n\n\
         ## CRC\n\n\
         | parameter | value |\n|---|---|\n\
         | name | CRC-16/CCITT-FALSE |\n\
         | width | 16 |\n\
         | polynomial | `{CRC_POLY:#06x}` (x^16 + x^12 + x^5 + 1) |\n\
         | init | `{CRC_INIT:#06x}` |\n\
         | reflect in / out | no / no (MSB first) |\n\
         | xorout | `{CRC_XOROUT:#06x}` |\n\
         | check (`123456789`) | `{CRC_CHECK:#06x}` |\n\
         | residue | `{CRC_RESIDUE:#06x}` |\n\
         | covers | `type`, `seq`, `len`, payload (unstuffed) |\n\
         | sent | after the payload, high byte first |\n\n\
         Because the CRC is sent high byte first and nothing is XORed out, running the CRC \
         over a whole intact body, CRC included, leaves the register at zero: the receiver \
         needs no idea where the CRC bytes are. One byte takes eight shift/XOR steps \
         bit-serially or one XOR network of 16 outputs; a line byte lasts at least 10 bit \
         times. Its Hamming distance is 4 up to 32751 bits, far beyond the largest frame \
         ({} bits): every 1-, 2- and 3-bit error, every error of odd weight and every burst \
         up to 16 bits is detected, and other damage passes the CRC with probability 2^-16 \
         and must then also pass the escape, length, type and field checks. The USB side of the FTDI chip has \
         its own CRC and retries; what remains is a few centimetres of board trace and the \
         garbage of resets and baud-rate changes, which the framing rejects first. CRC-32 \
         would add two bytes to every frame and 16 more register bits for no need here.\n\n",
        HEADER_BYTES + CRC_BYTES,
        MAX_BODY_BYTES * 8,
    );

    s += "## Packets\n\n\
          | type | packet | sent by | channel | payload bytes |\n|---|---|---|---|---|\n";
    let rows: [(String, &str, &str, String, String); 10] = [
        (
            format!("`{TYPE_MMIO_WRITE:#04x}`"),
            "MMIO write",
            "host",
            format!("{CH_REQUESTS} (requests)"),
            MMIO_WRITE_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_MMIO_READ:#04x}`"),
            "MMIO read",
            "host",
            format!("{CH_REQUESTS} (requests)"),
            MMIO_READ_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_DMA_READ_DATA:#04x}`"),
            "DMA read data",
            "host",
            format!("{CH_COMPLETIONS} (completions)"),
            format!("{DMA_READ_DATA_FIELD_BYTES} + 4 n, n = 1 to {MAX_DATA_WORDS}"),
        ),
        (
            format!("`{TYPE_MMIO_READ_DATA:#04x}`"),
            "MMIO read data",
            "device",
            CH_DEVICE.to_string(),
            MMIO_READ_DATA_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_DMA_READ_REQ:#04x}`"),
            "DMA read request",
            "device",
            CH_DEVICE.to_string(),
            DMA_READ_REQ_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_DMA_WRITE:#04x}`"),
            "DMA write",
            "device",
            CH_DEVICE.to_string(),
            format!("{DMA_WRITE_FIELD_BYTES} + 4 ceil(bytes / 4), bytes = 1 to {MAX_DATA_BYTES}"),
        ),
        (
            format!("`{TYPE_EVENT:#04x}`"),
            "event",
            "device",
            CH_DEVICE.to_string(),
            EVENT_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_ACK:#04x}` / `{:#04x}`", TYPE_ACK | TYPE_FROM_DEVICE),
            "ACK",
            "host / device",
            "control".into(),
            ACK_BYTES.to_string(),
        ),
        (
            format!("`{TYPE_NAK:#04x}` / `{:#04x}`", TYPE_NAK | TYPE_FROM_DEVICE),
            "NAK",
            "host / device",
            "control".into(),
            ACK_BYTES.to_string(),
        ),
        (
            format!(
                "`{TYPE_SYNC:#04x}` / `{:#04x}`",
                TYPE_SYNC | TYPE_FROM_DEVICE
            ),
            "Sync",
            "host / device",
            "control".into(),
            SYNC_BYTES.to_string(),
        ),
    ];
    for (t, name, by, ch, len) in &rows {
        s += &format!("| {t} | {name} | {by} | {ch} | {len} |\n");
    }
    s += "\nA receiver drops a packet type that its own side sends (an echoed line is harmless).\n\n";

    let da_hi = DA_BYTES + 1;
    let req_len_at = 2 + DA_BYTES;
    let tag_hi = DMA_TAG_BITS - 1;
    let mmio_hi = MMIO_ADDR_BITS - 1;
    let max_req_len = MAX_DMA_LEN;
    s += &format!(
        "### Payloads\n\n\
         | packet | bytes | field | meaning |\n|---|---|---|---|\n\
         | MMIO write | 0–3 | `addr` | register byte address: bits {mmio_hi}:0, a multiple of 4 ([registers.md](registers.md)); bits 31:{MMIO_ADDR_BITS} zero |\n\
         | | 4–7 | `data` | value written |\n\
         | MMIO read | 0–3 | `addr` | as above |\n\
         | DMA read data | 0–1 | `info` | bits {tag_hi}:0 the read's tag; bit 14 `error`: the read failed, the words are zero; bit 15 `last`: the final packet of the read; bits 13:12 zero |\n\
         | | 2 … | words | 1 to {MAX_DATA_WORDS} words of the read, in address order |\n\
         | MMIO read data | 0–3 | `addr` | the read's address, echoed |\n\
         | | 4–7 | `data` | the value read |\n\
         | DMA read request | 0–1 | `tag` | bits {tag_hi}:0 the port's `dma_req_tag`; bits 15:{DMA_TAG_BITS} zero |\n\
         | | 2–{da_hi} | `da` | device address ({DA_BITS} bits), a multiple of 4 |\n\
         | | {req_len_at}–{} | `len_m1` | bytes − 1 (1 to {max_req_len} bytes) |\n\
         | DMA write | 0–{} | `da` | device address of the packet's first byte ({DA_BITS} bits), a multiple of 4 |\n\
         | | {DA_BYTES}–{da_hi} | `info` | bits 7:0 data bytes − 1 (1 to {MAX_DATA_BYTES}); bit 15 `last`: the final packet of the device's write; bits 14:8 zero |\n\
         | | {DMA_WRITE_FIELD_BYTES} … | words | `ceil(bytes / 4)` words; the unused bytes of the final word are zero |\n\
         | event | 0 | `vi` | the port's `event_vi` ({EVENT_VI_BITS} bits) |\n\
         | ACK, NAK | 0 | `channel` | the acknowledged channel of the other side (the device acknowledges host channels 0 and 1, the host device channel 0) |\n\
         | | 1 | `next` | the sequence number the receiver expects next on that channel |\n\
         | Sync | 0 | `nonce` | chosen by the host, different from its previous Sync; the device echoes it |\n\
         | | 1 | `version` | the sender's protocol version ({PROTOCOL_VERSION}) |\n\
         | | 2 | `flags` | bit 0 `reset`: reset the device core as well (host), done (device); bits 7:1 zero |\n\n\
         ### DMA transfers\n\n\
         * A device write of L bytes at DA goes out as `ceil(L / {MAX_DATA_BYTES})` DMA \
         writes: {MAX_DATA_BYTES} bytes at DA, DA + {MAX_DATA_BYTES}, …, the rest in the \
         final one, which has `last`. The host applies each as it arrives; writes are \
         posted (nothing answers them but the ACK).\n\
         * One exception keeps the port free of deadlock: the Device may request a write \
         whose data waits for a read it requests afterwards (in loopback the receive engine \
         writes what the send engine reads). When a write's next word is missing while a \
         read request waits, the packet ends at the words it has (a multiple of 4 bytes, \
         without `last`), the read request goes next, and the write goes on in a new packet \
         at the following address. So a host applies DMA writes by their `da` and counts on \
         nothing but order and `last`; a write's data is never reordered, and nothing else \
         passes a write.\n\
         * A device read is one DMA read request. The host answers reads in request order, \
         each with exactly `ceil(len / 4)` words in one or more DMA read data packets of up \
         to {MAX_DATA_WORDS} words, all carrying the request's tag, `last` on the final \
         one. A word the host cannot read (outside the DMA arena, refused by the firewall) \
         is sent as zero in a packet with `error`; the bridge passes `tag`, `error` and \
         `last` (on the final word of the final packet) to the port's `dma_rd_*` stream.\n\n",
        req_len_at + 1,
        DA_BYTES - 1,
    );

    s += &format!(
        "## Reliability\n\n\
         The line loses nothing on purpose but a frame can be damaged and dropped, so every \
         packet except ACK, NAK and Sync is *sequenced*: it carries a sequence number in its \
         sender's *channel*, is acknowledged, and is sent again until it is.\n\n\
         * **Channels.** The host has two: {CH_REQUESTS} for MMIO writes and reads, \
         {CH_COMPLETIONS} for DMA read data; the device has one ({CH_DEVICE}) for \
         everything it sends. An MMIO access can wait inside the device for a table walk, and \
         the walk for read data: if read data had to queue behind that access on one \
         sequence, the two would wait for each other. Numbering the completions separately \
         (as PCIe gives completions their own credits) lets read data always pass. Order \
         holds within a channel: MMIO accesses take effect in the order sent, read data \
         arrives in order, and everything the device sends arrives in the order it was sent \
         (a CQ write before its event, DMA writes before the MMIO read data that follows \
         them).\n\
         * **Numbers.** Each channel numbers its sequenced frames 0, 1, 2, … modulo 256 from \
         the last Sync; a retransmission repeats the frame with its number unchanged.\n\
         * **Window.** A sender has at most {WINDOW} unacknowledged frames per channel and \
         holds each until it is acknowledged; it may use a smaller window (the device's \
         transmit buffers: {MAX_DATA_BYTES} data bytes and {DMA_WRITE_FIELD_BYTES} bytes of \
         fields each). Receivers do not depend on the window.\n\
         * **Receiving.** Each receiver keeps `expected` per channel. A frame that fails any \
         check is dropped with no reply. For a valid sequenced frame, `d = (seq − expected) \
         mod 256`:\n\
         \x20 * `d = 0`, and the receiver can take it now: **accepted**. It takes effect \
         exactly once, in order; `expected` advances; an ACK is due.\n\
         \x20 * `d = 0` but no room (say the device's MMIO queue is full): dropped as if lost, \
         no reply.\n\
         \x20 * `d` ≥ 128, a **duplicate** (already accepted; its ACK was lost or late): no \
         effect at all, not even a second MMIO write or read; an ACK is due.\n\
         \x20 * `d` from 1 to 127, a frame before it is missing: no effect; a NAK is due, at \
         most one per value of `expected`.\n\
         * **What an ACK says.** ACK(`channel`, `next`): every frame of that channel before \
         `next` has been accepted (taken into the receiver's queue; its effect will happen, \
         in order). It does not say the effect has happened: MMIO read data says that for \
         reads. ACKs are cumulative, so a lost one is repaired by the next; due ACKs of a \
         channel merge into one carrying the newest `next`. A NAK says the same and asks for \
         everything from `next` on again.\n\
         * **Sending.** An ACK or NAK whose `next` lies from the oldest unacknowledged to just \
         past the newest frame sent releases the frames before it; any other is ignored. On \
         a NAK, or when the oldest unacknowledged frame has waited \
         {RETRANSMIT_TIMEOUT_MS} ms since it was last sent, the sender goes back: it sends \
         again every unacknowledged frame from `next` (the oldest) on, in order, after the \
         frame on the line (go-back-N; a frame is never cut short). ACK, NAK and Sync go \
         before sequenced frames but never inside one. They are not sequenced, not \
         acknowledged, and not retransmitted (but for the host's Sync).\n\
         * **Sync.** The host starts a session with Sync (`nonce` new, `reset` as wanted). \
         The device: resets its core when `reset` is set; sets `expected` of both host \
         channels and its own next number to 0; drops its unacknowledged frames and due \
         ACKs; and answers with Sync echoing `nonce` and carrying its version. The host \
         ignores every frame until the Sync with its nonce, and refuses a different version; \
         then both sides start at 0. Without an answer within {RETRANSMIT_TIMEOUT_MS} ms the \
         host sends Sync again with a new nonce (a late answer to an older Sync is ignored, \
         so a repeated Sync cannot cut into the new session). Sync without `reset` is for \
         attaching to a device that has no DMA in flight.\n\
         * **Lost link.** After {RETRY_LIMIT} timeouts in a row without progress (the board \
         was reset or unplugged; its numbers restarted at 0) the host reports the link as \
         lost; a new session starts with Sync. The device retransmits until it gets an ACK \
         or a Sync.\n\n\
         `abi::bridge::Receiver` and `abi::bridge::Sender` model these rules; a test runs \
         them across a line that damages frames and checks that every MMIO write takes \
         effect exactly once, in order.\n\n"
    );

    // Efficiency.
    s += &format!(
        "## Line efficiency\n\n\
         DMA data bytes per line byte for back-to-back packets, each byte on the line \
         costing {UART_BITS_PER_BYTE} bit times (8N1); without escapes (data free of \
         `{FLAG:#04x}` and `{ESC:#04x}`):\n\n\
         | data bytes per packet | DMA write: line bytes | efficiency | DMA read data: line bytes | efficiency |\n\
         |---|---|---|---|---|\n"
    );
    for n in [4, 16, 32, 64, 128, MAX_DATA_BYTES] {
        let (w, r) = (dma_write_line_bytes(n), dma_read_data_line_bytes(n));
        s += &format!(
            "| {n} | {w} | {:.3} | {r} | {:.3} |\n",
            efficiency(n, w, 0.0),
            efficiency(n, r, 0.0)
        );
    }
    let n = MAX_DATA_BYTES;
    let (w, r) = (dma_write_line_bytes(n), dma_read_data_line_bytes(n));
    let random = n as f64 * 2.0 / 256.0;
    let worst = n as f64;
    let ack = ACK_LINE_BYTES as f64;
    let raw = 8.0 / UART_BITS_PER_BYTE as f64;
    let row = |name: &str, extra: f64| {
        let (ew, er) = (efficiency(n, w, extra), efficiency(n, r, extra));
        format!(
            "| {name} | {ew:.3} | {:.3} | {er:.3} | {:.3} |\n",
            ew * raw,
            er * raw
        )
    };
    s += &format!(
        "\nWith {n}-byte packets, as a share of the UART's byte rate (baud / \
         {UART_BITS_PER_BYTE}) and of its raw bit rate (baud; 8 of every \
         {UART_BITS_PER_BYTE} bit times carry data bits):\n\n\
         | data | DMA write: of byte rate | of bit rate | DMA read data: of byte rate | of bit rate |\n\
         |---|---|---|---|---|\n"
    );
    s += &row("free of flag and escape bytes", 0.0);
    s += &row("uniformly random (2/256 escaped)", random);
    s += &row(
        "random, and the line also carries one ACK per frame of the other direction",
        random + ack,
    );
    s += &row("every data byte escaped (worst case)", worst);
    s += &format!(
        "\nAt 4 Mbaud a DMA write stream of {n}-byte packets moves {:.1} kB/s of data \
         (free of flag and escape bytes). Small transfers pay for framing and fields: {} bytes \
         per DMA write, {} per DMA read data packet; a 16-byte CQ entry written alone uses \
         {:.2} of the line. DMA read requests \
         ({} line bytes) and the ACKs of a one-way stream travel in the other direction. \
         The window keeps a one-way stream going as long as an ACK returns within \
         {} frame times ({:.1} ms at 1 Mbaud, {:.1} ms at 4 Mbaud for {w}-byte frames); \
         the FTDI chip holds bytes for the host up to its latency timer, so the host sets \
         that to 1 ms.\n\n",
        4e6 / UART_BITS_PER_BYTE as f64 * efficiency(n, w, 0.0) / 1e3,
        dma_write_line_bytes(0),
        dma_read_data_line_bytes(0),
        efficiency(16, dma_write_line_bytes(16), 0.0),
        line_bytes(DMA_READ_REQ_BYTES),
        WINDOW - 1,
        ((WINDOW - 1) * w * UART_BITS_PER_BYTE) as f64 / 1e3,
        ((WINDOW - 1) * w * UART_BITS_PER_BYTE) as f64 / 4e3,
    );

    // Worked example.
    let (p, seq) = example_packet();
    let Packet::MmioWrite { addr, data } = p else {
        unreachable!()
    };
    let body = frame_body(&p, seq);
    let line = encode(&p, seq);
    let crc = &body[body.len() - CRC_BYTES..];
    s += &format!(
        "## Example: one MMIO write\n\n\
         The host writes {data:#x} to VI 1's SQ tail doorbell (`{addr:#07x}`) as frame {seq} \
         of its requests channel.\n\n\
         | line bytes | field |\n|---|---|\n\
         | `{}` | flag |\n\
         | `{}` | `type` = MMIO write |\n\
         | `{}` | `seq` = {seq} |\n\
         | `{}` | `len` = {MMIO_WRITE_BYTES} |\n\
         | `{}` | `addr` = `{addr:#x}` |\n\
         | `{}` | `data` = `{data:#x}`: its byte `{FLAG:#04x}` escaped |\n\
         | `{}` | `crc` = `{:#06x}` |\n\
         | `{}` | flag |\n\n\
         Body before stuffing: `{}`. On the line ({} bytes): `{}`.\n",
        hex(&[FLAG]),
        hex(&body[HDR_TYPE..=HDR_TYPE]),
        hex(&body[HDR_SEQ..=HDR_SEQ]),
        hex(&body[HDR_LEN..HEADER_BYTES]),
        stuffed(&body[HEADER_BYTES..HEADER_BYTES + 4]),
        stuffed(&body[HEADER_BYTES + 4..HEADER_BYTES + 8]),
        stuffed(crc),
        u16::from_be_bytes([crc[0], crc[1]]),
        hex(&[FLAG]),
        hex(&body),
        line.len(),
        hex(&line),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use crate::test_seed as seed;

    fn random_side(rng: &mut SmallRng) -> Side {
        if rng.gen() {
            Side::Host
        } else {
            Side::Device
        }
    }

    /// A packet of kind `kind` (0 to 9) with random fields in range.
    fn random_packet(rng: &mut SmallRng, kind: usize) -> Packet {
        let addr = rng.gen_range(0..1u32 << MMIO_ADDR_BITS) & !3;
        let da = rng.gen_range(0..1u64 << DA_BITS) & !3;
        let tag = rng.gen_range(0..1u16 << DMA_TAG_BITS);
        let from = random_side(rng);
        match kind {
            0 => Packet::MmioWrite {
                addr,
                data: rng.gen(),
            },
            1 => Packet::MmioRead { addr },
            2 => Packet::DmaReadData {
                tag,
                last: rng.gen(),
                error: rng.gen(),
                words: (0..rng.gen_range(1..=MAX_DATA_WORDS))
                    .map(|_| rng.gen())
                    .collect(),
            },
            3 => Packet::MmioReadData {
                addr,
                data: rng.gen(),
            },
            4 => Packet::DmaReadReq {
                tag,
                da,
                len: rng.gen_range(1..=MAX_DMA_LEN),
            },
            5 => Packet::DmaWrite {
                da,
                last: rng.gen(),
                data: (0..rng.gen_range(1..=MAX_DATA_BYTES))
                    .map(|_| rng.gen())
                    .collect(),
            },
            6 => Packet::Event { vi: rng.gen() },
            7 => Packet::Ack {
                from,
                channel: rng.gen_range(0..from.other().channels()),
                next: rng.gen(),
            },
            8 => Packet::Nak {
                from,
                channel: rng.gen_range(0..from.other().channels()),
                next: rng.gen(),
            },
            _ => Packet::Sync {
                from,
                nonce: rng.gen(),
                version: rng.gen(),
                reset: rng.gen(),
            },
        }
    }

    const KINDS: usize = 10;

    fn expected_seq(p: &Packet, seq: u8) -> u8 {
        if p.channel().is_some() {
            seq
        } else {
            0
        }
    }

    #[test]
    fn crc_check_value_and_residue() {
        assert_eq!(crc16(b"123456789"), CRC_CHECK);
        assert_eq!(CRC_CHECK, 0x29B1);
        let mut m = b"skipwalk".to_vec();
        let c = crc16(&m);
        m.extend(c.to_be_bytes());
        assert_eq!(crc16(&m), CRC_RESIDUE);
        // No single byte brings the register back to its initial value, so a flag damaged
        // into a data byte in front of a frame always fails the CRC.
        assert!((0..=255u8).all(|b| crc16_update(CRC_INIT, b) != CRC_INIT));
    }

    #[test]
    fn every_packet_type_round_trips() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..2000 {
            let p = random_packet(&mut rng, i % KINDS);
            let seq: u8 = rng.gen();
            let line = encode(&p, seq);
            assert_eq!((line[0], line[line.len() - 1]), (FLAG, FLAG));
            assert!(
                !line[1..line.len() - 1].contains(&FLAG),
                "seed {seed}: {p:?}"
            );
            assert!(line.len() <= MAX_LINE_BYTES);
            let body = frame_body(&p, seq);
            assert!((MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&body.len()));
            let mut d = Decoder::new(p.sender());
            let got = d.push_all(&line);
            assert_eq!(
                got,
                vec![Ok((expected_seq(&p, seq), p.clone()))],
                "seed {seed}"
            );
            // The other side's decoder refuses it.
            let mut d = Decoder::new(p.sender().other());
            assert!(matches!(
                d.push_all(&line)[..],
                [Err(FrameError::WrongDirection(_))]
            ));
        }
    }

    #[test]
    fn out_of_range_fields_are_refused() {
        let bad = [
            Packet::MmioWrite { addr: 2, data: 0 },
            Packet::MmioRead { addr: 1 << 20 },
            Packet::DmaReadData {
                tag: 1 << 12,
                last: true,
                error: false,
                words: vec![0],
            },
            Packet::DmaReadData {
                tag: 0,
                last: true,
                error: false,
                words: vec![0; MAX_DATA_WORDS + 1],
            },
            Packet::DmaReadData {
                tag: 0,
                last: true,
                error: false,
                words: vec![],
            },
            Packet::DmaReadReq {
                tag: 0,
                da: 1 << 40,
                len: 4,
            },
            Packet::DmaReadReq {
                tag: 0,
                da: 0,
                len: MAX_DMA_LEN + 1,
            },
            Packet::DmaReadReq {
                tag: 0,
                da: 0,
                len: 0,
            },
            Packet::DmaWrite {
                da: 6,
                last: true,
                data: vec![1],
            },
            Packet::DmaWrite {
                da: 0,
                last: true,
                data: vec![0; MAX_DATA_BYTES + 1],
            },
            Packet::Ack {
                from: Side::Host,
                channel: 1,
                next: 0,
            },
            Packet::Nak {
                from: Side::Device,
                channel: 2,
                next: 0,
            },
        ];
        for p in bad {
            assert!(
                matches!(p.check(), Err(FrameError::BadField { .. })),
                "{p:?}"
            );
        }
        // Reserved bits and padding on the line are refused too.
        let body = |t: u8, payload: &[u8]| {
            let mut b = vec![t, 0];
            b.extend((payload.len() as u16).to_le_bytes());
            b.extend(payload);
            let c = crc16(&b);
            b.extend(c.to_be_bytes());
            b
        };
        let cases = [
            (Side::Host, body(TYPE_DMA_READ_DATA, &[0, 0x20, 1, 2, 3, 4])),
            (
                Side::Device,
                body(TYPE_DMA_WRITE, &[0, 0, 0, 0, 0, 0, 0x01, 9, 9, 9, 9]),
            ),
            (
                Side::Device,
                body(TYPE_DMA_WRITE, &[0, 0, 0, 0, 0, 0, 0x00, 9, 9, 0, 0]),
            ),
            (Side::Host, body(TYPE_SYNC, &[0, 1, 2])),
            (Side::Host, body(TYPE_MMIO_READ, &[0, 0, 0x10, 0])),
            (Side::Host, {
                let mut b = frame_body(
                    &Packet::Ack {
                        from: Side::Host,
                        channel: 0,
                        next: 1,
                    },
                    0,
                );
                b[HDR_SEQ] = 1;
                b.truncate(b.len() - CRC_BYTES);
                let c = crc16(&b);
                b.extend(c.to_be_bytes());
                b
            }),
        ];
        for (from, b) in cases {
            assert!(
                matches!(decode_body(from, &b), Err(FrameError::BadField { .. })),
                "{b:02x?}"
            );
        }
        assert_eq!(
            decode_body(Side::Host, &body(0x07, &[0])),
            Err(FrameError::UnknownType(0x07))
        );
        assert!(matches!(
            decode_body(Side::Host, &body(TYPE_MMIO_READ, &[0, 0, 0])),
            Err(FrameError::PayloadLength { .. })
        ));
        // A DMA write whose byte count disagrees with its words.
        assert!(matches!(
            decode_body(
                Side::Device,
                &body(TYPE_DMA_WRITE, &[0, 0, 0, 0, 0, 4, 0, 1, 2, 3, 4])
            ),
            Err(FrameError::PayloadLength { .. })
        ));
    }

    /// Random bytes rich in flags and escapes.
    fn garbage(rng: &mut SmallRng, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| match rng.gen_range(0..8) {
                0 => FLAG,
                1 => ESC,
                2 => ESC_FLAG,
                _ => rng.gen(),
            })
            .collect()
    }

    #[test]
    fn decoder_resynchronises_after_garbage() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..500 {
            let p = random_packet(&mut rng, i % KINDS);
            let seq = rng.gen();
            let n = rng.gen_range(0..700);
            let mut stream = if i % 7 == 0 {
                // A long run without flags: too long, then in step again.
                (0..MAX_LINE_BYTES + 10)
                    .map(|_| rng.gen_range(0..FLAG))
                    .collect()
            } else {
                garbage(&mut rng, n)
            };
            stream.extend(encode(&p, seq));
            let mut d = Decoder::new(p.sender());
            let got = d.push_all(&stream);
            let oks: Vec<_> = got.iter().filter(|r| r.is_ok()).collect();
            assert_eq!(oks.len(), 1, "seed {seed}: {got:?}");
            assert_eq!(
                got.last(),
                Some(&Ok((expected_seq(&p, seq), p.clone()))),
                "seed {seed}"
            );
            if i % 7 == 0 {
                assert_eq!(got[0], Err(FrameError::TooLong));
            }
        }
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..120 {
            let p = random_packet(&mut rng, i % KINDS);
            let seq = rng.gen();
            let line = encode(&p, seq);
            for bit in 0..line.len() * 8 {
                let mut bad = line.clone();
                bad[bit / 8] ^= 1 << (bit % 8);
                // A closing flag damaged: the next flag (here the following frame's) ends it.
                bad.push(FLAG);
                let mut d = Decoder::new(p.sender());
                let got = d.push_all(&bad);
                assert!(
                    got.iter().all(|r| r.is_err()),
                    "seed {seed}: bit {bit} of {p:?}: {got:?}"
                );
            }
        }
    }

    #[test]
    fn truncated_frames_are_rejected() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..60 {
            let p = random_packet(&mut rng, i % KINDS);
            let seq = rng.gen();
            let line = encode(&p, seq);
            let want = Ok((expected_seq(&p, seq), p.clone()));
            for k in 1..line.len() - 1 {
                let mut d = Decoder::new(p.sender());
                // The frame cut short; then the next frame.
                assert_eq!(d.push_all(&line[..k]), vec![], "seed {seed}");
                let got = d.push_all(&line);
                let oks: Vec<_> = got.iter().filter(|r| r.is_ok()).collect();
                assert_eq!(oks, vec![&want], "seed {seed}: cut at {k}: {got:?}");
            }
            // Cut at the body level too: every proper prefix, closed by a flag.
            let body = frame_body(&p, seq);
            for k in 0..body.len() {
                assert!(decode_body(p.sender(), &body[..k]).is_err());
            }
        }
    }

    #[test]
    fn frames_split_at_every_byte_boundary_decode_the_same() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        for i in 0..40 {
            let a = random_packet(&mut rng, i % KINDS);
            let from = a.sender();
            let b = loop {
                let kind = rng.gen_range(0..KINDS);
                let b = random_packet(&mut rng, kind);
                if b.sender() == from {
                    break b;
                }
            };
            let (sa, sb) = (rng.gen(), rng.gen());
            let mut stream = encode(&a, sa);
            stream.extend(encode(&b, sb));
            let want = vec![
                Ok((expected_seq(&a, sa), a.clone())),
                Ok((expected_seq(&b, sb), b.clone())),
            ];
            for k in 0..=stream.len() {
                let mut d = Decoder::new(from);
                let mut got = d.push_all(&stream[..k]);
                got.extend(d.push_all(&stream[k..]));
                assert_eq!(got, want, "seed {seed}: split at {k}");
            }
            let mut d = Decoder::new(from);
            let got: Vec<_> = stream.iter().filter_map(|&x| d.push(x)).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn the_worked_example_is_stable() {
        let (p, seq) = example_packet();
        let line = encode(&p, seq);
        assert_eq!(
            hex(&line),
            "c0 01 05 08 00 00 10 01 00 db dc 00 00 00 85 b6 c0",
            "the line format changed"
        );
        assert_eq!(Decoder::new(Side::Host).push_all(&line), vec![Ok((seq, p))]);
    }

    #[test]
    fn stuffing_is_strict_and_the_length_field_is_checked() {
        let p = Packet::MmioWrite {
            addr: 0xDB0,
            data: 0xC0DB_C0DB,
        };
        let line = encode(&p, 3);
        let body = frame_body(&p, 3);
        let specials = body.iter().filter(|&&b| b == FLAG || b == ESC).count();
        assert!(specials >= 4);
        assert_eq!(line.len(), 2 + body.len() + specials);
        // An escape followed by anything but the two codes, or by the flag, drops the frame;
        // the flag still ends it and the next frame decodes.
        for bad in [&[ESC, 0x00][..], &[ESC, ESC], &[ESC, FLAG ^ 0x20], &[ESC]] {
            let mut stream = vec![FLAG, 0x01, 0x02];
            stream.extend(bad);
            stream.extend(&line);
            let got = Decoder::new(Side::Host).push_all(&stream);
            assert_eq!(
                got,
                vec![Err(FrameError::BadEscape), Ok((3, p.clone()))],
                "{bad:02x?}"
            );
        }
        // A `len` that disagrees with the frame, under a correct CRC.
        for len in [7u16, 9, 0, 263] {
            let mut b = body[..body.len() - CRC_BYTES].to_vec();
            b[HDR_LEN..HEADER_BYTES].copy_from_slice(&len.to_le_bytes());
            let c = crc16(&b);
            b.extend(c.to_be_bytes());
            assert_eq!(
                decode_body(Side::Host, &b),
                Err(FrameError::Length {
                    header: usize::from(len),
                    actual: MMIO_WRITE_BYTES
                })
            );
        }
        // Empty frames are idle line, not errors.
        assert_eq!(Decoder::new(Side::Host).push_all(&[FLAG; 5]), vec![]);
    }

    #[test]
    fn dma_splitting_covers_the_transfer() {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let ps = split_dma_write(0x1000, &data);
        assert_eq!(ps.len(), 4);
        let mut joined: Vec<u8> = vec![];
        for (i, p) in ps.iter().enumerate() {
            let Packet::DmaWrite { da, last, data } = p else {
                panic!()
            };
            assert_eq!(*da, 0x1000 + 256 * i as u64);
            assert_eq!(*last, i == 3);
            joined.extend(data);
            assert!(p.check().is_ok());
        }
        assert_eq!(joined, data);
        let words: Vec<u32> = (0..100).collect();
        let ps = split_dma_read(7, &words, false);
        assert_eq!(ps.len(), 2);
        assert!(
            matches!(&ps[1], Packet::DmaReadData { last: true, words, .. } if words.len() == 36)
        );
        assert!(split_dma_write(0, &[]).is_empty());
    }

    #[test]
    fn line_bytes_match_the_encoder_and_the_target_is_met() {
        let mut rng = SmallRng::seed_from_u64(seed());
        for n in 1..=MAX_DATA_BYTES {
            let data: Vec<u8> = (0..n).map(|_| rng.gen_range(0..0xC0)).collect();
            let p = Packet::DmaWrite {
                da: 0x10_0000,
                last: true,
                data,
            };
            let body = frame_body(&p, 1);
            let escapes = body.iter().filter(|&&b| b == FLAG || b == ESC).count();
            assert_eq!(encode(&p, 1).len(), dma_write_line_bytes(n) + escapes);
            let words = vec![0x0102_0304; n.div_ceil(4)];
            let q = Packet::DmaReadData {
                tag: 1,
                last: true,
                error: false,
                words,
            };
            let body = frame_body(&q, 1);
            assert_eq!(body.len() + 2, dma_read_data_line_bytes(n));
        }
        let n = MAX_DATA_BYTES;
        let random = n as f64 * 2.0 / 256.0;
        assert!(efficiency(n, dma_write_line_bytes(n), random + ACK_LINE_BYTES as f64) > 0.9);
        assert!(efficiency(n, dma_read_data_line_bytes(n), random) > 0.9);
        // Even of the raw bit rate (8 of 10 bit times are data bits).
        assert!(efficiency(n, dma_write_line_bytes(n), random) * 0.8 >= 0.7);
    }

    #[test]
    fn receiver_rules() {
        assert_eq!(arrival(10, 10), Arrival::Next);
        assert_eq!(arrival(10, 11), Arrival::Ahead);
        assert_eq!(arrival(10, 9), Arrival::Duplicate);
        assert_eq!(arrival(0, 255), Arrival::Duplicate);
        assert_eq!(arrival(255, 2), Arrival::Ahead);
        let mut r = Receiver::new();
        // Frame 0 accepted; its ACK is lost; the sender sends it again: no second effect.
        assert_eq!(
            r.receive(0, true),
            Receipt {
                act: true,
                reply: Some(Reply::Ack(1))
            }
        );
        assert_eq!(
            r.receive(0, true),
            Receipt {
                act: false,
                reply: Some(Reply::Ack(1))
            }
        );
        // Frame 1 lost, 2 and 3 arrive: one NAK.
        assert_eq!(r.receive(2, true).reply, Some(Reply::Nak(1)));
        assert_eq!(
            r.receive(3, true),
            Receipt {
                act: false,
                reply: None
            }
        );
        // No room for frame 1: as if lost.
        assert_eq!(
            r.receive(1, false),
            Receipt {
                act: false,
                reply: None
            }
        );
        assert!(r.receive(1, true).act);
        assert_eq!(r.expected(), 2);
        // A gap at the new number may be NAKed again.
        assert_eq!(r.receive(3, true).reply, Some(Reply::Nak(2)));

        let mut s = Sender::new();
        for i in 0..WINDOW {
            assert_eq!(s.offer(i), Ok(i as u8));
        }
        assert_eq!(s.offer(99), Err(99));
        assert_eq!(s.next_frame(), Some((0, 0)));
        assert_eq!(s.next_frame(), Some((1, 1)));
        assert!(!s.on_ack(3), "frame 2 was never sent");
        assert!(s.on_nak(1));
        assert_eq!(s.unacknowledged(), WINDOW - 1);
        assert_eq!(s.next_frame(), Some((1, 1)));
        s.on_timeout();
        assert_eq!(s.next_frame(), Some((1, 1)));
        assert_eq!(s.next_frame(), Some((2, 2)));
        assert!(s.on_ack(3));
        assert_eq!((s.base(), s.unacknowledged()), (3, WINDOW - 3));
        for i in 3..WINDOW {
            assert_eq!(s.next_frame(), Some((i as u8, i)));
        }
        assert_eq!(s.next_frame(), None);
    }

    /// Damages a frame on the line now and then: a bit flip, garbage inserted, a cut, or the
    /// whole frame lost.
    fn noise(rng: &mut SmallRng, line: &mut Vec<u8>) {
        if line.is_empty() {
            return;
        }
        match rng.gen_range(0..20) {
            0 => {
                let bit = rng.gen_range(0..line.len() * 8);
                line[bit / 8] ^= 1 << (bit % 8);
            }
            1 => {
                let at = rng.gen_range(0..=line.len());
                let n = rng.gen_range(1..20);
                let g = garbage(rng, n);
                line.splice(at..at, g);
            }
            2 => line.truncate(rng.gen_range(0..line.len())),
            3 => line.clear(),
            _ => {}
        }
    }

    #[test]
    fn every_request_takes_effect_once_over_a_damaging_line() {
        let seed = seed();
        let mut rng = SmallRng::seed_from_u64(seed);
        let want: Vec<Packet> = (0..400u32)
            .map(|i| Packet::MmioWrite {
                addr: 4 * (i % 1024),
                data: rng.gen(),
            })
            .collect();
        let mut host = Sender::new();
        let mut device = Receiver::new();
        let mut to_device = Decoder::new(Side::Host);
        let mut to_host = Decoder::new(Side::Device);
        let (mut offered, mut applied, mut idle) = (0, Vec::new(), 0);
        for _ in 0..200_000 {
            if applied.len() == want.len() && host.unacknowledged() == 0 {
                break;
            }
            while offered < want.len() && host.offer(want[offered].clone()).is_ok() {
                offered += 1;
            }
            let mut line = match host.next_frame() {
                Some((seq, p)) => encode(&p, seq),
                None => vec![],
            };
            let sent = !line.is_empty();
            noise(&mut rng, &mut line);
            let mut back = vec![];
            for r in to_device.push_all(&line) {
                let Ok((seq, p)) = r else { continue };
                let receipt = device.receive(seq, rng.gen_range(0..10) != 0);
                if receipt.act {
                    applied.push(p);
                }
                if let Some(reply) = receipt.reply {
                    let mut f = encode(&reply.packet(Side::Device, CH_REQUESTS), 0);
                    noise(&mut rng, &mut f);
                    back.extend(f);
                }
            }
            let before = host.unacknowledged();
            for r in to_host.push_all(&back) {
                match r {
                    Ok((_, Packet::Ack { next, .. })) => {
                        host.on_ack(next);
                    }
                    Ok((_, Packet::Nak { next, .. })) => {
                        host.on_nak(next);
                    }
                    _ => {}
                }
            }
            // The timeout: a few steps with nothing sent and nothing acknowledged.
            idle = if sent || host.unacknowledged() < before {
                0
            } else {
                idle + 1
            };
            if idle >= 3 {
                host.on_timeout();
                idle = 0;
            }
        }
        assert_eq!(applied.len(), want.len(), "seed {seed}");
        assert!(applied == want, "seed {seed}: order or content differs");
    }

    #[test]
    fn docs_bridge_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/bridge.md");
        let text = markdown();
        if std::env::var_os("SKIPWALK_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).expect("write docs/bridge.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "docs/bridge.md differs from abi::bridge: run `make docs`"
        );
    }
}
