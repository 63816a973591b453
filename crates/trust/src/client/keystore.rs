//! The one writer of client private keys: `<trust-dir>/private/<canonical keyid>.key`, or, with
//! a hardware token configured, the token (root and signer keys are made there and never leave
//! it; the repository's `targets` key stays a file so `docker trust` can share it, as notary
//! does with a YubiKey).

use std::path::PathBuf;
use std::sync::Arc;

use super::error::{io_err, ClientError, ClientResult};
use super::hardware::HardwareToken;
use super::keyfile::{self, KeyHeaders};
use super::passphrase::Passphrases;
use super::trust_dir::{write_private, TrustDir};
use crate::key::{Key, PrivateKey, TufSigner};
use crate::pkcs11::{HsmKey, Token};
use crate::names::Gun;

/// Private keys in a trust directory, encrypted under passphrases from `passphrases`, and on
/// an optional PKCS#11 token.
#[derive(Clone)]
pub struct KeyStore {
    dir: PathBuf,
    passphrases: Arc<dyn Passphrases>,
    hardware: Option<Arc<HardwareToken>>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl KeyStore {
    /// The key store of `trust_dir`.
    pub fn new(trust_dir: &TrustDir, passphrases: Arc<dyn Passphrases>) -> Self {
        Self { dir: trust_dir.private_dir(), passphrases, hardware: None }
    }

    /// Also uses `token`: new root and signer keys are generated on it, and keys it holds are
    /// found and used by ID like files.
    pub fn with_hardware(self, token: Arc<Token>) -> Self {
        self.with_hardware_token(HardwareToken::open(token))
    }

    /// Also uses `token`, opened when a key operation first needs it.
    pub fn with_hardware_token(mut self, token: HardwareToken) -> Self {
        self.hardware = Some(Arc::new(token));
        self
    }

    /// The hardware token (opened now if need be), if one is configured.
    fn token(&self) -> ClientResult<Option<Arc<Token>>> {
        self.hardware.as_ref().map(|h| h.get()).transpose()
    }

    /// The token's key with this ID; a token that cannot be opened has none.
    fn hardware_key(&self, key_id: &str) -> ClientResult<Option<HsmKey>> {
        Ok(self.token()?.and_then(|t| t.find(key_id).ok()))
    }

    fn path(&self, key_id: &str) -> ClientResult<PathBuf> {
        if key_id.is_empty() || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ClientError::Invalid(format!("invalid key ID {key_id:?}")));
        }
        Ok(self.dir.join(format!("{key_id}.key")))
    }

    /// Whether the private key with this canonical ID is present (as a file or on the token).
    /// A configured token that cannot be opened (a wrong PIN) is an error, not a missing key.
    pub fn contains(&self, key_id: &str) -> ClientResult<bool> {
        Ok(self.path(key_id).is_ok_and(|p| p.is_file()) || self.hardware_key(key_id)?.is_some())
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

    /// Generates a P-256 key — on the hardware token for root and signer keys when one is
    /// configured, else stored as a file (see [`Self::store`]) — and returns it.
    pub fn generate(&self, role: &str, gun: Option<&Gun>) -> ClientResult<(Arc<dyn TufSigner>, Key)> {
        // The repository's targets key stays a file (see the module docs).
        if let Some(token) = self.token()?.filter(|_| role != "targets") {
            let key = token.generate(role, gun)?;
            let public = key.public().clone();
            return Ok((Arc::new(key), public));
        }
        let key = PrivateKey::generate_ecdsa();
        let public = self.store(&key, role, gun)?;
        Ok((Arc::new(key), public))
    }

    /// The signer for the key with canonical ID `key_id`: the file, decrypted, else the token's.
    pub fn load(&self, key_id: &str) -> ClientResult<Arc<dyn TufSigner>> {
        if !self.path(key_id)?.is_file() {
            if let Some(key) = self.hardware_key(key_id)? {
                return Ok(Arc::new(key));
            }
        }
        Ok(Arc::new(self.load_file(key_id)?))
    }

    fn load_file(&self, key_id: &str) -> ClientResult<PrivateKey> {
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

    /// The first key whose role is `role` and, when given, whose GUN is `gun`: on the token
    /// first, then among the files (in ID order, by their `role:` and `gun:` headers).
    pub fn find(&self, role: &str, gun: Option<&Gun>) -> ClientResult<Option<String>> {
        if let Some(token) = self.token()? {
            let on_token = token.list()?.into_iter().find(|k| k.role == role && gun.is_none_or(|g| k.gun.as_ref() == Some(g)));
            if let Some(k) = on_token {
                return Ok(Some(k.key_id));
            }
        }
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
