//! Coalescing concurrent writes into raft entries.
//!
//! A write joins a queue; whoever holds one of [`IN_FLIGHT`] proposer permits takes everything
//! queued and proposes it as one [`Proposal`], then hands each writer its own outcome. So 16
//! writers arriving together share one log entry, one replication round and one fsync per
//! member instead of making 16, while up to [`IN_FLIGHT`] entries are pipelined.
//!
//! Invariant: a queued write is proposed by some proposer. A proposer drains the queue until it
//! finds it empty while holding its permit, and looks again after giving the permit back; a
//! writer that finds no permit free is picked up by the proposer that has one. Proposers run
//! as their own tasks, so a writer that goes away cannot take others' outcomes with it.

use std::sync::{Arc, Mutex};

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{oneshot, Semaphore};

use crate::batch::{Applied, Outcome, Proposal, WriteBatch};
use crate::error::{Error, WriteError};
use crate::member::Member;
use crate::raft_types::TypeConfig;
use crate::replicated::{fatal, not_leader, WRITE_TIMEOUT};

/// Entries proposed and not yet answered, at most. Fewer in flight means bigger entries:
/// measured with `scripts/bench-store`, 2 gave the shortest tail (8 halved throughput).
const IN_FLIGHT: usize = 2;

type Reply = oneshot::Sender<Result<Applied, WriteError>>;

/// The write queue of one store.
pub(crate) struct Proposer {
    inner: Arc<Inner>,
}

struct Inner {
    raft: openraft::Raft<TypeConfig>,
    queue: Mutex<Vec<(WriteBatch, Reply)>>,
    permits: Arc<Semaphore>,
}

impl Proposer {
    pub(crate) fn new(raft: openraft::Raft<TypeConfig>) -> Self {
        Self {
            inner: Arc::new(Inner {
                raft,
                queue: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(IN_FLIGHT)),
            }),
        }
    }

    /// Queues `batch` and waits for its outcome.
    pub(crate) async fn write(&self, batch: WriteBatch) -> Result<Applied, WriteError> {
        let (reply, outcome) = oneshot::channel();
        self.inner.queue().push((batch, reply));
        Inner::kick(&self.inner);
        // A dropped reply means the proposer task itself failed: the outcome is unknown.
        outcome.await.unwrap_or(Err(WriteError::NoQuorum))
    }
}

impl Inner {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<(WriteBatch, Reply)>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a proposer task if a permit is free.
    fn kick(this: &Arc<Self>) {
        if let Ok(permit) = this.permits.clone().try_acquire_owned() {
            tokio::spawn(Self::propose_queued(this.clone(), permit));
        }
    }

    async fn propose_queued(this: Arc<Self>, permit: tokio::sync::OwnedSemaphorePermit) {
        loop {
            let taken: Vec<(WriteBatch, Reply)> = {
                let mut queue = this.queue();
                let n = queue.len().min(Proposal::MAX_BATCHES);
                queue.drain(..n).collect()
            };
            if taken.is_empty() {
                break;
            }
            this.propose(taken).await;
        }
        drop(permit);
        // Anything queued after the last look but before the permit was free.
        if !this.queue().is_empty() {
            Self::kick(&this);
        }
    }

    async fn propose(&self, taken: Vec<(WriteBatch, Reply)>) {
        let (batches, replies): (Vec<WriteBatch>, Vec<Reply>) = taken.into_iter().unzip();
        let written = tokio::time::timeout(WRITE_TIMEOUT, self.raft.client_write(Proposal { batches })).await;
        match written {
            Ok(Ok(response)) => {
                let index = response.log_id.index;
                let outcomes = response.data.into_iter().map(Some).chain(std::iter::repeat(None));
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let result = match outcome {
                        Some(Outcome::Applied) => Ok(Applied { index }),
                        Some(Outcome::Conflict { table, key }) => Err(WriteError::Conflict { table, key }),
                        None => {
                            Err(WriteError::Store(Error::Raft("the state machine gave no outcome for a write".into())))
                        }
                    };
                    let _ = reply.send(result);
                }
            }
            Ok(Err(e)) => {
                for reply in replies {
                    let _ = reply.send(Err(write_failure(&self.raft, &e)));
                }
            }
            Err(_) => {
                for reply in replies {
                    let _ = reply.send(Err(WriteError::NoQuorum));
                }
            }
        }
    }
}

/// What a failed `client_write` means to the writer (every writer of a failed proposal).
pub(crate) fn write_failure(
    raft: &openraft::Raft<TypeConfig>,
    e: &RaftError<u64, ClientWriteError<u64, Member>>,
) -> WriteError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            not_leader(raft, f.leader_id, f.leader_node.clone())
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            WriteError::Store(Error::Membership(e.to_string()))
        }
        RaftError::Fatal(f) => WriteError::Store(fatal(f.clone())),
    }
}
