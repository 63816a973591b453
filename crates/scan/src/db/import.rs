//! `palisade scan db import`: OSV records into the index, in one write transaction.
//!
//! Reader threads ([`osv::visit_inputs`]) inflate, parse and encode records into finished
//! rows; this thread meanwhile reads what the database holds (only when it holds anything),
//! then keeps the rows. When the reading is done the rows are planned (the later file wins
//! for an id; unchanged records are left alone) and written in key order: B-tree appends, one
//! table, one row per advisory and package. The commit is the only durable write, so a crash
//! leaves the database as it was before the import.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use redb::ReadableTable;
use serde::Serialize;

use super::{AdvisoryDb, AffectedEntry, Range, RangeKind, RecordMeta, ADVISORIES, FORMAT, META};
use crate::ecosystem::EcosystemRelease;
use crate::error::{Error, Result};
use crate::osv::{self, Event};

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
    /// One line per malformed file, naming it (and one when the database was rebuilt).
    pub warnings: Vec<String>,
}

/// A stored row: its key and its encoded `(RecordMeta, AffectedEntry)`.
type Row = (Vec<u8>, Vec<u8>);

/// One record made ready for the index on a reader thread.
enum Prepared {
    /// Not an OSV record: the warning names the file.
    Malformed(String),
    /// A record.
    Record(Record),
}

/// A parsed record: its rows are `None` when it is withdrawn or names no ecosystem the
/// scanner matches.
struct Record {
    id: String,
    modified: String,
    withdrawn: bool,
    rows: Option<Vec<Row>>,
}

/// What the database holds for one advisory id before the import.
struct Stored {
    modified: String,
    keys: Vec<Vec<u8>>,
}

/// The writes an import makes.
struct Plan {
    /// Keys of replaced and withdrawn records, sorted.
    remove: Vec<Vec<u8>>,
    /// New rows, sorted by key.
    insert: Vec<Row>,
    /// Advisories stored afterwards.
    records: u64,
}

impl AdvisoryDb {
    /// Imports OSV records from `.json` files, directories and OSV `.zip` files, in one
    /// transaction. A malformed record is a warning naming its file; the import goes on. A
    /// database of another format is rebuilt (a warning says so).
    pub fn import(&self, inputs: &[std::path::PathBuf]) -> Result<ImportStats> {
        let dbe = |e: redb::Error| self.err(e);
        let mut stats = ImportStats::default();
        let txn = self.db.begin_write().map_err(|e| dbe(e.into()))?;
        let mut generation = 0;
        match self.write_format(&txn)? {
            FORMAT => {}
            0 => self.initialise(&txn)?,
            found => {
                // Format 1 kept its generation in the same meta table: carry it over, so the
                // registry sees the change.
                if let Ok(meta) = txn.open_table(META) {
                    generation = meta.get("generation").map_err(|e| dbe(e.into()))?.map_or(0, |g| g.value());
                }
                let tables: Vec<_> = txn.list_tables().map_err(|e| dbe(e.into()))?.collect();
                for t in tables {
                    txn.delete_table(t).map_err(|e| dbe(e.into()))?;
                }
                self.initialise(&txn)?;
                stats.warnings.push(format!(
                    "{} was in format {found} and is rebuilt in format {FORMAT}: import again every source imported into it before",
                    self.path.display()
                ));
            }
        }
        {
            let mut table = txn.open_table(ADVISORIES).map_err(|e| dbe(e.into()))?;
            let (stored, prepared) = read_inputs(inputs, &table, &self.path)?;
            let mut records = Vec::with_capacity(prepared.len());
            let mut malformed = Vec::new();
            for (seq, p) in prepared {
                match p {
                    Prepared::Malformed(w) => malformed.push((seq, w)),
                    Prepared::Record(r) => records.push((seq, r)),
                }
            }
            // Warnings in the inputs' order, whatever order the threads delivered them in.
            malformed.sort_unstable_by_key(|(seq, _)| *seq);
            stats.malformed = malformed.len() as u64;
            stats.warnings.extend(malformed.into_iter().map(|(_, w)| w));
            let plan = plan(records, stored, &mut stats);
            for k in &plan.remove {
                table.remove(k.as_slice()).map_err(|e| dbe(e.into()))?;
            }
            for (k, v) in &plan.insert {
                table.insert(k.as_slice(), v.as_slice()).map_err(|e| dbe(e.into()))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| dbe(e.into()))?;
            generation = generation.max(meta.get("generation").map_err(|e| dbe(e.into()))?.map_or(0, |g| g.value()));
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            meta.insert("generation", generation + 1).map_err(|e| dbe(e.into()))?;
            meta.insert("imported_at", now).map_err(|e| dbe(e.into()))?;
            meta.insert("records", plan.records).map_err(|e| dbe(e.into()))?;
        }
        txn.commit().map_err(|e| dbe(e.into()))?;
        Ok(stats)
    }
}

/// What the database held, by advisory id, and every record read with its sequence number.
type Collected = (HashMap<String, Stored>, Vec<(u64, Prepared)>);

/// Reads the inputs on reader threads (one per core, at most `READERS`) while this thread
/// reads what `table` holds; returns that and every prepared record with its sequence number.
fn read_inputs(
    inputs: &[std::path::PathBuf],
    table: &redb::Table<&[u8], &[u8]>,
    path: &Path,
) -> Result<Collected> {
    const READERS: usize = 4;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, READERS);
    // Records travel in batches: one wake-up per batch, not per record; `seq` lets the later
    // file win whatever the arrival order.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<(u64, Result<Prepared>)>>(64);
    std::thread::scope(|scope| {
        let reader = scope.spawn(move || {
            let prepare_batch = |raw: Vec<osv::RawRecord>| {
                let prepared = raw.iter().map(|r| (r.seq, prepare(&r.bytes, &r.origin, path))).collect();
                // A closed channel means this thread failed; its error is reported.
                let _ = tx.send(prepared);
            };
            osv::visit_inputs(inputs, workers, &prepare_batch)
        });
        let collected = stored_records(table, path).and_then(|stored| {
            let mut prepared = Vec::new();
            for batch in &rx {
                for (seq, p) in batch {
                    prepared.push((seq, p?));
                }
            }
            Ok((stored, prepared))
        });
        // A reader still sending after a failure here finds the channel closed and stops.
        drop(rx);
        let read = reader.join().map_err(|_| Error::Unsupported("the advisory reader thread panicked".into()))?;
        let collected = collected?;
        read?;
        Ok(collected)
    })
}

/// What the table holds, by advisory id: `modified` (the first field of every row, see
/// [`RecordMeta`]) and the keys of its rows. Nothing is read from an empty table.
fn stored_records(table: &redb::Table<&[u8], &[u8]>, path: &Path) -> Result<HashMap<String, Stored>> {
    let dbe = |e: redb::Error| Error::Database { path: path.to_path_buf(), reason: e.to_string() };
    let mut stored: HashMap<String, Stored> = HashMap::new();
    for row in table.iter().map_err(|e| dbe(e.into()))? {
        let (k, v) = row.map_err(|e| dbe(e.into()))?;
        let key = k.value();
        // The id follows the last NUL (ids hold none: `prepare` refuses them).
        let id = key.rsplit(|b| *b == 0).next().unwrap_or_default();
        let id = String::from_utf8_lossy(id).into_owned();
        let entry = stored.entry(id).or_insert_with(|| Stored { modified: String::new(), keys: Vec::new() });
        if entry.keys.is_empty() {
            entry.modified = postcard::take_from_bytes::<String>(v.value())
                .map_err(|e| Error::Database { path: path.to_path_buf(), reason: format!("row {:?}: {e}", String::from_utf8_lossy(key)) })?
                .0;
        }
        entry.keys.push(key.to_vec());
    }
    Ok(stored)
}

/// Decides the writes: for each id the record of the latest file wins (`seq`); it replaces
/// the stored rows unless it is unchanged (same non-empty `modified`, not withdrawn). Every
/// record read is counted once in `stats`, against the database as it was.
fn plan(mut records: Vec<(u64, Record)>, mut stored: HashMap<String, Stored>, stats: &mut ImportStats) -> Plan {
    let mut count = stored.len() as u64;
    // By id, then file order: the last of each run of one id wins.
    records.sort_unstable_by(|a, b| a.1.id.cmp(&b.1.id).then(a.0.cmp(&b.0)));
    let (mut remove, mut insert) = (Vec::new(), Vec::with_capacity(records.len()));
    let mut iter = records.into_iter().map(|(_, r)| r).peekable();
    while let Some(rec) = iter.next() {
        let unchanged = !rec.withdrawn && !rec.modified.is_empty() && stored.get(&rec.id).is_some_and(|s| s.modified == rec.modified);
        if rec.withdrawn {
            stats.withdrawn += 1;
        } else if unchanged {
            stats.unchanged += 1;
        } else if rec.rows.is_some() {
            stats.imported += 1;
        } else {
            stats.skipped += 1;
        }
        if unchanged || iter.peek().is_some_and(|next| next.id == rec.id) {
            continue;
        }
        if let Some(old) = stored.remove(&rec.id) {
            remove.extend(old.keys);
            count -= 1;
        }
        if let Some(rows) = rec.rows {
            insert.extend(rows);
            count += 1;
        }
    }
    remove.sort_unstable();
    insert.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    Plan { remove, insert, records: count }
}

/// Bytes reserved for an encoded row before encoding it (most are smaller).
const ROW_CAPACITY: usize = 384;

/// Parses one record and encodes its rows (no database access).
fn prepare(bytes: &[u8], origin: &str, path: &Path) -> Result<Prepared> {
    let rec = match osv::parse_record(bytes, origin) {
        Ok(r) => r,
        Err(e) => return Ok(Prepared::Malformed(e.to_string())),
    };
    // A NUL separates the parts of a key; the id is found after the last one.
    if rec.id.contains('\0') {
        let e = Error::BadAdvisory { path: origin.to_owned(), reason: "the id holds a NUL character".into() };
        return Ok(Prepared::Malformed(e.to_string()));
    }
    let withdrawn = rec.withdrawn.is_some();
    if withdrawn {
        return Ok(Prepared::Record(Record { id: rec.id, modified: rec.modified, withdrawn, rows: None }));
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
        return Ok(Prepared::Record(Record { id: rec.id, modified: rec.modified, withdrawn, rows: None }));
    }
    let (severity, score, vector) = crate::severity::of_record(&rec);
    let title = rec
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| rec.details.as_deref().and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty())))
        .unwrap_or_default();
    let url = rec.references.iter().find(|r| r.kind == "ADVISORY").or_else(|| rec.references.first()).map(|r| r.url.clone());
    let meta = RecordMeta { modified: rec.modified, title: title.chars().take(200).collect(), aliases: rec.aliases, severity, score, vector, url };
    let mut rows = Vec::with_capacity(entries.len());
    for (k, e) in entries {
        // Sized for a typical row at once: no regrowing while encoding.
        let v = postcard::to_extend(&(&meta, &e), Vec::with_capacity(ROW_CAPACITY))
            .map_err(|e| Error::Database { path: path.to_path_buf(), reason: format!("encoding: {e}") })?;
        rows.push((k.into_bytes(), v));
    }
    Ok(Prepared::Record(Record { id: rec.id, modified: meta.modified, withdrawn, rows: Some(rows) }))
}
