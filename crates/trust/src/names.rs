//! Parsed names: [`Gun`] and [`RoleName`].

use std::fmt;

use crate::error::{Error, Result};

/// A Globally Unique Name (the repository a trust collection belongs to), e.g.
/// `127.0.0.1:5000/app`.
///
/// Invariant: non-empty, at most 255 bytes, no `*`, no control characters, no `..` segment,
/// no leading `/`, and no `/_trust/` segment (which would make URLs ambiguous).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gun(String);

impl Gun {
    /// Parses a GUN.
    pub fn new(value: &str) -> Result<Self> {
        let bad = |reason| Err(Error::BadName { what: "gun", value: value.to_owned(), reason });
        if value.is_empty() || value.len() > 255 {
            return bad("length must be 1..=255");
        }
        if value.contains('*') {
            return bad("contains '*'");
        }
        if value.chars().any(char::is_control) {
            return bad("contains a control character");
        }
        if value.starts_with('/')
            || value.ends_with('/')
            || value.split('/').any(|s| s.is_empty() || s == "." || s == "..")
        {
            return bad("has an empty, '.' or '..' path segment");
        }
        if value.split('/').any(|s| s == "_trust") {
            return bad("contains a '_trust' segment");
        }
        Ok(Self(value.to_owned()))
    }

    /// The GUN as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Gun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A TUF role: one of the four base roles or a delegation `targets/<name>[/<name>…]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleName {
    /// `root`.
    Root,
    /// `snapshot`.
    Snapshot,
    /// `targets`.
    Targets,
    /// `timestamp`.
    Timestamp,
    /// A delegated targets role. Invariant: starts with `targets/`, every segment non-empty and
    /// made of `[A-Za-z0-9_.-]` (not `.` or `..`).
    Delegation(String),
}

impl RoleName {
    /// Parses a role name as notary spells it.
    pub fn new(value: &str) -> Result<Self> {
        match value {
            "root" => Ok(Self::Root),
            "snapshot" => Ok(Self::Snapshot),
            "targets" => Ok(Self::Targets),
            "timestamp" => Ok(Self::Timestamp),
            _ => {
                let bad = |reason| Err(Error::BadName { what: "role", value: value.to_owned(), reason });
                let Some(rest) = value.strip_prefix("targets/") else {
                    return bad("not a base role or a targets/ delegation");
                };
                if value.len() > 255 {
                    return bad("too long");
                }
                let ok = rest.split('/').all(|seg| {
                    !seg.is_empty()
                        && seg != "."
                        && seg != ".."
                        && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
                });
                if !ok {
                    return bad("delegation segments must be non-empty [A-Za-z0-9_.-]");
                }
                Ok(Self::Delegation(value.to_owned()))
            }
        }
    }

    /// The role as notary spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Root => "root",
            Self::Snapshot => "snapshot",
            Self::Targets => "targets",
            Self::Timestamp => "timestamp",
            Self::Delegation(name) => name,
        }
    }

    /// `true` for `targets` and its delegations.
    pub fn is_targets_like(&self) -> bool {
        matches!(self, Self::Targets | Self::Delegation(_))
    }

    /// The delegating role (`targets/a/b` → `targets/a`, `targets/a` → `targets`).
    pub fn parent(&self) -> Option<Self> {
        match self {
            Self::Delegation(name) => {
                let (parent, _) = name.rsplit_once('/')?;
                Self::new(parent).ok()
            }
            _ => None,
        }
    }

    /// Number of `/`-separated segments (base roles are 1).
    pub fn depth(&self) -> usize {
        self.as_str().split('/').count()
    }
}

impl fmt::Display for RoleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn gun_rejects_traversal_and_wildcards() {
        assert!(Gun::new("127.0.0.1:5000/app").is_ok());
        for bad in ["", "a/../b", "a*", "/a", "a//b", "a/_trust/b", "a\nb"] {
            assert!(Gun::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn role_names() {
        assert_eq!(RoleName::new("targets/releases").unwrap().parent(), Some(RoleName::Targets));
        assert_eq!(RoleName::new("targets/a/b").unwrap().parent().unwrap().as_str(), "targets/a");
        for bad in ["targets/", "foo", "targets/../root", "targets/a b", "targets//x"] {
            assert!(RoleName::new(bad).is_err(), "{bad:?}");
        }
    }
}
