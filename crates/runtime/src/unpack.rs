//! Safe layer unpacking.
//!
//! A layer is a (possibly gzip-compressed) tar stream applied on top of a rootfs directory.
//! Layers are untrusted input, so every entry is checked before anything is written:
//!
//! - entry paths must be relative and must not contain `..` (absolute paths and `..` are
//!   refused with [`UnpackError::PathEscape`]);
//! - every parent component is resolved *inside* the rootfs, following symlinks the way the
//!   kernel would inside the container (absolute targets restart at the rootfs, never at the
//!   host root); a symlink that would climb above the rootfs fails with
//!   [`UnpackError::SymlinkEscape`];
//! - new symlinks whose relative target climbs above the rootfs are refused; hard links must
//!   name an existing non-directory inside the rootfs;
//! - device nodes and other special files are refused;
//! - the last path component is never followed: an existing file, link or directory in the
//!   way is removed first, so a write can never go through a link;
//! - OCI whiteouts (`.wh.<name>`, `.wh..wh..opq`) delete lower-layer content;
//! - ownership (optionally shifted for user namespaces) and the full mode, including
//!   setuid/setgid/sticky bits exactly as the header gives them, are applied.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use tar::EntryType;

/// Maximum number of symlinks followed while resolving one path (as Linux's MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

const WHITEOUT_PREFIX: &str = ".wh.";
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";

/// Why a layer could not be unpacked.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The layer contains a block or character device node.
    #[error("layer entry {path:?} is a device node; refused")]
    DeviceNode {
        /// Entry path in the layer.
        path: String,
    },
    /// A hard link points outside the rootfs or at something that cannot be linked.
    #[error("layer entry {path:?} is a hard link to {target:?} that escapes the rootfs or does not exist")]
    HardlinkEscape {
        /// Entry path in the layer.
        path: String,
        /// Link target.
        target: String,
    },
    /// The id shift for user namespaces cannot represent the entry's owner.
    #[error("layer entry {path:?} is owned by {uid}:{gid}, outside the mapped id range")]
    IdOutOfRange {
        /// Entry path in the layer.
        path: String,
        /// Owner uid in the layer.
        uid: u64,
        /// Owner gid in the layer.
        gid: u64,
    },
    /// Reading the layer or writing the rootfs failed.
    #[error("unpacking {path:?}: {source}")]
    Io {
        /// Entry path or file involved.
        path: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// An entry path is absolute or contains `..`.
    #[error("layer entry {path:?} escapes the rootfs (absolute path or '..')")]
    PathEscape {
        /// Entry path in the layer.
        path: String,
    },
    /// A symlink (new or already in the rootfs) leads outside the rootfs.
    #[error("layer entry {path:?}: symlink to {target:?} escapes the rootfs")]
    SymlinkEscape {
        /// Entry path in the layer.
        path: String,
        /// The offending link target.
        target: String,
    },
    /// Too many symlinks while resolving a path.
    #[error("layer entry {path:?}: too many levels of symbolic links")]
    SymlinkLoop {
        /// Entry path in the layer.
        path: String,
    },
    /// The entry type is not supported (fifo, sparse file, ...).
    #[error("layer entry {path:?} has unsupported type {kind}")]
    UnsupportedEntry {
        /// Entry path in the layer.
        path: String,
        /// Tar entry type.
        kind: String,
    },
    /// A whiteout entry is malformed.
    #[error("layer entry {path:?} is a malformed whiteout")]
    BadWhiteout {
        /// Entry path in the layer.
        path: String,
    },
}

fn io_err(path: &str) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io { path: path.to_owned(), source }
}

/// A shift applied to file owners, for user-namespace remapping: container id `n` is stored
/// as host id `host_start + n`.
///
/// Invariant: `size > 0`; ids `>= size` are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdShift {
    /// First host uid of the range.
    pub host_uid: u32,
    /// First host gid of the range.
    pub host_gid: u32,
    /// Number of ids in the range.
    pub size: u32,
}

/// Options for [`unpack_layer`].
#[derive(Clone, Debug, Default)]
pub struct UnpackOptions {
    /// Shift owners into a user-namespace host range.
    pub id_shift: Option<IdShift>,
}

/// What one unpack did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Entries written (files, dirs, links).
    pub written: u64,
    /// Whiteouts applied.
    pub whiteouts: u64,
    /// sha256 of the uncompressed tar stream (the layer's OCI `diff_id`).
    pub diff_id: Option<crate::ids::Digest>,
}

/// Hashes everything read through it.
struct HashingReader<R> {
    inner: R,
    hasher: sha2::Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        sha2::Digest::update(&mut self.hasher, buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Unpacks a layer file (gzip-compressed or plain tar, detected from its first bytes).
pub fn unpack_layer_file(layer: &Path, rootfs: &Path, opts: &UnpackOptions) -> Result<UnpackStats, UnpackError> {
    let name = layer.display().to_string();
    let file = File::open(layer).map_err(io_err(&name))?;
    let mut reader = BufReader::new(file);
    let gz = reader.fill_buf().map_err(io_err(&name))?.starts_with(&[0x1f, 0x8b]);
    if gz {
        unpack_layer(flate2::read::GzDecoder::new(reader), rootfs, opts)
    } else {
        unpack_layer(reader, rootfs, opts)
    }
}

/// Unpacks an uncompressed tar stream into `rootfs` (which must exist).
///
/// On error, the rootfs may hold part of the layer but nothing has been written outside it.
pub fn unpack_layer<R: Read>(layer: R, rootfs: &Path, opts: &UnpackOptions) -> Result<UnpackStats, UnpackError> {
    let mut archive = tar::Archive::new(HashingReader { inner: layer, hasher: sha2::Sha256::default() });
    let mut stats = apply_entries(&mut archive, rootfs, opts)?;
    // Hash whatever follows the end-of-archive marker too, so the digest covers the stream.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(io_err("<layer>"))?;
    stats.diff_id = Some(crate::ids::Digest::from_sha256(rest.hasher));
    Ok(stats)
}

fn apply_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    rootfs: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let mut stats = UnpackStats::default();
    let mut created: HashSet<PathBuf> = HashSet::new();
    let entries = archive.entries().map_err(io_err("<layer>"))?;
    for entry in entries {
        let mut entry = entry.map_err(io_err("<layer>"))?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let comps = entry_components(&raw)?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink) {
            continue;
        }
        let Some((name, parent_comps)) = comps.split_last() else {
            // The layer root itself: only metadata of "./" applies.
            if kind == EntryType::Directory {
                apply_metadata(rootfs, entry.header(), &raw, opts)?;
            }
            continue;
        };
        let parent = resolve_in_root(rootfs, parent_comps, &raw)?;
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE_WHITEOUT {
            opaque_whiteout(&parent, &created, &raw)?;
            stats.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.is_empty() || hidden == "." || hidden == ".." || hidden.contains('/') {
                return Err(UnpackError::BadWhiteout { path: raw });
            }
            remove_any(&parent.join(hidden), &raw)?;
            stats.whiteouts += 1;
            continue;
        }
        let target = parent.join(name);
        match kind {
            EntryType::Char | EntryType::Block => return Err(UnpackError::DeviceNode { path: raw }),
            EntryType::Directory | EntryType::Regular | EntryType::Continuous | EntryType::Symlink | EntryType::Link => {}
            other => {
                return Err(UnpackError::UnsupportedEntry { path: raw, kind: format!("{other:?}") });
            }
        }
        // Validate link targets before touching the filesystem.
        let link = match kind {
            EntryType::Symlink | EntryType::Link => {
                let link_name = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .ok_or_else(|| UnpackError::UnsupportedEntry { path: raw.clone(), kind: "link without target".into() })?;
                Some(link_name)
            }
            _ => None,
        };
        ensure_dir(&parent, &raw)?;
        match (kind, link) {
            (EntryType::Directory, _) => {
                match fs::symlink_metadata(&target) {
                    Ok(md) if md.is_dir() => {}
                    Ok(_) => {
                        remove_any(&target, &raw)?;
                        fs::create_dir(&target).map_err(io_err(&raw))?;
                    }
                    Err(_) => fs::create_dir(&target).map_err(io_err(&raw))?,
                }
                apply_metadata(&target, entry.header(), &raw, opts)?;
            }
            (EntryType::Symlink, Some(link)) => {
                // Depth of the link's real directory (after resolving symlinks on the way).
                let depth = parent.strip_prefix(rootfs).map(|p| p.components().count()).unwrap_or(0);
                check_symlink_target(depth, &link, &raw)?;
                remove_any(&target, &raw)?;
                std::os::unix::fs::symlink(&link, &target).map_err(io_err(&raw))?;
                apply_owner(&target, entry.header(), &raw, opts)?;
            }
            (EntryType::Link, Some(link)) => {
                let escape = || UnpackError::HardlinkEscape { path: raw.clone(), target: link.clone() };
                let link_comps = entry_components(link.trim_start_matches('/')).map_err(|_| escape())?;
                let Some((link_name, link_parent)) = link_comps.split_last() else {
                    return Err(escape());
                };
                let source = resolve_in_root(rootfs, link_parent, &raw)?.join(link_name);
                match fs::symlink_metadata(&source) {
                    Ok(md) if !md.is_dir() => {}
                    _ => return Err(escape()),
                }
                if source != target {
                    remove_any(&target, &raw)?;
                    // linkat(2) without AT_SYMLINK_FOLLOW: links the entry itself, never what a
                    // symlink points to.
                    fs::hard_link(&source, &target).map_err(io_err(&raw))?;
                }
            }
            _ => {
                remove_any(&target, &raw)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                    .open(&target)
                    .map_err(io_err(&raw))?;
                io::copy(&mut entry, &mut file).map_err(io_err(&raw))?;
                if let Ok(mtime) = entry.header().mtime() {
                    let _ = file.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(mtime));
                }
                drop(file);
                apply_metadata(&target, entry.header(), &raw, opts)?;
            }
        }
        created.insert(target);
        stats.written += 1;
    }
    Ok(stats)
}

/// Splits a layer entry path into normal components, refusing absolute paths and `..`.
pub(crate) fn entry_components(raw: &str) -> Result<Vec<OsString>, UnpackError> {
    let mut out = Vec::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::PathEscape { path: raw.to_owned() })
            }
        }
    }
    Ok(out)
}

/// Resolves `comps` inside `root`, following every symlink with `root` as the filesystem
/// root. Components that do not exist yet are appended as they are. Never returns a path
/// outside `root`.
pub(crate) fn resolve_in_root(root: &Path, comps: &[OsString], entry: &str) -> Result<PathBuf, UnpackError> {
    let mut todo: VecDeque<OsString> = comps.iter().cloned().collect();
    let mut stack: Vec<OsString> = Vec::new();
    let mut links = 0usize;
    let mut missing = false;
    while let Some(comp) = todo.pop_front() {
        if comp == OsStr::new(".") || comp.is_empty() {
            continue;
        }
        if comp == OsStr::new("..") {
            if stack.pop().is_none() {
                return Err(UnpackError::SymlinkEscape { path: entry.to_owned(), target: "..".into() });
            }
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(stack.iter());
        candidate.push(&comp);
        if !missing {
            match fs::symlink_metadata(&candidate) {
                Ok(md) if md.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(UnpackError::SymlinkLoop { path: entry.to_owned() });
                    }
                    let target = fs::read_link(&candidate).map_err(io_err(entry))?;
                    if target.is_absolute() {
                        stack.clear();
                    }
                    let mut prefix: Vec<OsString> = Vec::new();
                    for c in target.components() {
                        match c {
                            Component::Normal(n) => prefix.push(n.to_owned()),
                            Component::ParentDir => prefix.push("..".into()),
                            _ => {}
                        }
                    }
                    for c in prefix.into_iter().rev() {
                        todo.push_front(c);
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => missing = true,
                Err(e) => return Err(UnpackError::Io { path: entry.to_owned(), source: e }),
            }
        }
        stack.push(comp);
    }
    let mut out = root.to_path_buf();
    out.extend(stack.iter());
    debug_assert!(out.starts_with(root));
    Ok(out)
}

/// A new symlink in a directory `depth` levels below the rootfs, pointing at `target`, must not
/// climb above the rootfs when its relative target is applied lexically to that directory.
/// Absolute targets are interpreted inside the container's root and are allowed.
pub(crate) fn check_symlink_target(depth: usize, target: &str, entry: &str) -> Result<(), UnpackError> {
    if target.is_empty() {
        return Err(UnpackError::SymlinkEscape { path: entry.to_owned(), target: target.to_owned() });
    }
    if target.starts_with('/') {
        return Ok(());
    }
    let mut depth = depth;
    for c in Path::new(target).components() {
        match c {
            Component::ParentDir => {
                if depth == 0 {
                    return Err(UnpackError::SymlinkEscape { path: entry.to_owned(), target: target.to_owned() });
                }
                depth -= 1;
            }
            Component::Normal(_) => depth += 1,
            _ => {}
        }
    }
    Ok(())
}

fn ensure_dir(dir: &Path, entry: &str) -> Result<(), UnpackError> {
    match fs::symlink_metadata(dir) {
        Ok(md) if md.is_dir() => Ok(()),
        Ok(_) => Err(UnpackError::Io {
            path: entry.to_owned(),
            source: io::Error::new(io::ErrorKind::NotADirectory, "parent is not a directory"),
        }),
        // The resolved path has no symlinks left, so creating it cannot leave the rootfs.
        Err(_) => fs::create_dir_all(dir).map_err(io_err(entry)),
    }
}

fn remove_any(path: &Path, entry: &str) -> Result<(), UnpackError> {
    match fs::symlink_metadata(path) {
        Ok(md) if md.is_dir() => fs::remove_dir_all(path).map_err(io_err(entry)),
        Ok(_) => fs::remove_file(path).map_err(io_err(entry)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(UnpackError::Io { path: entry.to_owned(), source: e }),
    }
}

fn opaque_whiteout(dir: &Path, created: &HashSet<PathBuf>, entry: &str) -> Result<(), UnpackError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(UnpackError::Io { path: entry.to_owned(), source: e }),
    };
    for child in rd {
        let child = child.map_err(io_err(entry))?.path();
        if !created.contains(&child) {
            remove_any(&child, entry)?;
        }
    }
    Ok(())
}

fn shifted_owner(header: &tar::Header, entry: &str, opts: &UnpackOptions) -> Result<(u32, u32), UnpackError> {
    let uid = header.uid().map_err(io_err(entry))?;
    let gid = header.gid().map_err(io_err(entry))?;
    let out_of_range = || UnpackError::IdOutOfRange { path: entry.to_owned(), uid, gid };
    match opts.id_shift {
        None => Ok((u32::try_from(uid).map_err(|_| out_of_range())?, u32::try_from(gid).map_err(|_| out_of_range())?)),
        Some(s) => {
            if uid >= u64::from(s.size) || gid >= u64::from(s.size) {
                return Err(out_of_range());
            }
            let u = u64::from(s.host_uid) + uid;
            let g = u64::from(s.host_gid) + gid;
            Ok((u32::try_from(u).map_err(|_| out_of_range())?, u32::try_from(g).map_err(|_| out_of_range())?))
        }
    }
}

fn apply_owner(path: &Path, header: &tar::Header, entry: &str, opts: &UnpackOptions) -> Result<(), UnpackError> {
    let (uid, gid) = shifted_owner(header, entry, opts)?;
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_err(entry))
}

/// Owner first (chown clears setuid/setgid), then the mode exactly as the header has it.
fn apply_metadata(path: &Path, header: &tar::Header, entry: &str, opts: &UnpackOptions) -> Result<(), UnpackError> {
    apply_owner(path, header, entry, opts)?;
    let mode = header.mode().map_err(io_err(entry))? & 0o7777;
    fs::set_permissions(path, Permissions::from_mode(mode)).map_err(io_err(entry))
}

#[cfg(test)]
mod tests;
