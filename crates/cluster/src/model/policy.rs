//! The admission policy and its log. The policy is kept as the operator wrote it (validated
//! by [`palisade_policy::Policy::parse`] before it is stored, parsed again on every node); its
//! version is the raft index of the write that stored it. The log keeps what an operator
//! should be able to review: policy changes, refusals, and what audit-mode rules let through.

use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Object;

/// The one key of the policy table.
pub(crate) const POLICY_KEY: &str = "cluster";
/// Entries kept in the policy log; older ones are dropped as new ones arrive.
pub(crate) const MAX_LOG_ENTRIES: usize = 1000;
/// The longest text an entry keeps (a node reports some of them).
const MAX_ENTRY_TEXT: usize = 2048;

/// The cluster's admission policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PolicyObject {
    /// The TOML document.
    pub(crate) text: String,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
}

impl Object for PolicyObject {
    const TABLE: Table = Table::Policies;
    const KIND: &'static str = "policy";
    fn key(&self) -> String {
        POLICY_KEY.to_owned()
    }
}

/// What a log entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogKind {
    /// The policy was set.
    Changed,
    /// An enforcing rule refused an image.
    Refused,
    /// An audit-mode rule would have refused an image, which was allowed.
    Audited,
}

impl LogKind {
    /// `changed`, `refused` or `audited`, as the log shows it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Changed => "changed",
            Self::Refused => "refused",
            Self::Audited => "audited",
        }
    }
}

/// One entry of the policy log, keyed so that keys sort by time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogEntry {
    pub(crate) key: String,
    #[serde(with = "super::timestamp")]
    pub(crate) at: OffsetDateTime,
    pub(crate) kind: LogKind,
    /// The node where it was decided.
    pub(crate) node: String,
    /// What asked: `service create web`, `container create`, `task <id>`, `policy set`.
    pub(crate) action: String,
    /// The decision's words.
    pub(crate) message: String,
}

impl Object for LogEntry {
    const TABLE: Table = Table::PolicyLog;
    const KIND: &'static str = "policy log entry";
    fn key(&self) -> String {
        self.key.clone()
    }
}

impl LogEntry {
    pub(crate) fn new(at: OffsetDateTime, kind: LogKind, node: String, action: String, message: String) -> Self {
        let nanos = at.unix_timestamp_nanos().max(0);
        let key = format!("{nanos:024}-{:08x}", rand::random::<u32>());
        let mut entry = Self { key, at, kind, node, action, message };
        for text in [&mut entry.node, &mut entry.action, &mut entry.message] {
            super::truncate(text, MAX_ENTRY_TEXT);
        }
        entry
    }
}
