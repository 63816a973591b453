//! Secret and config records. Names are unique (the record key) and never change; only labels
//! can be updated, as in Docker; neither is removed while a service grants it. Secret values
//! are never returned by these calls.

use std::collections::BTreeMap;

use super::services::{random_object_id, resolve};
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{FileGrant, NamedValue, ValueKind, Versioned, WriteSet};
use crate::rpc::SecretCreate;

impl Manager {
    pub(super) async fn value_create<K: ValueKind>(&self, create: SecretCreate) -> Result<String> {
        let value = NamedValue::<K>::new(random_object_id(), create.name, create.labels, self.clock.now(), create.data);
        match self.records.commit(WriteSet::new().put(&value, None)?).await {
            Ok(_) => Ok(value.id),
            Err(Error::OutOfSequence) => Err(Error::AlreadyExists { kind: K::KIND, name: value.name }),
            Err(e) => Err(e),
        }
    }

    pub(super) fn value_list<K: ValueKind>(&self) -> Result<Vec<Versioned<NamedValue<K>>>> {
        self.records.list()
    }

    pub(super) async fn value_update<K: ValueKind>(
        &self,
        reference: &str,
        version: u64,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        let current = self.resolve_value::<K>(reference)?;
        if current.version != version {
            return Err(Error::OutOfSequence);
        }
        let mut value = current.value;
        value.labels = labels;
        value.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&value, Some(current.version))?).await.map(drop)
    }

    pub(super) async fn value_remove<K: ValueKind>(&self, reference: &str) -> Result<()> {
        let value = self.resolve_value::<K>(reference)?;
        let users = self.services_granting(&value.value.id)?;
        if !users.is_empty() {
            return Err(Error::InUse { kind: K::KIND, name: value.value.name, services: users });
        }
        self.records.commit(WriteSet::new().delete::<NamedValue<K>>(&value.value.name, value.version)).await.map(drop)
    }

    /// As dockerd: exact ID, then exact name, then unique ID prefix.
    pub(super) fn resolve_value<K: ValueKind>(&self, reference: &str) -> Result<Versioned<NamedValue<K>>> {
        resolve(self.value_list::<K>()?, reference, K::KIND, |v| (&v.id, &v.name))
    }

    /// Fills in the ID and name of each grant from the store, by whichever of the two the
    /// request named; refuses grants of what does not exist.
    pub(super) fn resolve_grants<K: ValueKind>(&self, grants: &mut [FileGrant]) -> Result<()> {
        let values = self.value_list::<K>()?;
        for grant in grants {
            let by_id = !grant.id.is_empty();
            let found = values
                .iter()
                .find(|v| if by_id { v.value.id == grant.id } else { v.value.name == grant.name })
                .ok_or_else(|| Error::NotFound {
                    kind: K::KIND,
                    reference: if by_id { grant.id.clone() } else { grant.name.clone() },
                })?;
            grant.id.clone_from(&found.value.id);
            grant.name.clone_from(&found.value.name);
        }
        Ok(())
    }
}
