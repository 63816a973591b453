//! A node's persisted identity and membership. A restarted daemon reloads them and is the same
//! node in the same cluster.

use std::net::SocketAddr;

use base64::Engine as _;
use palisade_engine_api::types::TlsInfo;
use palisade_engine_api::ApiError;
use palisade_pki::{write_private_file, ClusterId, NodeCertInfo, NodeId, NodeKey, NodeRole, RootCa};
use serde::{Deserialize, Serialize};

use crate::error::internal;
use crate::paths::{create_private_dir, DataRoot};

/// Which cluster this node is in and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Membership {
    pub(crate) cluster_id: ClusterId,
    pub(crate) node_id: NodeId,
    /// Whether this node holds the cluster store and the CA signer.
    pub(crate) leader: bool,
    /// Where this node serves the cluster port (the leader only).
    pub(crate) listen_addr: Option<SocketAddr>,
    /// The IP address other nodes reach this node at.
    pub(crate) advertise_addr: String,
    /// Cluster addresses of managers; the leader's first.
    pub(crate) managers: Vec<String>,
}

/// The node's key, its certificate and the trust bundle.
///
/// Invariant: `cert` is parsed from `cert_pem`, whose public key is `key`'s.
pub(crate) struct NodeIdentity {
    pub(crate) key: NodeKey,
    pub(crate) cert_pem: String,
    pub(crate) cert: NodeCertInfo,
    pub(crate) root: RootCa,
}

impl NodeIdentity {
    /// Assembles an identity, checking that the certificate matches the key and the trust bundle
    /// can be parsed.
    pub(crate) fn new(key: NodeKey, cert_pem: String, root_pem: &str) -> Result<Self, String> {
        let cert = NodeCertInfo::from_pem(&cert_pem).map_err(|e| e.to_string())?;
        let root = RootCa::from_pem(root_pem, None).map_err(|e| e.to_string())?;
        if cert.subject_public_key_der != key.public_key_der() {
            return Err("the issued certificate is not for this node's key".into());
        }
        Ok(Self { key, cert_pem, cert, root })
    }

    pub(crate) fn role(&self) -> NodeRole {
        self.cert.role
    }

    /// Loads the identity and membership under `root`, if this node is in a swarm.
    pub(crate) fn load(data: &DataRoot) -> Result<Option<(Self, Membership)>, ApiError> {
        let membership = match std::fs::read(data.membership()) {
            Ok(bytes) => serde_json::from_slice::<Membership>(&bytes).map_err(|e| internal("read membership", e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(internal("read membership", e)),
        };
        let read = |path: std::path::PathBuf| std::fs::read_to_string(&path).map_err(|e| internal(&format!("read {}", path.display()), e));
        let key = NodeKey::from_pem(&read(data.node_key())?).map_err(|e| internal("load node key", e))?;
        let identity = Self::new(key, read(data.node_cert())?, &read(data.root_ca())?).map_err(|e| internal("load node identity", e))?;
        Ok(Some((identity, membership)))
    }

    /// Persists the identity. Each file is replaced atomically; the key is 0600.
    pub(crate) fn save(&self, data: &DataRoot) -> Result<(), ApiError> {
        create_private_dir(&data.node_dir()).map_err(|e| internal("create node directory", e))?;
        let write = |path: std::path::PathBuf, bytes: &[u8]| write_private_file(&path, bytes).map_err(|e| internal("save node identity", e));
        write(data.node_key(), self.key.to_pem().as_bytes())?;
        write(data.node_cert(), self.cert_pem.as_bytes())?;
        write(data.root_ca(), self.root.certs_pem().as_bytes())
    }

    /// Engine API `TLSInfo` for this node: its trust root and the issuer of its certificate.
    pub(crate) fn tls_info(&self) -> TlsInfo {
        tls_info_of(&self.root)
    }
}

impl Membership {
    pub(crate) fn save(&self, data: &DataRoot) -> Result<(), ApiError> {
        create_private_dir(&data.node_dir()).map_err(|e| internal("create node directory", e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| internal("encode membership", e))?;
        write_private_file(&data.membership(), &json).map_err(|e| internal("save membership", e))
    }
}

/// `TLSInfo` of a root: its PEM, and the subject and key of the certificate that issues node
/// certificates, base64 as Go renders `[]byte`.
pub(crate) fn tls_info_of(root: &RootCa) -> TlsInfo {
    let b64 = |bytes: palisade_pki::Result<Vec<u8>>| bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b)).unwrap_or_default();
    TlsInfo {
        trust_root: root.certs_pem().to_owned(),
        cert_issuer_subject: b64(root.issuer_subject_der()),
        cert_issuer_public_key: b64(root.issuer_public_key_der()),
    }
}
