//! Scan-on-push for `palisade up`'s registry: the registry tells the scan service of every
//! committed manifest push, the service scans it in the background, and results are served
//! (with the registry's own auth: pull access to the repository) at
//! `GET /scan/v1/<repository>/manifests/<digest>`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_registry::auth::{Action, Denial};
use palisade_registry::storage::Store;
use palisade_registry::{Digest, ManifestObserver, PushedManifest, Reference, Registry, RepoName};
use palisade_scan::{BlobSource, RegistryContent, ScanService, ScanStatus, ServiceOptions};

/// The registry's storage as the scanner reads it.
struct Content(Store);

fn invalid(e: impl ToString) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string())
}

impl BlobSource for Content {
    fn open(&self, digest: &str) -> std::io::Result<Box<dyn Read + '_>> {
        let d: Digest = digest.parse().map_err(invalid)?;
        let r = self.0.open_blob(&d, 0).map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?;
        Ok(Box::new(r))
    }
}

impl RegistryContent for Content {
    fn manifest(&self, repo: &str, digest: &str) -> std::io::Result<Vec<u8>> {
        let repo: RepoName = repo.parse().map_err(invalid)?;
        let reference: Reference = digest.parse().map_err(invalid)?;
        Ok(self.0.get_manifest(&repo, &reference).map_err(|e| std::io::Error::new(std::io::ErrorKind::NotFound, e.to_string()))?.bytes)
    }
}

struct Observer(Arc<ScanService>);

impl ManifestObserver for Observer {
    fn manifest_pushed(&self, pushed: &PushedManifest) {
        self.0.enqueue(pushed.repo.as_str(), &pushed.digest.to_string());
    }
}

/// Starts the service (results and advisory database under `dir`) and hooks it to `registry`.
pub(crate) fn start(registry: &Registry, dir: &Path) -> anyhow::Result<Arc<ScanService>> {
    let content = Arc::new(Content(registry.store().clone()));
    let service = ScanService::start(dir, content, ServiceOptions::default())?;
    registry.set_observer(Arc::new(Observer(service.clone())));
    Ok(service)
}

#[derive(Clone)]
struct Api {
    registry: Registry,
    service: Arc<ScanService>,
}

/// `GET /scan/v1/<repository>/manifests/<digest>`.
pub(crate) fn routes(registry: Registry, service: Arc<ScanService>) -> axum::Router {
    axum::Router::new().route("/scan/v1/{*path}", axum::routing::get(result)).with_state(Api { registry, service })
}

fn json(status: StatusCode, v: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({"errors": [{"code": status.canonical_reason().unwrap_or("ERROR").to_uppercase().replace(' ', "_"), "message": message}]}))
}

async fn result(State(api): State<Api>, UrlPath(path): UrlPath<String>, headers: HeaderMap) -> Response {
    let Some((repo, digest)) = path.rsplit_once("/manifests/") else {
        return error(StatusCode::NOT_FOUND, "expected /scan/v1/<repository>/manifests/<digest>");
    };
    let (Ok(repo), Ok(digest)) = (repo.parse::<RepoName>(), digest.parse::<Digest>()) else {
        return error(StatusCode::BAD_REQUEST, "invalid repository name or digest");
    };
    // The registry's own auth decides: pull access to the repository.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_owned();
    let (auth_reg, auth_headers, auth_repo) = (api.registry.clone(), headers.clone(), repo.clone());
    let verdict = tokio::task::spawn_blocking(move || {
        auth_reg.auth().authorize(&auth_headers, &[(auth_repo, Action::Pull)], &format!("https://{host}"))
    })
    .await;
    match verdict {
        Ok(Ok(_)) => {}
        Ok(Err(Denial::Unauthorized { challenge })) => {
            let mut r = error(StatusCode::UNAUTHORIZED, "authentication required");
            if let Ok(v) = challenge.parse() {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            return r;
        }
        Ok(Err(Denial::Denied)) => return error(StatusCode::FORBIDDEN, "no pull access to this repository"),
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
    // Only manifests that exist in that repository.
    let (store, r, d) = (api.registry.store().clone(), repo.clone(), digest.clone());
    let exists = tokio::task::spawn_blocking(move || store.get_manifest(&r, &Reference::Digest(d)).is_ok()).await.unwrap_or(false);
    if !exists {
        return error(StatusCode::NOT_FOUND, "manifest unknown to this repository");
    }
    let digest = digest.to_string();
    let service = api.service.clone();
    let found = tokio::task::spawn_blocking(move || service.result(&digest).map(|r| (r, digest))).await;
    match found {
        Ok(Ok((Some(r), _))) => {
            let status = if matches!(r.status, ScanStatus::Done | ScanStatus::Failed) { StatusCode::OK } else { StatusCode::ACCEPTED };
            match serde_json::to_value(&r) {
                Ok(v) => json(status, &v),
                Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
            }
        }
        // Pushed before scanning was on: scan it now.
        Ok(Ok((None, digest))) => {
            api.service.enqueue(repo.as_str(), &digest);
            json(StatusCode::ACCEPTED, &serde_json::json!({"repository": repo.as_str(), "digest": digest, "status": "queued"}))
        }
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}


/// The scan results as the console's repository page summarises them.
pub(crate) struct Summaries(pub(crate) Arc<ScanService>);

impl palisade_console::ScanLookup for Summaries {
    fn summary(&self, _repository: &str, digest: &str) -> palisade_console::ScanSummary {
        use palisade_console::{Findings, ScanSummary};
        use palisade_scan::Severity;
        let result = match self.0.result(digest) {
            Ok(Some(r)) => r,
            Ok(None) => return ScanSummary::NotScanned,
            Err(e) => return ScanSummary::Failed(e.to_string()),
        };
        match (result.status, result.report) {
            (ScanStatus::Queued | ScanStatus::Scanning, _) => ScanSummary::Pending,
            (ScanStatus::Dropped, _) => ScanSummary::NotScanned,
            (ScanStatus::Failed, _) => ScanSummary::Failed(result.error.unwrap_or_else(|| "unknown error".into())),
            (ScanStatus::Done, None) => ScanSummary::Failed("the scan left no report".into()),
            (ScanStatus::Done, Some(report)) => {
                let mut findings = Findings::default();
                for f in &report.findings {
                    let count = match f.severity {
                        Severity::Critical => &mut findings.critical,
                        Severity::High => &mut findings.high,
                        Severity::Medium => &mut findings.medium,
                        Severity::Low => &mut findings.low,
                        Severity::Unknown => &mut findings.unknown,
                    };
                    *count += 1;
                    findings.fixable += usize::from(f.fixed.is_some());
                }
                ScanSummary::Done { findings, packages: report.inventory.packages.len(), advisories: report.db_generation > 0 }
            }
        }
    }
}
