//! Cluster admission policy: which images may run.
//!
//! A [`Policy`] is a list of rules, each matching images by registry/repository globs and
//! able to require signatures by named signer roles of the repository's TUF data (with a
//! threshold, against root keys pinned in the policy), refuse images with fixable findings at
//! or above a severity (from the registry's scan results, no older than a maximum age),
//! restrict registries, and require digest pinning. Each rule enforces or only audits.
//!
//! The flow is a straight line: [`Policy::parse`] validates a TOML document once, at the
//! manager that stores it and again on every node that receives it; an [`Evaluator`] turns a
//! policy and an image reference into a [`Decision`] that says, rule by rule, what passed and
//! what failed, and which digest the image resolves to. The same evaluation runs at the
//! manager (service create and update) and on each node before a container starts, so a
//! manager that is wrong cannot make a node run what the policy refuses.
//!
//! Evidence is fetched fresh and fails closed: an unreachable trust server or scanner, a
//! missing scan, or metadata that does not verify is a failed check, never a pass.
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod decision;
mod document;
mod error;
mod evaluate;
mod scan;
mod signatures;

pub use decision::{Check, CheckKind, Decision, RuleOutcome};
pub use document::{Mode, Policy, Rule, SignatureRule, VulnerabilityRule, MAX_POLICY_BYTES};
pub use error::{PolicyError, Result};
pub use evaluate::Evaluator;
