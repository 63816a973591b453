//! Offline mark-and-sweep garbage collection (run while no server writes to the storage, as
//! with distribution's `garbage-collect`).
//!
//! Mark: every manifest revision of every repository, and the config and layers it references.
//! Sweep: unmarked blobs (plus repository links to them) and uploads older than a cut-off.

use std::collections::BTreeSet;

use time::OffsetDateTime;

use super::paths::{path_for, PathSpec, BLOBS, REPOSITORIES};
use super::Store;
use crate::Digest;
use crate::driver::{DriverResult, StoragePath};
use crate::error::Result;
use crate::manifest::Manifest;
use crate::names::RepoName;

/// Whether the collector deletes or only reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GcMode {
    /// Report what would be deleted; change nothing.
    DryRun,
    /// Delete.
    Delete,
}

/// What a collection found (and, in [`GcMode::Delete`], removed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs still referenced.
    pub blobs_kept: usize,
    /// Unreferenced blobs.
    pub blobs_deleted: Vec<Digest>,
    /// Stale upload ids.
    pub uploads_deleted: Vec<String>,
}

fn list_or_empty(store: &Store, path: &StoragePath) -> Result<Vec<String>> {
    match store.driver.list(path) {
        Ok(v) => Ok(v),
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

fn repo_dir(repo: &RepoName, rest: &str) -> DriverResult<StoragePath> {
    StoragePath::new(format!("{REPOSITORIES}/{repo}/{rest}"))
}

/// `<dir>/<alg>/<hex>` entries below `dir` as digests.
fn digests_under(store: &Store, dir: &StoragePath) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for alg in list_or_empty(store, dir)? {
        for hex in list_or_empty(store, &dir.join(&alg)?)? {
            if let Ok(d) = format!("{alg}:{hex}").parse() {
                out.push(d);
            }
        }
    }
    Ok(out)
}

impl Store {
    /// Mark and sweep. Uploads started before `upload_cutoff` are removed too.
    pub fn collect_garbage(&self, mode: GcMode, upload_cutoff: OffsetDateTime) -> Result<GcReport> {
        let mut marked: BTreeSet<Digest> = BTreeSet::new();
        let repos: Vec<RepoName> =
            self.repositories()?.into_iter().filter_map(|r| r.parse().ok()).collect();
        for repo in &repos {
            for digest in digests_under(self, &repo_dir(repo, "_manifests/revisions")?)? {
                let media = self.driver.get_content(&path_for(PathSpec::RevisionLink(repo, &digest))?);
                let bytes = self.driver.get_content(&path_for(PathSpec::BlobData(&digest))?);
                if let (Ok(media), Ok(bytes)) = (media, bytes) {
                    let media = String::from_utf8_lossy(&media).into_owned();
                    if let Ok(m) = Manifest::parse(&bytes, Some(&media)) {
                        marked.extend(m.blobs);
                    }
                }
                marked.insert(digest);
            }
        }
        let mut report = GcReport::default();
        let blobs = StoragePath::new(BLOBS)?;
        for alg in list_or_empty(self, &blobs)? {
            for prefix in list_or_empty(self, &blobs.join(&alg)?)? {
                let dir = blobs.join(&alg)?.join(&prefix)?;
                for hex in list_or_empty(self, &dir)? {
                    let Ok(d) = format!("{alg}:{hex}").parse::<Digest>() else { continue };
                    if marked.contains(&d) {
                        report.blobs_kept += 1;
                        continue;
                    }
                    if mode == GcMode::Delete {
                        self.driver.delete(&dir.join(&hex)?)?;
                    }
                    report.blobs_deleted.push(d);
                }
            }
        }
        if mode == GcMode::Delete {
            let swept: BTreeSet<&Digest> = report.blobs_deleted.iter().collect();
            for repo in &repos {
                let layers = repo_dir(repo, "_layers")?;
                for d in digests_under(self, &layers)? {
                    if swept.contains(&d) {
                        self.driver.delete(&layers.join(d.algorithm().as_str())?.join(d.hex())?)?;
                    }
                }
            }
        }
        for id in self.upload_ids()? {
            let started = self
                .driver
                .get_content(&path_for(PathSpec::UploadStartedAt(&id))?)
                .ok()
                .and_then(|b| {
                    OffsetDateTime::parse(
                        String::from_utf8_lossy(&b).trim(),
                        &time::format_description::well_known::Rfc3339,
                    )
                    .ok()
                });
            if started.is_none_or(|t| t < upload_cutoff) {
                if mode == GcMode::Delete {
                    self.driver.delete(&path_for(PathSpec::Upload(&id))?)?;
                }
                report.uploads_deleted.push(id);
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::driver::InMemoryDriver;
    use crate::names::Reference;
    use crate::storage::tests::push_blob as push;

    #[test]
    fn sweeps_unreferenced_blobs_and_stale_uploads_only() {
        sweeps_only_garbage(Store::new(Arc::new(InMemoryDriver::new())));
    }

    /// The same on an S3 bucket (moto's S3 server), so `registry gc --config` works there too.
    #[test]
    fn sweeps_only_garbage_on_s3() {
        let moto = crate::testing::Moto::start();
        sweeps_only_garbage(Store::new(Arc::new(moto.driver())));
    }

    fn sweeps_only_garbage(s: Store) {
        let r: RepoName = "a/b".parse().unwrap();
        let cfg = push(&s, &r, b"{}");
        let orphan = push(&s, &r, b"orphan");
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"x","digest":"{cfg}","size":2}},"layers":[]}}"#
        );
        let put = s.put_manifest(&r, &"v1".parse::<Reference>().unwrap(), m.as_bytes(), None).unwrap();
        let stale = s.start_upload(&r).unwrap();
        let future = OffsetDateTime::now_utc() + time::Duration::hours(1);

        let dry = s.collect_garbage(GcMode::DryRun, future).unwrap();
        assert_eq!(dry.blobs_deleted, vec![orphan.clone()]);
        assert_eq!(dry.uploads_deleted, vec![stale.to_string()]);
        assert_eq!(dry.blobs_kept, 2);
        assert!(s.blob_size(&r, &orphan).is_ok(), "dry run changes nothing");

        let done = s.collect_garbage(GcMode::Delete, future).unwrap();
        assert_eq!(done, dry);
        assert!(s.blob_size(&r, &orphan).is_err());
        assert!(s.upload_size(&r, &stale).is_err());
        assert!(s.blob_size(&r, &cfg).is_ok());
        assert_eq!(s.get_manifest(&r, &Reference::Digest(put.digest)).unwrap().bytes, m.as_bytes());
        let again = s.collect_garbage(GcMode::Delete, future).unwrap();
        assert!(again.blobs_deleted.is_empty() && again.uploads_deleted.is_empty());
    }
}
