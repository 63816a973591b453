//! Reports: the scan outcome as a table, JSON, SARIF 2.1.0, CycloneDX 1.5 or SPDX 2.3, after
//! the filters (`--severity`, `--ignore-unfixed`, the ignore file).

mod ignore;
mod sbom;
mod table;

use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use ignore::{IgnoreFile, IgnoreRule};

use crate::error::{Error, Result};
use crate::matching::Finding;
use crate::severity::Severity;
use crate::source::Inventory;

/// Everything a scan found, ready to render.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The inventory (target, OS, layers, packages, warnings).
    #[serde(flatten)]
    pub inventory: Inventory,
    /// Findings after filtering, highest severity first.
    pub findings: Vec<Finding>,
    /// Findings an ignore rule suppressed, with the rule's reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<IgnoredFinding>,
    /// The advisory database generation matched against.
    #[serde(default)]
    pub db_generation: u64,
}

/// A finding suppressed by an ignore rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IgnoredFinding {
    /// Advisory id.
    pub id: String,
    /// Package name.
    pub package: String,
    /// Why (from the ignore file).
    pub reason: String,
}

/// Which findings to keep.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Keep only these severities (all when empty).
    pub severities: Vec<Severity>,
    /// Drop findings without a fixed version.
    pub ignore_unfixed: bool,
    /// Rules from an ignore file.
    pub ignore: IgnoreFile,
    /// Today, `YYYY-MM-DD`, for rule expiry (injected so tests control it).
    pub today: String,
}

impl Filter {
    /// Applies the filter to `findings`, moving ignored ones to the report's `ignored` list.
    pub fn apply(&self, findings: Vec<Finding>) -> (Vec<Finding>, Vec<IgnoredFinding>) {
        let mut kept = Vec::new();
        let mut ignored = Vec::new();
        for f in findings {
            if !self.severities.is_empty() && !self.severities.contains(&f.severity) {
                continue;
            }
            if self.ignore_unfixed && f.fixed.is_none() {
                continue;
            }
            if let Some(rule) = self.ignore.matching(&f, &self.today) {
                ignored.push(IgnoredFinding { id: f.id.clone(), package: f.package.name.clone(), reason: rule.reason.clone() });
                continue;
            }
            kept.push(f);
        }
        (kept, ignored)
    }
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CycloneDX 1.5 JSON (SBOM with vulnerabilities).
    CycloneDx,
    /// The report as JSON.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// SPDX 2.3 JSON (SBOM).
    Spdx,
    /// A terminal table.
    Table,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s {
            "table" => Self::Table,
            "json" => Self::Json,
            "sarif" => Self::Sarif,
            "cyclonedx" => Self::CycloneDx,
            "spdx" | "spdx-json" => Self::Spdx,
            _ => return Err(format!("unknown format {s:?} (table, json, sarif, cyclonedx, spdx)")),
        })
    }
}

impl Report {
    /// Renders the report. `now` is an RFC 3339 time for SBOM metadata and `uuid` a random
    /// serial (both injected so output is reproducible in tests).
    pub fn render(&self, format: Format, now: &str, uuid: &str) -> Result<String> {
        let json = |v: &serde_json::Value| serde_json::to_string_pretty(v).map_err(|e| Error::Report(e.to_string()));
        match format {
            Format::Table => Ok(table::render(self)),
            Format::Json => serde_json::to_string_pretty(self).map_err(|e| Error::Report(e.to_string())),
            Format::Sarif => json(&sbom::sarif(self)),
            Format::CycloneDx => json(&sbom::cyclonedx(self, now, uuid)),
            Format::Spdx => json(&sbom::spdx(self, now, uuid)),
        }
    }
}
