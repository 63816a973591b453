//! The advisory database: OSV records imported once into a compact redb index, so a scan
//! looks packages up by key and never parses JSON.
//!
//! ```text
//! affected  "<ecosystem[:release]>\0<name>\0<advisory id>" → postcard(AffectedEntry)
//! records   "<advisory id>"                                  → postcard(RecordMeta)
//! meta      "generation" | "imported_at" | "records"         → u64
//! ```
//!
//! Importing again updates in place: a record's old keys are removed before its new ones are
//! written, withdrawn records are removed, and `generation` goes up by one per import (the
//! registry's scan-on-push uses it to recompute results).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::ecosystem::{Ecosystem, EcosystemRelease};
use crate::error::{Error, Result};
use crate::osv::{self, Event};
use crate::severity::Severity;

// Byte keys: compared without UTF-8 checks (the strings are written by this module only).
const AFFECTED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("affected");
const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
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
    /// `modified` of the imported record.
    pub modified: String,
    /// Keys of this record in the `affected` table.
    keys: Vec<String>,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImportStats {
    /// Records read and stored (new or changed).
    pub imported: u64,
    /// Records already stored with the same `modified` time.
    pub unchanged: u64,
    /// Withdrawn records removed.
    pub withdrawn: u64,
    /// Records for ecosystems the scanner does not match.
    pub skipped: u64,
    /// Files that were not OSV records (each also in `warnings`).
    pub malformed: u64,
    /// One line per malformed file, naming it.
    pub warnings: Vec<String>,
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

impl AdvisoryDb {
    /// Opens an existing database ([`Error::NoDatabase`] when there is none). The file is
    /// locked while open: other processes wait for it.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(Error::NoDatabase(path.to_path_buf()));
        }
        Ok(Self { db: open_with_retry(path, false)?, path: path.to_path_buf() })
    }

    /// Opens the database, creating it (and its directory, mode 0700) if needed.
    pub fn create(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            use std::os::unix::fs::DirBuilderExt as _;
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(Error::io("create", dir))?;
        }
        let db = open_with_retry(path, true)?;
        let this = Self { db, path: path.to_path_buf() };
        let txn = this.db.begin_write().map_err(|e| this.err(e.into()))?;
        {
            txn.open_table(AFFECTED).map_err(|e| this.err(e.into()))?;
            txn.open_table(RECORDS).map_err(|e| this.err(e.into()))?;
            txn.open_table(META).map_err(|e| this.err(e.into()))?;
        }
        txn.commit().map_err(|e| this.err(e.into()))?;
        Ok(this)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: redb::Error) -> Error {
        db_err(&self.path)(e)
    }

    /// Imports OSV records from `.json` files, directories and OSV `.zip` files, in one
    /// transaction. A malformed record is a warning naming its file; the import goes on.
    pub fn import(&self, inputs: &[PathBuf]) -> Result<ImportStats> {
        let mut stats = ImportStats::default();
        let txn = self.db.begin_write().map_err(|e| self.err(e.into()))?;
        {
            let mut affected = txn.open_table(AFFECTED).map_err(|e| self.err(e.into()))?;
            let mut records = txn.open_table(RECORDS).map_err(|e| self.err(e.into()))?;
            // New affected rows are gathered first and inserted in key order: B-tree appends
            // instead of random inserts.
            let mut pending = Pending::default();
            // Readers (one per core, at most READERS) inflate, parse and encode records; this
            // thread applies them to the index. Records travel in batches: one wake-up per
            // batch, not per record; `seq` lets the later file win whatever the arrival order.
            const READERS: usize = 4;
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, READERS);
            let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(u64, Result<Prepared>)>>(8);
            let path = self.path.clone();
            std::thread::scope(|scope| -> Result<()> {
                let reader = scope.spawn(move || {
                    let prepare_batch = |raw: Vec<osv::RawRecord>| {
                        let prepared = raw.iter().map(|r| (r.seq, prepare(&r.bytes, &r.origin, &path))).collect();
                        // A closed channel means the writer failed; its error is reported.
                        let _ = tx.send(prepared);
                    };
                    osv::visit_inputs(inputs, workers, &prepare_batch)
                });
                let mut failure = None;
                'batches: for batch in rx {
                    for (seq, prepared) in batch {
                        let applied = prepared.and_then(|p| apply(&mut affected, &mut records, &mut pending, seq, p, &mut stats, &self.path));
                        if let Err(e) = applied {
                            failure = Some(e);
                            break 'batches;
                        }
                    }
                }
                let read = reader.join().map_err(|_| Error::Unsupported("the advisory reader thread panicked".into()))?;
                match failure {
                    Some(e) => Err(e),
                    None => read,
                }
            })?;
            let mut rows: Vec<(&String, &Vec<u8>)> =
                pending.records.values().filter_map(|(_, r)| r.as_ref()).flat_map(|r| r.iter().map(|(k, v)| (k, v))).collect();
            rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (k, v) in rows {
                affected.insert(k.as_bytes(), v.as_slice()).map_err(|e| self.err(e.into()))?;
            }
            let count = records.len().map_err(|e| self.err(e.into()))?;
            let mut meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
            let generation = meta.get("generation").map_err(|e| self.err(e.into()))?.map_or(0, |g| g.value());
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            meta.insert("generation", generation + 1).map_err(|e| self.err(e.into()))?;
            meta.insert("imported_at", now).map_err(|e| self.err(e.into()))?;
            meta.insert("records", count).map_err(|e| self.err(e.into()))?;
        }
        txn.commit().map_err(|e| self.err(e.into()))?;
        Ok(stats)
    }

    /// Counts per ecosystem, generation and import time.
    pub fn info(&self) -> Result<DbInfo> {
        let txn = self.db.begin_read().map_err(|e| self.err(e.into()))?;
        let affected = txn.open_table(AFFECTED).map_err(|e| self.err(e.into()))?;
        let meta = txn.open_table(META).map_err(|e| self.err(e.into()))?;
        let get = |k: &str| -> Result<u64> { Ok(meta.get(k).map_err(|e| self.err(e.into()))?.map_or(0, |v| v.value())) };
        let mut info = DbInfo { path: self.path.clone(), records: get("records")?, generation: get("generation")?, imported_at: get("imported_at")?, ..DbInfo::default() };
        for row in affected.iter().map_err(|e| self.err(e.into()))? {
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
        let affected = txn.open_table(AFFECTED).map_err(|e| self.err(e.into()))?;
        let records = txn.open_table(RECORDS).map_err(|e| self.err(e.into()))?;
        Ok(DbReader { affected, records, path: self.path.clone() })
    }
}

/// A consistent read view of the database.
pub struct DbReader {
    affected: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    records: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
    path: PathBuf,
}

impl DbReader {
    fn err(&self, e: impl Into<redb::Error>) -> Error {
        db_err(&self.path)(e.into())
    }

    /// Every advisory entry for `name` under the ecosystem key `eco_key` (`Debian:12`).
    pub fn lookup(&self, eco_key: &str, name: &str) -> Result<Vec<(String, AffectedEntry)>> {
        let prefix = format!("{eco_key}\0{name}\0");
        let mut out = Vec::new();
        for row in self.affected.range(prefix.as_bytes()..).map_err(|e| self.err(e))? {
            let (k, v) = row.map_err(|e| self.err(e))?;
            let Some(id) = k.value().strip_prefix(prefix.as_bytes()) else { break };
            let id = String::from_utf8_lossy(id).into_owned();
            let entry: AffectedEntry = postcard::from_bytes(v.value())
                .map_err(|e| Error::Database { path: self.path.clone(), reason: format!("entry {prefix:?}{id}: {e}") })?;
            out.push((id, entry));
        }
        Ok(out)
    }

    /// What reports show about advisory `id`.
    pub fn record(&self, id: &str) -> Result<Option<RecordMeta>> {
        let Some(v) = self.records.get(id.as_bytes()).map_err(|e| self.err(e))? else { return Ok(None) };
        postcard::from_bytes(v.value())
            .map(Some)
            .map_err(|e| Error::Database { path: self.path.clone(), reason: format!("record {id:?}: {e}") })
    }
}

fn encode<T: Serialize>(v: &T, path: &Path) -> Result<Vec<u8>> {
    postcard::to_allocvec(v).map_err(|e| Error::Database { path: path.to_path_buf(), reason: format!("encoding: {e}") })
}

/// Rows of one import not yet written, by advisory id, with the sequence number of the file
/// they came from: a later file with the same id replaces an earlier one, whichever arrives
/// first. `None` rows: the latest file for the id adds nothing (withdrawn, unchanged, or no
/// ecosystem the scanner matches). Record rows are written as they come; only the affected
/// rows wait here.
#[derive(Default)]
struct Pending {
    records: std::collections::HashMap<String, (u64, Option<AffectedRows>)>,
}

/// A record's encoded affected entries, by key.
type AffectedRows = Vec<(String, Vec<u8>)>;

/// A record's rows: encoded affected entries by key, and its encoded meta.
struct Rows {
    affected: AffectedRows,
    encoded: Vec<u8>,
}

/// One record made ready for the index on the parsing thread.
enum Prepared {
    /// Not an OSV record: the warning names the file.
    Malformed(String),
    /// A record: its id, `modified`, whether withdrawn, and its rows (none when it names no
    /// ecosystem the scanner matches).
    Record { id: String, modified: String, withdrawn: bool, rows: Option<Box<Rows>> },
}

/// Parses and encodes one record (no database access).
fn prepare(bytes: &[u8], origin: &str, path: &Path) -> Result<Prepared> {
    let rec = match osv::parse_record(bytes, origin) {
        Ok(r) => r,
        Err(e) => return Ok(Prepared::Malformed(e.to_string())),
    };
    let withdrawn = rec.withdrawn.is_some();
    if withdrawn {
        return Ok(Prepared::Record { id: rec.id, modified: rec.modified, withdrawn, rows: None });
    }
    let mut entries: BTreeMap<String, AffectedEntry> = BTreeMap::new();
    for a in &rec.affected {
        let Some(pkg) = &a.package else { continue };
        let Some(eco) = EcosystemRelease::parse(&pkg.ecosystem) else { continue };
        let key = format!("{}\0{}\0{}", eco.key(), eco.ecosystem.normalize_name(&pkg.name), rec.id);
        let entry = entries.entry(key).or_default();
        for r in &a.ranges {
            let kind = match r.kind.as_str() {
                "SEMVER" => RangeKind::Semver,
                "ECOSYSTEM" => RangeKind::Ecosystem,
                _ => continue,
            };
            let events: Vec<Event> = r.events.iter().filter_map(Event::from_raw).collect();
            if !events.is_empty() {
                entry.ranges.push(Range { kind, events });
            }
        }
        entry.versions.extend(a.versions.iter().cloned());
    }
    if entries.is_empty() {
        return Ok(Prepared::Record { id: rec.id, modified: rec.modified, withdrawn, rows: None });
    }
    let (severity, score, vector) = crate::severity::of_record(&rec);
    let title = rec
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| rec.details.as_deref().and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty())))
        .unwrap_or_default();
    let url = rec.references.iter().find(|r| r.kind == "ADVISORY").or_else(|| rec.references.first()).map(|r| r.url.clone());
    let meta = RecordMeta {
        title: title.chars().take(200).collect(),
        aliases: rec.aliases.clone(),
        severity,
        score,
        vector,
        url,
        modified: rec.modified.clone(),
        keys: entries.keys().cloned().collect(),
    };
    let mut rows = Vec::with_capacity(entries.len());
    for (k, e) in entries {
        let v = encode(&e, path)?;
        rows.push((k, v));
    }
    let encoded = encode(&meta, path)?;
    Ok(Prepared::Record { id: rec.id, modified: rec.modified, withdrawn, rows: Some(Box::new(Rows { affected: rows, encoded })) })
}

/// Applies one prepared record: the old version's rows go, the new record row is written and
/// its affected rows wait in `pending` (inserted in key order at the end); a record older
/// (`seq`) than one already applied for its id changes nothing.
fn apply(
    affected: &mut redb::Table<&[u8], &[u8]>,
    records: &mut redb::Table<&[u8], &[u8]>,
    pending: &mut Pending,
    seq: u64,
    prepared: Prepared,
    stats: &mut ImportStats,
    path: &Path,
) -> Result<()> {
    let dbe = |e: redb::Error| Error::Database { path: path.to_path_buf(), reason: e.to_string() };
    let (id, modified, withdrawn, rows) = match prepared {
        Prepared::Malformed(w) => {
            stats.malformed += 1;
            stats.warnings.push(w);
            return Ok(());
        }
        Prepared::Record { id, modified, withdrawn, rows } => (id, modified, withdrawn, rows),
    };
    // The same id in a later file of this import wins. `earlier`: a file of this import was
    // applied for the id already, so the row found now may be this import's own and is never
    // taken as unchanged.
    let earlier = match pending.records.get(&id) {
        Some((later, _)) if *later > seq => return Ok(()),
        Some(_) => true,
        None => false,
    };
    let old: Option<RecordMeta> = records.get(id.as_bytes()).map_err(|e| dbe(e.into()))?.and_then(|v| postcard::from_bytes(v.value()).ok());
    if let Some(old) = &old {
        if !earlier && old.modified == modified && !modified.is_empty() && !withdrawn {
            stats.unchanged += 1;
            pending.records.insert(id, (seq, None));
            return Ok(());
        }
        // Rows of this import's own earlier file are not written yet: removing them is a no-op.
        for k in &old.keys {
            affected.remove(k.as_bytes()).map_err(|e| dbe(e.into()))?;
        }
        records.remove(id.as_bytes()).map_err(|e| dbe(e.into()))?;
    }
    if withdrawn {
        stats.withdrawn += 1;
    } else if let Some(r) = &rows {
        stats.imported += 1;
        // Written now, while the readers work: ids arrive nearly in order (OSV zips are sorted
        // by id), so these are B-tree appends too.
        records.insert(id.as_bytes(), r.encoded.as_slice()).map_err(|e| dbe(e.into()))?;
    } else {
        stats.skipped += 1;
    }
    pending.records.insert(id, (seq, if withdrawn { None } else { rows.map(|r| r.affected) }));
    Ok(())
}

/// Ecosystem keys to look a package up under: with each OS release first, then without.
pub(crate) fn lookup_keys(eco: Ecosystem, releases: &[String]) -> Vec<String> {
    let mut keys: Vec<String> = releases.iter().map(|r| format!("{eco}:{r}")).collect();
    keys.push(eco.to_string());
    keys
}
