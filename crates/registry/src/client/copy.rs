//! Copying whole images (manifest trees) between a local image and a registry.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rand::RngCore;

use super::layout::{self, Desc};
use super::remote::RemoteClient;
use super::{archive, io_err, ClientError, ClientOptions, ClientResult, ImageRef};
use crate::Digest;

/// Blobs transferred at once.
const PARALLEL_BLOBS: usize = 4;

/// A local image: `oci:DIR[:TAG]` or `docker-archive:FILE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalImage {
    /// An OCI image layout directory and the `org.opencontainers.image.ref.name` to use.
    Oci {
        /// Layout directory.
        dir: PathBuf,
        /// Tag in `index.json`.
        tag: Option<String>,
    },
    /// A `docker save` tarball.
    DockerArchive {
        /// Tarball path.
        path: PathBuf,
    },
}

impl FromStr for LocalImage {
    type Err = ClientError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = match rest.rsplit_once(':') {
                Some((d, t)) if !t.contains('/') && !d.is_empty() => (d, Some(t.to_owned())),
                _ => (rest, None),
            };
            if dir.is_empty() {
                return Err(ClientError::BadReference { input: s.into(), reason: "empty directory".into() });
            }
            Ok(Self::Oci { dir: dir.into(), tag })
        } else if let Some(path) = s.strip_prefix("docker-archive:") {
            Ok(Self::DockerArchive { path: path.into() })
        } else {
            Err(ClientError::BadReference { input: s.into(), reason: "expected oci:DIR[:TAG] or docker-archive:FILE".into() })
        }
    }
}

/// What a transfer reports.
#[derive(Debug, Clone)]
pub enum ProgressEvent {
    /// A blob transfer starts.
    Start {
        /// Blob digest.
        digest: String,
        /// Its size.
        size: u64,
    },
    /// Bytes moved for a blob.
    Bytes {
        /// Blob digest.
        digest: String,
        /// How many more.
        n: u64,
    },
    /// A blob is complete.
    Done {
        /// Blob digest.
        digest: String,
    },
    /// The destination already has this blob.
    Exists {
        /// Blob digest.
        digest: String,
    },
    /// The destination linked this blob from another of its repositories.
    Mounted {
        /// Blob digest.
        digest: String,
        /// The repository it came from.
        from: String,
    },
}

/// Receives [`ProgressEvent`]s (e.g. progress bars).
pub trait Progress: Send + Sync {
    /// Handle one event.
    fn event(&self, event: ProgressEvent);
}

/// A scratch directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ClientResult<Self> {
        let mut rnd = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut rnd);
        let p = std::env::temp_dir().join(format!("palisade-copy-{}", hex::encode(rnd)));
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        Ok(Self(p))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn check_digest(expected: &Digest, bytes: &[u8]) -> ClientResult<()> {
    let actual = Digest::of(expected.algorithm(), bytes);
    if actual == *expected {
        Ok(())
    } else {
        Err(ClientError::DigestMismatch { expected: expected.to_string(), actual: actual.to_string() })
    }
}

fn media_type_of(desc_media: &str, bytes: &[u8]) -> String {
    if desc_media.is_empty() {
        layout::declared_media_type(bytes).unwrap_or_else(|| "application/vnd.oci.image.manifest.v1+json".into())
    } else {
        desc_media.to_owned()
    }
}

/// Push `src` to `dest`; returns the pushed manifest's digest.
pub async fn push(src: &LocalImage, dest: &ImageRef, opts: &ClientOptions, progress: Arc<dyn Progress>) -> ClientResult<Digest> {
    let scratch;
    let (dir, root) = match src {
        LocalImage::Oci { dir, tag } => (dir.clone(), layout::find(dir, tag.as_deref())?),
        LocalImage::DockerArchive { path } => {
            scratch = ScratchDir::new()?;
            let layout_dir = scratch.0.join("layout");
            let (root, _tag) = archive::import(path, &scratch.0, &layout_dir)?;
            (layout_dir, root)
        }
    };
    let client = Arc::new(RemoteClient::new(dest, opts, true)?);
    if dest.reference.contains(':') && dest.reference != root.digest.to_string() {
        return Err(ClientError::Invalid(format!("{dest} names a digest, but the image is {}", root.digest)));
    }
    push_tree(&client, &dir, &root, &dest.reference, &progress, &HashMap::new()).await?;
    Ok(root.digest)
}

/// Push the image whose manifest is blob `manifest` of the content store `dir` (a directory
/// laid out as an OCI layout's `blobs/<algorithm>/<hex>`, such as a daemon's image store)
/// to `dest`; returns the manifest's digest and size, which `docker push` reports. A blob
/// `mounts` names a repository of the same registry for is mounted from there if the registry
/// has it, and uploaded otherwise.
pub async fn push_stored(
    dir: &Path,
    manifest: &Digest,
    dest: &ImageRef,
    opts: &ClientOptions,
    progress: Arc<dyn Progress>,
    mounts: &HashMap<Digest, String>,
) -> ClientResult<(Digest, u64)> {
    let path = layout::blob_path(dir, manifest);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    check_digest(manifest, &bytes)?;
    let root = Desc { media_type: media_type_of("", &bytes), digest: manifest.clone(), size: bytes.len() as u64 };
    let mut sources: Vec<&str> = mounts.values().map(String::as_str).collect();
    sources.sort_unstable();
    sources.dedup();
    let client = Arc::new(RemoteClient::with_sources(dest, opts, true, &sources)?);
    push_tree(&client, dir, &root, &dest.reference, &progress, mounts).await?;
    Ok((root.digest, root.size))
}

/// Push one manifest (children first), then tag it as `reference`.
async fn push_tree(
    client: &Arc<RemoteClient>,
    dir: &Path,
    desc: &Desc,
    reference: &str,
    progress: &Arc<dyn Progress>,
    mounts: &HashMap<Digest, String>,
) -> ClientResult<()> {
    let mpath = layout::blob_path(dir, &desc.digest);
    let bytes = Bytes::from(std::fs::read(&mpath).map_err(io_err(&mpath))?);
    check_digest(&desc.digest, &bytes)?;
    let (manifests, blobs) = layout::children(&bytes)?;
    for child in &manifests {
        Box::pin(push_tree(client, dir, child, &child.digest.to_string(), progress, mounts)).await?;
    }
    futures::stream::iter(blobs.into_iter().map(|b| {
        let (client, progress, path) = (client.clone(), progress.clone(), layout::blob_path(dir, &b.digest));
        async move {
            let d = b.digest.to_string();
            if client.blob_exists(&b.digest).await? {
                progress.event(ProgressEvent::Exists { digest: d });
                return Ok(());
            }
            if let Some(from) = mounts.get(&b.digest) {
                if client.mount_blob(&b.digest, from).await? {
                    progress.event(ProgressEvent::Mounted { digest: d, from: from.clone() });
                    return Ok(());
                }
            }
            let size = std::fs::metadata(&path).map_err(io_err(&path))?.len();
            progress.event(ProgressEvent::Start { digest: d.clone(), size });
            let (p, dd) = (progress.clone(), d.clone());
            client
                .push_blob(&b.digest, &path, size, move |n| p.event(ProgressEvent::Bytes { digest: dd.clone(), n }))
                .await?;
            progress.event(ProgressEvent::Done { digest: d });
            Ok::<(), ClientError>(())
        }
    }))
    .buffer_unordered(PARALLEL_BLOBS)
    .try_collect::<Vec<()>>()
    .await?;
    client.put_manifest(reference, &media_type_of(&desc.media_type, &bytes), &bytes).await
}

/// The manifest (or index) `reference` (a tag or a digest) names in `client`'s repository:
/// its descriptor and its bytes. By digest, the bytes are checked against it; by tag, the
/// digest is theirs.
pub(crate) async fn fetch_root(client: &RemoteClient, reference: &str) -> ClientResult<(Desc, Bytes)> {
    let (media, bytes) = client.get_manifest(reference).await?;
    let digest = match reference.parse::<Digest>() {
        Ok(d) => {
            check_digest(&d, &bytes)?;
            d
        }
        Err(_) => Digest::sha256_of(&bytes),
    };
    Ok((Desc { media_type: media_type_of(&media, &bytes), digest, size: bytes.len() as u64 }, bytes))
}

/// Pull `src` into `dest`; returns the pulled manifest's digest.
pub async fn pull(src: &ImageRef, dest: &LocalImage, opts: &ClientOptions, progress: Arc<dyn Progress>) -> ClientResult<Digest> {
    let client = Arc::new(RemoteClient::new(src, opts, false)?);
    let (root, bytes) = fetch_root(&client, &src.reference).await?;
    let digest = root.digest.clone();
    let scratch;
    let dir = match dest {
        LocalImage::Oci { dir, .. } => dir.clone(),
        LocalImage::DockerArchive { .. } => {
            scratch = ScratchDir::new()?;
            scratch.0.join("layout")
        }
    };
    layout::init(&dir)?;
    pull_tree(&client, &dir, &root, bytes, &progress).await?;
    match dest {
        LocalImage::Oci { dir, tag } => {
            let tag = tag.clone().or_else(|| (!src.reference.contains(':')).then(|| src.reference.clone()));
            layout::add_to_index(dir, &root, tag.as_deref())?;
        }
        LocalImage::DockerArchive { path } => {
            let tag = if src.reference.contains(':') { "latest" } else { src.reference.as_str() };
            archive::export(&dir, &root, &format!("{}/{}:{tag}", src.registry, src.repo), path)?;
        }
    }
    Ok(digest)
}

/// Store a manifest already fetched and everything below it.
async fn pull_tree(client: &Arc<RemoteClient>, dir: &Path, desc: &Desc, bytes: Bytes, progress: &Arc<dyn Progress>) -> ClientResult<()> {
    let (manifests, blobs) = layout::children(&bytes)?;
    for child in &manifests {
        let (_media, child_bytes) = client.get_manifest(&child.digest.to_string()).await?;
        check_digest(&child.digest, &child_bytes)?;
        Box::pin(pull_tree(client, dir, child, child_bytes, progress)).await?;
    }
    futures::stream::iter(blobs.into_iter().map(|b| {
        let (client, progress, path) = (client.clone(), progress.clone(), layout::blob_path(dir, &b.digest));
        async move {
            let d = b.digest.to_string();
            if path.exists() {
                progress.event(ProgressEvent::Exists { digest: d });
                return Ok(());
            }
            progress.event(ProgressEvent::Start { digest: d.clone(), size: b.size });
            let (p, dd) = (progress.clone(), d.clone());
            client.get_blob(&b.digest, b.size, &path, move |n| p.event(ProgressEvent::Bytes { digest: dd.clone(), n })).await?;
            progress.event(ProgressEvent::Done { digest: d });
            Ok::<(), ClientError>(())
        }
    }))
    .buffer_unordered(PARALLEL_BLOBS)
    .try_collect::<Vec<()>>()
    .await?;
    let mpath = layout::blob_path(dir, &desc.digest);
    std::fs::write(&mpath, &bytes).map_err(io_err(&mpath))
}

#[cfg(test)]
mod tests {
    use super::LocalImage;

    #[test]
    fn local_images() {
        assert_eq!(
            "oci:/tmp/x:v1".parse::<LocalImage>().unwrap(),
            LocalImage::Oci { dir: "/tmp/x".into(), tag: Some("v1".into()) }
        );
        assert_eq!("oci:/tmp/x".parse::<LocalImage>().unwrap(), LocalImage::Oci { dir: "/tmp/x".into(), tag: None });
        assert_eq!(
            "docker-archive:/tmp/a.tar".parse::<LocalImage>().unwrap(),
            LocalImage::DockerArchive { path: "/tmp/a.tar".into() }
        );
        assert!("dir:/tmp".parse::<LocalImage>().is_err());
    }
}
