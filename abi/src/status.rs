//! Status codes: the one enum the device reports and the host decodes.
//!
//! Every failed check has its own code, so an application (or a test) can tell a forged shortcut
//! from a stale one, a missing mapping from a read-only one, and so on. The translation core
//! reports the first failing check in the order of [`Status::CHECK_ORDER`].

/// Bits of a status code on the device's ports and in completions.
pub const STATUS_BITS: u32 = 5;

macro_rules! statuses {
    ($( $(#[doc = $doc:literal])* $name:ident = $code:literal, $text:literal, $fault:literal; )*) => {
        /// Result of a translation (and, later, of a whole descriptor).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Status {
            $( $(#[doc = $doc])* $name = $code, )*
        }

        impl Status {
            /// Every status, in code order.
            pub const ALL: &'static [Status] = &[ $( Status::$name, )* ];

            /// Decodes a status code; `None` for codes the contract does not define.
            pub const fn from_code(code: u8) -> Option<Status> {
                match code {
                    $( $code => Some(Status::$name), )*
                    _ => None,
                }
            }

            /// The status's name as written in the documentation (`snake_case`).
            pub fn name(self) -> &'static str {
                match self {
                    $( Status::$name => $text, )*
                }
            }

            /// One-line meaning of the status, from its documentation.
            pub fn meaning(self) -> &'static str {
                match self {
                    $( Status::$name => concat!($($doc),*).trim_ascii(), )*
                }
            }

            /// Whether this status is a shortcut-check failure, which counts against the VI's
            /// fault budget (the brute-force defence).
            pub const fn is_fault(self) -> bool {
                match self {
                    $( Status::$name => $fault, )*
                }
            }
        }
    };
}

statuses! {
    /// The translation succeeded.
    Ok = 0, "ok", false;
    /// The VI is not enabled.
    ViDisabled = 1, "vi_disabled", false;
    /// The VI has locked itself after too many shortcut faults.
    ViLocked = 2, "vi_locked", false;
    /// The length is zero or too large (a translation spans at most one leaf table; a
    /// descriptor carries at most `MAX_MESSAGE_LEN` bytes).
    BadLength = 3, "bad_length", false;
    /// The VI's protection domain is not valid.
    PdInvalid = 4, "pd_invalid", false;
    /// The protection table does not allow this operation (device read or write) for the PD.
    OpDenied = 5, "op_denied", false;
    /// The address range is outside the translatable range (VA or, in physical mode, DA).
    AddrRange = 6, "addr_range", false;
    /// The shortcut names a reserved table level.
    ShortcutLevel = 7, "shortcut_level", true;
    /// The shortcut's VA-tag padding bits are not zero.
    ShortcutPadding = 8, "shortcut_padding", true;
    /// The shortcut's VA tag does not match the descriptor's virtual address.
    ShortcutVaTag = 9, "shortcut_va_tag", true;
    /// The shortcut's PD generation is stale (revoked).
    ShortcutGeneration = 10, "shortcut_generation", true;
    /// The shortcut's table lies outside the PD's table window.
    ShortcutWindow = 11, "shortcut_window", true;
    /// The transfer runs past the span of the table the shortcut names.
    CrossesTable = 12, "crosses_table", false;
    /// A table entry on the walk is not present.
    NotPresent = 13, "not_present", false;
    /// A table entry points to a next-level table outside the PD's table window.
    WalkWindow = 14, "walk_window", false;
    /// The leaf entry is not pinned by the registrar.
    NotPinned = 15, "not_pinned", false;
    /// The device would write to a page the leaf entry marks read-only.
    ReadOnly = 16, "read_only", false;
    /// The leaf entry's frame lies beyond the device address width.
    FrameRange = 17, "frame_range", false;
    /// A DMA read (a table entry or payload) returned an error.
    DmaError = 18, "dma_error", false;
    /// The VI's translation mode is not defined.
    BadMode = 19, "bad_mode", false;
    /// The descriptor's opcode is not defined for its queue.
    BadOpcode = 20, "bad_opcode", false;
    /// The buffer address is not a multiple of `BUFFER_ALIGN` bytes.
    Misaligned = 21, "misaligned", false;
    /// A send names a destination VI the device does not have.
    BadDest = 22, "bad_dest", false;
    /// The frame is longer than the receive descriptor's buffer.
    BufferTooSmall = 23, "buffer_too_small", false;
    /// The frame ended before or after the length its header announced.
    BadFrame = 24, "bad_frame", false;
}

impl Status {
    /// The order in which the translation core applies its checks: the first failing check
    /// names the status.
    pub const CHECK_ORDER: &'static [Status] = &[
        Status::ViDisabled,
        Status::ViLocked,
        Status::BadMode,
        Status::BadLength,
        Status::PdInvalid,
        Status::OpDenied,
        Status::AddrRange,
        Status::ShortcutLevel,
        Status::ShortcutPadding,
        Status::ShortcutVaTag,
        Status::ShortcutGeneration,
        Status::ShortcutWindow,
        Status::CrossesTable,
        Status::DmaError,
        Status::NotPresent,
        Status::WalkWindow,
        Status::NotPinned,
        Status::ReadOnly,
        Status::FrameRange,
    ];

    /// Statuses that the device's queues report and the translation core never does: the
    /// descriptor checks (applied before translation, in this order; see
    /// `queues::precheck`) and the receive path's frame checks.
    pub const QUEUE_ONLY: &'static [Status] = &[
        Status::BadOpcode,
        Status::Misaligned,
        Status::BadDest,
        Status::BufferTooSmall,
        Status::BadFrame,
    ];

    /// The numeric code.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_fit_the_port() {
        for &s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
            assert!(u32::from(s.code()) < (1 << STATUS_BITS));
            assert!(!s.meaning().is_empty());
        }
        assert_eq!(Status::from_code(31), None);
        assert_eq!(Status::ShortcutVaTag.name(), "shortcut_va_tag");
    }

    #[test]
    fn check_order_names_every_failure_once() {
        let mut seen: Vec<_> = Status::CHECK_ORDER.to_vec();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), Status::CHECK_ORDER.len());
        assert_eq!(seen.len(), Status::ALL.len() - 1 - Status::QUEUE_ONLY.len());
        assert!(Status::QUEUE_ONLY.iter().all(|s| !seen.contains(s)));
        assert!(!seen.contains(&Status::Ok));
    }

    #[test]
    fn only_shortcut_checks_are_faults() {
        let faults: Vec<_> = Status::ALL.iter().filter(|s| s.is_fault()).collect();
        assert_eq!(faults.len(), 5);
        assert!(faults.iter().all(|s| s.name().starts_with("shortcut_")));
    }
}
