//! Configs: non-secret files granted to services' tasks.

use std::collections::BTreeMap;

use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Object;

/// A config, keyed by its name (unique, never changes).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ConfigObject {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    #[serde(with = "super::secret_bytes")]
    pub(crate) data: zeroize::Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ConfigObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigObject").field("id", &self.id).field("name", &self.name).field("bytes", &self.data.len()).finish()
    }
}

impl Object for ConfigObject {
    const TABLE: Table = Table::Configs;
    const KIND: &'static str = "config";
    fn key(&self) -> String {
        self.name.clone()
    }
}
