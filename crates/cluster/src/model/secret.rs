//! Secrets and configs: named values granted to services' tasks as files. Both are stored
//! sealed like every record; a secret's value never leaves the store except towards the tasks
//! granted it, a config's is shown by `config inspect`.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Object;

/// Which kind of [`NamedValue`]: where it is stored and what errors call it.
pub(crate) trait ValueKind: 'static {
    const TABLE: Table;
    const KIND: &'static str;
}

/// Secrets (`/run/secrets/<target>`).
pub(crate) enum SecretKind {}
/// Configs (a file at any target).
pub(crate) enum ConfigKind {}

impl ValueKind for SecretKind {
    const TABLE: Table = Table::Secrets;
    const KIND: &'static str = "secret";
}

impl ValueKind for ConfigKind {
    const TABLE: Table = Table::Configs;
    const KIND: &'static str = "config";
}

/// A secret or config, keyed by its name (names are unique and never change).
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct NamedValue<K> {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    /// The value. Zeroized on drop; never printed.
    #[serde(with = "secret_bytes")]
    pub(crate) data: Zeroizing<Vec<u8>>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

pub(crate) type SecretObject = NamedValue<SecretKind>;
pub(crate) type ConfigObject = NamedValue<ConfigKind>;

impl<K> NamedValue<K> {
    pub(crate) fn new(id: String, name: String, labels: BTreeMap<String, String>, at: OffsetDateTime, data: Zeroizing<Vec<u8>>) -> Self {
        Self { id, name, labels, created_at: at, updated_at: at, data, kind: PhantomData }
    }
}

impl<K> Clone for NamedValue<K> {
    fn clone(&self) -> Self {
        Self {
            id: self.id.clone(),
            name: self.name.clone(),
            labels: self.labels.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            data: self.data.clone(),
            kind: PhantomData,
        }
    }
}

impl<K: ValueKind> std::fmt::Debug for NamedValue<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(K::KIND).field("id", &self.id).field("name", &self.name).field("data", &"<redacted>").finish()
    }
}

impl<K: ValueKind> Object for NamedValue<K> {
    const TABLE: Table = K::TABLE;
    const KIND: &'static str = K::KIND;
    fn key(&self) -> String {
        self.name.clone()
    }
}

/// Secret bytes as base64 in JSON (sealed records, the cluster port), zeroized on the way.
pub(crate) mod secret_bytes {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(crate) fn serialize<S: Serializer>(data: &Zeroizing<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(data.as_slice()));
        s.serialize_str(&text)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Zeroizing<Vec<u8>>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Zeroizing::new)
            .map_err(serde::de::Error::custom)
    }

    /// The same for an optional value (`null` when absent).
    pub(crate) mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use zeroize::Zeroizing;

        pub(crate) fn serialize<S: Serializer>(data: &Option<Zeroizing<Vec<u8>>>, s: S) -> Result<S::Ok, S::Error> {
            match data {
                Some(data) => super::serialize(data, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Zeroizing<Vec<u8>>>, D::Error> {
            #[derive(Deserialize)]
            struct Value(#[serde(with = "super")] Zeroizing<Vec<u8>>);
            Ok(Option::<Value>::deserialize(d)?.map(|v| v.0))
        }
    }
}
