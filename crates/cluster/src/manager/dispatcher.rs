//! The dispatcher: what the leader tells each node to run, and what it hears back.
//!
//! Every call is authorised by the node ID in the caller's verified certificate, never by
//! what the request says:
//! * a node reads its own assignments only;
//! * it receives a secret's or config's value only for a task assigned to it, wanted running,
//!   whose spec grants it;
//! * it reports the status of its own tasks only, and a status only ever moves forward;
//! * it receives an overlay network (and so its keys) only while one of its tasks is attached
//!   to the network (assigned to it and not ended), or one of its containers is.

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::Duration;

use palisade_pki::{NodeCertInfo, NodeId};
use palisade_store::Table;

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{ConfigKind, FileGrant, SecretKind, ServiceObject, TaskObject, TaskState, ValueKind, Versioned, WriteSet};
use crate::overlay::{IngressPort, OverlayAttachment, OverlayContainer, OverlayIngress, OverlayKey, OverlayNetwork, OverlayPeer, OverlayService, OverlayState};
use crate::rpc::{Assignments, DeliveredFile, FileKind, TaskFiles, TaskReport};

/// The longest an assignments call waits for a change before answering unchanged.
const LONG_POLL: Duration = Duration::from_secs(10);
/// How often a waiting assignments call looks for a change.
const POLL_STEP: Duration = Duration::from_millis(100);
/// The most reports one call may carry.
const MAX_REPORTS: usize = 1024;

/// `service` as the nodes of network `network_id` resolve and balance it: its name and
/// aliases there, its VIP there, and the addresses there of its tasks running now. `None` when
/// the service is not on the network.
fn service_on(service: &ServiceObject, network_id: &str, running: &RunningTasks<'_>) -> Option<OverlayService> {
    let attachment = service.spec.task.networks.iter().find(|a| a.network_id == network_id)?;
    let mut names = vec![service.spec.name.clone()];
    names.extend(attachment.aliases.iter().filter(|a| !a.eq_ignore_ascii_case(&service.spec.name)).cloned());
    let vip = service.virtual_ips.iter().find(|v| v.network_id == network_id).map(|v| v.addr.addr());
    let tasks = running.addresses(service, network_id);
    Some(OverlayService { names, vip, tasks })
}

/// `service`'s published ports, each with the ingress addresses (on network `ingress_id`) of
/// the service's running tasks.
fn published_ports(service: &ServiceObject, ingress_id: &str, running: &RunningTasks<'_>) -> Vec<IngressPort> {
    let tasks = running.addresses(service, ingress_id);
    service
        .published
        .iter()
        .map(|p| IngressPort { protocol: p.protocol.as_str().into(), published: p.published, target: p.target, tasks: tasks.clone() })
        .collect()
}

/// Each service's tasks running now (wanted running and running), in slot order: what the
/// services' names resolve to and their VIPs and published ports balance over. Made once per
/// answer, from one read of the tasks.
struct RunningTasks<'a>(HashMap<&'a str, Vec<&'a TaskObject>>);

impl<'a> RunningTasks<'a> {
    fn new(tasks: &'a [Versioned<TaskObject>]) -> Self {
        let mut by_service: HashMap<&str, Vec<&TaskObject>> = HashMap::new();
        let running = tasks.iter().map(|t| &t.value).filter(|t| t.desired == TaskState::Running && t.status.state == TaskState::Running);
        for task in running {
            by_service.entry(task.service_id.as_str()).or_default().push(task);
        }
        for tasks in by_service.values_mut() {
            tasks.sort_by_key(|t| (t.slot, t.created_at));
        }
        Self(by_service)
    }

    /// The addresses on network `network_id` of `service`'s running tasks, in slot order.
    fn addresses(&self, service: &ServiceObject, network_id: &str) -> Vec<Ipv4Addr> {
        let tasks = self.0.get(service.id.as_str()).into_iter().flatten();
        tasks.flat_map(|t| &t.addresses).filter(|a| a.network_id == network_id).map(|a| a.addr.addr()).collect()
    }
}

impl Manager {
    /// The tasks assigned to the caller. When `known` is the version of the set the node holds,
    /// waits (up to [`LONG_POLL`]) for it to change first.
    pub(super) async fn assignments(&self, peer: &NodeCertInfo, node: &NodeId, known: Option<u64>) -> Result<Assignments> {
        if *node != peer.node_id {
            return Err(Error::PermissionDenied(format!("node {} may not read the assignments of node {node}", peer.node_id)));
        }
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        let deadline = tokio::time::Instant::now() + LONG_POLL;
        loop {
            let waiting = self.logs.notified();
            // Raft indexes: the largest moves whenever one of the tables the assignments are
            // made of changes (keys rotate in the networks table, VIPs live in the services
            // table, nodes report their overlay keys in the nodes table).
            let mut changed_at = 0;
            for table in [Table::Tasks, Table::Networks, Table::Services, Table::Nodes] {
                changed_at = changed_at.max(self.store().changed_at(table)?);
            }
            let logs_waiting = self.logs.has_requests_for(node);
            if known != Some(changed_at) || logs_waiting || tokio::time::Instant::now() >= deadline {
                let tasks: Vec<TaskObject> = self.tasks_of(node)?.into_iter().map(|t| t.value).collect();
                let overlay = self.overlay_state(node, &tasks)?;
                return Ok(Assignments { version: changed_at, tasks, logs: self.logs.claim(node), overlay });
            }
            let _ = tokio::time::timeout(POLL_STEP, waiting).await;
            if !self.store().status().is_leader {
                return Err(Error::NotLeader);
            }
        }
    }

    /// The overlay networks `node`'s tasks (`tasks`) or containers are attached to, with their
    /// keys, the other nodes on them and the node's own attachments; and, while a service
    /// publishes a port, the ingress network, which every node with an ingress address is on.
    /// Nothing of any other network.
    pub(super) fn overlay_state(&self, node: &NodeId, tasks: &[TaskObject]) -> Result<OverlayState> {
        let attached: Vec<&TaskObject> = tasks.iter().filter(|t| t.is_attached()).collect();
        let mut wanted: BTreeSet<String> = attached.iter().flat_map(|t| &t.addresses).map(|a| a.network_id.clone()).collect();
        let all_networks = self.network_list()?;
        wanted.extend(all_networks.iter().filter(|n| n.value.containers.iter().any(|c| c.node_id == *node)).map(|n| n.value.id.clone()));
        let ingress_network = all_networks.iter().find(|n| n.value.is_live_ingress());
        // Most calls come from nodes on no network while nothing is published: answered
        // without reading the services, nodes and tasks.
        if wanted.is_empty() && ingress_network.is_none() {
            return Ok(OverlayState::default());
        }
        let services = self.records.list::<ServiceObject>()?;
        let nodes = self.nodes()?;
        let ingress = match ingress_network {
            Some(network) if services.iter().any(|s| !s.value.published.is_empty()) => {
                nodes.iter().find(|n| &n.value.id == node).and_then(|n| n.value.ingress_addr).map(|address| (network.value.id.clone(), address))
            }
            _ => None,
        };
        if let Some((id, _)) = &ingress {
            wanted.insert(id.clone());
        }
        if wanted.is_empty() {
            return Ok(OverlayState::default());
        }
        let now = self.clock.now();
        let all_tasks = self.records.list::<TaskObject>()?;
        let running = RunningTasks::new(&all_tasks);
        let mut networks: Vec<OverlayNetwork> = all_networks
            .into_iter()
            .filter(|n| wanted.contains(&n.value.id))
            .map(|n| {
                let n = n.value;
                let on_network = |t: &TaskObject| t.is_attached() && t.addresses.iter().any(|a| a.network_id == n.id);
                let peer_ids: BTreeSet<&NodeId> = all_tasks
                    .iter()
                    .filter(|t| on_network(&t.value))
                    .filter_map(|t| t.value.node_id.as_ref())
                    .chain(n.containers.iter().map(|c| &c.node_id))
                    .chain(nodes.iter().filter(|p| n.ingress && p.value.ingress_addr.is_some()).map(|p| &p.value.id))
                    .filter(|id| *id != node)
                    .collect();
                let peers = nodes
                    .iter()
                    .filter(|p| peer_ids.contains(&p.value.id))
                    .map(|p| OverlayPeer {
                        node_id: p.value.id.to_string(),
                        addr: p.value.addr.clone(),
                        public_key: p.value.description.overlay_key.clone(),
                    })
                    .collect();
                let attachments = attached
                    .iter()
                    .flat_map(|t| t.addresses.iter().filter(|a| a.network_id == n.id).map(|a| (t.id.clone(), a)))
                    .map(|(task_id, a)| OverlayAttachment { task_id, addr: a.addr.addr(), mac: a.mac() })
                    .collect();
                let keys = n.keys.iter().flat_map(|k| k.valid_at(now)).map(|k| OverlayKey::new(k.generation, k.key.clone())).collect();
                // No names on the ingress network: it only carries published ports.
                let services = match n.ingress {
                    true => Vec::new(),
                    false => services.iter().filter_map(|s| service_on(&s.value, &n.id, &running)).collect(),
                };
                let containers = n.containers.iter().map(|c| OverlayContainer { names: c.names.clone(), addr: c.addr.addr() }).collect();
                OverlayNetwork {
                    id: n.id,
                    name: n.name,
                    vni: n.vni,
                    subnet: n.subnet,
                    gateway: n.gateway,
                    keys,
                    peers,
                    attachments,
                    services,
                    containers,
                }
            })
            .collect();
        networks.sort_by(|a, b| a.id.cmp(&b.id));
        let ingress = ingress.map(|(network_id, address)| {
            let ports = services.iter().flat_map(|s| published_ports(&s.value, &network_id, &running)).collect();
            OverlayIngress { network_id, address, ports }
        });
        Ok(OverlayState { networks, ingress })
    }

    fn tasks_of(&self, node: &NodeId) -> Result<Vec<Versioned<TaskObject>>> {
        let mut tasks: Vec<_> =
            self.records.list::<TaskObject>()?.into_iter().filter(|t| t.value.node_id.as_ref() == Some(node)).collect();
        tasks.sort_by_key(|t| t.value.created_at);
        Ok(tasks)
    }

    /// The secrets and configs of one of the caller's tasks, with their values: only while the
    /// task is assigned to the caller and wanted running.
    pub(super) async fn task_files(&self, peer: &NodeCertInfo, task_id: &str) -> Result<TaskFiles> {
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        let refused = || Error::PermissionDenied(format!("task {task_id} is not assigned to node {}", peer.node_id));
        let task = self.records.get::<TaskObject>(task_id)?.ok_or_else(refused)?.value;
        if task.node_id.as_ref() != Some(&peer.node_id) || task.desired != TaskState::Running || task.status.state.is_terminal() {
            return Err(refused());
        }
        let mut files = self.deliver::<SecretKind>(&task.spec.secrets, FileKind::Secret, task_id)?;
        files.extend(self.deliver::<ConfigKind>(&task.spec.configs, FileKind::Config, task_id)?);
        tracing::info!(task = task_id, node = %peer.node_id, files = files.len(), "delivered task files");
        Ok(TaskFiles { files })
    }

    /// The granted values of one task, as files.
    fn deliver<K: ValueKind>(&self, grants: &[FileGrant], kind: FileKind, task_id: &str) -> Result<Vec<DeliveredFile>> {
        let values = self.value_list::<K>()?;
        grants
            .iter()
            .map(|grant| {
                let value = values.iter().find(|v| v.value.id == grant.id).ok_or_else(|| {
                    Error::precondition(format!("{} {} of task {task_id} no longer exists", K::KIND, grant.name))
                })?;
                Ok(DeliveredFile::new(kind, grant, value.value.data.clone()))
            })
            .collect()
    }

    /// Status reports of the caller's tasks. Reports of tasks not assigned to it are refused
    /// (the whole call: a node that sends them is misbehaving); stale ones are dropped.
    pub(super) async fn task_reports(&self, peer: &NodeCertInfo, reports: Vec<TaskReport>) -> Result<()> {
        if reports.len() > MAX_REPORTS {
            return Err(Error::invalid(format!("at most {MAX_REPORTS} task reports per call")));
        }
        let cluster = self.records.cluster()?.value;
        self.authorize(&cluster, peer)?;
        let mut writes = Vec::new();
        for report in reports {
            let Some(current) = self.records.get::<TaskObject>(&report.task_id)? else { continue };
            if current.value.node_id.as_ref() != Some(&peer.node_id) {
                return Err(Error::PermissionDenied(format!(
                    "task {} is not assigned to node {}",
                    report.task_id, peer.node_id
                )));
            }
            if report.status.state <= current.value.status.state || report.status.state > TaskState::Rejected {
                continue;
            }
            let mut task = current.value;
            task.status = report.status.bounded();
            task.status.timestamp = self.clock.now();
            task.updated_at = task.status.timestamp;
            writes.push(WriteSet::new().put(&task, Some(current.version))?);
        }
        for result in futures::future::join_all(writes.into_iter().map(|w| self.records.commit(w))).await {
            match result {
                Ok(_) | Err(Error::OutOfSequence) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
