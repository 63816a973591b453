//! `HOST[:PORT]/REPO[:TAG|@DIGEST]` remote image references.

use std::fmt;
use std::str::FromStr;

use super::ClientError;
use crate::digest::Digest;
use crate::names::{RepoName, Tag};

/// A remote image: registry host, repository, and a tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` (must contain a `.` or `:` or be `localhost`, as in docker).
    pub registry: String,
    /// Repository name.
    pub repo: RepoName,
    /// Tag or digest (default tag `latest`).
    pub reference: String,
}

impl FromStr for ImageRef {
    type Err = ClientError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| ClientError::BadReference { input: input.to_owned(), reason: reason.to_owned() };
        let s = input.strip_prefix("docker://").unwrap_or(input);
        let (registry, rest) = s.split_once('/').ok_or_else(|| bad("expected HOST/REPO[:TAG]"))?;
        if !(registry.contains('.') || registry.contains(':') || registry == "localhost") {
            return Err(bad("the first component must be a registry host (HOST[:PORT])"));
        }
        let (name, reference) = if let Some((n, d)) = rest.split_once('@') {
            d.parse::<Digest>().map_err(|e| bad(&e.to_string()))?;
            (n, d.to_owned())
        } else {
            match rest.rsplit_once(':') {
                Some((n, t)) if !t.contains('/') => {
                    t.parse::<Tag>().map_err(|e| bad(&e.to_string()))?;
                    (n, t.to_owned())
                }
                _ => (rest, "latest".to_owned()),
            }
        };
        let repo = name.parse::<RepoName>().map_err(|e| bad(&e.to_string()))?;
        Ok(Self { registry: registry.to_owned(), repo, reference })
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
    }
}
