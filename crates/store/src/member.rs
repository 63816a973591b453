//! Raft members and the observable raft status.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// A raft member as recorded in the membership (openraft's `Node`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Member {
    /// The swarm node ID.
    pub node_id: String,
    /// `host:port` of its cluster port.
    pub addr: String,
}

/// A snapshot of this member's raft state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    /// This member's raft ID.
    pub raft_id: u64,
    /// The leader this member knows of.
    pub leader: Option<u64>,
    /// The current term.
    pub term: u64,
    /// Whether this member is the leader.
    pub is_leader: bool,
    /// Every member of the effective membership, voters and learners.
    pub members: BTreeMap<u64, MemberState>,
    /// Index of the last entry applied to the local state machine (0 before any).
    pub last_applied: u64,
}

/// One member as seen from here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberState {
    /// Its identity and address.
    pub member: Member,
    /// Voter (true) or learner (false).
    pub voter: bool,
    /// Leader only: the highest log index known replicated to it.
    pub matched: Option<u64>,
    /// Leader only: when it last answered one of this member's raft RPCs (or now, for the
    /// leader itself).
    pub last_contact: Option<Instant>,
}
