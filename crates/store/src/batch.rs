//! Writes (checks + operations), stored records, and what applying a write yields.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::table::Table;

/// A write: optimistic-concurrency checks, then operations. The state machine applies it
/// atomically — every op or none — and only when every check holds.
///
/// Values may hold secrets: `Debug` shows neither values nor keys, and the store zeroizes the
/// batches it owns once they are sealed or applied ([`Zeroize`]).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBatch {
    /// Conditions that must all hold, or nothing is written.
    pub checks: Vec<Check>,
    /// Operations applied in order.
    pub ops: Vec<Op>,
}

/// An optimistic-concurrency condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Check {
    /// The record must not exist.
    Absent {
        /// Its table.
        table: Table,
        /// Its key.
        key: String,
    },
    /// The record must exist with exactly this version.
    Version {
        /// Its table.
        table: Table,
        /// Its key.
        key: String,
        /// The expected [`Record::version`].
        version: u64,
    },
}

/// One change of a [`WriteBatch`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Stores `value` (plaintext JSON) under `key`.
    Put {
        /// Its table.
        table: Table,
        /// Its key.
        key: String,
        /// The value; may be secret.
        #[serde(with = "crate::codec::b64")]
        value: Vec<u8>,
    },
    /// Removes `key` (a no-op when absent).
    Delete {
        /// Its table.
        table: Table,
        /// Its key.
        key: String,
    },
}

/// One raft log entry's payload: the writes that reached the leader together. Each is applied
/// on its own, in order, with its own checks and [`Outcome`]; coalescing concurrent writes
/// into one entry is what lets many writers share a replication round and an fsync.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The writes, in the order they are applied.
    pub batches: Vec<WriteBatch>,
}

impl Proposal {
    /// Most writes one entry carries.
    pub const MAX_BATCHES: usize = 1 << 12;
}

impl Zeroize for Proposal {
    fn zeroize(&mut self) {
        self.batches.iter_mut().for_each(Zeroize::zeroize);
    }
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proposal").field("batches", &self.batches).finish()
    }
}

/// A stored record.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The raft log index of the write that stored it. Writes coalesced into one entry share
    /// it; no reader can see the state between them (an entry is applied whole).
    pub version: u64,
    /// The plaintext value (JSON), zeroized on drop.
    pub value: Zeroizing<Vec<u8>>,
}

/// One record of an exported store: its table, key and plaintext value.
pub type ExportedRecord = (Table, String, Zeroizing<Vec<u8>>);

/// What writing a batch yielded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// The log index the batch was committed at: the new version of every record it put.
    pub index: u64,
}

/// The state machine's answer to one log entry (openraft's `R`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Every op was applied (also the answer to blank and membership entries).
    #[default]
    Applied,
    /// This check failed; nothing was written.
    Conflict {
        /// The table of the failed check.
        table: Table,
        /// The key of the failed check.
        key: String,
    },
}

impl std::fmt::Debug for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatch").field("checks", &self.checks.len()).field("ops", &self.ops).finish()
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Put { table, value, .. } => {
                write!(f, "Put({table}, <{} bytes redacted>)", value.len())
            }
            Self::Delete { table, .. } => write!(f, "Delete({table})"),
        }
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Record {{ version: {}, value: <{} bytes redacted> }}", self.version, self.value.len())
    }
}

impl std::fmt::Display for WriteBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "write batch ({} checks, {} ops)", self.checks.len(), self.ops.len())
    }
}

impl Zeroize for WriteBatch {
    fn zeroize(&mut self) {
        for op in &mut self.ops {
            if let Op::Put { value, .. } = op {
                value.zeroize();
            }
        }
    }
}

impl WriteBatch {
    /// A batch of `ops` without checks.
    pub fn new(ops: Vec<Op>) -> Self {
        Self { checks: Vec::new(), ops }
    }

    /// Adds a check.
    pub fn check(mut self, check: Check) -> Self {
        self.checks.push(check);
        self
    }

    /// Adds a put.
    pub fn put(mut self, table: Table, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.ops.push(Op::Put { table, key: key.into(), value: value.into() });
        self
    }

    /// Adds a delete.
    pub fn delete(mut self, table: Table, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { table, key: key.into() });
        self
    }
}
