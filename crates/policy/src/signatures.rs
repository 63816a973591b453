//! The signature check: which of a rule's named signers signed a digest in the repository's
//! trust data, verified from a root the policy pinned.

use palisade_trust::client::TrustedRepo;

use crate::decision::{Check, CheckKind};
use crate::document::SignatureRule;

/// A signer's name as policies and `docker trust` write it: `targets` for the repository key,
/// else the delegation's name without `targets/`.
fn signer_name(role: &palisade_trust::RoleName) -> String {
    let role = role.as_str();
    role.strip_prefix("targets/").unwrap_or(role).to_owned()
}

/// Whether one of `digests` (`sha256:<hex>`) is signed by at least `rule.threshold` of the
/// rule's signers in `repo`.
pub(crate) fn judge(repo: &TrustedRepo, rule: &SignatureRule, digests: &[String]) -> Check {
    let mut best: Option<(&String, Vec<String>)> = None;
    for digest in digests {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        let signed_by: Vec<String> = repo.signers_of(hex).iter().map(signer_name).collect();
        let required: Vec<String> = signed_by.iter().filter(|s| rule.signers.contains(s)).cloned().collect();
        if required.len() >= rule.threshold {
            return Check {
                kind: CheckKind::Signatures,
                passed: true,
                detail: format!("{digest} signed by {} ({} of {} required)", required.join(", "), required.len(), rule.threshold),
            };
        }
        if best.as_ref().is_none_or(|(_, b)| b.len() < signed_by.len()) {
            best = Some((digest, signed_by));
        }
    }
    let needed = format!("{} of [{}]", rule.threshold, rule.signers.join(", "));
    let detail = match best {
        None => format!("no digest to check; the rule needs signatures by {needed}"),
        Some((digest, signers)) if signers.is_empty() => format!("{digest} is not signed; the rule needs {needed}"),
        Some((digest, signers)) => format!("{digest} is signed by [{}] only; the rule needs {needed}", signers.join(", ")),
    };
    Check { kind: CheckKind::Signatures, passed: false, detail }
}

/// A failed signature check for a reason other than the signatures themselves.
pub(crate) fn failed(detail: String) -> Check {
    Check { kind: CheckKind::Signatures, passed: false, detail }
}
