//! OSV records (ossf/osv-schema `docs/schema.md`, 1.7): the fields the scanner uses, read from
//! JSON files, directories of them, or the per-ecosystem zip files OSV publishes.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest advisory file read into memory.
pub const MAX_RECORD_BYTES: u64 = 16 << 20;

/// One OSV record, as far as matching and reports need it.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvRecord {
    /// Advisory id (`CVE-…`, `GHSA-…`, `DSA-…`).
    pub id: String,
    /// RFC 3339 time of the last change.
    #[serde(default)]
    pub modified: String,
    /// When set, the record was withdrawn and must not match.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Other ids of the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// One-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Longer description.
    #[serde(default)]
    pub details: Option<String>,
    /// Severity scores (`CVSS_V3` / `CVSS_V4` vectors).
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<OsvAffected>,
    /// Links.
    #[serde(default)]
    pub references: Vec<OsvReference>,
    /// Database-specific data (GHSA puts a `severity` word here).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `severity[]`.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvSeverity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector (or word, for `Ubuntu`).
    pub score: String,
}

/// `references[]`.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvReference {
    /// `ADVISORY`, `WEB`, `FIX`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The link.
    pub url: String,
}

/// `affected[]`.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvAffected {
    /// The package.
    pub package: Option<OsvPackage>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<OsvRange>,
    /// Explicit affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severity, when the database gives one.
    #[serde(default)]
    pub severity: Vec<OsvSeverity>,
    /// Ecosystem-specific data (Debian's `urgency`, …).
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// Database-specific data.
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// `affected[].package`.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvPackage {
    /// `Debian:12`, `PyPI`, …
    pub ecosystem: String,
    /// Package name in that ecosystem.
    pub name: String,
}

/// `affected[].ranges[]`.
#[derive(Clone, Debug, Deserialize)]
pub struct OsvRange {
    /// `SEMVER`, `ECOSYSTEM` or `GIT`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Events, each with exactly one key.
    #[serde(default)]
    pub events: Vec<RawEvent>,
}

/// An event object as written; exactly one field should be set.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RawEvent {
    /// `introduced`.
    #[serde(default)]
    pub introduced: Option<String>,
    /// `fixed`.
    #[serde(default)]
    pub fixed: Option<String>,
    /// `last_affected`.
    #[serde(default)]
    pub last_affected: Option<String>,
    /// `limit`.
    #[serde(default)]
    pub limit: Option<String>,
}

/// One range event (OSV schema, "affected[].ranges[].events").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Fixed from this version on.
    Fixed(String),
    /// Affected from this version on (`"0"`: from the start).
    Introduced(String),
    /// Affected up to and including this version.
    LastAffected(String),
    /// No version at or above this one is affected by this range.
    Limit(String),
}

impl Event {
    /// One `{"introduced": "1.0"}` object; `None` for an empty or ambiguous event.
    pub fn from_raw(e: &RawEvent) -> Option<Self> {
        match (&e.introduced, &e.fixed, &e.last_affected, &e.limit) {
            (Some(v), None, None, None) => Some(Self::Introduced(v.clone())),
            (None, Some(v), None, None) => Some(Self::Fixed(v.clone())),
            (None, None, Some(v), None) => Some(Self::LastAffected(v.clone())),
            (None, None, None, Some(v)) => Some(Self::Limit(v.clone())),
            _ => None,
        }
    }

    /// The version the event names.
    pub fn version(&self) -> &str {
        match self {
            Self::Fixed(v) | Self::Introduced(v) | Self::LastAffected(v) | Self::Limit(v) => v,
        }
    }
}

/// Parses one record from JSON bytes; `origin` names the file in errors.
pub fn parse_record(bytes: &[u8], origin: &str) -> Result<OsvRecord> {
    let rec: OsvRecord = serde_json::from_slice(bytes)
        .map_err(|e| Error::BadAdvisory { path: origin.to_owned(), reason: e.to_string() })?;
    if rec.id.is_empty() {
        return Err(Error::BadAdvisory { path: origin.to_owned(), reason: "record has no id".into() });
    }
    Ok(rec)
}

/// One advisory file's bytes, numbered in the order the inputs list them.
#[derive(Debug)]
pub struct RawRecord {
    /// Position among all records of the inputs: a later file has a higher number.
    pub seq: u64,
    /// The file (or `zip!member`), for messages.
    pub origin: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Records handed to the callback at once: one call (and one channel wake-up for the
/// importer) per batch, not per record.
const BATCH: usize = 512;

/// Every advisory file under the given paths: `.json` files, directories (searched
/// recursively, symlinks not followed) and `.zip` files (their `.json` members), in batches.
///
/// Members of an OSV zip are inflated by up to `workers` threads at once (inflating is most
/// of an import's reading), so batches arrive out of order: [`RawRecord::seq`] keeps the
/// inputs' order, and `f` is called from several threads.
pub fn visit_inputs(paths: &[PathBuf], workers: usize, f: &(dyn Fn(Vec<RawRecord>) + Sync)) -> Result<()> {
    let mut batch = Batch { seq: 0, records: Vec::with_capacity(BATCH), f };
    for p in paths {
        let md = std::fs::symlink_metadata(p).map_err(Error::io("stat", p))?;
        if md.is_dir() {
            visit_dir(p, workers, &mut batch)?;
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip")) {
            visit_zip(p, workers, &mut batch)?;
        } else {
            let bytes = read_capped(p)?;
            batch.push(p.display().to_string(), bytes);
        }
    }
    batch.flush();
    Ok(())
}

/// Records gathered on the calling thread (plain files), and the next sequence number.
struct Batch<'f> {
    seq: u64,
    records: Vec<RawRecord>,
    f: &'f (dyn Fn(Vec<RawRecord>) + Sync),
}

impl Batch<'_> {
    fn push(&mut self, origin: String, bytes: Vec<u8>) {
        self.records.push(RawRecord { seq: self.seq, origin, bytes });
        self.seq += 1;
        if self.records.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.records.is_empty() {
            (self.f)(std::mem::replace(&mut self.records, Vec::with_capacity(BATCH)));
        }
    }
}

fn read_capped(p: &Path) -> Result<Vec<u8>> {
    let file = File::open(p).map_err(Error::io("open", p))?;
    let len = file.metadata().map_err(Error::io("stat", p))?.len();
    if len > MAX_RECORD_BYTES {
        return Err(Error::BadAdvisory { path: p.display().to_string(), reason: format!("larger than {MAX_RECORD_BYTES} bytes") });
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_RECORD_BYTES).read_to_end(&mut buf).map_err(Error::io("read", p))?;
    Ok(buf)
}

fn visit_dir(dir: &Path, workers: usize, batch: &mut Batch<'_>) -> Result<()> {
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d).map_err(Error::io("read", &d))?.flatten().collect();
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() {
                todo.push(path);
            } else if ft.is_file() && path.extension().is_some_and(|x| x == "json") {
                match read_capped(&path) {
                    Ok(bytes) => batch.push(path.display().to_string(), bytes),
                    Err(e) => tracing::warn!("{e}"),
                }
            } else if ft.is_file() && path.extension().is_some_and(|x| x == "zip") {
                visit_zip(&path, workers, batch)?;
            }
        }
    }
    Ok(())
}

/// Zips up to this size are read into memory at once (members are then inflated without a
/// seek and a read per member, by several threads); larger ones are read from the file.
const MAX_ZIP_IN_MEMORY: u64 = 1 << 30;

fn visit_zip(path: &Path, workers: usize, batch: &mut Batch<'_>) -> Result<()> {
    let bad = |e: zip::result::ZipError| Error::BadAdvisory { path: path.display().to_string(), reason: e.to_string() };
    let mut file = File::open(path).map_err(Error::io("open", path))?;
    let len = file.metadata().map_err(Error::io("stat", path))?.len();
    if len > MAX_ZIP_IN_MEMORY {
        let mut zip = zip::ZipArchive::new(std::io::BufReader::with_capacity(1 << 20, file)).map_err(bad)?;
        let (base, count) = (batch.seq, zip.len());
        batch.seq += count as u64;
        zip_members(path, &mut zip, 0..count, base, batch.f);
        return Ok(());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.read_to_end(&mut bytes).map_err(Error::io("read", path))?;
    // Each worker reads through its own clone of the archive (the parsed directory is shared).
    let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.as_slice())).map_err(bad)?;
    let (base, count, workers) = (batch.seq, zip.len(), workers.max(1));
    batch.seq += count as u64;
    let f = batch.f;
    std::thread::scope(|scope| {
        for k in 0..workers {
            let mut zip = zip.clone();
            scope.spawn(move || zip_members(path, &mut zip, (k..count).step_by(workers), base, f));
        }
    });
    Ok(())
}

/// Inflates the `.json` members at `indices` and hands them to `f` in batches; a member that
/// cannot be read is a warning naming it.
///
/// Members are read raw and inflated by one [`flate2::Decompress`] reset between members:
/// a new inflater per member (what reading through the zip crate does) costs more than
/// inflating a small advisory. The CRC-32 each member declares is checked as the zip crate
/// would.
fn zip_members<R: Read + std::io::Seek>(
    path: &Path,
    zip: &mut zip::ZipArchive<R>,
    indices: impl Iterator<Item = usize>,
    base: u64,
    f: &(dyn Fn(Vec<RawRecord>) + Sync),
) {
    let mut out = Vec::with_capacity(BATCH);
    let mut inflater = flate2::Decompress::new(false);
    let mut raw = Vec::new();
    for i in indices {
        let member = match zip.by_index_raw(i) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("{}: member {i}: {e}", path.display());
                continue;
            }
        };
        if !member.is_file() || !member.name().ends_with(".json") {
            continue;
        }
        let origin = format!("{}!{}", path.display(), member.name());
        match inflate_member(member, &mut inflater, &mut raw) {
            Ok(bytes) => out.push(RawRecord { seq: base + i as u64, origin, bytes }),
            Err(e) => {
                tracing::warn!("{origin}: {e}");
                continue;
            }
        }
        if out.len() == BATCH {
            f(std::mem::replace(&mut out, Vec::with_capacity(BATCH)));
        }
    }
    if !out.is_empty() {
        f(out);
    }
}

/// One raw (still compressed) member's content, inflated with `inflater` through the buffer
/// `raw`. The declared size is checked against [`MAX_RECORD_BYTES`] before anything is
/// allocated, and output stops there whatever the compressed data says.
fn inflate_member<R: Read>(mut member: zip::read::ZipFile<'_, R>, inflater: &mut flate2::Decompress, raw: &mut Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let size = member.size();
    if size > MAX_RECORD_BYTES || member.compressed_size() > MAX_RECORD_BYTES {
        return Err(format!("larger than {MAX_RECORD_BYTES} bytes, skipped"));
    }
    let size = usize::try_from(size).map_err(|e| e.to_string())?;
    raw.clear();
    (&mut member).take(MAX_RECORD_BYTES).read_to_end(raw).map_err(|e| e.to_string())?;
    let bytes = match member.compression() {
        zip::CompressionMethod::Stored => std::mem::take(raw),
        zip::CompressionMethod::Deflated => {
            // One byte more than declared: a member that inflates past its size is caught.
            let mut out = Vec::with_capacity(size + 1);
            inflater.reset(false);
            let status = inflater.decompress_vec(raw, &mut out, flate2::FlushDecompress::Finish).map_err(|e| e.to_string())?;
            if status != flate2::Status::StreamEnd || out.len() != size {
                return Err(format!("does not inflate to the {size} bytes its header declares"));
            }
            out
        }
        other => return Err(format!("compressed with {other}, which this importer does not read")),
    };
    if bytes.len() != size {
        return Err(format!("{} bytes where its header declares {size}", bytes.len()));
    }
    let mut crc = flate2::Crc::new();
    crc.update(&bytes);
    if crc.sum() != member.crc32() {
        return Err("CRC-32 mismatch (a corrupt zip)".into());
    }
    Ok(bytes)
}
