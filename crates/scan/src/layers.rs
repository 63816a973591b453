//! Layers read once, as tar streams, into a view of the files the detectors need.
//!
//! Only files a detector asks for are kept ([`crate::detect::interest`]): small metadata files
//! as bytes (capped), binaries reduced at once to what they declare. Everything else is read
//! past. OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) remove what lower layers kept, so a
//! package deleted in a later layer is not reported. Paths never leave the view: entries with
//! `..` are skipped, symlinks are resolved inside the view only, and nothing is written.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use crate::detect::{self, Interest};
use crate::package::Package;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// Symlink hops followed inside the view (as Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

/// Caps on what is read into memory from untrusted layers.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest metadata file kept (dpkg status, METADATA, package.json, …). Default 64 MiB.
    pub max_metadata_bytes: u64,
    /// Largest binary, archive or package database inspected (ELF, jar, rpmdb). Default
    /// 256 MiB.
    pub max_binary_bytes: u64,
    /// Metadata bytes kept for the whole image at most; files past it are skipped with a
    /// warning. Default 1 GiB.
    pub max_total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_metadata_bytes: 64 << 20, max_binary_bytes: 256 << 20, max_total_bytes: 1 << 30 }
    }
}

/// What the view keeps for one path.
#[derive(Clone, Debug)]
pub(crate) enum Kept {
    /// File content.
    Bytes(Vec<u8>),
    /// Packages a binary or archive declared, extracted while streaming.
    Packages(Vec<Package>),
    /// A symlink and its target.
    Symlink(String),
    /// A file whose presence matters, not its content.
    Present,
}

/// One kept file.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kept: Kept,
    pub(crate) layer: usize,
}

/// One layer to read: its digest and a reader of its tar stream (gzip detected).
pub struct Layer<'a> {
    /// Digest reported for findings from this layer.
    pub digest: String,
    /// The (possibly gzip-compressed) tar stream.
    pub reader: Box<dyn Read + 'a>,
}

impl std::fmt::Debug for Layer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer").field("digest", &self.digest).finish_non_exhaustive()
    }
}

/// The files of interest of the merged image.
#[derive(Debug, Default)]
pub(crate) struct View {
    /// Paths without a leading `/`.
    pub(crate) files: BTreeMap<String, Node>,
    /// Layer digests, bottom first.
    pub(crate) layers: Vec<String>,
    /// Problems met (truncated layers, oversized files), each naming the layer or file.
    pub(crate) warnings: Vec<String>,
    /// Metadata bytes read into memory so far (checked against `max_total_bytes`).
    kept_bytes: u64,
}

/// Normalises a tar path: no leading `./` or `/`, no trailing `/`; `None` for `..` or empty.
pub(crate) fn normalize(raw: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in raw.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

impl View {
    pub(crate) fn layer_digest(&self, layer: usize) -> String {
        self.layers.get(layer).cloned().unwrap_or_default()
    }

    /// Removes `path` and everything below it that lower layers (index < `layer`) kept.
    fn remove_tree(&mut self, path: &str, layer: usize) {
        if self.files.get(path).is_some_and(|n| n.layer < layer) {
            self.files.remove(path);
        }
        let prefix = format!("{path}/");
        let doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < layer)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.files.remove(&k);
        }
    }

    /// Removes everything below `dir` from lower layers (an opaque directory).
    fn remove_children(&mut self, dir: &str, layer: usize) {
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let doomed: Vec<String> = self
            .files
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(_, n)| n.layer < layer)
            .map(|(k, _)| k.clone())
            .collect();
        for k in doomed {
            self.files.remove(&k);
        }
    }

    /// The content of `path`, following symlinks inside the view only.
    pub(crate) fn resolve(&self, path: &str) -> Option<(&str, &Node)> {
        let mut cur = normalize(path)?;
        for _ in 0..MAX_SYMLINKS {
            let (key, node) = self.files.get_key_value(&cur)?;
            match &node.kept {
                Kept::Symlink(target) => {
                    let joined = if target.starts_with('/') {
                        target.clone()
                    } else {
                        match cur.rsplit_once('/') {
                            Some((dir, _)) => format!("{dir}/{target}"),
                            None => target.clone(),
                        }
                    };
                    cur = clamp(&joined)?;
                }
                _ => return Some((key.as_str(), node)),
            }
        }
        None
    }

    /// Reads one layer's entries into the view. A read error (truncated or corrupt layer)
    /// ends this layer with a warning; what was read so far stays.
    pub(crate) fn apply_layer(&mut self, layer: Layer<'_>, limits: &Limits) {
        let index = self.layers.len();
        self.layers.push(layer.digest.clone());
        let mut reader = BufReader::with_capacity(256 << 10, layer.reader);
        let (gz, zstd) = match reader.fill_buf() {
            Ok(b) => (b.starts_with(&[0x1f, 0x8b]), b.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])),
            Err(e) => {
                self.warnings.push(format!("layer {}: {e}", layer.digest));
                return;
            }
        };
        if zstd {
            self.warnings.push(format!("layer {} is zstd-compressed, which this scanner does not read; skipped", layer.digest));
            return;
        }
        let stream: Box<dyn Read + '_> = if gz { Box::new(flate2::bufread::GzDecoder::new(reader)) } else { Box::new(reader) };
        let mut archive = tar::Archive::new(stream);
        if let Err(e) = self.apply_entries(&mut archive, index, limits) {
            self.warnings.push(format!("layer {} is truncated or corrupt ({e}); the rest of it was not read", layer.digest));
        }
    }

    fn apply_entries<R: Read>(&mut self, archive: &mut tar::Archive<R>, index: usize, limits: &Limits) -> io::Result<()> {
        for entry in archive.entries()? {
            let mut entry = entry?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let Some(path) = normalize(&raw) else { continue };
            let kind = entry.header().entry_type();
            let (dir, name) = match path.rsplit_once('/') {
                Some((d, n)) => (d.to_owned(), n.to_owned()),
                None => (String::new(), path.clone()),
            };
            if name == OPAQUE_WHITEOUT {
                self.remove_children(&dir, index);
                continue;
            }
            if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
                let target = if dir.is_empty() { hidden.to_owned() } else { format!("{dir}/{hidden}") };
                self.remove_tree(&target, index);
                continue;
            }
            let size = entry.header().size().unwrap_or(0);
            let mode = entry.header().mode().unwrap_or(0);
            let kept = match kind {
                tar::EntryType::Symlink => {
                    let target = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
                    target.filter(|_| detect::keep_symlink(&path)).map(Kept::Symlink)
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    self.read_file(&path, mode, size, &mut entry, index, limits)?
                }
                _ => None,
            };
            match kept {
                Some(kept) => {
                    self.files.insert(path, Node { kept, layer: index });
                }
                // Whatever a lower layer kept here is replaced by something we do not keep.
                None => {
                    self.files.remove(&path);
                }
            }
        }
        Ok(())
    }

    fn read_file(&mut self, path: &str, mode: u32, size: u64, r: &mut dyn Read, index: usize, limits: &Limits) -> io::Result<Option<Kept>> {
        let interest = detect::interest(path, mode);
        match interest {
            Interest::None => Ok(None),
            Interest::Presence => Ok(Some(Kept::Present)),
            Interest::Metadata | Interest::Database => {
                let cap = if interest == Interest::Database { limits.max_binary_bytes } else { limits.max_metadata_bytes };
                if size > cap {
                    self.warnings.push(format!("{path}: {size} bytes, larger than the {cap}-byte limit; not read"));
                    return Ok(None);
                }
                if self.kept_bytes.saturating_add(size) > limits.max_total_bytes {
                    self.warnings.push(format!("{path}: the image's metadata exceeds {} bytes in all; not read", limits.max_total_bytes));
                    return Ok(None);
                }
                self.kept_bytes += size;
                Ok(Some(Kept::Bytes(read_exact_size(r, size)?)))
            }
            Interest::Executable | Interest::Archive => {
                let mut magic = [0u8; 4];
                let n = read_up_to(r, &mut magic)?;
                let is_elf = n == 4 && magic == *b"\x7fELF";
                let is_zip = n == 4 && magic == *b"PK\x03\x04";
                if !(is_elf || is_zip) {
                    return Ok(None);
                }
                if size > limits.max_binary_bytes {
                    self.warnings.push(format!("{path}: {size} bytes, larger than the {}-byte limit; not inspected", limits.max_binary_bytes));
                    return Ok(None);
                }
                let mut bytes = read_exact_size(r, size.saturating_sub(4))?;
                bytes.splice(0..0, magic);
                let digest = self.layer_digest(index);
                let loc = crate::package::Location { layer: digest, path: format!("/{path}") };
                let found = if is_elf {
                    detect::binary::packages(&bytes, &loc, &mut self.warnings)
                } else {
                    detect::java::packages(&bytes, &loc, limits, &mut self.warnings)
                };
                Ok((!found.is_empty()).then_some(Kept::Packages(found)))
            }
        }
    }
}

/// A path joined from a symlink, with `..` clamped at the root (as the kernel does inside a
/// chroot) so it can never name something outside the view.
fn clamp(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn read_up_to(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let Some(rest) = buf.get_mut(n..) else { break };
        match r.read(rest)? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Reads exactly the `size` bytes the header announced (the caller checked the cap).
fn read_exact_size(r: &mut dyn Read, size: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    r.take(size).read_to_end(&mut buf)?;
    Ok(buf)
}

/// Reads a rootfs directory as if it were one layer: symlinks are recorded, never followed,
/// and files are opened with `O_NOFOLLOW`.
pub(crate) fn apply_rootfs(view: &mut View, root: &std::path::Path, limits: &Limits) -> crate::Result<()> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let index = view.layers.len();
    view.layers.push(String::new());
    let root_dev = std::fs::symlink_metadata(root).map_err(crate::Error::io("stat", root))?.dev();
    let mut todo = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = todo.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) => {
                view.warnings.push(format!("{}: {e}", dir.display()));
                continue;
            }
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() { name } else { format!("{rel}/{name}") };
            let Ok(md) = std::fs::symlink_metadata(e.path()) else { continue };
            if md.is_dir() {
                // Mounts inside the rootfs (proc, sys) are not part of it.
                if md.dev() == root_dev {
                    todo.push((e.path(), path));
                }
            } else if md.file_type().is_symlink() {
                if detect::keep_symlink(&path) {
                    if let Ok(t) = std::fs::read_link(e.path()) {
                        view.files.insert(path, Node { kept: Kept::Symlink(t.to_string_lossy().into_owned()), layer: index });
                    }
                }
            } else if md.is_file() && !matches!(detect::interest(&path, md.mode()), Interest::None) {
                let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(e.path());
                let mut file = match file {
                    Ok(f) => f,
                    Err(err) => {
                        view.warnings.push(format!("{}: {err}", e.path().display()));
                        continue;
                    }
                };
                match view.read_file(&path, md.mode(), md.len(), &mut file, index, limits) {
                    Ok(Some(kept)) => {
                        view.files.insert(path, Node { kept, layer: index });
                    }
                    Ok(None) => {}
                    Err(err) => view.warnings.push(format!("{}: {err}", e.path().display())),
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_symlinks_stay_inside() {
        assert_eq!(normalize("./a//b/"), Some("a/b".into()));
        assert_eq!(normalize("a/../b"), None);
        assert_eq!(clamp("etc/../../../../usr/lib/os-release"), Some("usr/lib/os-release".into()));
        let mut v = View::default();
        v.files.insert("etc/os-release".into(), Node { kept: Kept::Symlink("../../../usr/lib/os-release".into()), layer: 0 });
        v.files.insert("usr/lib/os-release".into(), Node { kept: Kept::Bytes(b"ID=debian\n".to_vec()), layer: 0 });
        let (p, _) = v.resolve("/etc/os-release").unwrap();
        assert_eq!(p, "usr/lib/os-release");
        v.files.insert("loop".into(), Node { kept: Kept::Symlink("loop".into()), layer: 0 });
        assert!(v.resolve("loop").is_none());
    }
}
