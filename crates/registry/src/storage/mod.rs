//! The registry's domain layer: repositories, blobs, uploads, manifests, tags and referrers on
//! top of a [`StorageDriver`]. Layout: see `paths.rs`.
//!
//! Every method blocks (it calls the driver); async callers use `spawn_blocking`. Validation
//! always happens before the first write, so rejected requests store nothing.

mod gc;
mod paths;

pub use gc::{GcMode, GcReport};

use std::fmt;
use std::io::Read;
use std::str::FromStr;
use std::sync::Arc;

use rand::RngCore;

use crate::{Digest, DigestAlgorithm};
use crate::driver::{DriverError, FileWriter, StorageDriver, StoragePath};
use crate::error::{Error, Result};
use crate::manifest::{Descriptor, Manifest};
use crate::names::{Reference, RepoName, Tag};
use paths::{path_for, PathSpec, REPOSITORIES, UPLOADS};

/// An upload session id (32 lowercase hex characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    fn random() -> Self {
        let mut b = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut b);
        Self(hex::encode(b))
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UploadId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(Error::UploadUnknown { id: s.chars().take(64).collect() })
        }
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A manifest as stored.
#[derive(Debug, Clone)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// The exact bytes the client pushed.
    pub bytes: Vec<u8>,
}

/// Outcome of a manifest push.
#[derive(Debug, Clone)]
pub struct PutManifest {
    /// Digest of the stored manifest.
    pub digest: Digest,
    /// Its `subject`, if any (reported back in `OCI-Subject`).
    pub subject: Option<Digest>,
}

/// Repository storage over a driver.
#[derive(Clone)]
pub struct Store {
    driver: Arc<dyn StorageDriver>,
}

fn missing_as<T>(r: std::result::Result<T, DriverError>, err: impl FnOnce() -> Error) -> Result<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Err(err()),
        Err(e) => Err(e.into()),
    }
}

impl Store {
    /// Build on a driver.
    pub fn new(driver: Arc<dyn StorageDriver>) -> Self {
        Self { driver }
    }

    /// The underlying driver.
    pub fn driver(&self) -> &Arc<dyn StorageDriver> {
        &self.driver
    }

    fn exists(&self, path: &StoragePath) -> Result<bool> {
        match self.driver.stat(path) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether the repository exists (has ever received a blob, manifest or upload commit).
    pub fn repo_exists(&self, repo: &RepoName) -> Result<bool> {
        self.exists(&path_for(PathSpec::Repo(repo))?)
    }

    // ---------------------------------------------------------------- blobs

    /// Size of a blob linked into `repo`.
    pub fn blob_size(&self, repo: &RepoName, digest: &Digest) -> Result<u64> {
        let unknown = || Error::BlobUnknown { digest: digest.to_string() };
        if !self.exists(&path_for(PathSpec::LayerLink(repo, digest))?)? {
            return Err(unknown());
        }
        missing_as(self.driver.stat(&path_for(PathSpec::BlobData(digest))?), unknown).map(|i| i.size)
    }

    /// Stream a blob from `offset` (callers check linkage with [`Self::blob_size`] first).
    pub fn open_blob(&self, digest: &Digest, offset: u64) -> Result<Box<dyn Read + Send>> {
        missing_as(self.driver.reader(&path_for(PathSpec::BlobData(digest))?, offset), || {
            Error::BlobUnknown { digest: digest.to_string() }
        })
    }

    /// Remove a blob's link from `repo` (the bytes stay until garbage collection).
    pub fn unlink_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let link = path_for(PathSpec::LayerLink(repo, digest))?;
        let parent = StoragePath::new(link.as_str().trim_end_matches("/link"))?;
        missing_as(self.driver.delete(&parent), || Error::BlobUnknown { digest: digest.to_string() })
    }

    /// Link a blob already present in `from` into `repo`; `false` if `from` lacks it.
    pub fn mount_blob(&self, repo: &RepoName, from: &RepoName, digest: &Digest) -> Result<bool> {
        match self.blob_size(from, digest) {
            Ok(_) => {
                self.link_blob(repo, digest)?;
                Ok(true)
            }
            Err(Error::BlobUnknown { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn link_blob(&self, repo: &RepoName, digest: &Digest) -> Result<()> {
        let link = path_for(PathSpec::LayerLink(repo, digest))?;
        Ok(self.driver.put_content(&link, digest.to_string().as_bytes())?)
    }

    // ---------------------------------------------------------------- uploads

    /// Start an upload session for `repo`. If a write fails (a full storage), what was written
    /// is removed again.
    pub fn start_upload(&self, repo: &RepoName) -> Result<UploadId> {
        let id = UploadId::random();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let write = || -> Result<()> {
            self.driver.put_content(&path_for(PathSpec::UploadStartedAt(id.as_str()))?, now.as_bytes())?;
            self.driver.put_content(&path_for(PathSpec::UploadData(id.as_str()))?, b"")?;
            // Written last: an upload is only usable once its owner is recorded.
            self.driver.put_content(&path_for(PathSpec::UploadRepo(id.as_str()))?, repo.as_str().as_bytes())?;
            Ok(())
        };
        if let Err(e) = write() {
            // Best effort: an upload without its owner is unusable anyway and stale-upload
            // cleanup removes it later.
            let _ = self.driver.delete(&path_for(PathSpec::Upload(id.as_str()))?);
            return Err(e);
        }
        Ok(id)
    }

    fn check_upload(&self, repo: &RepoName, id: &UploadId) -> Result<()> {
        let unknown = || Error::UploadUnknown { id: id.to_string() };
        let owner = missing_as(self.driver.get_content(&path_for(PathSpec::UploadRepo(id.as_str()))?), unknown)?;
        if owner != repo.as_str().as_bytes() {
            return Err(unknown());
        }
        Ok(())
    }

    /// Bytes received so far.
    pub fn upload_size(&self, repo: &RepoName, id: &UploadId) -> Result<u64> {
        self.check_upload(repo, id)?;
        let unknown = || Error::UploadUnknown { id: id.to_string() };
        missing_as(self.driver.stat(&path_for(PathSpec::UploadData(id.as_str()))?), unknown).map(|i| i.size)
    }

    /// An appending writer for the upload's data (commit to acknowledge the chunk).
    pub fn upload_writer(&self, repo: &RepoName, id: &UploadId) -> Result<Box<dyn FileWriter>> {
        self.check_upload(repo, id)?;
        Ok(self.driver.writer(&path_for(PathSpec::UploadData(id.as_str()))?, true)?)
    }

    /// Verify the upload hashes to `expected`, then publish it as a blob linked into `repo`.
    /// On a digest mismatch the upload is discarded and nothing is published.
    pub fn complete_upload(&self, repo: &RepoName, id: &UploadId, expected: &Digest) -> Result<u64> {
        self.check_upload(repo, id)?;
        let data = path_for(PathSpec::UploadData(id.as_str()))?;
        let mut reader = self.driver.reader(&data, 0)?;
        let mut hasher = expected.algorithm().hasher();
        let mut buf = vec![0u8; 256 * 1024];
        let mut size = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(|source| DriverError::Io {
                driver: self.driver.name(),
                path: data.to_string(),
                source,
            })?;
            if n == 0 {
                break;
            }
            size += n as u64;
            hasher.update(buf.get(..n).unwrap_or_default());
        }
        drop(reader);
        self.publish_upload(repo, id, expected, &hasher.finish())?;
        Ok(size)
    }

    /// Like [`Self::complete_upload`] when the caller hashed every byte of the upload as it was
    /// written (`actual`), with no other writer to the upload meanwhile: saves reading it back.
    pub fn complete_hashed_upload(&self, repo: &RepoName, id: &UploadId, expected: &Digest, actual: &Digest) -> Result<()> {
        self.check_upload(repo, id)?;
        self.publish_upload(repo, id, expected, actual)
    }

    fn publish_upload(&self, repo: &RepoName, id: &UploadId, expected: &Digest, actual: &Digest) -> Result<()> {
        if actual != expected {
            self.cancel_upload(repo, id)?;
            return Err(Error::DigestMismatch { expected: expected.to_string(), actual: actual.to_string() });
        }
        let data = path_for(PathSpec::UploadData(id.as_str()))?;
        let blob = path_for(PathSpec::BlobData(expected))?;
        if !self.exists(&blob)? {
            self.driver.rename(&data, &blob)?;
        }
        self.link_blob(repo, expected)?;
        self.driver.delete(&path_for(PathSpec::Upload(id.as_str()))?)?;
        Ok(())
    }

    /// Discard an upload.
    pub fn cancel_upload(&self, repo: &RepoName, id: &UploadId) -> Result<()> {
        self.check_upload(repo, id)?;
        missing_as(self.driver.delete(&path_for(PathSpec::Upload(id.as_str()))?), || {
            Error::UploadUnknown { id: id.to_string() }
        })
    }

    /// Ids of every upload in progress (for cleanup tools).
    pub fn upload_ids(&self) -> Result<Vec<String>> {
        match self.driver.list(&StoragePath::new(UPLOADS)?) {
            Ok(v) => Ok(v),
            Err(e) if e.is_not_found() => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    // ---------------------------------------------------------------- manifests

    /// Validate and store a manifest under `reference`. Nothing is written unless the manifest
    /// parses, matches a digest reference, and every blob / child it needs is in `repo`.
    pub fn put_manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        bytes: &[u8],
        content_type: Option<&str>,
    ) -> Result<PutManifest> {
        self.put_manifest_tagged(repo, reference, bytes, content_type, &[])
    }

    /// [`Self::put_manifest`], then also pointing each of `tags` at it (a push by digest with
    /// `?tag=` parameters). Tags are written last, after every check passed.
    pub fn put_manifest_tagged(
        &self,
        repo: &RepoName,
        reference: &Reference,
        bytes: &[u8],
        content_type: Option<&str>,
        tags: &[Tag],
    ) -> Result<PutManifest> {
        let manifest = Manifest::parse(bytes, content_type)?;
        let digest = match reference {
            Reference::Digest(d) => {
                let actual = Digest::of(d.algorithm(), bytes);
                if &actual != d {
                    return Err(Error::DigestMismatch { expected: d.to_string(), actual: actual.to_string() });
                }
                actual
            }
            Reference::Tag(_) => Digest::of(DigestAlgorithm::Sha256, bytes),
        };
        for blob in &manifest.blobs {
            if self.blob_size(repo, blob).is_err() {
                return Err(Error::ManifestBlobUnknown { digest: blob.to_string() });
            }
        }
        for child in &manifest.children {
            if !self.exists(&path_for(PathSpec::RevisionLink(repo, child))?)? {
                return Err(Error::ManifestBlobUnknown { digest: child.to_string() });
            }
        }
        // All checks passed: write blob → revision → referrer → tag.
        let blob = path_for(PathSpec::BlobData(&digest))?;
        if !self.exists(&blob)? {
            self.driver.put_content(&blob, bytes)?;
        }
        let media = manifest.media_type.as_str();
        self.driver.put_content(&path_for(PathSpec::RevisionLink(repo, &digest))?, media.as_bytes())?;
        if let Some(subject) = &manifest.subject {
            let desc = Descriptor {
                media_type: media.to_owned(),
                digest: digest.clone(),
                size: bytes.len() as u64,
                artifact_type: manifest.artifact_type.clone(),
                annotations: manifest.annotations.clone(),
                urls: None,
            };
            let json = serde_json::to_vec(&desc).map_err(|e| Error::Corrupt {
                path: "referrer".into(),
                reason: e.to_string(),
            })?;
            self.driver.put_content(&path_for(PathSpec::ReferrerEntry(repo, subject, &digest))?, &json)?;
        }
        let named = match reference {
            Reference::Tag(tag) => Some(tag),
            Reference::Digest(_) => None,
        };
        for tag in named.into_iter().chain(tags) {
            self.driver
                .put_content(&path_for(PathSpec::TagLink(repo, tag))?, digest.to_string().as_bytes())?;
        }
        Ok(PutManifest { digest, subject: manifest.subject })
    }

    /// When `tag` was last pushed: every push of a tag rewrites its link, so the link's
    /// modification time is the push time. `None` when the storage keeps no times.
    pub fn tag_pushed_at(&self, repo: &RepoName, tag: &Tag) -> Result<Option<std::time::SystemTime>> {
        let info = missing_as(self.driver.stat(&path_for(PathSpec::TagLink(repo, tag))?), || Error::ManifestUnknown {
            reference: tag.to_string(),
        })?;
        Ok(info.modified)
    }

    fn resolve(&self, repo: &RepoName, reference: &Reference) -> Result<Digest> {
        match reference {
            Reference::Digest(d) => Ok(d.clone()),
            Reference::Tag(tag) => self.resolve_tag(repo, tag),
        }
    }

    fn resolve_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Digest> {
        let path = path_for(PathSpec::TagLink(repo, tag))?;
        let text = missing_as(self.driver.get_content(&path), || Error::ManifestUnknown {
            reference: tag.to_string(),
        })?;
        String::from_utf8_lossy(&text)
            .trim()
            .parse()
            .map_err(|_| Error::Corrupt { path: path.to_string(), reason: "bad digest in tag link".into() })
    }

    /// Fetch a manifest by tag or digest.
    pub fn get_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<StoredManifest> {
        let digest = self.resolve(repo, reference)?;
        let unknown = || Error::ManifestUnknown { reference: reference.to_string() };
        let media = missing_as(self.driver.get_content(&path_for(PathSpec::RevisionLink(repo, &digest))?), unknown)?;
        let bytes = missing_as(self.driver.get_content(&path_for(PathSpec::BlobData(&digest))?), unknown)?;
        Ok(StoredManifest { digest, media_type: String::from_utf8_lossy(&media).into_owned(), bytes })
    }

    /// Delete a tag, or a manifest by digest (with every tag pointing at it and its referrer entry).
    pub fn delete_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<()> {
        let unknown = || Error::ManifestUnknown { reference: reference.to_string() };
        match reference {
            Reference::Tag(tag) => {
                let link = path_for(PathSpec::TagLink(repo, tag))?;
                let dir = StoragePath::new(link.as_str().trim_end_matches("/link"))?;
                missing_as(self.driver.delete(&dir), unknown)
            }
            Reference::Digest(digest) => {
                let stored = self.get_manifest(repo, reference)?;
                for tag in self.tags(repo).unwrap_or_default() {
                    let Ok(tag) = tag.parse::<Tag>() else { continue };
                    if self.resolve_tag(repo, &tag).ok().as_ref() == Some(digest) {
                        let link = path_for(PathSpec::TagLink(repo, &tag))?;
                        let dir = StoragePath::new(link.as_str().trim_end_matches("/link"))?;
                        missing_as(self.driver.delete(&dir), unknown)?;
                    }
                }
                if let Ok(m) = Manifest::parse(&stored.bytes, Some(&stored.media_type)) {
                    if let Some(subject) = m.subject {
                        let entry = path_for(PathSpec::ReferrerEntry(repo, &subject, digest))?;
                        missing_as(self.driver.delete(&entry), || Error::ManifestUnknown {
                            reference: reference.to_string(),
                        })
                        .or_else(|e| if matches!(e, Error::ManifestUnknown { .. }) { Ok(()) } else { Err(e) })?;
                    }
                }
                let link = path_for(PathSpec::RevisionLink(repo, digest))?;
                let dir = StoragePath::new(link.as_str().trim_end_matches("/link"))?;
                missing_as(self.driver.delete(&dir), unknown)
            }
        }
    }

    /// All tags of `repo`, sorted.
    pub fn tags(&self, repo: &RepoName) -> Result<Vec<String>> {
        match self.driver.list(&path_for(PathSpec::TagsDir(repo))?) {
            Ok(v) => Ok(v),
            Err(e) if e.is_not_found() => {
                if self.repo_exists(repo)? {
                    Ok(Vec::new())
                } else {
                    Err(Error::NameUnknown { name: repo.to_string() })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// All repository names, sorted.
    pub fn repositories(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let root = StoragePath::new(REPOSITORIES)?;
        let mut stack = vec![(root, String::new())];
        while let Some((dir, name)) = stack.pop() {
            let children = match self.driver.list(&dir) {
                Ok(c) => c,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            if children.iter().any(|c| c == "_manifests" || c == "_layers") && !name.is_empty() {
                out.push(name.clone());
            }
            for c in children.into_iter().filter(|c| !c.starts_with('_')) {
                let full = if name.is_empty() { c.clone() } else { format!("{name}/{c}") };
                stack.push((dir.join(&c)?, full));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Descriptors of manifests in `repo` whose `subject` is `subject`.
    pub fn referrers(&self, repo: &RepoName, subject: &Digest) -> Result<Vec<Descriptor>> {
        let dir = path_for(PathSpec::ReferrersDir(repo, subject))?;
        let names = match self.driver.list(&dir) {
            Ok(v) => v,
            Err(e) if e.is_not_found() => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for n in names {
            let path = dir.join(&n)?;
            let bytes = match self.driver.get_content(&path) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let d: Descriptor = serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt { path: path.to_string(), reason: e.to_string() })?;
            out.push(d);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::InMemoryDriver;
    use std::io::Write;

    fn store() -> Store {
        Store::new(Arc::new(InMemoryDriver::new()))
    }

    pub(crate) use crate::testing::push_blob;

    #[test]
    fn upload_verifies_digest_and_dedups() {
        let s = store();
        let a: RepoName = "a".parse().unwrap();
        let b: RepoName = "b/c".parse().unwrap();
        let d = push_blob(&s, &a, b"layer");
        assert_eq!(s.blob_size(&a, &d).unwrap(), 5);
        assert!(s.blob_size(&b, &d).is_err(), "not linked into b");
        assert!(s.mount_blob(&b, &a, &d).unwrap());
        assert_eq!(s.blob_size(&b, &d).unwrap(), 5);

        let id = s.start_upload(&a).unwrap();
        let mut w = s.upload_writer(&a, &id).unwrap();
        w.write_all(b"other").unwrap();
        w.commit().unwrap();
        let err = s.complete_upload(&a, &id, &Digest::sha256_of(b"nope")).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }));
        assert!(s.blob_size(&a, &Digest::sha256_of(b"other")).is_err());
        assert!(s.upload_size(&a, &id).is_err(), "upload discarded");
        assert!(s.upload_size(&b, &s.start_upload(&a).unwrap()).is_err(), "foreign repo");
    }

    #[test]
    fn manifests_tags_referrers() {
        let s = store();
        let r: RepoName = "lib/x".parse().unwrap();
        let cfg = push_blob(&s, &r, b"{}");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}","size":2}},"layers":[]}}"#
        );
        let tag: Reference = "v1".parse().unwrap();
        let before = std::time::SystemTime::now();
        let put = s.put_manifest(&r, &tag, m.as_bytes(), None).unwrap();
        let pushed = s.tag_pushed_at(&r, &"v1".parse().unwrap()).unwrap().expect("the in-memory driver keeps times");
        assert!(before <= pushed && pushed <= std::time::SystemTime::now(), "{pushed:?}");
        assert!(matches!(s.tag_pushed_at(&r, &"v9".parse().unwrap()), Err(Error::ManifestUnknown { .. })));
        let sig = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sig","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{cfg}","size":2}},"layers":[],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}}}}}"#,
            put.digest,
            m.len()
        );
        let sig_d = Reference::Digest(Digest::sha256_of(sig.as_bytes()));
        assert_eq!(s.put_manifest(&r, &sig_d, sig.as_bytes(), None).unwrap().subject, Some(put.digest.clone()));
        let refs = s.referrers(&r, &put.digest).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].artifact_type.as_deref(), Some("application/x-sig"));
        assert_eq!(s.tags(&r).unwrap(), vec!["v1"]);
        assert_eq!(s.repositories().unwrap(), vec!["lib/x"]);
        assert_eq!(s.get_manifest(&r, &tag).unwrap().bytes, m.as_bytes());

        // Missing blob → rejected, nothing stored.
        let bad = m.replace(&cfg.to_string(), &Digest::sha256_of(b"missing").to_string());
        let t2: Reference = "v2".parse().unwrap();
        assert!(matches!(s.put_manifest(&r, &t2, bad.as_bytes(), None), Err(Error::ManifestBlobUnknown { .. })));
        assert_eq!(s.tags(&r).unwrap(), vec!["v1"]);

        s.delete_manifest(&r, &sig_d).unwrap();
        assert!(s.referrers(&r, &put.digest).unwrap().is_empty());
        s.delete_manifest(&r, &Reference::Digest(put.digest.clone())).unwrap();
        assert!(s.tags(&r).unwrap().is_empty());
        assert!(s.get_manifest(&r, &tag).is_err());
    }
}
