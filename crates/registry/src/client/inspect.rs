//! What a tag or digest names in a registry, without pulling it: the descriptor of its
//! manifest (or index) and the platforms the image is for. dockerd answers
//! `GET /distribution/{name}/json` with this, which the docker CLI pins services to.

use serde::Deserialize;
use serde_json::Value;

use super::copy::fetch_root;
use super::layout::Desc;
use super::remote::RemoteClient;
use super::{ClientError, ClientOptions, ClientResult, ImageRef, MAX_CONFIG_BYTES};
use crate::Digest;

/// A platform an image is for: an index entry's `platform`, or the `architecture`, `os`, …
/// of a single manifest's image config (OCI image spec, image-index and config).
///
/// Spelled out rather than oci-spec's: its descriptor `Platform` reads `os.version` as
/// `os_version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Platform {
    /// CPU architecture (`amd64`, `arm64`), GOARCH values.
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`), GOOS values.
    #[serde(default)]
    pub os: String,
    /// Operating system version (Windows images).
    #[serde(rename = "os.version", default)]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default)]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default)]
    pub variant: Option<String>,
}

/// What a tag or digest names in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteManifest {
    /// The manifest's or index's media type, as the registry served it.
    pub media_type: String,
    /// Its digest: what a reference pinned to this content carries.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Every platform of an index, or the one of a single manifest (none when its config
    /// names neither OS nor architecture).
    pub platforms: Vec<Platform>,
}

/// Looks `image` (by tag or digest) up in its registry: its manifest's descriptor, and its
/// platforms (for a single manifest, from its config blob, checked against its digest).
pub async fn inspect(image: &ImageRef, opts: &ClientOptions) -> ClientResult<RemoteManifest> {
    let client = RemoteClient::new(image, opts, false)?;
    let (Desc { media_type, digest, size }, bytes) = fetch_root(&client, &image.reference).await?;
    let document: Value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Invalid(format!("manifest {digest}: {e}")))?;
    let platforms = match (index_platforms(&document), document.get("config")) {
        (Some(platforms), _) => platforms,
        (None, Some(config)) => {
            let config = Desc::from_json(config)?;
            let blob = client.get_blob_bytes(&config.digest, config.size.min(MAX_CONFIG_BYTES)).await?;
            let platform: Platform =
                serde_json::from_slice(&blob).map_err(|e| ClientError::Invalid(format!("image config {}: {e}", config.digest)))?;
            let named = !platform.os.is_empty() || !platform.architecture.is_empty();
            named.then_some(platform).into_iter().collect()
        }
        (None, None) => Vec::new(),
    };
    Ok(RemoteManifest { media_type, digest, size, platforms })
}

/// The platforms of an index's entries (those that name one); `None` if `document` is not an
/// index.
fn index_platforms(document: &Value) -> Option<Vec<Platform>> {
    let entries = document.get("manifests")?.as_array()?;
    let platforms = entries.iter().filter_map(|m| m.get("platform")).filter_map(|p| Platform::deserialize(p).ok());
    Some(platforms.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_lists_the_platforms_of_its_entries() {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"digest": "sha256:aa", "platform": {"architecture": "amd64", "os": "linux"}},
                {"digest": "sha256:bb", "platform": {"architecture": "arm", "os": "linux", "variant": "v7"}},
                {"digest": "sha256:cc", "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1", "os.features": ["win32k"]}},
                {"digest": "sha256:dd"},
            ],
        });
        let platforms = index_platforms(&index).unwrap();
        assert_eq!(platforms.len(), 3);
        assert_eq!((platforms[0].os.as_str(), platforms[0].architecture.as_str()), ("linux", "amd64"));
        assert_eq!(platforms[1].variant.as_deref(), Some("v7"));
        assert_eq!(platforms[2].os_version.as_deref(), Some("10.0.17763.1"));
        assert_eq!(platforms[2].os_features, ["win32k"]);
    }

    #[test]
    fn a_manifest_is_not_an_index() {
        let manifest = serde_json::json!({"schemaVersion": 2, "config": {"digest": "sha256:aa", "size": 2}, "layers": []});
        assert_eq!(index_platforms(&manifest), None);
    }
}
