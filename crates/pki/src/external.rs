//! An external CA that speaks the cfssl API (swarmkit's `ca/external.go`): node certificates are
//! signed by `POST <url>` with a cfssl `SignRequest`; Palisade never holds that CA's key.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::root_ca::ROOT_CA_COMMON_NAME;
use crate::{Clock, Error, NodeCertInfo, NodeRole, NodeSubject, Result, RootCa};

/// How long one signing request may take.
const SIGN_TIMEOUT: Duration = Duration::from_secs(15);

/// cfssl's `signer.SignRequest`, as swarmkit's `PrepareCSR` fills it.
#[derive(Serialize)]
struct SignRequest<'a> {
    hosts: Vec<String>,
    certificate_request: &'a str,
    subject: Subject,
}

#[derive(Serialize)]
struct Subject {
    #[serde(rename = "CN")]
    cn: String,
    names: Vec<Name>,
}

#[derive(Serialize)]
struct Name {
    #[serde(rename = "O")]
    o: String,
    #[serde(rename = "OU")]
    ou: String,
}

/// cfssl's `api.Response`.
#[derive(Deserialize)]
struct Response {
    success: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// A cfssl signing endpoint, reached over TLS verified against the CA it signs for.
#[derive(Debug, Clone)]
pub struct CfsslClient {
    url: String,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl CfsslClient {
    /// A client of `url` (which must be `https://`), trusting `trust` for the server's TLS
    /// certificate, with rustls judging validity by `clock`.
    pub fn new(url: &str, trust: &RootCa, clock: Arc<dyn Clock>) -> Result<Self> {
        if !url.starts_with("https://") {
            return Err(Error::ExternalCa(format!("external CA URL {url:?} must use https")));
        }
        let tls = crate::tls::external_client_config(trust, clock.clone())?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .timeout(SIGN_TIMEOUT)
            .build()
            .map_err(|e| Error::ExternalCa(e.to_string()))?;
        Ok(Self { url: url.to_owned(), http, clock })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Has the external CA sign `csr_pem` as a node certificate for `subject`, then checks that
    /// what came back is exactly that node's certificate and chains to `trust`.
    pub async fn sign(&self, csr_pem: &str, subject: &NodeSubject, trust: &RootCa) -> Result<String> {
        let ou = subject.role.organizational_unit().to_owned();
        let mut hosts = vec![ou.clone(), subject.node_id.to_string()];
        if subject.role == NodeRole::Manager {
            hosts.push(ROOT_CA_COMMON_NAME.to_owned());
        }
        let request = SignRequest {
            hosts,
            certificate_request: csr_pem,
            subject: Subject { cn: subject.node_id.to_string(), names: vec![Name { o: subject.cluster_id.to_string(), ou }] },
        };
        let response = self.http.post(&self.url).json(&request).send().await.map_err(|e| self.failed(&e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.failed(&e))?;
        if !status.is_success() {
            return Err(Error::ExternalCa(format!("{} answered {status}: {}", self.url, String::from_utf8_lossy(&body))));
        }
        let response: Response = serde_json::from_slice(&body).map_err(|e| Error::ExternalCa(format!("{}: invalid response: {e}", self.url)))?;
        if !response.success {
            return Err(Error::ExternalCa(format!("{} refused to sign: {:?}", self.url, response.errors)));
        }
        let cert_pem = response
            .result
            .as_ref()
            .and_then(|r| r.get("certificate"))
            .and_then(|c| c.as_str())
            .ok_or_else(|| Error::ExternalCa(format!("{}: response has no certificate", self.url)))?
            .to_owned();
        let issued = NodeCertInfo::from_pem(&cert_pem)?;
        if issued.node_id != subject.node_id || issued.role != subject.role || issued.cluster_id != subject.cluster_id {
            return Err(Error::ExternalCa(format!("{} issued a certificate for another subject", self.url)));
        }
        crate::tls::verify_node_chain(trust, &cert_pem, self.clock.now())?;
        Ok(cert_pem)
    }

    fn failed(&self, e: &reqwest::Error) -> Error {
        let mut message = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Error::ExternalCa(format!("cannot reach external CA {}: {message}", self.url))
    }
}

/// cfssl's `info` endpoint beside a `sign` endpoint.
fn info_url(sign_url: &str) -> String {
    match sign_url.strip_suffix("/sign") {
        Some(base) => format!("{base}/info"),
        None => format!("{}/info", sign_url.trim_end_matches('/')),
    }
}

/// Fetches the certificate an external CA signs with (cfssl `info`), trusting it on first use:
/// the TLS server is not authenticated for this one call. Every later call to the CA is
/// verified against the certificate fetched here, so a substituted CA cannot sign anything
/// the real one's clients would accept unless it also serves the sign endpoint. Operators who
/// want the CA pinned pass its certificate instead (`docker swarm ca --rotate --ca-cert`).
pub async fn fetch_external_ca_certificate(sign_url: &str) -> Result<String> {
    if !sign_url.starts_with("https://") {
        return Err(Error::ExternalCa(format!("external CA URL {sign_url:?} must use https")));
    }
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(crate::tls::bootstrap_client_config()?)
        .timeout(SIGN_TIMEOUT)
        .build()
        .map_err(|e| Error::ExternalCa(e.to_string()))?;
    let url = info_url(sign_url);
    let unreachable = |e: reqwest::Error| Error::ExternalCa(format!("cannot reach external CA {url}: {e}"));
    let response = http.post(&url).json(&serde_json::json!({})).send().await.map_err(unreachable)?;
    let body: Response = response.json().await.map_err(|e| Error::ExternalCa(format!("{url}: invalid response: {e}")))?;
    body.result
        .as_ref()
        .and_then(|r| r.get("certificate"))
        .and_then(|c| c.as_str())
        .filter(|_| body.success)
        .map(str::to_owned)
        .ok_or_else(|| Error::ExternalCa(format!("{url} did not return its CA certificate: {:?}", body.errors)))
}
