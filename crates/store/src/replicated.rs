//! The raft-replicated store: openraft over [`LogStore`] and [`StateMachine`], with a
//! [`Transport`] to the other managers.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, InitializeError, RaftError};
use openraft::{ChangeMembers, RaftMetrics, ServerState, SnapshotPolicy};
use tokio::sync::watch;

use crate::batch::{Applied, ExportedRecord, Record, WriteBatch};
use crate::error::{Error, Result, WriteError};
use crate::keys::DataKey;
use crate::log_store::LogStore;
use crate::member::{Member, MemberState, RaftStatus};
use crate::network::{Contacts, NetworkFactory};
use crate::raft_types::TypeConfig;
use crate::state_machine::StateMachine;
use crate::table::Table;
use crate::transport::{RaftRpc, RaftRpcReply, Transport};

/// How long a write (or read barrier) may wait for a commit before it is reported as
/// [`WriteError::NoQuorum`].
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a membership change may take (two joint-consensus commits).
pub const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`ReplicatedStore::add_learner`] waits for the learner to catch up.
pub const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long [`ReplicatedStore::open`] waits for database files a previous, shutting-down
/// instance still holds.
const OPEN_RETRY: Duration = Duration::from_secs(5);

/// How to open a [`ReplicatedStore`].
pub struct StoreConfig {
    /// `<data-root>/raft`; created with mode 0700.
    pub dir: PathBuf,
    /// This member's raft ID (random, chosen by the caller, stable across restarts).
    pub raft_id: u64,
    /// The data key sealing everything under `dir`.
    pub dek: DataKey,
    /// Carries raft RPCs to the other members.
    pub transport: Arc<dyn Transport>,
    /// Leader heartbeat interval (default 100 ms).
    pub heartbeat: Duration,
    /// Election timeout range (default 1 s to 2 s); the minimum must exceed `heartbeat`.
    pub election_timeout: (Duration, Duration),
    /// Log entries between snapshots (default 10 000); half as many are kept after one.
    pub snapshot_every: u64,
}

impl StoreConfig {
    /// A configuration with the default timings.
    pub fn new(dir: impl Into<PathBuf>, raft_id: u64, dek: DataKey, transport: Arc<dyn Transport>) -> Self {
        Self {
            dir: dir.into(),
            raft_id,
            dek,
            transport,
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_secs(1), Duration::from_secs(2)),
            snapshot_every: 10_000,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("dir", &self.dir)
            .field("raft_id", &self.raft_id)
            .field("heartbeat", &self.heartbeat)
            .field("election_timeout", &self.election_timeout)
            .field("snapshot_every", &self.snapshot_every)
            .finish_non_exhaustive()
    }
}

/// A member of the raft-replicated, encrypted cluster store.
///
/// Writes go through the leader's log and are applied by every member's state machine; reads
/// ([`get`](Self::get), [`list`](Self::list)) are local, so call
/// [`linearizable`](Self::linearizable) (on the leader) or [`read_barrier`](Self::read_barrier)
/// (on any member) first when a read must see every committed write. [`write`](Self::write)
/// works on the leader only; [`write_via_leader`](Self::write_via_leader) on any member.
pub struct ReplicatedStore {
    raft_id: u64,
    raft: openraft::Raft<TypeConfig>,
    /// `None` once shut down (so the database file is released).
    sm: RwLock<Option<StateMachine>>,
    /// A handle on the log database, to see when raft's tasks have let go of it.
    log: std::sync::Mutex<Option<LogStore>>,
    contacts: Arc<Contacts>,
    /// Carries raft's messages, and requests passed on to the leader.
    transport: Arc<dyn Transport>,
    /// Coalesces concurrent writes into log entries.
    proposer: crate::proposals::Proposer,
    status: watch::Receiver<RaftStatus>,
    status_task: tokio::task::JoinHandle<()>,
    initialized: AtomicBool,
    closed: AtomicBool,
}

impl std::fmt::Debug for ReplicatedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedStore").field("raft_id", &self.raft_id).finish_non_exhaustive()
    }
}

impl Drop for ReplicatedStore {
    fn drop(&mut self) {
        self.status_task.abort();
    }
}

impl ReplicatedStore {
    /// Opens the store in `config.dir`, restarting from what is on disk, and starts raft.
    pub async fn open(config: StoreConfig) -> Result<Self> {
        create_private_dir(&config.dir)?;
        let (log, sm) = open_storage_retrying(&config.dir, &config.dek).await?;
        let had_state = log.has_state()? || sm.has_state()?;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let raft_config = openraft::Config {
            cluster_name: "palisade".into(),
            heartbeat_interval: millis(config.heartbeat),
            election_timeout_min: millis(config.election_timeout.0),
            election_timeout_max: millis(config.election_timeout.1),
            install_snapshot_timeout: millis(config.election_timeout.1).max(2_000),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: config.snapshot_every / 2,
            ..Default::default()
        }
        .validate()
        .map_err(|e| Error::Raft(e.to_string()))?;
        let contacts = Arc::new(Contacts::default());
        let network = NetworkFactory {
            transport: config.transport.clone(),
            contacts: contacts.clone(),
            backoff: config.heartbeat * 2,
        };
        let raft = openraft::Raft::new(config.raft_id, Arc::new(raft_config), network, log.clone(), sm.clone())
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;

        let mut metrics = raft.metrics();
        let initial = status_from(&metrics.borrow(), &contacts, config.raft_id);
        let (tx, status) = watch::channel(initial);
        let task_contacts = contacts.clone();
        let raft_id = config.raft_id;
        let status_task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    changed = metrics.changed() => if changed.is_err() { break },
                    _ = tick.tick() => {}
                }
                let next = status_from(&metrics.borrow(), &task_contacts, raft_id);
                tx.send_if_modified(|current| {
                    let changed = *current != next;
                    *current = next;
                    changed
                });
            }
        });
        Ok(Self {
            raft_id: config.raft_id,
            proposer: crate::proposals::Proposer::new(raft.clone()),
            raft,
            sm: RwLock::new(Some(sm)),
            log: std::sync::Mutex::new(Some(log)),
            contacts,
            transport: config.transport,
            status,
            status_task,
            initialized: AtomicBool::new(had_state),
            closed: AtomicBool::new(false),
        })
    }

    /// Whether this member has any raft state: a membership, a vote or a log.
    pub fn is_initialized(&self) -> bool {
        if self.initialized.load(Ordering::Relaxed) {
            return true;
        }
        let m = self.raft.metrics();
        let m = m.borrow();
        m.membership_config.membership().nodes().next().is_some()
            || m.last_log_index.is_some()
            || m.vote != openraft::Vote::default()
    }

    /// Initializes a new cluster with this member as its only voter.
    pub async fn bootstrap(&self, member: Member) -> Result<()> {
        let members = BTreeMap::from([(self.raft_id, member)]);
        match self.raft.initialize(members).await {
            Ok(()) => {
                self.initialized.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                Err(Error::Raft("the store is already initialized".into()))
            }
            Err(e) => Err(Error::Raft(e.to_string())),
        }
    }

    /// Commits `batch` through the leader (in one log entry with the writes that arrived with
    /// it) and waits until this member applied it.
    pub async fn write(&self, batch: WriteBatch) -> std::result::Result<Applied, WriteError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(WriteError::Store(Error::Closed));
        }
        self.proposer.write(batch).await
    }

    /// Commits `batch` from any member: here when this member leads, else passed on to the
    /// leader, asking again while a new one is elected (until [`WRITE_TIMEOUT`]). Returns once
    /// the write is committed and (waiting up to [`WRITE_TIMEOUT`] more) applied here, so local
    /// reads see it. A write whose outcome is unknown (the leader could not be reached, or did
    /// not commit in time) fails with [`WriteError::NoQuorum`] and is not sent again.
    pub async fn write_via_leader(&self, batch: WriteBatch) -> std::result::Result<Applied, WriteError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(WriteError::Store(Error::Closed));
        }
        crate::forwarding::write(self, batch).await
    }

    /// Waits until this member has applied everything committed before the call, on any
    /// member: the leader confirms its leadership with a quorum; another member asks the leader
    /// for its commit index ([`RaftRpc::ReadIndex`]) and waits to apply up to it. Local reads
    /// after it are linearizable. Fails with [`WriteError::NoQuorum`] when that cannot be known
    /// within [`WRITE_TIMEOUT`].
    pub async fn read_barrier(&self) -> std::result::Result<(), WriteError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(WriteError::Store(Error::Closed));
        }
        crate::forwarding::read_barrier(self).await
    }

    /// Confirms leadership with a quorum and waits until everything committed before the call
    /// is applied here: local reads after it are linearizable. Leader only.
    pub async fn linearizable(&self) -> std::result::Result<(), WriteError> {
        match self.timed(WRITE_TIMEOUT, self.raft.ensure_linearizable()).await? {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(not_leader(&self.raft, f.leader_id, f.leader_node))
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(_))) => Err(WriteError::NoQuorum),
            Err(RaftError::Fatal(f)) => Err(WriteError::Store(fatal(f))),
        }
    }

    /// The record `key` of `table` in the local state machine.
    pub fn get(&self, table: Table, key: &str) -> Result<Option<Record>> {
        self.with_sm(|sm| sm.get(table, key))
    }

    /// The log index of the last write applied here that touched `table`, since this store was
    /// opened (0 before any): a cheap way to tell whether a table changed without reading it.
    /// It moves before a read can see any row of the change, so reads of `table` made between
    /// two equal answers saw one state of it.
    pub fn changed_at(&self, table: Table) -> Result<u64> {
        self.with_sm(|sm| Ok(sm.changed_at(table)))
    }

    /// Every record of `table` in the local state machine, in key order.
    pub fn list(&self, table: Table) -> Result<Vec<(String, Record)>> {
        self.with_sm(|sm| sm.list(table))
    }

    /// Adds `member` as a learner and returns once it has caught up with the leader's log.
    pub async fn add_learner(&self, raft_id: u64, member: Member) -> std::result::Result<(), WriteError> {
        match self.timed(CATCH_UP_TIMEOUT, self.raft.add_learner(raft_id, member, true)).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.client_write_error(e)),
        }
    }

    /// Makes `voters` the voters; every other member (voter or learner) is removed entirely.
    /// Each voter must already be a member (see [`add_learner`](Self::add_learner)). The leader
    /// may remove itself: it steps down once the change is committed.
    pub async fn set_voters(&self, voters: BTreeSet<u64>) -> std::result::Result<(), WriteError> {
        if voters.is_empty() {
            return Err(WriteError::Store(Error::Membership("a cluster needs at least one voter".into())));
        }
        let stale_learners: BTreeSet<u64> = {
            let m = self.raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().learner_ids().filter(|id| !voters.contains(id)).collect()
        };
        if !stale_learners.is_empty() {
            let removed = self.raft.change_membership(ChangeMembers::RemoveNodes(stale_learners), false);
            if let Err(e) = self.timed(MEMBERSHIP_TIMEOUT, removed).await? {
                return Err(self.client_write_error(e));
            }
        }
        let replaced = self.raft.change_membership(ChangeMembers::ReplaceAllVoters(voters), false);
        match self.timed(MEMBERSHIP_TIMEOUT, replaced).await? {
            Ok(_) => Ok(()),
            Err(e) => Err(self.client_write_error(e)),
        }
    }

    /// The current raft status of this member.
    pub fn status(&self) -> RaftStatus {
        status_from(&self.raft.metrics().borrow(), &self.contacts, self.raft_id)
    }

    /// Status updates: on every raft metrics change, and at least every second.
    pub fn subscribe(&self) -> watch::Receiver<RaftStatus> {
        self.status.clone()
    }

    /// Feeds a raft RPC from another member to this one (the server side of [`Transport`]).
    /// Raft-level refusals come back as [`RaftRpcReply::SnapshotRefused`] or
    /// [`RaftRpcReply::Failed`]; `Err` only when this store is shut down.
    pub async fn handle(&self, rpc: RaftRpc) -> std::result::Result<RaftRpcReply, Error> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(Error::Closed);
        }
        Ok(match rpc {
            RaftRpc::AppendEntries(r) => match self.raft.append_entries(r).await {
                Ok(r) => RaftRpcReply::AppendEntries(r),
                Err(e) => RaftRpcReply::Failed(e.to_string()),
            },
            RaftRpc::Vote(r) => match self.raft.vote(r).await {
                Ok(r) => RaftRpcReply::Vote(r),
                Err(e) => RaftRpcReply::Failed(e.to_string()),
            },
            RaftRpc::InstallSnapshot(r) => match self.raft.install_snapshot(r).await {
                Ok(r) => RaftRpcReply::InstallSnapshot(r),
                Err(RaftError::APIError(e)) => RaftRpcReply::SnapshotRefused(e),
                Err(e) => RaftRpcReply::Failed(e.to_string()),
            },
            // Only as the leader: a write or read index is never passed on twice.
            RaftRpc::Write(batch) => RaftRpcReply::Leader(self.write(batch).await.map(|a| a.index).into()),
            RaftRpc::ReadIndex => RaftRpcReply::Leader(crate::forwarding::read_index(self).await),
        })
    }

    /// Stops raft and closes the database files: when it returns (within `OPEN_RETRY`, five
    /// seconds), raft's tasks have let go of them, so the directory can be reopened or
    /// exported. Further calls fail with [`Error::Closed`].
    pub async fn shutdown(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.status_task.abort();
        let result = self.raft.shutdown().await.map_err(|e| Error::Raft(e.to_string()));
        let sm = self.sm.write().ok().and_then(|mut sm| sm.take());
        let log = self.log.lock().ok().and_then(|mut log| log.take());
        let deadline = tokio::time::Instant::now() + OPEN_RETRY;
        while tokio::time::Instant::now() < deadline
            && !(sm.as_ref().is_none_or(StateMachine::is_last_handle)
                && log.as_ref().is_none_or(LogStore::is_last_handle))
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        result
    }

    /// Every record in the state machine of a stopped store in `dir` (for
    /// `--force-new-cluster`, which then wipes `dir`, bootstraps and re-writes them).
    pub fn export(dir: &Path, dek: &DataKey) -> Result<Vec<ExportedRecord>> {
        if !dir.join("state.redb").exists() {
            return Ok(Vec::new());
        }
        StateMachine::open(dir, dek)?.export()
    }

    pub(crate) fn raft(&self) -> &openraft::Raft<TypeConfig> {
        &self.raft
    }

    pub(crate) fn transport(&self) -> &dyn Transport {
        &*self.transport
    }

    fn with_sm<T>(&self, f: impl FnOnce(&StateMachine) -> Result<T>) -> Result<T> {
        let guard = self.sm.read().map_err(|_| Error::Closed)?;
        match guard.as_ref() {
            Some(sm) => f(sm),
            None => Err(Error::Closed),
        }
    }

    async fn timed<T>(&self, limit: Duration, fut: impl Future<Output = T>) -> std::result::Result<T, WriteError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(WriteError::Store(Error::Closed));
        }
        tokio::time::timeout(limit, fut).await.map_err(|_| WriteError::NoQuorum)
    }

    fn client_write_error(&self, e: RaftError<u64, ClientWriteError<u64, Member>>) -> WriteError {
        crate::proposals::write_failure(&self.raft, &e)
    }
}

/// "Not the leader", naming the leader when it is known (from the error, else the membership).
pub(crate) fn not_leader(
    raft: &openraft::Raft<TypeConfig>,
    leader_id: Option<u64>,
    leader_node: Option<Member>,
) -> WriteError {
    let leader = leader_id.and_then(|id| {
        let node = leader_node.or_else(|| {
            let m = raft.metrics();
            let m = m.borrow();
            m.membership_config.membership().get_node(&id).cloned()
        });
        node.map(|n| (id, n))
    });
    WriteError::NotLeader { leader }
}

pub(crate) fn fatal(f: openraft::error::Fatal<u64>) -> Error {
    match f {
        openraft::error::Fatal::Stopped => Error::Closed,
        other => Error::Raft(other.to_string()),
    }
}

/// The status as seen from `metrics`; the leader adds replication progress and contacts.
fn status_from(m: &RaftMetrics<u64, Member>, contacts: &Contacts, raft_id: u64) -> RaftStatus {
    let is_leader = m.state == ServerState::Leader && m.current_leader == Some(raft_id);
    let membership = m.membership_config.membership();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let now = Instant::now();
    let members = membership
        .nodes()
        .map(|(id, node)| {
            let (matched, last_contact) = if !is_leader {
                (None, None)
            } else if *id == raft_id {
                (m.last_log_index, Some(now))
            } else {
                let matched = m.replication.as_ref().and_then(|r| r.get(id)).and_then(|l| l.as_ref()).map(|l| l.index);
                (matched, contacts.last(*id))
            };
            let state = MemberState { member: node.clone(), voter: voters.contains(id), matched, last_contact };
            (*id, state)
        })
        .collect();
    RaftStatus {
        raft_id,
        leader: m.current_leader,
        term: m.current_term,
        is_leader,
        members,
        last_applied: m.last_applied.map(|l| l.index).unwrap_or(0),
    }
}

/// Opens the log store and state machine in `dir`, waiting (up to [`OPEN_RETRY`]) for files a
/// shutting-down instance in this process may still hold.
async fn open_storage_retrying(dir: &Path, dek: &DataKey) -> Result<(LogStore, StateMachine)> {
    let deadline = tokio::time::Instant::now() + OPEN_RETRY;
    loop {
        match open_storage(dir, dek) {
            Err(Error::InUse(_)) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// Opens the raft storage in `dir` (`log.redb`, `state.redb`, `snapshot.sealed`).
pub fn open_storage(dir: &Path, dek: &DataKey) -> Result<(LogStore, StateMachine)> {
    create_private_dir(dir)?;
    let log = LogStore::open(&dir.join("log.redb"), dek.cipher()?)?;
    let sm = StateMachine::open(dir, dek)?;
    Ok((log, sm))
}

fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let err = |op| move |source| Error::Io { op, path: dir.to_owned(), source };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(err("create"))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err("chmod"))
}
