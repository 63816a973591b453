//! Scan-on-push: a background worker that scans every pushed manifest, keeps the result per
//! manifest digest, and recomputes results when the advisory database is updated.
//!
//! ```text
//! <dir>/advisories.redb   the advisory database (written by `palisade scan db import`)
//! <dir>/results.redb      digest → result (status, inventory, report), JSON
//! ```
//!
//! [`ScanService::enqueue`] never blocks on a scan and does no I/O: it puts the digest on a
//! bounded in-memory queue (a full queue drops the request, reported as `dropped`) and
//! returns. Pending scans do not survive a restart; finished results do. One worker thread
//! scans one image at a time; every [`ServiceOptions::poll`] it checks the database's
//! generation and re-matches the stored inventories (layers are not read again).

use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::db::AdvisoryDb;
use crate::error::{Error, Result};
use crate::report::{Filter, Report};
use crate::source::{BlobSource, Inventory, Scanner};

const RESULTS: TableDefinition<&str, &[u8]> = TableDefinition::new("results");

/// A registry's content as the service reads it.
pub trait RegistryContent: BlobSource + Send + Sync + 'static {
    /// The bytes of manifest `digest` in `repo`.
    fn manifest(&self, repo: &str, digest: &str) -> io::Result<Vec<u8>>;
}

/// Tuning for [`ScanService`].
#[derive(Clone, Copy, Debug)]
pub struct ServiceOptions {
    /// Pushed manifests waiting to be scanned at most (default 256).
    pub capacity: usize,
    /// How often the database generation is checked (default 2 s).
    pub poll: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self { capacity: 256, poll: Duration::from_secs(2) }
    }
}

/// Where a manifest's scan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScanStatus {
    /// Scanned; `report` holds the outcome.
    Done,
    /// The queue was full when it was pushed; push it again to scan it.
    Dropped,
    /// The scan failed; `error` says why.
    Failed,
    /// Waiting for the worker.
    Queued,
    /// Being scanned now.
    Scanning,
}

/// The stored result for one manifest digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanResult {
    /// Repository it was pushed to.
    pub repository: String,
    /// Manifest digest.
    pub digest: String,
    /// Where the scan stands.
    pub status: ScanStatus,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix time of the last scan or re-match.
    #[serde(default)]
    pub scanned_at: u64,
    /// The report (inventory and findings); absent until done. Without an advisory database
    /// it holds the inventory and no findings (`db_generation` 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

/// Most digests remembered as dropped (a full queue); older ones are forgotten.
const MAX_DROPPED: usize = 1024;

/// In-memory state: what waits, what is being scanned, what was dropped. Only finished
/// results are written to disk, so a push costs a lock and a push onto a queue, no I/O.
#[derive(Default)]
struct Queue {
    jobs: VecDeque<(String, String)>,
    current: Option<(String, String)>,
    dropped: VecDeque<(String, String)>,
    stop: bool,
}

struct Shared {
    dir: PathBuf,
    results: redb::Database,
    queue: Mutex<Queue>,
    wake: Condvar,
    content: Arc<dyn RegistryContent>,
    options: ServiceOptions,
}

/// The scan-on-push worker and its results.
pub struct ScanService {
    shared: Arc<Shared>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for ScanService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanService").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl ScanService {
    /// Opens the results under `dir` (created 0700) and starts the worker.
    pub fn start(dir: &Path, content: Arc<dyn RegistryContent>, options: ServiceOptions) -> Result<Arc<Self>> {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(Error::io("create", dir))?;
        let path = dir.join("results.redb");
        let dberr = |e: redb::Error| Error::Database { path: path.clone(), reason: e.to_string() };
        let results = redb::Database::create(&path).map_err(|e| dberr(e.into()))?;
        let txn = results.begin_write().map_err(|e| dberr(e.into()))?;
        txn.open_table(RESULTS).map_err(|e| dberr(e.into()))?;
        txn.commit().map_err(|e| dberr(e.into()))?;
        let shared = Arc::new(Shared { dir: dir.to_path_buf(), results, queue: Mutex::new(Queue::default()), wake: Condvar::new(), content, options });
        let worker_shared = shared.clone();
        let worker = std::thread::Builder::new()
            .name("scan-on-push".into())
            .spawn(move || worker_shared.run())
            .map_err(Error::io("start scan worker", dir))?;
        Ok(Arc::new(Self { shared, worker: Mutex::new(Some(worker)) }))
    }

    /// The advisory database the service matches against.
    pub fn db_path(&self) -> PathBuf {
        self.shared.dir.join("advisories.redb")
    }

    /// Manifests waiting or being scanned.
    pub fn queue_depth(&self) -> usize {
        self.shared.queue.lock().map_or(0, |q| q.jobs.len() + usize::from(q.current.is_some()))
    }

    /// Queues `digest` (pushed to `repo`) for scanning; returns at once (no I/O).
    pub fn enqueue(&self, repo: &str, digest: &str) {
        let Ok(mut q) = self.shared.queue.lock() else { return };
        q.dropped.retain(|(_, d)| d != digest);
        if q.jobs.iter().any(|(_, d)| d == digest) {
            return;
        }
        if q.jobs.len() < self.shared.options.capacity {
            q.jobs.push_back((repo.to_owned(), digest.to_owned()));
            drop(q);
            self.shared.wake.notify_one();
        } else {
            tracing::warn!("scan-on-push: queue full ({} manifests); {repo}@{digest} not scanned", self.shared.options.capacity);
            if q.dropped.len() >= MAX_DROPPED {
                q.dropped.pop_front();
            }
            q.dropped.push_back((repo.to_owned(), digest.to_owned()));
        }
    }

    /// The result for a manifest digest: waiting, being scanned, dropped, or the stored
    /// outcome (a re-scan in progress shows the previous report).
    pub fn result(&self, digest: &str) -> Result<Option<ScanResult>> {
        let live = {
            let q = self.shared.queue.lock().map_err(|_| Error::Unsupported("scan queue lock poisoned".into()))?;
            if let Some((repo, _)) = q.current.as_ref().filter(|(_, d)| d == digest) {
                Some((repo.clone(), ScanStatus::Scanning))
            } else if let Some((repo, _)) = q.jobs.iter().find(|(_, d)| d == digest) {
                Some((repo.clone(), ScanStatus::Queued))
            } else {
                q.dropped.iter().find(|(_, d)| d == digest).map(|(repo, _)| (repo.clone(), ScanStatus::Dropped))
            }
        };
        let stored = self.shared.get(digest)?;
        Ok(match live {
            None => stored,
            Some((repository, status)) => Some(ScanResult {
                repository,
                digest: digest.to_owned(),
                status,
                error: (status == ScanStatus::Dropped).then(|| format!("the scan queue was full ({} manifests); push again", self.shared.options.capacity)),
                scanned_at: stored.as_ref().map_or(0, |r| r.scanned_at),
                report: stored.and_then(|r| r.report),
            }),
        })
    }

    /// Stops the worker after its current scan.
    pub fn stop(&self) {
        if let Ok(mut q) = self.shared.queue.lock() {
            q.stop = true;
        }
        self.shared.wake.notify_all();
        if let Some(h) = self.worker.lock().ok().and_then(|mut w| w.take()) {
            let _ = h.join();
        }
    }
}

impl Drop for ScanService {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Shared {
    fn err(&self, e: impl Into<redb::Error>) -> Error {
        Error::Database { path: self.dir.join("results.redb"), reason: e.into().to_string() }
    }

    fn get(&self, digest: &str) -> Result<Option<ScanResult>> {
        let txn = self.results.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(RESULTS).map_err(|e| self.err(e))?;
        let Some(v) = t.get(digest).map_err(|e| self.err(e))? else { return Ok(None) };
        serde_json::from_slice(v.value()).map(Some).map_err(|e| self.err(redb::Error::Corrupted(e.to_string())))
    }

    fn put(&self, r: &ScanResult) -> Result<()> {
        let bytes = serde_json::to_vec(r).map_err(|e| self.err(redb::Error::Corrupted(e.to_string())))?;
        let txn = self.results.begin_write().map_err(|e| self.err(e))?;
        {
            let mut t = txn.open_table(RESULTS).map_err(|e| self.err(e))?;
            t.insert(r.digest.as_str(), bytes.as_slice()).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn all(&self) -> Result<Vec<ScanResult>> {
        let txn = self.results.begin_read().map_err(|e| self.err(e))?;
        let t = txn.open_table(RESULTS).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.err(e))? {
            let (_, v) = row.map_err(|e| self.err(e))?;
            if let Ok(r) = serde_json::from_slice(v.value()) {
                out.push(r);
            }
        }
        Ok(out)
    }

    fn next_job(&self) -> Option<Option<(String, String)>> {
        let mut q = self.queue.lock().ok()?;
        if q.jobs.is_empty() && !q.stop {
            q = self.wake.wait_timeout(q, self.options.poll).ok()?.0;
        }
        if q.stop {
            return None;
        }
        let job = q.jobs.pop_front();
        q.current = job.clone();
        Some(job)
    }

    fn run(&self) {
        let mut generation = self.db_generation().unwrap_or(0);
        while let Some(job) = self.next_job() {
            if let Some((repo, digest)) = job {
                self.scan(&repo, &digest);
                if let Ok(mut q) = self.queue.lock() {
                    q.current = None;
                }
            }
            match self.db_generation() {
                Some(g) if g != generation => {
                    generation = g;
                    self.rematch_all();
                }
                _ => {}
            }
        }
    }

    fn db_path(&self) -> PathBuf {
        self.dir.join("advisories.redb")
    }

    /// The advisory database's generation; `None` when there is none (or it is busy).
    fn db_generation(&self) -> Option<u64> {
        AdvisoryDb::open(&self.db_path()).ok()?.generation().ok()
    }

    fn assess(&self, inventory: Inventory) -> Result<Report> {
        match AdvisoryDb::open(&self.db_path()) {
            Ok(db) => crate::assess(inventory, &db, &Filter::default()),
            Err(Error::NoDatabase(_)) => Ok(Report { inventory, ..Report::default() }),
            Err(e) => Err(e),
        }
    }

    fn scan(&self, repo: &str, digest: &str) {
        let mut result = ScanResult { repository: repo.to_owned(), digest: digest.to_owned(), status: ScanStatus::Scanning, error: None, scanned_at: 0, report: None };
        let outcome = self
            .content
            .manifest(repo, digest)
            .map_err(|e| Error::BadImage { what: format!("{repo}@{digest}"), reason: e.to_string() })
            .and_then(|m| Scanner::new().manifest(&format!("{repo}@{digest}"), &m, self.content.as_ref()))
            .and_then(|inv| self.assess(inv));
        match outcome {
            Ok(report) => {
                tracing::info!("scan-on-push: {repo}@{digest}: {} packages, {} findings", report.inventory.packages.len(), report.findings.len());
                result.status = ScanStatus::Done;
                result.report = Some(report);
            }
            Err(e) => {
                tracing::warn!("scan-on-push: {repo}@{digest}: {e}");
                result.status = ScanStatus::Failed;
                result.error = Some(e.to_string());
            }
        }
        result.scanned_at = now();
        if let Err(e) = self.put(&result) {
            tracing::warn!("scan-on-push: recording {digest}: {e}");
        }
    }

    /// Matches every stored inventory again (after a database update).
    fn rematch_all(&self) {
        let Ok(all) = self.all() else { return };
        for mut r in all {
            let Some(report) = r.report.take().filter(|_| r.status == ScanStatus::Done) else { continue };
            match self.assess(report.inventory) {
                Ok(new) => {
                    r.report = Some(new);
                    r.scanned_at = now();
                }
                Err(e) => {
                    r.status = ScanStatus::Failed;
                    r.error = Some(e.to_string());
                }
            }
            let _ = self.put(&r);
        }
        tracing::info!("scan-on-push: results recomputed for the updated advisory database");
    }
}

/// Reads a whole small blob (helper for [`RegistryContent`] implementations).
pub fn read_capped(mut r: impl Read, cap: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    (&mut r).take(cap + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > cap {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {cap} bytes")));
    }
    Ok(buf)
}
