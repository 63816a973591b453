use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use oci_spec::image::{ImageConfiguration, ImageManifest};
use palisade_reference::ImageReference;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::ids::{Digest, ImageRef};

/// Largest JSON document (manifest, config, index) the store reads into memory.
pub(crate) const MAX_JSON_BYTES: u64 = 16 << 20;

/// One image as `docker images` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// Image id: the digest of its config, as docker reports it.
    pub id: Digest,
    /// Digest of the stored OCI manifest.
    pub manifest: Digest,
    /// References (repo:tag) naming this image; empty for a dangling image.
    pub references: Vec<ImageRef>,
    /// Sum of the layer blob sizes in bytes.
    pub size: u64,
}

/// A stored image with its parsed manifest and config.
#[derive(Clone, Debug)]
pub struct Image {
    /// Summary (id, references, size).
    pub summary: ImageSummary,
    /// The OCI manifest.
    pub manifest: ImageManifest,
    /// The image configuration (entrypoint, env, user, ...).
    pub config: ImageConfiguration,
    /// Paths of the layer blobs, bottom layer first.
    pub layers: Vec<PathBuf>,
}

/// What [`ImageStore::remove`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemovedImage {
    /// References removed.
    pub untagged: Vec<ImageRef>,
    /// Image ids whose last reference went away and that were deleted.
    pub deleted: Vec<Digest>,
    /// Blobs deleted because no image referenced them any more.
    pub blobs_removed: usize,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    images: Vec<IndexEntry>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexEntry {
    manifest: Digest,
    config: Digest,
    references: Vec<ImageRef>,
}

/// The content-addressed store of loaded images under `<root>/images`.
#[derive(Debug)]
pub struct ImageStore {
    dir: PathBuf,
    lock: Mutex<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `<root>/images`.
    pub fn open(root: &Path) -> Result<Self> {
        let dir = root.join("images");
        for d in [dir.join("blobs/sha256"), dir.join("tmp")] {
            fs::create_dir_all(&d).map_err(Error::io("create", &d))?;
        }
        set_mode(&dir, 0o700)?;
        // Leftovers of interrupted loads.
        let tmp = dir.join("tmp");
        for e in fs::read_dir(&tmp).map_err(Error::io("read", &tmp))?.flatten() {
            let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
        }
        Ok(Self { dir, lock: Mutex::new(()) })
    }

    /// Opens an existing store for reading only: nothing is created or cleaned up, so it is
    /// safe beside a daemon that uses the same data root (`palisade scan IMAGE`).
    pub fn open_existing(root: &Path) -> Result<Self> {
        let dir = root.join("images");
        fs::metadata(dir.join("index.json")).map_err(Error::io("open image store", &dir))?;
        Ok(Self { dir, lock: Mutex::new(()) })
    }

    /// Path of a blob (whether or not it exists): `blobs/<algorithm>/<hex>`, as in an OCI
    /// image layout.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join(digest.algorithm().as_str()).join(digest.hex())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.dir.join("tmp")
    }

    /// Lists stored images, newest load last.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let idx = self.read_index()?;
        idx.images.iter().map(|e| self.summary(e)).collect()
    }

    /// Finds an image by reference (`busybox`, `busybox:latest`), full id (`sha256:...`) or
    /// id prefix of at least 12 hex characters. A reference pinned to a digest
    /// (`name[:tag]@sha256:…`) finds the image recorded under it or, failing that, an image of
    /// the same repository whose stored manifest is that digest; when the image held under
    /// its tag is other content, the error says so ([`Error::ImageDigestDiffers`]).
    pub fn inspect(&self, name: &str) -> Result<Image> {
        let idx = self.read_index()?;
        let pos = find(&idx, name, Pinned::ByManifest)?;
        let entry = idx.images.get(pos).ok_or_else(|| Error::ImageNotFound(name.to_owned()))?;
        self.image(entry)
    }

    fn image(&self, entry: &IndexEntry) -> Result<Image> {
        let manifest: ImageManifest = self.read_json(&entry.manifest, "image manifest")?;
        let config: ImageConfiguration = self.read_json(&entry.config, "image config")?;
        let mut layers = Vec::new();
        for l in manifest.layers() {
            let d: Digest = l.digest().to_string().parse()?;
            layers.push(self.blob_path(&d));
        }
        Ok(Image { summary: summary_of(entry, &manifest), manifest, config, layers })
    }

    /// Removes a reference; when an image loses its last reference (or is named by id) it is
    /// deleted and blobs no other image uses are removed.
    pub fn remove(&self, name: &str) -> Result<RemovedImage> {
        self.remove_unless(name, |_| Ok(()))
    }

    /// [`Self::remove`], but before an image would be deleted (not merely untagged) `veto` is
    /// asked with its id; its error (say, a container still uses the image's rootfs) cancels
    /// the whole removal.
    pub fn remove_unless(&self, name: &str, veto: impl FnOnce(&Digest) -> Result<()>) -> Result<RemovedImage> {
        let _g = self.lock()?;
        let mut idx = self.read_index()?;
        // Only the reference as recorded: a pinned name resolved by content would delete the
        // image with all its other names.
        let pos = find(&idx, name, Pinned::Recorded)?;
        let mut out = RemovedImage::default();
        let entry = idx.images.get_mut(pos).ok_or_else(|| Error::ImageNotFound(name.to_owned()))?;
        let by_ref = name.parse::<ImageRef>().ok().filter(|r| entry.references.contains(r));
        match by_ref {
            Some(r) if entry.references.len() > 1 => {
                entry.references.retain(|x| x != &r);
                out.untagged.push(r);
            }
            _ => {
                veto(&entry.config)?;
                let e = idx.images.remove(pos);
                out.untagged = e.references;
                out.deleted.push(e.config);
            }
        }
        self.write_index(&idx)?;
        out.blobs_removed = self.gc(&idx)?;
        Ok(out)
    }

    /// Gives the image `source` names (reference or id) the reference `target` too, moving
    /// `target` off any other image (`docker tag`).
    pub fn tag(&self, source: &str, target: &ImageRef) -> Result<()> {
        let _g = self.lock()?;
        let mut idx = self.read_index()?;
        let pos = find(&idx, source, Pinned::ByManifest)?;
        for e in &mut idx.images {
            e.references.retain(|r| r != target);
        }
        let entry = idx.images.get_mut(pos).ok_or_else(|| Error::ImageNotFound(source.to_owned()))?;
        entry.references.push(target.clone());
        self.write_index(&idx)
    }

    /// Serialises index changes and garbage collection against loads, so a collection never
    /// removes the blobs of a load in progress.
    pub(crate) fn lock(&self) -> Result<std::sync::MutexGuard<'_, ()>> {
        self.lock.lock().map_err(|_| poisoned())
    }

    /// Records `references` (moving them off other images) for a manifest whose blobs are
    /// all present, after preparing its rootfs (which checks every layer). The caller holds
    /// [`Self::lock`].
    pub(crate) fn commit_image(&self, manifest: &Digest, config: &Digest, references: &[ImageRef]) -> Result<()> {
        let entry = IndexEntry { manifest: manifest.clone(), config: config.clone(), references: Vec::new() };
        self.prepared_rootfs(&self.image(&entry)?, None)?;
        let mut idx = self.read_index()?;
        for e in &mut idx.images {
            e.references.retain(|r| !references.contains(r));
        }
        match idx.images.iter_mut().find(|e| &e.manifest == manifest) {
            Some(e) => e.references.extend(references.iter().cloned()),
            None => idx.images.push(IndexEntry {
                manifest: manifest.clone(),
                config: config.clone(),
                references: references.to_vec(),
            }),
        }
        // Images left with no name keep existing (dangling), as docker keeps them.
        self.write_index(&idx)
    }

    /// Moves a staged file into the blob store if its digest is not there yet.
    pub(crate) fn put_blob_file(&self, staged: &Path, digest: &Digest) -> Result<()> {
        let dst = self.blob_path(digest);
        if dst.exists() {
            return Ok(());
        }
        set_mode(staged, 0o600)?;
        fs::rename(staged, &dst).map_err(Error::io("store blob", &dst))
    }

    /// Stores bytes as a blob and returns their digest.
    pub(crate) fn put_blob_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::sha256_of(bytes);
        let dst = self.blob_path(&digest);
        if !dst.exists() {
            let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir()).map_err(Error::io("create", self.tmp_dir()))?;
            tmp.write_all(bytes).map_err(Error::io("write", tmp.path().to_path_buf()))?;
            tmp.persist(&dst).map_err(|e| Error::Io { op: "store blob", path: dst.clone(), source: e.error })?;
        }
        Ok(digest)
    }

    pub(crate) fn read_json<T: serde::de::DeserializeOwned>(&self, digest: &Digest, what: &str) -> Result<T> {
        let bytes = self.read_blob_small(digest)?;
        serde_json::from_slice(&bytes).map_err(Error::json(format!("{what} {digest}")))
    }

    fn read_blob_small(&self, digest: &Digest) -> Result<Vec<u8>> {
        let p = self.blob_path(digest);
        let file = fs::File::open(&p).map_err(Error::io("open blob", &p))?;
        // Sized up front: `take` hides the file's length from `read_to_end`, which would then
        // grow the buffer from 32 bytes, one read per doubling.
        let len = file.metadata().map_err(Error::io("stat blob", &p))?.len().min(MAX_JSON_BYTES);
        let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0).saturating_add(1));
        file.take(MAX_JSON_BYTES).read_to_end(&mut buf).map_err(Error::io("read blob", &p))?;
        Ok(buf)
    }

    fn summary(&self, e: &IndexEntry) -> Result<ImageSummary> {
        let manifest: ImageManifest = self.read_json(&e.manifest, "image manifest")?;
        Ok(summary_of(e, &manifest))
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn read_index(&self) -> Result<IndexFile> {
        let p = self.index_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(Error::json("image index")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(e) => Err(Error::Io { op: "read", path: p, source: e }),
        }
    }

    fn write_index(&self, idx: &IndexFile) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(idx).map_err(Error::json("image index"))?;
        write_atomic(&self.index_path(), &bytes)
    }

    /// Deletes every blob not referenced by an image of the index, and the prepared root
    /// filesystems of images no longer in it (after a failed load). The caller holds
    /// [`Self::lock`].
    pub(crate) fn gc_unreferenced(&self) -> Result<usize> {
        let idx = self.read_index()?;
        self.gc(&idx)
    }

    /// Deletes every blob not referenced by an image in `idx`, and the prepared root
    /// filesystems of images not in it. Returns how many blobs went.
    fn gc(&self, idx: &IndexFile) -> Result<usize> {
        let ids: HashSet<Digest> = idx.images.iter().map(|e| e.config.clone()).collect();
        self.gc_rootfs(&ids)?;
        let mut keep: HashSet<Digest> = HashSet::new();
        for e in &idx.images {
            keep.insert(e.manifest.clone());
            keep.insert(e.config.clone());
            let m: ImageManifest = self.read_json(&e.manifest, "image manifest")?;
            for l in m.layers() {
                keep.insert(l.digest().to_string().parse()?);
            }
        }
        let dir = self.dir.join("blobs/sha256");
        let mut removed = 0;
        for e in fs::read_dir(&dir).map_err(Error::io("read", &dir))? {
            let e = e.map_err(Error::io("read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let keep_it = format!("sha256:{name}").parse::<Digest>().map(|d| keep.contains(&d)).unwrap_or(false);
            if !keep_it {
                fs::remove_file(e.path()).map_err(Error::io("remove blob", e.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// All references currently stored (for tests and listings).
    pub fn references(&self) -> Result<BTreeSet<ImageRef>> {
        Ok(self.read_index()?.images.into_iter().flat_map(|e| e.references).collect())
    }
}

fn summary_of(e: &IndexEntry, manifest: &ImageManifest) -> ImageSummary {
    ImageSummary {
        id: e.config.clone(),
        manifest: e.manifest.clone(),
        references: e.references.clone(),
        size: manifest.layers().iter().map(|l| l.size()).sum(),
    }
}

/// How [`find`] resolves a reference pinned to a digest (`name[:tag]@D`) that no image is
/// recorded under (images are recorded under `name@D` when pulled by that digest).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pinned {
    /// Also an image held under the same repository whose stored manifest is `D`: it is the
    /// very content the digest names (pushed from this store, or pulled by a tag).
    ByManifest,
    /// Only the recorded reference.
    Recorded,
}

/// The position in `idx` of the image `name` names: a reference (`name:tag@D` is looked up as
/// `name@D`, as dockerd's reference store does: the digest decides), then an id or id prefix
/// of at least 12 hex characters that only one image has.
fn find(idx: &IndexFile, name: &str, pinned: Pinned) -> Result<usize> {
    if let Ok(reference) = ImageReference::parse(name) {
        let recorded = ImageRef::from_reference(&reference)?;
        if let Some(i) = idx.images.iter().position(|e| e.references.contains(&recorded)) {
            return Ok(i);
        }
        if let (Some(digest), Pinned::ByManifest) = (reference.digest(), pinned) {
            return find_by_manifest(idx, name, &reference, digest);
        }
    }
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() >= 12 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let mut it = idx
            .images
            .iter()
            .enumerate()
            .filter(|(_, e)| e.config.hex().starts_with(hex) || e.manifest.hex().starts_with(hex))
            .map(|(i, _)| i);
        if let (Some(first), None) = (it.next(), it.next()) {
            return Ok(first);
        }
    }
    Err(Error::ImageNotFound(name.to_owned()))
}

/// [`Pinned::ByManifest`] for `reference`, pinned to `digest` and written as `name`: the image
/// of the same repository whose stored manifest is `digest`. An image held under the tag
/// `name` also carries, with another manifest, is [`Error::ImageDigestDiffers`]; nothing at
/// all, [`Error::ImageNotFound`].
fn find_by_manifest(idx: &IndexFile, name: &str, reference: &ImageReference, digest: &Digest) -> Result<usize> {
    let repository = reference.name();
    let same_repository = |e: &IndexEntry| e.references.iter().any(|r| r.reference().name() == repository);
    if let Some(i) = idx.images.iter().position(|e| &e.manifest == digest && same_repository(e)) {
        return Ok(i);
    }
    let tagged = reference.tag().and_then(|tag| ImageRef::from_reference(&reference.tagged(tag.clone())).ok());
    match tagged.and_then(|t| idx.images.iter().find(|e| e.references.contains(&t)).map(|e| (t, e))) {
        Some((tagged, held)) => Err(Error::ImageDigestDiffers {
            reference: name.to_owned(),
            tagged: tagged.to_string(),
            held: held.manifest.clone(),
        }),
        None => Err(Error::ImageNotFound(name.to_owned())),
    }
}

fn poisoned() -> Error {
    Error::Unsupported("image store lock poisoned by an earlier panic".into())
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", path))
}

/// Writes `bytes` to `path` through a temp file in the same directory (mode 0600, as
/// tempfile makes it) and a rename: readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(Error::io("create", dir))?;
    tmp.write_all(bytes).map_err(Error::io("write", path))?;
    tmp.persist(path).map_err(|e| Error::Io { op: "rename", path: path.to_path_buf(), source: e.error })?;
    Ok(())
}

/// Copies `r` into `w`, returning the sha256 digest and the byte count.
pub(crate) fn copy_hashed(mut r: impl Read, mut w: impl Write) -> io::Result<(Digest, u64)> {
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            break;
        }
        let chunk = buf.get(..k).unwrap_or_default();
        h.update(chunk);
        w.write_all(chunk)?;
        n += k as u64;
    }
    Ok((Digest::from_sha256(h), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(manifest: &Digest, references: &[&str]) -> IndexEntry {
        IndexEntry {
            manifest: manifest.clone(),
            config: Digest::sha256_of(manifest.as_str().as_bytes()),
            references: references.iter().map(|r| r.parse().unwrap()).collect(),
        }
    }

    fn pinned(name: &str, digest: &Digest) -> String {
        format!("{name}@{digest}")
    }

    /// An image pushed to a registry from this store, or pulled from it by tag, and one
    /// pulled by the digest of an index (whose stored manifest is its platform's).
    fn index() -> (IndexFile, Digest, Digest) {
        let pushed = Digest::sha256_of(b"manifest pushed");
        let index_digest = Digest::sha256_of(b"index");
        let images = vec![
            entry(&pushed, &["127.0.0.1:5000/team/app:v1"]),
            entry(&Digest::sha256_of(b"platform manifest"), &[&pinned("busybox", &index_digest)]),
        ];
        (IndexFile { images }, pushed, index_digest)
    }

    #[test]
    fn a_pinned_reference_finds_the_image_whose_manifest_it_names() {
        let (idx, pushed, _) = index();
        for name in [pinned("127.0.0.1:5000/team/app:v1", &pushed), pinned("127.0.0.1:5000/team/app", &pushed)] {
            assert_eq!(find(&idx, &name, Pinned::ByManifest).unwrap(), 0, "{name}");
        }
    }

    #[test]
    fn a_pinned_reference_finds_the_image_pulled_by_that_digest() {
        let (idx, _, index_digest) = index();
        for name in [pinned("busybox:latest", &index_digest), pinned("docker.io/library/busybox", &index_digest)] {
            assert_eq!(find(&idx, &name, Pinned::ByManifest).unwrap(), 1, "{name}");
            assert_eq!(find(&idx, &name, Pinned::Recorded).unwrap(), 1, "{name}");
        }
    }

    #[test]
    fn other_content_under_the_tag_is_named_in_the_error() {
        let (idx, pushed, _) = index();
        let wanted = Digest::sha256_of(b"what the registry has now");
        let name = pinned("127.0.0.1:5000/team/app:v1", &wanted);
        match find(&idx, &name, Pinned::ByManifest) {
            Err(e @ Error::ImageDigestDiffers { .. }) => {
                let text = e.to_string();
                assert!(text.contains(&name) && text.contains("127.0.0.1:5000/team/app:v1 has manifest") && text.contains(pushed.as_str()), "{text}");
            }
            other => panic!("{other:?}"),
        }
        // Without a tag there is no held image to compare with.
        let name = pinned("127.0.0.1:5000/team/app", &wanted);
        assert!(matches!(find(&idx, &name, Pinned::ByManifest), Err(Error::ImageNotFound(n)) if n == name));
    }

    #[test]
    fn the_manifest_counts_only_under_the_same_repository() {
        let (idx, pushed, _) = index();
        for name in [pinned("127.0.0.1:5000/other:v1", &pushed), pinned("team/app:v1", &pushed)] {
            assert!(matches!(find(&idx, &name, Pinned::ByManifest), Err(Error::ImageNotFound(_))), "{name}");
        }
    }

    #[test]
    fn removal_resolves_only_recorded_references() {
        let (idx, pushed, _) = index();
        let name = pinned("127.0.0.1:5000/team/app", &pushed);
        assert!(matches!(find(&idx, &name, Pinned::Recorded), Err(Error::ImageNotFound(_))));
        assert_eq!(find(&idx, "127.0.0.1:5000/team/app:v1", Pinned::Recorded).unwrap(), 0);
        assert_eq!(find(&idx, &pushed.hex()[..12], Pinned::Recorded).unwrap(), 0);
    }
}
