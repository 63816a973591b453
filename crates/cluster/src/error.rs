//! What can go wrong in the cluster, said by whose fault it is.
//!
//! Every variant names a party: the caller (`InvalidArgument`, `NotFound`, ...), the cluster's
//! state (`FailedPrecondition`, `Unavailable`, `Locked`, ...), a peer (`Remote`) or Palisade
//! itself (`Internal`). The Engine-API status and message of each is decided in one place,
//! `api::errors`; nothing else in this crate knows about HTTP.

use std::fmt::Display;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A cluster failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The caller asked for something invalid (swarmkit's `InvalidArgument`).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is valid but the cluster's state does not allow it (`FailedPrecondition`).
    #[error("{0}")]
    FailedPrecondition(String),
    /// No object matches the reference.
    #[error("{kind} {reference} not found")]
    NotFound {
        /// `node`, `secret`, ...
        kind: &'static str,
        /// What the caller named.
        reference: String,
    },
    /// The reference matches more than one object.
    #[error("{kind} {reference} is ambiguous ({matches} matches found)")]
    Ambiguous {
        /// `node`, `secret`, ...
        kind: &'static str,
        /// What the caller named.
        reference: String,
        /// How many matched.
        matches: usize,
    },
    /// An object with that name exists already.
    #[error("{kind} {name} already exists")]
    AlreadyExists {
        /// `secret`, ...
        kind: &'static str,
        /// The name.
        name: String,
    },
    /// A secret or config that services still use.
    #[error("{kind} '{name}' is in use by the following service(s): {}", services.join(", "))]
    InUse {
        /// `secret` or `config`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The services that use it.
        services: Vec<String>,
    },
    /// The caller's copy of an object is older than the stored one.
    #[error("update out of sequence")]
    OutOfSequence,
    /// A join token that is malformed, unknown or rotated away. Deliberately says nothing
    /// about which part was wrong.
    #[error("A valid join token is necessary to join this cluster")]
    InvalidJoinToken,
    /// The caller presented no client certificate where one is required.
    #[error("a client certificate issued by this cluster is required")]
    Unauthenticated,
    /// The cluster's image policy refused an image; the text names the rule and the image.
    #[error("{0}")]
    PolicyRefused(String),
    /// The caller's certificate does not allow the call (removed node, worker, other cluster).
    #[error("{0}")]
    PermissionDenied(String),
    /// The cluster cannot serve the call now: no leader, no quorum, a manager out of reach.
    #[error("{0}")]
    Unavailable(String),
    /// A call passed on to this manager as the leader, which it no longer is: nothing was
    /// done, so the caller may pass it on again.
    #[error("this manager is no longer the leader; retry")]
    NotLeader,
    /// This manager's store is sealed until an operator gives the unlock key.
    #[error("swarm is locked")]
    Locked,
    /// An unlock key that does not open this manager's store.
    #[error("invalid unlock key")]
    WrongUnlockKey,
    /// `swarm unlock` on a node that is not locked.
    #[error("swarm is not locked")]
    NotLocked,
    /// The node is in no swarm.
    #[error("this node is not part of a swarm")]
    NotInSwarm,
    /// Cluster state was asked of a node in no swarm.
    #[error("this node is not a swarm manager")]
    NotAManager,
    /// `init`/`join` on a node already in a swarm.
    #[error("this node is already part of a swarm")]
    AlreadyInSwarm,
    /// A worker was asked for cluster state.
    #[error("this node is a worker")]
    WorkerCannotView,
    /// `leave` of the last manager without force.
    #[error("leaving would remove the last manager")]
    LastManagerLeave,
    /// `leave` of a manager without force: dockerd always asks for it.
    #[error("leaving as a manager needs --force")]
    ManagerLeaveNeedsForce,
    /// `leave` of a manager whose departure breaks quorum, without force.
    #[error("leaving leaves {remaining} managers out of {total}")]
    LeaveLosesQuorum {
        /// Managers left after the departure.
        remaining: usize,
        /// Managers now.
        total: usize,
    },
    /// Another manager answered with an error: its status and text, passed on unchanged.
    #[error("{message}")]
    Remote {
        /// The HTTP status the manager answered with.
        status: u16,
        /// Its message.
        message: String,
    },
    /// The node's overlay data plane failed (a link, a namespace, the tunnel).
    #[error("overlay network: {0}")]
    DataPlane(String),
    /// Palisade's own failure: a file, the store, a bug. Logged in full where it is made.
    #[error("{context}: {message}")]
    Internal {
        /// What was being done.
        context: String,
        /// What went wrong.
        message: String,
    },
}

impl From<palisade_overlay::Error> for Error {
    fn from(e: palisade_overlay::Error) -> Self {
        Self::DataPlane(e.to_string())
    }
}

impl Error {
    /// An internal failure, logged in full here.
    pub(crate) fn internal(context: impl Display, err: impl Display) -> Self {
        let (context, message) = (context.to_string(), err.to_string());
        tracing::error!("{context}: {message}");
        Self::Internal { context, message }
    }

    pub(crate) fn invalid(desc: impl Display) -> Self {
        Self::InvalidArgument(desc.to_string())
    }

    pub(crate) fn precondition(desc: impl Display) -> Self {
        Self::FailedPrecondition(desc.to_string())
    }

    pub(crate) fn node_not_found(reference: &str) -> Self {
        Self::NotFound { kind: "node", reference: reference.to_owned() }
    }
}

/// Maps store write failures: leadership and quorum problems are the cluster's state, a
/// failed check is a stale caller, the rest is ours.
impl From<palisade_store::WriteError> for Error {
    fn from(e: palisade_store::WriteError) -> Self {
        use palisade_store::WriteError;
        match e {
            WriteError::NotLeader { .. } => Self::Unavailable("rpc error: code = Unavailable desc = this manager is not the leader; retry".into()),
            WriteError::NoQuorum => Self::Unavailable(
                "rpc error: code = Unknown desc = The swarm does not have a leader. It's possible that too few managers are online. Make sure more than half of the managers are online."
                    .into(),
            ),
            WriteError::Conflict { .. } => Self::OutOfSequence,
            other => Self::internal("cluster store", other),
        }
    }
}

impl From<palisade_store::Error> for Error {
    fn from(e: palisade_store::Error) -> Self {
        Self::internal("cluster store", e)
    }
}
