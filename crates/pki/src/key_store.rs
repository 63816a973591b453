//! The one way this project writes private material to disk.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::{Error, Result};

/// Writes `contents` to `path` atomically with mode 0600: a temporary file in the same
/// directory (created 0600, never wider), fsync, rename over `path`, fsync of the directory.
/// Readers see either the old file or the new one, never a partial write.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let io = |op: &'static str, source| Error::Io { op, path: path.to_owned(), source };
    let dir = path.parent().ok_or_else(|| io("resolve directory of", std::io::ErrorKind::InvalidInput.into()))?;
    let file_name = path.file_name().ok_or_else(|| io("resolve name of", std::io::ErrorKind::InvalidInput.into()))?;
    // Unique per write, so concurrent writers of one file (in this process or another) never
    // share a temporary file: the last rename wins with a whole file.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let serial = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}-{serial}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| io("write", e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn concurrent_writers_of_one_file_each_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        std::thread::scope(|scope| {
            for writer in 0..8u8 {
                let path = &path;
                scope.spawn(move || {
                    let contents = vec![b'a' + writer; 64 << 10];
                    for _ in 0..20 {
                        write_private_file(path, &contents).unwrap();
                        let read = fs::read(path).unwrap();
                        assert!(read.len() == 64 << 10 && read.iter().all(|b| *b == read[0]), "a torn file");
                    }
                });
            }
        });
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }

    #[test]
    fn private_files_are_0600_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        write_private_file(&path, b"first").unwrap();
        write_private_file(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file is left behind");
    }
}
