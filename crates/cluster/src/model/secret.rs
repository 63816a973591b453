//! Secrets: values only the tasks granted them may read. Stored sealed like every record; the
//! value never leaves the store except towards those tasks.

use std::collections::BTreeMap;

use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Object;

/// A secret, keyed by its name (names are unique and never change).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SecretObject {
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
}

impl std::fmt::Debug for SecretObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretObject")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("data", &"<redacted>")
            .finish()
    }
}

impl Object for SecretObject {
    const TABLE: Table = Table::Secrets;
    const KIND: &'static str = "secret";
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
}
