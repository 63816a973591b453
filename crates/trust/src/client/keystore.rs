//! The one writer of client private keys: `<trust-dir>/private/<canonical keyid>.key`.

use std::path::PathBuf;
use std::sync::Arc;

use super::error::{io_err, ClientError, ClientResult};
use super::keyfile::{self, KeyHeaders};
use super::passphrase::Passphrases;
use super::trust_dir::{write_private, TrustDir};
use crate::key::{Key, PrivateKey};
use crate::names::Gun;

/// Private keys in a trust directory, encrypted under passphrases from `passphrases`.
#[derive(Clone)]
pub struct KeyStore {
    dir: PathBuf,
    passphrases: Arc<dyn Passphrases>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// The key store of `trust_dir`.
    pub fn new(trust_dir: &TrustDir, passphrases: Arc<dyn Passphrases>) -> Self {
        Self { dir: trust_dir.private_dir(), passphrases }
    }

    fn path(&self, key_id: &str) -> ClientResult<PathBuf> {
        if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Invalid(format!("invalid key ID {key_id:?}")));
        }
        Ok(self.dir.join(format!("{key_id}.key")))
    }

    /// Whether the private key with this canonical ID is present.
    pub fn contains(&self, key_id: &str) -> bool {
        self.path(key_id).is_ok_and(|p| p.is_file())
    }

    /// Encrypts and stores `key` with PEM headers `role` (and `gun`); returns its public key.
    /// Refuses to overwrite an existing file.
    pub fn store(&self, key: &PrivateKey, role: &str, gun: Option<&Gun>) -> ClientResult<Key> {
        let public = key.public()?;
        let path = self.path(public.id())?;
        if path.exists() {
            return Err(ClientError::Invalid(format!("private key {} already exists", public.id())));
        }
        let pass = self.passphrases.passphrase(role, public.id(), true)?;
        let headers = KeyHeaders { role: role.to_owned(), gun: gun.map(|g| g.as_str().to_owned()) };
        let pem = keyfile::encrypt(key, &headers, &pass)?;
        write_private(&path, pem.as_bytes())?;
        Ok(public)
    }

    /// Generates a P-256 key, stores it (see [`Self::store`]) and returns it.
    pub fn generate(&self, role: &str, gun: Option<&Gun>) -> ClientResult<(PrivateKey, Key)> {
        let key = PrivateKey::generate_ecdsa();
        let public = self.store(&key, role, gun)?;
        Ok((key, public))
    }

    /// Loads and decrypts the key with canonical ID `key_id`.
    pub fn load(&self, key_id: &str) -> ClientResult<PrivateKey> {
        let path = self.path(key_id)?;
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(io_err("read", &path))?);
        let headers = keyfile::headers(&text)?;
        let pass = self.passphrases.passphrase(&headers.role, key_id, false)?;
        let key = keyfile::decrypt(&text, Some(&pass), key_id)?;
        if key.public()?.id() != key_id {
            return Err(ClientError::Invalid(format!("{} does not hold key {key_id}", path.display())));
        }
        Ok(key)
    }

    /// The first stored key (in ID order) whose `role:` header is `role` and, when given, whose
    /// `gun:` header is `gun`.
    pub fn find(&self, role: &str, gun: Option<&Gun>) -> ClientResult<Option<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("read", &self.dir)(e)),
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(".key")).map(str::to_owned))
            .collect();
        ids.sort();
        for id in ids {
            let Ok(path) = self.path(&id) else { continue };
            let Ok(text) = std::fs::read_to_string(&path) else { continue };
            let Ok(h) = keyfile::headers(&text) else { continue };
            if h.role == role && gun.is_none_or(|g| h.gun.as_deref() == Some(g.as_str())) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Imports a PEM private key (encrypted with `passphrase` or plain) under `role`,
    /// re-encrypting it with a new passphrase; returns its public key.
    pub fn import(&self, pem_text: &str, role: &str) -> ClientResult<Key> {
        let pass = if keyfile::is_encrypted(pem_text) {
            Some(self.passphrases.passphrase(role, "", false)?)
        } else {
            None
        };
        let key = keyfile::decrypt(pem_text, pass.as_ref(), "to import")?;
        self.store(&key, role, None)
    }
}
