//! Severity levels, from CVSS vectors scored by the `cvss` crate or the database's own word.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::osv::OsvRecord;

/// Severity, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// No score or word given.
    Unknown,
    /// Low.
    Low,
    /// Medium (GHSA: moderate).
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// Upper-case name, as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Low => "LOW",
            Self::Medium => "MEDIUM",
            Self::High => "HIGH",
            Self::Critical => "CRITICAL",
        }
    }

    fn from_score(score: f64) -> Self {
        match score {
            s if s >= 9.0 => Self::Critical,
            s if s >= 7.0 => Self::High,
            s if s >= 4.0 => Self::Medium,
            s if s > 0.0 => Self::Low,
            _ => Self::Unknown,
        }
    }

    fn from_word(w: &str) -> Option<Self> {
        Some(match w.trim().to_ascii_lowercase().as_str() {
            "critical" => Self::Critical,
            "high" | "important" => Self::High,
            "medium" | "moderate" => Self::Medium,
            "low" | "negligible" | "unimportant" => Self::Low,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("unknown") {
            return Ok(Self::Unknown);
        }
        Self::from_word(s).ok_or_else(|| format!("unknown severity {s:?} (UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL)"))
    }
}

/// Base score of a CVSS vector; `None` when it does not parse. Advisories share few distinct
/// vectors: each thread keeps the scores it computed (at most `KEPT` vectors, then it starts
/// over), so an import parses each vector about once per thread.
fn base_score(vector: &str) -> Option<f64> {
    const KEPT: usize = 4096;
    thread_local! {
        static SCORES: std::cell::RefCell<std::collections::HashMap<String, Option<f64>>> = Default::default();
    }
    SCORES.with_borrow_mut(|scores| {
        if let Some(score) = scores.get(vector) {
            return *score;
        }
        let score = vector.parse::<cvss::Cvss>().ok().map(|c| c.score());
        if scores.len() >= KEPT {
            scores.clear();
        }
        scores.insert(vector.to_owned(), score);
        score
    })
}

/// Severity of a record: the highest CVSS v3/v4 base score among its vectors (record-level
/// and per-package), else the word in `database_specific.severity` or
/// `affected[].ecosystem_specific.severity|urgency`.
pub(crate) fn of_record(rec: &OsvRecord) -> (Severity, Option<f32>, Option<String>) {
    let mut best: Option<(f64, &str)> = None;
    let vectors = rec.severity.iter().chain(rec.affected.iter().flat_map(|a| a.severity.iter()));
    for s in vectors {
        if !matches!(s.kind.as_str(), "CVSS_V3" | "CVSS_V4") {
            continue;
        }
        if let Some(score) = base_score(&s.score) {
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, s.score.as_str()));
            }
        }
    }
    if let Some((score, vector)) = best {
        return (Severity::from_score(score), Some(score as f32), Some(vector.to_owned()));
    }
    let word = |v: &Option<serde_json::Value>, keys: &[&str]| -> Option<Severity> {
        let v = v.as_ref()?;
        keys.iter().find_map(|k| v.get(*k).and_then(serde_json::Value::as_str).and_then(Severity::from_word))
    };
    let sev = word(&rec.database_specific, &["severity"])
        .or_else(|| rec.affected.iter().find_map(|a| word(&a.ecosystem_specific, &["severity", "urgency"])))
        .or_else(|| rec.affected.iter().find_map(|a| word(&a.database_specific, &["severity"])))
        .unwrap_or(Severity::Unknown);
    (sev, None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cvss_vectors_are_scored() {
        let rec: OsvRecord = serde_json::from_str(
            r#"{"id":"X","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#,
        )
        .unwrap();
        let (sev, score, _) = of_record(&rec);
        assert_eq!(sev, Severity::Critical);
        assert_eq!(score, Some(9.8));
        let rec: OsvRecord = serde_json::from_str(r#"{"id":"Y","database_specific":{"severity":"MODERATE"}}"#).unwrap();
        assert_eq!(of_record(&rec).0, Severity::Medium);
    }
}
