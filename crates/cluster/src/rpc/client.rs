//! The cluster port's client, and a cache of clients per manager.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_pki::tls::{bootstrap_client_config, client_config, MANAGER_SERVER_NAME};
use palisade_pki::{Clock, NodeKey, RootCa};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{
    ControlCall, ControlReply, JoinCertRequest, JoinCertResponse, NodeCall, RootCaResponse, CONTROL_PATH, JOIN_PATH,
    NODE_PATH, RAFT_PATH, ROOT_CA_PATH,
};
use crate::error::{Error, Result};
use crate::identity::IdentityCell;

/// Cluster calls wait at most this long; raft calls carry their own, shorter deadlines.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

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
    pub(crate) async fn bootstrap(addr: &str) -> Result<Self> {
        let config = bootstrap_client_config().map_err(|e| Error::internal("TLS", e))?;
        Self::build(addr, config).await
    }

    /// A client that verifies the manager against `trust` and presents `identity` if given.
    pub(crate) async fn new(
        addr: &str,
        trust: &RootCa,
        identity: Option<(&str, &NodeKey)>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let config = client_config(trust, identity, clock).map_err(|e| Error::internal("TLS", e))?;
        Self::build(addr, config).await
    }

    async fn build(addr: &str, config: rustls::ClientConfig) -> Result<Self> {
        let socket = resolve(addr).await?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config)
            .resolve(MANAGER_SERVER_NAME, socket)
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::internal("HTTP client", e))?;
        Ok(Self { http, base: format!("https://{MANAGER_SERVER_NAME}:{}", socket.port()), addr: addr.to_owned() })
    }

    pub(crate) async fn root_ca(&self) -> Result<String> {
        let response =
            self.http.get(format!("{}{ROOT_CA_PATH}", self.base)).send().await.map_err(|e| self.unreachable(e))?;
        Ok(decode::<RootCaResponse>(response).await?.root_ca_pem)
    }

    pub(crate) async fn join(&self, request: &JoinCertRequest) -> Result<JoinCertResponse> {
        self.post(JOIN_PATH, request).await
    }

    /// A node's own call, answered by the leader.
    pub(crate) async fn node(&self, call: &NodeCall) -> Result<ControlReply> {
        self.post(NODE_PATH, call).await
    }

    pub(crate) async fn control(&self, call: &ControlCall) -> Result<ControlReply> {
        self.post(CONTROL_PATH, call).await
    }

    /// One raft message (bytes in the store's wire format) with a deadline.
    pub(crate) async fn raft(&self, body: Vec<u8>, timeout: Duration) -> Result<Vec<u8>> {
        let response = self
            .http
            .post(format!("{}{RAFT_PATH}", self.base))
            .timeout(timeout)
            .header(http::header::CONTENT_TYPE, "application/octet-stream")
            .body(body)
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        if !status.is_success() {
            return Err(remote_error(status, &bytes));
        }
        Ok(bytes.to_vec())
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        let response =
            self.http.post(format!("{}{path}", self.base)).json(body).send().await.map_err(|e| self.unreachable(e))?;
        decode(response).await
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        // reqwest's Display omits the cause chain, which holds the TLS reason.
        let mut message = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        Error::Unavailable(format!("cannot reach manager {}: {message}", self.addr))
    }
}

async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T> {
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| Error::Unavailable(format!("reading manager response: {e}")))?;
    if !status.is_success() {
        return Err(remote_error(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|e| Error::internal("manager response", e))
}

/// A manager's error answer, passed on with its status.
fn remote_error(status: reqwest::StatusCode, body: &[u8]) -> Error {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    Error::Remote { status: status.as_u16(), message }
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    let invalid = || Error::invalid(format!("invalid manager address {addr:?}: expected HOST:PORT"));
    let mut addrs = tokio::net::lookup_host(addr).await.map_err(|_| invalid())?;
    addrs.next().ok_or_else(invalid)
}

/// Clients to other managers that present this node's current certificate, kept per address
/// so connections are reused; a renewed certificate makes new ones.
pub(crate) struct ManagerClients {
    identity: Arc<IdentityCell>,
    clock: Arc<dyn Clock>,
    cache: Mutex<HashMap<String, (String, ManagerClient)>>,
}

impl ManagerClients {
    pub(crate) fn new(identity: Arc<IdentityCell>, clock: Arc<dyn Clock>) -> Self {
        Self { identity, clock, cache: Mutex::new(HashMap::new()) }
    }

    pub(crate) async fn get(&self, addr: &str) -> Result<ManagerClient> {
        let identity = self.identity.get();
        let serial = identity.cert.serial_hex.clone();
        if let Some((cached_serial, client)) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(addr) {
            if *cached_serial == serial {
                return Ok(client.clone());
            }
        }
        let client =
            ManagerClient::new(addr, &identity.root, Some((&identity.cert_pem, &identity.key)), self.clock.clone())
                .await?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).insert(addr.to_owned(), (serial, client.clone()));
        Ok(client)
    }
}
