//! The log's directory and files, created private.
//!
//! ```text
//! <dir>/                    0700, owned by the log
//!   log.jsonl               0600  one entry per line, appended and fsynced
//!   heads.jsonl             0600  one signed head per line
//!   head-key.pem            0600  the log's own PKCS#8 P-256 private key (absent when the
//!                                 caller holds the key)
//!   head-key.pub.pem        0600  its SPKI public key, which `verify` uses by default
//! ```

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::{AuditError, Result};

/// The entries.
pub(crate) const LOG_FILE: &str = "log.jsonl";
/// The signed heads.
pub(crate) const HEADS_FILE: &str = "heads.jsonl";
/// The private head key.
pub(crate) const KEY_FILE: &str = "head-key.pem";
/// The public head key.
pub(crate) const PUBLIC_KEY_FILE: &str = "head-key.pub.pem";

/// Mode of the directory.
const DIR_MODE: u32 = 0o700;
/// Mode of every file.
const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) with mode 0700, or narrows an existing one to 0700.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(io("create", dir))?;
    restrict(dir, DIR_MODE)
}

/// Opens `path` for reading and appending, creating it with mode 0600. Returns whether it was
/// created (then the caller must fsync the directory before acknowledging anything in it).
pub(crate) fn open_append(path: &Path) -> Result<(File, bool)> {
    let mut options = OpenOptions::new();
    options.read(true).append(true).mode(FILE_MODE);
    match options.clone().create_new(true).open(path) {
        Ok(file) => Ok((file, true)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = options.open(path).map_err(io("open", path))?;
            restrict(path, FILE_MODE)?;
            Ok((file, false))
        }
        Err(e) => Err(io("create", path)(e)),
    }
}

/// Narrows `path` to `mode` when group or others have any access (a copy or a restore may
/// have widened it), with a warning.
pub(crate) fn restrict(path: &Path, mode: u32) -> Result<()> {
    let current = fs::metadata(path).map_err(io("inspect", path))?.permissions().mode() & 0o777;
    if current & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{current:o}"), "audit log file was accessible to others; narrowing it to {mode:o}");
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(io("narrow the mode of", path))?;
    }
    Ok(())
}

/// fsyncs a directory, so that a file created in it survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io("fsync", dir))
}

/// Maps an I/O error to [`AuditError::Io`] for `op` on `path`.
pub(crate) fn io(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> AuditError {
    let path = path.to_owned();
    move |source| AuditError::Io { op, path, source }
}
