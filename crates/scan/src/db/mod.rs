//! The advisory database: OSV records imported once into a compact redb index, so a scan
//! looks packages up by key and never parses JSON.
//!
//! Format 2: one table, one row per advisory and affected package, holding all a finding needs.
//!
//! ```text
//! advisories  "<ecosystem[:release]>\0<name>\0<advisory id>" → postcard((RecordMeta, AffectedEntry))
//! meta        "format" | "generation" | "imported_at" | "records" → u64
//! ```
//!
//! A scan reads one key range per package name. Importing again updates in place ([`import`]):
//! a record's old rows are removed before its new ones are written, withdrawn records are
//! removed, and `generation` goes up by one per import (the registry's scan-on-push uses it to
//! recompute results). A database of another format (format 1 had two tables and no `format`
//! key) is refused with a re-import message; an import rebuilds it, in the one transaction.

mod import;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

pub use import::ImportStats;

use crate::ecosystem::Ecosystem;
use crate::error::{Error, Result};
use crate::osv::Event;
use crate::severity::Severity;

// Byte keys: compared without UTF-8 checks (the strings are written by this module only).
const ADVISORIES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("advisories");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// The layout this build reads and writes; stored under `meta["format"]`.
const FORMAT: u64 = 2;

/// How long an open waits for another process (an import, a scan) holding the file.
const OPEN_WAIT: Duration = Duration::from_secs(60);

/// Range kind an entry keeps (`GIT` ranges cannot be evaluated without the repository).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RangeKind {
    /// The ecosystem's own ordering.
    Ecosystem,
    /// SemVer 2.0 precedence.
    Semver,
}

/// One range of an affected package.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// How versions compare.
    pub kind: RangeKind,
    /// Events in record order (sorted when evaluated).
    pub events: Vec<Event>,
}

/// What one advisory says about one package.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffectedEntry {
    /// Ranges.
    pub ranges: Vec<Range>,
    /// Explicitly listed versions.
    pub versions: Vec<String>,
}

/// What reports show about an advisory.
///
/// Invariant: `modified` is the first field, so it is the first thing in a stored row and an
/// import reads it without decoding the rest ([`import`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// `modified` of the imported record.
    pub modified: String,
    /// One-line title (the summary, else the start of the details).
    pub title: String,
    /// Other ids.
    pub aliases: Vec<String>,
    /// Severity level.
    pub severity: Severity,
    /// CVSS base score, when a vector was given.
    pub score: Option<f32>,
    /// The CVSS vector scored.
    pub vector: Option<String>,
    /// First advisory or web link.
    pub url: Option<String>,
}

/// One advisory's entry for a looked-up package, with what reports show about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Advisory {
    /// Advisory id.
    pub id: String,
    /// What it says about the package.
    pub entry: AffectedEntry,
    /// Title, severity, links.
    pub meta: RecordMeta,
}

/// `palisade scan db info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DbInfo {
    /// The database file.
    pub path: PathBuf,
    /// Advisories stored.
    pub records: u64,
    /// Affected-package entries per ecosystem key (`Debian:12`, `PyPI`).
    pub ecosystems: BTreeMap<String, u64>,
    /// Bumped by every import.
    pub generation: u64,
    /// Unix time of the last import.
    pub imported_at: u64,
}

/// The advisory database file.
pub struct AdvisoryDb {
    db: redb::Database,
    path: PathBuf,
}

impl std::fmt::Debug for AdvisoryDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdvisoryDb").field("path", &self.path).finish_non_exhaustive()
    }
}

fn db_err(path: &Path) -> impl Fn(redb::Error) -> Error + '_ {
    move |e| Error::Database { path: path.to_path_buf(), reason: e.to_string() }
}

fn open_with_retry(path: &Path, create: bool) -> Result<redb::Database> {
    let start = Instant::now();
    loop {
        let r = if create { redb::Database::create(path) } else { redb::Database::open(path) };
        match r {
            Ok(db) => return Ok(db),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) if start.elapsed() < OPEN_WAIT => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(db_err(path)(e.into())),
        }
    }
}

/// The stored format: `meta["format"]`; 1 for a database with tables but no such key (format
/// 1 wrote none), 0 for an empty file.
fn stored_format(meta: Option<u64>, has_tables: bool) -> u64 {
    meta.unwrap_or(u64::from(has_tables))
}

impl AdvisoryDb {
    /// Opens an existing database ([`Error::NoDatabase`] when there is none,
    /// [`Error::DatabaseFormat`] when it was written in another format). The file is locked
    /// while open: other processes wait for it.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::NoDatabase(path.to_path_buf()));
        }
        let this = Self { db: open_with_retry(path, false)?, path: path.to_path_buf() };
        let txn = this.db.begin_read().map_err(|e| this.err(e.into()))?;
        let has_tables = txn.list_tables().map_err(|e| this.err(e.into()))?.next().is_some();
        let meta = match txn.open_table(META) {
            Ok(meta) => meta.get("format").map_err(|e| this.err(e.into()))?.map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(this.err(e.into())),
        };
        match stored_format(meta, has_tables) {
            FORMAT => Ok(this),
            0 => Err(Error::NoDatabase(path.to_path_buf())),
            found => Err(Error::DatabaseFormat { path: path.to_path_buf(), found, expected: FORMAT }),
        }
    }

    /// Opens the database, creating it (and its directory, mode 0700) if needed. A database of
    /// another format is opened as it is: [`AdvisoryDb::import`] rebuilds it.
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(Error::io("create", dir))?;
        }
        let db = open_with_retry(path, true)?;
        let this = Self { db, path: path.to_path_buf() };
        let txn = this.db.begin_write().map_err(|e| this.err(e.into()))?;
        if this.write_format(&txn)? == 0 {
            this.initialise(&txn)?;
        }
        txn.commit().map_err(|e| this.err(e.into()))?;
        Ok(this)
    }

    /// The format of the database as `txn` sees it.
    fn write_format(&self, txn: &redb::WriteTransaction) -> Result<u64> {
        let has_tables = txn.list_tables().map_err(|e| self.err(e.into()))?.next().is_some();
        let meta = if has_tables {
            let meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
            let v = meta.get("format").map_err(|e| self.err(e.into()))?.map(|v| v.value());
            v
        } else {
            None
        };
        Ok(stored_format(meta, has_tables))
    }

    /// Creates this format's tables in an empty database.
    fn initialise(&self, txn: &redb::WriteTransaction) -> Result<()> {
        txn.open_table(ADVISORIES).map_err(|e| self.err(e.into()))?;
        let mut meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
        meta.insert("format", FORMAT).map_err(|e| self.err(e.into()))?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: redb::Error) -> Error {
        db_err(&self.path)(e)
    }

    /// Counts per ecosystem, generation and import time.
    pub fn info(&self) -> Result<DbInfo> {
        let txn = self.db.begin_read().map_err(|e| self.err(e.into()))?;
        let advisories = txn.open_table(ADVISORIES).map_err(|e| self.err(e.into()))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
        let get = |k: &str| -> Result<u64> { Ok(meta.get(k).map_err(|e| self.err(e.into()))?.map_or(0, |v| v.value())) };
        let mut info = DbInfo { path: self.path.clone(), records: get("records")?, generation: get("generation")?, imported_at: get("imported_at")?, ..DbInfo::default() };
        for row in advisories.iter().map_err(|e| self.err(e.into()))? {
            let (k, _) = row.map_err(|e| self.err(e.into()))?;
            let key = k.value();
            let eco = String::from_utf8_lossy(key.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
            *info.ecosystems.entry(eco).or_default() += 1;
        }
        Ok(info)
    }

    /// The import generation (0 before the first import).
    pub fn generation(&self) -> Result<u64> {
        let txn = self.db.begin_read().map_err(|e| self.err(e.into()))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
        Ok(meta.get("generation").map_err(|e| self.err(e.into()))?.map_or(0, |v| v.value()))
    }

    /// A read view for matching many packages.
    pub fn reader(&self) -> Result<DbReader> {
        let txn = self.db.begin_read().map_err(|e| self.err(e.into()))?;
        let advisories = txn.open_table(ADVISORIES).map_err(|e| self.err(e.into()))?;
        Ok(DbReader { advisories, path: self.path.clone() })
    }
}

/// A consistent read view of the database.
pub struct DbReader {
    advisories: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    path: PathBuf,
}

impl DbReader {
    fn err(&self, e: impl Into<redb::Error>) -> Error {
        db_err(&self.path)(e.into())
    }

    /// Every advisory for `name` under the ecosystem key `eco_key` (`Debian:12`).
    pub fn lookup(&self, eco_key: &str, name: &str) -> Result<Vec<Advisory>> {
        let prefix = format!("{eco_key}\0{name}\0");
        let mut out = Vec::new();
        for row in self.advisories.range(prefix.as_bytes()..).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let Some(id) = k.value().strip_prefix(prefix.as_bytes()) else { break };
            // Ids hold no NUL (import refuses them): the row of a longer name that starts
            // with `name\0` is not this package's.
            if id.contains(&0) {
                continue;
            }
            let id = String::from_utf8_lossy(id).into_owned();
            let (meta, entry): (RecordMeta, AffectedEntry) = postcard::from_bytes(v.value())
                .map_err(|e| Error::Database { path: self.path.clone(), reason: format!("entry {prefix:?}{id}: {e}") })?;
            out.push(Advisory { id, entry, meta });
        }
        Ok(out)
    }
}

/// Ecosystem keys to look a package up under: with each OS release first, then without.
pub(crate) fn lookup_keys(eco: Ecosystem, releases: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = releases.iter().map(|r| format!("{eco}:{r}")).collect();
    keys.push(eco.to_string());
    keys
}
