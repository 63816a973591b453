//! `docker pull` (`POST /images/create`): download with the registry crate's client into a
//! scratch OCI layout, then load it into the image store through the same checks as
//! `docker load` (blob digests, safe unpack, diff_ids).

use std::sync::Arc;

use palisade_engine_api::containers::types::{JsonMessage, RegistryAuth};
use palisade_engine_api::containers::OutputStream;
use palisade_registry::client::{ClientOptions, LocalImage};
use tokio::sync::mpsc;

use crate::error::Result;
use crate::progress::{message_stream, BlobProgress, PULL};
use crate::remote::{chain, RemoteImage};
use crate::state::{blocking, Engine};

impl Engine {
    /// `docker pull`: validates the reference, then streams progress while pulling.
    pub(crate) async fn image_pull(&self, from_image: String, tag: String, auth: Option<RegistryAuth>) -> Result<OutputStream> {
        let target = RemoteImage::parse(&from_image, &tag)?;
        let options = self.client_options(&target.host, auth);
        let (events, rx, forward) = message_stream();
        let this = self.clone();
        tokio::spawn(async move {
            let repo = target.remote.repo.to_string();
            let _ = events.send(JsonMessage::status(format!("Pulling from {repo}"), Some(&target.remote.reference)));
            let done = match this.pull_into_store(&target, &options, &events).await {
                Ok(lines) => {
                    let name = target.local.as_str();
                    this.event("image", "pull", name, crate::events::named(name));
                    lines.into_iter().map(|s| JsonMessage::status(s, None)).collect::<Vec<_>>()
                }
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
        target: &RemoteImage,
        options: &ClientOptions,
        events: &mpsc::UnboundedSender<JsonMessage>,
    ) -> std::result::Result<Vec<String>, String> {
        let tmp = self.engine_dir().join("tmp");
        let scratch = tempfile::Builder::new()
            .prefix("pull-")
            .tempdir_in(&tmp)
            .map_err(|e| format!("creating a scratch directory in {}: {e}", tmp.display()))?;
        let layout = scratch.path().join("layout");
        let progress = Arc::new(BlobProgress::new(events.clone(), &PULL));
        let dest = LocalImage::Oci { dir: layout.clone(), tag: None };
        let digest = palisade_registry::client::pull(&target.remote, &dest, options, progress)
            .await
            .map_err(|e| self.explain(target, &e, "pulling").to_string())?;
        let (this, local) = (self.clone(), target.local.clone());
        let loaded = blocking(move || {
            let store = this.runtime().images();
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
}
