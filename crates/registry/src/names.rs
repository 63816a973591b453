//! Repository names, tags and manifest references. Names and tags are
//! [`palisade_reference`]'s (the distribution-spec grammar, parsed in one place for every
//! crate); a manifest reference is the registry API's `<reference>`: a tag or a digest.

use std::fmt;
use std::str::FromStr;

pub use palisade_reference::{RepoName, Tag, MAX_NAME_LEN};

use crate::error::Error;
use crate::Digest;

/// A manifest reference: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Reference {
    /// By tag.
    Tag(Tag),
    /// By digest.
    Digest(Digest),
}

impl FromStr for Reference {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        if s.contains(':') {
            Ok(Self::Digest(s.parse()?))
        } else {
            Ok(Self::Tag(s.parse()?))
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tag(t) => t.fmt(f),
            Self::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_tags_or_digests() {
        assert!(matches!("v1".parse::<Reference>(), Ok(Reference::Tag(_))));
        let d = Digest::sha256_of(b"x").to_string();
        assert!(matches!(d.parse::<Reference>(), Ok(Reference::Digest(_))));
        assert!("sha256:zz".parse::<Reference>().is_err());
        assert!(".v1".parse::<Reference>().is_err());
    }
}
