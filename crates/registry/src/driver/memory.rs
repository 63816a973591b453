//! In-memory reference driver, for tests and examples only (nothing survives the process).

use std::collections::BTreeMap;
use std::io::{self, Cursor, Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::{DriverError, DriverResult, FileInfo, FileWriter, StorageDriver, StoragePath};

const NAME: &str = "inmemory";

/// A file: its bytes and when they were written.
#[derive(Debug, Clone)]
struct MemFile {
    data: Vec<u8>,
    modified: SystemTime,
}

impl MemFile {
    fn now(data: Vec<u8>) -> Self {
        Self { data, modified: SystemTime::now() }
    }
}

type Files = Arc<Mutex<BTreeMap<String, MemFile>>>;

/// A driver keeping every file in a map.
#[derive(Debug, Default, Clone)]
pub struct InMemoryDriver {
    files: Files,
}

impl InMemoryDriver {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

fn lock(files: &Files) -> MutexGuard<'_, BTreeMap<String, MemFile>> {
    // A poisoned lock only means another thread panicked mid-operation; every operation here
    // leaves the map consistent, so continue with the data.
    files.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn not_found(path: &StoragePath) -> DriverError {
    DriverError::NotFound { driver: NAME, path: path.to_string() }
}

fn children<'a>(
    map: &'a BTreeMap<String, MemFile>,
    path: &StoragePath,
) -> impl Iterator<Item = (&'a String, &'a MemFile)> {
    let prefix = format!("{}/", path.as_str());
    map.range(prefix.clone()..).take_while(move |(k, _)| k.starts_with(&prefix))
}

impl StorageDriver for InMemoryDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get_content(&self, path: &StoragePath) -> DriverResult<Vec<u8>> {
        lock(&self.files).get(path.as_str()).map(|f| f.data.clone()).ok_or_else(|| not_found(path))
    }

    fn put_content(&self, path: &StoragePath, data: &[u8]) -> DriverResult<()> {
        lock(&self.files).insert(path.to_string(), MemFile::now(data.to_vec()));
        Ok(())
    }

    fn reader(&self, path: &StoragePath, offset: u64) -> DriverResult<Box<dyn Read + Send>> {
        let data = self.get_content(path)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(data.len());
        Ok(Box::new(Cursor::new(data[start..].to_vec())))
    }

    fn writer(&self, path: &StoragePath, append: bool) -> DriverResult<Box<dyn FileWriter>> {
        let base = if append { lock(&self.files).get(path.as_str()).map(|f| f.data.clone()) } else { None };
        Ok(Box::new(MemWriter {
            files: self.files.clone(),
            path: path.to_string(),
            data: base.unwrap_or_default(),
        }))
    }

    fn stat(&self, path: &StoragePath) -> DriverResult<FileInfo> {
        let map = lock(&self.files);
        if let Some(f) = map.get(path.as_str()) {
            return Ok(FileInfo { size: f.data.len() as u64, is_dir: false, modified: Some(f.modified) });
        }
        if children(&map, path).next().is_some() {
            return Ok(FileInfo { size: 0, is_dir: true, modified: None });
        }
        Err(not_found(path))
    }

    fn list(&self, path: &StoragePath) -> DriverResult<Vec<String>> {
        let map = lock(&self.files);
        let skip = path.as_str().len() + 1;
        let mut names: Vec<String> = children(&map, path)
            .filter_map(|(k, _)| k.get(skip..).and_then(|rest| rest.split('/').next()))
            .map(str::to_owned)
            .collect();
        names.dedup();
        if names.is_empty() {
            return Err(not_found(path));
        }
        Ok(names)
    }

    fn rename(&self, from: &StoragePath, to: &StoragePath) -> DriverResult<()> {
        let mut map = lock(&self.files);
        let data = map.remove(from.as_str()).ok_or_else(|| not_found(from))?;
        map.insert(to.to_string(), data);
        Ok(())
    }

    fn delete(&self, path: &StoragePath) -> DriverResult<()> {
        let mut map = lock(&self.files);
        let mut keys: Vec<String> = children(&map, path).map(|(k, _)| k.clone()).collect();
        if map.contains_key(path.as_str()) {
            keys.push(path.to_string());
        }
        if keys.is_empty() {
            return Err(not_found(path));
        }
        for k in keys {
            map.remove(&k);
        }
        Ok(())
    }
}

struct MemWriter {
    files: Files,
    path: String,
    data: Vec<u8>,
}

impl Write for MemWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl FileWriter for MemWriter {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn commit(self: Box<Self>) -> DriverResult<()> {
        let this = *self;
        lock(&this.files).insert(this.path, MemFile::now(this.data));
        Ok(())
    }

    fn cancel(self: Box<Self>) -> DriverResult<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        crate::testing::driver_conformance(&super::InMemoryDriver::new());
    }
}
