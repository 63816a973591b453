//! Content digests (`sha256:<hex>`, `sha512:<hex>`), parsed once and trusted afterwards.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::Error;

/// A supported digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DigestAlgorithm {
    /// SHA-256 (64 hex characters).
    Sha256,
    /// SHA-512 (128 hex characters).
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's name as it appears in digests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    fn hex_len(self) -> usize {
        match self {
            Self::Sha256 => 64,
            Self::Sha512 => 128,
        }
    }

    /// A fresh hasher for this algorithm.
    pub fn hasher(self) -> DigestHasher {
        match self {
            Self::Sha256 => DigestHasher::Sha256(Sha256::new()),
            Self::Sha512 => DigestHasher::Sha512(Sha512::new()),
        }
    }
}

/// A verified-well-formed content digest.
///
/// Invariant: `hex` is lowercase hex of exactly the algorithm's length, so it is safe to use as
/// a path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    hex: String,
}

impl Digest {
    /// The digest algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex encoding.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// SHA-256 of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        Self { algorithm: DigestAlgorithm::Sha256, hex: hex::encode(Sha256::digest(data)) }
    }

    /// Digest of `data` with `algorithm`.
    pub fn of(algorithm: DigestAlgorithm, data: &[u8]) -> Self {
        let mut h = algorithm.hasher();
        h.update(data);
        h.finish()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::DigestInvalid { value: s.chars().take(200).collect(), reason };
        let (alg, hex) = s.split_once(':').ok_or_else(|| invalid("missing ':'"))?;
        let algorithm = match alg {
            "sha256" => DigestAlgorithm::Sha256,
            "sha512" => DigestAlgorithm::Sha512,
            _ => return Err(invalid("unsupported algorithm (sha256 and sha512 are supported)")),
        };
        if hex.len() != algorithm.hex_len() {
            return Err(invalid("wrong length for the algorithm"));
        }
        if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(invalid("encoded part must be lowercase hex"));
        }
        Ok(Self { algorithm, hex: hex.to_owned() })
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Incremental hasher producing a [`Digest`].
#[derive(Clone)]
pub enum DigestHasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

impl DigestHasher {
    /// The algorithm this hasher computes.
    pub fn algorithm(&self) -> DigestAlgorithm {
        match self {
            Self::Sha256(_) => DigestAlgorithm::Sha256,
            Self::Sha512(_) => DigestAlgorithm::Sha512,
        }
    }

    /// Feed bytes.
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    /// Finish and return the digest.
    pub fn finish(self) -> Digest {
        match self {
            Self::Sha256(h) => {
                Digest { algorithm: DigestAlgorithm::Sha256, hex: hex::encode(h.finalize()) }
            }
            Self::Sha512(h) => {
                Digest { algorithm: DigestAlgorithm::Sha512, hex: hex::encode(h.finalize()) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        let d = Digest::sha256_of(b"abc");
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert!("sha256:ABC".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "a".repeat(63)).parse::<Digest>().is_err());
        assert!(format!("sha512:{}", "a".repeat(128)).parse::<Digest>().is_ok());
        assert!(format!("sha256:{}/..", "a".repeat(62)).parse::<Digest>().is_err());
    }
}
