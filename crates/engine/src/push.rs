//! `docker push` (`POST /images/{name}/push`) and `docker login` (`POST /auth`) through the
//! daemon: images go straight from the image store's blobs to the registry (manifests and
//! layers keep their digests), as the registry crate's client copies them.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use palisade_engine_api::containers::types::{AuthRequest, AuthResponse, JsonMessage, ProgressDetail, RegistryAuth};
use palisade_engine_api::containers::OutputStream;
use palisade_registry::client::ClientError;
use palisade_registry::Digest;
use palisade_runtime::{Image, ImageRef, ImageStore};

use crate::error::{Error, Result};
use crate::progress::{message_stream, BlobProgress, PUSH};
use crate::remote::{chain, RemoteImage};
use crate::state::Engine;

/// The familiar repository name and the tag of a stored reference (`host:5000/team/app:v1` →
/// `host:5000/team/app`, `v1`); `None` unless it is by tag alone.
fn repo_and_tag(reference: &ImageRef) -> Option<(String, String)> {
    let reference = reference.reference();
    match (reference.tag(), reference.digest()) {
        (Some(tag), None) => Some((reference.familiar_name(), tag.to_string())),
        _ => None,
    }
}

impl Engine {
    /// `docker push NAME[:TAG]`: every tag of `name`'s repository when `tag` is empty. An
    /// image that does not exist locally is refused before the stream starts.
    pub(crate) async fn image_push(&self, name: String, tag: String, auth: Option<RegistryAuth>) -> Result<OutputStream> {
        let store = self.runtime().images();
        let repository = RemoteImage::parse(&name, "")?.local;
        let repository = repo_and_tag(&repository).map_or(name.clone(), |(r, _)| r);
        let tags: Vec<String> = if tag.is_empty() {
            let mut tags: Vec<String> = store
                .references()?
                .iter()
                .filter_map(|r| repo_and_tag(r).filter(|(repo, _)| *repo == repository).map(|(_, t)| t))
                .collect();
            tags.sort();
            tags
        } else {
            vec![tag]
        };
        if tags.is_empty() {
            return Err(Error::NoSuchImage(format!("An image does not exist locally with the tag: {repository}")));
        }
        let mut pushes = Vec::new();
        for tag in tags {
            let target = RemoteImage::parse(&repository, &tag)?;
            let image = store.inspect(target.local.as_str()).map_err(|_| {
                Error::NoSuchImage(format!("An image does not exist locally with the tag: {}", target.local))
            })?;
            let manifest = image.summary.manifest.clone();
            let mounts = mount_sources(store, &image, &target);
            pushes.push((target, tag, manifest, mounts));
        }
        let options = self.client_options(&pushes[0].0.host, auth);
        let images_dir = self.inner.root.join("images");
        let (events, rx, forward) = message_stream();
        let this = self.clone();
        tokio::spawn(async move {
            let _ = events.send(JsonMessage::status(format!("The push refers to repository [{repository}]"), None));
            for (target, tag, manifest, mounts) in pushes {
                let progress = Arc::new(BlobProgress::new(events.clone(), &PUSH));
                match palisade_registry::client::push_stored(&images_dir, &manifest, &target.remote, &options, progress, &mounts).await {
                    Ok((digest, size)) => {
                        let name = target.local.as_str();
                        this.event("image", "push", name, crate::events::named(name));
                        let _ = events.send(JsonMessage::status(format!("{tag}: digest: {digest} size: {size}"), None));
                        let aux = serde_json::json!({ "Tag": tag, "Digest": digest.to_string(), "Size": size });
                        let _ = events.send(JsonMessage { aux: Some(aux), progress_detail: Some(ProgressDetail::default()), ..JsonMessage::default() });
                    }
                    Err(e) => {
                        let _ = events.send(JsonMessage::error(this.explain(&target, &e, "pushing").to_string()));
                        break;
                    }
                }
            }
            drop(events);
            let _ = forward.await;
        });
        Ok(rx)
    }

    /// `docker login`: the credentials are checked against the registry (its token service
    /// when it has one) over TLS trusted as for pulls; nothing is stored by the daemon.
    pub(crate) async fn login(&self, request: AuthRequest) -> Result<AuthResponse> {
        let host = registry_host(&request.server_address)?;
        let auth = RegistryAuth { server_address: host.clone(), ..request };
        if auth.username.is_empty() || auth.password.is_none() {
            return Err(Error::InvalidArgument("a user name and a password are required".into()));
        }
        let options = self.client_options(&host, Some(auth));
        match palisade_registry::client::login(&host, &options).await {
            Ok(()) => Ok(AuthResponse { status: "Login Succeeded".into(), identity_token: String::new() }),
            Err(e @ (ClientError::Auth(_) | ClientError::Status { status: 401 | 403, .. })) => Err(Error::Unauthorized(format!(
                "Get \"https://{host}/v2/\": unauthorized: incorrect username or password ({})",
                chain(&e)
            ))),
            Err(e) => Err(Error::Registry(format!("logging in to {host}: {}", chain(&e)))),
        }
    }
}

/// For each blob of `image` (config and layers), another repository of `target`'s registry
/// that a local image with that blob is tagged in: the registry likely has the blob there,
/// and docker mounts it from there instead of uploading it again (docker remembers where
/// each layer came from; a tag in the image store is the daemon's record of that).
fn mount_sources(store: &ImageStore, image: &Image, target: &RemoteImage) -> HashMap<Digest, String> {
    // The config blob and the layers: what `docker push` uploads.
    let blobs = |i: &Image| -> Vec<String> {
        std::iter::once(i.manifest.config().digest().to_string()).chain(i.manifest.layers().iter().map(|l| l.digest().to_string())).collect()
    };
    let wanted: HashSet<String> = blobs(image).into_iter().collect();
    let mut sources = HashMap::new();
    for summary in store.list().unwrap_or_default() {
        let repos: Vec<String> = summary
            .references
            .iter()
            .filter_map(|r| RemoteImage::parse(r.as_str(), "").ok())
            .filter(|r| r.remote.registry == target.remote.registry && r.remote.repo != target.remote.repo)
            .map(|r| r.remote.repo.to_string())
            .collect();
        let Some(repo) = repos.first() else { continue };
        let Ok(other) = store.inspect(&summary.id.to_string()) else { continue };
        for digest in blobs(&other) {
            if wanted.contains(&digest) {
                if let Ok(d) = digest.parse() {
                    sources.entry(d).or_insert_with(|| repo.clone());
                }
            }
        }
    }
    sources
}

/// `serveraddress` as docker sends it (`host[:port]`, or a URL) → `host[:port]`.
fn registry_host(server: &str) -> Result<String> {
    let host = server.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    let host = host.strip_suffix("/v2").unwrap_or(host).trim_end_matches('/');
    if host.is_empty() || host.contains('/') {
        return Err(Error::InvalidArgument(format!("invalid registry address {server:?}: expected HOST[:PORT]")));
    }
    RemoteImage::parse(&format!("{host}/x"), "").map(|_| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        let split = |r: &str| repo_and_tag(&r.parse().unwrap());
        let owned = |r: &str, t: &str| Some((r.to_owned(), t.to_owned()));
        assert_eq!(split("127.0.0.1:5000/team/app:v1"), owned("127.0.0.1:5000/team/app", "v1"));
        assert_eq!(split("busybox:latest"), owned("busybox", "latest"));
        assert_eq!(split("127.0.0.1:5000/app"), owned("127.0.0.1:5000/app", "latest"));
        assert_eq!(split(&format!("app@sha256:{}", "a".repeat(64))), None);
    }

    #[test]
    fn login_addresses_are_hosts() {
        assert_eq!(registry_host("127.0.0.1:5000").unwrap(), "127.0.0.1:5000");
        assert_eq!(registry_host("https://reg.example/v2/").unwrap(), "reg.example");
        assert!(registry_host("reg.example/evil/path").is_err());
        assert!(registry_host("").is_err());
    }
}
