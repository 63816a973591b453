//! HTTP to a Notary v1 server (notary `storage/httpstore.go`): metadata GETs with size caps,
//! server key GET/POST, and the multipart publish. Authentication follows the 401 challenge:
//! a Bearer challenge fetches a token with Basic credentials (the registry client's code).

use std::path::{Path, PathBuf};

use http::{header, Method, StatusCode};
use palisade_registry::client::auth::AuthSession;
use secrecy::{ExposeSecret as _, SecretString};

use super::error::{ClientError, ClientResult};
use super::trust_dir::docker_config_dir;
use crate::key::Key;
use crate::names::{Gun, RoleName};

/// docker's trust server for Docker Hub images.
pub const DEFAULT_SERVER: &str = "https://notary.docker.io";
/// Environment variable naming the trust server.
pub const SERVER_ENV: &str = "DOCKER_CONTENT_TRUST_SERVER";
/// Largest timestamp accepted (notary: 1 MiB).
pub(crate) const MAX_TIMESTAMP: u64 = 1 << 20;
/// Largest other metadata when no length is known (notary: 100 MiB).
pub(crate) const MAX_METADATA: u64 = 100 << 20;

/// How to reach a trust server.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// `https://host[:port]`.
    pub server: String,
    /// PEM CA files to trust (empty: the system roots).
    pub ca_files: Vec<PathBuf>,
    /// User and password for the token service.
    pub credentials: Option<(String, SecretString)>,
    /// A bearer token already issued for the repository's scope, used instead of
    /// `credentials` (an in-process caller, such as the registry's console, that authenticated
    /// its user itself).
    pub token: Option<SecretString>,
}

impl RemoteOptions {
    /// docker's choice for images on `registry`: `server` (from `DOCKER_CONTENT_TRUST_SERVER`)
    /// if given, else notary.docker.io for Docker Hub, else `https://<registry>`; CA files
    /// `<docker config>/tls/<host:port>/*.crt` when that directory exists (else system roots).
    pub fn for_registry(
        server: Option<&str>,
        registry: &str,
        credentials: Option<(String, SecretString)>,
    ) -> ClientResult<Self> {
        let server = match server.filter(|s| !s.is_empty()) {
            Some(s) => s.to_owned(),
            None if matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io") => DEFAULT_SERVER.to_owned(),
            None => format!("https://{registry}"),
        };
        let ca_files = match docker_config_dir() {
            Ok(dir) => ca_files_for(&dir, &server)?,
            Err(_) => Vec::new(),
        };
        Ok(Self { server, ca_files, credentials, token: None })
    }
}

fn host_port(server: &str) -> ClientResult<&str> {
    let rest = server
        .strip_prefix("https://")
        .ok_or_else(|| ClientError::Invalid(format!("valid https URL required for trust server, got {server}")))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(ClientError::Invalid(format!("valid https URL required for trust server, got {server}")));
    }
    Ok(host)
}

/// `*.crt` files in `<docker config>/tls/<host:port>/`, sorted.
fn ca_files_for(docker_config: &Path, server: &str) -> ClientResult<Vec<PathBuf>> {
    let dir = docker_config.join("tls").join(host_port(server)?);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(Vec::new()) };
    let mut files: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "crt")).collect();
    files.sort();
    Ok(files)
}

/// A connection to one GUN on a trust server.
pub(crate) struct NotaryRemote {
    http: reqwest::Client,
    base: String,
    gun: Gun,
    auth: AuthSession,
}

impl NotaryRemote {
    /// `push` asks the token service for `pull,push` (else `pull`).
    pub(crate) fn new(gun: &Gun, opts: &RemoteOptions, push: bool) -> ClientResult<Self> {
        host_port(&opts.server)?;
        let cas: Vec<&Path> = opts.ca_files.iter().map(PathBuf::as_path).collect();
        let tls = palisade_registry::client::tls_config(&cas)?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")))
            .use_preconfigured_tls(tls)
            .build()
            .map_err(|source| ClientError::Http { url: opts.server.clone(), source })?;
        let scope = format!("repository:{gun}:{}", if push { "pull,push" } else { "pull" });
        let credentials = opts.credentials.as_ref().map(|(u, p)| (u.as_str(), p.expose_secret()));
        let auth = match &opts.token {
            Some(token) => AuthSession::with_token(token, scope, "trust server"),
            None => AuthSession::new(credentials, scope, "trust server"),
        };
        Ok(Self { http, base: opts.server.trim_end_matches('/').to_owned(), gun: gun.clone(), auth })
    }

    /// The server URL (for messages).
    pub(crate) fn server(&self) -> &str {
        &self.base
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/_trust/tuf/{tail}", self.base, self.gun)
    }

    /// Sends a request; on 401 authenticates per the challenge and retries once.
    async fn send(
        &self,
        method: Method,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> ClientResult<reqwest::Response> {
        Ok(self.auth.send(&self.http, method, url, |r| Ok(build(r))).await?)
    }

    /// The failure for an unexpected status, with the start of the body (at most
    /// `MAX_ERROR_BYTES` of it are read).
    async fn fail(resp: reqwest::Response, method: &'static str, url: &str) -> ClientError {
        let status = resp.status().as_u16();
        let body = palisade_registry::client::error_text(resp).await.chars().take(500).collect();
        ClientError::Status { method, url: url.to_owned(), status, body }
    }

    /// Reads a body, failing once it exceeds `limit` bytes (never reading past it).
    async fn body(resp: reqwest::Response, url: &str, limit: u64) -> ClientResult<Vec<u8>> {
        palisade_registry::client::read_capped(resp, limit)
            .await
            .map_err(|source| ClientError::Http { url: url.to_owned(), source })?
            .ok_or_else(|| ClientError::TooLarge { url: url.to_owned(), limit })
    }

    /// `GET …/_trust/tuf/<file>`: `None` on 404.
    pub(crate) async fn metadata(&self, file: &str, limit: u64) -> ClientResult<Option<Vec<u8>>> {
        let url = self.url(file);
        let resp = self.send(Method::GET, &url, |r| r).await?;
        match resp.status() {
            StatusCode::OK => Self::body(resp, &url, limit).await.map(Some),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(Self::fail(resp, "GET", &url).await),
        }
    }

    /// `GET` (or with `rotate`, `POST`) `…/_trust/tuf/<role>.key`: a server-held public key.
    pub(crate) async fn server_key(&self, role: &RoleName, rotate: bool) -> ClientResult<Key> {
        let url = self.url(&format!("{role}.key"));
        let (method, name) = if rotate { (Method::POST, "POST") } else { (Method::GET, "GET") };
        let resp = self.send(method, &url, |r| if rotate { r.header(header::CONTENT_LENGTH, 0) } else { r }).await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::fail(resp, name, &url).await);
        }
        let bytes = Self::body(resp, &url, 1 << 16).await?;
        serde_json::from_slice(&bytes)
            .map_err(|source| ClientError::Tuf(crate::Error::MetadataParse { role: format!("{role}.key"), source }))
    }

    /// `POST …/_trust/tuf/`: one multipart part `files` per role, named by the role.
    pub(crate) async fn publish(&self, parts: &[(RoleName, Vec<u8>)]) -> ClientResult<()> {
        let url = self.url("");
        let resp = self
            .send(Method::POST, &url, |r| {
                let mut form = reqwest::multipart::Form::new();
                for (role, bytes) in parts {
                    let part = reqwest::multipart::Part::bytes(bytes.clone())
                        .file_name(role.as_str().to_owned())
                        .mime_str("application/octet-stream")
                        .unwrap_or_else(|_| reqwest::multipart::Part::bytes(bytes.clone()).file_name(role.as_str().to_owned()));
                    form = form.part("files", part);
                }
                r.multipart(form)
            })
            .await?;
        if resp.status() != StatusCode::OK {
            return Err(Self::fail(resp, "POST", &url).await);
        }
        Ok(())
    }
}
