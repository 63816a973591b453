//! S3 driver (any S3-compatible service) on the `object_store` AWS backend.
//!
//! How the contract maps onto S3:
//! - A file is one object under `<prefix>/`; directories are key prefixes (they exist while
//!   some object lies below them, as the contract allows).
//! - A non-appending writer buffers up to [`PART_SIZE`]; a small file is one `PUT` on commit, a
//!   larger one a multipart upload completed on commit. S3 shows neither until it completes, so
//!   readers see the old object or the whole new one; cancel (or drop) aborts the upload.
//! - An appending writer starts a new upload that first copies the existing object, then takes
//!   the new bytes; commit replaces the object, cancel leaves the old one untouched.
//! - `rename` is copy + delete (the destination appears atomically).
//!
//! The trait is synchronous, `object_store` is async: the driver owns a small tokio runtime and
//! blocks on it (callers are `spawn_blocking` threads or plain threads, never async tasks).

use std::io::{self, Read, Write};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};
use tokio::runtime::{Handle, Runtime};

use super::{DriverError, DriverResult, FileInfo, FileWriter, StorageDriver, StoragePath};

const NAME: &str = "s3";
/// Multipart part size (S3's minimum is 5 MiB for every part but the last).
pub(crate) const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded concurrently per writer.
const PART_CONCURRENCY: usize = 4;

/// Where and how to reach the bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// Bucket name (must exist).
    pub bucket: String,
    /// Region, e.g. `us-east-1`.
    pub region: String,
    /// Endpoint URL for S3-compatible services (path-style requests); `None` = AWS.
    pub endpoint: Option<String>,
    /// Key prefix under which the registry keeps its tree (no leading or trailing `/`).
    pub prefix: Option<String>,
    /// Access key id; `None` = from the environment (`AWS_ACCESS_KEY_ID`, …).
    pub access_key_id: Option<String>,
    /// Secret access key; `None` = from the environment.
    pub secret_access_key: Option<String>,
    /// Session token.
    pub session_token: Option<String>,
}

/// Owns the runtime the driver blocks on; shut down without waiting when dropped (the
/// driver may be dropped inside an async context, where a blocking shutdown would panic).
#[derive(Debug)]
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A driver storing the tree in an S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Driver {
    store: Arc<AmazonS3>,
    prefix: Option<String>,
    handle: Handle,
    _runtime: Arc<OwnedRuntime>,
}

fn backend_err(path: &str, e: object_store::Error) -> DriverError {
    match e {
        object_store::Error::NotFound { .. } => DriverError::NotFound { driver: NAME, path: path.to_owned() },
        other => DriverError::Io { driver: NAME, path: path.to_owned(), source: io::Error::other(other) },
    }
}

fn io_to_driver(path: &str, source: io::Error) -> DriverError {
    DriverError::Io { driver: NAME, path: path.to_owned(), source }
}

impl S3Driver {
    /// Connect (no request is made until the first call).
    pub fn new(opts: &S3Options) -> DriverResult<Self> {
        let fail = |reason: String| DriverError::Io { driver: NAME, path: opts.bucket.clone(), source: io::Error::other(reason) };
        let mut b = AmazonS3Builder::from_env().with_bucket_name(&opts.bucket).with_region(&opts.region);
        if let Some(endpoint) = &opts.endpoint {
            b = b
                .with_endpoint(endpoint)
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(k) = &opts.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(s) = &opts.secret_access_key {
            b = b.with_secret_access_key(s);
        }
        if let Some(t) = &opts.session_token {
            b = b.with_token(t);
        }
        let store = b.build().map_err(|e| fail(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("palisade-s3")
            .enable_all()
            .build()
            .map_err(|e| fail(format!("runtime: {e}")))?;
        let prefix = opts.prefix.as_deref().map(|p| p.trim_matches('/').to_owned()).filter(|p| !p.is_empty());
        Ok(Self { store: Arc::new(store), prefix, handle: runtime.handle().clone(), _runtime: Arc::new(OwnedRuntime(Some(runtime))) })
    }

    fn key(&self, path: &StoragePath) -> ObjectPath {
        match &self.prefix {
            Some(p) => ObjectPath::from(format!("{p}/{}", path.as_str())),
            None => ObjectPath::from(path.as_str()),
        }
    }

    fn block<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }

    /// Every object key at or below `path`.
    fn keys_under(&self, path: &StoragePath) -> DriverResult<Vec<ObjectPath>> {
        let key = self.key(path);
        self.block(async {
            let mut out = Vec::new();
            let mut s = self.store.list(Some(&key));
            while let Some(meta) = s.next().await {
                out.push(meta.map_err(|e| backend_err(path.as_str(), e))?.location);
            }
            Ok(out)
        })
    }

    fn open_stream(&self, path: &StoragePath, offset: u64) -> DriverResult<BoxStream<'static, object_store::Result<Bytes>>> {
        let key = self.key(path);
        let p = path.as_str();
        self.block(async {
            if offset > 0 {
                let meta = self.store.head(&key).await.map_err(|e| backend_err(p, e))?;
                if offset >= meta.size {
                    return Ok(futures::stream::empty().boxed());
                }
            }
            let opts = GetOptions { range: (offset > 0).then_some(GetRange::Offset(offset)), ..GetOptions::default() };
            let result = self.store.get_opts(&key, opts).await.map_err(|e| backend_err(p, e))?;
            Ok(result.into_stream())
        })
    }
}

impl StorageDriver for S3Driver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get_content(&self, path: &StoragePath) -> DriverResult<Vec<u8>> {
        let key = self.key(path);
        self.block(async {
            let r = self.store.get(&key).await?;
            r.bytes().await
        })
        .map(|b| b.to_vec())
        .map_err(|e| backend_err(path.as_str(), e))
    }

    fn put_content(&self, path: &StoragePath, data: &[u8]) -> DriverResult<()> {
        let key = self.key(path);
        let payload = PutPayload::from(Bytes::copy_from_slice(data));
        self.block(self.store.put(&key, payload)).map(|_| ()).map_err(|e| backend_err(path.as_str(), e))
    }

    fn reader(&self, path: &StoragePath, offset: u64) -> DriverResult<Box<dyn Read + Send>> {
        let stream = self.open_stream(path, offset)?;
        Ok(Box::new(S3Reader { handle: self.handle.clone(), stream, buf: Bytes::new() }))
    }

    fn writer(&self, path: &StoragePath, append: bool) -> DriverResult<Box<dyn FileWriter>> {
        let mut w = S3Writer {
            driver: self.clone(),
            key: self.key(path),
            path: path.clone(),
            buf: Vec::new(),
            upload: None,
            size: 0,
        };
        if append {
            match self.open_stream(path, 0) {
                Ok(mut stream) => {
                    while let Some(chunk) = self.block(stream.next()) {
                        let chunk = chunk.map_err(|e| backend_err(path.as_str(), e))?;
                        w.write_all(&chunk).map_err(|e| io_to_driver(path.as_str(), e))?;
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Box::new(w))
    }

    fn stat(&self, path: &StoragePath) -> DriverResult<FileInfo> {
        let key = self.key(path);
        match self.block(self.store.head(&key)) {
            Ok(meta) => Ok(FileInfo { size: meta.size, is_dir: false, modified: Some(meta.last_modified.into()) }),
            Err(object_store::Error::NotFound { .. }) => {
                let any = self.block(async { self.store.list(Some(&key)).next().await });
                match any {
                    Some(Ok(_)) => Ok(FileInfo { size: 0, is_dir: true, modified: None }),
                    Some(Err(e)) => Err(backend_err(path.as_str(), e)),
                    None => Err(DriverError::NotFound { driver: NAME, path: path.to_string() }),
                }
            }
            Err(e) => Err(backend_err(path.as_str(), e)),
        }
    }

    fn list(&self, path: &StoragePath) -> DriverResult<Vec<String>> {
        let key = self.key(path);
        let result =
            self.block(self.store.list_with_delimiter(Some(&key))).map_err(|e| backend_err(path.as_str(), e))?;
        let mut names: Vec<String> = result
            .common_prefixes
            .iter()
            .chain(result.objects.iter().map(|o| &o.location))
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        if names.is_empty() {
            return Err(DriverError::NotFound { driver: NAME, path: path.to_string() });
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn rename(&self, from: &StoragePath, to: &StoragePath) -> DriverResult<()> {
        let (src, dst) = (self.key(from), self.key(to));
        self.block(self.store.rename(&src, &dst)).map_err(|e| backend_err(from.as_str(), e))
    }

    fn delete(&self, path: &StoragePath) -> DriverResult<()> {
        let own = self.key(path);
        let is_file = match self.block(self.store.head(&own)) {
            Ok(_) => true,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(backend_err(path.as_str(), e)),
        };
        let mut keys = self.keys_under(path)?;
        if !is_file && keys.is_empty() {
            return Err(DriverError::NotFound { driver: NAME, path: path.to_string() });
        }
        if is_file {
            keys.push(own);
        }
        self.block(async {
            for k in &keys {
                match self.store.delete(k).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(backend_err(path.as_str(), e)),
                }
            }
            Ok(())
        })
    }
}

/// A blocking reader over an object's byte stream.
struct S3Reader {
    handle: Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    buf: Bytes,
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.buf.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(b)) => self.buf = b,
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len());
        out[..n].copy_from_slice(&self.buf.split_to(n));
        Ok(n)
    }
}

/// See the module docs: buffered put, or multipart upload once a part's worth is written.
struct S3Writer {
    driver: S3Driver,
    key: ObjectPath,
    path: StoragePath,
    buf: Vec<u8>,
    upload: Option<WriteMultipart>,
    size: u64,
}

impl S3Writer {
    fn flush_part(&mut self) -> io::Result<()> {
        let part = Bytes::from(std::mem::take(&mut self.buf));
        let driver = self.driver.clone();
        let key = self.key.clone();
        let upload = &mut self.upload;
        driver.block(async {
            if upload.is_none() {
                let mp = driver.store.put_multipart(&key).await.map_err(io::Error::other)?;
                *upload = Some(WriteMultipart::new_with_chunk_size(mp, PART_SIZE));
            }
            if let Some(u) = upload.as_mut() {
                u.wait_for_capacity(PART_CONCURRENCY).await.map_err(io::Error::other)?;
                u.put(part);
            }
            Ok(())
        })
    }
}

impl Write for S3Writer {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = PART_SIZE - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        self.size += n as u64;
        if self.buf.len() >= PART_SIZE {
            self.flush_part()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for S3Writer {
    fn size(&self) -> u64 {
        self.size
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        let p = self.path.to_string();
        let rest = Bytes::from(std::mem::take(&mut self.buf));
        let driver = self.driver.clone();
        match self.upload.take() {
            None => driver.block(driver.store.put(&self.key, PutPayload::from(rest))).map(|_| ()),
            Some(mut u) => driver.block(async move {
                if !rest.is_empty() {
                    u.put(rest);
                }
                u.finish().await.map(|_| ())
            }),
        }
        .map_err(|e| backend_err(&p, e))
    }

    fn cancel(mut self: Box<Self>) -> DriverResult<()> {
        let p = self.path.to_string();
        match self.upload.take() {
            Some(u) => self.driver.block(u.abort()).map_err(|e| backend_err(&p, e)),
            None => Ok(()),
        }
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if let Some(u) = self.upload.take() {
            // Not committed: abort in the background (drop may run anywhere).
            self.driver.handle.spawn(async move {
                let _ = u.abort().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use crate::driver::{StorageDriver, StoragePath};

    #[test]
    fn conformance() {
        let moto = crate::testing::Moto::start();
        crate::testing::driver_conformance(&moto.driver());
    }

    #[test]
    fn large_writes_use_multipart_and_stay_invisible_until_commit() {
        let moto = crate::testing::Moto::start();
        let d = moto.driver();
        let p = StoragePath::new("big/data").unwrap();
        let data: Vec<u8> = (0..(super::PART_SIZE * 2 + 12345)).map(|i| (i % 251) as u8).collect();
        let mut w = d.writer(&p, false).unwrap();
        w.write_all(&data).unwrap();
        assert!(d.stat(&p).unwrap_err().is_not_found());
        w.commit().unwrap();
        assert_eq!(d.get_content(&p).unwrap(), data);
        // An append that is cancelled leaves the object as it was; a committed one extends it.
        let mut w = d.writer(&p, true).unwrap();
        w.write_all(b"tail").unwrap();
        assert_eq!(w.size(), data.len() as u64 + 4);
        w.cancel().unwrap();
        assert_eq!(d.stat(&p).unwrap().size, data.len() as u64);
        let mut w = d.writer(&p, true).unwrap();
        w.write_all(b"tail").unwrap();
        drop(w);
        assert_eq!(d.stat(&p).unwrap().size, data.len() as u64);
        let mut r = d.reader(&p, data.len() as u64 - 3).unwrap();
        let mut end = Vec::new();
        std::io::Read::read_to_end(&mut r, &mut end).unwrap();
        assert_eq!(end, data[data.len() - 3..]);
    }
}
