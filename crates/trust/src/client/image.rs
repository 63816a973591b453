//! `HOST[:PORT]/REPO[:TAG|@DIGEST]` as the trust verbs take it: the registry reference, the GUN
//! (`host[:port]/repo`, docker's normalised name) and whether a tag was written.

use palisade_registry::client::ImageRef;

use super::error::ClientResult;
use crate::names::Gun;

/// A parsed image name.
#[derive(Clone, Debug)]
pub struct ImageName {
    /// As the user wrote it.
    pub original: String,
    /// The registry reference (tag `latest` when none was written).
    pub image: ImageRef,
    /// The trust collection: `host[:port]/repo`.
    pub gun: Gun,
    /// The tag, if one was written.
    pub tag: Option<String>,
    /// Whether a digest (`@sha256:…`) was written.
    pub by_digest: bool,
}

impl ImageName {
    /// Parses `input`: a registry host must be written (see [`ImageRef`]).
    pub fn parse(input: &str) -> ClientResult<Self> {
        let written = palisade_registry::client::parse_remote(input)?;
        let image = ImageRef::from(&written);
        let by_digest = written.digest().is_some();
        let tag = written.tag().filter(|_| !by_digest).map(ToString::to_string);
        let gun = Gun::new(&written.name())?;
        Ok(Self { original: input.to_owned(), image, gun, tag, by_digest })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn tags_and_guns() {
        let n = ImageName::parse("127.0.0.1:5000/a/b:v1").unwrap();
        assert_eq!((n.gun.as_str(), n.tag.as_deref()), ("127.0.0.1:5000/a/b", Some("v1")));
        let n = ImageName::parse("127.0.0.1:5000/a/b").unwrap();
        assert_eq!(n.tag, None);
        assert_eq!(n.image.reference, "latest");
        let n = ImageName::parse(&format!("reg.example/x@sha256:{}", "a".repeat(64))).unwrap();
        assert!(n.by_digest && n.tag.is_none());
        let n = ImageName::parse(&format!("reg.example/x:v1@sha256:{}", "a".repeat(64))).unwrap();
        assert!(n.by_digest && n.tag.is_none(), "the digest decides");
        assert!(ImageName::parse("busybox").is_err());
    }
}
