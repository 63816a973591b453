//! Loading `docker save` archives, OCI archives and OCI layout directories.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType};
use serde::Deserialize;

use super::store::{copy_hashed, ImageStore, ImageSummary, MAX_JSON_BYTES};
use crate::error::{Error, Result};
use crate::ids::{Digest, ImageRef};

const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
const MAX_LINK_HOPS: usize = 16;

/// One entry of a `docker save` manifest.json.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

#[derive(Debug)]
struct StagedFile {
    path: PathBuf,
    digest: Digest,
    size: u64,
}

/// The files of an archive or layout, copied into the store's tmp dir and hashed.
struct Staging {
    source: PathBuf,
    _dir: tempfile::TempDir,
    files: HashMap<String, StagedFile>,
    links: HashMap<String, String>,
}

impl Staging {
    fn new(store: &ImageStore, source: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("load-")
            .tempdir_in(store.tmp_dir())
            .map_err(Error::io("create staging dir", store.tmp_dir()))?;
        Ok(Self { source: source.to_path_buf(), _dir: dir, files: HashMap::new(), links: HashMap::new() })
    }

    fn malformed(&self, reason: impl Into<String>) -> Error {
        Error::ArchiveFormat { path: self.source.clone(), reason: reason.into() }
    }

    fn stage(&mut self, name: String, r: impl Read) -> Result<()> {
        let path = self._dir.path().join(format!("f{}", self.files.len()));
        let f = File::create(&path).map_err(Error::io("create", &path))?;
        let (digest, size) = copy_hashed(r, f).map_err(Error::io("stage archive file", &self.source))?;
        self.files.insert(name, StagedFile { path, digest, size });
        Ok(())
    }

    fn from_tar(store: &ImageStore, path: &Path) -> Result<Self> {
        let mut st = Self::new(store, path)?;
        let f = File::open(path).map_err(Error::io("open", path))?;
        let mut reader = BufReader::new(f);
        let gz = reader.fill_buf().map_err(Error::io("read", path))?.starts_with(&[0x1f, 0x8b]);
        let stream: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(reader)) } else { Box::new(reader) };
        let mut ar = tar::Archive::new(stream);
        for entry in ar.entries().map_err(Error::io("read archive", path))? {
            let entry = entry.map_err(Error::io("read archive", path))?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(name) = normalize(&raw) else { continue };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => st.stage(name, entry)?,
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let is_sym = entry.header().entry_type() == tar::EntryType::Symlink;
                    let target = entry
                        .link_name_bytes()
                        .map(|b| String::from_utf8_lossy(&b).into_owned())
                        .unwrap_or_default();
                    // Symlinks are relative to their directory; hard links name an archive path.
                    let joined = if is_sym {
                        match name.rsplit_once('/') {
                            Some((d, _)) => format!("{d}/{target}"),
                            None => target,
                        }
                    } else {
                        target
                    };
                    if let Some(t) = normalize(&joined) {
                        st.links.insert(name, t);
                    }
                }
                _ => {}
            }
        }
        Ok(st)
    }

    fn from_dir(store: &ImageStore, path: &Path) -> Result<Self> {
        let mut st = Self::new(store, path)?;
        let mut todo = vec![(path.to_path_buf(), String::new())];
        while let Some((dir, prefix)) = todo.pop() {
            for e in fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
                let e = e.map_err(Error::io("read", &dir))?;
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                // symlink_metadata: a layout's symlinks are never followed out of it.
                let md = fs::symlink_metadata(e.path()).map_err(Error::io("stat", e.path()))?;
                if md.is_dir() {
                    todo.push((e.path(), format!("{name}/")));
                } else if md.is_file() {
                    let f = File::open(e.path()).map_err(Error::io("open", e.path()))?;
                    st.stage(name, f)?;
                }
            }
        }
        Ok(st)
    }

    fn get(&self, name: &str) -> Result<&StagedFile> {
        let mut cur = normalize(name).ok_or_else(|| self.malformed(format!("bad path {name:?}")))?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(f) = self.files.get(&cur) {
                return Ok(f);
            }
            match self.links.get(&cur) {
                Some(t) => cur = t.clone(),
                None => break,
            }
        }
        Err(self.malformed(format!("missing file {name:?}")))
    }

    fn has(&self, name: &str) -> bool {
        self.get(name).is_ok()
    }

    fn read_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let f = self.get(name)?;
        if f.size > MAX_JSON_BYTES {
            return Err(self.malformed(format!("{name} is too large for a JSON document")));
        }
        fs::read(&f.path).map_err(Error::io("read", &f.path))
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let bytes = self.read_bytes(name)?;
        serde_json::from_slice(&bytes).map_err(Error::json(format!("{} in {}", name, self.source.display())))
    }

    /// A blob of an OCI layout, verified against the digest that names it.
    fn blob(&self, digest: &Digest) -> Result<&StagedFile> {
        let f = self.get(&format!("blobs/sha256/{}", digest.hex()))?;
        if &f.digest != digest {
            return Err(Error::DigestMismatch { expected: digest.to_string(), actual: f.digest.to_string() });
        }
        Ok(f)
    }
}

/// Lexically normalizes an archive path; `None` for paths that climb out or are empty.
fn normalize(raw: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => {}
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("/"))
    }
}

fn oci_digest(d: &oci_spec::image::Digest) -> Result<Digest> {
    crate::ids::sha256_only(d.to_string().parse()?)
}

fn is_gzip(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 2];
    let mut f = File::open(path).map_err(Error::io("open", path))?;
    let n = f.read(&mut magic).map_err(Error::io("read", path))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl ImageStore {
    /// Loads every image in a `docker save` tarball, an OCI archive (a tar of an OCI layout,
    /// optionally gzip-compressed) or an OCI layout directory.
    ///
    /// `name` names images that carry no full reference of their own (an OCI layout whose
    /// `org.opencontainers.image.ref.name` is only a tag gets `name`'s repository with that
    /// tag). Every blob is verified against its digest before anything is recorded.
    pub fn load(&self, path: &Path, name: Option<&ImageRef>) -> Result<Vec<ImageSummary>> {
        let md = fs::metadata(path).map_err(Error::io("stat", path))?;
        let st = if md.is_dir() { Staging::from_dir(self, path)? } else { Staging::from_tar(self, path)? };
        let guard = self.lock()?;
        let loaded = if st.has("index.json") && st.has("oci-layout") {
            self.load_oci(&st, name)
        } else if st.has("manifest.json") {
            self.load_docker(&st, name)
        } else {
            return Err(st.malformed("neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)"));
        };
        let loaded = match loaded {
            Ok(l) => l,
            Err(e) => {
                // Blobs of the refused image that no recorded image uses go again.
                if let Err(gc) = self.gc_unreferenced() {
                    tracing::warn!("cleaning up after a refused load: {gc}");
                }
                return Err(e);
            }
        };
        drop(guard);
        let mut out = Vec::new();
        let all = self.list()?;
        for m in loaded {
            if let Some(s) = all.iter().find(|s| s.manifest == m) {
                out.push(s.clone());
            }
        }
        Ok(out)
    }

    fn load_docker(&self, st: &Staging, name: Option<&ImageRef>) -> Result<Vec<Digest>> {
        let entries: Vec<DockerManifestEntry> = st.read_json("manifest.json")?;
        let mut out = Vec::new();
        for e in entries {
            let config_file = st.get(&e.config)?;
            let config_bytes = st.read_bytes(&e.config)?;
            let config: ImageConfiguration =
                serde_json::from_slice(&config_bytes).map_err(Error::json(format!("image config {}", e.config)))?;
            let diff_ids = config.rootfs().diff_ids();
            if diff_ids.len() != e.layers.len() {
                return Err(st.malformed(format!(
                    "config lists {} layers, manifest.json {}",
                    diff_ids.len(),
                    e.layers.len()
                )));
            }
            let mut layers = Vec::new();
            for (l, diff_id) in e.layers.iter().zip(diff_ids) {
                let f = st.get(l)?;
                let gz = is_gzip(&f.path)?;
                if !gz && f.digest.as_str() != diff_id {
                    return Err(Error::DigestMismatch { expected: diff_id.clone(), actual: f.digest.to_string() });
                }
                let mt = if gz { MediaType::ImageLayerGzip } else { MediaType::ImageLayer };
                layers.push((f, mt));
            }
            let config_desc = Descriptor::new(MediaType::ImageConfig, config_file.size, oci_d(&config_file.digest)?);
            let layer_descs = layers
                .iter()
                .map(|(f, mt)| Ok(Descriptor::new(mt.clone(), f.size, oci_d(&f.digest)?)))
                .collect::<Result<Vec<_>>>()?;
            let manifest = ImageManifestBuilder::default()
                .schema_version(2u32)
                .media_type(MediaType::ImageManifest)
                .config(config_desc)
                .layers(layer_descs)
                .build()
                .map_err(Error::oci("image manifest"))?;
            let manifest_bytes = serde_json::to_vec(&manifest).map_err(Error::json("image manifest"))?;
            let mut refs = Vec::new();
            for t in e.repo_tags.unwrap_or_default() {
                refs.push(t.parse::<ImageRef>()?);
            }
            if refs.is_empty() {
                refs.extend(name.cloned());
            }
            // Blobs first, then the index entry: a crash leaves only unreferenced blobs.
            for (f, _) in &layers {
                self.put_blob_file(&f.path, &f.digest)?;
            }
            self.put_blob_bytes(&config_bytes)?;
            let md = self.put_blob_bytes(&manifest_bytes)?;
            self.commit_image(&md, &config_file.digest, &refs)?;
            out.push(md);
        }
        Ok(out)
    }

    fn load_oci(&self, st: &Staging, name: Option<&ImageRef>) -> Result<Vec<Digest>> {
        let index: ImageIndex = st.read_json("index.json")?;
        let mut out = Vec::new();
        for desc in index.manifests() {
            let Some((manifest_digest, manifest)) = self.pick_manifest(st, desc, 0)? else { continue };
            let annotations = desc.annotations().clone().unwrap_or_default();
            let mut refs = Vec::new();
            if let Some(n) = annotations.get(ANNOTATION_CONTAINERD_NAME) {
                refs.push(n.parse::<ImageRef>()?);
            } else if let Some(n) = annotations.get(ANNOTATION_REF_NAME) {
                if n.contains('/') || n.contains(':') {
                    refs.push(n.parse::<ImageRef>()?);
                } else if let Some(base) = name {
                    let repo = base.as_str().rsplit_once(':').map(|(r, _)| r).unwrap_or(base.as_str());
                    refs.push(format!("{repo}:{n}").parse::<ImageRef>()?);
                }
            } else if let Some(base) = name {
                refs.push(base.clone());
            }
            let config_digest = oci_digest(manifest.config().digest())?;
            let config = st.blob(&config_digest)?;
            let _: ImageConfiguration = st.read_json(&format!("blobs/sha256/{}", config_digest.hex()))?;
            let mut blobs = vec![(config, config_digest)];
            for l in manifest.layers() {
                let d = oci_digest(l.digest())?;
                match l.media_type() {
                    MediaType::ImageLayer | MediaType::ImageLayerGzip => {}
                    MediaType::Other(s) if s.starts_with("application/vnd.docker.image.rootfs.diff.tar") => {}
                    other => return Err(Error::Unsupported(format!("layer media type {other}"))),
                }
                blobs.push((st.blob(&d)?, d));
            }
            let m = st.blob(&manifest_digest)?;
            for (f, d) in blobs.iter().chain(std::iter::once(&(m, manifest_digest.clone()))) {
                self.put_blob_file(&f.path, d)?;
            }
            self.commit_image(&manifest_digest, &blobs[0].1, &refs)?;
            out.push(manifest_digest);
        }
        if out.is_empty() {
            return Err(st.malformed(format!("no image for linux/{} in index.json", native_arch())));
        }
        Ok(out)
    }

    /// Follows an index descriptor down to one manifest for this platform.
    fn pick_manifest(&self, st: &Staging, desc: &Descriptor, depth: usize) -> Result<Option<(Digest, ImageManifest)>> {
        if depth > 2 {
            return Err(st.malformed("image indexes nested too deeply"));
        }
        let d = oci_digest(desc.digest())?;
        st.blob(&d)?;
        let name = format!("blobs/sha256/{}", d.hex());
        let is_index = matches!(desc.media_type(), MediaType::ImageIndex)
            || desc.media_type().to_string() == "application/vnd.docker.distribution.manifest.list.v2+json";
        if is_index {
            let idx: ImageIndex = st.read_json(&name)?;
            let chosen = idx.manifests().iter().find(|m| {
                m.platform()
                    .as_ref()
                    .is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == native_arch())
            });
            return match chosen {
                Some(m) => self.pick_manifest(st, m, depth + 1),
                None => Ok(None),
            };
        }
        let manifest: ImageManifest = st.read_json(&name)?;
        Ok(Some((d, manifest)))
    }
}

fn oci_d(d: &Digest) -> Result<oci_spec::image::Digest> {
    d.as_str().parse().map_err(Error::oci("digest"))
}
