//! Parsed identifiers: content digests, container ids and image references.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// A `sha256:<64 lowercase hex>` content digest.
///
/// Invariant: the hex part is exactly 64 lowercase hex characters, so it is safe to use as a
/// file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Digest(String);

impl Digest {
    /// Digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    pub(crate) fn from_hasher(h: Sha256) -> Self {
        Self(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The hex part, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.0["sha256:".len()..]
    }

    /// The full `sha256:...` form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 hex characters, as docker prints image ids.
    pub fn short(&self) -> &str {
        &self.hex()[..12]
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let hex = s
            .strip_prefix("sha256:")
            .ok_or_else(|| Error::InvalidDigest(s.to_owned()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::InvalidDigest(s.to_owned()));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Digest {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<Digest> for String {
    fn from(d: Digest) -> Self {
        d.0
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container identifier, safe to use as a directory name and as a runtime container id.
///
/// Invariant: 1–64 characters of `[A-Za-z0-9_.-]`, not starting with `.` or `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// A fresh random 64-hex-character id, as docker makes them.
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(hex::encode(bytes))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ContainerId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && !s.starts_with('.')
            && !s.starts_with('-')
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::InvalidContainerId(s.to_owned()))
        }
    }
}

impl TryFrom<String> for ContainerId {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ContainerId> for String {
    fn from(d: ContainerId) -> Self {
        d.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An image reference such as `busybox`, `busybox:1.36`, `registry:5000/team/app:v1` or
/// `app@sha256:...`. A reference without tag or digest gets the tag `latest`, as in docker.
///
/// Invariant: non-empty, no whitespace or control characters, repository part lowercase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl ImageRef {
    /// The normalized reference string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ImageRef {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let bad = || Error::InvalidReference(input.to_owned());
        if input.is_empty() || input.len() > 512 || input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let s = familiar(input);
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => {
                d.parse::<Digest>().map_err(|_| bad())?;
                (n, Some(d))
            }
            None => (s, None),
        };
        // A tag is a ':' after the last '/'.
        let last = name.rsplit('/').next().unwrap_or(name);
        let (repo, tag) = match last.rsplit_once(':') {
            Some((_, t)) => (&name[..name.len() - t.len() - 1], Some(t)),
            None => (name, None),
        };
        let repo_ok = !repo.is_empty()
            && !repo.starts_with('/')
            && !repo.ends_with('/')
            && !repo.contains("//")
            && repo
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
        let tag_ok = tag.is_none_or(|t| {
            !t.is_empty() && t.len() <= 128 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        });
        if !repo_ok || !tag_ok {
            return Err(bad());
        }
        let normalized = match (tag, digest) {
            (None, None) => format!("{repo}:latest"),
            _ => s.to_owned(),
        };
        Ok(Self(normalized))
    }
}

/// Docker Hub names in the short form users type and images are loaded under
/// (`docker.io/library/x` → `x`, `docker.io/u/x` → `u/x`), as docker's familiar names: the
/// docker CLI sends some names fully qualified (`docker tag`), others not.
fn familiar(reference: &str) -> &str {
    match reference.strip_prefix("docker.io/").or_else(|| reference.strip_prefix("index.docker.io/")) {
        Some(rest) => rest.strip_prefix("library/").unwrap_or(rest),
        None => reference,
    }
}

impl TryFrom<String> for ImageRef {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<ImageRef> for String {
    fn from(d: ImageRef) -> Self {
        d.0
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_take_their_short_form() {
        let short = |r: &str| r.parse::<ImageRef>().unwrap().as_str().to_owned();
        assert_eq!(short("docker.io/library/busybox:v2"), "busybox:v2");
        assert_eq!(short("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(short("index.docker.io/me/app:1"), "me/app:1");
        assert_eq!(short("127.0.0.1:5000/app:v2"), "127.0.0.1:5000/app:v2");
        assert_eq!(short("busybox"), "busybox:latest");
    }

    #[test]
    fn digest_parses_only_sha256_hex() {
        let d = Digest::of(b"");
        assert_eq!(d.as_str().parse::<Digest>().unwrap(), d);
        assert!("sha256:../../etc".parse::<Digest>().is_err());
        assert!("md5:abc".parse::<Digest>().is_err());
        assert!(format!("sha256:{}", "A".repeat(64)).parse::<Digest>().is_err());
    }

    #[test]
    fn container_id_rejects_traversal() {
        assert!("../x".parse::<ContainerId>().is_err());
        assert!("..".parse::<ContainerId>().is_err());
        assert!("a/b".parse::<ContainerId>().is_err());
        assert!("web-1.task_2".parse::<ContainerId>().is_ok());
        assert_eq!(ContainerId::random().as_str().len(), 64);
    }

    #[test]
    fn image_ref_normalizes_latest() {
        assert_eq!("busybox".parse::<ImageRef>().unwrap().as_str(), "busybox:latest");
        assert_eq!("localhost:5000/a/b".parse::<ImageRef>().unwrap().as_str(), "localhost:5000/a/b:latest");
        assert_eq!("a/b:v1".parse::<ImageRef>().unwrap().as_str(), "a/b:v1");
        assert!("Busybox".parse::<ImageRef>().is_err());
        assert!("a b".parse::<ImageRef>().is_err());
    }
}
