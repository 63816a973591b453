//! Join tokens: `SWMTKN-1-<root CA digest, base 36, 50 chars>-<secret, base 36, 25 chars>`,
//! encoded exactly as swarmkit's `GenerateJoinToken`.
//!
//! The digest lets a joining node authenticate the manager's root CA before it trusts anything
//! the manager says; the secret authenticates the joiner to the manager and decides its role.

use std::fmt;
use std::str::FromStr;

use num_bigint::BigUint;
use rand::{CryptoRng, RngCore};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::RootDigest;

const PREFIX: &str = "SWMTKN";
const VERSION: &str = "1";
const DIGEST_LEN: usize = 50;
const SECRET_LEN: usize = 25;
const SECRET_ENTROPY_BYTES: usize = 16;

/// Why a token text was refused. The text itself is never included: it may hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinTokenError {
    /// Not of the form `SWMTKN-1-<digest>-<secret>`.
    #[error("invalid join token")]
    Malformed,
}

/// A parsed join token.
///
/// Invariant: `secret` is exactly 25 characters of `[0-9a-z]`.
#[derive(Clone)]
pub struct JoinToken {
    digest: RootDigest,
    secret: SecretString,
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinToken").field("digest", &self.digest).field("secret", &"<redacted>").finish()
    }
}

impl JoinToken {
    /// A new token for the root whose digest is `digest`, with a fresh 128-bit secret.
    pub fn generate(digest: RootDigest, rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; SECRET_ENTROPY_BYTES];
        rng.fill_bytes(&mut bytes);
        let secret = format!("{:0>width$}", BigUint::from_bytes_be(&bytes).to_str_radix(36), width = SECRET_LEN);
        bytes.fill(0);
        Self { digest, secret: SecretString::from(secret) }
    }

    /// The same secret, committed to another root (after a root rotation).
    pub fn with_digest(&self, digest: RootDigest) -> Self {
        Self { digest, secret: self.secret.clone() }
    }

    /// The root CA digest the token commits to.
    pub fn digest(&self) -> RootDigest {
        self.digest
    }

    /// Whether `other` carries the same secret and digest, compared in constant time.
    pub fn matches(&self, other: &JoinToken) -> bool {
        let same_secret = self.secret.expose_secret().as_bytes().ct_eq(other.secret.expose_secret().as_bytes());
        let same_digest = self.digest.0.ct_eq(&other.digest.0);
        (same_secret & same_digest).into()
    }

    /// The full token text. Only for showing to the operator who asked for it, or for sending
    /// over an authenticated TLS connection.
    pub fn expose(&self) -> String {
        let digest = format!("{:0>width$}", BigUint::from_bytes_be(&self.digest.0).to_str_radix(36), width = DIGEST_LEN);
        format!("{PREFIX}-{VERSION}-{digest}-{}", self.secret.expose_secret())
    }
}

impl FromStr for JoinToken {
    type Err = JoinTokenError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = text.trim().split('-').collect();
        let [prefix, version, digest, secret] = parts.as_slice() else {
            return Err(JoinTokenError::Malformed);
        };
        let base36 = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if *prefix != PREFIX || *version != VERSION || digest.len() != DIGEST_LEN || secret.len() != SECRET_LEN || !base36(digest) || !base36(secret) {
            return Err(JoinTokenError::Malformed);
        }
        let value = BigUint::parse_bytes(digest.as_bytes(), 36).ok_or(JoinTokenError::Malformed)?;
        let bytes = value.to_bytes_be();
        if bytes.len() > 32 {
            return Err(JoinTokenError::Malformed);
        }
        let mut out = [0u8; 32];
        out[32 - bytes.len()..].copy_from_slice(&bytes);
        Ok(Self { digest: RootDigest(out), secret: SecretString::from(secret.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> RootDigest {
        RootDigest::of_pem("-----BEGIN CERTIFICATE-----\n")
    }

    #[test]
    fn token_text_has_swarmkit_layout_and_round_trips() {
        let token = JoinToken::generate(digest(), &mut rand::thread_rng());
        let text = token.expose();
        let parts: Vec<&str> = text.split('-').collect();
        assert_eq!(parts[0], "SWMTKN");
        assert_eq!(parts[1], "1");
        assert_eq!(parts[2].len(), 50);
        assert_eq!(parts[3].len(), 25);
        let parsed: JoinToken = text.parse().unwrap();
        assert!(parsed.matches(&token));
        assert_eq!(parsed.digest(), digest());
    }

    #[test]
    fn a_small_digest_is_zero_padded_and_parses_back() {
        let zero = RootDigest([0; 32]);
        let token = JoinToken::generate(zero, &mut rand::thread_rng());
        assert!(token.expose().starts_with(&format!("SWMTKN-1-{}-", "0".repeat(50))));
        assert_eq!(token.expose().parse::<JoinToken>().unwrap().digest(), zero);
    }

    #[test]
    fn different_secrets_or_roots_do_not_match() {
        let a = JoinToken::generate(digest(), &mut rand::thread_rng());
        let b = JoinToken::generate(digest(), &mut rand::thread_rng());
        assert!(!a.matches(&b));
        assert!(!a.matches(&a.with_digest(RootDigest([7; 32]))));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = JoinToken::generate(digest(), &mut rand::thread_rng()).expose();
        let cases = [
            String::new(),
            "SWMTKN-1-abc".to_owned(),
            good.replacen("SWMTKN", "SWMTKX", 1),
            good.replacen("-1-", "-2-", 1),
            format!("{good}0"),
            good.to_uppercase(),
            good.replace('-', "_"),
            // 50 base-36 digits can exceed 256 bits: "z" * 50 does.
            format!("SWMTKN-1-{}-{}", "z".repeat(50), "a".repeat(25)),
        ];
        for case in cases {
            assert_eq!(case.parse::<JoinToken>().unwrap_err(), JoinTokenError::Malformed, "{case}");
        }
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let token = JoinToken::generate(digest(), &mut rand::thread_rng());
        let secret = token.expose().rsplit('-').next().unwrap().to_owned();
        assert!(!format!("{token:?}").contains(&secret));
    }
}
