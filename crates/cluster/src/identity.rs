//! A node's persisted identity and membership. A restarted daemon reloads them and is the same
//! node in the same cluster.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use palisade_pki::{write_private_file, ClusterId, NodeCertInfo, NodeId, NodeKey, NodeRole, RootCa};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::{create_private_dir, DataRoot};

/// Version of `membership.json` this build writes. The first round's file has no `format`
/// field (it read as 0) and came with a single-leader store.
pub(crate) const MEMBERSHIP_FORMAT: u32 = 2;

/// Which cluster this node is in and how to reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Membership {
    #[serde(default)]
    pub(crate) format: u32,
    pub(crate) cluster_id: ClusterId,
    pub(crate) node_id: NodeId,
    /// Where this node serves the cluster port while it is a manager.
    pub(crate) listen_addr: Option<SocketAddr>,
    /// The IP address other nodes reach this node at.
    pub(crate) advertise_addr: String,
    /// Cluster addresses of managers; the leader's first.
    pub(crate) managers: Vec<String>,
    /// This node's raft member ID while it is a manager.
    #[serde(default)]
    pub(crate) raft_id: Option<u64>,
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
    pub(crate) fn new(key: NodeKey, cert_pem: String, root_pem: &str) -> Result<Self> {
        let cert = NodeCertInfo::from_pem(&cert_pem).map_err(|e| Error::internal("node certificate", e))?;
        let root = RootCa::from_pem(root_pem, None).map_err(|e| Error::internal("trust bundle", e))?;
        if cert.subject_public_key_der != key.public_key_der() {
            return Err(Error::internal("node certificate", "the issued certificate is not for this node's key"));
        }
        Ok(Self { key, cert_pem, cert, root })
    }

    pub(crate) fn role(&self) -> NodeRole {
        self.cert.role
    }

    /// DER of the leaf certificate, as peers verify it.
    pub(crate) fn cert_der(&self) -> Result<Vec<u8>> {
        let pem = pem::parse(&self.cert_pem).map_err(|e| Error::internal("node certificate", e))?;
        Ok(pem.into_contents())
    }

    /// Loads the identity and membership under `root`, if this node is in a swarm.
    pub(crate) fn load(data: &DataRoot) -> Result<Option<(Self, Membership)>> {
        let membership = match std::fs::read(data.membership()) {
            Ok(bytes) => {
                serde_json::from_slice::<Membership>(&bytes).map_err(|e| Error::internal("read membership", e))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::internal("read membership", e)),
        };
        let read = |path: std::path::PathBuf| {
            std::fs::read_to_string(&path).map_err(|e| Error::internal(format!("read {}", path.display()), e))
        };
        let key = NodeKey::from_pem(&read(data.node_key())?).map_err(|e| Error::internal("load node key", e))?;
        let identity = Self::new(key, read(data.node_cert())?, &read(data.root_ca())?)?;
        Ok(Some((identity, membership)))
    }

    /// Persists the identity. Each file is replaced atomically; the key is 0600.
    pub(crate) fn save(&self, data: &DataRoot) -> Result<()> {
        create_private_dir(&data.node_dir()).map_err(|e| Error::internal("create node directory", e))?;
        let write = |path: std::path::PathBuf, bytes: &[u8]| {
            write_private_file(&path, bytes).map_err(|e| Error::internal("save node identity", e))
        };
        write(data.node_key(), self.key.to_pem().as_bytes())?;
        write(data.node_cert(), self.cert_pem.as_bytes())?;
        if let Some(retired) = retired_roots(data, self.root.certs_pem())? {
            write(data.retired_roots(), retired.as_bytes())?;
        }
        write(data.root_ca(), self.root.certs_pem().as_bytes())
    }
}

/// The retired-roots file after `new_bundle` replaces the bundle on disk: every root seen in
/// either file before that `new_bundle` does not hold (each once, in the order first seen);
/// `None` when that is what the file holds already. A root trusted again (a bundle written
/// from an older snapshot, then the current one) leaves the file again. Written before the
/// new bundle, so a crash between the two leaves a root in both files, never in neither.
fn retired_roots(data: &DataRoot, new_bundle: &str) -> Result<Option<String>> {
    let read = |path: std::path::PathBuf| std::fs::read_to_string(path).map(|t| pem::parse_many(t).unwrap_or_default()).unwrap_or_default();
    let current = read(data.retired_roots());
    let keep = pem::parse_many(new_bundle).unwrap_or_default();
    let mut retired: Vec<pem::Pem> = Vec::new();
    for root in current.iter().chain(read(data.root_ca()).iter()) {
        let known = |list: &[pem::Pem]| list.iter().any(|k| k.contents() == root.contents());
        if !known(&keep) && !known(&retired) {
            retired.push(root.clone());
        }
    }
    if retired.len() == current.len() && retired.iter().zip(&current).all(|(a, b)| a.contents() == b.contents()) {
        return Ok(None);
    }
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    Ok(Some(pem::encode_many_config(&retired, config)))
}

impl Membership {
    pub(crate) fn save(&self, data: &DataRoot) -> Result<()> {
        create_private_dir(&data.node_dir()).map_err(|e| Error::internal("create node directory", e))?;
        let json = serde_json::to_vec_pretty(self).map_err(|e| Error::internal("encode membership", e))?;
        write_private_file(&data.membership(), &json).map_err(|e| Error::internal("save membership", e))
    }
}

/// The node's current identity, replaced whole on renewal; readers take a snapshot.
pub(crate) struct IdentityCell(RwLock<Arc<NodeIdentity>>);

impl IdentityCell {
    pub(crate) fn new(identity: NodeIdentity) -> Self {
        Self(RwLock::new(Arc::new(identity)))
    }

    pub(crate) fn get(&self) -> Arc<NodeIdentity> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn set(&self, identity: NodeIdentity) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(identity);
    }
}
