//! Image scanning: a package inventory read from image layers, matched offline against an
//! advisory database imported from OSV-format JSON, with reports and SBOMs.
//!
//! The flow is a straight line: a [`Scanner`] reads an image source (a rootfs, an archive, an
//! OCI layout, or a manifest whose blobs a [`BlobSource`] serves), each layer once as a tar
//! stream with whiteouts honoured; detectors, one module per ecosystem, turn the files that
//! matter into [`Package`]s that remember the layer and path they came from. [`assess`]
//! matches them against an [`AdvisoryDb`] (a redb index built by [`AdvisoryDb::import`]) with
//! each ecosystem's version ordering ([`version`]), and a [`Report`] renders the outcome as
//! a table, JSON, SARIF 2.1.0, CycloneDX 1.5 or SPDX 2.3.
//!
//! ```no_run
//! use std::path::Path;
//! use palisade_scan::{assess, AdvisoryDb, Filter, Format, Scanner};
//! # fn main() -> palisade_scan::Result<()> {
//! let db = AdvisoryDb::create(Path::new("/var/lib/palisade/scan/advisories.redb"))?;
//! db.import(&["debian-osv.zip".into()])?;
//! let inventory = Scanner::new().archive(Path::new("image.tar"))?;
//! let report = assess(inventory, &db, &Filter::default())?;
//! print!("{}", report.render(Format::Table, "", "")?);
//! # Ok(()) }
//! ```
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod db;
mod detect;
mod ecosystem;
mod error;
mod layers;
mod matching;
pub mod osv;
mod package;
mod report;
mod service;
mod severity;
mod source;
pub mod version;

pub use db::{Advisory, AdvisoryDb, AffectedEntry, DbInfo, DbReader, ImportStats, Range, RangeKind, RecordMeta};
pub use ecosystem::{Ecosystem, EcosystemRelease};
pub use error::{Error, Result};
pub use layers::{Layer, Limits};
pub use matching::{match_packages, Finding};
pub use package::{Location, OsInfo, Package};
pub use report::{Filter, Format, IgnoreFile, IgnoreRule, IgnoredFinding, Report};
pub use service::{read_capped, RegistryContent, ScanResult, ScanService, ScanStatus, ServiceOptions};
pub use severity::Severity;
pub use source::{BlobDir, BlobSource, Inventory, NoProgress, Progress, Scanner};

/// Matches an inventory against the database and applies the filter.
pub fn assess(inventory: Inventory, db: &AdvisoryDb, filter: &Filter) -> Result<Report> {
    let generation = db.generation()?;
    let reader = db.reader()?;
    let (findings, mut warnings) = match_packages(&reader, inventory.os.as_ref(), &inventory.packages)?;
    let (findings, ignored) = filter.apply(findings);
    for r in filter.ignore.expired(&filter.today) {
        warnings.push(format!("ignore rule for {} expired on {}; it no longer applies", r.id, r.expires.as_deref().unwrap_or_default()));
    }
    let mut inventory = inventory;
    inventory.warnings.extend(warnings);
    Ok(Report { inventory, findings, ignored, db_generation: generation })
}
