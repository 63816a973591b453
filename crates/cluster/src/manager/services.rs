//! Service, task and config records: create, inspect, update, remove. Specs arrive validated
//! at the API edge; here they are checked against the store (names, granted objects) and
//! committed with version checks. Tasks are never written here: the orchestrator makes them.

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{
    ConfigKind, SecretKind, ServiceObject, ServiceSpec, TaskObject, TaskState, UpdateProgress, UpdateState, Versioned,
    WriteSet,
};
use crate::rpc::{ServiceView, TaskView};

impl Manager {
    /// Returns the new service's ID and the warnings of audit-mode policy rules.
    pub(super) async fn service_create(&self, mut spec: ServiceSpec) -> Result<(String, Vec<String>)> {
        self.resolve_all_grants(&mut spec)?;
        self.resolve_attachments(&mut spec)?;
        let action = format!("service create {}", spec.name);
        let warnings = self.admit(&mut spec, &action).await?;
        let now = self.clock.now();
        let _allocation = self.allocation.lock().await;
        let published = self.attach_ingress(&mut spec, &[], None).await?;
        let mut service = ServiceObject::new(random_object_id(), spec, published, now);
        self.pools()?.allocate_service(&mut service)?;
        if self.records.list::<ServiceObject>()?.iter().any(|s| s.value.id == service.id) {
            return Err(Error::internal("service create", "object ID collision"));
        }
        match self.records.commit(WriteSet::new().put(&service, None)?).await {
            Ok(_) => Ok((service.id, warnings)),
            Err(Error::OutOfSequence) => Err(Error::AlreadyExists { kind: "service", name: service.spec.name }),
            Err(e) => Err(e),
        }
    }

    /// `service update`: a new spec, or (`rollback`) the previous one. Starts a rolling update
    /// when what tasks run changed; otherwise (labels, replicas, policies, or nothing, as when
    /// `docker stack deploy` runs again) the tasks stay. Returns the warnings of audit-mode
    /// policy rules.
    pub(super) async fn service_update(
        &self,
        reference: &str,
        version: u64,
        mut spec: ServiceSpec,
        rollback: bool,
    ) -> Result<Vec<String>> {
        let current = self.resolve_service(reference)?;
        if current.version != version {
            return Err(Error::OutOfSequence);
        }
        let mut service = current.value;
        if spec.name != service.spec.name {
            return Err(Error::invalid("renaming services is not supported"));
        }
        if rollback {
            spec = service
                .previous_spec
                .clone()
                .ok_or_else(|| Error::precondition(format!("service {} does not have a previous spec", service.spec.name)))?;
        } else {
            self.resolve_all_grants(&mut spec)?;
            self.resolve_attachments(&mut spec)?;
        }
        let warnings = self.admit(&mut spec, &format!("service update {}", service.spec.name)).await?;
        let _allocation = self.allocation.lock().await;
        let published = self.attach_ingress(&mut spec, &service.published, Some(&service.id)).await?;
        let tasks_change = spec.task != service.spec.task;
        service.published = published;
        let now = self.clock.now();
        service.previous_spec = Some(std::mem::replace(&mut service.spec, spec));
        service.updated_at = now;
        if tasks_change {
            service.spec_version += 1;
            let state = if rollback { UpdateState::RollbackStarted } else { UpdateState::Updating };
            let message = if rollback { "manually requested rollback" } else { "update in progress" };
            service.update = Some(UpdateProgress {
                state,
                started_at: now,
                completed_at: None,
                message: message.into(),
                batch_done_at: None,
            });
        }
        self.pools()?.allocate_service(&mut service)?;
        self.records.commit(WriteSet::new().put(&service, Some(current.version))?).await?;
        Ok(warnings)
    }

    /// Removes the service; the orchestrator then shuts its tasks down and removes them.
    pub(super) async fn service_remove(&self, reference: &str) -> Result<()> {
        let service = self.resolve_service(reference)?;
        self.records.commit(WriteSet::new().delete::<ServiceObject>(&service.value.spec.name, service.version)).await.map(drop)
    }

    pub(super) fn service_list(&self) -> Result<Vec<ServiceView>> {
        let tasks = self.records.list::<TaskObject>()?;
        Ok(self.records.list::<ServiceObject>()?.into_iter().map(|s| self.service_view(s, &tasks)).collect())
    }

    pub(super) fn service_inspect(&self, reference: &str) -> Result<ServiceView> {
        let service = self.resolve_service(reference)?;
        Ok(self.service_view(service, &self.records.list::<TaskObject>()?))
    }

    fn service_view(&self, service: Versioned<ServiceObject>, tasks: &[Versioned<TaskObject>]) -> ServiceView {
        let ours = tasks.iter().filter(|t| t.value.service_id == service.value.id);
        let running = ours.filter(|t| t.value.desired == TaskState::Running && t.value.status.state == TaskState::Running).count();
        let desired = match service.value.spec.mode {
            crate::model::ServiceMode::Replicated { replicas } => replicas,
            crate::model::ServiceMode::Global => {
                tasks.iter().filter(|t| t.value.service_id == service.value.id && t.value.desired == TaskState::Running).count()
                    as u64
            }
        };
        ServiceView { version: service.version, service: service.value, running_tasks: running as u64, desired_tasks: desired }
    }

    /// As dockerd: exact ID, then exact name, then unique ID prefix.
    pub(super) fn resolve_service(&self, reference: &str) -> Result<Versioned<ServiceObject>> {
        let services = self.records.list::<ServiceObject>()?;
        resolve(services, reference, "service", |s| (&s.id, &s.spec.name))
    }

    pub(super) fn task_list(&self) -> Result<Vec<TaskView>> {
        let services = self.records.list::<ServiceObject>()?;
        Ok(self.records.list::<TaskObject>()?.into_iter().map(|t| task_view(t, &services)).collect())
    }

    pub(super) fn task_inspect(&self, reference: &str) -> Result<TaskView> {
        let tasks = self.records.list::<TaskObject>()?;
        let task = resolve(tasks, reference, "task", |t| (&t.id, &t.id))?;
        Ok(task_view(task, &self.records.list::<ServiceObject>()?))
    }

    fn resolve_all_grants(&self, spec: &mut ServiceSpec) -> Result<()> {
        self.resolve_grants::<SecretKind>(&mut spec.task.secrets)?;
        self.resolve_grants::<ConfigKind>(&mut spec.task.configs)
    }

    /// Names of the services that grant the secret or config `id`.
    pub(super) fn services_granting(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .records
            .list::<ServiceObject>()?
            .into_iter()
            .filter(|s| s.value.spec.grants(id))
            .map(|s| s.value.spec.name)
            .collect())
    }
}

fn task_view(task: Versioned<TaskObject>, services: &[Versioned<ServiceObject>]) -> TaskView {
    let up_to_date = services.iter().any(|s| s.value.id == task.value.service_id && s.value.spec_version == task.value.spec_version);
    TaskView { version: task.version, task: task.value, up_to_date }
}

/// Resolves `reference` among `objects` as dockerd does: exact ID, then exact name, then a
/// unique ID prefix. `keys` gives an object's `(id, name)`.
pub(super) fn resolve<T>(
    objects: Vec<Versioned<T>>,
    reference: &str,
    kind: &'static str,
    keys: impl Fn(&T) -> (&String, &String),
) -> Result<Versioned<T>> {
    let mut by_id = None;
    let mut by_name = None;
    let mut by_prefix = Vec::new();
    for object in objects {
        let (id, name) = keys(&object.value);
        if id == reference {
            by_id = Some(object);
        } else if name == reference {
            by_name = Some(object);
        } else if !reference.is_empty() && id.starts_with(reference) {
            by_prefix.push(object);
        }
    }
    if let Some(found) = by_id.or(by_name) {
        return Ok(found);
    }
    match by_prefix.len() {
        0 => Err(Error::NotFound { kind, reference: reference.to_owned() }),
        1 => by_prefix.pop().ok_or_else(|| Error::internal("resolve", "empty match")),
        n => Err(Error::Ambiguous { kind, reference: reference.to_owned(), matches: n }),
    }
}

/// A swarmkit-style object ID: 25 characters of base 36 from 128 random bits.
pub(super) fn random_object_id() -> String {
    palisade_pki::NodeId::generate(&mut rand::rngs::OsRng).to_string()
}
