//! `docker cp` over [`palisade_runtime::ContainerRoot`]: every path resolved inside the
//! container's root by the kernel (see there). A `PUT`'s archive is spooled to the engine's
//! tmp directory first, so that the runtime can check all of it before writing anything.

use std::io::Write;

use bytes::Bytes;
use futures::StreamExt as _;
use palisade_engine_api::archive::{ExtractRequest, InputStream, PathStat};
use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::types::timestamp;
use palisade_runtime::{ContainerRoot, ExtractOptions};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::state::{blocking, io, Engine, Entry};

/// Size of the chunks a `GET`'s tar is sent in.
const CHUNK: usize = 64 << 10;

/// A [`Write`] that sends what it is given as chunks to a stream (from a blocking thread).
pub(crate) struct ChunkWriter {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    pub(crate) fn new(tx: mpsc::Sender<Bytes>) -> Self {
        Self { tx, buf: Vec::new() }
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(chunk).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away"))?;
        }
        Ok(())
    }
}

fn api_stat(stat: palisade_runtime::PathStat) -> PathStat {
    let mtime = OffsetDateTime::from_unix_timestamp(stat.mtime).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    PathStat { name: stat.name, size: stat.size, mode: stat.mode, mtime: timestamp(mtime), link_target: stat.link_target }
}

/// dockerd's message for a missing path names the container.
fn in_container(e: Error, entry: &Entry) -> Error {
    match e {
        Error::Runtime(palisade_runtime::Error::PathNotFound(path)) => {
            Error::NotFound(format!("Could not find the file {path} in container {}", entry.name))
        }
        e => e,
    }
}

impl Engine {
    /// Opens the root `docker cp` works in.
    async fn copy_root(&self, entry: &Entry) -> Result<ContainerRoot> {
        let (this, id) = (self.clone(), entry.id.clone());
        blocking(move || Ok(this.runtime().container(&id)?.copy_root()?)).await
    }

    /// `HEAD /containers/{ref}/archive`.
    pub(crate) async fn archive_stat(&self, reference: &str, path: String) -> Result<PathStat> {
        let entry = self.resolve(reference)?;
        let root = self.copy_root(&entry).await?;
        let stat = blocking(move || Ok(root.stat(&path)?)).await;
        stat.map(api_stat).map_err(|e| in_container(e, &entry))
    }

    /// `GET /containers/{ref}/archive`.
    pub(crate) async fn archive_get(&self, reference: &str, path: String) -> Result<(PathStat, OutputStream)> {
        let entry = self.resolve(reference)?;
        let root = self.copy_root(&entry).await?;
        let (tx, rx) = mpsc::channel(8);
        let stat = blocking(move || {
            let stat = root.stat(&path)?;
            std::thread::spawn(move || {
                if let Err(e) = root.archive(&path, ChunkWriter::new(tx)) {
                    // The client sees the tar end early; the CLI reports the broken archive.
                    tracing::warn!("archiving {path}: {e}");
                }
            });
            Ok(stat)
        })
        .await
        .map_err(|e| in_container(e, &entry))?;
        Ok((api_stat(stat), rx))
    }

    /// `PUT /containers/{ref}/archive`: refused for a read-only root file system.
    pub(crate) async fn archive_put(&self, reference: &str, path: String, request: ExtractRequest, mut archive: InputStream) -> Result<()> {
        let entry = self.resolve(reference)?;
        if entry.request.host_config.readonly_rootfs {
            return Err(Error::Conflict("container rootfs is marked read-only".into()));
        }
        let root = self.copy_root(&entry).await?;
        // Spooled where it cannot be seen by containers; removed when dropped.
        let tmp = self.engine_dir().join("tmp");
        let mut spool = tempfile::tempfile_in(&tmp).map_err(io(format!("creating a file in {}", tmp.display())))?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(8);
        let writer = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            while let Some(chunk) = rx.blocking_recv() {
                spool.write_all(&chunk)?;
            }
            Ok(spool)
        });
        while let Some(chunk) = archive.next().await {
            let chunk = chunk.map_err(|e| Error::InvalidArgument(format!("reading the archive: {e}")))?;
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
        drop(tx);
        let mut spool = writer.await.map_err(|e| Error::Internal(e.to_string()))?.map_err(io("spooling the archive"))?;
        let options = ExtractOptions { no_overwrite_dir_non_dir: request.no_overwrite_dir_non_dir, copy_uid_gid: request.copy_uid_gid };
        blocking(move || Ok(root.extract(&path, &mut spool, options)?)).await.map(|_| ()).map_err(|e| in_container(e, &entry))
    }
}
