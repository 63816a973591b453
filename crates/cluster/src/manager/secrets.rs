//! Secret records. Names are unique (the record key) and never change; only labels can be
//! updated, as in Docker. Values are never returned by these calls.

use std::collections::BTreeMap;

use super::services::{random_object_id, resolve};
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{SecretObject, Versioned, WriteSet};
use crate::rpc::{SecretCreate, SecretView};

impl Manager {
    pub(super) async fn secret_create(&self, create: SecretCreate) -> Result<String> {
        let now = self.clock.now();
        let secret = SecretObject {
            id: random_object_id(),
            name: create.name,
            labels: create.labels,
            created_at: now,
            updated_at: now,
            data: create.data,
        };
        match self.records.commit(WriteSet::new().put(&secret, None)?).await {
            Ok(_) => Ok(secret.id),
            Err(Error::OutOfSequence) => Err(Error::AlreadyExists { kind: "secret", name: secret.name }),
            Err(e) => Err(e),
        }
    }

    pub(super) fn secret_list(&self) -> Result<Vec<SecretView>> {
        Ok(self.records.list::<SecretObject>()?.iter().map(secret_view).collect())
    }

    pub(super) fn secret_inspect(&self, reference: &str) -> Result<SecretView> {
        self.resolve_secret(reference).map(|s| secret_view(&s))
    }

    pub(super) async fn secret_update(
        &self,
        reference: &str,
        version: u64,
        labels: BTreeMap<String, String>,
    ) -> Result<()> {
        let current = self.resolve_secret(reference)?;
        if current.version != version {
            return Err(Error::OutOfSequence);
        }
        let mut secret = current.value;
        secret.labels = labels;
        secret.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&secret, Some(current.version))?).await.map(drop)
    }

    pub(super) async fn secret_remove(&self, reference: &str) -> Result<()> {
        let secret = self.resolve_secret(reference)?;
        let users = self.services_granting(&secret.value.id)?;
        if !users.is_empty() {
            return Err(Error::InUse { kind: "secret", name: secret.value.name, services: users });
        }
        self.records.commit(WriteSet::new().delete::<SecretObject>(&secret.value.name, secret.version)).await.map(drop)
    }

    /// As dockerd: exact ID, then exact name, then unique ID prefix.
    pub(super) fn resolve_secret(&self, reference: &str) -> Result<Versioned<SecretObject>> {
        resolve(self.records.list::<SecretObject>()?, reference, "secret", |s| (&s.id, &s.name))
    }
}

fn secret_view(secret: &Versioned<SecretObject>) -> SecretView {
    let s = &secret.value;
    SecretView {
        id: s.id.clone(),
        version: secret.version,
        name: s.name.clone(),
        labels: s.labels.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

