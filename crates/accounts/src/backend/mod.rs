//! Where the access model is kept. A [`Backend`] stores records of four [`Kind`]s, each record
//! JSON with a version that changes whenever the record is written, and commits a
//! [`ChangeSet`] atomically, only if every record the change read is still as it was read.
//!
//! - [`RedbFile`]: a redb file of its own (0600), for a registry that runs alone;
//! - [`ClusterStore`]: the replicated, encrypted cluster store, shared by every manager.
//!
//! The model code (`crate::store`, through `crate::change::Tx`) is the same on both: it reads
//! through a [`View`], decides, and hands its writes with its reads to [`Backend::commit`].

mod cluster_store;
mod redb_file;

pub(crate) use cluster_store::ClusterStore;
pub(crate) use redb_file::RedbFile;

use crate::error::Result;

/// The kinds of record, one table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// Users by name.
    Users,
    /// Organisations by name.
    Organisations,
    /// Teams by `organisation/team`.
    Teams,
    /// Repository records by repository name.
    Repositories,
}

impl Kind {
    /// Every kind.
    pub(crate) const ALL: [Kind; 4] = [Self::Users, Self::Organisations, Self::Teams, Self::Repositories];

    /// The kind's table name in the redb file.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Users => "users",
            Self::Organisations => "organisations",
            Self::Teams => "teams",
            Self::Repositories => "repositories",
        }
    }
}

/// A stored record.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    /// Changes with every write of the record (never back to an earlier value).
    pub(crate) version: u64,
    /// The record's JSON.
    pub(crate) value: Vec<u8>,
}

impl std::fmt::Debug for Stored {
    /// A user's record holds a password hash: no values in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stored {{ version: {}, value: <{} bytes> }}", self.version, self.value.len())
    }
}

/// A change to commit: what it read, and what it writes.
#[derive(Debug, Default)]
pub(crate) struct ChangeSet {
    /// Each record the change read, with the version it had (`None`: it did not exist). The
    /// commit is refused unless every one is still so.
    pub(crate) reads: Vec<(Kind, String, Option<u64>)>,
    /// The writes: `Some(json)` puts, `None` deletes (absent or not).
    pub(crate) writes: Vec<(Kind, String, Option<Vec<u8>>)>,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Every write was made.
    Done,
    /// A record read had changed (or appeared, or gone) meanwhile: nothing was written.
    Conflict,
}

/// Reads of the model, remembered by the caller with their versions.
pub(crate) trait View {
    /// The record `key` of `kind`.
    fn get(&mut self, kind: Kind, key: &str) -> Result<Option<Stored>>;

    /// Every record of `kind`, in key order.
    fn list(&mut self, kind: Kind) -> Result<Vec<(String, Stored)>>;

    /// Whether everything read through this view so far belongs to one state of the model (no
    /// change landed between two of the reads): what is decided from the reads alone, without
    /// a commit to check them, stands only then.
    fn consistent(&self) -> Result<bool>;
}

/// A store of the access model.
pub(crate) trait Backend: Send + Sync {
    /// A view to read through.
    fn view(&self) -> Result<Box<dyn View + '_>>;

    /// Makes every write of `change` in one atomic step, if every read of it still holds; else
    /// nothing ([`Commit::Conflict`]).
    fn commit(&self, change: ChangeSet) -> Result<Commit>;

    /// Waits until views opened after it see every change committed (anywhere) before the
    /// call: after a conflict, so that the change runs again on state at least that new.
    fn catch_up(&self) -> Result<()>;
}

#[cfg(test)]
pub(crate) mod tests;
