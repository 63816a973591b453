//! Matching packages against the advisory database (OSV schema, "Evaluation").

use std::cmp::Ordering;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::db::{lookup_keys, AffectedEntry, DbReader, RangeKind};
use crate::ecosystem::Ecosystem;
use crate::error::Result;
use crate::osv::Event;
use crate::package::{OsInfo, Package};
use crate::severity::Severity;
use crate::version::compare;

/// One advisory that applies to one installed package.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Advisory id.
    pub id: String,
    /// Other ids (CVE aliases).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Severity level.
    pub severity: Severity,
    /// CVSS base score, when the record has a vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    /// The CVSS vector scored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<String>,
    /// One-line title.
    pub title: String,
    /// Advisory link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The affected package (with its layer and path).
    pub package: Package,
    /// The version compared (the source version for dpkg).
    pub installed: String,
    /// The first fixed version above the installed one; `None` when no fix exists.
    #[serde(default)]
    pub fixed: Option<String>,
}

/// Compares under a range's ordering.
fn cmp(eco: Ecosystem, kind: RangeKind, a: &str, b: &str) -> Option<Ordering> {
    match kind {
        RangeKind::Ecosystem => compare(eco, a, b),
        // SEMVER ranges: SemVer precedence, a leading "v" tolerated (Go).
        RangeKind::Semver => compare(Ecosystem::Go, a, b),
    }
}

/// Whether `version` is affected by `entry`; the verdict carries the fixed version. `None`
/// for a version the ranges cannot order (reported as a warning by the caller).
pub(crate) fn evaluate(eco: Ecosystem, version: &str, entry: &AffectedEntry) -> Option<(bool, Option<String>)> {
    for listed in &entry.versions {
        if listed == version || compare(eco, listed, version) == Some(Ordering::Equal) {
            return Some((true, None));
        }
    }
    let mut unordered = false;
    for range in &entry.ranges {
        let key = |e: &Event| -> (u8, String) { (u8::from(!(matches!(e, Event::Introduced(v) if v == "0"))), e.version().to_owned()) };
        let mut events: Vec<&Event> = range.events.iter().collect();
        let mut bad = false;
        events.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0).then_with(|| {
                if ka.0 == 0 {
                    return Ordering::Equal;
                }
                cmp(eco, range.kind, &ka.1, &kb.1).unwrap_or_else(|| {
                    bad = true;
                    Ordering::Equal
                })
            })
        });
        let limits: Vec<&str> = events.iter().filter_map(|e| if let Event::Limit(v) = e { Some(v.as_str()) } else { None }).collect();
        let ge = |x: &str| cmp(eco, range.kind, version, x).map(|o| o != Ordering::Less);
        let mut affected = false;
        let mut fixed = None;
        for e in &events {
            match e {
                Event::Introduced(x) => {
                    let hit = if x == "0" { Some(true) } else { ge(x) };
                    match hit {
                        Some(true) => affected = true,
                        Some(false) => {}
                        None => bad = true,
                    }
                }
                Event::Fixed(x) => match ge(x) {
                    Some(true) => affected = false,
                    Some(false) => {
                        if fixed.is_none() {
                            fixed = Some(x.clone());
                        }
                    }
                    None => bad = true,
                },
                Event::LastAffected(x) => match cmp(eco, range.kind, version, x) {
                    Some(Ordering::Greater) => affected = false,
                    Some(_) => {}
                    None => bad = true,
                },
                Event::Limit(_) => {}
            }
        }
        if bad {
            unordered = true;
            continue;
        }
        if affected && !limits.is_empty() && !limits.iter().any(|l| cmp(eco, range.kind, version, l) == Some(Ordering::Less)) {
            affected = false;
        }
        if affected {
            return Some((true, fixed));
        }
    }
    if unordered {
        None
    } else {
        Some((false, None))
    }
}

/// Every finding for `packages`, sorted by severity (highest first), package and id; plus
/// warnings for versions the database's ranges could not order.
pub fn match_packages(reader: &DbReader, os: Option<&OsInfo>, packages: &[Package]) -> Result<(Vec<Finding>, Vec<String>)> {
    let releases = os.map(OsInfo::advisory_releases).unwrap_or_default();
    let mut findings = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeSet::new();
    for p in packages {
        let eco = p.ecosystem;
        let rel: &[String] = if eco.is_os() { &releases } else { &[] };
        let name = eco.normalize_name(p.advisory_name());
        let version = p.advisory_version();
        for key in lookup_keys(eco, rel) {
            for hit in reader.lookup(&key, &name)? {
                let verdict = evaluate(eco, version, &hit.entry);
                let Some((true, fixed)) = verdict else {
                    if verdict.is_none() {
                        warnings.push(format!("{}: cannot order {} version {version:?} against its ranges; not matched", hit.id, p.name));
                    }
                    continue;
                };
                if !seen.insert((hit.id.clone(), p.name.clone(), p.version.clone(), p.location.path.clone())) {
                    continue;
                }
                let meta = hit.meta;
                findings.push(Finding {
                    aliases: meta.aliases,
                    severity: meta.severity,
                    score: meta.score,
                    vector: meta.vector,
                    title: meta.title,
                    url: meta.url,
                    id: hit.id,
                    package: p.clone(),
                    installed: version.to_owned(),
                    fixed,
                });
            }
        }
    }
    findings.sort_by(|a, b| {
        b.severity.cmp(&a.severity).then_with(|| a.package.name.cmp(&b.package.name)).then_with(|| a.id.cmp(&b.id))
    });
    Ok((findings, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Range;

    fn entry(events: Vec<Event>) -> AffectedEntry {
        AffectedEntry { ranges: vec![Range { kind: RangeKind::Ecosystem, events }], versions: vec![] }
    }

    #[test]
    fn osv_evaluation() {
        let e = entry(vec![Event::Introduced("0".into()), Event::Fixed("1:2.0-1".into())]);
        assert_eq!(evaluate(Ecosystem::Debian, "1:1.9-1", &e), Some((true, Some("1:2.0-1".into()))));
        assert_eq!(evaluate(Ecosystem::Debian, "1:2.0-1", &e), Some((false, None)));
        assert_eq!(evaluate(Ecosystem::Debian, "2.5-1", &e), Some((true, Some("1:2.0-1".into()))), "no epoch is epoch 0");
        let e = entry(vec![Event::Introduced("1.0".into()), Event::LastAffected("1.5".into())]);
        assert_eq!(evaluate(Ecosystem::PyPI, "1.5", &e), Some((true, None)));
        assert_eq!(evaluate(Ecosystem::PyPI, "1.5.1", &e), Some((false, None)));
        assert_eq!(evaluate(Ecosystem::PyPI, "0.9", &e), Some((false, None)));
        // Two introduced/fixed pairs in one range, given out of order.
        let e = entry(vec![Event::Fixed("2.0.5".into()), Event::Introduced("2.0.0".into()), Event::Introduced("0".into()), Event::Fixed("1.4.0".into())]);
        assert_eq!(evaluate(Ecosystem::Npm, "1.3.9", &e), Some((true, Some("1.4.0".into()))));
        assert_eq!(evaluate(Ecosystem::Npm, "1.9.0", &e), Some((false, None)));
        assert_eq!(evaluate(Ecosystem::Npm, "2.0.1", &e), Some((true, Some("2.0.5".into()))));
        assert_eq!(evaluate(Ecosystem::Npm, "not.a.version", &e), None);
    }
}
