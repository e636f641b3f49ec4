//! `Deframer`: the receiving half of the bridge's framing (docs/bridge.md, "The receiver"):
//! SLIP unstuffing, the CRC, the byte count, the header fields and every check of a frame the
//! host sends.
//!
//! | port | width | dir | meaning |
//! |---|---|---|---|
//! | `clock`, `reset` | 1 | in | clock; synchronous reset (back to the start of a frame) |
//! | `in_valid`, `in_data` | 1, 8 | in | a line byte (in any clock at least [`MIN_BYTE_GAP`] clocks after the one before; `in_data` held in the clock after `in_valid` too) |
//! | `store` | 1 | out | a body byte (unstuffed) is stored this clock: two clocks after its line byte |
//! | `store_data` | 8 | out | the byte |
//! | `store_index` | 9 | out | its index in the body (saturates at `MAX_BODY_BYTES + 1`) |
//! | `store_pidx` | 9 | out | `store_index` minus 6 (modulo 2^9): its index in the payload from payload byte 2 on |
//! | `done` | 1 | out | two clocks after a flag that ended a non-empty frame |
//! | `ok` | 1 | out | with `done`: the frame passed every check (never high without `done`) |
//! | `ftype`, `seq` | 8, 8 | out | header bytes of the last frame |
//! | `len` | 9 | out | payload bytes of the last frame (valid with `ok`) |
//! | `info` | 16 | out | payload bytes 0–1 (little-endian) |
//! | `b2` | 8 | out | payload byte 2 |
//!
//! `ok` means: no bad escape and none pending, `MIN_BODY_BYTES` to `MAX_BODY_BYTES` bytes,
//! the CRC register at `CRC_RESIDUE`, `len` equal to the byte count minus 6, a type the host
//! sends with a payload length that fits it, MMIO addresses below 2^20 and a multiple of 4,
//! DMA read data `info` bits 13:12 zero, control packets with `seq` 0, ACK/NAK on the device's
//! channel, Sync flags bits 7:1 zero: exactly what `abi::bridge::decode_body(Side::Host, ..)`
//! accepts. The header registers keep their values until the next frame's bytes arrive, at
//! least one line byte after `done`.
//!
//! A line byte goes through three register stages, so no path from one of them is longer
//! than a few gates: its compares with the flag and escape bytes; the unstuffed byte
//! (`store`) or the end of the frame (`done`, `ok`); the CRC, the byte count and the header
//! registers. The count minus the header and CRC bytes, and the checks of the frame so far,
//! are registered in the two clocks after: they are read at a flag, which comes at least
//! [`MIN_BYTE_GAP`] clocks after the body's last byte.

use rust_hdl::prelude::*;

use abi::bridge as ab;

use super::crc16::Crc16;
use crate::consts::konst;
use crate::with_defaults;

/// Width of the body byte counter.
pub const COUNT_W: usize = 9;
const _: () = assert!(ab::MAX_BODY_BYTES < 1 << COUNT_W);
/// Fewest clocks from one line byte to the next (`in_valid` in clocks `t` and `t + 4` or
/// later): the stages and checks of a byte are done before the next byte's are used. A UART
/// byte takes ten bit times.
pub const MIN_BYTE_GAP: u64 = 4;

/// The frame receiver (see the module documentation).
#[derive(LogicBlock)]
pub struct Deframer {
    /// Clock.
    pub clock: Signal<In, Clock>,
    /// Synchronous reset.
    pub reset: Signal<In, Bit>,
    /// A line byte arrives.
    pub in_valid: Signal<In, Bit>,
    /// The line byte.
    pub in_data: Signal<In, Bits<8>>,
    /// A body byte is stored.
    pub store: Signal<Out, Bit>,
    /// The body byte.
    pub store_data: Signal<Out, Bits<8>>,
    /// Its index in the body.
    pub store_index: Signal<Out, Bits<COUNT_W>>,
    /// Its index minus the header and field bytes before payload byte 2.
    pub store_pidx: Signal<Out, Bits<COUNT_W>>,
    /// A non-empty frame ended (two clocks after its closing flag).
    pub done: Signal<Out, Bit>,
    /// With `done`: the frame is valid.
    pub ok: Signal<Out, Bit>,
    /// Header: type.
    pub ftype: Signal<Out, Bits<8>>,
    /// Header: sequence number.
    pub seq: Signal<Out, Bits<8>>,
    /// Header: payload length (low 9 bits).
    pub len: Signal<Out, Bits<COUNT_W>>,
    /// Payload bytes 0 and 1.
    pub info: Signal<Out, Bits<16>>,
    /// Payload byte 2.
    pub b2: Signal<Out, Bits<8>>,
    crc: Crc16,
    count: DFF<Bits<COUNT_W>>,
    esc: DFF<Bit>,
    err: DFF<Bit>,
    r_type: DFF<Bits<8>>,
    r_seq: DFF<Bits<8>>,
    r_len_lo: DFF<Bits<8>>,
    /// Bit 8 of `len`.
    r_len8: DFF<Bit>,
    /// Bits 15:9 of `len` were not zero.
    r_len_hi_nz: DFF<Bit>,
    r_info: DFF<Bits<16>>,
    r_b2: DFF<Bits<8>>,
    /// Payload byte 3 was not zero.
    r_b3nz: DFF<Bit>,
    done_r: DFF<Bit>,
    ok_r: DFF<Bit>,
    /// Stage 1: a line byte arrived; its compares (the byte itself is held on `in_data`).
    a_valid: DFF<Bit>,
    a_flag: DFF<Bit>,
    a_esc: DFF<Bit>,
    a_esc_flag: DFF<Bit>,
    a_esc_esc: DFF<Bit>,
    /// Stage 2: an unstuffed body byte, and the frame's restart at a flag.
    b_put: DFF<Bit>,
    b_byte: DFF<Bits<8>>,
    b_restart: DFF<Bit>,
    /// The byte count minus the header and CRC bytes, registered.
    pcount_r: DFF<Bits<COUNT_W>>,
    /// The checks of the frame so far, registered.
    size_ok_r: DFF<Bit>,
    type_ok_r: DFF<Bit>,
    put: Signal<Local, Bit>,
    restart: Signal<Local, Bit>,
    hput: Signal<Local, Bit>,
    hidx: Signal<Local, Bits<3>>,
    ubyte: Signal<Local, Bits<8>>,
    len9: Signal<Local, Bits<COUNT_W>>,
    size_ok: Signal<Local, Bit>,
    mmio_fields_ok: Signal<Local, Bit>,
    type_ok: Signal<Local, Bit>,
    c_flag: Constant<Bits<8>>,
    c_esc: Constant<Bits<8>>,
    c_esc_flag: Constant<Bits<8>>,
    c_esc_esc: Constant<Bits<8>>,
    c_count_one: Constant<Bits<COUNT_W>>,
    c_count_sat: Constant<Bits<COUNT_W>>,
    c_overhead: Constant<Bits<COUNT_W>>,
    c_idx: [Constant<Bits<3>>; 8],
    c_info_hi: Constant<Bits<16>>,
    c_info_lo: Constant<Bits<16>>,
    c_t_mw: Constant<Bits<8>>,
    c_t_mr: Constant<Bits<8>>,
    c_t_dd: Constant<Bits<8>>,
    c_t_ack: Constant<Bits<8>>,
    c_t_nak: Constant<Bits<8>>,
    c_t_sync: Constant<Bits<8>>,
    c_len_mw: Constant<Bits<COUNT_W>>,
    c_len_mr: Constant<Bits<COUNT_W>>,
    c_len_ack: Constant<Bits<COUNT_W>>,
    c_len_sync: Constant<Bits<COUNT_W>>,
    c_dd_align: Constant<Bits<2>>,
}

impl Default for Deframer {
    fn default() -> Self {
        let dd_fields = ab::DMA_READ_DATA_FIELD_BYTES as u64;
        // The DMA read data length check is written out for these values: 2 + 4 n, n = 1 to
        // 64, is bits 1:0 equal to 2 and bits 8:2 from 1 to 64.
        const _: () = assert!(
            ab::DMA_READ_DATA_FIELD_BYTES == 2 && ab::MAX_DATA_BYTES == 256 && COUNT_W == 9
        );
        const _: () = assert!(
            ab::MIN_BODY_BYTES <= ab::HEADER_BYTES + ab::CRC_BYTES + 2
                && ab::MAX_BODY_BYTES >= ab::HEADER_BYTES + ab::CRC_BYTES + 2 + ab::MAX_DATA_BYTES
        );
        with_defaults!(Deframer {
            c_flag: konst(u64::from(ab::FLAG)),
            c_esc: konst(u64::from(ab::ESC)),
            c_esc_flag: konst(u64::from(ab::ESC_FLAG)),
            c_esc_esc: konst(u64::from(ab::ESC_ESC)),
            c_count_one: konst(1),
            c_count_sat: konst(ab::MAX_BODY_BYTES as u64 + 1),
            c_overhead: konst((ab::HEADER_BYTES + ab::CRC_BYTES) as u64),
            c_idx: std::array::from_fn(|i| konst(i as u64)),
            c_info_hi: konst(0xFF00),
            c_info_lo: konst(0x00FF),
            c_t_mw: konst(u64::from(ab::TYPE_MMIO_WRITE)),
            c_t_mr: konst(u64::from(ab::TYPE_MMIO_READ)),
            c_t_dd: konst(u64::from(ab::TYPE_DMA_READ_DATA)),
            c_t_ack: konst(u64::from(ab::TYPE_ACK)),
            c_t_nak: konst(u64::from(ab::TYPE_NAK)),
            c_t_sync: konst(u64::from(ab::TYPE_SYNC)),
            c_len_mw: konst(ab::MMIO_WRITE_BYTES as u64),
            c_len_mr: konst(ab::MMIO_READ_BYTES as u64),
            c_len_ack: konst(ab::ACK_BYTES as u64),
            c_len_sync: konst(ab::SYNC_BYTES as u64),
            c_dd_align: konst(dd_fields % 4),
        } defaults {
            clock, reset, in_valid, in_data, store, store_data, store_index, store_pidx, done, ok, ftype,
            seq, len, info, b2, crc, count, esc, err, r_type, r_seq, r_len_lo, r_len8, r_len_hi_nz,
            r_info, r_b2, r_b3nz, done_r, ok_r, a_valid, a_flag, a_esc, a_esc_flag,
            a_esc_esc, b_put, b_byte, b_restart, pcount_r, size_ok_r, type_ok_r, put, restart, hput, hidx, ubyte, len9, size_ok,
            mmio_fields_ok, type_ok,
        })
    }
}

impl Logic for Deframer {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            count,
            esc,
            err,
            r_type,
            r_seq,
            r_len_lo,
            r_len8,
            r_len_hi_nz,
            r_info,
            r_b2,
            r_b3nz,
            done_r,
            ok_r,
            a_valid,
            a_flag,
            a_esc,
            a_esc_flag,
            a_esc_esc,
            b_put,
            b_byte,
            b_restart,
            pcount_r,
            size_ok_r,
            type_ok_r
        );
        clock!(self, clock, crc);

        // ---- The checks of the frame so far (used at its closing flag) ----
        self.len9.next = (bit_cast::<COUNT_W, 1>(self.r_len8.q.val().into()) << 8)
            | bit_cast::<COUNT_W, 8>(self.r_len_lo.q.val());
        self.pcount_r.d.next = self.count.q.val() - self.c_overhead.val();
        // The byte count's bounds follow from `len` matching it: every length a type allows
        // gives a count from `MIN_BODY_BYTES` to `MAX_BODY_BYTES`, and a count below 6 wraps
        // to a length no type allows.
        self.size_ok.next = !self.esc.q.val()
            && !self.err.q.val()
            && !self.r_len_hi_nz.q.val()
            && (self.len9.val() == self.pcount_r.q.val())
            && !self.crc.crc.val().any();
        self.mmio_fields_ok.next = !self.r_info.q.val().get_bits::<2>(0).any()
            && !self.r_b2.q.val().get_bits::<4>(4).any()
            && !self.r_b3nz.q.val();
        self.type_ok.next = false;
        if (self.r_type.q.val() == self.c_t_mw.val())
            && (self.len9.val() == self.c_len_mw.val())
            && self.mmio_fields_ok.val()
        {
            self.type_ok.next = true;
        }
        if (self.r_type.q.val() == self.c_t_mr.val())
            && (self.len9.val() == self.c_len_mr.val())
            && self.mmio_fields_ok.val()
        {
            self.type_ok.next = true;
        }
        if (self.r_type.q.val() == self.c_t_dd.val())
            && (self.len9.val().get_bits::<2>(0) == self.c_dd_align.val())
            && self.len9.val().get_bits::<7>(2).any()
            && (!self.len9.val().get_bit(8) || !self.len9.val().get_bits::<6>(2).any())
            && !self.r_info.q.val().get_bits::<2>(12).any()
        {
            self.type_ok.next = true;
        }
        if ((self.r_type.q.val() == self.c_t_ack.val())
            || (self.r_type.q.val() == self.c_t_nak.val()))
            && (self.len9.val() == self.c_len_ack.val())
            && !self.r_seq.q.val().any()
            && !self.r_info.q.val().get_bits::<8>(0).any()
        {
            self.type_ok.next = true;
        }
        if (self.r_type.q.val() == self.c_t_sync.val())
            && (self.len9.val() == self.c_len_sync.val())
            && !self.r_seq.q.val().any()
            && !self.r_b2.q.val().get_bits::<7>(1).any()
        {
            self.type_ok.next = true;
        }

        self.size_ok_r.d.next = self.size_ok.val();
        self.type_ok_r.d.next = self.type_ok.val();

        // ---- Stage 1: the line byte and its compares ----
        self.a_valid.d.next = self.in_valid.val() && !self.reset.val();
        self.a_flag.d.next = self.in_data.val() == self.c_flag.val();
        self.a_esc.d.next = self.in_data.val() == self.c_esc.val();
        self.a_esc_flag.d.next = self.in_data.val() == self.c_esc_flag.val();
        self.a_esc_esc.d.next = self.in_data.val() == self.c_esc_esc.val();

        // ---- Stage 2: unstuffing, the end of a frame ----
        self.put.next = false;
        self.restart.next = false;
        self.ubyte.next = self.in_data.val();
        self.done_r.d.next = false;
        self.ok_r.d.next = false;
        if self.a_valid.q.val() {
            if self.a_flag.q.val() {
                if self.count.q.val().any() || self.esc.q.val() || self.err.q.val() {
                    self.done_r.d.next = true;
                    self.ok_r.d.next = self.size_ok_r.q.val() && self.type_ok_r.q.val();
                }
                self.restart.next = true;
                self.esc.d.next = false;
                self.err.d.next = false;
            } else if self.err.q.val() {
                // Ignored until the next flag.
            } else if self.esc.q.val() {
                self.esc.d.next = false;
                if self.a_esc_flag.q.val() {
                    self.put.next = true;
                    self.ubyte.next = self.c_flag.val();
                } else if self.a_esc_esc.q.val() {
                    self.put.next = true;
                    self.ubyte.next = self.c_esc.val();
                } else {
                    self.err.d.next = true;
                }
            } else if self.a_esc.q.val() {
                self.esc.d.next = true;
            } else {
                self.put.next = true;
            }
        }
        self.b_put.d.next = self.put.val() && !self.reset.val();
        self.b_byte.d.next = self.ubyte.val();
        self.b_restart.d.next = self.restart.val();

        // ---- Stage 3: CRC, byte count, header registers ----
        self.crc.valid.next = self.b_put.q.val();
        self.crc.data.next = self.b_byte.q.val();
        self.crc.init.next = self.b_restart.q.val() || self.reset.val();
        // The byte counter starts over at a flag (or reset).
        if self.b_restart.q.val() || self.reset.val() {
            self.count.d.next = 0.into();
        } else if self.b_put.q.val() && (self.count.q.val() != self.c_count_sat.val()) {
            self.count.d.next = self.count.q.val() + self.c_count_one.val();
        }
        // The first eight body bytes go into the header registers, by the byte count.
        self.hput.next = self.b_put.q.val() && !self.count.q.val().get_bits::<6>(3).any();
        self.hidx.next = self.count.q.val().get_bits::<3>(0);
        if self.hput.val() {
            if self.hidx.val() == self.c_idx[0].val() {
                self.r_type.d.next = self.b_byte.q.val();
            }
            if self.hidx.val() == self.c_idx[1].val() {
                self.r_seq.d.next = self.b_byte.q.val();
            }
            if self.hidx.val() == self.c_idx[2].val() {
                self.r_len_lo.d.next = self.b_byte.q.val();
            }
            if self.hidx.val() == self.c_idx[3].val() {
                self.r_len8.d.next = self.b_byte.q.val().get_bit(0);
                self.r_len_hi_nz.d.next = self.b_byte.q.val().get_bits::<7>(1).any();
            }
            if self.hidx.val() == self.c_idx[4].val() {
                self.r_info.d.next = (self.r_info.q.val() & self.c_info_hi.val())
                    | bit_cast::<16, 8>(self.b_byte.q.val());
            }
            if self.hidx.val() == self.c_idx[5].val() {
                self.r_info.d.next = (self.r_info.q.val() & self.c_info_lo.val())
                    | (bit_cast::<16, 8>(self.b_byte.q.val()) << 8);
            }
            if self.hidx.val() == self.c_idx[6].val() {
                self.r_b2.d.next = self.b_byte.q.val();
            }
            if self.hidx.val() == self.c_idx[7].val() {
                self.r_b3nz.d.next = self.b_byte.q.val().any();
            }
        }
        if self.reset.val() {
            self.esc.d.next = false;
            self.err.d.next = false;
            self.done_r.d.next = false;
        }
        self.store.next = self.b_put.q.val();
        self.store_data.next = self.b_byte.q.val();
        self.store_index.next = self.count.q.val();
        self.store_pidx.next = self.pcount_r.q.val();
        self.done.next = self.done_r.q.val();
        self.ok.next = self.ok_r.q.val();
        self.ftype.next = self.r_type.q.val();
        self.seq.next = self.r_seq.q.val();
        self.len.next = self.len9.val();
        self.info.next = self.r_info.q.val();
        self.b2.next = self.r_b2.q.val();
    }
}

crate::clocked!(Deframer);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{run_seeded, test_seed, Bench};
    use abi::bridge::{crc16, encode, frame_body, stuff, Decoder, Packet, Side};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A random packet of any type, from either side.
    fn random_packet(rng: &mut SmallRng) -> Packet {
        let side = if rng.gen_bool(0.5) {
            Side::Host
        } else {
            Side::Device
        };
        match rng.gen_range(0..10) {
            0 => Packet::MmioWrite {
                addr: rng.gen_range(0..1u32 << 18) * 4,
                data: rng.gen(),
            },
            1 => Packet::MmioRead {
                addr: rng.gen_range(0..1u32 << 18) * 4,
            },
            2 | 3 => Packet::DmaReadData {
                tag: rng.gen_range(0..1 << ab::DMA_TAG_BITS),
                last: rng.gen(),
                error: rng.gen(),
                words: (0..rng.gen_range(1..=ab::MAX_DATA_WORDS))
                    .map(|_| rng.gen())
                    .collect(),
            },
            4 => Packet::Ack {
                from: side,
                channel: 0,
                next: rng.gen(),
            },
            5 => Packet::Nak {
                from: side,
                channel: 0,
                next: rng.gen(),
            },
            6 => Packet::Sync {
                from: side,
                nonce: rng.gen(),
                version: ab::PROTOCOL_VERSION,
                reset: rng.gen(),
            },
            7 => Packet::Event { vi: rng.gen() },
            8 => Packet::DmaReadReq {
                tag: rng.gen_range(0..1 << ab::DMA_TAG_BITS),
                da: rng.gen_range(0..1u64 << 38) * 4,
                len: rng.gen_range(1..=ab::MAX_DMA_LEN),
            },
            _ => Packet::MmioReadData {
                addr: rng.gen_range(0..1u32 << 18) * 4,
                data: rng.gen(),
            },
        }
    }

    /// Line bytes of one test frame: intact, a field broken under a correct CRC, damaged on
    /// the line, or garbage.
    fn random_frame(rng: &mut SmallRng) -> Vec<u8> {
        let p = random_packet(rng);
        let seq = rng.gen();
        match rng.gen_range(0..8) {
            0..=3 => encode(&p, seq),
            4 | 5 => {
                // Any byte of the body changed, the CRC made right again: only the field,
                // type and length checks can reject it.
                let mut body = frame_body(&p, seq);
                let n = body.len() - ab::CRC_BYTES;
                let i = rng.gen_range(0..n.min(12));
                body[i] ^= 1 << rng.gen_range(0..8);
                body.truncate(n);
                let c = crc16(&body);
                body.extend(c.to_be_bytes());
                stuff(&body)
            }
            6 => {
                let mut line = encode(&p, seq);
                let n = line.len();
                let i = rng.gen_range(1..n - 1);
                match rng.gen_range(0..3) {
                    0 => line[i] ^= 1 << rng.gen_range(0..8),
                    1 => {
                        line.remove(i);
                    }
                    _ => line.insert(i, rng.gen()),
                }
                line
            }
            _ => {
                let n = rng.gen_range(0..20);
                let mut g: Vec<u8> = (0..n)
                    .map(|_| match rng.gen_range(0..4) {
                        0 => ab::ESC,
                        1 => ab::FLAG,
                        _ => rng.gen(),
                    })
                    .collect();
                g.push(ab::FLAG);
                g
            }
        }
    }

    /// Thousands of frames, intact and broken, back to back with random gaps between line
    /// bytes (from [`MIN_BYTE_GAP`] clocks): `store` comes two clocks after a body byte,
    /// `done` and `ok` two clocks after a closing flag, exactly for the frames `abi::bridge::Decoder` (host side) ends and accepts,
    /// with its header fields, and the stored bytes are the body.
    #[test]
    fn bridge_deframer_agrees_with_decoder() {
        run_seeded(
            "bridge-deframer",
            test_seed(),
            Deframer::default,
            |b: &mut Bench<Deframer>, seed| {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut dec = Decoder::new(Side::Host);
                let (mut accepted, mut rejected) = (0, 0);
                let mut body: Vec<u8> = vec![];
                b.uut.reset.next = true;
                b.tick();
                b.uut.reset.next = false;
                for _ in 0..3000 {
                    for byte in random_frame(&mut rng) {
                        let want = dec.push(byte);
                        // The byte in one clock (held in the next), its stages in the two
                        // after it.
                        b.uut.in_valid.next = true;
                        b.uut.in_data.next = u64::from(byte).into();
                        b.tick();
                        b.uut.in_valid.next = false;
                        b.settle();
                        if b.uut.store.val() || b.uut.done.val() {
                            return Err("store or done one clock after the byte".into());
                        }
                        b.tick();
                        b.uut.in_data.next = u64::from(rng.gen::<u8>()).into();
                        b.settle();
                        if b.uut.store.val() {
                            let i = b.uut.store_index.val().index();
                            if i != body.len().min(ab::MAX_BODY_BYTES + 1) {
                                return Err(format!("store index {i}, {} stored", body.len()));
                            }
                            body.push(b.uut.store_data.val().index() as u8);
                            let p = b.uut.store_pidx.val().index();
                            if p != (i + (1 << COUNT_W) - ab::HEADER_BYTES - ab::CRC_BYTES)
                                % (1 << COUNT_W)
                            {
                                return Err(format!("store index {i}, payload index {p}"));
                            }
                        }
                        let done = b.uut.done.val();
                        if done != want.is_some() {
                            return Err(format!("done {done}, decoder {want:?}"));
                        }
                        if let Some(w) = want {
                            let ok = b.uut.ok.val();
                            if ok != w.is_ok() {
                                return Err(format!("ok {ok}, decoder {w:?} body {body:02x?}"));
                            }
                            if let Ok((seq, _)) = w {
                                accepted += 1;
                                let len = body.len() - ab::HEADER_BYTES - ab::CRC_BYTES;
                                let got = (
                                    b.uut.ftype.val().index() as u8,
                                    b.uut.seq.val().index() as u8,
                                    b.uut.len.val().index(),
                                    b.uut.info.val().index() as u16,
                                    b.uut.b2.val().index() as u8,
                                );
                                let want = (
                                    body[0],
                                    seq,
                                    len,
                                    u16::from_le_bytes([body[4], body[5]]),
                                    body.get(6).copied().unwrap_or(0),
                                );
                                if got.0 != want.0
                                    || got.1 != want.1
                                    || got.2 != want.2
                                    || (len >= 2 && got.3 != want.3)
                                    || (len >= 3 && got.4 != want.4)
                                {
                                    return Err(format!("header {got:x?} want {want:x?}"));
                                }
                            } else {
                                rejected += 1;
                            }
                        }
                        if byte == ab::FLAG {
                            body.clear();
                        }
                        // The next byte `MIN_BYTE_GAP` clocks or more after this one.
                        for _ in 0..rng.gen_range(MIN_BYTE_GAP - 2..MIN_BYTE_GAP + 2) {
                            b.tick();
                            b.settle();
                            if b.uut.store.val() || b.uut.done.val() {
                                return Err("store or done late".into());
                            }
                        }
                    }
                }
                if accepted < 800 || rejected < 800 {
                    return Err(format!("{accepted} accepted, {rejected} rejected"));
                }
                Ok(())
            },
        );
    }
}
