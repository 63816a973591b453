//! Image scanning: a package inventory read from image layers, matched offline against an
//! advisory database imported from OSV-format JSON, with reports and SBOMs.
//!
//! The flow is a straight line: an image source ([`source`]) yields its layers as tar
//! streams, read once, whiteouts honoured ([`layers`]); detectors, one module per ecosystem
//! ([`detect`]), turn the files that matter into [`Package`]s that remember the layer and
//! path they came from; [`AdvisoryDb`] (a redb index built by [`AdvisoryDb::import`]) is
//! matched against them with each ecosystem's version ordering ([`version`]); [`report`]
//! renders the outcome as a table, JSON, SARIF 2.1.0, CycloneDX 1.5 or SPDX 2.3.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod ecosystem;
mod error;
pub mod version;

pub use ecosystem::{Ecosystem, EcosystemRelease};
pub use error::{Error, Result};
