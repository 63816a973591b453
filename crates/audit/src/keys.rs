//! The head key: the one place this crate reads or writes key files. Private keys are written
//! only through [`palisade_pki::write_private_file`] (atomic, 0600).

use std::path::Path;

use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding};

use crate::files::{self, KEY_FILE, PUBLIC_KEY_FILE};
use crate::{AuditError, Result, VerifyError};

/// The key that signs `dir`'s heads: `given`, or the key in `head-key.pem` (generated on
/// first use). Makes sure `head-key.pub.pem` holds its public half, and refuses a key that
/// does not match the public key the log already has.
pub(crate) fn signing_key(dir: &Path, given: Option<SigningKey>) -> Result<SigningKey> {
    let key_path = dir.join(KEY_FILE);
    let key = match given {
        Some(key) => key,
        None if key_path.exists() => {
            files::restrict(&key_path, 0o600)?;
            let pem = std::fs::read_to_string(&key_path).map_err(files::io("read", &key_path))?;
            SigningKey::from_pkcs8_pem(&pem).map_err(|e| AuditError::Key { path: key_path.clone(), reason: e.to_string() })?
        }
        None => {
            let key = SigningKey::random(&mut rand::rngs::OsRng);
            let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| AuditError::Key { path: key_path.clone(), reason: e.to_string() })?;
            write(&key_path, pem.as_bytes())?;
            tracing::info!(path = %key_path.display(), "generated the audit log's head-signing key");
            key
        }
    };
    let public_path = dir.join(PUBLIC_KEY_FILE);
    if public_path.exists() {
        let public = public_key(&public_path).map_err(|e| AuditError::Key { path: public_path.clone(), reason: e.to_string() })?;
        if public != *key.verifying_key() {
            return Err(AuditError::KeyMismatch { dir: dir.to_owned(), public_key: public_path });
        }
    } else {
        let pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| AuditError::Key { path: public_path.clone(), reason: e.to_string() })?;
        write(&public_path, pem.as_bytes())?;
    }
    Ok(key)
}

/// Reads a PEM (SPKI) P-256 public key, as `head-key.pub.pem` holds it.
pub fn public_key(path: &Path) -> Result<VerifyingKey, VerifyError> {
    let pem = std::fs::read_to_string(path).map_err(|source| VerifyError::Io { op: "read", path: path.to_owned(), source })?;
    VerifyingKey::from_public_key_pem(&pem).map_err(|e| VerifyError::Key { path: path.to_owned(), reason: e.to_string() })
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    palisade_pki::write_private_file(path, contents).map_err(|e| match e {
        palisade_pki::Error::Io { op, path, source } => AuditError::Io { op, path, source },
        other => AuditError::Key { path: path.to_owned(), reason: other.to_string() },
    })
}
