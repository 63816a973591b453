//! `HOST[:PORT]/REPO[:TAG|@DIGEST]` remote image references: an [`ImageReference`] whose
//! registry host is spelled out, as a registry client needs it.

use std::fmt;
use std::str::FromStr;

use palisade_reference::{is_registry_host, ImageReference};

use super::ClientError;
use crate::names::RepoName;

/// A remote image: registry host, repository, and a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` (must contain a `.` or `:` or be `localhost`, as in docker).
    pub registry: String,
    /// Repository name.
    pub repo: RepoName,
    /// Digest if one was written, else the tag (default `latest`).
    pub reference: String,
}

impl From<&ImageReference> for ImageRef {
    fn from(image: &ImageReference) -> Self {
        let reference = image.digest().map_or_else(|| image.tag_or_latest().to_owned(), |d| d.to_string());
        Self { registry: image.host().to_owned(), repo: image.repository().clone(), reference }
    }
}

/// Parses `input` (`[docker://]HOST[:PORT]/REPO[:TAG][@DIGEST]`) as a registry client needs
/// it: the registry host must be written, not implied (Docker Hub).
pub fn parse_remote(input: &str) -> Result<ImageReference, ClientError> {
    let bad = |reason: &str| ClientError::BadReference { input: input.to_owned(), reason: reason.to_owned() };
    let plain = input.strip_prefix("docker://").unwrap_or(input);
    if !plain.split_once('/').is_some_and(|(first, _)| is_registry_host(first)) {
        return Err(bad("the first component must be a registry host (HOST[:PORT])"));
    }
    ImageReference::parse(plain).map_err(|e| bad(&e.to_string()))
}

impl FromStr for ImageRef {
    type Err = ClientError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Ok(Self::from(&parse_remote(input)?))
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.reference.contains(':') { '@' } else { ':' };
        write!(f, "{}/{}{sep}{}", self.registry, self.repo, self.reference)
    }
}

#[cfg(test)]
mod tests {
    use super::ImageRef;

    #[test]
    fn parses() {
        let r: ImageRef = "127.0.0.1:5000/a/b:v1".parse().unwrap();
        assert_eq!((r.registry.as_str(), r.repo.as_str(), r.reference.as_str()), ("127.0.0.1:5000", "a/b", "v1"));
        let r: ImageRef = "docker://localhost/x".parse().unwrap();
        assert_eq!(r.reference, "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r: ImageRef = format!("reg.example/x@{d}").parse().unwrap();
        assert_eq!(r.reference, d);
        assert_eq!(r.to_string(), format!("reg.example/x@{d}"));
        assert!("busybox:latest".parse::<ImageRef>().is_err());
        assert!("reg.example/UPPER:v1".parse::<ImageRef>().is_err());
        assert!("reg.example/x:bad tag".parse::<ImageRef>().is_err());
        // Tag and digest: the digest is what is fetched.
        let r: ImageRef = format!("reg.example/x:v1@{d}").parse().unwrap();
        assert_eq!(r.reference, d);
    }
}
