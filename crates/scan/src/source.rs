//! Image sources: a rootfs directory, a docker-archive or OCI archive tarball, an OCI image
//! layout directory, or a manifest whose blobs come from elsewhere (the image store, the
//! registry). Each yields its layers, bottom first, to [`crate::layers`].

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::layers::{self, Layer, Limits, View};
use crate::package::{OsInfo, Package};

/// Largest manifest, index or config read.
const MAX_JSON: u64 = 16 << 20;
const MAX_LINK_HOPS: usize = 16;

/// Receives progress while layers are read (a progress bar on a terminal).
pub trait Progress: Send + Sync {
    /// Layer `index` of `count` starts; `size` is its stored size when known.
    fn layer(&self, index: usize, count: usize, digest: &str, size: Option<u64>);
    /// `n` more stored bytes were read.
    fn bytes(&self, n: u64);
}

/// Reports nothing.
#[derive(Debug, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn layer(&self, _: usize, _: usize, _: &str, _: Option<u64>) {}
    fn bytes(&self, _: u64) {}
}

/// Where a manifest's blobs come from (the image store, the registry's storage, an archive).
pub trait BlobSource {
    /// Opens blob `digest` (`sha256:…`) for reading.
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>>;
}

/// What an image holds: its OS, its packages and where each came from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// What was scanned (image name, archive or directory).
    pub target: String,
    /// `/etc/os-release`, when present.
    pub os: Option<OsInfo>,
    /// Layer digests, bottom first.
    pub layers: Vec<String>,
    /// Packages, sorted.
    pub packages: Vec<Package>,
    /// Files and layers that could not be read, each named.
    pub warnings: Vec<String>,
}

/// Builds inventories from image sources.
#[derive(Clone, Default)]
pub struct Scanner {
    limits: Limits,
    progress: Option<Arc<dyn Progress>>,
}

impl std::fmt::Debug for Scanner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scanner").field("limits", &self.limits).finish_non_exhaustive()
    }
}

struct Counting<'a, R> {
    inner: R,
    progress: &'a dyn Progress,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes(n as u64);
        Ok(n)
    }
}

/// One layer to read: digest, size when known, and how to open it.
type LayerRef = (String, Option<u64>);

impl Scanner {
    /// A scanner with default [`Limits`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Other limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Reports progress to `p`.
    pub fn with_progress(mut self, p: Arc<dyn Progress>) -> Self {
        self.progress = Some(p);
        self
    }

    fn finish(&self, target: String, view: View) -> Inventory {
        let (os, packages, mut warnings) = crate::detect::inventory(&view);
        let mut all = view.warnings.clone();
        all.append(&mut warnings);
        Inventory { target, os, layers: view.layers.into_iter().filter(|l| !l.is_empty()).collect(), packages, warnings: all }
    }

    /// A root filesystem directory (read as one layer; symlinks are never followed).
    pub fn rootfs(&self, dir: &Path) -> Result<Inventory> {
        let mut view = View::default();
        layers::apply_rootfs(&mut view, dir, &self.limits)?;
        Ok(self.finish(dir.display().to_string(), view))
    }

    /// Layers from `blobs`, bottom first, each read once. A layer that cannot be opened or
    /// ends early is a warning; the others are still read.
    pub fn layers(&self, target: &str, layers: &[LayerRef], blobs: &dyn BlobSource) -> Result<Inventory> {
        let mut view = View::default();
        let none = NoProgress;
        let progress: &dyn Progress = self.progress.as_deref().unwrap_or(&none);
        for (i, (digest, size)) in layers.iter().enumerate() {
            progress.layer(i, layers.len(), digest, *size);
            match blobs.open(digest) {
                Ok(r) => view.apply_layer(Layer { digest: digest.clone(), reader: Box::new(Counting { inner: r, progress }) }, &self.limits),
                Err(e) => {
                    view.layers.push(digest.clone());
                    view.warnings.push(format!("layer {digest}: {e}"));
                }
            }
        }
        Ok(self.finish(target.to_owned(), view))
    }

    /// An image manifest (OCI or Docker schema 2; an index picks linux/amd64, else its first
    /// image) whose blobs `blobs` serves.
    pub fn manifest(&self, target: &str, manifest: &[u8], blobs: &dyn BlobSource) -> Result<Inventory> {
        let layers = manifest_layers(target, manifest, blobs, 0)?;
        self.layers(target, &layers, blobs)
    }

    /// An OCI image layout directory (`oci-layout`, `index.json`, `blobs/`).
    pub fn oci_layout(&self, dir: &Path) -> Result<Inventory> {
        let blobs = BlobDir(dir.to_path_buf());
        let index = read_small(&mut File::open(dir.join("index.json")).map_err(Error::io("open", dir.join("index.json")))?)
            .map_err(Error::io("read", dir.join("index.json")))?;
        self.manifest(&dir.display().to_string(), &index, &blobs)
    }

    /// A `docker save` tarball or an OCI archive (a tarred OCI layout), gzip or not.
    pub fn archive(&self, path: &Path) -> Result<Inventory> {
        let ar = Archive::open(path)?;
        let target = path.display().to_string();
        if ar.has("manifest.json") {
            let bytes = ar.read_member("manifest.json")?;
            let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(&target, format!("manifest.json: {e}")))?;
            let entry = v.as_array().and_then(|a| a.first()).ok_or_else(|| bad(&target, "manifest.json lists no image"))?;
            let paths: Vec<String> = entry
                .get("Layers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default();
            // Findings name layers by diff_id (the config's rootfs), as docker does.
            let diff_ids: Vec<String> = match entry.get("Config").and_then(Value::as_str) {
                Some(c) => {
                    let cfg: Value = serde_json::from_slice(&ar.read_member(c)?).map_err(|e| bad(&target, format!("{c}: {e}")))?;
                    cfg.pointer("/rootfs/diff_ids")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                        .unwrap_or_default()
                }
                None => Vec::new(),
            };
            let names: HashMap<String, String> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| (diff_ids.get(i).cloned().filter(|_| diff_ids.len() == paths.len()).unwrap_or_else(|| p.clone()), p.clone()))
                .collect();
            let layers: Vec<LayerRef> = paths
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let id = if diff_ids.len() == paths.len() { diff_ids.get(i).cloned().unwrap_or_default() } else { p.clone() };
                    let size = ar.size(p);
                    (id, size)
                })
                .collect();
            let blobs = ArchiveBlobs { ar: &ar, names };
            return self.layers(&target, &layers, &blobs);
        }
        if ar.has("index.json") {
            let index = ar.read_member("index.json")?;
            let blobs = ArchiveBlobs { ar: &ar, names: HashMap::new() };
            return self.manifest(&target, &index, &blobs);
        }
        Err(bad(&target, "neither a docker-archive (manifest.json) nor an OCI archive (index.json)"))
    }
}

fn bad(what: &str, reason: impl Into<String>) -> Error {
    Error::BadImage { what: what.to_owned(), reason: reason.into() }
}

fn read_small(r: &mut dyn Read) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(MAX_JSON + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_JSON {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("larger than {MAX_JSON} bytes")));
    }
    Ok(buf)
}

/// The layers of a manifest (following an index to one image).
fn manifest_layers(target: &str, manifest: &[u8], blobs: &dyn BlobSource, depth: usize) -> Result<Vec<LayerRef>> {
    let v: Value = serde_json::from_slice(manifest).map_err(|e| bad(target, format!("manifest: {e}")))?;
    if let Some(list) = v.get("manifests").and_then(Value::as_array) {
        if depth > 2 {
            return Err(bad(target, "nested indexes deeper than 2"));
        }
        let platform = |m: &Value, k: &str| m.pointer(&format!("/platform/{k}")).and_then(Value::as_str).map(str::to_owned);
        let pick = list
            .iter()
            .find(|m| platform(m, "os").as_deref() == Some("linux") && platform(m, "architecture").as_deref() == Some("amd64"))
            .or_else(|| list.iter().find(|m| m.get("platform").is_none() || platform(m, "os").as_deref() == Some("linux")))
            .or_else(|| list.first())
            .ok_or_else(|| bad(target, "index lists no manifest"))?;
        let digest = pick.get("digest").and_then(Value::as_str).ok_or_else(|| bad(target, "index entry without digest"))?;
        let bytes = read_small(&mut *blobs.open(digest).map_err(|e| bad(target, format!("manifest {digest}: {e}")))?)
            .map_err(|e| bad(target, format!("manifest {digest}: {e}")))?;
        return manifest_layers(target, &bytes, blobs, depth + 1);
    }
    let layers = v.get("layers").and_then(Value::as_array).ok_or_else(|| bad(target, "manifest has no layers"))?;
    layers
        .iter()
        .map(|l| {
            let d = l.get("digest").and_then(Value::as_str).ok_or_else(|| bad(target, "layer without digest"))?;
            check_digest(target, d)?;
            Ok((d.to_owned(), l.get("size").and_then(Value::as_u64)))
        })
        .collect()
}

/// Digests name files: only `sha256:<64 hex>` / `sha512:<128 hex>` are accepted.
fn check_digest(target: &str, d: &str) -> Result<()> {
    let ok = match d.split_once(':') {
        Some(("sha256", h)) => h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()),
        Some(("sha512", h)) => h.len() == 128 && h.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(bad(target, format!("invalid digest {d:?}")))
    }
}

/// Blob files by digest under `<dir>/blobs/<alg>/<hex>` (an OCI layout, the daemon's image
/// store).
#[derive(Debug, Clone)]
pub struct BlobDir(pub PathBuf);

impl BlobSource for BlobDir {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        check_digest("", digest).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let (alg, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
        Ok(Box::new(File::open(self.0.join("blobs").join(alg).join(hex))?))
    }
}

/// A tar archive indexed once (entry offsets), read member by member with seeks.
struct Archive {
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
    links: HashMap<String, String>,
}

impl Archive {
    fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(Error::io("open", path))?;
        let mut magic = [0u8; 2];
        let n = (&file).read(&mut magic).map_err(Error::io("read", path))?;
        if n == 2 && magic == [0x1f, 0x8b] {
            return Err(bad(&path.display().to_string(), "a gzip-compressed archive; decompress it first (gunzip)"));
        }
        (&file).seek(SeekFrom::Start(0)).map_err(Error::io("seek", path))?;
        let mut ar = tar::Archive::new(file);
        let mut files = HashMap::new();
        let mut links = HashMap::new();
        let entries = ar.entries_with_seek().map_err(|e| bad(&path.display().to_string(), e.to_string()))?;
        for e in entries {
            let e = e.map_err(|e| bad(&path.display().to_string(), format!("truncated or corrupt: {e}")))?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let Some(name) = layers::normalize(&raw) else { continue };
            match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(name, (e.raw_file_position(), e.size()));
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = e.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
                    let joined = match (kind == tar::EntryType::Symlink, name.rsplit_once('/')) {
                        (true, Some((d, _))) => format!("{d}/{target}"),
                        _ => target,
                    };
                    if let Some(t) = layers::normalize(&joined) {
                        links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        Ok(Self { path: path.to_path_buf(), files, links })
    }

    fn find(&self, name: &str) -> Option<(u64, u64)> {
        let mut cur = layers::normalize(name)?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&cur) {
                return Some(*f);
            }
            cur = self.links.get(&cur)?.clone();
        }
        None
    }

    fn has(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn size(&self, name: &str) -> Option<u64> {
        self.find(name).map(|(_, s)| s)
    }

    fn open_member(&self, name: &str) -> io::Result<Box<dyn Read>> {
        let (pos, size) = self.find(name).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{name}: not in the archive")))?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(pos))?;
        Ok(Box::new(io::BufReader::new(f).take(size)))
    }

    fn read_member(&self, name: &str) -> Result<Vec<u8>> {
        let what = format!("{}: {name}", self.path.display());
        let mut r = self.open_member(name).map_err(|e| bad(&what, e.to_string()))?;
        read_small(&mut r).map_err(|e| bad(&what, e.to_string()))
    }
}

/// Blobs of an archive: by layer id (docker-archive) or `blobs/<alg>/<hex>` (OCI archive).
struct ArchiveBlobs<'a> {
    ar: &'a Archive,
    names: HashMap<String, String>,
}

impl BlobSource for ArchiveBlobs<'_> {
    fn open(&self, digest: &str) -> io::Result<Box<dyn Read + '_>> {
        if let Some(name) = self.names.get(digest) {
            return self.ar.open_member(name);
        }
        let (alg, hex) = digest.split_once(':').ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("bad digest {digest:?}")))?;
        self.ar.open_member(&format!("blobs/{alg}/{hex}"))
    }
}
