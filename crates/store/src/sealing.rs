//! Authenticated encryption (XChaCha20-Poly1305) and keyed hashing of row keys.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const NONCE_LEN: usize = 24;
/// Key length in bytes.
pub(crate) const KEY_LEN: usize = 32;

/// An AEAD under one key.
pub(crate) struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(XChaCha20Poly1305::new(key.into()))
    }

    /// `nonce ‖ ciphertext`, with `aad` bound to it.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        // A random 192-bit nonce from the thread's CSPRNG (ChaCha, seeded and reseeded from the
        // OS): no syscall per record, and collisions stay out of reach.
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .0
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| Error::Crypto("encryption failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Cipher::seal`] made with the same `aad`; anything else is an error.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::Corrupt("sealed value is truncated".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.0
            .decrypt(XNonce::from_slice(nonce), Payload { msg: body, aad })
            .map(Zeroizing::new)
            .map_err(|_| Error::Crypto("decryption failed: wrong key or tampered data"))
    }
}

/// HMAC-SHA256 under a subkey of the DEK: turns record keys into opaque row keys.
#[derive(Clone)]
pub(crate) struct RowHasher(Hmac<Sha256>);

impl RowHasher {
    /// `key` must be a derived subkey, never the AEAD key itself.
    pub(crate) fn new(key: &[u8]) -> Result<Self> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).map(Self).map_err(|_| Error::Crypto("bad hashing key"))
    }

    /// The row key of `key` in `table`: HMAC(table name ‖ 0 ‖ key).
    pub(crate) fn row(&self, table: &str, key: &str) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(table.as_bytes());
        mac.update(&[0]);
        mac.update(key.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A subkey of `key` for `purpose` (HMAC-SHA256(key, purpose)).
pub(crate) fn derive(key: &[u8; KEY_LEN], purpose: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| Error::Crypto("bad key"))?;
    mac.update(purpose);
    Ok(Zeroizing::new(mac.finalize().into_bytes().into()))
}
