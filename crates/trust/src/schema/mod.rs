//! TUF metadata as notary 0.7 writes it (TUF spec 4.2–4.6, notary `tuf/data`).
//!
//! Every role keeps unknown fields in `extra` (`#[serde(flatten)]`), and [`Signed`] keeps the
//! exact uploaded bytes and the parsed `signed` JSON value, because signatures are verified over
//! the canonical form of *what was sent*, not over a re-serialisation of our types.

mod signed;
mod verify;

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256, Sha512};
use time::OffsetDateTime;

pub use signed::{Signature, Signed};
pub use verify::{check_expiry, root_leaf_keys, verify_role, ExpirationEnforcement};

use crate::key::{deserialize_keys, Key};

/// One year as notary counts it (365 days).
const YEAR: time::Duration = time::Duration::days(365);
/// Default root expiry (notary `const.go`: 10 years).
pub const ROOT_EXPIRY: time::Duration = time::Duration::days(365 * 10);
/// Default targets and delegation expiry (3 years).
pub const TARGETS_EXPIRY: time::Duration = time::Duration::days(365 * 3);
/// Default snapshot expiry (3 years).
pub const SNAPSHOT_EXPIRY: time::Duration = time::Duration::days(365 * 3);
/// Default timestamp expiry (14 days).
pub const TIMESTAMP_EXPIRY: time::Duration = time::Duration::days(14);
const _: () = assert!(YEAR.whole_days() == 365);

/// A role's `_type` value.
pub trait Role: serde::de::DeserializeOwned + Serialize {
    /// `Root`, `Targets`, `Snapshot` or `Timestamp`.
    const TYPE: &'static str;
    /// When the metadata expires.
    fn expires(&self) -> OffsetDateTime;
    /// The metadata version.
    fn version(&self) -> NonZeroU64;
}

/// `roles.<name>` in root (TUF 4.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RoleKeys {
    /// Key IDs allowed to sign the role.
    pub keyids: Vec<String>,
    /// How many distinct keys must sign.
    pub threshold: NonZeroU64,
    /// Unknown fields, kept so signatures verify.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Implements [`Role`] for a role type whose `_type` is its own name.
macro_rules! role {
    ($name:ident) => {
        impl Role for $name {
            const TYPE: &'static str = stringify!($name);
            fn expires(&self) -> OffsetDateTime {
                self.expires
            }
            fn version(&self) -> NonZeroU64 {
                self.version
            }
        }
    };
}

/// root.json `signed` (TUF 4.3).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Root {
    /// `"Root"`.
    #[serde(rename = "_type")]
    pub type_: String,
    /// Notary always writes `false`.
    #[serde(default)]
    pub consistent_snapshot: bool,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Keys by (recomputed) key ID.
    #[serde(deserialize_with = "deserialize_keys")]
    pub keys: BTreeMap<String, Key>,
    /// Base roles.
    pub roles: BTreeMap<String, RoleKeys>,
    /// Version.
    pub version: NonZeroU64,
    /// Unknown fields, kept so signatures verify.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

role!(Root);

/// Hashes and length of a metadata or target file (TUF 4.4 `METAFILES`/`TARGETS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    /// Hash algorithm → raw digest (base64 on the wire).
    #[serde(with = "crate::b64::map")]
    pub hashes: BTreeMap<String, Vec<u8>>,
    /// Length in bytes.
    pub length: u64,
    /// Unknown fields (e.g. `custom`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FileMeta {
    /// sha256 + sha512 + length of `bytes`, as notary writes them.
    pub fn of(bytes: &[u8]) -> Self {
        let mut hashes = BTreeMap::new();
        hashes.insert("sha256".to_owned(), Sha256::digest(bytes).to_vec());
        hashes.insert("sha512".to_owned(), Sha512::digest(bytes).to_vec());
        Self { hashes, length: bytes.len() as u64, extra: Map::new() }
    }

    /// Whether `bytes` match every hash listed that we know (sha256, sha512) and the length;
    /// at least one known hash must be present.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        let mut checked = false;
        for (alg, want) in &self.hashes {
            let got = match alg.as_str() {
                "sha256" => Sha256::digest(bytes).to_vec(),
                "sha512" => Sha512::digest(bytes).to_vec(),
                _ => continue,
            };
            if &got != want {
                return false;
            }
            checked = true;
        }
        checked && self.length == bytes.len() as u64
    }
}

/// One delegated role (TUF 4.5 `DELEGATIONS.roles`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DelegatedRole {
    /// `targets/<name>`.
    pub name: String,
    /// Allowed signing keys.
    pub keyids: Vec<String>,
    /// Signature threshold.
    pub threshold: NonZeroU64,
    /// Path prefixes (`[""]` = all paths).
    #[serde(default)]
    pub paths: Vec<String>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `delegations` in targets metadata.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Delegations {
    /// Keys by (recomputed) key ID.
    #[serde(deserialize_with = "deserialize_keys", default)]
    pub keys: BTreeMap<String, Key>,
    /// Delegated roles.
    #[serde(default)]
    pub roles: Vec<DelegatedRole>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// targets.json (and delegations) `signed` (TUF 4.5).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Targets {
    /// `"Targets"`.
    #[serde(rename = "_type")]
    pub type_: String,
    /// Delegations.
    #[serde(default)]
    pub delegations: Delegations,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Target name → hashes and length.
    #[serde(default)]
    pub targets: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: NonZeroU64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

role!(Targets);

/// snapshot.json `signed` (TUF 4.4).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// `"Snapshot"`.
    #[serde(rename = "_type")]
    pub type_: String,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Role name → hashes of its current metadata.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: NonZeroU64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

role!(Snapshot);

/// timestamp.json `signed` (TUF 4.6).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Timestamp {
    /// `"Timestamp"`.
    #[serde(rename = "_type")]
    pub type_: String,
    /// Expiry.
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// `snapshot` → hashes of the current snapshot.
    pub meta: BTreeMap<String, FileMeta>,
    /// Version.
    pub version: NonZeroU64,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

role!(Timestamp);
