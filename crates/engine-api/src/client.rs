//! A minimal Engine-API client over a unix socket, for the `palisade` CLI verbs.

use std::path::{Path, PathBuf};

use bytes::Bytes;
pub use http::Method;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::routes::API_VERSION;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The daemon answered with an error.
    #[error("Error response from daemon: {message}")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The daemon's message.
        message: String,
    },
    /// The daemon could not be reached.
    #[error("cannot connect to the Palisade daemon at unix://{path}")]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP exchange failed.
    #[error("request to the daemon failed: {0}")]
    Http(String),
    /// The daemon's answer could not be decoded.
    #[error("unexpected response from the daemon: {0}")]
    Decode(String),
}

/// A client of one daemon socket.
#[derive(Debug, Clone)]
pub struct Client {
    socket: PathBuf,
}

impl Client {
    /// A client for `unix:///path` or a bare path.
    pub fn new(host: &str) -> Self {
        Self { socket: PathBuf::from(host.strip_prefix("unix://").unwrap_or(host)) }
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `GET path` decoded as `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(&self.call(Method::GET, path, None).await?)
    }

    /// `POST path` with a JSON body, decoded as `T`.
    pub async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Decode(e.to_string()))?;
        decode(&self.call(Method::POST, path, Some(body)).await?)
    }

    /// `POST path` with an optional JSON body, ignoring the response body.
    pub async fn post_empty<B: Serialize>(&self, path: &str, body: Option<&B>) -> Result<(), ClientError> {
        let body = body.map(serde_json::to_vec).transpose().map_err(|e| ClientError::Decode(e.to_string()))?;
        self.call(Method::POST, path, body).await.map(drop)
    }

    /// `DELETE path` decoded as `T`.
    pub async fn delete_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        decode(&self.call(Method::DELETE, path, None).await?)
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.call(Method::DELETE, path, None).await.map(drop)
    }

    /// `POST path` with a raw body of `content_type`; returns the response body.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<Bytes, ClientError> {
        self.raw(Method::POST, path, content_type, body).await
    }

    /// `PUT path` with a raw body of `content_type` (a tar for `/containers/{ref}/archive`);
    /// returns the response body.
    pub async fn put_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Result<Bytes, ClientError> {
        self.raw(Method::PUT, path, content_type, body).await
    }

    async fn raw(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>) -> Result<Bytes, ClientError> {
        let response = self.send(method, path, Some((content_type, body))).await?;
        collect(response).await
    }

    /// `method path`, handing each chunk of the response body to `sink` as it arrives (for
    /// followed logs and other long-lived streams).
    pub async fn stream(&self, method: Method, path: &str, sink: impl FnMut(Bytes)) -> Result<(), ClientError> {
        read_chunks(self.open(method, path).await?, sink).await
    }

    /// Sends `method path` and returns once the response headers arrived (an error status is
    /// an error); read the body with [`read_chunks`]. Lets a caller attach before it starts.
    pub async fn open(&self, method: Method, path: &str) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        self.open_with_headers(method, path, &[]).await
    }

    /// [`Self::open`] with extra request headers (such as `X-Registry-Auth`).
    pub async fn open_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let response = self.send_with_headers(method, path, None, headers).await?;
        if is_error(response.status()) {
            return collect(response).await.and_then(|_| Err(ClientError::Decode("error status".into())));
        }
        Ok(response)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        self.send_with_headers(method, path, body, &[]).await
    }

    async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Result<http::Response<hyper::body::Incoming>, ClientError> {
        let stream = tokio::net::UnixStream::connect(&self.socket)
            .await
            .map_err(|source| ClientError::Connect { path: self.socket.clone(), source })?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header("Host", "palisade")
            .header("User-Agent", concat!("palisade/", env!("CARGO_PKG_VERSION")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = match body {
            Some((content_type, bytes)) => {
                request = request.header("Content-Type", content_type);
                bytes
            }
            None => Vec::new(),
        };
        let request = request.body(Full::new(Bytes::from(body))).map_err(|e| ClientError::Http(e.to_string()))?;
        sender.send_request(request).await.map_err(|e| ClientError::Http(e.to_string()))
    }

    /// A JSON request whose whole answer is read, or the daemon's error.
    async fn call(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes, ClientError> {
        let response = self.send(method, path, body.map(|bytes| ("application/json", bytes))).await?;
        collect(response).await
    }
}

/// Hands each chunk of `response`'s body to `sink` until it ends.
pub async fn read_chunks(mut response: http::Response<hyper::body::Incoming>, mut sink: impl FnMut(Bytes)) -> Result<(), ClientError> {
    while let Some(frame) = response.body_mut().frame().await {
        let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            sink(data);
        }
    }
    Ok(())
}

fn is_error(status: StatusCode) -> bool {
    status.is_client_error() || status.is_server_error()
}

/// The whole body, or the daemon's error.
async fn collect(response: http::Response<hyper::body::Incoming>) -> Result<Bytes, ClientError> {
    let status = response.status();
    let bytes = response.into_body().collect().await.map_err(|e| ClientError::Http(e.to_string()))?.to_bytes();
    if is_error(status) {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        return Err(ClientError::Api { status, message });
    }
    Ok(bytes)
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|e| ClientError::Decode(e.to_string()))
}
