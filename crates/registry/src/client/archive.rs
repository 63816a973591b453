//! docker-archive tarballs (`docker save` format: `manifest.json` + config + layer files),
//! converted to and from a temporary OCI layout so push and pull have one code path.
//!
//! Layers and config are copied as they are (no recompression), under a Docker schema 2
//! manifest; compressed layers (gzip magic) get the `.tar.gzip` media type.

use std::io::Read;
use std::path::{Component, Path};

use serde_json::{json, Value};

use super::layout::{self, Desc};
use super::{io_err, ClientError, ClientResult};
use crate::{Digest, DigestAlgorithm};

const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
const LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

fn invalid(s: impl Into<String>) -> ClientError {
    ClientError::Invalid(s.into())
}

/// Hash a file and copy it into the layout's blob store; returns its descriptor essentials.
fn import_file(src: &Path, layout_dir: &Path, media_type: &str) -> ClientResult<Desc> {
    let mut f = std::fs::File::open(src).map_err(io_err(src))?;
    let mut hasher = DigestAlgorithm::Sha256.hasher();
    let mut buf = vec![0u8; 1024 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(src))?;
        if n == 0 {
            break;
        }
        hasher.update(buf.get(..n).unwrap_or_default());
        size += n as u64;
    }
    let digest = hasher.finish();
    let dest = layout::blob_path(layout_dir, &digest);
    std::fs::copy(src, &dest).map_err(io_err(&dest))?;
    Ok(Desc { media_type: media_type.to_owned(), digest, size })
}

fn is_gzip(path: &Path) -> ClientResult<bool> {
    let mut magic = [0u8; 2];
    let mut f = std::fs::File::open(path).map_err(io_err(path))?;
    let n = f.read(&mut magic).map_err(io_err(path))?;
    Ok(n == 2 && magic == [0x1f, 0x8b])
}

/// A relative path inside the archive, refusing anything that could escape the extraction dir.
fn inside(root: &Path, rel: &str) -> ClientResult<std::path::PathBuf> {
    let p = Path::new(rel);
    if p.components().all(|c| matches!(c, Component::Normal(_))) {
        Ok(root.join(p))
    } else {
        Err(invalid(format!("archive path {rel:?} escapes the archive")))
    }
}

/// Unpack `archive` into `work`, write its image into the OCI layout `layout_dir`; returns the
/// manifest descriptor and the archive's first tag (if any).
pub(crate) fn import(archive: &Path, work: &Path, layout_dir: &Path) -> ClientResult<(Desc, Option<String>)> {
    let extract = work.join("extract");
    std::fs::create_dir_all(&extract).map_err(io_err(&extract))?;
    let f = std::fs::File::open(archive).map_err(io_err(archive))?;
    // `unpack` refuses entries with `..` or absolute paths.
    tar::Archive::new(f).unpack(&extract).map_err(io_err(archive))?;
    let mpath = extract.join("manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&mpath).map_err(io_err(&mpath))?)
        .map_err(|e| invalid(format!("manifest.json: {e}")))?;
    let entry = manifest.as_array().and_then(|a| a.first()).ok_or_else(|| invalid("manifest.json: no image"))?;
    let config_rel = entry.get("Config").and_then(Value::as_str).ok_or_else(|| invalid("manifest.json: no Config"))?;
    layout::init(layout_dir)?;
    let config = import_file(&inside(&extract, config_rel)?, layout_dir, DOCKER_CONFIG)?;
    let mut layers = Vec::new();
    for l in entry.get("Layers").and_then(Value::as_array).into_iter().flatten() {
        let rel = l.as_str().ok_or_else(|| invalid("manifest.json: bad layer"))?;
        let path = inside(&extract, rel)?;
        let media = if is_gzip(&path)? { LAYER_GZIP } else { LAYER_TAR };
        layers.push(import_file(&path, layout_dir, media)?);
    }
    let desc = |d: &Desc| json!({"mediaType": d.media_type, "digest": d.digest.to_string(), "size": d.size});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": desc(&config),
        "layers": layers.iter().map(desc).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&m).map_err(|e| invalid(e.to_string()))?;
    let digest = Digest::sha256_of(&bytes);
    let dest = layout::blob_path(layout_dir, &digest);
    std::fs::write(&dest, &bytes).map_err(io_err(&dest))?;
    let tag = entry
        .get("RepoTags")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|t| t.rsplit_once(':').map(|(_, tag)| tag.to_owned()));
    Ok((Desc { media_type: DOCKER_MANIFEST.into(), digest, size: bytes.len() as u64 }, tag))
}

/// Write the image manifest `root` from `layout_dir` as a docker-archive at `archive`, tagged
/// `repo_tag`.
pub(crate) fn export(layout_dir: &Path, root: &Desc, repo_tag: &str, archive: &Path) -> ClientResult<()> {
    let mpath = layout::blob_path(layout_dir, &root.digest);
    let bytes = std::fs::read(&mpath).map_err(io_err(&mpath))?;
    let (children, blobs) = layout::children(&bytes)?;
    if !children.is_empty() {
        return Err(invalid("a docker-archive holds one image, not an index; pull a platform's manifest by digest"));
    }
    let (config, layers) = blobs.split_first().ok_or_else(|| invalid("manifest without config"))?;
    let image = ArchiveImage {
        config_hex: config.digest.hex().to_owned(),
        config: layout::blob_path(layout_dir, &config.digest),
        layers: layers.iter().map(|l| (l.digest.hex().to_owned(), layout::blob_path(layout_dir, &l.digest))).collect(),
        repo_tags: vec![repo_tag.to_owned()],
    };
    let tmp = archive.with_extension("partial");
    let out = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
    write_docker_archive(&out, &[image]).map_err(io_err(&tmp))?;
    out.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, archive).map_err(io_err(archive))
}

/// One image of a docker-archive: its config and layer blobs (by sha256 hex and path) and tags.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveImage {
    /// sha256 hex of the config blob.
    pub config_hex: String,
    /// The config blob.
    pub config: std::path::PathBuf,
    /// (sha256 hex, path) of each layer blob, bottom first, copied as they are.
    pub layers: Vec<(String, std::path::PathBuf)>,
    /// `repo:tag` names.
    pub repo_tags: Vec<String>,
}

/// Writes `images` as a docker-archive (`docker save`'s format: `<hex>.json` configs,
/// `<hex>.tar` layers, each once, then `manifest.json`) to `out`.
pub fn write_docker_archive(out: impl std::io::Write, images: &[ArchiveImage]) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut written = std::collections::BTreeSet::new();
    let mut manifest = Vec::new();
    for image in images {
        let config_name = format!("{}.json", image.config_hex);
        let mut layer_names = Vec::new();
        let layers = image.layers.iter().map(|(hex, path)| (format!("{hex}.tar"), path));
        for (name, path) in std::iter::once((config_name.clone(), &image.config)).chain(layers) {
            if written.insert(name.clone()) {
                tar.append_path_with_name(path, &name)?;
            }
            if name != config_name {
                layer_names.push(name);
            }
        }
        manifest.push(json!({"Config": config_name, "RepoTags": image.repo_tags, "Layers": layer_names}));
    }
    let mbytes = serde_json::to_vec(&manifest).map_err(std::io::Error::other)?;
    let mut h = tar::Header::new_gnu();
    h.set_size(mbytes.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "manifest.json", mbytes.as_slice())?;
    tar.into_inner()?.flush()
}
