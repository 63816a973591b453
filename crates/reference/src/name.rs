//! Repository names and tags, parsed per the distribution-spec grammar.
//!
//! ```text
//! name      = component ("/" component)*           (total length <= 255)
//! component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
//! tag       = [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
//! ```
//! Because every component starts with `[a-z0-9]`, names can never contain `..`, `.`-only or
//! `_`-prefixed components, so they are safe to use as storage path components.

use std::fmt;
use std::str::FromStr;

use crate::error::{cut, ReferenceError};

/// Maximum length of a repository name (distribution's limit).
pub const MAX_NAME_LEN: usize = 255;

/// A valid repository name such as `library/busybox`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RepoName(String);

impl RepoName {
    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `/`-separated components.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }
}

fn component_ok(c: &str) -> Result<(), &'static str> {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() {
        return Err("empty path component");
    }
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err("components must start and end with [a-z0-9]");
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err("invalid separator (allowed: '.', '_', '__', '-'+; lowercase only)");
        }
    }
    Ok(())
}

impl FromStr for RepoName {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError::Name { value: cut(s, 300), reason };
        if s.is_empty() {
            return Err(invalid("empty name"));
        }
        if s.len() > MAX_NAME_LEN {
            return Err(invalid("longer than 255 characters"));
        }
        for c in s.split('/') {
            component_ok(c).map_err(invalid)?;
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid tag such as `latest` or `v1.2_rc-3`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(String);

impl Tag {
    /// The tag as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Tag {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        let b = s.as_bytes();
        let first_ok = b.first().is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        let rest_ok =
            b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'));
        if !first_ok || !rest_ok || b.len() > 128 {
            return Err(ReferenceError::Tag { value: cut(s, 200) });
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammar() {
        for ok in ["a", "library/busybox", "a.b/c_d/e__f/g--h", "0/1", "x-y---z"] {
            assert!(ok.parse::<RepoName>().is_ok(), "{ok}");
        }
        for bad in ["", "A", "a/../b", "..", "a//b", "/a", "a/", "_a", "a_", "a___b", "a..b", "a/.b", "a b", "a%2fb"] {
            assert!(bad.parse::<RepoName>().is_err(), "{bad}");
        }
        assert!("a".repeat(256).parse::<RepoName>().is_err());
    }

    #[test]
    fn tags_follow_the_grammar() {
        assert!("latest".parse::<Tag>().is_ok());
        assert!("_x.Y-1".parse::<Tag>().is_ok());
        assert!(".x".parse::<Tag>().is_err());
        assert!("a".repeat(129).parse::<Tag>().is_err());
    }
}
