//! `GET /distribution/{name}/json`: what an image's registry holds under its tag or digest,
//! asked as a pull asks (the `certs.d` CA, the credentials the CLI sends), pulling nothing.
//! The docker CLI pins a service's image to the answer's digest (`name:tag@sha256:…`).

use palisade_engine_api::containers::types::{DistributionInspect, OciDescriptor, OciPlatform, RegistryAuth};
use palisade_registry::client::RemoteManifest;

use crate::error::Result;
use crate::remote::RemoteImage;
use crate::state::Engine;

impl Engine {
    /// Looks `name` (`[host/]repo[:tag][@digest]`) up in its registry as `auth`. Errors are
    /// a pull's: an unknown name or tag is not found, refused credentials unauthorized, an
    /// unreachable or untrusted registry a registry error.
    pub(crate) async fn distribution_inspect(&self, name: &str, auth: Option<RegistryAuth>) -> Result<DistributionInspect> {
        let target = RemoteImage::parse(name, "")?;
        let options = self.client_options(&target.host, auth);
        let found = palisade_registry::client::inspect(&target.remote, &options)
            .await
            .map_err(|e| self.explain(&target, &e, "inspecting"))?;
        Ok(answer(found))
    }
}

/// The registry client's finding in the Engine API's words.
fn answer(found: RemoteManifest) -> DistributionInspect {
    let platforms = found
        .platforms
        .into_iter()
        .map(|p| OciPlatform { architecture: p.architecture, os: p.os, os_version: p.os_version, os_features: p.os_features, variant: p.variant })
        .collect();
    DistributionInspect {
        descriptor: OciDescriptor { media_type: found.media_type, digest: found.digest.to_string(), size: found.size, urls: Vec::new() },
        platforms,
    }
}

#[cfg(test)]
mod tests {
    use palisade_registry::client::{Platform, RemoteManifest};
    use palisade_registry::Digest;

    use super::answer;

    #[test]
    fn the_answer_has_dockerds_fields() {
        let digest = Digest::sha256_of(b"manifest");
        let found = RemoteManifest {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: digest.clone(),
            size: 428,
            platforms: vec![Platform { architecture: "arm".into(), os: "linux".into(), variant: Some("v7".into()), ..Platform::default() }],
        };
        let json = serde_json::to_value(answer(found)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "Descriptor": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest.to_string(), "size": 428},
                "Platforms": [{"architecture": "arm", "os": "linux", "variant": "v7"}],
            })
        );
    }
}
