//! Manifest parsing and validation for the four supported media types.
//!
//! Only the fields the registry needs are typed (descriptors, `subject`, `artifactType`); the
//! stored bytes are always the client's original bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::error::Error;

/// A manifest media type the registry accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/vnd.oci.image.manifest.v1+json`
    OciManifest,
    /// `application/vnd.oci.image.index.v1+json`
    OciIndex,
    /// `application/vnd.docker.distribution.manifest.v2+json`
    DockerManifest,
    /// `application/vnd.docker.distribution.manifest.list.v2+json`
    DockerManifestList,
}

impl MediaType {
    /// The media type string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OciManifest => "application/vnd.oci.image.manifest.v1+json",
            Self::OciIndex => "application/vnd.oci.image.index.v1+json",
            Self::DockerManifest => "application/vnd.docker.distribution.manifest.v2+json",
            Self::DockerManifestList => "application/vnd.docker.distribution.manifest.list.v2+json",
        }
    }

    /// Parse a media type (parameters after `;` are ignored).
    pub fn parse(s: &str) -> Option<Self> {
        let base = s.split(';').next().unwrap_or("").trim();
        [Self::OciManifest, Self::OciIndex, Self::DockerManifest, Self::DockerManifestList]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(base))
    }

    /// Whether this is an index / manifest list (children are manifests, not blobs).
    pub fn is_index(self) -> bool {
        matches!(self, Self::OciIndex | Self::DockerManifestList)
    }
}

/// A content descriptor as it appears in manifests and the referrers response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Artifact type, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Annotations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// External URLs (non-distributable layers).
    #[serde(default, skip_serializing)]
    pub urls: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
    subject: Option<Descriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

/// A parsed, structurally valid manifest.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its media type.
    pub media_type: MediaType,
    /// Blobs it needs in the repository (config + distributable layers).
    pub blobs: Vec<Digest>,
    /// Child manifests it needs in the repository (indexes only).
    pub children: Vec<Digest>,
    /// The `subject` it refers to, if any.
    pub subject: Option<Digest>,
    /// `artifactType`, or for image manifests without one, the config media type.
    pub artifact_type: Option<String>,
    /// Top-level annotations.
    pub annotations: Option<BTreeMap<String, String>>,
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::ManifestInvalid { reason: reason.into() }
}

impl Manifest {
    /// Parse `bytes` received with `content_type` (the request's `Content-Type`, if any).
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<Self, Error> {
        let raw: RawManifest =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("not valid JSON: {e}")))?;
        if raw.schema_version != Some(2) {
            return Err(invalid("schemaVersion must be 2"));
        }
        let declared = content_type.map(|c| c.split(';').next().unwrap_or("").trim().to_owned());
        let media = match (declared.as_deref(), raw.media_type.as_deref()) {
            (Some(ct), Some(field)) if !ct.is_empty() && !ct.eq_ignore_ascii_case(field) => {
                return Err(invalid(format!(
                    "Content-Type {ct} does not match the manifest's mediaType {field}"
                )));
            }
            (Some(ct), _) if !ct.is_empty() => ct.to_owned(),
            (_, Some(field)) => field.to_owned(),
            _ => return Err(invalid("no media type (set Content-Type or mediaType)")),
        };
        let media_type = MediaType::parse(&media)
            .ok_or_else(|| invalid(format!("unsupported manifest media type {media}")))?;
        let (blobs, children, artifact_type) = if media_type.is_index() {
            let manifests = raw.manifests.ok_or_else(|| invalid("index without manifests"))?;
            if raw.config.is_some() || raw.layers.is_some() {
                return Err(invalid("index must not have config or layers"));
            }
            (Vec::new(), manifests.into_iter().map(|d| d.digest).collect(), raw.artifact_type)
        } else {
            let config = raw.config.ok_or_else(|| invalid("image manifest without config"))?;
            let layers = raw.layers.ok_or_else(|| invalid("image manifest without layers"))?;
            if raw.manifests.is_some() {
                return Err(invalid("image manifest must not have manifests"));
            }
            let artifact =
                raw.artifact_type.clone().or_else(|| Some(config.media_type.clone()));
            let mut blobs = vec![config.digest];
            // Non-distributable layers (with external URLs) need not be in the registry.
            blobs.extend(layers.into_iter().filter(|l| l.urls.is_none()).map(|l| l.digest));
            (blobs, Vec::new(), artifact)
        };
        Ok(Self {
            media_type,
            blobs,
            children,
            subject: raw.subject.map(|s| s.digest),
            artifact_type,
            annotations: raw.annotations,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: &str) -> String {
        Digest::sha256_of(x.as_bytes()).to_string()
    }

    #[test]
    fn parses_oci_manifest_with_subject() {
        let m = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
            "artifactType":"application/x-sig",
            "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}},
            "layers":[{{"mediaType":"x","digest":"{}","size":1}}],
            "subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":9}}}}"#,
            d("c"),
            d("l"),
            d("s")
        );
        let m = Manifest::parse(m.as_bytes(), None).unwrap();
        assert_eq!(m.media_type, MediaType::OciManifest);
        assert_eq!(m.blobs.len(), 2);
        assert_eq!(m.subject.unwrap().to_string(), d("s"));
        assert_eq!(m.artifact_type.as_deref(), Some("application/x-sig"));
    }

    #[test]
    fn rejects_bad_manifests() {
        assert!(Manifest::parse(b"{not json", None).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":1}"#, Some(MediaType::OciIndex.as_str())).is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2,"manifests":[]}"#, Some("application/x-unknown")).is_err());
        assert!(Manifest::parse(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#,
            Some(MediaType::OciManifest.as_str())
        )
        .is_err());
        assert!(Manifest::parse(br#"{"schemaVersion":2,"manifests":[]}"#, Some(MediaType::OciIndex.as_str())).is_ok());
    }
}
