//! The key-encryption key (KEK) and the data encryption key (DEK) it seals.

use std::path::Path;

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::sealing::{derive, Cipher, RowHasher, KEY_LEN};

/// Associated data of the sealed DEK file.
const DEK_AAD: &[u8] = b"palisade-dek";

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
        Self(random_key())
    }

    /// A key from its bytes; anything but 32 bytes is refused.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: [u8; KEY_LEN] =
            bytes.try_into().map_err(|_| Error::Corrupt("key-encryption key has the wrong length".into()))?;
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

/// The data encryption key: 32 random bytes that seal every record, log entry, vote and
/// snapshot of the store. Persisted only sealed under a [`Kek`] (`nonce ‖ AEAD(KEK, DEK)`,
/// AAD `palisade-dek`, mode 0600). Zeroized on drop; never printed.
#[derive(Clone)]
pub struct DataKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    /// Makes a fresh DEK and writes it sealed under `kek` to `path`; fails if `path` exists.
    pub fn create(path: &Path, kek: &Kek) -> Result<DataKey> {
        if path.exists() {
            return Err(Error::AlreadyExists(path.to_owned()));
        }
        let dek = DataKey(random_key());
        palisade_pki::write_private_file(path, &kek.cipher().seal(dek.0.as_ref(), DEK_AAD)?)?;
        Ok(dek)
    }

    /// Unseals the DEK in `path`; a KEK that does not open it gives [`Error::WrongKey`].
    pub fn open(path: &Path, kek: &Kek) -> Result<DataKey> {
        let sealed = std::fs::read(path).map_err(|source| Error::Io { op: "read", path: path.to_owned(), source })?;
        let plain = kek.cipher().open(&sealed, DEK_AAD).map_err(|e| match e {
            Error::Crypto(_) => Error::WrongKey,
            other => other,
        })?;
        let key: [u8; KEY_LEN] =
            plain.as_slice().try_into().map_err(|_| Error::Corrupt("data key has the wrong length".into()))?;
        Ok(DataKey(Zeroizing::new(key)))
    }

    /// Rewrites `path` with this DEK sealed under `kek`, atomically (0600 temporary file in the
    /// same directory, fsync, rename, directory fsync): a crash leaves the old or the new file.
    pub fn reseal(&self, path: &Path, kek: &Kek) -> Result<()> {
        palisade_pki::write_private_file(path, &kek.cipher().seal(self.0.as_ref(), DEK_AAD)?)?;
        Ok(())
    }

    /// The AEAD under which everything in the store is sealed.
    pub(crate) fn cipher(&self) -> Result<Cipher> {
        let key = derive(&self.0, b"palisade-store/seal/v1")?;
        Ok(Cipher::new(&key))
    }

    /// The keyed hash that turns record keys into row keys.
    pub(crate) fn row_hasher(&self) -> Result<RowHasher> {
        RowHasher::new(derive(&self.0, b"palisade-store/row-key/v1")?.as_ref())
    }
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rngs::OsRng.fill_bytes(key.as_mut());
    key
}
