//! What pulls and pushes share: a registry image named as docker names it, the client
//! options for its registry (certs.d CA, credentials from `X-Registry-Auth`), and registry
//! errors as a docker user should read them.
//!
//! Registry TLS is trusted as dockerd trusts it: `<certs.d>/<host[:port]>/ca.crt` when present,
//! otherwise the system roots. Plain HTTP is never used.

use palisade_engine_api::containers::types::RegistryAuth;
use palisade_reference::ImageReference;
use palisade_registry::client::{ClientError, ClientOptions};
use palisade_runtime::ImageRef;
use secrecy::ExposeSecret as _;

use crate::error::{Error, Result};
use crate::state::Engine;

/// Docker Hub's registry, for names without a registry host.
const DOCKER_HUB: &str = "registry-1.docker.io";

/// An image in a registry, and its name in the local store.
#[derive(Debug)]
pub(crate) struct RemoteImage {
    /// The remote image (registry host, repository, tag or digest).
    pub(crate) remote: palisade_registry::client::ImageRef,
    /// The name recorded in the image store (`host:port/repo:tag`, `busybox:latest`).
    pub(crate) local: ImageRef,
    /// `host[:port]`, the `certs.d` directory name.
    pub(crate) host: String,
}

impl RemoteImage {
    /// From docker's `fromImage` and `tag` query parameters.
    pub(crate) fn parse(from_image: &str, tag: &str) -> Result<Self> {
        let name = if tag.is_empty() {
            from_image.to_owned()
        } else if tag.starts_with("sha256:") {
            format!("{from_image}@{tag}")
        } else {
            format!("{from_image}:{tag}")
        };
        let image = ImageReference::parse(&name).map_err(|e| Error::InvalidArgument(e.as_reference_format()))?;
        let local = ImageRef::from_reference(&image).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let mut remote = palisade_registry::client::ImageRef::from(&image);
        if image.is_docker_hub() {
            remote.registry = DOCKER_HUB.to_owned();
        }
        Ok(Self { host: remote.registry.clone(), remote, local })
    }
}

/// An error and its causes on one line (TLS failures hide the useful part in the chain).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

impl Engine {
    /// How to reach the registry at `host` (`host[:port]`) as `auth`.
    pub(crate) fn client_options(&self, host: &str, auth: Option<RegistryAuth>) -> ClientOptions {
        let ca = self.inner.registry_certs.join(host).join("ca.crt");
        ClientOptions {
            tls_ca: ca.is_file().then_some(ca),
            insecure: false,
            credentials: auth.and_then(|a| a.password.map(|p| (a.username, p.expose_secret().to_owned()))),
        }
    }

    /// A registry client error as the user should read it, and whose fault it was: refused
    /// credentials, a name the registry does not know, or the registry (unreachable, untrusted,
    /// failing). `action` is what was being done (`pulling`, `pushing`, `inspecting`).
    pub(crate) fn explain(&self, target: &RemoteImage, e: &ClientError, action: &str) -> Error {
        let text = chain(e);
        match e {
            ClientError::Status { status: 401 | 403, .. } | ClientError::Auth(_) => {
                let direction = if action == "pushing" { "to" } else { "from" };
                Error::Unauthorized(format!(
                    "unauthorized: {action} {} {direction} {}: authentication failed (check the user name and password): {text}",
                    target.local, target.host
                ))
            }
            ClientError::Status { status: 404, .. } => {
                Error::NotFound(format!("manifest for {} not found: manifest unknown: {text}", target.local))
            }
            ClientError::Http { .. } if text.contains("certificate") => Error::Registry(format!(
                "{text} (to trust this registry's CA, put it at {})",
                self.inner.registry_certs.join(&target.host).join("ca.crt").display()
            )),
            _ => Error::Registry(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RemoteImage;

    #[test]
    fn targets() {
        let t = RemoteImage::parse("127.0.0.1:5000/team/app", "v1").unwrap();
        assert_eq!(t.local.as_str(), "127.0.0.1:5000/team/app:v1");
        assert_eq!((t.host.as_str(), t.remote.repo.as_str(), t.remote.reference.as_str()), ("127.0.0.1:5000", "team/app", "v1"));
        let t = RemoteImage::parse("busybox", "").unwrap();
        assert_eq!(t.local.as_str(), "busybox:latest");
        assert_eq!((t.host.as_str(), t.remote.repo.as_str()), ("registry-1.docker.io", "library/busybox"));
        let d = format!("sha256:{}", "a".repeat(64));
        let t = RemoteImage::parse("reg.example/x", &d).unwrap();
        assert_eq!(t.remote.reference, d);
        assert!(RemoteImage::parse("../etc/x", "v1").is_err());
        assert!(RemoteImage::parse("Bad Name", "").is_err());
    }
}
