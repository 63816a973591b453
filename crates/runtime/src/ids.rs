//! Parsed identifiers: container ids and image names in the store. Digests and the reference
//! grammar are [`palisade_reference`]'s, shared with every other crate.

use std::fmt;
use std::str::FromStr;

use palisade_reference::{ImageReference, ReferenceError};
use serde::{Deserialize, Serialize};

pub use palisade_reference::Digest;

use crate::error::{Error, Result};

/// The image store keeps SHA-256 content only (as docker's does): `d` if it is SHA-256.
pub(crate) fn sha256_only(d: Digest) -> Result<Digest> {
    match d.algorithm() {
        palisade_reference::DigestAlgorithm::Sha256 => Ok(d),
        _ => Err(Error::InvalidDigest(format!("{d}: only sha256 content is stored"))),
    }
}

/// A digest or reference that did not parse, as this crate reports it.
impl From<ReferenceError> for Error {
    fn from(e: ReferenceError) -> Self {
        match e {
            ReferenceError::Digest { value, .. } => Self::InvalidDigest(value),
            other => Self::InvalidReference(other.to_string()),
        }
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

/// The name an image is stored under: a reference such as `busybox:latest`,
/// `registry:5000/team/app:v1` or `app@sha256:...` in docker's familiar form (Docker Hub's
/// host and `library/` left out, see [`ImageReference::familiar`]). A reference without tag or
/// digest gets the tag `latest`, as in docker; one with both is `name@digest`, as dockerd's
/// reference store keeps it (the digest decides what the name is).
///
/// Invariant: the familiar form of a valid [`ImageReference`], with a tag or a digest but not
/// both.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ImageRef(String);

impl ImageRef {
    /// The normalized reference string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name `image` is stored under (`latest` when it has neither tag nor digest, no tag
    /// when it has a digest).
    pub fn from_reference(image: &ImageReference) -> Result<Self> {
        let image = match (image.tag(), image.digest()) {
            (None, None) => image.tagged("latest".parse()?),
            (Some(_), Some(digest)) => image.pinned(digest.clone()),
            _ => image.clone(),
        };
        Ok(Self(image.familiar()))
    }

    /// The parsed reference.
    pub fn reference(&self) -> ImageReference {
        // The invariant: it was made from one.
        ImageReference::parse(&self.0).unwrap_or_else(|_| unreachable!("an ImageRef holds a valid reference"))
    }
}

impl FromStr for ImageRef {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let image = ImageReference::parse(input).map_err(|e| Error::InvalidReference(e.to_string()))?;
        Self::from_reference(&image)
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
    fn the_store_takes_sha256_digests_only() {
        let d = Digest::sha256_of(b"");
        assert_eq!(sha256_only(d.clone()).unwrap(), d);
        let other = Digest::of(palisade_reference::DigestAlgorithm::Sha512, b"");
        assert!(matches!(sha256_only(other), Err(Error::InvalidDigest(_))));
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
        let pinned = format!("busybox@{}", Digest::sha256_of(b"m"));
        assert_eq!(pinned.replace('@', ":latest@").parse::<ImageRef>().unwrap().as_str(), pinned);
        assert_eq!(format!("docker.io/library/{pinned}").parse::<ImageRef>().unwrap().as_str(), pinned);
        assert!("Busybox".parse::<ImageRef>().is_err());
        assert!("a b".parse::<ImageRef>().is_err());
    }
}
