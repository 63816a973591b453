//! Filesystem driver: every file write is temp file + fsync + rename + fsync(dir), so a crash
//! never exposes a partial file and nothing acknowledged is lost.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use rand::RngCore;

use super::{DriverError, DriverResult, FileInfo, FileWriter, StorageDriver, StoragePath};

const NAME: &str = "filesystem";
const TMP_PREFIX: &str = ".tmp-";

/// A driver rooted at a local directory.
#[derive(Debug, Clone)]
pub struct FsDriver {
    root: PathBuf,
}

impl FsDriver {
    /// Use (and create, mode 0700) `root`.
    pub fn new(root: impl Into<PathBuf>) -> DriverResult<Self> {
        let root = root.into();
        let io = |source| DriverError::Io { driver: NAME, path: root.display().to_string(), source };
        fs::create_dir_all(&root).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        Ok(Self { root })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn full(&self, path: &StoragePath) -> PathBuf {
        // StoragePath components are validated: no `..`, no absolute paths.
        self.root.join(path.as_str())
    }
}

fn io_err(path: &StoragePath) -> impl Fn(io::Error) -> DriverError + '_ {
    move |source| {
        if source.kind() == io::ErrorKind::NotFound {
            DriverError::NotFound { driver: NAME, path: path.to_string() }
        } else {
            DriverError::Io { driver: NAME, path: path.to_string(), source }
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Create `dir` and missing parents, fsyncing each parent whose entry list changed.
fn ensure_dir(root: &Path, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        if parent != root && parent.starts_with(root) {
            ensure_dir(root, parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => sync_dir(parent)?,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn temp_sibling(target: &Path) -> PathBuf {
    let mut rnd = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut rnd);
    let name = format!("{TMP_PREFIX}{}", hex::encode(rnd));
    target.parent().map_or_else(|| PathBuf::from(&name), |p| p.join(&name))
}

fn parent_of(p: &Path) -> &Path {
    p.parent().unwrap_or(p)
}

impl StorageDriver for FsDriver {
    fn name(&self) -> &'static str {
        NAME
    }

    fn get_content(&self, path: &StoragePath) -> DriverResult<Vec<u8>> {
        fs::read(self.full(path)).map_err(io_err(path))
    }

    fn put_content(&self, path: &StoragePath, data: &[u8]) -> DriverResult<()> {
        let mut w = self.writer(path, false)?;
        w.write_all(data).map_err(io_err(path))?;
        w.commit()
    }

    fn reader(&self, path: &StoragePath, offset: u64) -> DriverResult<Box<dyn Read + Send>> {
        let mut f = File::open(self.full(path)).map_err(io_err(path))?;
        f.seek(SeekFrom::Start(offset)).map_err(io_err(path))?;
        Ok(Box::new(f))
    }

    fn writer(&self, path: &StoragePath, append: bool) -> DriverResult<Box<dyn FileWriter>> {
        let target = self.full(path);
        ensure_dir(&self.root, parent_of(&target)).map_err(io_err(path))?;
        if append {
            let existed = target.exists();
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)
                .map_err(io_err(path))?;
            let start = file.metadata().map_err(io_err(path))?.len();
            Ok(Box::new(AppendWriter {
                path: path.clone(),
                target,
                out: OpenFile { file: Some(file), size: start },
                start,
                created: !existed,
            }))
        } else {
            let temp = temp_sibling(&target);
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .map_err(io_err(path))?;
            Ok(Box::new(AtomicWriter { path: path.clone(), target, temp, out: OpenFile { file: Some(file), size: 0 } }))
        }
    }

    fn stat(&self, path: &StoragePath) -> DriverResult<FileInfo> {
        let md = fs::metadata(self.full(path)).map_err(io_err(path))?;
        if md.is_dir() {
            return Ok(FileInfo { size: 0, is_dir: true, modified: None });
        }
        Ok(FileInfo { size: md.len(), is_dir: false, modified: Some(md.modified().map_err(io_err(path))?) })
    }

    fn list(&self, path: &StoragePath) -> DriverResult<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(self.full(path)).map_err(io_err(path))? {
            let entry = entry.map_err(io_err(path))?;
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with(TMP_PREFIX) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &StoragePath, to: &StoragePath) -> DriverResult<()> {
        let (src, dst) = (self.full(from), self.full(to));
        ensure_dir(&self.root, parent_of(&dst)).map_err(io_err(to))?;
        fs::rename(&src, &dst).map_err(io_err(from))?;
        sync_dir(parent_of(&dst)).map_err(io_err(to))?;
        if parent_of(&src) != parent_of(&dst) {
            sync_dir(parent_of(&src)).map_err(io_err(from))?;
        }
        Ok(())
    }

    fn inline_reads(&self) -> bool {
        // Local files: a 128 KiB read is a page-cache copy, far cheaper than a thread hop.
        true
    }

    fn delete(&self, path: &StoragePath) -> DriverResult<()> {
        let full = self.full(path);
        let md = fs::symlink_metadata(&full).map_err(io_err(path))?;
        if md.is_dir() {
            fs::remove_dir_all(&full).map_err(io_err(path))?;
        } else {
            fs::remove_file(&full).map_err(io_err(path))?;
        }
        sync_dir(parent_of(&full)).map_err(io_err(path))
    }
}

/// A file being written and the size it will have; closed (`None`) once committed or cancelled.
struct OpenFile {
    file: Option<File>,
    size: u64,
}

impl OpenFile {
    /// fsyncs and closes the file (a no-op when already closed).
    fn sync_and_close(&mut self, path: &StoragePath) -> DriverResult<()> {
        match self.file.take() {
            Some(file) => file.sync_all().map_err(io_err(path)),
            None => Ok(()),
        }
    }
}

impl Write for OpenFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("writer closed"))?;
        let n = file.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

/// Writes a temp sibling; `commit` fsyncs and renames it over the target.
struct AtomicWriter {
    path: StoragePath,
    target: PathBuf,
    temp: PathBuf,
    out: OpenFile,
}

impl Write for AtomicWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl FileWriter for AtomicWriter {
    fn size(&self) -> u64 {
        self.out.size
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        self.out.sync_and_close(&self.path)?;
        fs::rename(&self.temp, &self.target).map_err(io_err(&self.path))?;
        sync_dir(parent_of(&self.target)).map_err(io_err(&self.path))
    }

    fn cancel(mut self: Box<Self>) -> DriverResult<()> {
        self.out.file = None;
        match fs::remove_file(&self.temp) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        if self.out.file.take().is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Appends to the target in place; `commit` fsyncs, `cancel`/drop truncates back.
struct AppendWriter {
    path: StoragePath,
    target: PathBuf,
    out: OpenFile,
    start: u64,
    created: bool,
}

impl Write for AppendWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl FileWriter for AppendWriter {
    fn size(&self) -> u64 {
        self.out.size
    }

    fn commit(mut self: Box<Self>) -> DriverResult<()> {
        self.out.sync_and_close(&self.path)?;
        if self.created {
            sync_dir(parent_of(&self.target)).map_err(io_err(&self.path))?;
        }
        Ok(())
    }

    fn cancel(mut self: Box<Self>) -> DriverResult<()> {
        if let Some(file) = self.out.file.take() {
            file.set_len(self.start).map_err(io_err(&self.path))?;
        }
        Ok(())
    }
}

impl Drop for AppendWriter {
    fn drop(&mut self) {
        if let Some(file) = self.out.file.take() {
            let _ = file.set_len(self.start);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        let dir = tempfile::tempdir().unwrap();
        crate::testing::driver_conformance(&super::FsDriver::new(dir.path()).unwrap());
    }

    #[test]
    fn uncommitted_writes_leave_no_visible_file() {
        use crate::driver::{StorageDriver, StoragePath};
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let d = super::FsDriver::new(dir.path()).unwrap();
        let p = StoragePath::new("a/b/data").unwrap();
        let mut w = d.writer(&p, false).unwrap();
        w.write_all(b"partial").unwrap();
        assert!(d.stat(&p).unwrap_err().is_not_found());
        drop(w);
        assert!(d.stat(&p).unwrap_err().is_not_found());
        assert!(d.list(&StoragePath::new("a/b").unwrap()).unwrap().is_empty());
    }
}
