//! Authenticated encryption of records and of the data key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use zeroize::Zeroizing;

use crate::store::{Error, Result};

const NONCE_LEN: usize = 24;
/// Key length in bytes.
pub(crate) const KEY_LEN: usize = 32;

/// A key-encryption key. Zeroized on drop; never printed.
pub struct Kek(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

impl Kek {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self(key)
    }

    /// A key from its bytes; anything but 32 bytes is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| Error::Corrupt("key-encryption key has the wrong length".into()))?;
        Ok(Self(Zeroizing::new(array)))
    }

    /// The key bytes, for writing to a 0600 file.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    pub(crate) fn cipher(&self) -> Cipher {
        Cipher::new(&self.0)
    }
}

/// An AEAD under one key.
pub(crate) struct Cipher(XChaCha20Poly1305);

impl Cipher {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Self(XChaCha20Poly1305::new(key.into()))
    }

    /// `nonce ‖ ciphertext`, with `aad` bound to it.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
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
