//! The shortcut codec: the plaintext layout, minting and opening.
//!
//! A shortcut is the device address of one translation-table page, sealed with SPECK64/128
//! under a key the application never sees. The plaintext carries redundant fields that the
//! device checks after decryption, so a forged or stale shortcut is caught before any table
//! is read:
//!
//! | bits  | field        | width | check                                               |
//! |-------|--------------|-------|-----------------------------------------------------|
//! | 63:36 | table frame  | 28    | inside the PD's table window                        |
//! | 35:34 | level        | 2     | 1 (leaf), 2 or 3; 0 is reserved                     |
//! | 33:27 | generation   | 7     | equals the PD's current generation                  |
//! | 26:0  | VA tag       | 27    | VA bits above the table's span, zero-padded         |

use crate::cipher::ShortcutCipher;
use crate::geometry::{level_span_shift, mask, FRAME_BITS, GEN_BITS, VA_BITS};
use crate::status::Status;

/// Bit position of the table frame in the plaintext.
pub const TABLE_FRAME_SHIFT: u32 = 36;
/// Bit position of the level field.
pub const LEVEL_SHIFT: u32 = 34;
/// Width of the level field.
pub const LEVEL_FIELD_BITS: u32 = 2;
/// Bit position of the PD generation.
pub const GEN_SHIFT: u32 = 27;
/// Bit position of the VA tag.
pub const VA_TAG_SHIFT: u32 = 0;
/// Width of the VA tag field, padding included.
pub const VA_TAG_FIELD_BITS: u32 = 27;
/// Highest level a shortcut may name (a root-level shortcut would be a full walk).
pub const MAX_SHORTCUT_LEVEL: u8 = 3;

const _: () = assert!(FRAME_BITS + LEVEL_FIELD_BITS + GEN_BITS + VA_TAG_FIELD_BITS == 64);
const _: () = assert!(TABLE_FRAME_SHIFT == LEVEL_SHIFT + LEVEL_FIELD_BITS);
const _: () = assert!(LEVEL_SHIFT == GEN_SHIFT + GEN_BITS);
const _: () = assert!(GEN_SHIFT == VA_TAG_SHIFT + VA_TAG_FIELD_BITS);

/// Significant bits of the VA tag for a table at `level`: the VA bits above the table's span.
pub const fn va_tag_bits(level: u8) -> u32 {
    VA_BITS - level_span_shift(level)
}

/// The VA tag of `va` for a table at `level`.
pub const fn va_tag(va: u64, level: u8) -> u32 {
    ((va >> level_span_shift(level)) & mask(va_tag_bits(level))) as u32
}

/// A sealed shortcut, as the application holds it and puts in descriptors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shortcut(pub u64);

/// The decrypted fields of a shortcut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Plaintext {
    /// Frame (device address >> 12) of the table page.
    pub table_frame: u32,
    /// Table level: 1 is the leaf table.
    pub level: u8,
    /// PD generation at minting time.
    pub generation: u8,
    /// VA tag with its padding, as decrypted.
    pub va_tag: u32,
}

impl Plaintext {
    /// Packs the fields into the 64-bit plaintext (fields are truncated to their widths).
    pub fn pack(&self) -> u64 {
        ((u64::from(self.table_frame) & mask(FRAME_BITS)) << TABLE_FRAME_SHIFT)
            | ((u64::from(self.level) & mask(LEVEL_FIELD_BITS)) << LEVEL_SHIFT)
            | ((u64::from(self.generation) & mask(GEN_BITS)) << GEN_SHIFT)
            | ((u64::from(self.va_tag) & mask(VA_TAG_FIELD_BITS)) << VA_TAG_SHIFT)
    }

    /// Splits a 64-bit plaintext into its fields, without checking them.
    pub fn unpack(bits: u64) -> Plaintext {
        Plaintext {
            table_frame: ((bits >> TABLE_FRAME_SHIFT) & mask(FRAME_BITS)) as u32,
            level: ((bits >> LEVEL_SHIFT) & mask(LEVEL_FIELD_BITS)) as u8,
            generation: ((bits >> GEN_SHIFT) & mask(GEN_BITS)) as u8,
            va_tag: ((bits >> VA_TAG_SHIFT) & mask(VA_TAG_FIELD_BITS)) as u32,
        }
    }
}

/// A PD's table window: the frames its table pages may occupy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TableWindow {
    /// First frame of the window (also the PD's root table).
    pub base: u32,
    /// Number of frames in the window.
    pub pages: u32,
}

impl TableWindow {
    /// Whether `frame` lies in the window: `base <= frame < base + pages`, computed without
    /// wrap-around, and only for frames a device address can hold (a window running past the
    /// last frame simply ends there).
    pub fn contains(&self, frame: u64) -> bool {
        frame <= mask(FRAME_BITS)
            && frame >= u64::from(self.base)
            && frame < u64::from(self.base) + u64::from(self.pages)
    }
}

/// Why a shortcut was rejected; each maps to its own [`Status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShortcutError {
    /// The level field is 0 (reserved).
    #[error("shortcut names reserved table level {0}")]
    Level(u8),
    /// Padding bits above the VA tag are not zero.
    #[error("shortcut VA-tag padding is not zero")]
    Padding,
    /// The VA tag differs from the descriptor's VA.
    #[error("shortcut VA tag {found:#x} does not match the address (expected {expected:#x})")]
    VaTag {
        /// Tag found in the shortcut.
        found: u32,
        /// Tag of the descriptor's VA.
        expected: u32,
    },
    /// The generation is not the PD's current one.
    #[error("shortcut generation {found} is stale (PD generation {current})")]
    Generation {
        /// Generation found in the shortcut.
        found: u8,
        /// The PD's current generation.
        current: u8,
    },
    /// The table frame is outside the PD's table window.
    #[error("shortcut table frame {0:#x} is outside the PD's table window")]
    Window(u32),
}

impl ShortcutError {
    /// The device status for this failure.
    pub fn status(&self) -> Status {
        match self {
            ShortcutError::Level(_) => Status::ShortcutLevel,
            ShortcutError::Padding => Status::ShortcutPadding,
            ShortcutError::VaTag { .. } => Status::ShortcutVaTag,
            ShortcutError::Generation { .. } => Status::ShortcutGeneration,
            ShortcutError::Window(_) => Status::ShortcutWindow,
        }
    }
}

/// Checks decrypted fields against the descriptor's VA and the PD, in the device's order.
pub fn check(
    p: &Plaintext,
    va: u64,
    generation: u8,
    window: &TableWindow,
) -> Result<(), ShortcutError> {
    if p.level == 0 || p.level > MAX_SHORTCUT_LEVEL {
        return Err(ShortcutError::Level(p.level));
    }
    let tag_bits = va_tag_bits(p.level);
    if u64::from(p.va_tag) >> tag_bits != 0 {
        return Err(ShortcutError::Padding);
    }
    let expected = va_tag(va, p.level);
    if p.va_tag != expected {
        return Err(ShortcutError::VaTag {
            found: p.va_tag,
            expected,
        });
    }
    if p.generation != generation {
        return Err(ShortcutError::Generation {
            found: p.generation,
            current: generation,
        });
    }
    if !window.contains(u64::from(p.table_frame)) {
        return Err(ShortcutError::Window(p.table_frame));
    }
    Ok(())
}

impl Shortcut {
    /// Mints the shortcut for the table page `table_frame` at `level` that serves `va`.
    pub fn mint(
        cipher: &ShortcutCipher,
        table_frame: u32,
        level: u8,
        generation: u8,
        va: u64,
    ) -> Shortcut {
        let p = Plaintext {
            table_frame,
            level,
            generation,
            va_tag: va_tag(va, level),
        };
        Shortcut(cipher.encrypt(p.pack()))
    }

    /// Decrypts without checking.
    pub fn decrypt(&self, cipher: &ShortcutCipher) -> Plaintext {
        Plaintext::unpack(cipher.decrypt(self.0))
    }

    /// Decrypts and checks against the descriptor's VA and the PD's generation and window.
    pub fn open(
        &self,
        cipher: &ShortcutCipher,
        va: u64,
        generation: u8,
        window: &TableWindow,
    ) -> Result<Plaintext, ShortcutError> {
        let p = self.decrypt(cipher);
        check(&p, va, generation, window)?;
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::Key;

    fn cipher() -> ShortcutCipher {
        ShortcutCipher::new(&Key::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff))
    }

    const WIN: TableWindow = TableWindow {
        base: 0x100,
        pages: 64,
    };

    #[test]
    fn pack_unpack_round_trip() {
        let p = Plaintext {
            table_frame: 0xabc_def1,
            level: 2,
            generation: 0x55,
            va_tag: 0x3ff_ffff,
        };
        assert_eq!(Plaintext::unpack(p.pack()), p);
    }

    #[test]
    fn mint_then_open() {
        let c = cipher();
        let va = 0x7f12_3456_7000;
        for level in 1..=3 {
            let s = Shortcut::mint(&c, 0x120, level, 9, va);
            let p = s.open(&c, va, 9, &WIN).unwrap();
            assert_eq!((p.table_frame, p.level), (0x120, level));
        }
    }

    #[test]
    fn each_check_has_its_error() {
        let c = cipher();
        let va = 0x7f12_3456_7000u64;
        let s = Shortcut::mint(&c, 0x120, 1, 9, va);
        // Another VA in the same 2 MiB passes; one in the next 2 MiB does not.
        assert!(s.open(&c, va + 0x1000, 9, &WIN).is_ok());
        assert!(matches!(
            s.open(&c, va + (2 << 20), 9, &WIN),
            Err(ShortcutError::VaTag { .. })
        ));
        assert_eq!(
            s.open(&c, va, 10, &WIN),
            Err(ShortcutError::Generation {
                found: 9,
                current: 10
            })
        );
        let outside = Shortcut::mint(&c, 0x90, 1, 9, va);
        assert_eq!(
            outside.open(&c, va, 9, &WIN),
            Err(ShortcutError::Window(0x90))
        );
        let level0 = Shortcut(
            c.encrypt(
                Plaintext {
                    table_frame: 0x120,
                    level: 0,
                    generation: 9,
                    va_tag: va_tag(va, 1),
                }
                .pack(),
            ),
        );
        assert_eq!(level0.open(&c, va, 9, &WIN), Err(ShortcutError::Level(0)));
        let padded = Shortcut(
            c.encrypt(
                Plaintext {
                    table_frame: 0x120,
                    level: 3,
                    generation: 9,
                    va_tag: va_tag(va, 3) | 1 << 20,
                }
                .pack(),
            ),
        );
        assert_eq!(padded.open(&c, va, 9, &WIN), Err(ShortcutError::Padding));
    }

    #[test]
    fn window_bounds() {
        let w = TableWindow {
            base: 0xfff_fff0,
            pages: 0x20,
        };
        assert!(w.contains(0xfff_fff0));
        assert!(w.contains(0xfff_ffff));
        assert!(!w.contains(0x1000_000f));
        assert!(!w.contains(0x1000_0010));
        assert!(!w.contains(0x5));
        assert!(!w.contains(0xfff_ffef));
    }

    #[test]
    fn tag_widths() {
        assert_eq!(va_tag_bits(1), 26);
        assert_eq!(va_tag_bits(2), 17);
        assert_eq!(va_tag_bits(3), 8);
    }
}
