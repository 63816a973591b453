//! Snapshot formats: the data openraft ships between members, and the sealed file that keeps
//! the current snapshot at `<dir>/snapshot.sealed`.
//!
//! Snapshot data (what `InstallSnapshot` carries, inside the cluster's mutual-TLS channel) is the
//! JSON list of every record; the file seals `{meta, data}` under the DEK with AAD `snapshot`,
//! and is replaced atomically (temp + fsync + rename + directory fsync).

use std::path::Path;

use openraft::SnapshotMeta;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::member::Member;
use crate::sealing::Cipher;
use crate::table::Table;

/// Snapshot metadata.
type Meta = SnapshotMeta<u64, Member>;

const FILE_AAD: &[u8] = b"snapshot";

/// One record in snapshot data.
#[derive(Serialize, Deserialize)]
pub(crate) struct SnapRecord {
    pub(crate) table: Table,
    pub(crate) key: String,
    pub(crate) version: u64,
    #[serde(with = "crate::codec::b64")]
    pub(crate) value: Vec<u8>,
}

impl Drop for SnapRecord {
    fn drop(&mut self) {
        self.value.zeroize();
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<u64, Member>,
    #[serde(with = "crate::codec::b64")]
    data: Vec<u8>,
}

impl Drop for SnapshotFile {
    fn drop(&mut self) {
        self.data.zeroize();
    }
}

/// Encodes snapshot data.
pub(crate) fn encode(records: &[SnapRecord]) -> Result<Vec<u8>> {
    serde_json::to_vec(records).map_err(|e| Error::Corrupt(format!("snapshot: {}", crate::codec::json_fault(&e))))
}

/// Decodes snapshot data.
pub(crate) fn decode(data: &[u8]) -> Result<Vec<SnapRecord>> {
    serde_json::from_slice(data).map_err(|e| Error::Corrupt(format!("snapshot data: {}", crate::codec::json_fault(&e))))
}

/// Seals `meta` and `data` into `path`, replacing it atomically.
pub(crate) fn save(path: &Path, cipher: &Cipher, meta: &SnapshotMeta<u64, Member>, data: &[u8]) -> Result<()> {
    let file = SnapshotFile { meta: meta.clone(), data: data.to_vec() };
    let json = Zeroizing::new(serde_json::to_vec(&file).map_err(|e| Error::Corrupt(crate::codec::json_fault(&e)))?);
    palisade_pki::write_private_file(path, &cipher.seal(&json, FILE_AAD)?)?;
    Ok(())
}

/// The snapshot sealed in `path`, if any.
pub(crate) fn load(path: &Path, cipher: &Cipher) -> Result<Option<(Meta, Vec<u8>)>> {
    let sealed = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(Error::Io { op: "read", path: path.to_owned(), source }),
    };
    let json = cipher.open(&sealed, FILE_AAD)?;
    let mut file: SnapshotFile = serde_json::from_slice(&json)
        .map_err(|e| Error::Corrupt(format!("snapshot file: {}", crate::codec::json_fault(&e))))?;
    Ok(Some((file.meta.clone(), std::mem::take(&mut file.data))))
}
