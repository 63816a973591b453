//! The vulnerability check: the registry's stored scan result for a digest
//! (`GET /scan/v1/<repository>/manifests/<digest>`, with the registry's token auth), judged
//! against the rule's severity and maximum age.

use std::path::PathBuf;
use std::time::Duration;

use http::{Method, StatusCode};
use palisade_registry::client::auth::AuthSession;
use palisade_scan::{ScanResult, ScanStatus};

use crate::decision::{Check, CheckKind};
use crate::document::VulnerabilityRule;

/// Largest scan result read (a report lists every package of an image).
const MAX_RESULT_BYTES: u64 = 32 << 20;
/// Time allowed for one lookup.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Fetches the scan result of `repository@digest` from `scanner`; `Ok(None)` when it has none.
pub(crate) async fn fetch(scanner: &str, cas: &[PathBuf], repository: &str, digest: &str) -> Result<Option<ScanResult>, String> {
    let url = format!("{scanner}/scan/v1/{repository}/manifests/{digest}");
    let cas: Vec<&std::path::Path> = cas.iter().map(PathBuf::as_path).collect();
    let tls = palisade_registry::client::tls_config(&cas).map_err(|e| format!("scanner TLS: {e}"))?;
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("scanner client: {e}"))?;
    let auth = AuthSession::new(None, format!("repository:{repository}:pull"), "scanner");
    let resp = auth.send(&http, Method::GET, &url, Ok).await.map_err(|e| format!("asking {scanner}: {e}"))?;
    match resp.status() {
        StatusCode::OK | StatusCode::ACCEPTED => {
            let body = palisade_registry::client::read_capped(resp, MAX_RESULT_BYTES)
                .await
                .map_err(|e| format!("reading the scan result: {e}"))?
                .ok_or_else(|| format!("the scan result is larger than {MAX_RESULT_BYTES} bytes"))?;
            serde_json::from_slice(&body).map(Some).map_err(|e| format!("the scan result does not parse: {e}"))
        }
        StatusCode::NOT_FOUND => Ok(None),
        status => Err(format!("{scanner} answered {status} for the scan result")),
    }
}

/// Judges a scan result at `now` (Unix seconds).
pub(crate) fn judge(result: &ScanResult, rule: &VulnerabilityRule, now: u64) -> Check {
    let fail = |detail: String| Check { kind: CheckKind::Vulnerabilities, passed: false, detail };
    let digest = &result.digest;
    let report = match (&result.status, &result.report) {
        (ScanStatus::Done, Some(report)) => report,
        (ScanStatus::Failed, _) => return fail(format!("the scan of {digest} failed: {}", result.error.as_deref().unwrap_or("no reason given"))),
        (ScanStatus::Done, None) | (ScanStatus::Queued | ScanStatus::Scanning | ScanStatus::Dropped, _) => {
            return fail(format!("{digest} has no finished scan yet"));
        }
    };
    let age = Duration::from_secs(now.saturating_sub(result.scanned_at));
    if age > rule.max_age {
        return fail(format!(
            "the scan of {digest} is {} old; the rule accepts {} at most",
            humantime::format_duration(Duration::from_secs(age.as_secs())),
            humantime::format_duration(rule.max_age)
        ));
    }
    let fixable: Vec<String> = report
        .findings
        .iter()
        .filter(|f| f.severity >= rule.refuse && f.fixed.is_some())
        .map(|f| format!("{} {} in {} {} (fixed in {})", f.id, f.severity, f.package.name, f.installed, f.fixed.as_deref().unwrap_or_default()))
        .collect();
    if fixable.is_empty() {
        return Check {
            kind: CheckKind::Vulnerabilities,
            passed: true,
            detail: format!("no fixable finding at or above {} ({} findings in all)", rule.refuse, report.findings.len()),
        };
    }
    let shown: Vec<&str> = fixable.iter().take(5).map(String::as_str).collect();
    let more = fixable.len().saturating_sub(shown.len());
    let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
    fail(format!("{} fixable finding(s) at or above {}: {}{tail}", fixable.len(), rule.refuse, shown.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(json: serde_json::Value) -> ScanResult {
        serde_json::from_value(json).unwrap()
    }

    fn finding(id: &str, severity: &str, fixed: Option<&str>) -> serde_json::Value {
        serde_json::json!({"id": id, "severity": severity, "title": id, "installed": "1.0",
            "fixed": fixed, "package": {"name": "libc6", "version": "1.0", "ecosystem": "Debian", "location": {"path": "/var/lib/dpkg/status"}}})
    }

    fn rule(refuse: palisade_scan::Severity) -> VulnerabilityRule {
        VulnerabilityRule { refuse, max_age: Duration::from_secs(3600), scanner: None, ca: None }
    }

    #[test]
    fn fixable_findings_at_the_level_refuse_and_unfixable_or_lower_do_not() {
        let scan = |findings: Vec<serde_json::Value>, at: u64| {
            result(serde_json::json!({"repository": "app", "digest": "sha256:ab", "status": "done", "scanned_at": at,
                "report": {"target": "app", "packages": [], "layers": [], "warnings": [], "findings": findings}}))
        };
        let critical = rule(palisade_scan::Severity::Critical);
        let r = scan(vec![finding("CVE-1", "CRITICAL", Some("1.1")), finding("CVE-2", "CRITICAL", None)], 1000);
        let c = judge(&r, &critical, 1000);
        assert!(!c.passed && c.detail.contains("CVE-1") && !c.detail.contains("CVE-2"), "{}", c.detail);
        let r = scan(vec![finding("CVE-3", "HIGH", Some("1.1"))], 1000);
        assert!(judge(&r, &critical, 1000).passed);
        assert!(!judge(&r, &rule(palisade_scan::Severity::High), 1000).passed);
        let stale = judge(&r, &critical, 1000 + 7200);
        assert!(!stale.passed && stale.detail.contains("old"), "{}", stale.detail);
        let pending = result(serde_json::json!({"repository": "app", "digest": "sha256:ab", "status": "queued"}));
        assert!(!judge(&pending, &critical, 0).passed);
    }
}
