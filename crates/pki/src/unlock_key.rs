//! The swarm unlock key (autolock), in Docker's format.
//!
//! `SWMKEY-1-` followed by the 32 key bytes in standard base64 *without* padding (43
//! characters), as swarmkit's `encryption.HumanReadableKey` writes it (`RawStdEncoding`) and
//! `docker swarm unlock-key` prints it. Parsing follows `ParseHumanReadableKey`: the prefix, then
//! unpadded standard base64 (line breaks ignored, as Go's decoder does), and — since the key
//! seals the store — exactly 32 bytes. Every refusal says only `invalid key string` (swarmkit's
//! text); the input is never echoed.
//!
//! Encoding, decoding and comparison run in constant time with respect to the key bytes.

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, RngCore};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::{Error, Result};

const PREFIX: &str = "SWMKEY-1-";
/// Key size (NaCl secretbox, as swarmkit).
const KEY_LEN: usize = 32;
/// Unpadded base64 length of [`KEY_LEN`] bytes.
const ENCODED_LEN: usize = (KEY_LEN * 8).div_ceil(6);

/// The key that unlocks a locked swarm manager (the KEK of its cluster store). Zeroized on drop;
/// `Debug` never shows it.
#[derive(Clone)]
pub struct UnlockKey(Zeroizing<[u8; KEY_LEN]>);

impl fmt::Debug for UnlockKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockKey(<redacted>)")
    }
}

impl UnlockKey {
    /// A fresh random key.
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// A key from its raw bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut bytes = bytes;
        let key = Self(Zeroizing::new(bytes));
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// The key in Docker's form (`SWMKEY-1-…`), to show the operator once.
    pub fn expose(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity(PREFIX.len() + ENCODED_LEN));
        text.push_str(PREFIX);
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for &byte in self.0.iter() {
            acc = ((acc << 8) | u32::from(byte)) & 0x3fff;
            bits += 8;
            while bits >= 6 {
                bits -= 6;
                text.push(char::from(encode6(((acc >> bits) & 0x3f) as u8)));
            }
        }
        if bits > 0 {
            text.push(char::from(encode6(((acc << (6 - bits)) & 0x3f) as u8)));
        }
        text
    }

    /// The raw key.
    pub fn key_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Constant-time comparison.
    pub fn matches(&self, other: &UnlockKey) -> bool {
        self.0.ct_eq(other.0.as_ref()).into()
    }
}

impl FromStr for UnlockKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let body = text.strip_prefix(PREFIX).ok_or(Error::InvalidUnlockKey)?;
        // Go's base64 decoder skips line breaks anywhere in its input.
        let body: Zeroizing<Vec<u8>> = Zeroizing::new(body.bytes().filter(|&b| b != b'\r' && b != b'\n').collect());
        if body.len() != ENCODED_LEN {
            return Err(Error::InvalidUnlockKey);
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut invalid: i16 = 0;
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut at = 0;
        for &c in body.iter() {
            let value = decode6(c);
            invalid |= value;
            acc = ((acc << 6) | (value as u32 & 0x3f)) & 0x3fff;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                if let Some(slot) = key.get_mut(at) {
                    *slot = (acc >> bits) as u8;
                }
                at += 1;
            }
        }
        // The 2 bits left over are ignored, as Go's (non-strict) decoder does.
        if invalid < 0 || at != KEY_LEN {
            return Err(Error::InvalidUnlockKey);
        }
        Ok(Self(key))
    }
}

/// One base64 digit (standard alphabet) for a 6-bit value, without branches or table lookups.
fn encode6(value: u8) -> u8 {
    let v = i16::from(value);
    let mut diff = i16::from(b'A');
    diff += ((25 - v) >> 8) & 6; // 26..: 'a' - 26
    diff -= ((51 - v) >> 8) & 75; // 52..: '0' - 52
    diff -= ((61 - v) >> 8) & 15; // 62: '+' - 62
    diff += ((62 - v) >> 8) & 3; // 63: '/' - 63
    (v + diff) as u8
}

/// The 6-bit value of a standard base64 digit, or -1, without branches or table lookups.
fn decode6(c: u8) -> i16 {
    let c = i16::from(c);
    let mut value: i16 = -1;
    value += (((0x40 - c) & (c - 0x5b)) >> 8) & (c - 64); // 'A'..='Z'
    value += (((0x60 - c) & (c - 0x7b)) >> 8) & (c - 70); // 'a'..='z'
    value += (((0x2f - c) & (c - 0x3a)) >> 8) & (c + 5); // '0'..='9'
    value += (((0x2a - c) & (c - 0x2c)) >> 8) & 63; // '+'
    value += (((0x2e - c) & (c - 0x30)) >> 8) & 64; // '/'
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ascending() -> [u8; 32] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn docker_form_matches_swarmkit() {
        // base64.RawStdEncoding of the bytes, as swarmkit's HumanReadableKey.
        let key = UnlockKey::from_bytes(ascending());
        assert_eq!(key.expose().as_str(), "SWMKEY-1-AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
        let high = UnlockKey::from_bytes(std::array::from_fn(|i| 255 - i as u8));
        assert_eq!(high.expose().as_str(), "SWMKEY-1-//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA");
        let parsed: UnlockKey = "SWMKEY-1-//79/Pv6+fj39vX08/Lx8O/u7ezr6uno5+bl5OPi4eA".parse().unwrap();
        assert!(parsed.matches(&high));
    }

    #[test]
    fn every_digit_decodes_to_what_it_encodes() {
        for value in 0..64u8 {
            assert_eq!(decode6(encode6(value)), i16::from(value));
        }
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for c in 0..=255u8 {
            let expected = alphabet.iter().position(|&a| a == c).map_or(-1, |p| p as i16);
            assert_eq!(decode6(c), expected, "{c}");
        }
    }

    #[test]
    fn round_trip() {
        for _ in 0..64 {
            let key = UnlockKey::generate(&mut rand::thread_rng());
            let text = key.expose();
            assert!(text.starts_with("SWMKEY-1-") && text.len() == 9 + 43 && !text.contains('='));
            let back: UnlockKey = text.parse().unwrap();
            assert!(back.matches(&key));
            assert_eq!(back.key_bytes(), key.key_bytes());
        }
        let a = UnlockKey::generate(&mut rand::thread_rng());
        let b = UnlockKey::generate(&mut rand::thread_rng());
        assert!(!a.matches(&b));
    }

    #[test]
    fn line_breaks_are_ignored_like_go() {
        let key = UnlockKey::from_bytes(ascending());
        let broken = "SWMKEY-1-AAECAwQFBgcICQoLDA0ODxAREhMU\r\nFRYXGBkaGxwdHh8\n";
        assert!(broken.parse::<UnlockKey>().unwrap().matches(&key));
    }

    #[test]
    fn anything_else_is_refused_without_echo() {
        let good = UnlockKey::from_bytes(ascending()).expose().to_string();
        let body = good.strip_prefix("SWMKEY-1-").unwrap();
        let cases = [
            String::new(),
            body.to_owned(),                                  // no prefix
            format!("SWMKEY-2-{body}"),                      // other version
            format!("swmkey-1-{body}"),                      // prefix is case-sensitive
            format!("SWMTKN-1-{body}"),                      // a join token's prefix
            format!("{good}="),                              // padding: RawStdEncoding has none
            format!("{good}AA"),                             // too long
            good[..good.len() - 1].to_owned(),               // too short
            format!("SWMKEY-1-{}", "A".repeat(42) + "-"),   // not the standard alphabet
            format!("SWMKEY-1-{}", "A".repeat(42) + "_"),   // URL-safe alphabet
            format!("SWMKEY-1-{}", "A".repeat(21) + " " + &"A".repeat(21)),
            format!(" {good}"),
            "SWMKEY-1-".to_owned(),
        ];
        for case in &cases {
            let err = case.parse::<UnlockKey>().unwrap_err();
            assert!(matches!(err, Error::InvalidUnlockKey) && err.is_invalid_request(), "{case:?}");
            assert_eq!(err.to_string(), "invalid key string", "{case:?}");
        }
    }

    #[test]
    fn debug_redacts() {
        let key = UnlockKey::from_bytes(ascending());
        let shown = format!("{key:?}");
        assert_eq!(shown, "UnlockKey(<redacted>)");
        assert!(!shown.contains("AAECAw"));
    }
}
