//! Content digests (`sha256:<hex>`, `sha512:<hex>`).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256, Sha512};

use crate::error::{cut, ReferenceError};

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

/// A well-formed content digest.
///
/// Invariant: `text` is `<algorithm>:<hex>` with lowercase hex of exactly the algorithm's
/// length, so the hex part is safe to use as a path component.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: DigestAlgorithm,
    text: String,
}

impl Digest {
    fn from_parts(algorithm: DigestAlgorithm, hex: &str) -> Self {
        Self { algorithm, text: format!("{}:{hex}", algorithm.as_str()) }
    }

    /// The digest algorithm.
    pub fn algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// The lowercase hex encoding, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.text[self.algorithm.as_str().len() + 1..]
    }

    /// The whole `<algorithm>:<hex>` form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first 12 hex characters, as docker prints image ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }

    /// SHA-256 of `data`.
    pub fn sha256_of(data: &[u8]) -> Self {
        Self::from_sha256(Sha256::new_with_prefix(data))
    }

    /// The digest a SHA-256 hasher has computed.
    pub fn from_sha256(hasher: Sha256) -> Self {
        Self::from_parts(DigestAlgorithm::Sha256, &hex::encode(hasher.finalize()))
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
        f.write_str(&self.text)
    }
}

impl FromStr for Digest {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError::Digest { value: cut(s, 200), reason };
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
        Ok(Self::from_parts(algorithm, hex))
    }
}

impl TryFrom<String> for Digest {
    type Error = ReferenceError;

    fn try_from(s: String) -> Result<Self, ReferenceError> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.text
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
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
            Self::Sha256(h) => Digest::from_sha256(h),
            Self::Sha512(h) => Digest::from_parts(DigestAlgorithm::Sha512, &hex::encode(h.finalize())),
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
        assert_eq!(d.as_str(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!((d.hex().len(), d.short()), (64, "ba7816bf8f01"));
        assert!("sha256:ABC".parse::<Digest>().is_err());
        assert!("md5:00".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "a".repeat(63)).parse::<Digest>().is_err());
        assert!(format!("sha512:{}", "a".repeat(128)).parse::<Digest>().is_ok());
        assert!(format!("sha256:{}/..", "a".repeat(62)).parse::<Digest>().is_err());
    }

    #[test]
    fn hashers_agree_with_one_shot_digests_and_serde_round_trips() {
        for alg in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let mut h = alg.hasher();
            h.update(b"ab");
            h.update(b"c");
            let d = h.finish();
            assert_eq!(d, Digest::of(alg, b"abc"));
            assert_eq!(d.algorithm(), alg);
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), d);
        }
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
