//! Services, tasks and configs between the cluster model and the Engine API's types.
//! Specs arrive validated ([`api::ServiceSpec::validate`]): what is refused there never
//! reaches here, so these conversions only fill defaults.

use palisade_engine_api::types::{self as api, ObjectVersion};

use crate::model::{
    ConfigObject, Constraint, EndpointMode, FailureAction, FileGrant, NetworkAddress, NetworkAttachment, Protocol, PublishedPort,
    RestartCondition, RestartPolicy, ServiceMode, ServiceSpec, TaskSpec, UpdatePolicy,
};
use crate::rpc::{ConfigView, ServiceView, TaskView};

/// swarmkit's default update policy: one task at a time, pause on failure, 5 s monitor.
const DEFAULT_UPDATE: UpdatePolicy =
    UpdatePolicy { parallelism: 1, delay_ns: 0, failure_action: FailureAction::Pause, monitor_ns: 5_000_000_000, max_failure_ratio: 0.0 };

fn id_number(text: &str) -> u32 {
    text.parse().unwrap_or(0)
}

pub(crate) fn service_spec(spec: &api::ServiceSpec) -> ServiceSpec {
    ServiceSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        mode: match spec.replicas() {
            Some(replicas) => ServiceMode::Replicated { replicas },
            None => ServiceMode::Global,
        },
        task: task_spec(&spec.task_template),
        update: spec.update_config.as_ref().map_or(DEFAULT_UPDATE, update_policy),
        rollback: spec.rollback_config.as_ref().map_or(DEFAULT_UPDATE, update_policy),
        endpoint_mode: match spec.endpoint_spec.as_ref().map(|e| e.mode.as_str()) {
            Some("dnsrr") => EndpointMode::Dnsrr,
            _ => EndpointMode::Vip,
        },
        ports: spec.endpoint_spec.iter().flat_map(|e| &e.ports).map(published_port).collect(),
    }
}

/// A published port as the API edge validated it (ingress mode, TCP or UDP).
fn published_port(port: &api::PortConfig) -> PublishedPort {
    let protocol = if port.protocol() == "udp" { Protocol::Udp } else { Protocol::Tcp };
    PublishedPort { protocol, target: port.target_port, published: port.published_port }
}

/// `EndpointSpec.Ports` (and `Endpoint.Ports`): the service's published ports.
fn port_configs(ports: &[PublishedPort]) -> Vec<api::PortConfig> {
    ports
        .iter()
        .map(|p| api::PortConfig {
            name: String::new(),
            protocol: p.protocol.as_str().into(),
            target_port: p.target,
            published_port: p.published,
            publish_mode: "ingress".into(),
        })
        .collect()
}

fn endpoint_mode(mode: EndpointMode) -> &'static str {
    match mode {
        EndpointMode::Vip => "vip",
        EndpointMode::Dnsrr => "dnsrr",
    }
}

fn update_policy(config: &api::UpdateConfig) -> UpdatePolicy {
    UpdatePolicy {
        parallelism: config.parallelism,
        delay_ns: config.delay,
        failure_action: match config.failure_action.as_str() {
            "continue" => FailureAction::Continue,
            "rollback" => FailureAction::Rollback,
            _ => FailureAction::Pause,
        },
        monitor_ns: config.monitor,
        max_failure_ratio: config.max_failure_ratio,
    }
}

fn update_config(policy: &UpdatePolicy) -> api::UpdateConfig {
    api::UpdateConfig {
        parallelism: policy.parallelism,
        delay: policy.delay_ns,
        failure_action: match policy.failure_action {
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
            FailureAction::Rollback => "rollback",
        }
        .into(),
        monitor: policy.monitor_ns,
        max_failure_ratio: policy.max_failure_ratio,
        order: "stop-first".into(),
    }
}

pub(crate) fn task_spec(template: &api::TaskSpec) -> TaskSpec {
    let container = template.container_spec.clone().unwrap_or_default();
    let limits = template.resources.as_ref().and_then(|r| r.limits.clone()).unwrap_or_default();
    let restart = template.restart_policy.clone().unwrap_or_default();
    let defaults = RestartPolicy::default();
    let placement = template.placement.clone().unwrap_or_default();
    TaskSpec {
        image: container.image,
        command: container.command,
        args: container.args,
        env: container.env,
        hostname: container.hostname,
        dir: container.dir,
        user: container.user,
        read_only: container.read_only,
        labels: container.labels,
        stop_signal: container.stop_signal,
        stop_grace_ns: container.stop_grace_period,
        cap_add: container.capability_add,
        cap_drop: container.capability_drop,
        memory_bytes: limits.memory_bytes,
        nano_cpus: limits.nano_cpus,
        pids: limits.pids,
        secrets: container
            .secrets
            .iter()
            .filter_map(|s| {
                let file = s.file.as_ref()?;
                Some(FileGrant {
                    id: s.secret_id.clone(),
                    name: s.secret_name.clone(),
                    target: file.name.clone(),
                    uid: id_number(&file.uid),
                    gid: id_number(&file.gid),
                    mode: file.mode,
                })
            })
            .collect(),
        configs: container
            .configs
            .iter()
            .filter_map(|c| {
                let file = c.file.as_ref()?;
                let target = if file.name.starts_with('/') { file.name.clone() } else { format!("/{}", file.name) };
                Some(FileGrant {
                    id: c.config_id.clone(),
                    name: c.config_name.clone(),
                    target,
                    uid: id_number(&file.uid),
                    gid: id_number(&file.gid),
                    mode: file.mode,
                })
            })
            .collect(),
        restart: RestartPolicy {
            condition: match restart.condition.as_str() {
                "none" => RestartCondition::None,
                "on-failure" => RestartCondition::OnFailure,
                _ => RestartCondition::Any,
            },
            delay_ns: restart.delay.unwrap_or(defaults.delay_ns),
            max_attempts: restart.max_attempts.unwrap_or(0),
            window_ns: restart.window.unwrap_or(0),
        },
        constraints: placement
            .constraints
            .iter()
            .filter_map(|c| api::split_constraint(c))
            .map(|(key, equal, value)| Constraint { key: key.to_owned(), equal, value: value.to_owned() })
            .collect(),
        max_replicas: placement.max_replicas,
        force_update: template.force_update,
        // The target is resolved to the network's ID by the manager.
        networks: template
            .networks
            .iter()
            .map(|n| NetworkAttachment { network_id: n.target.clone(), aliases: n.aliases.clone() })
            .collect(),
        ingress: None,
    }
}

fn api_task_spec(spec: &TaskSpec) -> api::TaskSpec {
    let file = |g: &FileGrant| api::FileTarget { name: g.target.clone(), uid: g.uid.to_string(), gid: g.gid.to_string(), mode: g.mode };
    let limits = api::Limits { nano_cpus: spec.nano_cpus, memory_bytes: spec.memory_bytes, pids: spec.pids };
    api::TaskSpec {
        container_spec: Some(api::ContainerSpec {
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            command: spec.command.clone(),
            args: spec.args.clone(),
            hostname: spec.hostname.clone(),
            env: spec.env.clone(),
            dir: spec.dir.clone(),
            user: spec.user.clone(),
            read_only: spec.read_only,
            stop_signal: spec.stop_signal.clone(),
            stop_grace_period: spec.stop_grace_ns,
            secrets: spec
                .secrets
                .iter()
                .map(|g| api::SecretReference { file: Some(file(g)), secret_id: g.id.clone(), secret_name: g.name.clone() })
                .collect(),
            configs: spec
                .configs
                .iter()
                .map(|g| api::ConfigReference {
                    file: Some(file(g)),
                    runtime: None,
                    config_id: g.id.clone(),
                    config_name: g.name.clone(),
                })
                .collect(),
            capability_add: spec.cap_add.clone(),
            capability_drop: spec.cap_drop.clone(),
            ..api::ContainerSpec::default()
        }),
        resources: Some(api::Resources { limits: Some(limits), reservations: None }),
        restart_policy: Some(api::RestartPolicy {
            condition: match spec.restart.condition {
                RestartCondition::None => "none",
                RestartCondition::OnFailure => "on-failure",
                RestartCondition::Any => "any",
            }
            .into(),
            delay: Some(spec.restart.delay_ns),
            max_attempts: Some(spec.restart.max_attempts),
            window: Some(spec.restart.window_ns),
        }),
        placement: Some(api::Placement {
            constraints: spec
                .constraints
                .iter()
                .map(|c| format!("{}{}{}", c.key, if c.equal { "==" } else { "!=" }, c.value))
                .collect(),
            max_replicas: spec.max_replicas,
            ..api::Placement::default()
        }),
        force_update: spec.force_update,
        runtime: "container".into(),
        networks: spec
            .networks
            .iter()
            .map(|n| api::NetworkAttachmentConfig { target: n.network_id.clone(), aliases: n.aliases.clone(), ..Default::default() })
            .collect(),
        ..api::TaskSpec::default()
    }
}

fn api_service_spec(spec: &ServiceSpec) -> api::ServiceSpec {
    api::ServiceSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        task_template: api_task_spec(&spec.task),
        mode: match spec.mode {
            ServiceMode::Replicated { replicas } => {
                api::ServiceMode { replicated: Some(api::ReplicatedService { replicas: Some(replicas) }), ..Default::default() }
            }
            ServiceMode::Global => api::ServiceMode { global: Some(serde_json::json!({})), ..Default::default() },
        },
        update_config: Some(update_config(&spec.update)),
        rollback_config: Some(update_config(&spec.rollback)),
        networks: Vec::new(),
        endpoint_spec: Some(api::EndpointSpec { mode: endpoint_mode(spec.endpoint_mode).into(), ports: port_configs(&spec.ports) }),
    }
}

pub(crate) fn service(view: &ServiceView, with_status: bool) -> api::Service {
    let s = &view.service;
    api::Service {
        id: s.id.clone(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(s.created_at),
        updated_at: api::timestamp(s.updated_at),
        spec: api_service_spec(&s.spec),
        previous_spec: s.previous_spec.as_ref().map(api_service_spec),
        endpoint: endpoint(s),
        update_status: s.update.as_ref().map(|u| api::UpdateStatus {
            state: u.state.as_str().into(),
            started_at: api::timestamp(u.started_at),
            completed_at: u.completed_at.map(api::timestamp).unwrap_or_default(),
            message: u.message.clone(),
        }),
        service_status: with_status.then_some(api::ServiceStatus {
            running_tasks: view.running_tasks,
            desired_tasks: view.desired_tasks,
            completed_tasks: 0,
        }),
    }
}

pub(crate) fn task(view: &TaskView) -> api::Task {
    let t = &view.task;
    let status = &t.status;
    api::Task {
        id: t.id.clone(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(t.created_at),
        updated_at: api::timestamp(t.updated_at),
        labels: Default::default(),
        spec: api_task_spec(&t.spec),
        service_id: t.service_id.clone(),
        slot: t.slot,
        node_id: t.node_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        status: api::TaskStatus {
            timestamp: api::timestamp(status.timestamp),
            state: status.state.as_str().into(),
            message: status.message.clone(),
            err: status.err.clone(),
            container_status: (!status.container_id.is_empty()).then(|| api::TaskContainerStatus {
                container_id: status.container_id.clone(),
                pid: status.pid,
                exit_code: status.exit_code.unwrap_or_default(),
            }),
        },
        desired_state: t.desired.as_str().into(),
        networks_attachments: t.addresses.iter().map(network_attachment).collect(),
    }
}

/// `Service.Endpoint`: the mode, and the virtual IP on each network as swarmkit lists them.
fn endpoint(service: &crate::model::ServiceObject) -> api::Endpoint {
    api::Endpoint {
        spec: api::EndpointSpec { mode: endpoint_mode(service.spec.endpoint_mode).into(), ports: port_configs(&service.spec.ports) },
        ports: port_configs(&service.published),
        virtual_ips: service
            .virtual_ips
            .iter()
            .map(|v| api::VirtualIp { network_id: v.network_id.clone(), addr: v.addr.to_string() })
            .collect(),
    }
}

/// One of `Task.NetworksAttachments`: the network (by ID) and the task's address on it.
fn network_attachment(address: &NetworkAddress) -> api::NetworkAttachment {
    api::NetworkAttachment {
        network: api::AttachedNetwork {
            id: address.network_id.clone(),
            spec: api::AttachedNetworkSpec {
                driver_configuration: api::DriverConfiguration { name: "overlay".into() },
                scope: "swarm".into(),
            },
        },
        addresses: vec![address.addr.to_string()],
    }
}

pub(crate) fn config(view: &ConfigView) -> api::Config {
    let c: &ConfigObject = &view.config;
    api::Config {
        id: c.id.clone(),
        version: ObjectVersion { index: view.version },
        created_at: api::timestamp(c.created_at),
        updated_at: api::timestamp(c.updated_at),
        spec: api::ConfigSpec {
            name: c.name.clone(),
            labels: c.labels.clone(),
            data: Some(api::SecretData::new(c.data.to_vec())),
            ..api::ConfigSpec::default()
        },
    }
}
