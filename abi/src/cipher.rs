//! SPECK64/128, the block cipher that seals shortcuts.
//!
//! The cipher itself comes from the maintained `speck-cipher` crate; this module fixes how a
//! 64-bit shortcut and a 128-bit key map onto the cipher's byte blocks, and exposes the key
//! schedule and round functions word by word, because the device computes exactly those.
//!
//! Word layout (as in the SPECK paper): block = `(x, y)` with `x` the upper 32 bits of the
//! shortcut; key = `(l2, l1, l0, k0)` with `k0` the lowest 32 bits of the 128-bit key value.

use speck_cipher::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use speck_cipher::Speck64_128;

/// Rounds of SPECK64/128.
pub const ROUNDS: usize = 27;
/// Right-rotation of `x` in the round function.
pub const ALPHA: u32 = 8;
/// Left-rotation of `y` in the round function.
pub const BETA: u32 = 3;

/// A 128-bit shortcut key. Its `Debug` output never shows the value, so a key cannot leak
/// through a log line or an error message by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Key(u128);

impl Key {
    /// A key from its 128-bit value.
    pub const fn from_u128(value: u128) -> Key {
        Key(value)
    }

    /// The key's value. Call only where the key goes to the device.
    pub const fn expose(&self) -> u128 {
        self.0
    }

    /// The four 32-bit key words `[k0, l0, l1, l2]`, in the order the device's key registers
    /// take them.
    pub const fn words(&self) -> [u32; 4] {
        [
            self.0 as u32,
            (self.0 >> 32) as u32,
            (self.0 >> 64) as u32,
            (self.0 >> 96) as u32,
        ]
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// One SPECK64 encryption round on `(x, y)` with round key `k`.
pub const fn round(x: u32, y: u32, k: u32) -> (u32, u32) {
    let x = x.rotate_right(ALPHA).wrapping_add(y) ^ k;
    let y = y.rotate_left(BETA) ^ x;
    (x, y)
}

/// One SPECK64 decryption round (the inverse of [`round`]).
pub const fn inverse_round(x: u32, y: u32, k: u32) -> (u32, u32) {
    let y = (y ^ x).rotate_right(BETA);
    let x = (x ^ k).wrapping_sub(y).rotate_left(ALPHA);
    (x, y)
}

/// The 27 round keys of `key`, computed word by word the way the device's key expander does:
/// `(l, k) = round(l, k, i)`, keeping the three `l` words in a shift register.
pub fn round_keys(key: &Key) -> [u32; ROUNDS] {
    let [k0, l0, l1, l2] = key.words();
    let mut ks = [0u32; ROUNDS];
    let mut k = k0;
    let mut l = [l0, l1, l2];
    ks[0] = k;
    for (i, slot) in ks.iter_mut().enumerate().skip(1) {
        let (new_l, new_k) = round(l[0], k, (i - 1) as u32);
        l = [l[1], l[2], new_l];
        k = new_k;
        *slot = k;
    }
    ks
}

/// SPECK64/128 under one key, as used to mint and open shortcuts.
#[derive(Clone)]
pub struct ShortcutCipher {
    inner: Speck64_128,
}

impl ShortcutCipher {
    /// Expands `key`.
    pub fn new(key: &Key) -> ShortcutCipher {
        let bytes = key.0.to_be_bytes();
        ShortcutCipher {
            inner: Speck64_128::new(&bytes.into()),
        }
    }

    /// Encrypts one 64-bit block.
    pub fn encrypt(&self, plaintext: u64) -> u64 {
        let mut block = plaintext.to_be_bytes().into();
        self.inner.encrypt_block(&mut block);
        u64::from_be_bytes(block.into())
    }

    /// Decrypts one 64-bit block.
    pub fn decrypt(&self, ciphertext: u64) -> u64 {
        let mut block = ciphertext.to_be_bytes().into();
        self.inner.decrypt_block(&mut block);
        u64::from_be_bytes(block.into())
    }
}

impl std::fmt::Debug for ShortcutCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShortcutCipher(<redacted>)")
    }
}

/// Decrypts with explicit round keys and [`inverse_round`]: the device's data path.
pub fn decrypt_with_round_keys(round_keys: &[u32; ROUNDS], ciphertext: u64) -> u64 {
    let (mut x, mut y) = ((ciphertext >> 32) as u32, ciphertext as u32);
    for &k in round_keys.iter().rev() {
        (x, y) = inverse_round(x, y, k);
    }
    (u64::from(x) << 32) | u64::from(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SPECK64/128 test vector of the SPECK paper (Beaulieu et al., 2013, appendix C):
    /// key 1b1a1918 13121110 0b0a0908 03020100, plaintext 3b726574 7475432d,
    /// ciphertext 8c6fa548 454e028b.
    const PAPER_KEY: u128 = 0x1b1a1918_13121110_0b0a0908_03020100;
    const PAPER_PT: u64 = 0x3b726574_7475432d;
    const PAPER_CT: u64 = 0x8c6fa548_454e028b;

    #[test]
    fn published_test_vector() {
        let c = ShortcutCipher::new(&Key::from_u128(PAPER_KEY));
        assert_eq!(c.encrypt(PAPER_PT), PAPER_CT);
        assert_eq!(c.decrypt(PAPER_CT), PAPER_PT);
    }

    #[test]
    fn word_level_model_matches_the_crate() {
        let key = Key::from_u128(PAPER_KEY);
        let rk = round_keys(&key);
        assert_eq!(decrypt_with_round_keys(&rk, PAPER_CT), PAPER_PT);
        let c = ShortcutCipher::new(&key);
        let mut v = 0x0123_4567_89ab_cdefu64;
        for _ in 0..100 {
            assert_eq!(decrypt_with_round_keys(&rk, v), c.decrypt(v));
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
        }
    }

    #[test]
    fn rounds_invert() {
        let (x, y) = round(0xdead_beef, 0x0123_4567, 0x89ab_cdef);
        assert_eq!(inverse_round(x, y, 0x89ab_cdef), (0xdead_beef, 0x0123_4567));
    }

    #[test]
    fn key_debug_is_redacted() {
        let text = format!("{:?}", Key::from_u128(PAPER_KEY));
        assert!(!text.contains("1b1a"));
        assert!(!text.to_lowercase().contains("3020100"));
    }
}
