//! Secret and config records. Names are unique (the record key) and never change; only labels
//! can be updated, as in Docker; neither is removed while a service grants it. Secret values
//! are never returned by these calls.

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::services::{random_object_id, resolve};
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{FileGrant, NamedValue, ValueKind, Versioned, WriteSet};
use crate::rpc::{SecretCreate, ValueUpdate};

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

    /// Labels only, as swarmkit: a request naming another name or carrying other data is
    /// refused; one carrying the same data (compared in constant time) is not.
    pub(super) async fn value_update<K: ValueKind>(&self, update: ValueUpdate) -> Result<()> {
        let current = self.resolve_value::<K>(&update.reference)?;
        let same_data = |data: &Zeroizing<Vec<u8>>| bool::from(data.as_slice().ct_eq(current.value.data.as_slice()));
        if update.name != current.value.name || update.data.as_ref().is_some_and(|d| !same_data(d)) {
            return Err(Error::invalid("only updates to Labels are allowed"));
        }
        if current.version != update.version {
            return Err(Error::OutOfSequence);
        }
        let mut value = current.value;
        value.labels = update.labels;
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use palisade_pki::SystemClock;

    use super::*;
    use crate::model::SecretKind;

    fn update(version: u64, name: &str, data: Option<&[u8]>) -> ValueUpdate {
        let labels = BTreeMap::from([("com.docker.stack.namespace".to_owned(), "demo".to_owned())]);
        ValueUpdate { reference: "demo_pw".into(), version, name: name.into(), labels, data: data.map(|d| Zeroizing::new(d.to_vec())) }
    }

    #[tokio::test]
    async fn updates_change_labels_only_and_may_repeat_the_data() {
        let dir = tempfile::tempdir().unwrap();
        let manager = crate::manager::tests::manager_with_clock(dir.path(), std::sync::Arc::new(SystemClock)).await;
        let create = SecretCreate { name: "demo_pw".into(), labels: BTreeMap::new(), data: Zeroizing::new(b"s3cr3t".to_vec()) };
        manager.value_create::<SecretKind>(create).await.unwrap();
        let version = || manager.resolve_value::<SecretKind>("demo_pw").unwrap().version;

        // Other data or another name: refused, nothing changes.
        for refused in [update(version(), "demo_pw", Some(b"other")), update(version(), "renamed", None)] {
            let err = manager.value_update::<SecretKind>(refused).await.unwrap_err();
            assert!(err.to_string().contains("only updates to Labels are allowed"), "{err}");
        }
        assert!(manager.resolve_value::<SecretKind>("demo_pw").unwrap().value.labels.is_empty());
        // The same data again (docker stack deploy), or none: the labels change.
        manager.value_update::<SecretKind>(update(version(), "demo_pw", Some(b"s3cr3t"))).await.unwrap();
        manager.value_update::<SecretKind>(update(version(), "demo_pw", None)).await.unwrap();
        let stored = manager.resolve_value::<SecretKind>("demo_pw").unwrap().value;
        assert_eq!((stored.labels["com.docker.stack.namespace"].as_str(), stored.data.as_slice()), ("demo", &b"s3cr3t"[..]));
        assert!(matches!(manager.value_update::<SecretKind>(update(1, "demo_pw", None)).await, Err(Error::OutOfSequence)));
    }
}
