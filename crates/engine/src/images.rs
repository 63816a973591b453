//! The image endpoints over the runtime's image store.

use bytes::Bytes;
use palisade_engine_api::containers::types::{ImageDeleteItem, ImageInspect, ImageSummary};
use palisade_runtime::Image;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::state::{blocking, Engine};

/// The store's "not here" as dockerd's `No such image: NAME` (a 404, on which the docker CLI
/// and the task executor pull): a name it does not hold or cannot read, or a pinned name whose
/// tag holds other content (said, with the content held).
pub(crate) fn not_found(name: &str) -> impl FnOnce(palisade_runtime::Error) -> Error + '_ {
    move |e| match e {
        palisade_runtime::Error::ImageNotFound(_) | palisade_runtime::Error::InvalidReference(_) => Error::NoSuchImage(name.to_owned()),
        e @ palisade_runtime::Error::ImageDigestDiffers { .. } => Error::NoSuchImage(e.to_string()),
        e => e.into(),
    }
}

/// An image's references as dockerd lists them: `(RepoTags, RepoDigests)`, `name:tag` and
/// `name@sha256:…` (recorded when it was pulled by that digest).
fn tags_and_digests(references: &[palisade_runtime::ImageRef]) -> (Vec<String>, Vec<String>) {
    let (digests, tags): (Vec<_>, Vec<_>) = references.iter().partition(|r| r.reference().digest().is_some());
    let strings = |refs: Vec<&palisade_runtime::ImageRef>| refs.into_iter().map(|r| r.as_str().to_owned()).collect();
    (strings(tags), strings(digests))
}

fn created(image: &Image) -> Option<OffsetDateTime> {
    image.config.created().as_ref().and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok())
}

impl Engine {
    /// `docker load`: the lines to print.
    pub(crate) async fn image_load(&self, archive: Bytes) -> Result<Vec<String>> {
        let this = self.clone();
        blocking(move || {
            let tmp = this.engine_dir().join("tmp");
            let mut file = tempfile::NamedTempFile::new_in(&tmp).map_err(|source| Error::Io { op: format!("creating a file in {}", tmp.display()), source })?;
            std::io::Write::write_all(&mut file, &archive).map_err(|source| Error::Io { op: "writing the archive".into(), source })?;
            let loaded = this.runtime().images().load(file.path(), None)?;
            let mut lines = Vec::new();
            for image in loaded {
                for r in &image.references {
                    this.event("image", "load", r.as_str(), crate::events::named(r.as_str()));
                }
                if image.references.is_empty() {
                    lines.push(format!("Loaded image ID: {}", image.id));
                }
                lines.extend(image.references.iter().map(|r| format!("Loaded image: {}", r.as_str())));
            }
            Ok(lines)
        })
        .await
    }

    /// `docker save`: every name is checked before the archive starts; the tar is written
    /// from the store's blobs as they are.
    pub(crate) async fn image_save(&self, names: Vec<String>) -> Result<palisade_engine_api::containers::OutputStream> {
        let this = self.clone();
        let images = blocking(move || {
            let store = this.runtime().images();
            let mut images: Vec<palisade_registry::client::ArchiveImage> = Vec::new();
            for name in &names {
                let image = store.inspect(name).map_err(not_found(name))?;
                // A name that is a tag is saved under it; an id saves every tag of the image.
                let tags: Vec<String> = match image.summary.references.iter().find(|r| r.as_str() == name.as_str()) {
                    Some(r) => vec![r.as_str().to_owned()],
                    None if image.summary.references.iter().any(|r| r.as_str() == format!("{name}:latest")) => vec![format!("{name}:latest")],
                    None => image.summary.references.iter().map(|r| r.as_str().to_owned()).collect(),
                };
                if let Some(same) = images.iter_mut().find(|i| i.config_hex == image.summary.id.hex()) {
                    same.repo_tags.extend(tags);
                    continue;
                }
                let layers = image.manifest.layers().iter().zip(&image.layers);
                images.push(palisade_registry::client::ArchiveImage {
                    config_hex: image.summary.id.hex().to_owned(),
                    config: store.blob_path(&image.summary.id),
                    layers: layers.map(|(d, path)| (d.digest().digest().to_owned(), path.clone())).collect(),
                    repo_tags: tags,
                });
            }
            for name in &names {
                this.event("image", "save", name.as_str(), crate::events::named(name));
            }
            Ok(images)
        })
        .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        std::thread::spawn(move || {
            if let Err(e) = palisade_registry::client::write_docker_archive(crate::copy::ChunkWriter::new(tx), &images) {
                // The client sees the tar end early; docker load reports the broken archive.
                tracing::warn!("writing a docker save archive: {e}");
            }
        });
        Ok(rx)
    }

    /// `docker images`.
    pub(crate) async fn image_list(&self) -> Result<Vec<ImageSummary>> {
        let this = self.clone();
        blocking(move || {
            let store = this.runtime().images();
            let mut out = Vec::new();
            for summary in store.list()? {
                let created = store.inspect(summary.id.as_str()).ok().as_ref().and_then(created);
                let (repo_tags, repo_digests) = tags_and_digests(&summary.references);
                out.push(ImageSummary {
                    id: summary.id.to_string(),
                    repo_tags,
                    repo_digests,
                    created: created.map_or(0, OffsetDateTime::unix_timestamp),
                    size: i64::try_from(summary.size).unwrap_or(i64::MAX),
                    shared_size: -1,
                    containers: -1,
                    ..ImageSummary::default()
                });
            }
            out.reverse();
            Ok(out)
        })
        .await
    }

    /// `docker image inspect`.
    pub(crate) async fn image_inspect(&self, name: String) -> Result<ImageInspect> {
        let this = self.clone();
        blocking(move || {
            let image = this.runtime().images().inspect(&name).map_err(not_found(&name))?;
            let config = serde_json::to_value(&image.config).unwrap_or_default();
            let (repo_tags, repo_digests) = tags_and_digests(&image.summary.references);
            Ok(ImageInspect {
                id: image.summary.id.to_string(),
                repo_tags,
                repo_digests,
                created: created(&image).map(palisade_engine_api::types::timestamp).unwrap_or_default(),
                size: i64::try_from(image.summary.size).unwrap_or(i64::MAX),
                architecture: config["architecture"].as_str().unwrap_or_default().to_owned(),
                os: config["os"].as_str().unwrap_or_default().to_owned(),
                config: config.get("config").cloned().unwrap_or_default(),
                root_fs: serde_json::json!({"Type": "layers", "Layers": config["rootfs"]["diff_ids"]}),
            })
        })
        .await
    }

    /// `docker tag SOURCE REPO[:TAG]` (the CLI sends the repository fully qualified, as
    /// `docker.io/library/x`; the reference takes its short form).
    pub(crate) async fn image_tag(&self, source: String, repo: String, tag: String) -> Result<()> {
        let this = self.clone();
        blocking(move || {
            let target = if tag.is_empty() { repo.clone() } else { format!("{repo}:{tag}") };
            let target: palisade_runtime::ImageRef =
                target.parse().map_err(|_| Error::InvalidArgument(format!("invalid reference format: {target:?}")))?;
            this.runtime().images().tag(&source, &target).map_err(not_found(&source))?;
            this.event("image", "tag", target.as_str(), crate::events::named(target.as_str()));
            Ok(())
        })
        .await
    }

    /// `docker rmi`.
    pub(crate) async fn image_remove(&self, name: String) -> Result<Vec<ImageDeleteItem>> {
        let this = self.clone();
        blocking(move || {
            // A container's rootfs is an overlay on the image's: the image stays while one exists.
            let users: Vec<(String, String)> = this.entries().iter().map(|e| (e.image_id.clone(), e.id.to_string())).collect();
            let veto = |id: &palisade_runtime::Digest| match users.iter().find(|(image, _)| image == id.as_str()) {
                Some((_, container)) => Err(palisade_runtime::Error::ImageInUse {
                    image: id.short().to_owned(),
                    container: container.chars().take(12).collect(),
                }),
                None => Ok(()),
            };
            let removed = this.runtime().images().remove_unless(&name, veto).map_err(not_found(&name))?;
            let mut items: Vec<ImageDeleteItem> = removed
                .untagged
                .iter()
                .map(|r| ImageDeleteItem { untagged: Some(r.as_str().to_owned()), deleted: None })
                .collect();
            for r in &removed.untagged {
                this.event("image", "untag", r.as_str(), crate::events::named(r.as_str()));
            }
            for d in &removed.deleted {
                this.event("image", "delete", d.to_string(), crate::events::named(&d.to_string()));
            }
            items.extend(removed.deleted.iter().map(|d| ImageDeleteItem { untagged: None, deleted: Some(d.to_string()) }));
            Ok(items)
        })
        .await
    }
}
