//! Streaming between HTTP bodies and blocking driver readers/writers.

use std::io::{Read, Write};

use axum::body::Body;
use bytes::Bytes;
use futures::StreamExt;
use tokio::sync::mpsc;

use crate::DigestHasher;
use crate::driver::FileWriter;
use crate::error::{Error, Result};

/// Response body piece size for blob downloads.
const READ_CHUNK: usize = 1024 * 1024;

/// Copy a request body into `writer` on a blocking thread, feeding every byte written to
/// `hasher` too when one is given. Commits when the body ends cleanly; cancels (discarding this
/// request's bytes) if the body or the write fails. Returns the writer's size after the commit
/// and the hasher, having been fed exactly the committed bytes.
pub(crate) async fn body_to_writer(
    body: Body,
    writer: Box<dyn FileWriter>,
    mut hasher: Option<DigestHasher>,
) -> Result<(u64, Option<DigestHasher>)> {
    let (tx, mut rx) = mpsc::channel::<std::result::Result<Bytes, String>>(16);
    let task = tokio::task::spawn_blocking(move || -> Result<(u64, Option<DigestHasher>)> {
        let mut w = writer;
        while let Some(item) = rx.blocking_recv() {
            match item {
                Ok(chunk) => {
                    if let Err(e) = w.write_all(&chunk) {
                        let _ = w.cancel();
                        return Err(Error::Io(e));
                    }
                    if let Some(h) = hasher.as_mut() {
                        h.update(&chunk);
                    }
                }
                Err(reason) => {
                    w.cancel()?;
                    return Err(Error::UploadInvalid { reason });
                }
            }
        }
        let size = w.size();
        w.commit()?;
        Ok((size, hasher))
    });
    let mut stream = body.into_data_stream();
    while let Some(frame) = stream.next().await {
        let item = frame.map_err(|e| format!("request body: {e}"));
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    drop(tx);
    task.await.map_err(|e| Error::Task(e.to_string()))?
}

/// Stream up to `limit` bytes of `reader` as a response body.
///
/// One blocking task reads [`READ_CHUNK`]-sized pieces into fresh, never-zeroed buffers
/// (`read_to_end` fills spare capacity) and hands them over without copying; the small channel
/// keeps at most a few MiB in flight per response.
pub(crate) fn reader_body(reader: Box<dyn Read + Send>, limit: u64) -> Body {
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    tokio::task::spawn_blocking(move || {
        let mut reader = reader.take(limit);
        loop {
            let mut buf = Vec::with_capacity(READ_CHUNK);
            match (&mut reader).take(READ_CHUNK as u64).read_to_end(&mut buf) {
                Ok(0) => break,
                Ok(_) => {
                    if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Body::from_stream(stream)
}

/// Piece size when reading inline: small enough to stay in cache between the file read and the
/// socket write, large enough to keep syscalls few.
const INLINE_CHUNK: usize = 128 * 1024;

/// Stream up to `limit` bytes of a local reader (see [`crate::driver::StorageDriver::inline_reads`])
/// by reading it directly as hyper polls the body: no thread hop, one small buffer in flight.
pub(crate) fn inline_reader_body(reader: Box<dyn Read + Send>, limit: u64) -> Body {
    let stream = futures::stream::unfold(Some(reader.take(limit)), |state| async move {
        let mut reader = state?;
        let mut buf = Vec::with_capacity(INLINE_CHUNK);
        match (&mut reader).take(INLINE_CHUNK as u64).read_to_end(&mut buf) {
            Ok(0) => None,
            Ok(_) => Some((Ok::<_, std::io::Error>(Bytes::from(buf)), Some(reader))),
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}
