//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::{io_err, ClientError, ClientResult};
use crate::Digest;

/// The annotation that names a manifest in `index.json`.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// A descriptor's essentials.
#[derive(Debug, Clone)]
pub(crate) struct Desc {
    pub(crate) media_type: String,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

impl Desc {
    pub(crate) fn from_json(v: &Value) -> ClientResult<Self> {
        let digest = v
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| ClientError::Invalid("descriptor without digest".into()))?
            .parse::<Digest>()
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok(Self {
            media_type: v.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_owned(),
            digest,
            size: v.get("size").and_then(Value::as_u64).unwrap_or(0),
        })
    }
}

/// Children of a manifest: (child manifests of an index, blobs of an image manifest).
pub(crate) fn children(manifest: &[u8]) -> ClientResult<(Vec<Desc>, Vec<Desc>)> {
    let v: Value = serde_json::from_slice(manifest).map_err(|e| ClientError::Invalid(format!("manifest: {e}")))?;
    let list = |key: &str| -> ClientResult<Vec<Desc>> {
        v.get(key).and_then(Value::as_array).map_or(Ok(Vec::new()), |a| a.iter().map(Desc::from_json).collect())
    };
    let manifests = list("manifests")?;
    let mut blobs = Vec::new();
    if let Some(c) = v.get("config") {
        let config = Desc::from_json(c)?;
        if config.size > super::MAX_CONFIG_BYTES {
            return Err(ClientError::Invalid(format!(
                "config {} of {} bytes is larger than {} bytes",
                config.digest,
                config.size,
                super::MAX_CONFIG_BYTES
            )));
        }
        blobs.push(config);
    }
    blobs.extend(list("layers")?);
    Ok((manifests, blobs))
}

/// The `mediaType` a manifest declares, if any.
pub(crate) fn declared_media_type(manifest: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(manifest).ok()?;
    v.get("mediaType").and_then(Value::as_str).map(str::to_owned)
}

/// Where a blob lives in the layout rooted at `dir`.
pub(crate) fn blob_path(dir: &Path, d: &Digest) -> PathBuf {
    // Digest parsing validated the algorithm and hex: no path separators can appear.
    dir.join("blobs").join(d.algorithm().as_str()).join(d.hex())
}

/// Find the manifest tagged `tag` (or the only one when `tag` is `None`).
pub(crate) fn find(dir: &Path, tag: Option<&str>) -> ClientResult<Desc> {
    let path = dir.join("index.json");
    let index: Value = serde_json::from_slice(&std::fs::read(&path).map_err(io_err(&path))?)
        .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
    let entries = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    let chosen = match tag {
        Some(t) => entries.iter().find(|m| m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1"))).and_then(Value::as_str) == Some(t)),
        None if entries.len() == 1 => entries.first(),
        None => None,
    };
    let m = chosen.ok_or_else(|| {
        ClientError::Invalid(match tag {
            Some(t) => format!("{}: no manifest tagged {t:?}", dir.display()),
            None => format!("{}: {} manifests; name one with oci:DIR:TAG", dir.display(), entries.len()),
        })
    })?;
    Desc::from_json(m)
}

/// Create the layout skeleton if missing.
pub(crate) fn init(dir: &Path) -> ClientResult<()> {
    std::fs::create_dir_all(dir.join("blobs/sha256")).map_err(io_err(dir))?;
    let marker = dir.join("oci-layout");
    if !marker.exists() {
        std::fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(io_err(&marker))?;
    }
    let index = dir.join("index.json");
    if !index.exists() {
        std::fs::write(&index, br#"{"schemaVersion":2,"manifests":[]}"#).map_err(io_err(&index))?;
    }
    Ok(())
}

/// Record `desc` in `index.json` under `tag`, replacing an entry with the same tag.
pub(crate) fn add_to_index(dir: &Path, desc: &Desc, tag: Option<&str>) -> ClientResult<()> {
    let path = dir.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&path).map_err(io_err(&path))?)
        .map_err(|e| ClientError::Invalid(format!("{}: {e}", path.display())))?;
    let ptr = format!("/annotations/{}", REF_NAME.replace('/', "~1"));
    let mut entries: Vec<Value> = index.get("manifests").and_then(Value::as_array).cloned().unwrap_or_default();
    entries.retain(|m| match tag {
        Some(t) => m.pointer(&ptr).and_then(Value::as_str) != Some(t),
        None => m.get("digest").and_then(Value::as_str) != Some(&desc.digest.to_string()),
    });
    let mut entry = json!({"mediaType": desc.media_type, "digest": desc.digest.to_string(), "size": desc.size});
    if let Some(t) = tag {
        entry["annotations"] = json!({ REF_NAME: t });
    }
    entries.push(entry);
    index["schemaVersion"] = json!(2);
    index["manifests"] = Value::Array(entries);
    let text = serde_json::to_vec(&index).map_err(|e| ClientError::Invalid(e.to_string()))?;
    let tmp = dir.join("index.json.tmp");
    std::fs::write(&tmp, text).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))
}
