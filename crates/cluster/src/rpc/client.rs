//! The cluster port's client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use palisade_engine_api::ApiError;
use palisade_pki::tls::{bootstrap_client_config, client_config, MANAGER_SERVER_NAME};
use palisade_pki::{Clock, NodeKey, RootCa};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    ControlCall, ControlReply, HeartbeatRequest, HeartbeatResponse, JoinCertRequest, JoinCertResponse, RenewRequest,
    RenewResponse, RootCaResponse, CONTROL_PATH, HEARTBEAT_PATH, JOIN_PATH, RENEW_PATH, ROOT_CA_PATH,
};
use crate::error::internal;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of one manager's cluster port.
#[derive(Debug, Clone)]
pub(crate) struct ManagerClient {
    http: reqwest::Client,
    base: String,
    addr: String,
}

impl ManagerClient {
    /// A client that does not authenticate the manager: only for [`ManagerClient::root_ca`],
    /// whose answer the caller checks against its join token.
    pub(crate) async fn bootstrap(addr: &str) -> Result<Self, ApiError> {
        let config = bootstrap_client_config().map_err(|e| internal("TLS", e))?;
        Self::build(addr, config).await
    }

    /// A client that verifies the manager against `trust` and presents `identity` if given.
    pub(crate) async fn new(addr: &str, trust: &RootCa, identity: Option<(&str, &NodeKey)>, clock: Arc<dyn Clock>) -> Result<Self, ApiError> {
        let config = client_config(trust, identity, clock).map_err(|e| internal("TLS", e))?;
        Self::build(addr, config).await
    }

    async fn build(addr: &str, config: rustls::ClientConfig) -> Result<Self, ApiError> {
        let socket = resolve(addr).await?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .resolve(MANAGER_SERVER_NAME, socket)
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| internal("HTTP client", e))?;
        Ok(Self { http, base: format!("https://{MANAGER_SERVER_NAME}:{}", socket.port()), addr: addr.to_owned() })
    }

    pub(crate) async fn root_ca(&self) -> Result<String, ApiError> {
        let response = self.http.get(format!("{}{ROOT_CA_PATH}", self.base)).send().await.map_err(|e| self.unreachable(e))?;
        Ok(decode::<RootCaResponse>(response).await?.root_ca_pem)
    }

    pub(crate) async fn join(&self, request: &JoinCertRequest) -> Result<JoinCertResponse, ApiError> {
        self.post(JOIN_PATH, request).await
    }

    pub(crate) async fn heartbeat(&self, request: &HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        self.post(HEARTBEAT_PATH, request).await
    }

    pub(crate) async fn renew(&self, request: &RenewRequest) -> Result<RenewResponse, ApiError> {
        self.post(RENEW_PATH, request).await
    }

    pub(crate) async fn control(&self, call: &ControlCall) -> Result<ControlReply, ApiError> {
        self.post(CONTROL_PATH, call).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ApiError> {
        let response = self.http.post(format!("{}{path}", self.base)).json(body).send().await.map_err(|e| self.unreachable(e))?;
        decode(response).await
    }

    fn unreachable(&self, e: reqwest::Error) -> ApiError {
        // reqwest's Display omits the cause chain, which holds the TLS reason.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        ApiError::unavailable(format!("cannot reach manager {}: {message}", self.addr))
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiError> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| ApiError::unavailable(format!("reading manager response: {e}")))?;
    if !status.is_success() {
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        return Err(ApiError::new(status, message));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::internal(format!("invalid manager response: {e}")))
}

async fn resolve(addr: &str) -> Result<SocketAddr, ApiError> {
    let invalid = || ApiError::bad_request(format!("invalid manager address {addr:?}: expected HOST:PORT"));
    let mut addrs = tokio::net::lookup_host(addr).await.map_err(|_| invalid())?;
    addrs.next().ok_or_else(invalid)
}
