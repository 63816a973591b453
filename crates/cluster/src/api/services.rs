//! [`ServiceBackend`] for [`Daemon`]: services, tasks and configs, on the leader.

use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::types::{
    Config, ConfigSpec, ListFilters, SecretFilters, Service, ServiceCreateResponse, ServiceLogsOptions, ServiceSpec,
    ServiceUpdateResponse, Task,
};
use palisade_engine_api::ServiceBackend;

use super::{service_convert as convert, unexpected, value_create, value_update, ApiResult};
use crate::daemon::Daemon;
use crate::model::ServiceMode;
use crate::rpc::{ControlCall, ControlReply, ServiceView, TaskView};

impl ServiceBackend for Daemon {
    async fn service_create(&self, spec: ServiceSpec) -> ApiResult<ServiceCreateResponse> {
        match self.call(ControlCall::ServiceCreate(Box::new(convert::service_spec(&spec)))).await? {
            ControlReply::ServiceAdmitted { id, warnings } => {
                Ok(ServiceCreateResponse { id, warnings: (!warnings.is_empty()).then_some(warnings) })
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn service_list(&self, filters: ListFilters, status: bool) -> ApiResult<Vec<Service>> {
        let services = self.services().await?;
        Ok(services.iter().filter(|s| service_matches(&filters, s)).map(|s| convert::service(s, status)).collect())
    }

    async fn service_inspect(&self, reference: String) -> ApiResult<Service> {
        match self.call(ControlCall::ServiceInspect { reference }).await? {
            ControlReply::Service(view) => Ok(convert::service(&view, false)),
            other => Err(unexpected(&other)),
        }
    }

    async fn service_update(
        &self,
        reference: String,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> ApiResult<ServiceUpdateResponse> {
        let spec = Box::new(convert::service_spec(&spec));
        match self.call(ControlCall::ServiceUpdate { reference, version, spec, rollback }).await? {
            ControlReply::ServiceAdmitted { warnings, .. } => {
                Ok(ServiceUpdateResponse { warnings: (!warnings.is_empty()).then_some(warnings) })
            }
            other => Err(unexpected(&other)),
        }
    }

    async fn service_remove(&self, reference: String) -> ApiResult<()> {
        self.done(ControlCall::ServiceRemove { reference }).await
    }

    async fn service_logs(&self, reference: String, task: bool, options: ServiceLogsOptions) -> ApiResult<OutputStream> {
        super::logs::open(self, reference, task, options).await
    }

    async fn task_list(&self, filters: ListFilters) -> ApiResult<Vec<Task>> {
        let tasks = self.tasks().await?;
        Ok(tasks.iter().filter(|t| task_matches(&filters, t)).map(convert::task).collect())
    }

    async fn task_inspect(&self, reference: String) -> ApiResult<Task> {
        match self.call(ControlCall::TaskInspect { reference }).await? {
            ControlReply::Task(view) => Ok(convert::task(&view)),
            other => Err(unexpected(&other)),
        }
    }

    async fn config_create(&self, spec: ConfigSpec) -> ApiResult<String> {
        match self.call(ControlCall::ConfigCreate(value_create(spec))).await? {
            ControlReply::ObjectId(id) => Ok(id),
            other => Err(unexpected(&other)),
        }
    }

    async fn config_list(&self, filters: SecretFilters) -> ApiResult<Vec<Config>> {
        match self.call(ControlCall::ConfigList).await? {
            ControlReply::Configs(configs) => Ok(configs.iter().map(convert::config).filter(|c| filters.matches(c)).collect()),
            other => Err(unexpected(&other)),
        }
    }

    async fn config_inspect(&self, reference: String) -> ApiResult<Config> {
        match self.call(ControlCall::ConfigInspect { reference }).await? {
            ControlReply::Config(view) => Ok(convert::config(&view)),
            other => Err(unexpected(&other)),
        }
    }

    async fn config_update(&self, reference: String, version: u64, spec: ConfigSpec) -> ApiResult<()> {
        self.done(ControlCall::ConfigUpdate(value_update(reference, version, spec))).await
    }

    async fn config_remove(&self, reference: String) -> ApiResult<()> {
        self.done(ControlCall::ConfigRemove { reference }).await
    }
}

impl Daemon {
    pub(super) async fn services(&self) -> ApiResult<Vec<ServiceView>> {
        match self.call(ControlCall::ServiceList).await? {
            ControlReply::Services(services) => Ok(services),
            other => Err(unexpected(&other)),
        }
    }

    pub(super) async fn tasks(&self) -> ApiResult<Vec<TaskView>> {
        match self.call(ControlCall::TaskList).await? {
            ControlReply::Tasks(tasks) => Ok(tasks),
            other => Err(unexpected(&other)),
        }
    }
}

fn service_matches(filters: &ListFilters, view: &ServiceView) -> bool {
    let s = &view.service;
    let mode = match s.spec.mode {
        ServiceMode::Replicated { .. } => "replicated",
        ServiceMode::Global => "global",
    };
    filters.allows("id", |id| s.id.starts_with(id))
        && filters.allows("name", |name| s.spec.name.starts_with(name))
        && filters.allows("mode", |m| m == mode)
        && filters.labels_match(&s.spec.labels)
}

fn task_matches(filters: &ListFilters, view: &TaskView) -> bool {
    let t = &view.task;
    let node = t.node_id.as_ref().map(ToString::to_string).unwrap_or_default();
    filters.allows("id", |id| t.id.starts_with(id))
        && filters.allows("name", |name| task_name(view).starts_with(name))
        && filters.allows("service", |s| t.service_id == s || t.service_name == s)
        && filters.allows("node", |n| node == n)
        && filters.allows("desired-state", |d| match d {
            "running" => t.desired == crate::model::TaskState::Running,
            "shutdown" => t.desired >= crate::model::TaskState::Shutdown,
            "accepted" => t.desired == crate::model::TaskState::Accepted,
            _ => false,
        })
        && filters.allows("_up-to-date", |_| view.up_to_date)
        && filters.labels_match(&t.service_labels)
}

/// `web.1` (replicated) or `web.<node ID>` (global), as docker names tasks.
pub(super) fn task_name(view: &TaskView) -> String {
    let t = &view.task;
    if t.slot > 0 {
        format!("{}.{}", t.service_name, t.slot)
    } else {
        format!("{}.{}", t.service_name, t.node_id.as_ref().map(ToString::to_string).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use palisade_engine_api::services::TASK_FILTERS;
    use time::OffsetDateTime;

    use super::*;
    use crate::model::{TaskObject, TaskSpec, TaskState, TaskStatus};

    /// Slot 1 of `demo_web`, made when the service had these labels.
    fn task(service_labels: &[(&str, &str)]) -> TaskView {
        let now = OffsetDateTime::UNIX_EPOCH;
        let task = TaskObject {
            id: "t1".into(),
            service_id: "s1".into(),
            service_name: "demo_web".into(),
            service_labels: service_labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            slot: 1,
            node_id: None,
            spec: TaskSpec::default(),
            spec_version: 1,
            desired: TaskState::Running,
            status: TaskStatus::new(TaskState::Pending, now, "pending"),
            addresses: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        TaskView { task, version: 1, up_to_date: true }
    }

    fn matches(filters: &str, view: &TaskView) -> bool {
        task_matches(&ListFilters::parse(Some(filters), TASK_FILTERS).unwrap(), view)
    }

    #[test]
    fn task_label_filters_match_the_labels_of_the_task_s_service() {
        let stacked = task(&[("com.docker.stack.namespace", "demo"), ("com.docker.stack.image", "busybox")]);
        // `docker stack ps demo`, and with the user's own filter added.
        assert!(matches(r#"{"label":{"com.docker.stack.namespace=demo":true}}"#, &stacked));
        assert!(matches(r#"{"label":["com.docker.stack.namespace=demo"],"name":["demo_web"]}"#, &stacked));
        assert!(matches(r#"{"label":["com.docker.stack.namespace"]}"#, &stacked));
        assert!(!matches(r#"{"label":["com.docker.stack.namespace=other"]}"#, &stacked));
        assert!(!matches(r#"{"label":["com.docker.stack.namespace=demo"],"name":["other"]}"#, &stacked));
        assert!(!matches(r#"{"label":["com.docker.stack.namespace=demo"]}"#, &task(&[])));
        assert!(matches("{}", &task(&[])));
    }
}
