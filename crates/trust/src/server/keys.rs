//! Server-held timestamp/snapshot keys, sealed at rest.
//!
//! Private keys are encrypted with ChaCha20-Poly1305 under a 256-bit key-encryption key kept in
//! `<root>/server-keys.kek` (mode 0600, created on first start). The associated data binds each
//! ciphertext to its GUN, role and key ID, so a sealed key cannot be moved to another repository.
//! Secrets never appear in logs or errors.

use std::io::Write as _;
use std::path::Path;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::store::Store;
use crate::error::{Error, Result};
use crate::key::{Key, KeyType, PrivateKey};
use crate::schema::Root;

/// One sealed key as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SealedKey {
    pub(crate) keyid: String,
    pub(crate) keytype: KeyType,
    /// The public key object.
    pub(crate) public: Key,
    /// nonce (12 bytes) || ciphertext, hex.
    sealed: String,
}

/// The key-encryption key. Zeroised on drop.
pub(crate) struct Kek(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// Loads the KEK from `path`, creating it (0600, atomically) if absent.
    pub(crate) fn load_or_create(path: &Path) -> Result<Self> {
        let io = |op, source| Error::Io { op, path: path.display().to_string(), source };
        match std::fs::read(path) {
            Ok(bytes) => {
                let arr: [u8; 32] = bytes
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Crypto(format!("{} is not a 32-byte key", path.display())))?;
                Ok(Self(Zeroizing::new(arr)))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = Zeroizing::new([0u8; 32]);
                rand::rngs::OsRng.fill_bytes(key.as_mut());
                let tmp = path.with_extension("tmp");
                {
                    use std::os::unix::fs::OpenOptionsExt as _;
                    let mut f = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(true)
                        .write(true)
                        .mode(0o600)
                        .open(&tmp)
                        .map_err(|e| io("create", e))?;
                    f.write_all(key.as_ref()).map_err(|e| io("write", e))?;
                    f.sync_all().map_err(|e| io("sync", e))?;
                }
                std::fs::rename(&tmp, path).map_err(|e| io("rename", e))?;
                Ok(Self(key))
            }
            Err(e) => Err(io("read", e)),
        }
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(self.0.as_ref().into())
    }

    pub(crate) fn seal(&self, gun: &str, role: &str, key: &PrivateKey) -> Result<SealedKey> {
        let public = key.public()?;
        let aad = format!("{gun}\0{role}\0{}", public.id());
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let secret = key.secret_bytes();
        let ct = self
            .cipher()
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: secret.as_slice(), aad: aad.as_bytes() })
            .map_err(|_| Error::Crypto("sealing a server key failed".into()))?;
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ct);
        Ok(SealedKey { keyid: public.id().to_owned(), keytype: public.keytype(), public, sealed: hex::encode(blob) })
    }

    pub(crate) fn open(&self, gun: &str, role: &str, sealed: &SealedKey) -> Result<PrivateKey> {
        let blob = hex::decode(&sealed.sealed).map_err(|_| Error::Crypto("sealed key is not hex".into()))?;
        if blob.len() < 12 {
            return Err(Error::Crypto("sealed key too short".into()));
        }
        let (nonce, ct) = blob.split_at(12);
        let aad = format!("{gun}\0{role}\0{}", sealed.keyid);
        let secret = Zeroizing::new(
            self.cipher()
                .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: aad.as_bytes() })
                .map_err(|_| Error::Crypto(format!("cannot unseal server key {}", sealed.keyid)))?,
        );
        let key = PrivateKey::from_secret_bytes(sealed.keytype, &secret)?;
        if key.public()?.id() != sealed.keyid {
            return Err(Error::Crypto(format!("unsealed key does not match {}", sealed.keyid)));
        }
        Ok(key)
    }
}

/// The one writer of server-held keys: sealed under the KEK, stored per (GUN, role), newest last.
#[derive(Debug)]
pub(crate) struct ServerKeys {
    kek: Kek,
}

impl ServerKeys {
    pub(crate) fn new(kek: Kek) -> Self {
        Self { kek }
    }

    fn list(store: &Store, gun: &str, role: &str) -> Result<Vec<SealedKey>> {
        match store.keys(gun, role)? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Storage(format!("sealed keys: {e}"))),
            None => Ok(Vec::new()),
        }
    }

    /// Creates, seals and stores a new ed25519 key (notary's local signer uses ed25519).
    pub(crate) fn create(&self, store: &Store, gun: &str, role: &str) -> Result<Key> {
        let key = PrivateKey::generate_ed25519();
        let sealed = self.kek.seal(gun, role, &key)?;
        let public = sealed.public.clone();
        let mut all = Self::list(store, gun, role)?;
        all.push(sealed);
        let bytes = serde_json::to_vec(&all).map_err(|e| Error::Storage(e.to_string()))?;
        store.put_keys(gun, role, &bytes)?;
        tracing::info!(gun, role, keyid = public.id(), "created server-held key");
        Ok(public)
    }

    /// The key listed for `role` in `root` that we hold, else our newest key, else a new one.
    pub(crate) fn current_or_create(&self, store: &Store, gun: &str, role: &str, root: Option<&Root>) -> Result<Key> {
        let all = Self::list(store, gun, role)?;
        if let Some(root) = root {
            if let Some(found) = first_listed(&all, role, root) {
                return Ok(found.public.clone());
            }
        }
        match all.last() {
            Some(k) => Ok(k.public.clone()),
            None => self.create(store, gun, role),
        }
    }

    /// The private key to sign `role` with: the first key of root's role that we hold.
    pub(crate) fn signing_key(&self, store: &Store, gun: &str, role: &str, root: &Root) -> Result<Option<PrivateKey>> {
        let all = Self::list(store, gun, role)?;
        match first_listed(&all, role, root) {
            Some(sealed) => Ok(Some(self.kek.open(gun, role, sealed)?)),
            None => Ok(None),
        }
    }
}

fn first_listed<'a>(all: &'a [SealedKey], role: &str, root: &Root) -> Option<&'a SealedKey> {
    let ids = root.roles.get(role)?;
    ids.keyids.iter().find_map(|id| all.iter().find(|k| &k.keyid == id))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_bound_to_gun_and_role() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::load_or_create(&dir.path().join("k")).unwrap();
        let key = PrivateKey::generate_ed25519();
        let sealed = kek.seal("g", "timestamp", &key).unwrap();
        assert!(!serde_json::to_string(&sealed).unwrap().contains(&hex::encode(key.secret_bytes().as_slice())));
        let back = kek.open("g", "timestamp", &sealed).unwrap();
        assert_eq!(back.public().unwrap().id(), sealed.keyid);
        assert!(kek.open("other", "timestamp", &sealed).is_err());
        let kek2 = Kek::load_or_create(&dir.path().join("k")).unwrap();
        kek2.open("g", "timestamp", &sealed).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(dir.path().join("k")).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
