//! The orchestrator and scheduler, run by the leader: it compares what services ask for with
//! the tasks there are, and writes the difference.
//!
//! Each pass reads the store once and decides from that snapshot:
//! * tasks of removed services are marked for removal, and deleted once ended;
//! * tasks on nodes that are down or drained are shut down and their slots refilled;
//! * every replicated slot (every eligible node, for a global service) gets a live task, as the
//!   restart policy allows;
//! * a changed spec is rolled out `parallelism` tasks at a time, `delay` apart;
//! * pending tasks are placed on the eligible node with the fewest of the service's tasks;
//! * ended tasks beyond the history limit are deleted;
//! * new tasks get their addresses on their networks (`allocator`) before they are stored; a
//!   task for which no address is free is not made this pass.
//!
//! Every write is pinned to the version it was decided from: a task a node updated meanwhile
//! is simply decided again on the next pass.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use palisade_pki::NodeId;
use time::OffsetDateTime;

use super::services::random_object_id;
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{
    Availability, FailureAction, NodeObject, RestartCondition, ServiceMode, ServiceObject, TaskObject, TaskState, TaskStatus, UpdateState,
    Versioned, WriteSet,
};

/// How often the leader reconciles.
const TICK: Duration = Duration::from_millis(250);
/// Ended tasks kept per slot when the cluster sets no limit.
const DEFAULT_HISTORY: usize = 5;

/// Runs until the task is aborted (the manager role stops).
pub(crate) async fn run(manager: Arc<Manager>) {
    loop {
        tokio::time::sleep(TICK).await;
        if !manager.store().status().is_leader {
            continue;
        }
        match manager.reconcile().await {
            Ok(()) | Err(Error::OutOfSequence) => {}
            Err(e) => tracing::debug!("orchestrator pass: {e}"),
        }
        if let Err(e) = manager.rotate_network_keys().await {
            tracing::debug!("network key rotation: {e}");
        }
        if let Err(e) = manager.finish_network_removals().await {
            tracing::debug!("network removals: {e}");
        }
    }
}

/// One pass's view of the cluster.
struct View {
    now: OffsetDateTime,
    /// Nodes by ID, with whether they are up.
    nodes: HashMap<NodeId, (NodeObject, bool)>,
    history: usize,
}

impl View {
    fn is_up(&self, node: &NodeId) -> bool {
        self.nodes.get(node).is_some_and(|(_, up)| *up)
    }

    fn is_drained(&self, node: &NodeId) -> bool {
        self.nodes.get(node).is_some_and(|(n, _)| n.availability == Availability::Drain)
    }

    /// Nodes new tasks of `service` may go to, in ID order.
    fn eligible<'a>(&'a self, service: &'a ServiceObject) -> impl Iterator<Item = &'a NodeObject> + 'a {
        let mut nodes: Vec<&NodeObject> = self
            .nodes
            .values()
            .filter(|(n, up)| *up && n.availability == Availability::Active && constraints_hold(service, n))
            .map(|(n, _)| n)
            .collect();
        nodes.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
        nodes.into_iter()
    }
}

/// Whether `node` meets every placement constraint of the service.
fn constraints_hold(service: &ServiceObject, node: &NodeObject) -> bool {
    service.spec.task.constraints.iter().all(|c| {
        let actual = match c.key.as_str() {
            "node.id" => Some(node.id.to_string()),
            "node.hostname" => Some(node.description.hostname.clone()),
            "node.role" => Some(node.role.to_string()),
            "node.platform.os" => Some(node.description.os.clone()),
            "node.platform.arch" => Some(node.description.architecture.clone()),
            key => key.strip_prefix("node.labels.").and_then(|k| node.labels.get(k).cloned()),
        };
        // As swarmkit: a missing label is unequal to every value.
        match actual {
            Some(actual) => actual.eq_ignore_ascii_case(&c.value) == c.equal,
            None => !c.equal,
        }
    })
}

/// The writes one pass decided.
#[derive(Default)]
struct Plan {
    /// Changed or new tasks with the version they were read at (`None`: new).
    puts: BTreeMap<String, (TaskObject, Option<u64>)>,
    deletes: Vec<(String, u64)>,
    services: Vec<(ServiceObject, u64)>,
}

impl Plan {
    fn put(&mut self, task: TaskObject, version: Option<u64>) {
        self.puts.insert(task.id.clone(), (task, version));
    }
}

impl Manager {
    /// One orchestration pass (see the module docs).
    pub(crate) async fn reconcile(&self) -> Result<()> {
        let _allocation = self.allocation.lock().await;
        let period = self.heartbeat_period()?;
        let cluster = self.records.cluster()?.value;
        let nodes = self.nodes()?;
        let view = View {
            now: self.clock.now(),
            nodes: nodes
                .into_iter()
                .map(|n| {
                    let up = self.is_ready(&n.value.id, period);
                    (n.value.id.clone(), (n.value, up))
                })
                .collect(),
            history: usize::try_from(cluster.spec.task_history_retention_limit).ok().filter(|n| *n > 0).unwrap_or(DEFAULT_HISTORY),
        };
        let services: HashMap<String, Versioned<ServiceObject>> =
            self.records.list::<ServiceObject>()?.into_iter().map(|s| (s.value.id.clone(), s)).collect();
        let mut tasks: Vec<Versioned<TaskObject>> = self.records.list::<TaskObject>()?;
        tasks.sort_by_key(|t| t.value.created_at);

        let mut plan = Plan::default();
        retire(&view, &services, &tasks, &mut plan);
        // Later steps decide from the tasks as retired.
        let current = |t: &Versioned<TaskObject>, plan: &Plan| match plan.puts.get(&t.value.id) {
            Some((task, _)) => task.clone(),
            None => t.value.clone(),
        };
        for service in services.values() {
            let mine: Vec<(TaskObject, u64)> = tasks
                .iter()
                .filter(|t| t.value.service_id == service.value.id && !plan.deletes.iter().any(|(id, _)| *id == t.value.id))
                .map(|t| (current(t, &plan), t.version))
                .collect();
            orchestrate(&view, service, mine, &mut plan);
        }
        let all: Vec<(TaskObject, Option<u64>)> = tasks
            .iter()
            .filter(|t| !plan.deletes.iter().any(|(id, _)| *id == t.value.id))
            .map(|t| (current(t, &plan), Some(t.version)))
            .chain(plan.puts.values().filter(|(_, v)| v.is_none()).map(|(t, _)| (t.clone(), None)))
            .collect();
        schedule(&view, &services, all, &mut plan);
        self.allocate_new_tasks(&mut plan)?;
        self.commit_plan(plan).await
    }

    /// Gives each new task of the plan its addresses; drops the tasks that cannot have them.
    fn allocate_new_tasks(&self, plan: &mut Plan) -> Result<()> {
        let mut pools = self.pools()?;
        plan.puts.retain(|id, (task, version)| {
            if version.is_some() || task.spec.network_ids().next().is_none() {
                return true;
            }
            match pools.allocate_task(task) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(task = %id, service = %task.service_name, "task not made: {e}");
                    false
                }
            }
        });
        Ok(())
    }

    /// Commits each decided write on its own (raft coalesces them): one raced task does not
    /// hold up the others.
    async fn commit_plan(&self, plan: Plan) -> Result<()> {
        let mut writes = Vec::new();
        for (task, version) in plan.puts.into_values() {
            writes.push(WriteSet::new().put(&task, version)?);
        }
        for (id, version) in plan.deletes {
            writes.push(WriteSet::new().delete::<TaskObject>(&id, version));
        }
        for (service, version) in plan.services {
            writes.push(WriteSet::new().put(&service, Some(version))?);
        }
        let results = futures::future::join_all(writes.into_iter().map(|w| self.records.commit(w))).await;
        for result in results {
            match result {
                Ok(_) | Err(Error::OutOfSequence) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Tasks whose service is gone are removed; tasks on down or drained nodes are shut down.
fn retire(view: &View, services: &HashMap<String, Versioned<ServiceObject>>, tasks: &[Versioned<TaskObject>], plan: &mut Plan) {
    for t in tasks {
        let task = &t.value;
        let node_gone = task.node_id.as_ref().is_none_or(|n| !view.nodes.contains_key(n));
        let node_down = task.node_id.as_ref().is_some_and(|n| !view.is_up(n));
        if !services.contains_key(&task.service_id) {
            if task.desired != TaskState::Remove {
                let mut changed = task.clone();
                changed.desired = TaskState::Remove;
                changed.updated_at = view.now;
                plan.put(changed, Some(t.version));
            } else if task.status.state.is_terminal() || node_gone || node_down {
                plan.deletes.push((task.id.clone(), t.version));
            }
            continue;
        }
        let on_unusable_node = task.node_id.as_ref().is_some_and(|n| node_gone || !view.is_up(n) || view.is_drained(n));
        if task.desired != TaskState::Running && !task.status.state.is_terminal() && task.node_id.is_some() && (node_gone || node_down) {
            // Being shut down on a node that will not say so: it ends here, so history can go.
            let mut changed = task.clone();
            changed.status = TaskStatus::new(TaskState::Orphaned, view.now, "task belongs to a node that is down or gone");
            changed.updated_at = view.now;
            plan.put(changed, Some(t.version));
        } else if task.desired == TaskState::Running && on_unusable_node {
            let mut changed = task.clone();
            changed.desired = TaskState::Shutdown;
            changed.updated_at = view.now;
            if node_gone || node_down {
                // Nobody will report it ended: say so, so that nothing waits for it.
                changed.status = TaskStatus::new(TaskState::Orphaned, view.now, "task belongs to a node that is down or gone");
            }
            plan.put(changed, Some(t.version));
        }
    }
}

/// Slots (or nodes, for global services) and their tasks, oldest first.
fn by_slot(service: &ServiceObject, tasks: Vec<(TaskObject, u64)>) -> BTreeMap<String, Vec<(TaskObject, u64)>> {
    let mut slots: BTreeMap<String, Vec<(TaskObject, u64)>> = BTreeMap::new();
    for (task, version) in tasks {
        let key = match service.spec.mode {
            ServiceMode::Replicated { .. } => format!("{:020}", task.slot),
            ServiceMode::Global => task.node_id.as_ref().map(ToString::to_string).unwrap_or_default(),
        };
        slots.entry(key).or_default().push((task, version));
    }
    slots
}

/// Keeps each slot of one service filled, rolls out its spec, trims its history.
fn orchestrate(view: &View, service: &Versioned<ServiceObject>, tasks: Vec<(TaskObject, u64)>, plan: &mut Plan) {
    let svc = &service.value;
    let mut slots = by_slot(svc, tasks);
    // Which slots should exist.
    let wanted: Vec<(String, u64, Option<NodeId>)> = match svc.spec.mode {
        ServiceMode::Replicated { replicas } => (1..=replicas).map(|slot| (format!("{slot:020}"), slot, None)).collect(),
        ServiceMode::Global => view.eligible(svc).map(|n| (n.id.to_string(), 0, Some(n.id.clone()))).collect(),
    };
    // Slots beyond the wanted ones (scaled down, node no longer eligible) are shut down.
    for (key, tasks) in &slots {
        if wanted.iter().any(|(k, _, _)| k == key) {
            continue;
        }
        for (task, version) in tasks.iter().filter(|(t, _)| t.desired == TaskState::Running) {
            let mut changed = task.clone();
            changed.desired = TaskState::Shutdown;
            changed.updated_at = view.now;
            plan.put(changed, Some(*version));
        }
    }
    let launch = rollout(view, service, &slots, plan);
    for (key, slot, node) in wanted {
        let tasks = slots.remove(&key).unwrap_or_default();
        let live: Vec<&(TaskObject, u64)> = tasks.iter().filter(|(t, _)| t.is_live()).collect();
        // Duplicates (a lost race): keep the newest.
        for (task, version) in live.iter().rev().skip(1) {
            let mut changed = task.clone();
            changed.desired = TaskState::Shutdown;
            plan.put(changed, Some(*version));
        }
        let replace = launch.contains(&key);
        if let Some((current, version)) = live.last() {
            if replace {
                let mut old = current.clone();
                old.desired = TaskState::Shutdown;
                old.updated_at = view.now;
                plan.put(old, Some(*version));
                plan.put(new_task(view, svc, slot, node), None);
            }
        } else if restart_allowed(view, svc, &tasks) {
            // The ended task that this one replaces is no longer wanted.
            if let Some((last, version)) = tasks.last().filter(|(t, _)| t.desired == TaskState::Running) {
                let mut old = last.clone();
                old.desired = TaskState::Shutdown;
                plan.put(old, Some(*version));
            }
            plan.put(new_task(view, svc, slot, node), None);
        }
        trim_history(view, &tasks, plan);
    }
    for tasks in slots.values() {
        trim_history(view, tasks, plan);
    }
}

/// Deletes a slot's oldest ended tasks beyond the history limit.
fn trim_history(view: &View, tasks: &[(TaskObject, u64)], plan: &mut Plan) {
    let ended: Vec<&(TaskObject, u64)> =
        tasks.iter().filter(|(t, _)| t.desired != TaskState::Running && t.status.state.is_terminal()).collect();
    let excess = ended.len().saturating_sub(view.history);
    for (task, version) in ended.into_iter().take(excess) {
        plan.puts.remove(&task.id);
        plan.deletes.push((task.id.clone(), *version));
    }
}

/// A slot with no live task gets a new one unless the restart policy says otherwise. Tasks
/// the orchestrator shut down are always replaced; tasks that ended on their own are
/// replaced as the condition says, after the delay, while attempts remain in the window.
fn restart_allowed(view: &View, service: &ServiceObject, tasks: &[(TaskObject, u64)]) -> bool {
    let Some((last, _)) = tasks.last() else { return true };
    let ended_itself = |t: &TaskObject| matches!(t.status.state, TaskState::Complete | TaskState::Failed | TaskState::Rejected);
    if !ended_itself(last) {
        return true;
    }
    // The policy of the spec the task ran, as swarmkit does.
    let policy = last.spec.restart;
    let wanted = match policy.condition {
        RestartCondition::None => false,
        RestartCondition::OnFailure => last.status.state != TaskState::Complete,
        RestartCondition::Any => true,
    };
    // A task of an older spec is replaced by one of the current spec regardless.
    if last.spec_version != service.spec_version {
        return true;
    }
    if !wanted {
        return false;
    }
    let since_end = view.now - last.status.timestamp;
    if since_end < time::Duration::nanoseconds(policy.delay_ns) {
        return false;
    }
    if policy.max_attempts > 0 {
        let window_start = (policy.window_ns > 0).then(|| view.now - time::Duration::nanoseconds(policy.window_ns));
        let attempts = tasks
            .iter()
            .filter(|(t, _)| ended_itself(t) && t.spec_version == service.spec_version)
            .filter(|(t, _)| window_start.is_none_or(|start| t.status.timestamp >= start))
            .count() as u64;
        if attempts > policy.max_attempts {
            return false;
        }
    }
    true
}

fn new_task(view: &View, service: &ServiceObject, slot: u64, node: Option<NodeId>) -> TaskObject {
    TaskObject {
        id: random_object_id(),
        service_id: service.id.clone(),
        service_name: service.spec.name.clone(),
        service_labels: service.spec.labels.clone(),
        slot,
        node_id: node,
        spec: service.spec.task.clone(),
        spec_version: service.spec_version,
        desired: TaskState::Running,
        status: TaskStatus::new(TaskState::Pending, view.now, "pending task scheduling"),
        addresses: Vec::new(),
        created_at: view.now,
        updated_at: view.now,
    }
}

/// The rolling update: which slots get a task of the new spec now. Out-of-date live tasks
/// are replaced `parallelism` at a time; the next batch starts once the last one runs and
/// `delay` has passed. The service's update status is kept in step.
fn rollout(
    view: &View,
    service: &Versioned<ServiceObject>,
    slots: &BTreeMap<String, Vec<(TaskObject, u64)>>,
    plan: &mut Plan,
) -> Vec<String> {
    let svc = &service.value;
    let live = slots.iter().filter_map(|(key, tasks)| tasks.iter().rev().find(|(t, _)| t.is_live()).map(|(t, _)| (key, t)));
    let (outdated, in_flight): (Vec<_>, Vec<_>) = live.partition(|(_, t)| t.spec_version != svc.spec_version);
    let in_flight = in_flight.iter().filter(|(_, t)| t.status.state < TaskState::Running).count();
    let mut progress = match svc.update.clone() {
        Some(progress) if progress.state.is_active() => progress,
        // A paused update waits for the operator (another update or a rollback).
        Some(progress) if matches!(progress.state, UpdateState::Paused | UpdateState::RollbackPaused) => return Vec::new(),
        // No update under way (a task left from before one finished): replace as it comes.
        _ => return outdated.into_iter().map(|(k, _)| k.clone()).collect(),
    };
    let rollback = progress.state.is_rollback();
    let policy = svc.spec.policy(rollback);
    // A task of this update that failed or was rejected stops it, as its failure action says.
    let failed = slots.values().flatten().find(|(t, _)| {
        t.spec_version == svc.spec_version
            && t.created_at >= progress.started_at
            && matches!(t.status.state, TaskState::Failed | TaskState::Rejected)
    });
    if let Some((task, _)) = failed.filter(|_| policy.failure_action != FailureAction::Continue) {
        let mut changed = svc.clone();
        let message = format!("update paused due to failure or early termination of task {}", task.id);
        match (policy.failure_action, rollback, svc.previous_spec.clone()) {
            (FailureAction::Rollback, false, Some(previous)) => {
                changed.previous_spec = Some(std::mem::replace(&mut changed.spec, previous));
                changed.spec_version += 1;
                progress.state = UpdateState::RollbackStarted;
                progress.started_at = view.now;
                progress.batch_done_at = None;
                progress.message = format!("rollback started after the failure of task {}", task.id);
            }
            _ => {
                progress.state = if rollback { UpdateState::RollbackPaused } else { UpdateState::Paused };
                progress.message = message;
            }
        }
        changed.update = Some(progress);
        plan.services.push((changed, service.version));
        return Vec::new();
    }
    let done = |progress: &mut crate::model::UpdateProgress| {
        progress.state = if rollback { UpdateState::RollbackCompleted } else { UpdateState::Completed };
        progress.completed_at = Some(view.now);
        progress.message = if rollback { "rollback completed".into() } else { "update completed".into() };
    };
    let mut chosen = Vec::new();
    if outdated.is_empty() {
        if in_flight == 0 {
            done(&mut progress);
        }
    } else if in_flight == 0 {
        let delay = time::Duration::nanoseconds(policy.delay_ns);
        let launched_before = outdated.len() < slots.len();
        match progress.batch_done_at {
            None if launched_before && delay > time::Duration::ZERO => progress.batch_done_at = Some(view.now),
            Some(at) if view.now - at < delay => {}
            _ => {
                let batch = if policy.parallelism == 0 { outdated.len() } else { policy.parallelism as usize };
                chosen = outdated.iter().take(batch).map(|(k, _)| (*k).clone()).collect();
                progress.batch_done_at = None;
            }
        }
    }
    if svc.update.as_ref().is_some_and(|u| u.state != progress.state || u.batch_done_at != progress.batch_done_at) {
        let mut changed = svc.clone();
        changed.update = Some(progress);
        plan.services.push((changed, service.version));
    }
    chosen
}

/// Places pending tasks: on the eligible node with the fewest live tasks of the service, then
/// the fewest live tasks in all, never beyond the service's per-node maximum.
fn schedule(
    view: &View,
    services: &HashMap<String, Versioned<ServiceObject>>,
    tasks: Vec<(TaskObject, Option<u64>)>,
    plan: &mut Plan,
) {
    let mut load: HashMap<(NodeId, Option<String>), usize> = HashMap::new();
    for (task, _) in tasks.iter().filter(|(t, _)| t.is_live()) {
        if let Some(node) = &task.node_id {
            *load.entry((node.clone(), Some(task.service_id.clone()))).or_default() += 1;
            *load.entry((node.clone(), None)).or_default() += 1;
        }
    }
    for (task, version) in tasks {
        if task.desired != TaskState::Running || task.status.state > TaskState::Pending {
            continue;
        }
        let Some(service) = services.get(&task.service_id) else { continue };
        let mut placed = task.clone();
        if task.node_id.is_some() {
            // Global tasks are made for their node.
            placed.status = TaskStatus::new(TaskState::Assigned, view.now, "scheduler assigned task to node");
        } else {
            let max = service.value.spec.task.max_replicas;
            let best = view
                .eligible(&service.value)
                .filter(|n| max == 0 || load.get(&(n.id.clone(), Some(task.service_id.clone()))).copied().unwrap_or(0) < max as usize)
                .min_by_key(|n| {
                    (
                        load.get(&(n.id.clone(), Some(task.service_id.clone()))).copied().unwrap_or(0),
                        load.get(&(n.id.clone(), None)).copied().unwrap_or(0),
                    )
                })
                .map(|n| n.id.clone());
            match best {
                Some(node) => {
                    *load.entry((node.clone(), Some(task.service_id.clone()))).or_default() += 1;
                    *load.entry((node.clone(), None)).or_default() += 1;
                    placed.node_id = Some(node);
                    placed.status = TaskStatus::new(TaskState::Assigned, view.now, "scheduler assigned task to node");
                }
                None => {
                    let message = "no suitable node (no ready, active node meets the constraints)";
                    if task.status.message == message {
                        continue;
                    }
                    placed.status.message = message.into();
                }
            }
        }
        placed.updated_at = view.now;
        plan.put(placed, version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Constraint, NodeDescription, RestartPolicy};

    fn node(id: &str, role: palisade_pki::NodeRole, labels: &[(&str, &str)]) -> NodeObject {
        let now = OffsetDateTime::now_utc();
        NodeObject {
            id: id.parse().unwrap(),
            created_at: now,
            updated_at: now,
            role,
            availability: Availability::Active,
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            name: String::new(),
            description: NodeDescription { hostname: format!("host-{id}"), ..NodeDescription::default() },
            addr: "127.0.0.1".into(),
            listen_port: 0,
            cert_not_after: now,
            issuer: palisade_pki::IssuerInfo { subject_der: Vec::new(), public_key_der: Vec::new() },
            raft_id: None,
            ingress_addr: None,
        }
    }

    fn service(constraints: Vec<Constraint>) -> ServiceObject {
        let spec = crate::model::ServiceSpec::replicated("web", crate::model::TaskSpec { constraints, ..Default::default() });
        ServiceObject::new("svc".into(), spec, Vec::new(), OffsetDateTime::now_utc())
    }

    fn view() -> View {
        View { now: OffsetDateTime::now_utc(), nodes: HashMap::new(), history: DEFAULT_HISTORY }
    }

    /// A task of `svc` in slot 1 that ended `ago` in `state`.
    fn ended(svc: &ServiceObject, state: TaskState, ago: time::Duration) -> (TaskObject, u64) {
        let now = OffsetDateTime::now_utc();
        let mut task = new_task(&view(), svc, 1, None);
        task.status = TaskStatus::new(state, now - ago, "ended");
        (task, 1)
    }

    #[test]
    fn the_restart_policy_decides_about_tasks_that_ended_on_their_own() {
        let mut svc = service(Vec::new());
        let v = view();
        let seconds = time::Duration::seconds;
        // Default: any exit, after 5 s.
        assert!(!restart_allowed(&v, &svc, &[ended(&svc, TaskState::Complete, seconds(1))]));
        assert!(restart_allowed(&v, &svc, &[ended(&svc, TaskState::Complete, seconds(6))]));
        // Shut down by the orchestrator (drain, node down): replaced at once.
        assert!(restart_allowed(&v, &svc, &[ended(&svc, TaskState::Shutdown, seconds(0))]));
        // on-failure: not after a clean exit.
        svc.spec.task.restart = RestartPolicy { condition: RestartCondition::OnFailure, delay_ns: 0, ..RestartPolicy::default() };
        assert!(!restart_allowed(&v, &svc, &[ended(&svc, TaskState::Complete, seconds(1))]));
        assert!(restart_allowed(&v, &svc, &[ended(&svc, TaskState::Failed, seconds(1))]));
        // none: never.
        svc.spec.task.restart.condition = RestartCondition::None;
        assert!(!restart_allowed(&v, &svc, &[ended(&svc, TaskState::Failed, seconds(60))]));
        // At most two restarts in the window: the third failure in it is the last.
        svc.spec.task.restart = RestartPolicy { condition: RestartCondition::Any, delay_ns: 0, max_attempts: 2, window_ns: 60_000_000_000 };
        let failures = |n: usize| (0..n).map(|_| ended(&svc, TaskState::Failed, seconds(1))).collect::<Vec<_>>();
        assert!(restart_allowed(&v, &svc, &failures(2)));
        assert!(!restart_allowed(&v, &svc, &failures(3)));
        let old: Vec<_> = (0..3).map(|_| ended(&svc, TaskState::Failed, seconds(120))).collect();
        assert!(restart_allowed(&v, &svc, &old), "failures outside the window do not count");
    }

    #[test]
    fn a_rolling_update_replaces_parallelism_tasks_then_waits_for_them_and_the_delay() {
        let mut svc = service(Vec::new());
        svc.spec.mode = ServiceMode::Replicated { replicas: 3 };
        svc.spec.update = crate::model::UpdatePolicy { parallelism: 2, delay_ns: 10_000_000_000, ..Default::default() };
        let v = view();
        let running = |svc: &ServiceObject, slot: u64| {
            let mut task = new_task(&v, svc, slot, None);
            task.status = TaskStatus::new(TaskState::Running, v.now, "started");
            task
        };
        let old: Vec<(TaskObject, u64)> = (1..=3).map(|slot| (running(&svc, slot), 1)).collect();
        svc.spec_version = 2;
        svc.update = Some(crate::model::UpdateProgress {
            state: UpdateState::Updating,
            started_at: v.now,
            completed_at: None,
            message: String::new(),
            batch_done_at: None,
        });
        let versioned = Versioned { version: 7, value: svc.clone() };
        let mut plan = Plan::default();
        let first = rollout(&v, &versioned, &by_slot(&svc, old.clone()), &mut plan);
        assert_eq!(first.len(), 2, "two at a time");
        // The new tasks are not running yet: nothing more.
        let mut tasks = old.clone();
        for (task, _) in tasks.iter_mut().take(2) {
            task.spec_version = 2;
            task.status.state = TaskState::Starting;
        }
        assert!(rollout(&v, &versioned, &by_slot(&svc, tasks.clone()), &mut plan).is_empty());
        // Running now: the delay starts, recorded on the service.
        for (task, _) in tasks.iter_mut().take(2) {
            task.status.state = TaskState::Running;
        }
        let mut plan = Plan::default();
        assert!(rollout(&v, &versioned, &by_slot(&svc, tasks.clone()), &mut plan).is_empty());
        let waiting = plan.services.pop().expect("the batch's end is recorded").0;
        assert!(waiting.update.as_ref().is_some_and(|u| u.batch_done_at.is_some()));
        // After the delay the last one goes.
        let later = View { now: v.now + time::Duration::seconds(11), ..view() };
        let versioned = Versioned { version: 8, value: waiting };
        assert_eq!(rollout(&later, &versioned, &by_slot(&svc, tasks.clone()), &mut Plan::default()).len(), 1);
        // A failed task of the update pauses it.
        tasks[0].0.status.state = TaskState::Failed;
        tasks[0].0.created_at = later.now;
        let mut plan = Plan::default();
        assert!(rollout(&later, &versioned, &by_slot(&svc, tasks), &mut plan).is_empty());
        let paused = plan.services.pop().expect("the pause is recorded").0;
        assert_eq!(paused.update.map(|u| u.state), Some(UpdateState::Paused));
    }

    #[test]
    fn constraints_match_as_swarmkit_s() {
        let worker = node("aaaaaaaaaaaaaaaaaaaaaaaaa", palisade_pki::NodeRole::Worker, &[("zone", "eu")]);
        let c = |key: &str, equal, value: &str| Constraint { key: key.into(), equal, value: value.into() };
        assert!(constraints_hold(&service(vec![c("node.role", true, "worker")]), &worker));
        assert!(!constraints_hold(&service(vec![c("node.role", true, "manager")]), &worker));
        assert!(constraints_hold(&service(vec![c("node.labels.zone", true, "EU")]), &worker));
        assert!(constraints_hold(&service(vec![c("node.labels.rack", false, "1")]), &worker));
        assert!(!constraints_hold(&service(vec![c("node.labels.rack", true, "1")]), &worker));
    }
}
