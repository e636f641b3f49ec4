//! Register map of the translation core: 32-bit registers at byte offsets.
//!
//! The device's MMIO decoder forwards this configuration space to the translator's config
//! port unchanged, so the offsets here are the offsets on the bus. Every register is declared
//! once, with its fields, in [`REGISTERS`]; the RTL decodes these constants and the register
//! documentation is generated from the same table.

/// Identity value in [`ID`]: ASCII "SKPW".
pub const DEVICE_ID: u32 = 0x534b_5057;
/// Contract version in [`VERSION`].
pub const ABI_VERSION: u32 = 1;

/// Device identity (read-only).
pub const ID: u16 = 0x0000;
/// Contract version (read-only).
pub const VERSION: u16 = 0x0004;
/// Faults after which a VI locks itself; 0 disables locking.
pub const FAULT_THRESHOLD: u16 = 0x0010;
/// Any write invalidates the whole translation cache.
pub const CACHE_INVALIDATE_ALL: u16 = 0x0014;
/// A write invalidates the cache entries of the PD whose index is written.
pub const CACHE_INVALIDATE_PD: u16 = 0x0018;
/// Bit 0: the translator is busy (key expansion or cache invalidation under way).
pub const TRANSLATOR_STATUS: u16 = 0x001c;

/// Device control ([`DEVICE_CTRL_LOOPBACK`]).
pub const DEVICE_CTRL: u16 = 0x0020;
/// Capabilities ([`CAPS_VIS`], [`CAPS_MAX_RING_LOG2`]), read-only.
pub const CAPS: u16 = 0x0024;
/// Width of the device's event counters (`TX_FRAMES`, `RX_FRAMES`, `RX_BAD_FRAMES`,
/// `DOORBELL_DROPS`, `RX_DROPS`): they wrap at 2^16, and the register's upper bits read 0.
pub const COUNTER_BITS: u32 = 16;
/// Frames sent on the network port (wrapping counter), read-only.
pub const TX_FRAMES: u16 = 0x0028;
/// Frames received into a receive descriptor (wrapping counter), read-only.
pub const RX_FRAMES: u16 = 0x002c;
/// Malformed frames dropped whole (wrapping counter), read-only.
pub const RX_BAD_FRAMES: u16 = 0x0030;

/// First per-PD configuration block.
pub const PD_BASE: u16 = 0x1000;
/// Bytes between per-PD blocks.
pub const PD_STRIDE: u16 = 0x10;
/// Per-PD: control word ([`PD_CTRL_VALID`], [`PD_CTRL_ALLOW_READ`], [`PD_CTRL_ALLOW_WRITE`],
/// generation in bits 6:0). Writing it invalidates the PD's cache entries.
pub const PD_CTRL: u16 = 0x0;
/// Per-PD: first frame of the table window; also the root table of full walks.
pub const PD_WINDOW_BASE: u16 = 0x4;
/// Per-PD: frames in the table window.
pub const PD_WINDOW_PAGES: u16 = 0x8;

/// First per-VI configuration block.
pub const VI_BASE: u16 = 0x2000;
/// Bytes between per-VI blocks.
pub const VI_STRIDE: u16 = 0x10;
/// Per-VI: control word (enable, mode, PD, key slot). Writing it clears faults and the lock.
pub const VI_CTRL: u16 = 0x0;
/// Per-VI: fault count (bits 7:0) and locked flag (bit 8), read-only.
pub const VI_FAULTS: u16 = 0x4;

/// First key slot.
pub const KEY_BASE: u16 = 0x3000;
/// Bytes between key slots.
pub const KEY_STRIDE: u16 = 0x10;
/// Key words 0..3 (`k0, l0, l1, l2`) at these offsets in a slot, write-only. Writing word 3
/// expands the key into the slot's round keys and invalidates the whole cache.
pub const KEY_WORD: u16 = 0x0;

/// First per-VI queue block (device VIs only).
pub const QUEUE_BASE: u16 = 0x4000;
/// Bytes between per-VI queue blocks.
pub const QUEUE_STRIDE: u16 = 0x40;
/// Per-VI queues: first frame (device address >> 12) of the send-queue ring.
pub const SQ_BASE: u16 = 0x00;
/// Per-VI queues: first frame of the receive-queue ring.
pub const RQ_BASE: u16 = 0x04;
/// Per-VI queues: first frame of the completion-queue ring.
pub const CQ_BASE: u16 = 0x08;
/// Per-VI queues: log2 of the ring sizes ([`RING_SIZES_SQ`] …). Writing it resets every
/// index of the VI's queues to 0 and disarms its event: the registrar writes it last.
pub const RING_SIZES: u16 = 0x0c;
/// Per-VI queues: send-queue head (next descriptor the device fetches), read-only.
pub const SQ_HEAD: u16 = 0x10;
/// Per-VI queues: receive-queue head, read-only.
pub const RQ_HEAD: u16 = 0x14;
/// Per-VI queues: completion-queue tail (next entry the device writes), read-only.
pub const CQ_TAIL: u16 = 0x18;
/// Per-VI queues: doorbell writes ignored (VI disabled or locked, or a value past the ring).
pub const DOORBELL_DROPS: u16 = 0x1c;
/// Per-VI queues: frames for this VI dropped (VI closed, no receive descriptor, CQ full).
pub const RX_DROPS: u16 = 0x20;

/// First doorbell page; VI `v`'s page is at `DOORBELL_BASE + v * DOORBELL_STRIDE`, so a bus
/// with pages (a PCIe BAR) can map each into exactly one application.
pub const DOORBELL_BASE: u32 = 0x10000;
/// Bytes between doorbell pages.
pub const DOORBELL_STRIDE: u32 = 0x1000;
/// Doorbell: new send-queue tail (free-running index).
pub const DB_SQ_TAIL: u32 = 0x0;
/// Doorbell: new receive-queue tail.
pub const DB_RQ_TAIL: u32 = 0x4;
/// Doorbell: completion-queue head (entries the application has consumed).
pub const DB_CQ_HEAD: u32 = 0x8;
/// Doorbell: any write arms the VI's event for its next completion.
pub const DB_CQ_ARM: u32 = 0xc;
/// Bits of an MMIO byte address.
pub const MMIO_ADDR_BITS: u32 = 20;

/// Offset of a register in VI `vi`'s queue block.
pub const fn queue_reg(vi: usize, reg: u16) -> u16 {
    QUEUE_BASE + vi as u16 * QUEUE_STRIDE + reg
}

/// MMIO address of a doorbell register of VI `vi`.
pub const fn doorbell(vi: usize, reg: u32) -> u32 {
    DOORBELL_BASE + vi as u32 * DOORBELL_STRIDE + reg
}

/// Offset of a register in PD `pd`'s block.
pub const fn pd_reg(pd: usize, reg: u16) -> u16 {
    PD_BASE + pd as u16 * PD_STRIDE + reg
}

/// Offset of a register in VI `vi`'s block.
pub const fn vi_reg(vi: usize, reg: u16) -> u16 {
    VI_BASE + vi as u16 * VI_STRIDE + reg
}

/// Offset of key word `word` (0..3) of key slot `slot`.
pub const fn key_reg(slot: usize, word: usize) -> u16 {
    KEY_BASE + slot as u16 * KEY_STRIDE + KEY_WORD + 4 * word as u16
}

/// A bit field of a register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    /// Name in documentation.
    pub name: &'static str,
    /// Lowest bit.
    pub shift: u32,
    /// Width in bits.
    pub width: u32,
    /// Meaning.
    pub doc: &'static str,
}

impl Field {
    /// Extracts the field from a register value.
    pub const fn get(&self, value: u32) -> u32 {
        (value >> self.shift) & ((1u32 << self.width) - 1)
    }

    /// Places `v` (truncated to the field width) at the field's position.
    pub const fn put(&self, v: u32) -> u32 {
        (v & ((1u32 << self.width) - 1)) << self.shift
    }
}

/// PD_CTRL: the PD's generation, stamped into every shortcut minted for it.
pub const PD_CTRL_GENERATION: Field = Field {
    name: "generation",
    shift: 0,
    width: 7,
    doc: "current generation; bumping it revokes every shortcut minted before",
};
/// PD_CTRL: the device may read this PD's buffers (sends).
pub const PD_CTRL_ALLOW_READ: Field = Field {
    name: "allow_read",
    shift: 8,
    width: 1,
    doc: "the device may read the PD's buffers (send)",
};
/// PD_CTRL: the device may write this PD's buffers (receives).
pub const PD_CTRL_ALLOW_WRITE: Field = Field {
    name: "allow_write",
    shift: 9,
    width: 1,
    doc: "the device may write the PD's buffers (receive)",
};
/// PD_CTRL: the PD is valid.
pub const PD_CTRL_VALID: Field = Field {
    name: "valid",
    shift: 31,
    width: 1,
    doc: "the PD exists; requests of an invalid PD fail with pd_invalid",
};
/// VI_CTRL: the VI is enabled.
pub const VI_CTRL_ENABLE: Field = Field {
    name: "enable",
    shift: 0,
    width: 1,
    doc: "the VI accepts requests",
};
/// VI_CTRL: translation mode (see [`crate::TranslationMode`]).
pub const VI_CTRL_MODE: Field = Field {
    name: "mode",
    shift: 1,
    width: 2,
    doc: "0 shortcut, 1 full_walk, 2 physical, 3 reserved",
};
/// VI_CTRL: protection domain.
pub const VI_CTRL_PD: Field = Field {
    name: "pd",
    shift: 4,
    width: 3,
    doc: "protection domain of the VI",
};
/// VI_CTRL: key slot whose key opens this VI's shortcuts.
pub const VI_CTRL_KEY_SLOT: Field = Field {
    name: "key_slot",
    shift: 8,
    width: 3,
    doc: "key slot that opens the VI's shortcuts",
};
/// VI_FAULTS: shortcut faults counted since the VI was configured (saturating).
pub const VI_FAULTS_COUNT: Field = Field {
    name: "count",
    shift: 0,
    width: 8,
    doc: "shortcut faults since the VI was last configured (saturates at 255)",
};
/// VI_FAULTS: the VI has locked itself.
pub const VI_FAULTS_LOCKED: Field = Field {
    name: "locked",
    shift: 8,
    width: 1,
    doc: "the fault count reached FAULT_THRESHOLD; rewrite VI_CTRL to unlock",
};

/// DEVICE_CTRL: the TX stream feeds the device's own RX.
pub const DEVICE_CTRL_LOOPBACK: Field = Field {
    name: "loopback",
    shift: 0,
    width: 1,
    doc: "internal loopback: frames sent are received by this device; external ports idle",
};
/// CAPS: VIs with queues.
pub const CAPS_VIS: Field = Field {
    name: "vis",
    shift: 0,
    width: 8,
    doc: "VIs with queues and doorbell pages",
};
/// CAPS: largest ring.
pub const CAPS_MAX_RING_LOG2: Field = Field {
    name: "max_ring_log2",
    shift: 8,
    width: 4,
    doc: "log2 of the largest ring",
};
/// RING_SIZES: log2 entries of the send queue.
pub const RING_SIZES_SQ: Field = Field {
    name: "sq_log2",
    shift: 0,
    width: 4,
    doc: "log2 of the send queue's entries (values above max_ring_log2 are clamped)",
};
/// RING_SIZES: log2 entries of the receive queue.
pub const RING_SIZES_RQ: Field = Field {
    name: "rq_log2",
    shift: 4,
    width: 4,
    doc: "log2 of the receive queue's entries (clamped likewise)",
};
/// RING_SIZES: log2 entries of the completion queue.
pub const RING_SIZES_CQ: Field = Field {
    name: "cq_log2",
    shift: 8,
    width: 4,
    doc: "log2 of the completion queue's entries (clamped likewise)",
};

/// Who may access a register, and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegAccess {
    /// Read-only.
    Read,
    /// Write-only (reads return 0).
    Write,
    /// Read and write.
    ReadWrite,
}

/// One register (or an array of registers repeated at a stride).
#[derive(Clone, Copy, Debug)]
pub struct Register {
    /// Name in documentation.
    pub name: &'static str,
    /// Byte offset of the first instance.
    pub offset: u32,
    /// Instances (1 for a single register).
    pub count: u16,
    /// Bytes between instances.
    pub stride: u16,
    /// Access.
    pub access: RegAccess,
    /// Meaning.
    pub doc: &'static str,
    /// Bit fields (empty when the whole word is one value).
    pub fields: &'static [Field],
}

/// Every register of the device: the translation core's, then the queues' and doorbells'.
pub const REGISTERS: &[Register] = &[
    Register {
        name: "ID",
        offset: (ID) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "device identity, 0x534b5057 (\"SKPW\")",
        fields: &[],
    },
    Register {
        name: "VERSION",
        offset: (VERSION) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "contract version",
        fields: &[],
    },
    Register {
        name: "FAULT_THRESHOLD",
        offset: (FAULT_THRESHOLD) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::ReadWrite,
        doc: "shortcut faults after which a VI locks itself (bits 7:0); 0 never locks",
        fields: &[],
    },
    Register {
        name: "CACHE_INVALIDATE_ALL",
        offset: (CACHE_INVALIDATE_ALL) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Write,
        doc:
            "any write empties the translation cache (a 258-cycle sweep; requests and writes wait)",
        fields: &[],
    },
    Register {
        name: "CACHE_INVALIDATE_PD",
        offset: (CACHE_INVALIDATE_PD) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Write,
        doc: "writing a PD index (bits 2:0) drops that PD's cache entries (a 258-cycle sweep)",
        fields: &[],
    },
    Register {
        name: "TRANSLATOR_STATUS",
        offset: (TRANSLATOR_STATUS) as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "bit 0: busy (key expansion or cache invalidation under way); readable while busy",
        fields: &[],
    },
    Register {
        name: "DEVICE_CTRL",
        offset: DEVICE_CTRL as u32,
        count: 1,
        stride: 0,
        access: RegAccess::ReadWrite,
        doc: "device control",
        fields: &[DEVICE_CTRL_LOOPBACK],
    },
    Register {
        name: "CAPS",
        offset: CAPS as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "what this build of the device has",
        fields: &[CAPS_VIS, CAPS_MAX_RING_LOG2],
    },
    Register {
        name: "TX_FRAMES",
        offset: TX_FRAMES as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "frames sent (16-bit, wrapping)",
        fields: &[],
    },
    Register {
        name: "RX_FRAMES",
        offset: RX_FRAMES as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "frames that consumed a receive descriptor (16-bit, wrapping)",
        fields: &[],
    },
    Register {
        name: "RX_BAD_FRAMES",
        offset: RX_BAD_FRAMES as u32,
        count: 1,
        stride: 0,
        access: RegAccess::Read,
        doc: "malformed frames or frames for no VI, dropped whole (16-bit, wrapping)",
        fields: &[],
    },
    Register {
        name: "PD_CTRL",
        offset: (PD_BASE + PD_CTRL) as u32,
        count: crate::geometry::NUM_PDS as u16,
        stride: PD_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "PD control; a write also drops the PD's cache entries",
        fields: &[
            PD_CTRL_GENERATION,
            PD_CTRL_ALLOW_READ,
            PD_CTRL_ALLOW_WRITE,
            PD_CTRL_VALID,
        ],
    },
    Register {
        name: "PD_WINDOW_BASE",
        offset: (PD_BASE + PD_WINDOW_BASE) as u32,
        count: crate::geometry::NUM_PDS as u16,
        stride: PD_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "first frame of the PD's table window (bits 27:0); the root table of full walks",
        fields: &[],
    },
    Register {
        name: "PD_WINDOW_PAGES",
        offset: (PD_BASE + PD_WINDOW_PAGES) as u32,
        count: crate::geometry::NUM_PDS as u16,
        stride: PD_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "frames in the PD's table window (bits 27:0)",
        fields: &[],
    },
    Register {
        name: "VI_CTRL",
        offset: (VI_BASE + VI_CTRL) as u32,
        count: crate::geometry::NUM_VIS as u16,
        stride: VI_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "VI control; a write also clears the VI's faults and lock. A request naming a VI \
              beyond these instances fails with vi_disabled",
        fields: &[VI_CTRL_ENABLE, VI_CTRL_MODE, VI_CTRL_PD, VI_CTRL_KEY_SLOT],
    },
    Register {
        name: "VI_FAULTS",
        offset: (VI_BASE + VI_FAULTS) as u32,
        count: crate::geometry::NUM_VIS as u16,
        stride: VI_STRIDE,
        access: RegAccess::Read,
        doc: "the VI's shortcut-fault state",
        fields: &[VI_FAULTS_COUNT, VI_FAULTS_LOCKED],
    },
    Register {
        name: "KEY_WORD",
        offset: (KEY_BASE + KEY_WORD) as u32,
        count: (crate::geometry::NUM_KEY_SLOTS * 4) as u16,
        stride: 4,
        access: RegAccess::Write,
        doc: "key slot `s` word `w` at `0x3000 + 0x10 s + 4 w` (k0, l0, l1, l2); write all four \
              words of a key, one key at a time; word 3 expands the key (54 cycles) and empties \
              the cache (258 cycles); never readable",
        fields: &[],
    },
    Register {
        name: "SQ_BASE",
        offset: (QUEUE_BASE + SQ_BASE) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "first frame (device address >> 12) of the send-queue ring (bits 27:0)",
        fields: &[],
    },
    Register {
        name: "RQ_BASE",
        offset: (QUEUE_BASE + RQ_BASE) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "first frame of the receive-queue ring (bits 27:0)",
        fields: &[],
    },
    Register {
        name: "CQ_BASE",
        offset: (QUEUE_BASE + CQ_BASE) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "first frame of the completion-queue ring (bits 27:0)",
        fields: &[],
    },
    Register {
        name: "RING_SIZES",
        offset: (QUEUE_BASE + RING_SIZES) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::ReadWrite,
        doc: "ring sizes; a write resets the VI's queue indices to 0 and disarms its event",
        fields: &[RING_SIZES_SQ, RING_SIZES_RQ, RING_SIZES_CQ],
    },
    Register {
        name: "SQ_HEAD",
        offset: (QUEUE_BASE + SQ_HEAD) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::Read,
        doc: "send-queue head: index of the next descriptor the device fetches",
        fields: &[],
    },
    Register {
        name: "RQ_HEAD",
        offset: (QUEUE_BASE + RQ_HEAD) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::Read,
        doc: "receive-queue head: index of the next receive descriptor a frame consumes",
        fields: &[],
    },
    Register {
        name: "CQ_TAIL",
        offset: (QUEUE_BASE + CQ_TAIL) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::Read,
        doc: "completion-queue tail: index of the next entry the device writes",
        fields: &[],
    },
    Register {
        name: "DOORBELL_DROPS",
        offset: (QUEUE_BASE + DOORBELL_DROPS) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::Read,
        doc: "doorbell writes ignored: VI disabled or locked, or a tail more than the ring size ahead of the head, or a CQ head past the tail (16-bit, wrapping)",
        fields: &[],
    },
    Register {
        name: "RX_DROPS",
        offset: (QUEUE_BASE + RX_DROPS) as u32,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: QUEUE_STRIDE,
        access: RegAccess::Read,
        doc: "frames for this VI dropped: VI disabled or locked, no receive descriptor, or CQ full (16-bit, wrapping)",
        fields: &[],
    },
    Register {
        name: "SQ_TAIL",
        offset: DOORBELL_BASE + DB_SQ_TAIL,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: DOORBELL_STRIDE as u16,
        access: RegAccess::ReadWrite,
        doc: "doorbell page of VI `v` at `0x10000 + 0x1000 v`: new send-queue tail (bits 11:0, free-running); reads return it",
        fields: &[],
    },
    Register {
        name: "RQ_TAIL",
        offset: DOORBELL_BASE + DB_RQ_TAIL,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: DOORBELL_STRIDE as u16,
        access: RegAccess::ReadWrite,
        doc: "doorbell page of VI `v` at `0x10000 + 0x1000 v`: new receive-queue tail (bits 11:0, free-running); reads return it",
        fields: &[],
    },
    Register {
        name: "CQ_HEAD",
        offset: DOORBELL_BASE + DB_CQ_HEAD,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: DOORBELL_STRIDE as u16,
        access: RegAccess::ReadWrite,
        doc: "doorbell page of VI `v` at `0x10000 + 0x1000 v`: completion-queue head: entries consumed (bits 11:0, free-running); reads return it",
        fields: &[],
    },
    Register {
        name: "CQ_ARM",
        offset: DOORBELL_BASE + DB_CQ_ARM,
        count: crate::geometry::DEVICE_VIS as u16,
        stride: DOORBELL_STRIDE as u16,
        access: RegAccess::ReadWrite,
        doc: "doorbell page of VI `v` at `0x10000 + 0x1000 v`: any write arms the VI's event for its next completion; reads return bit 0 armed",
        fields: &[],
    },
];

impl RegAccess {
    fn text(self) -> &'static str {
        match self {
            RegAccess::Read => "read",
            RegAccess::Write => "write",
            RegAccess::ReadWrite => "read/write",
        }
    }
}

/// `docs/registers.md`: the register map rendered from [`REGISTERS`] (the file is checked
/// against this by a test; `make docs` rewrites it).
pub fn markdown() -> String {
    let mut out = String::from(
        "# Registers\n\n\
         Generated from `abi::regs::REGISTERS` by `make docs`; do not edit by hand (a test \
         fails when this file and the code differ).\n\n\
         32-bit registers at byte offsets of the device's MMIO space (20 address bits). \
         Offsets below `0x4000` except the device's own globals (`0x20`–`0x3f`) belong to the \
         translation core; `0x4000` up are the per-VI queue blocks, and from `0x10000` one \
         4 KiB doorbell page per VI. Writes to undefined offsets are ignored; reads of \
         undefined offsets and of write-only registers return 0. Timing of the translation \
         core's registers: [translation.md](translation.md#the-two-stage-pipeline); the queue \
         structures: [queues.md](queues.md).\n\n\
         | offset | name | instances | stride | access | meaning |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in REGISTERS {
        let stride = if r.count > 1 {
            format!("`{:#x}`", r.stride)
        } else {
            "—".to_string()
        };
        out += &format!(
            "| `{:#07x}` | `{}` | {} | {} | {} | {} |\n",
            r.offset,
            r.name,
            r.count,
            stride,
            r.access.text(),
            r.doc
        );
    }
    out += "\n## Fields\n\n| register | field | bits | meaning |\n|---|---|---|---|\n";
    for r in REGISTERS {
        for f in r.fields {
            let bits = if f.width == 1 {
                format!("{}", f.shift)
            } else {
                format!("{}:{}", f.shift + f.width - 1, f.shift)
            };
            out += &format!("| `{}` | `{}` | {} | {} |\n", r.name, f.name, bits, f.doc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_do_not_overlap() {
        let mut spans: Vec<(u32, u32, &str)> = vec![];
        for r in REGISTERS {
            for i in 0..u32::from(r.count) {
                let o = r.offset + i * u32::from(r.stride);
                assert_eq!(o % 4, 0, "{} unaligned", r.name);
                spans.push((o, o + 4, r.name));
            }
        }
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].1 <= w[1].0, "{} overlaps {}", w[0].2, w[1].2);
        }
    }

    #[test]
    fn fields_fit_and_do_not_overlap() {
        for r in REGISTERS {
            let mut used = 0u64;
            for f in r.fields {
                assert!(f.shift + f.width <= 32);
                let m = ((1u64 << f.width) - 1) << f.shift;
                assert_eq!(used & m, 0, "{}.{}", r.name, f.name);
                used |= m;
            }
        }
        assert_eq!(PD_CTRL_GENERATION.width, crate::geometry::GEN_BITS);
        assert_eq!(VI_CTRL_PD.width, crate::geometry::PD_BITS);
        assert_eq!(VI_CTRL_KEY_SLOT.width, crate::geometry::KEY_SLOT_BITS);
        assert_eq!(VI_FAULTS_COUNT.width, crate::geometry::FAULT_COUNT_BITS);
    }

    #[test]
    fn docs_registers_md_is_generated_from_this_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/registers.md");
        let text = markdown();
        if std::env::var_os("SKIPWALK_WRITE_DOCS").is_some() {
            std::fs::write(&path, &text).expect("write docs/registers.md");
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == text,
            "docs/registers.md differs from abi::regs::REGISTERS: run `make docs`"
        );
        assert!(text.contains("`VI_CTRL`") && text.contains("| `PD_CTRL` | `valid` | 31 |"));
    }

    #[test]
    fn block_offsets() {
        assert_eq!(pd_reg(3, PD_WINDOW_PAGES), 0x1038);
        assert_eq!(vi_reg(7, VI_FAULTS), 0x2074);
        assert_eq!(key_reg(2, 3), 0x302c);
        assert_eq!(queue_reg(1, RX_DROPS), 0x4060);
        assert_eq!(doorbell(3, DB_CQ_ARM), 0x1300c);
        assert!(doorbell(crate::geometry::DEVICE_VIS, 0) <= 1 << MMIO_ADDR_BITS);
    }
}
