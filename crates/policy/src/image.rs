//! Image references as the policy sees them: docker's normalised name
//! (`registry/repository`, Docker Hub names expanded to `docker.io/library/…`), the tag and the
//! digest, either of which may be absent. Validation is the registry client's
//! ([`palisade_registry::client::ImageRef`]); this only adds docker's short names and the
//! `name:tag@digest` form the docker CLI sends when it pinned a digest itself.

use palisade_registry::client::ImageRef;

use crate::error::{PolicyError, Result};

/// Docker Hub, as docker's reference parser names it.
const DOCKER_HUB: &str = "docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// `host[:port]`.
    pub registry: String,
    /// The repository path on that registry.
    pub repository: String,
    /// The tag, if one was written (`latest` is assumed only when neither tag nor digest is).
    pub tag: Option<String>,
    /// `sha256:<hex>`, if a digest was written.
    pub digest: Option<String>,
}

fn is_registry_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

impl ImageName {
    /// Parses `input` as docker does.
    pub fn parse(input: &str) -> Result<Self> {
        let bad = |why: String| PolicyError::Reference(format!("{input:?}: {why}"));
        let plain = input.strip_prefix("docker://").unwrap_or(input);
        let (name, digest) = match plain.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_owned())),
            None => (plain, None),
        };
        let last = name.rsplit('/').next().unwrap_or_default();
        let (path, tag) = match last.rsplit_once(':') {
            Some((_, tag)) => (&name[..name.len() - tag.len() - 1], Some(tag.to_owned())),
            None => (name, None),
        };
        let (registry, repository) = match path.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first.to_owned(), rest.to_owned()),
            _ if path.contains('/') => (DOCKER_HUB.to_owned(), path.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{path}")),
        };
        // The registry client's parser decides what is valid: the name with its tag, then the
        // name with its digest.
        let check = |reference: &str| -> Result<()> {
            format!("{registry}/{repository}{reference}").parse::<ImageRef>().map(drop).map_err(|e| bad(e.to_string()))
        };
        check(&tag.as_ref().map(|t| format!(":{t}")).unwrap_or_default())?;
        if let Some(d) = &digest {
            check(&format!("@{d}"))?;
        }
        Ok(Self { registry, repository, tag, digest })
    }

    /// `registry/repository`: what rule patterns match, and the GUN of its trust data.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The tag looked up in trust data when no digest was written: the written one or `latest`.
    pub fn tag_or_latest(&self) -> &str {
        self.tag.as_deref().unwrap_or("latest")
    }

    /// The reference that runs exactly `digest`: `registry/repository@digest`.
    pub fn pinned(&self, digest: &str) -> String {
        format!("{}@{digest}", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_short_names_expand_and_tags_and_digests_split() {
        let d = format!("sha256:{}", "a".repeat(64));
        let n = ImageName::parse("busybox").unwrap();
        assert_eq!((n.name().as_str(), n.tag_or_latest()), ("docker.io/library/busybox", "latest"));
        let n = ImageName::parse("me/app:1").unwrap();
        assert_eq!((n.name().as_str(), n.tag.as_deref()), ("docker.io/me/app", Some("1")));
        let n = ImageName::parse(&format!("127.0.0.1:5000/team/app:v1@{d}")).unwrap();
        assert_eq!(n.registry, "127.0.0.1:5000");
        assert_eq!(n.repository, "team/app");
        assert_eq!((n.tag.as_deref(), n.digest.as_deref()), (Some("v1"), Some(d.as_str())));
        assert_eq!(n.pinned(&d), format!("127.0.0.1:5000/team/app@{d}"));
        let n = ImageName::parse("localhost:5000/app").unwrap();
        assert_eq!((n.registry.as_str(), n.tag.as_deref()), ("localhost:5000", None));
    }

    #[test]
    fn malformed_references_are_refused() {
        for bad in ["", "UPPER/app", "127.0.0.1:5000/app@sha256:short", "app:bad tag", "a//b"] {
            assert!(ImageName::parse(bad).is_err(), "{bad}");
        }
    }
}
