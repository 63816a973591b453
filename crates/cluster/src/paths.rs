//! The per-node data root.
//!
//! ```text
//! <data-root>/            0700
//!   palisade.sock         Engine API socket (default)
//!   node/                 identity of this node (0700)
//!     node.key            its private key (0600, never leaves the node)
//!     node.crt            its certificate, issued by the cluster CA
//!     root-ca.crt         the trust bundle
//!     membership.json     cluster ID, node ID, role, addresses
//!     kek                 key-encryption key of the store (0600; managers)
//!   store/                the leader's cluster store (sealed records)
//! ```

use std::path::{Path, PathBuf};

use palisade_engine_api::ApiError;

use crate::error::internal;

/// Paths under one data root.
#[derive(Debug, Clone)]
pub struct DataRoot(PathBuf);

impl DataRoot {
    /// Creates the data root (0700) if needed.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        create_private_dir(path)?;
        Ok(Self(path.to_owned()))
    }

    /// The root itself.
    pub fn path(&self) -> &Path {
        &self.0
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

    pub(crate) fn node_cert(&self) -> PathBuf {
        self.node_dir().join("node.crt")
    }

    pub(crate) fn root_ca(&self) -> PathBuf {
        self.node_dir().join("root-ca.crt")
    }

    pub(crate) fn membership(&self) -> PathBuf {
        self.node_dir().join("membership.json")
    }

    pub(crate) fn kek(&self) -> PathBuf {
        self.node_dir().join("kek")
    }

    pub(crate) fn store_dir(&self) -> PathBuf {
        self.0.join("store")
    }

    /// Removes every trace of swarm membership (`swarm leave`).
    pub(crate) fn wipe_swarm_state(&self) -> Result<(), ApiError> {
        for dir in [self.node_dir(), self.store_dir()] {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(internal(&format!("remove {}", dir.display()), e)),
            }
        }
        Ok(())
    }
}

/// `mkdir -p` with mode 0700 on the leaf.
pub(crate) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}
