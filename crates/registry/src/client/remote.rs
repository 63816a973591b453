//! HTTP calls to one repository on a registry, with authentication on demand.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::{header, Method, StatusCode};
use reqwest::{RequestBuilder, Response};

use super::auth::AuthSession;
use super::limits::{error_text, read_capped, MAX_MANIFEST_BYTES};
use super::{io_err, ClientError, ClientResult, ImageRef};
use crate::Digest;

/// Manifest media types this client asks for.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
application/vnd.docker.distribution.manifest.list.v2+json";

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// PEM CA bundle to trust instead of the system roots.
    pub tls_ca: Option<PathBuf>,
    /// Use plain `http://` (never falls back silently; TLS is the default).
    pub insecure: bool,
    /// Username and password for Basic or token auth.
    pub credentials: Option<(String, String)>,
}

/// A client for one repository.
#[derive(Debug)]
pub struct RemoteClient {
    http: reqwest::Client,
    base: String,
    repo: String,
    auth: AuthSession,
}

fn http_err(url: &str) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
    move |source| ClientError::Http { url: url.to_owned(), source }
}

/// A rustls client config trusting the PEM CA files `cas`, or the system roots when empty.
pub fn tls_config(cas: &[&Path]) -> ClientResult<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in cas {
        use rustls_pki_types::pem::PemObject;
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(ca)
            .map_err(|e| ClientError::Tls(format!("{}: {e}", ca.display())))?;
        for c in certs {
            let c = c.map_err(|e| ClientError::Tls(format!("{}: {e}", ca.display())))?;
            roots.add(c).map_err(|e| ClientError::Tls(e.to_string()))?;
        }
    }
    if cas.is_empty() {
        // The system trust store (SSL_CERT_FILE / SSL_CERT_DIR honoured).
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(ClientError::Tls("no system CA certificates found: pass --tls-ca FILE".into()));
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// An HTTP client for `registry` and its base URL (`https://host[:port]`).
fn http_client(registry: &str, opts: &ClientOptions) -> ClientResult<(reqwest::Client, String)> {
    let mut b = reqwest::Client::builder().user_agent(concat!("palisade/", env!("CARGO_PKG_VERSION")));
    let scheme = if opts.insecure {
        "http"
    } else {
        let cas: Vec<&Path> = opts.tls_ca.as_deref().into_iter().collect();
        b = b.use_preconfigured_tls(tls_config(&cas)?);
        "https"
    };
    let http = b.build().map_err(http_err(registry))?;
    Ok((http, format!("{scheme}://{registry}")))
}

/// `docker login`: checks `opts.credentials` against `registry` (`host[:port]`) by asking for
/// its API root, authenticating as its challenge says (a token without any scope, or Basic).
/// Wrong credentials are [`ClientError::Auth`] or a 401 [`ClientError::Status`].
pub async fn login(registry: &str, opts: &ClientOptions) -> ClientResult<()> {
    let (http, base) = http_client(registry, opts)?;
    let credentials = opts.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
    let auth = AuthSession::new(credentials, String::new(), "registry");
    let url = format!("{base}/v2/");
    let resp = auth.send(&http, Method::GET, &url, Ok).await?;
    RemoteClient::expect(resp, "GET", &url, &[StatusCode::OK]).await.map(|_| ())
}

impl RemoteClient {
    /// A client for `image`'s repository; `push` selects the token scope (`pull,push`).
    pub fn new(image: &ImageRef, opts: &ClientOptions, push: bool) -> ClientResult<Self> {
        Self::with_sources(image, opts, push, &[])
    }

    /// As [`Self::new`], with the token also asking to pull from `sources` (repositories of
    /// the same registry that blobs may be mounted from).
    pub fn with_sources(image: &ImageRef, opts: &ClientOptions, push: bool, sources: &[&str]) -> ClientResult<Self> {
        let (http, base) = http_client(&image.registry, opts)?;
        let mut scope = format!("repository:{}:{}", image.repo, if push { "pull,push" } else { "pull" });
        for source in sources {
            scope.push_str(&format!(" repository:{source}:pull"));
        }
        let credentials = opts.credentials.as_ref().map(|(u, p)| (u.as_str(), p.as_str()));
        Ok(Self { http, base, repo: image.repo.to_string(), auth: AuthSession::new(credentials, scope, "registry") })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repo)
    }

    fn resolve(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Send a request built by `build`; on 401, authenticate per the challenge and retry once.
    async fn send(&self, method: Method, url: &str, build: impl Fn(RequestBuilder) -> ClientResult<RequestBuilder>) -> ClientResult<Response> {
        self.auth.send(&self.http, method, url, build).await
    }

    async fn expect(resp: Response, method: &str, url: &str, ok: &[StatusCode]) -> ClientResult<Response> {
        if ok.contains(&resp.status()) {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let body = error_text(resp).await.chars().take(500).collect();
        Err(ClientError::Status { method: method.to_owned(), url: url.to_owned(), status, body })
    }

    /// Whether the registry has the blob in this repository.
    pub async fn blob_exists(&self, digest: &Digest) -> ClientResult<bool> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::HEAD, &url, Ok).await?;
        match resp.status() {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Self::expect(resp, "HEAD", &url, &[]).await.map(|_| false),
        }
    }

    /// Cross-repository mount (`POST blobs/uploads/?mount=DIGEST&from=SOURCE`): whether the
    /// registry linked the blob of `source` into this repository. A registry that does not
    /// (the blob is not there, or the caller may not read `source`) starts an upload instead,
    /// which is cancelled here: the caller uploads the blob itself.
    pub async fn mount_blob(&self, digest: &Digest, source: &str) -> ClientResult<bool> {
        let url = self.url(&format!("blobs/uploads/?mount={digest}&from={source}"));
        let resp = self.send(Method::POST, &url, |r| Ok(r.header(header::CONTENT_LENGTH, 0))).await?;
        if resp.status() == StatusCode::CREATED {
            return Ok(true);
        }
        if resp.status() == StatusCode::ACCEPTED {
            if let Some(location) = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
                let _ = self.send(Method::DELETE, &self.resolve(location), Ok).await;
            }
        }
        Ok(false)
    }

    /// Upload a local file as a blob (POST, then one streamed PUT); `on_bytes` sees progress.
    pub async fn push_blob(&self, digest: &Digest, file: &Path, size: u64, on_bytes: impl Fn(u64) + Send + Sync + Clone + 'static) -> ClientResult<()> {
        let start = self.url("blobs/uploads/");
        let resp = self.send(Method::POST, &start, |r| Ok(r.header(header::CONTENT_LENGTH, 0))).await?;
        let resp = Self::expect(resp, "POST", &start, &[StatusCode::ACCEPTED]).await?;
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ClientError::Invalid("upload without a Location".into()))?;
        let mut put = self.resolve(location);
        put.push(if put.contains('?') { '&' } else { '?' });
        put.push_str(&format!("digest={digest}"));
        let resp = self
            .send(Method::PUT, &put, |r| {
                let f = std::fs::File::open(file).map_err(io_err(file))?;
                let stream = file_stream(tokio::fs::File::from_std(f), on_bytes.clone());
                Ok(r.header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_LENGTH, size)
                    .body(reqwest::Body::wrap_stream(stream)))
            })
            .await?;
        Self::expect(resp, "PUT", &put, &[StatusCode::CREATED]).await.map(|_| ())
    }

    /// Store a manifest under a tag or digest.
    pub async fn put_manifest(&self, reference: &str, media_type: &str, bytes: &Bytes) -> ClientResult<()> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send(Method::PUT, &url, |r| Ok(r.header(header::CONTENT_TYPE, media_type).body(bytes.clone())))
            .await?;
        Self::expect(resp, "PUT", &url, &[StatusCode::CREATED]).await.map(|_| ())
    }

    /// Fetch a manifest of at most [`MAX_MANIFEST_BYTES`]: (media type, bytes).
    pub async fn get_manifest(&self, reference: &str) -> ClientResult<(String, Bytes)> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self.send(Method::GET, &url, |r| Ok(r.header(header::ACCEPT, MANIFEST_ACCEPT))).await?;
        let resp = Self::expect(resp, "GET", &url, &[StatusCode::OK]).await?;
        let media = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = read_capped(resp, MAX_MANIFEST_BYTES)
            .await
            .map_err(http_err(&url))?
            .ok_or(ClientError::TooLarge { url: url.clone(), what: "manifest", limit: MAX_MANIFEST_BYTES })?;
        Ok((media, Bytes::from(bytes)))
    }

    /// A small blob (an image config) of at most `limit` bytes, in memory, checked against its
    /// digest.
    pub async fn get_blob_bytes(&self, digest: &Digest, limit: u64) -> ClientResult<Bytes> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, Ok).await?;
        let resp = Self::expect(resp, "GET", &url, &[StatusCode::OK]).await?;
        let bytes = read_capped(resp, limit)
            .await
            .map_err(http_err(&url))?
            .ok_or(ClientError::TooLarge { url: url.clone(), what: "blob", limit })?;
        super::copy::check_digest(digest, &bytes)?;
        Ok(Bytes::from(bytes))
    }

    /// Download a blob of at most `size` bytes (its descriptor's) into `dest` (written as a temp
    /// file, renamed once the digest checks; a longer body is cut off and refused).
    pub async fn get_blob(&self, digest: &Digest, size: u64, dest: &Path, on_bytes: impl Fn(u64)) -> ClientResult<()> {
        use tokio::io::AsyncWriteExt as _;
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self.send(Method::GET, &url, Ok).await?;
        let resp = Self::expect(resp, "GET", &url, &[StatusCode::OK]).await?;
        let tmp = dest.with_extension("partial");
        let mut out = tokio::fs::File::create(&tmp).await.map_err(io_err(&tmp))?;
        let mut hasher = digest.algorithm().hasher();
        let mut stream = resp.bytes_stream();
        let mut seen = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(http_err(&url))?;
            seen += chunk.len() as u64;
            if seen > size {
                drop(out);
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(ClientError::TooLarge { url, what: "blob", limit: size });
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(io_err(&tmp))?;
            on_bytes(chunk.len() as u64);
        }
        out.flush().await.map_err(io_err(&tmp))?;
        drop(out);
        let actual = hasher.finish();
        if actual != *digest {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ClientError::DigestMismatch { expected: digest.to_string(), actual: actual.to_string() });
        }
        tokio::fs::rename(&tmp, dest).await.map_err(io_err(dest))
    }
}

fn file_stream(file: tokio::fs::File, on_bytes: impl Fn(u64) + Send + Sync + 'static) -> impl Stream<Item = std::io::Result<Bytes>> {
    tokio_util::io::ReaderStream::with_capacity(file, 1024 * 1024).map(move |r| {
        if let Ok(b) = &r {
            on_bytes(b.len() as u64);
        }
        r
    })
}
