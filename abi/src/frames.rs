//! Frames on the network port: what one send puts on the wire and what a receive accepts.
//!
//! A frame is a sequence of 32-bit words on the `tx_*`/`rx_*` streams, `last` on its final
//! word: a two-word header, then the payload, little-endian, four bytes a word, the unused
//! bytes of the final word zero. `docs/frames.md` renders this.

use crate::queues::MAX_MESSAGE_LEN;

/// Header word 0 bits 31:16.
pub const FRAME_MAGIC: u32 = 0x5357;
/// Header word 0 bits 7:0: destination VI.
pub const FRAME_DEST_SHIFT: u32 = 0;
/// Header word 0 bits 15:8: source VI.
pub const FRAME_SRC_SHIFT: u32 = 8;
/// Header word 0 bits 31:16: [`FRAME_MAGIC`].
pub const FRAME_MAGIC_SHIFT: u32 = 16;
/// Words of the header (word 1 is the payload length in bytes).
pub const FRAME_HEADER_WORDS: usize = 2;

/// A frame's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// VI the payload is for.
    pub dest: u8,
    /// VI that sent it.
    pub src: u8,
    /// Payload bytes (1 ..= `MAX_MESSAGE_LEN`).
    pub length: u32,
}

impl FrameHeader {
    /// The header's two words.
    pub fn to_words(&self) -> [u32; FRAME_HEADER_WORDS] {
        [
            FRAME_MAGIC << FRAME_MAGIC_SHIFT
                | u32::from(self.src) << FRAME_SRC_SHIFT
                | u32::from(self.dest) << FRAME_DEST_SHIFT,
            self.length,
        ]
    }

    /// Decodes a header; `None` when the magic or the length is wrong.
    pub fn from_words(w: [u32; FRAME_HEADER_WORDS]) -> Option<FrameHeader> {
        let ok = w[0] >> FRAME_MAGIC_SHIFT == FRAME_MAGIC
            && w[1] != 0
            && u64::from(w[1]) <= MAX_MESSAGE_LEN;
        ok.then(|| FrameHeader {
            dest: (w[0] >> FRAME_DEST_SHIFT) as u8,
            src: (w[0] >> FRAME_SRC_SHIFT) as u8,
            length: w[1],
        })
    }
}

/// Payload words of a frame of `length` bytes.
pub const fn payload_words(length: u32) -> usize {
    length.div_ceil(4) as usize
}

/// The words of a whole frame carrying `payload`.
pub fn frame_words(dest: u8, src: u8, payload: &[u8]) -> Vec<u32> {
    let h = FrameHeader {
        dest,
        src,
        length: payload.len() as u32,
    };
    let mut w = h.to_words().to_vec();
    for chunk in payload.chunks(4) {
        let mut b = [0u8; 4];
        b[..chunk.len()].copy_from_slice(chunk);
        w.push(u32::from_le_bytes(b));
    }
    w
}

/// The payload bytes of a frame's words, if the frame is well formed.
pub fn parse_frame(words: &[u32]) -> Option<(FrameHeader, Vec<u8>)> {
    let h = FrameHeader::from_words([*words.first()?, *words.get(1)?])?;
    let body = &words[FRAME_HEADER_WORDS..];
    if body.len() != payload_words(h.length) {
        return None;
    }
    let mut bytes: Vec<u8> = body.iter().flat_map(|w| w.to_le_bytes()).collect();
    bytes.truncate(h.length as usize);
    Some((h, bytes))
}

/// `docs/frames.md`, rendered from the constants above.
pub fn markdown() -> String {
    format!(
        "# Frames\n\n\
         Generated from `abi::frames` by `make docs`; do not edit by hand.\n\n\
         The network port carries frames as 32-bit words on a valid/ready stream (`tx_*` out of \
         the device, `rx_*` into it), `last` set on a frame's final word. One send descriptor \
         becomes one frame; one frame fills one receive descriptor of its destination VI.\n\n\
         | word | bits | field | meaning |\n|---|---|---|---|\n\
         | 0 | 31:16 | `magic` | `{FRAME_MAGIC:#06x}` (\"SW\"); other values make the frame malformed |\n\
         | 0 | 15:8 | `src` | VI that sent the frame |\n\
         | 0 | 7:0 | `dest` | VI the frame is for |\n\
         | 1 | 31:0 | `length` | payload bytes, 1 to {MAX_MESSAGE_LEN} |\n\
         | 2 … | 31:0 | payload | `ceil(length / 4)` words, byte 0 in bits 7:0; unused bytes of the final word are zero |\n\n\
         ## What the receiver does\n\n\
         * A frame whose header is malformed (magic, length 0 or above the limit), or whose \
         `dest` is not a VI of the device, is dropped whole and counted in `RX_BAD_FRAMES`.\n\
         * A frame for a VI that is disabled or locked, that has no receive descriptor posted, \
         or whose completion queue is full is dropped whole and counted in the VI's \
         `RX_DROPS`; the sender's completion is not affected (the network is unreliable, as \
         an Ethernet port is).\n\
         * Otherwise the frame consumes the VI's next receive descriptor and always produces \
         one completion on the VI's CQ: `ok` with the byte count, or the status of what went \
         wrong (`bad_opcode`, `bad_length`, `misaligned`, `buffer_too_small`, a translation \
         status, or `bad_frame` when `last` does not come exactly after `ceil(length / 4)` \
         payload words — the bytes that did arrive may already be in the buffer).\n\
         * In loopback mode (`DEVICE_CTRL.loopback`) the device's TX stream feeds its own RX \
         and the external ports are idle.\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_malformed() {
        let w = frame_words(2, 1, b"hello");
        assert_eq!(w.len(), 4);
        let (h, p) = parse_frame(&w).expect("well formed");
        assert_eq!(
            (h.dest, h.src, h.length, p.as_slice()),
            (2, 1, 5, &b"hello"[..])
        );
        assert!(parse_frame(&w[..3]).is_none());
        let mut bad = w.clone();
        bad[0] ^= 1 << 20;
        assert!(parse_frame(&bad).is_none());
    }

    #[test]
    fn docs_frames_md_is_generated_from_this_module() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/frames.md");
        let text = markdown();
        if std::env::var_os("SKIPWALK_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).expect("write docs/frames.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(on_disk == text, "docs/frames.md is stale: run `make docs`");
    }
}
