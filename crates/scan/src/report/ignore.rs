//! The ignore file (TOML): advisories accepted on purpose, each with a reason and an optional
//! expiry date after which it no longer applies.
//!
//! ```toml
//! [[ignore]]
//! id = "CVE-2023-4911"
//! reason = "setuid binaries are not shipped in this image"
//! expires = "2027-01-31"    # optional, YYYY-MM-DD
//! package = "glibc"         # optional: only for this package (binary or source name)
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::matching::Finding;

/// One rule.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IgnoreRule {
    /// Advisory id or alias.
    pub id: String,
    /// Why it is accepted (required).
    pub reason: String,
    /// Last day the rule applies, `YYYY-MM-DD`.
    #[serde(default)]
    pub expires: Option<String>,
    /// Limit the rule to one package.
    #[serde(default)]
    pub package: Option<String>,
}

/// All rules of an ignore file.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IgnoreFile {
    /// The rules.
    #[serde(default)]
    pub ignore: Vec<IgnoreRule>,
}

fn valid_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

impl IgnoreFile {
    /// Reads and checks a file: every rule needs a non-empty reason and a valid date.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::BadIgnoreFile { path: path.to_path_buf(), reason };
        let text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
        let file: Self = toml::from_str(&text).map_err(|e| bad(e.message().to_owned()))?;
        for r in &file.ignore {
            if r.reason.trim().is_empty() {
                return Err(bad(format!("rule for {} has no reason", r.id)));
            }
            if let Some(d) = &r.expires {
                if !valid_date(d) {
                    return Err(bad(format!("rule for {}: expires {d:?} is not YYYY-MM-DD", r.id)));
                }
            }
        }
        Ok(file)
    }

    /// The rule that suppresses `f` today, if any (expired rules never match).
    pub fn matching(&self, f: &Finding, today: &str) -> Option<&IgnoreRule> {
        self.ignore.iter().find(|r| {
            let id_ok = r.id == f.id || f.aliases.contains(&r.id);
            let pkg_ok = r.package.as_deref().is_none_or(|p| p == f.package.name || Some(p) == f.package.source_name.as_deref());
            // Dates in YYYY-MM-DD order as strings.
            let live = r.expires.as_deref().is_none_or(|e| today <= e);
            id_ok && pkg_ok && live
        })
    }

    /// Rules whose expiry date has passed (to warn about).
    pub fn expired(&self, today: &str) -> Vec<&IgnoreRule> {
        self.ignore.iter().filter(|r| r.expires.as_deref().is_some_and(|e| today > e)).collect()
    }
}
