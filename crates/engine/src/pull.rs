//! `docker pull` (`POST /images/create`): download with the registry crate's client into a
//! scratch OCI layout, then load it into the image store through the same checks as
//! `docker load` (blob digests, safe unpack, diff_ids).
//!
//! Registry TLS is trusted as dockerd trusts it: `<certs.d>/<host[:port]>/ca.crt` when present,
//! otherwise the system roots. Plain HTTP is never used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use palisade_engine_api::containers::types::{JsonMessage, ProgressDetail, RegistryAuth};
use palisade_engine_api::containers::OutputStream;
use palisade_registry::client::{ClientError, ClientOptions, LocalImage, Progress, ProgressEvent};
use palisade_runtime::ImageRef;
use secrecy::ExposeSecret as _;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::state::{blocking, Engine};

/// Docker Hub's registry, for names without a registry host.
const DOCKER_HUB: &str = "registry-1.docker.io";

/// What to pull and under which name to store it.
#[derive(Debug)]
pub(crate) struct PullTarget {
    /// The remote image (registry host, repository, tag or digest).
    pub(crate) remote: palisade_registry::client::ImageRef,
    /// The name recorded in the image store (`host:port/repo:tag`, `busybox:latest`).
    pub(crate) local: ImageRef,
    /// `host[:port]`, the `certs.d` directory name.
    pub(crate) host: String,
}

fn is_registry_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// A `host[:port]` that is safe as a directory name: `[A-Za-z0-9.-]` labels, optional port.
fn valid_host(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !name.contains("..")
        && port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

impl PullTarget {
    /// From docker's `fromImage` and `tag` query parameters.
    pub(crate) fn parse(from_image: &str, tag: &str) -> Result<Self> {
        let bad = |why: &str| Error::InvalidArgument(format!("invalid reference format: {from_image:?}: {why}"));
        let name = if tag.is_empty() {
            from_image.to_owned()
        } else if tag.starts_with("sha256:") {
            format!("{from_image}@{tag}")
        } else {
            format!("{from_image}:{tag}")
        };
        let local: ImageRef = name.parse().map_err(|_| bad("expected [HOST[:PORT]/]REPO[:TAG|@DIGEST]"))?;
        let full = local.as_str();
        let (host, path) = match full.split_once('/') {
            Some((first, rest)) if is_registry_host(first) => (first.to_owned(), rest.to_owned()),
            _ if full.contains('/') => (DOCKER_HUB.to_owned(), full.to_owned()),
            _ => (DOCKER_HUB.to_owned(), format!("library/{full}")),
        };
        if !valid_host(&host) {
            return Err(bad("bad registry host"));
        }
        let remote = format!("{host}/{path}").parse().map_err(|e: ClientError| bad(&e.to_string()))?;
        Ok(Self { remote, local, host })
    }
}

/// Turns the registry client's blob events into docker's per-layer progress lines.
struct PullProgress {
    tx: mpsc::UnboundedSender<JsonMessage>,
    /// digest → (bytes so far, size, bytes at the last line sent)
    blobs: Mutex<HashMap<String, (u64, u64, u64)>>,
}

fn short(digest: &str) -> String {
    digest.split_once(':').map_or(digest, |(_, h)| h).chars().take(12).collect()
}

impl Progress for PullProgress {
    fn event(&self, event: ProgressEvent) {
        let message = match event {
            ProgressEvent::Start { digest, size } => {
                if let Ok(mut b) = self.blobs.lock() {
                    b.insert(digest.clone(), (0, size, 0));
                }
                JsonMessage::status("Pulling fs layer", Some(&short(&digest)))
            }
            ProgressEvent::Bytes { digest, n } => {
                let Ok(mut b) = self.blobs.lock() else { return };
                let Some((current, total, sent)) = b.get_mut(&digest) else { return };
                *current += n;
                // About fifty updates per blob at most.
                if *current < *total && *current - *sent < (*total / 50).max(64 << 10) {
                    return;
                }
                *sent = *current;
                JsonMessage {
                    progress_detail: Some(ProgressDetail { current: Some(*current), total: Some(*total) }),
                    ..JsonMessage::status("Downloading", Some(&short(&digest)))
                }
            }
            ProgressEvent::Done { digest } => JsonMessage::status("Download complete", Some(&short(&digest))),
            ProgressEvent::Exists { digest } => JsonMessage::status("Already exists", Some(&short(&digest))),
        };
        let _ = self.tx.send(message);
    }
}

/// An error and its causes on one line (TLS failures hide the useful part in the chain).
fn chain(e: &dyn std::error::Error) -> String {
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
    /// `docker pull`: validates the reference, then streams progress while pulling.
    pub(crate) async fn image_pull(&self, from_image: String, tag: String, auth: Option<RegistryAuth>) -> Result<OutputStream> {
        let target = PullTarget::parse(&from_image, &tag)?;
        let ca = self.inner.registry_certs.join(&target.host).join("ca.crt");
        let options = ClientOptions {
            tls_ca: ca.is_file().then_some(ca),
            insecure: false,
            credentials: auth.and_then(|a| a.password.map(|p| (a.username, p.expose_secret().to_owned()))),
        };
        let (tx, rx) = mpsc::channel::<Bytes>(64);
        let (events, mut event_rx) = mpsc::unbounded_channel::<JsonMessage>();
        // Progress lines, forwarded in order to the response body.
        let forward = tokio::spawn(async move {
            while let Some(m) = event_rx.recv().await {
                if tx.send(m.to_line()).await.is_err() {
                    break;
                }
            }
        });
        let this = self.clone();
        tokio::spawn(async move {
            let repo = target.remote.repo.to_string();
            let _ = events.send(JsonMessage::status(format!("Pulling from {repo}"), Some(&target.remote.reference)));
            let done = match this.pull_into_store(&target, &options, &events).await {
                Ok(lines) => lines.into_iter().map(|s| JsonMessage::status(s, None)).collect::<Vec<_>>(),
                Err(e) => vec![JsonMessage::error(e)],
            };
            for m in done {
                let _ = events.send(m);
            }
            drop(events);
            let _ = forward.await;
        });
        Ok(rx)
    }

    /// Pulls into a scratch layout and loads it; returns the closing status lines.
    async fn pull_into_store(
        &self,
        target: &PullTarget,
        options: &ClientOptions,
        events: &mpsc::UnboundedSender<JsonMessage>,
    ) -> std::result::Result<Vec<String>, String> {
        let tmp = self.engine_dir().join("tmp");
        let scratch = tempfile::Builder::new()
            .prefix("pull-")
            .tempdir_in(&tmp)
            .map_err(|e| format!("creating a scratch directory in {}: {e}", tmp.display()))?;
        let layout = scratch.path().join("layout");
        let progress = Arc::new(PullProgress { tx: events.clone(), blobs: Mutex::new(HashMap::new()) });
        let dest = LocalImage::Oci { dir: layout.clone(), tag: None };
        let digest = palisade_registry::client::pull(&target.remote, &dest, options, progress)
            .await
            .map_err(|e| self.explain(target, &e))?;
        let (this, local) = (self.clone(), target.local.clone());
        let loaded = blocking(move || {
            let store = this.runtime(this.default_runtime()).images();
            let before = store.inspect(local.as_str()).ok().map(|i| i.summary.id);
            let loaded = store.load(&layout, Some(&local))?;
            Ok((before, loaded))
        })
        .await;
        drop(scratch);
        let (before, loaded) = loaded.map_err(|e| format!("{}: {}", target.local, chain(&e)))?;
        let Some(image) = loaded.iter().find(|s| s.references.contains(&target.local)) else {
            return Err(format!("{}: the registry has no image for this platform", target.local));
        };
        let status = if before.as_ref() == Some(&image.id) { "Image is up to date for" } else { "Downloaded newer image for" };
        Ok(vec![format!("Digest: {digest}"), format!("Status: {status} {}", target.local)])
    }

    /// A registry client error as the user should read it.
    fn explain(&self, target: &PullTarget, e: &ClientError) -> String {
        let text = chain(e);
        match e {
            ClientError::Status { status: 401 | 403, .. } | ClientError::Auth(_) => {
                format!("unauthorized: pulling {} from {}: authentication failed (check the user name and password): {text}", target.local, target.host)
            }
            ClientError::Status { status: 404, .. } => {
                format!("manifest for {} not found: manifest unknown: {text}", target.local)
            }
            ClientError::Http { .. } if text.contains("certificate") => format!(
                "{text} (to trust this registry's CA, put it at {})",
                self.inner.registry_certs.join(&target.host).join("ca.crt").display()
            ),
            _ => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PullTarget;

    #[test]
    fn targets() {
        let t = PullTarget::parse("127.0.0.1:5000/team/app", "v1").unwrap();
        assert_eq!(t.local.as_str(), "127.0.0.1:5000/team/app:v1");
        assert_eq!((t.host.as_str(), t.remote.repo.as_str(), t.remote.reference.as_str()), ("127.0.0.1:5000", "team/app", "v1"));
        let t = PullTarget::parse("busybox", "").unwrap();
        assert_eq!(t.local.as_str(), "busybox:latest");
        assert_eq!((t.host.as_str(), t.remote.repo.as_str()), ("registry-1.docker.io", "library/busybox"));
        let d = format!("sha256:{}", "a".repeat(64));
        let t = PullTarget::parse("reg.example/x", &d).unwrap();
        assert_eq!(t.remote.reference, d);
        assert!(PullTarget::parse("../etc/x", "v1").is_err());
        assert!(PullTarget::parse("Bad Name", "").is_err());
    }
}
