//! What an evaluation decided, rule by rule, and how it reads: the refusal docker users see,
//! the warnings an audit-mode rule leaves, and the explanation `palisade policy test` prints.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::document::Mode;

/// What a check looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// The registry is one the rule allows.
    Registry,
    /// The reference names a digest.
    Digest,
    /// Signatures in the repository's trust data.
    Signatures,
    /// Fixable findings in the scan result.
    Vulnerabilities,
}

impl CheckKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Registry => "registry",
            Self::Digest => "digest",
            Self::Signatures => "signatures",
            Self::Vulnerabilities => "vulnerabilities",
        }
    }
}

/// One check of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// What was checked.
    pub kind: CheckKind,
    /// Whether the image passed it.
    pub passed: bool,
    /// Why, in words.
    pub detail: String,
}

/// A rule that matched the image, with its checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule's name.
    pub rule: String,
    /// Its mode.
    pub mode: Mode,
    /// Its checks, in a fixed order (registry, digest, signatures, vulnerabilities).
    pub checks: Vec<Check>,
}

impl RuleOutcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.passed)
    }

    fn failures(&self) -> String {
        self.checks.iter().filter(|c| !c.passed).map(|c| c.detail.as_str()).collect::<Vec<_>>().join("; ")
    }
}

/// The outcome of evaluating one image against a policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The image as asked.
    pub image: String,
    /// The policy version evaluated (0: none set).
    pub policy_version: u64,
    /// The digest the image resolved to through its trust data (a tag was given), or the
    /// one it named; `None` when no rule needed one.
    pub digest: Option<String>,
    /// `registry/repository@digest` when a tag was resolved through trust data: what must run.
    pub pinned: Option<String>,
    /// The rules that matched, in policy order.
    pub rules: Vec<RuleOutcome>,
}

impl Decision {
    /// Whether the image may run: no enforcing rule failed.
    pub fn allowed(&self) -> bool {
        self.rules.iter().all(|r| r.mode == Mode::Audit || r.passed())
    }

    /// The refusal, naming the first enforcing rule that failed and the image, as the docker
    /// CLI shows daemon errors; `None` when allowed.
    pub fn refusal(&self) -> Option<String> {
        self.rules.iter().find(|r| r.mode == Mode::Enforce && !r.passed()).map(|r| {
            format!("image policy: rule {:?} refuses {}: {}", r.rule, self.image, r.failures())
        })
    }

    /// One line per audit-mode rule that failed: allowed, recorded.
    pub fn audited(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|r| r.mode == Mode::Audit && !r.passed())
            .map(|r| format!("image policy (audit): rule {:?} would refuse {}: {}", r.rule, self.image, r.failures()))
            .collect()
    }

    /// The explanation, rule by rule.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let verdict = if self.allowed() { "allowed" } else { "refused" };
        let _ = writeln!(out, "{}: {verdict} (policy version {})", self.image, self.policy_version);
        if let Some(pinned) = &self.pinned {
            let _ = writeln!(out, "  runs as {pinned}");
        } else if let Some(digest) = &self.digest {
            let _ = writeln!(out, "  digest {digest}");
        }
        if self.rules.is_empty() {
            let _ = writeln!(out, "  no rule matches this image");
        }
        for rule in &self.rules {
            let outcome = match (rule.passed(), rule.mode) {
                (true, _) => "passes",
                (false, Mode::Enforce) => "REFUSES",
                (false, Mode::Audit) => "would refuse (audit: allowed, recorded)",
            };
            let _ = writeln!(out, "  rule {:?} ({}): {outcome}", rule.rule, rule.mode.as_str());
            for check in &rule.checks {
                let mark = if check.passed { "ok  " } else { "FAIL" };
                let _ = writeln!(out, "    {mark} {:<15} {}", check.kind.as_str(), check.detail);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: CheckKind, passed: bool, detail: &str) -> Check {
        Check { kind, passed, detail: detail.into() }
    }

    #[test]
    fn the_first_failing_enforcing_rule_refuses_and_audits_only_warn() {
        let d = Decision {
            image: "reg:5000/app:v1".into(),
            policy_version: 3,
            digest: None,
            pinned: None,
            rules: vec![
                RuleOutcome { rule: "audited".into(), mode: Mode::Audit, checks: vec![check(CheckKind::Digest, false, "no digest")] },
                RuleOutcome {
                    rule: "signed".into(),
                    mode: Mode::Enforce,
                    checks: vec![check(CheckKind::Registry, true, "ok"), check(CheckKind::Signatures, false, "not signed")],
                },
            ],
        };
        assert!(!d.allowed());
        assert_eq!(d.refusal().unwrap(), "image policy: rule \"signed\" refuses reg:5000/app:v1: not signed");
        assert_eq!(d.audited(), vec!["image policy (audit): rule \"audited\" would refuse reg:5000/app:v1: no digest"]);
        let text = d.explain();
        assert!(text.contains("rule \"signed\" (enforce): REFUSES"), "{text}");
        assert!(text.contains("FAIL signatures"), "{text}");

        let audit_only = Decision { rules: d.rules[..1].to_vec(), ..d };
        assert!(audit_only.allowed() && audit_only.refusal().is_none());
    }
}
