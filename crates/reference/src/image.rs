//! Image references as docker reads them.
//!
//! ```text
//! reference = name [":" tag] ["@" digest]
//! name      = [host "/"] repository                 (at most 255 characters)
//! host      = label ("." label)* [":" port]  |  "[" ipv6 "]" [":" port]
//! ```
//! The first component of a name is its registry host only when docker's parser would say
//! so ([`is_registry_host`]); otherwise the image is on Docker Hub (`docker.io`), and a
//! one-component repository there is under `library/` — `busybox` is
//! `docker.io/library/busybox`. A reference may carry both a tag and a digest (the docker CLI
//! sends `name:tag@digest` once it has pinned one): the digest decides what runs.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::{cut, ReferenceError};
use crate::name::{RepoName, Tag, MAX_NAME_LEN};

/// Docker Hub, as docker's reference parser names it.
pub const DOCKER_HUB: &str = "docker.io";

/// Whether `component`, the first of a name with more than one, names a registry host, as
/// docker decides: it contains a `.` or a `:`, is `localhost`, or has an upper-case letter
/// (which a repository component never has).
pub fn is_registry_host(component: &str) -> bool {
    component.contains(['.', ':']) || component == "localhost" || component.bytes().any(|b| b.is_ascii_uppercase())
}

/// A parsed, normalised image reference.
///
/// Invariant: `host` is a valid host (letters, digits, `-` and `.` in labels, or a bracketed
/// IPv6 address, with an optional port), safe as a directory name; `docker.io` for Docker Hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    host: String,
    repository: RepoName,
    tag: Option<Tag>,
    digest: Option<Digest>,
}

impl ImageReference {
    /// Parses `input` as docker does (see the module docs). skopeo's `docker://` transport
    /// prefix is accepted and dropped.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let bad = |reason: &str| ReferenceError::Image { value: cut(input, 300), reason: reason.to_owned() };
        let s = input.strip_prefix("docker://").unwrap_or(input);
        if s.is_empty() {
            return Err(bad("empty reference"));
        }
        let (named, digest) = match s.split_once('@') {
            Some((named, digest)) => (named, Some(digest.parse::<Digest>()?)),
            None => (s, None),
        };
        // A tag is a ':' after the last '/' (before it, a ':' belongs to the host's port).
        let last = named.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match named[last..].rfind(':') {
            Some(i) => (&named[..last + i], Some(named[last + i + 1..].parse::<Tag>()?)),
            None => (named, None),
        };
        if name.len() > MAX_NAME_LEN {
            return Err(bad("the name is longer than 255 characters"));
        }
        if name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("a 64-character hexadecimal string is an image id, not a repository name"));
        }
        let (host, path) = match name.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first, rest),
            _ => (DOCKER_HUB, name),
        };
        let host = if host == "index.docker.io" { DOCKER_HUB } else { host };
        if !valid_host(host) {
            return Err(bad("the registry host is not a valid host name"));
        }
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad("repository name must be lowercase"));
        }
        let repository = match (host, path.contains('/')) {
            (DOCKER_HUB, false) => format!("library/{path}").parse()?,
            _ => path.parse()?,
        };
        Ok(Self { host: host.to_owned(), repository, tag, digest })
    }

    /// The registry host, `host[:port]` (`docker.io` for Docker Hub).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The repository on that registry (`library/busybox`).
    pub fn repository(&self) -> &RepoName {
        &self.repository
    }

    /// The tag, if one was written (`latest` is assumed only where neither tag nor digest is).
    pub fn tag(&self) -> Option<&Tag> {
        self.tag.as_ref()
    }

    /// The digest, if one was written.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The written tag, or `latest`.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_ref().map_or("latest", Tag::as_str)
    }

    /// Whether the image is on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.host == DOCKER_HUB
    }

    /// `host/repository`: the fully qualified name, as trust data (GUNs) and policies name it.
    pub fn name(&self) -> String {
        format!("{}/{}", self.host, self.repository)
    }

    /// The name as docker shows it: Docker Hub's host and `library/` left out
    /// (`busybox`, `me/app`, `registry.example:5000/team/app`).
    pub fn familiar_name(&self) -> String {
        if !self.is_docker_hub() {
            return self.name();
        }
        let repository = self.repository.as_str();
        match repository.strip_prefix("library/") {
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => repository.to_owned(),
        }
    }

    /// [`Self::familiar_name`] with the tag and digest as written.
    pub fn familiar(&self) -> String {
        self.with_name(self.familiar_name())
    }

    /// This reference with `digest` (and no tag): what runs exactly that content.
    pub fn pinned(&self, digest: Digest) -> Self {
        Self { tag: None, digest: Some(digest), ..self.clone() }
    }

    /// This reference with `tag` (and no digest).
    pub fn tagged(&self, tag: Tag) -> Self {
        Self { tag: Some(tag), digest: None, ..self.clone() }
    }

    fn with_name(&self, mut name: String) -> String {
        if let Some(tag) = &self.tag {
            name.push(':');
            name.push_str(tag.as_str());
        }
        if let Some(digest) = &self.digest {
            name.push('@');
            name.push_str(digest.as_str());
        }
        name
    }
}

/// A host as docker's grammar allows it, and safe as a directory name (`certs.d/<host>`):
/// labels of letters, digits and inner `-` joined by `.`, or a bracketed IPv6 address; then an
/// optional port of 1–5 digits.
fn valid_host(host: &str) -> bool {
    let (address, port) = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((address, rest)) if !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') => {
                match rest.strip_prefix(':') {
                    Some(port) => (None, Some(port)),
                    None if rest.is_empty() => (None, None),
                    None => return false,
                }
            }
            _ => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (Some(name), Some(port)),
            None => (Some(host), None),
        },
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    };
    address.is_none_or(|a| a.split('.').all(label_ok))
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        Self::parse(s)
    }
}

/// The fully qualified form: `host/repository[:tag][@digest]`.
impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_name(self.name()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        format!("sha256:{}", "a".repeat(64)).parse().unwrap()
    }

    #[test]
    fn docker_short_names_expand_and_read_back_familiar() {
        let r = ImageReference::parse("busybox").unwrap();
        assert_eq!((r.name().as_str(), r.tag_or_latest(), r.familiar().as_str()), ("docker.io/library/busybox", "latest", "busybox"));
        let r = ImageReference::parse("me/app:1").unwrap();
        assert_eq!((r.name().as_str(), r.familiar().as_str()), ("docker.io/me/app", "me/app:1"));
        for same in ["docker.io/library/busybox:1", "index.docker.io/busybox:1", "docker.io/busybox:1", "busybox:1"] {
            assert_eq!(ImageReference::parse(same).unwrap().to_string(), "docker.io/library/busybox:1", "{same}");
        }
        assert_eq!(ImageReference::parse("docker.io/library/a/b").unwrap().familiar(), "library/a/b");
    }

    #[test]
    fn hosts_ports_tags_and_digests_split_as_docker_splits_them() {
        let d = digest();
        let r = ImageReference::parse(&format!("127.0.0.1:5000/team/app:v1@{d}")).unwrap();
        assert_eq!((r.host(), r.repository().as_str()), ("127.0.0.1:5000", "team/app"));
        assert_eq!((r.tag().map(Tag::as_str), r.digest()), (Some("v1"), Some(&d)));
        assert_eq!(r.pinned(d.clone()).to_string(), format!("127.0.0.1:5000/team/app@{d}"));
        assert_eq!(r.familiar(), format!("127.0.0.1:5000/team/app:v1@{d}"));
        let r = ImageReference::parse("localhost:5000/app").unwrap();
        assert_eq!((r.host(), r.tag()), ("localhost:5000", None));
        assert_eq!(ImageReference::parse("localhost/app").unwrap().host(), "localhost");
        assert_eq!(ImageReference::parse("[::1]:5000/app").unwrap().host(), "[::1]:5000");
        assert_eq!(ImageReference::parse("docker://reg.example/x").unwrap().name(), "reg.example/x");
        // Not hosts: the repository's first component.
        assert_eq!(ImageReference::parse("team/app").unwrap().name(), "docker.io/team/app");
        // A host with an upper-case letter is a host, as in docker.
        assert_eq!(ImageReference::parse("Registry/app").unwrap().host(), "Registry");
    }

    #[test]
    fn malformed_references_are_refused_with_their_reason() {
        let cases = [
            ("", "empty"),
            ("UPPER", "lowercase"),
            ("reg.example/UPPER:v1", "lowercase"),
            ("app:bad tag", "invalid tag"),
            ("a//b", "repository name"),
            ("app@sha256:short", "digest"),
            ("-bad.host/app", "host"),
            ("reg.example:port/app", "host"),
            ("reg..example/app", "host"),
            ("[zz]:5000/app", "host"),
        ];
        for (input, why) in cases {
            let e = ImageReference::parse(input).unwrap_err().to_string();
            assert!(e.contains(why), "{input:?}: {e}");
        }
        let long = format!("reg.example/{}", "a".repeat(250));
        assert!(ImageReference::parse(&long).unwrap_err().to_string().contains("255"));
        assert!(ImageReference::parse(&"a".repeat(64)).unwrap_err().to_string().contains("image id"));
    }
}
