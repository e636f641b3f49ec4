//! Queues in host memory: descriptors, completions, ring geometry and doorbells.
//!
//! An application posts 32-byte descriptors into its send queue (SQ) and receive queue (RQ),
//! and writes the new tail into its doorbell page; the device writes a 16-byte completion per
//! descriptor into the completion queue (CQ). All three are rings of a power-of-two number of
//! entries, physically contiguous in device-address space at a page-aligned base the registrar
//! programs (`regs::SQ_BASE` …). Indices are free-running [`RING_INDEX_BITS`]-bit counters;
//! the slot of index `i` is `i mod entries`. Words are little-endian 32-bit values.
//!
//! A CQ entry is new when its phase bit differs from the phase the host saw on its previous
//! pass: entries written on the first pass over a zeroed ring have phase 1, the second pass 0,
//! and so on, so the host polls memory, never a register.

use crate::Status;

/// Bytes of a send or receive descriptor.
pub const DESC_BYTES: u64 = 32;
/// 32-bit words of a descriptor.
pub const DESC_WORDS: usize = 8;
/// Bytes of a completion entry.
pub const CQE_BYTES: u64 = 16;
/// 32-bit words of a completion entry.
pub const CQE_WORDS: usize = 4;
/// Width of the free-running ring indices (doorbell values use these low bits).
pub const RING_INDEX_BITS: u32 = 12;
/// Largest ring: `2^MAX_RING_LOG2` entries (half the index space, so full and empty differ).
pub const MAX_RING_LOG2: u32 = RING_INDEX_BITS - 1;
/// Largest payload of one descriptor (and of one frame).
pub const MAX_MESSAGE_LEN: u64 = 64 * 1024;
/// Payload buffers start at a multiple of this many bytes (the device moves 32-bit words).
pub const BUFFER_ALIGN: u64 = 4;
/// Largest number of pages one descriptor's buffer can touch.
pub const MAX_MESSAGE_PAGES: u64 = MAX_MESSAGE_LEN / crate::PAGE_SIZE + 1;

/// What a descriptor asks for (word 0, bits 7:0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Opcode {
    /// SQ: send the buffer as one frame to VI `dest`.
    Send = 1,
    /// RQ: a buffer for the next frame that arrives for this VI.
    Recv = 2,
    /// SQ: no data; completes with `ok` (a fence for the application).
    Nop = 3,
}

impl Opcode {
    /// Decodes an opcode byte.
    pub const fn from_code(code: u8) -> Option<Opcode> {
        match code {
            1 => Some(Opcode::Send),
            2 => Some(Opcode::Recv),
            3 => Some(Opcode::Nop),
            _ => None,
        }
    }
}

/// Word 0 bits 7:0: opcode.
pub const DESC_OPCODE_SHIFT: u32 = 0;
/// Word 0 bits 15:8: destination VI of a send (ignored for receives).
pub const DESC_DEST_SHIFT: u32 = 8;
/// Word index of the length.
pub const DESC_W_LENGTH: usize = 1;
/// Word index of the work-request id.
pub const DESC_W_WR_ID: usize = 2;
/// Word index of the buffer address (low word; the high word follows).
pub const DESC_W_VA: usize = 4;
/// Word index of the shortcut (low word; the high word follows).
pub const DESC_W_SHORTCUT: usize = 6;

/// A send or receive descriptor as the application writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Descriptor {
    /// Opcode byte (anything: the device rejects what it does not know).
    pub opcode: u8,
    /// Destination VI of a send.
    pub dest: u8,
    /// Bytes to send, or the size of the receive buffer.
    pub length: u32,
    /// Returned unchanged in the completion.
    pub wr_id: u32,
    /// Buffer address: a virtual address, or a device address in physical mode.
    pub va: u64,
    /// Shortcut for the buffer's table (ignored in full-walk and physical mode).
    pub shortcut: u64,
}

impl Descriptor {
    /// The eight words the device reads.
    pub fn to_words(&self) -> [u32; DESC_WORDS] {
        let mut w = [0u32; DESC_WORDS];
        w[0] =
            u32::from(self.opcode) << DESC_OPCODE_SHIFT | u32::from(self.dest) << DESC_DEST_SHIFT;
        w[DESC_W_LENGTH] = self.length;
        w[DESC_W_WR_ID] = self.wr_id;
        w[DESC_W_VA] = self.va as u32;
        w[DESC_W_VA + 1] = (self.va >> 32) as u32;
        w[DESC_W_SHORTCUT] = self.shortcut as u32;
        w[DESC_W_SHORTCUT + 1] = (self.shortcut >> 32) as u32;
        w
    }

    /// The descriptor's bytes in memory.
    pub fn to_bytes(&self) -> [u8; DESC_BYTES as usize] {
        words_to_bytes(&self.to_words())
    }

    /// Decodes the eight words (reserved bits are ignored).
    pub fn from_words(w: &[u32; DESC_WORDS]) -> Descriptor {
        Descriptor {
            opcode: (w[0] >> DESC_OPCODE_SHIFT) as u8,
            dest: (w[0] >> DESC_DEST_SHIFT) as u8,
            length: w[DESC_W_LENGTH],
            wr_id: w[DESC_W_WR_ID],
            va: u64::from(w[DESC_W_VA]) | u64::from(w[DESC_W_VA + 1]) << 32,
            shortcut: u64::from(w[DESC_W_SHORTCUT]) | u64::from(w[DESC_W_SHORTCUT + 1]) << 32,
        }
    }
}

/// Which queue a completion reports on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// A send-queue descriptor.
    Send,
    /// A receive-queue descriptor (a frame arrived, or failed to).
    Recv,
}

/// Word 2 bits 11:0: index of the descriptor in its queue.
pub const CQE_INDEX_SHIFT: u32 = 0;
/// Word 2 bits 23:16: the peer VI (send: destination; receive: source).
pub const CQE_PEER_SHIFT: u32 = 16;
/// Word 2 bits 31:24: the descriptor's opcode byte.
pub const CQE_OPCODE_SHIFT: u32 = 24;
/// Word 3 bits 7:0: status code.
pub const CQE_STATUS_SHIFT: u32 = 0;
/// Word 3 bit 8: the entry reports a receive-queue descriptor.
pub const CQE_RECV_BIT: u32 = 8;
/// Word 3 bit 31: phase.
pub const CQE_PHASE_BIT: u32 = 31;

/// A completion entry as the device writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The descriptor's `wr_id`.
    pub wr_id: u32,
    /// Bytes moved: the payload sent or received; 0 when the descriptor failed.
    pub bytes: u32,
    /// Index of the descriptor in its queue (low [`RING_INDEX_BITS`] bits).
    pub index: u16,
    /// Send: destination VI; receive: source VI of the frame.
    pub peer: u8,
    /// The descriptor's opcode byte (0 for a receive that failed before its descriptor was read).
    pub opcode: u8,
    /// The outcome (a raw code; [`Completion::status`] decodes it).
    pub status_code: u8,
    /// The queue the descriptor came from.
    pub queue: QueueKind,
    /// Phase bit.
    pub phase: bool,
}

impl Completion {
    /// Decodes the four words of an entry.
    pub fn from_words(w: &[u32; CQE_WORDS]) -> Completion {
        Completion {
            wr_id: w[0],
            bytes: w[1],
            index: ((w[2] >> CQE_INDEX_SHIFT) & crate::mask(RING_INDEX_BITS) as u32) as u16,
            peer: (w[2] >> CQE_PEER_SHIFT) as u8,
            opcode: (w[2] >> CQE_OPCODE_SHIFT) as u8,
            status_code: (w[3] >> CQE_STATUS_SHIFT) as u8,
            queue: if w[3] >> CQE_RECV_BIT & 1 == 1 {
                QueueKind::Recv
            } else {
                QueueKind::Send
            },
            phase: w[3] >> CQE_PHASE_BIT & 1 == 1,
        }
    }

    /// Decodes an entry from its bytes in memory.
    pub fn from_bytes(b: &[u8]) -> Completion {
        let mut w = [0u32; CQE_WORDS];
        for (i, word) in w.iter_mut().enumerate() {
            *word = u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("4 bytes"));
        }
        Completion::from_words(&w)
    }

    /// The four words of the entry.
    pub fn to_words(&self) -> [u32; CQE_WORDS] {
        [
            self.wr_id,
            self.bytes,
            u32::from(self.index) << CQE_INDEX_SHIFT
                | u32::from(self.peer) << CQE_PEER_SHIFT
                | u32::from(self.opcode) << CQE_OPCODE_SHIFT,
            u32::from(self.status_code) << CQE_STATUS_SHIFT
                | u32::from(self.queue == QueueKind::Recv) << CQE_RECV_BIT
                | u32::from(self.phase) << CQE_PHASE_BIT,
        ]
    }

    /// The status, if the code is one the contract defines.
    pub fn status(&self) -> Option<Status> {
        Status::from_code(self.status_code)
    }
}

/// The phase bit the device writes with ring index `index` of a ring of `2^log2` entries.
pub const fn phase_of(index: u32, log2: u32) -> bool {
    (index >> log2) & 1 == 0
}

/// Entries between `head` and `tail` of free-running indices.
pub const fn ring_used(tail: u32, head: u32) -> u32 {
    tail.wrapping_sub(head) & crate::mask(RING_INDEX_BITS) as u32
}

/// Bytes of `words` in memory order.
pub fn words_to_bytes<const N: usize, const B: usize>(words: &[u32; N]) -> [u8; B] {
    assert_eq!(B, 4 * N);
    let mut out = [0u8; B];
    for (i, w) in words.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Why a descriptor fails before any translation: the checks the device applies to the
/// descriptor itself, in order. `None` means it goes on to the translation core.
pub fn precheck(d: &Descriptor, queue: QueueKind, num_vis: usize) -> Option<Status> {
    let op = Opcode::from_code(d.opcode);
    let valid = match queue {
        QueueKind::Send => matches!(op, Some(Opcode::Send | Opcode::Nop)),
        QueueKind::Recv => op == Some(Opcode::Recv),
    };
    if !valid {
        return Some(Status::BadOpcode);
    }
    if op == Some(Opcode::Nop) {
        return None;
    }
    if d.length == 0 || u64::from(d.length) > MAX_MESSAGE_LEN {
        return Some(Status::BadLength);
    }
    if !d.va.is_multiple_of(BUFFER_ALIGN) {
        return Some(Status::Misaligned);
    }
    if queue == QueueKind::Send && usize::from(d.dest) >= num_vis {
        return Some(Status::BadDest);
    }
    None
}

/// `docs/queues.md`, rendered from the constants of this module.
pub fn markdown() -> String {
    let ops = [Opcode::Send, Opcode::Recv, Opcode::Nop]
        .iter()
        .map(|o| format!("`{o:?}` = {}", *o as u8))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "# Queues\n\n\
         Generated from `abi::queues` by `make docs`; do not edit by hand.\n\n\
         Each VI has a send queue (SQ), a receive queue (RQ) and a completion queue (CQ): rings \
         of `2^n` entries (n ≤ {MAX_RING_LOG2}) at page-aligned device addresses that the \
         registrar programs (`SQ_BASE`, `RQ_BASE`, `CQ_BASE`, `RING_SIZES` in \
         [registers.md](registers.md)). Indices are free-running {RING_INDEX_BITS}-bit counters; \
         index `i` lives in slot `i mod 2^n`. Words are little-endian.\n\n\
         ## Descriptors ({DESC_BYTES} bytes, SQ and RQ)\n\n\
         | word | bits | field | meaning |\n|---|---|---|---|\n\
         | 0 | 7:0 | `opcode` | {ops}; anything else completes with `bad_opcode` |\n\
         | 0 | 15:8 | `dest` | destination VI of a send |\n\
         | 0 | 31:16 | — | reserved, ignored |\n\
         | {DESC_W_LENGTH} | 31:0 | `length` | bytes to send (1 to {MAX_MESSAGE_LEN}), or the receive buffer's size |\n\
         | {DESC_W_WR_ID} | 31:0 | `wr_id` | returned in the completion |\n\
         | 3 | 31:0 | — | reserved, ignored |\n\
         | {DESC_W_VA}–{} | 63:0 | `va` | buffer address, a multiple of {BUFFER_ALIGN}: virtual, or a device address in physical mode |\n\
         | {DESC_W_SHORTCUT}–{} | 63:0 | `shortcut` | the buffer's shortcut ([shortcut.md](shortcut.md)); ignored in full-walk and physical mode |\n\n\
         A buffer may span several pages but at most one leaf table in shortcut mode \
         (`crosses_table` otherwise). Before translating, the device checks, in this order: \
         the opcode (`bad_opcode`), the length (`bad_length`), the alignment (`misaligned`) \
         and, for a send, the destination (`bad_dest`); a `nop` completes at once with `ok`.\n\n\
         ## Completions ({CQE_BYTES} bytes, CQ)\n\n\
         | word | bits | field | meaning |\n|---|---|---|---|\n\
         | 0 | 31:0 | `wr_id` | the descriptor's `wr_id` |\n\
         | 1 | 31:0 | `bytes` | bytes sent or received; 0 when the descriptor failed |\n\
         | 2 | {}:{CQE_INDEX_SHIFT} | `index` | the descriptor's index in its queue |\n\
         | 2 | {}:{CQE_PEER_SHIFT} | `peer` | send: destination VI; receive: the frame's source VI |\n\
         | 2 | 31:{CQE_OPCODE_SHIFT} | `opcode` | the descriptor's opcode byte |\n\
         | 3 | {}:{CQE_STATUS_SHIFT} | `status` | a status code of [translation.md](translation.md) and `abi::Status` |\n\
         | 3 | {CQE_RECV_BIT} | `recv` | the entry reports a receive descriptor |\n\
         | 3 | {CQE_PHASE_BIT} | `phase` | 1 on the first pass over the ring, 0 on the second, … |\n\n\
         The host polls memory, never a register: an entry is new when its phase is the one \
         expected for its index. Every descriptor the device fetched gets exactly one \
         completion, in queue order per queue.\n\n\
         ## Doorbells\n\n\
         Each VI has a 4 KiB doorbell page (`DOORBELL_BASE + VI × DOORBELL_STRIDE`): writing \
         `SQ_TAIL` or `RQ_TAIL` publishes descriptors up to that index; writing `CQ_HEAD` \
         returns consumed completions; writing `CQ_ARM` asks for an event at the next \
         completion. One doorbell write per batch is enough. A doorbell write is ignored, \
         and counted in `DOORBELL_DROPS`, when the VI is disabled or locked or when the value \
         is impossible (a tail more than the ring size ahead of the device's head, a CQ head \
         past the tail); nothing is fetched for it.\n\n\
         ## Flow control\n\n\
         The device fetches a descriptor only when its VI's CQ has room for its completion \
         (one entry is kept for a receive), so a full CQ holds back only its own VI: it is \
         back-pressure, never an overwrite. A frame for a VI without a posted receive \
         descriptor or without CQ room is dropped and counted in `RX_DROPS`.\n\n\
         ## Registrar duties\n\n\
         Register writes are posted: after changing a VI's control word, read a register \
         back before relying on it. Writing `RING_SIZES` resets the VI's queue indices; do \
         it only while the VI is disabled and quiet.\n\n\
         A disabled VI starts nothing: the fetcher passes over its send queue (a locked VI's \
         descriptors are still fetched, and fail with `vi_locked`) and a frame for it is \
         dropped. What it had begun finishes: a fetched send completes (with `vi_disabled` \
         if it had not been translated yet), a taken receive completes. So the VI is quiet \
         when `SQ_HEAD + RQ_HEAD = CQ_TAIL` (mod 2^{}, counted from the last ring reset) — \
         the registrar's test before it takes the rings and buffers out of the DMA space. \
         Enabling it again resumes fetching where it stopped.\n",
        DESC_W_VA + 1,
        DESC_W_SHORTCUT + 1,
        CQE_INDEX_SHIFT + RING_INDEX_BITS - 1,
        CQE_PEER_SHIFT + 7,
        CQE_STATUS_SHIFT + 7,
        RING_INDEX_BITS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_round_trips() {
        let d = Descriptor {
            opcode: 1,
            dest: 3,
            length: 4096,
            wr_id: 0xdead_beef,
            va: 0x7fff_1234_5678,
            shortcut: 0x0123_4567_89ab_cdef,
        };
        assert_eq!(Descriptor::from_words(&d.to_words()), d);
        assert_eq!(&d.to_bytes()[0..2], &[1, 3]);
    }

    #[test]
    fn completion_round_trips_and_phases_alternate() {
        let c = Completion {
            wr_id: 7,
            bytes: 64,
            index: 0xabc,
            peer: 2,
            opcode: 1,
            status_code: Status::ShortcutWindow.code(),
            queue: QueueKind::Recv,
            phase: true,
        };
        assert_eq!(Completion::from_words(&c.to_words()), c);
        assert_eq!(c.status(), Some(Status::ShortcutWindow));
        assert!(phase_of(0, 4) && phase_of(15, 4) && !phase_of(16, 4) && phase_of(32, 4));
        assert_eq!(ring_used(2, 0xffe), 4);
    }

    #[test]
    fn precheck_order() {
        let good = Descriptor {
            opcode: Opcode::Send as u8,
            dest: 1,
            length: 64,
            va: 0x1000,
            ..Default::default()
        };
        assert_eq!(precheck(&good, QueueKind::Send, 4), None);
        assert_eq!(precheck(&good, QueueKind::Recv, 4), Some(Status::BadOpcode));
        let d = Descriptor { length: 0, ..good };
        assert_eq!(precheck(&d, QueueKind::Send, 4), Some(Status::BadLength));
        let d = Descriptor { va: 0x1002, ..good };
        assert_eq!(precheck(&d, QueueKind::Send, 4), Some(Status::Misaligned));
        let d = Descriptor { dest: 4, ..good };
        assert_eq!(precheck(&d, QueueKind::Send, 4), Some(Status::BadDest));
        let d = Descriptor {
            opcode: 3,
            length: 0,
            ..good
        };
        assert_eq!(precheck(&d, QueueKind::Send, 4), None);
    }

    #[test]
    fn docs_queues_md_is_generated_from_this_module() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/queues.md");
        let text = markdown();
        if std::env::var_os("SKIPWALK_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).expect("write docs/queues.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(on_disk == text, "docs/queues.md is stale: run `make docs`");
    }
}
