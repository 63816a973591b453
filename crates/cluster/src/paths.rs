//! The per-node data root.
//!
//! ```text
//! <data-root>/            0700
//!   palisade.sock         Engine API socket (default)
//!   node/                 identity of this node (0700)
//!     node.key            its private key (0600, never leaves the node)
//!     node.crt            its certificate, issued by the cluster CA
//!     root-ca.crt         the trust bundle
//!     retired-roots.pem   roots this node trusted before a rotation: only for verifying the
//!                         audit heads signed under them, never for TLS
//!     membership.json     cluster ID, node ID, addresses, raft member ID
//!     kek                 key-encryption key of the store (0600; managers without autolock)
//!   policy/               the image policy as this node last received it (policy.json),
//!                         and what judging images needs: verified trust metadata (the
//!                         rollback floors) and the CA files rules carry
//!   raft/                 a manager's replicated store: raft log, state machine, snapshots,
//!                         all sealed with the data key
//!     dek.sealed          the data key, sealed by the KEK (or by the unlock key)
//!   store/                only in data roots of Palisade 0.1's first round (single leader)
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Paths under one data root.
#[derive(Debug, Clone)]
pub struct DataRoot(PathBuf);

impl DataRoot {
    /// Creates the data root (0700) if needed.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        create_private_dir(path)?;
        Ok(Self(path.to_owned()))
    }

    /// The paths under `path`, without touching the disk (for readers such as
    /// `palisade audit verify`).
    pub fn new(path: &Path) -> Self {
        Self(path.to_owned())
    }

    /// The root itself.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The node's tamper-evident audit log (`palisade audit ls|verify`).
    pub fn audit_dir(&self) -> PathBuf {
        self.0.join("audit")
    }

    /// Default Engine API socket.
    pub fn default_socket(&self) -> PathBuf {
        self.0.join("palisade.sock")
    }

    pub(crate) fn node_dir(&self) -> PathBuf {
        self.0.join("node")
    }

    pub(crate) fn node_key(&self) -> PathBuf {
        self.node_dir().join("node.key")
    }

    /// The node's overlay (WireGuard) key.
    pub(crate) fn overlay_key(&self) -> PathBuf {
        self.node_dir().join("overlay.key")
    }

    pub(crate) fn node_cert(&self) -> PathBuf {
        self.node_dir().join("node.crt")
    }

    /// The trust bundle: the cluster root CA certificate(s) this node verifies peers against,
    /// and node-signed audit heads against (present while the node is in a swarm).
    pub fn root_ca(&self) -> PathBuf {
        self.node_dir().join("root-ca.crt")
    }

    /// Root CAs the node trusted before a rotation replaced them: audit heads signed by this
    /// node under them still verify against them (`palisade audit verify`). Never used to
    /// trust a peer.
    pub fn retired_roots(&self) -> PathBuf {
        self.node_dir().join("retired-roots.pem")
    }

    pub(crate) fn policy_dir(&self) -> PathBuf {
        self.0.join("policy")
    }

    /// The image-policy evaluator of this node: its caches under `policy/`, the cluster's
    /// trust bundle for servers a rule names no CA for.
    pub(crate) fn policy_evaluator(&self, clock: std::sync::Arc<dyn palisade_pki::Clock>) -> palisade_policy::Evaluator {
        palisade_policy::Evaluator::new(self.policy_dir().join("cache"), vec![self.root_ca()], clock)
    }

    pub(crate) fn membership(&self) -> PathBuf {
        self.node_dir().join("membership.json")
    }

    pub(crate) fn kek(&self) -> PathBuf {
        self.node_dir().join("kek")
    }

    /// The single-leader store of earlier versions.
    pub(crate) fn legacy_store_dir(&self) -> PathBuf {
        self.0.join("store")
    }

    pub(crate) fn raft_dir(&self) -> PathBuf {
        self.0.join("raft")
    }

    pub(crate) fn sealed_dek(&self) -> PathBuf {
        self.raft_dir().join("dek.sealed")
    }

    /// Removes a manager's replicated store and its keys (demotion, leave).
    pub(crate) fn wipe_manager_state(&self) -> Result<()> {
        remove_all(&self.raft_dir())?;
        match std::fs::remove_file(self.kek()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::internal(format!("remove {}", self.kek().display()), e)),
        }
    }

    /// Removes every trace of swarm membership (`swarm leave`).
    pub(crate) fn wipe_swarm_state(&self) -> Result<()> {
        for dir in [self.node_dir(), self.raft_dir(), self.policy_dir(), self.legacy_store_dir()] {
            remove_all(&dir)?;
        }
        Ok(())
    }
}

fn remove_all(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::internal(format!("remove {}", dir.display()), e)),
    }
}

/// `mkdir -p` with mode 0700 on the leaf.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}
