//! The local trust directory, in notary/docker's layout so `docker trust`, `notary` and
//! Palisade share keys and the metadata cache:
//!
//! ```text
//! <trust-dir>/                 $DOCKER_CONFIG/trust or ~/.docker/trust (0700)
//!   private/<keyid>.key        encrypted PKCS#8 PEM, `role:`/`gun:` headers (0600); keyid = canonical key ID
//!   tuf/<gun>/metadata/        last verified metadata, raw bytes (0600 files, 0700 dirs)
//!     root.json timestamp.json snapshot.json targets.json targets/<signer>.json
//! ```

use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::error::{io_err, ClientError, ClientResult};
use crate::names::{Gun, RoleName};

/// docker's configuration directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn docker_config_dir() -> ClientResult<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    std::env::var_os("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".docker"))
        .ok_or_else(|| ClientError::Invalid("neither DOCKER_CONFIG nor HOME is set: pass --trust-dir".into()))
}

/// A trust directory.
#[derive(Clone, Debug)]
pub struct TrustDir {
    path: PathBuf,
}

impl TrustDir {
    /// The trust directory at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// docker's default: `<docker config dir>/trust`.
    pub fn from_env() -> ClientResult<Self> {
        Ok(Self::new(docker_config_dir()?.join("trust")))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn private_dir(&self) -> PathBuf {
        self.path.join("private")
    }

    pub(crate) fn metadata(&self, gun: &Gun) -> MetadataCache {
        MetadataCache { dir: self.path.join("tuf").join(gun.as_str()).join("metadata") }
    }
}

/// Creates `dir` and its missing parents with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> ClientResult<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io_err("create", dir))
}

/// Writes `bytes` to `path` atomically with mode 0600 ([`palisade_pki::write_private_file`]:
/// a fresh temporary file, fsync, rename, fsync of the directory), creating parents 0700.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> ClientResult<()> {
    let parent = path.parent().ok_or_else(|| ClientError::Invalid(format!("{} has no parent", path.display())))?;
    create_private_dir(parent)?;
    palisade_pki::write_private_file(path, bytes).map_err(|e| match e {
        palisade_pki::Error::Io { source, .. } => io_err("write", path)(source),
        other => ClientError::Invalid(other.to_string()),
    })
}

/// The cache of verified metadata for one GUN.
#[derive(Clone, Debug)]
pub(crate) struct MetadataCache {
    dir: PathBuf,
}

impl MetadataCache {
    fn path(&self, role: &RoleName) -> PathBuf {
        self.dir.join(format!("{}.json", role.as_str()))
    }

    /// The cached bytes of `role`, if any.
    pub(crate) fn read(&self, role: &RoleName) -> ClientResult<Option<Vec<u8>>> {
        let path = self.path(role);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    /// Forgets everything cached for this GUN (a new repository starts a new pin).
    pub(crate) fn clear(&self) -> ClientResult<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io_err("remove", &self.dir)(e)),
            _ => Ok(()),
        }
    }

    /// Stores `role`'s verified bytes.
    pub(crate) fn write(&self, role: &RoleName, bytes: &[u8]) -> ClientResult<()> {
        write_private(&self.path(role), bytes)
    }
}
