//! Prepared root filesystems: every image is unpacked once (layers applied through the safe
//! unpacker, each checked against its `diff_id`) into a directory that containers only ever
//! use as the read-only lower layer of their own overlay.
//!
//! ```text
//! <root>/images/rootfs/<config hex>                     the image's rootfs
//! <root>/images/rootfs/<config hex>-<uid>-<gid>-<size>  the same with owners shifted for a
//!                                                       --userns range (made on first use)
//! ```

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::PathBuf;

use super::store::{set_mode, ImageStore};
use super::Image;
use crate::error::{Error, Result};
use crate::ids::Digest;
use crate::unpack::{unpack_layer_file, IdShift, UnpackOptions};

const ROOTFS_DIR: &str = "rootfs";

fn dir_name(id: &Digest, shift: Option<IdShift>) -> String {
    match shift {
        None => id.hex().to_owned(),
        Some(s) => format!("{}-{}-{}-{}", id.hex(), s.host_uid, s.host_gid, s.size),
    }
}

impl ImageStore {
    pub(crate) fn rootfs_root(&self) -> PathBuf {
        self.dir().join(ROOTFS_DIR)
    }

    /// The prepared rootfs of `image` (owners shifted by `shift`), unpacking it first if it
    /// does not exist yet. Fails, leaving nothing behind, when a layer is unsafe or does not
    /// match the `diff_id` its config names.
    pub fn prepared_rootfs(&self, image: &Image, shift: Option<IdShift>) -> Result<PathBuf> {
        let dest = self.rootfs_root().join(dir_name(&image.summary.id, shift));
        if dest.is_dir() {
            return Ok(dest);
        }
        let diff_ids = image.config.rootfs().diff_ids();
        if diff_ids.len() != image.layers.len() {
            return Err(Error::Unsupported(format!(
                "image config lists {} diff_ids for {} layers",
                diff_ids.len(),
                image.layers.len()
            )));
        }
        let staging = tempfile::Builder::new()
            .prefix("rootfs-")
            .tempdir_in(self.tmp_dir())
            .map_err(Error::io("create staging dir", self.tmp_dir()))?;
        let rootfs = staging.path().join("rootfs");
        fs::create_dir(&rootfs).map_err(Error::io("create", &rootfs))?;
        set_mode(&rootfs, 0o755)?;
        let unpack = UnpackOptions { id_shift: shift };
        if let Some(s) = shift {
            std::os::unix::fs::chown(&rootfs, Some(s.host_uid), Some(s.host_gid)).map_err(Error::io("chown", &rootfs))?;
        }
        for (layer, want) in image.layers.iter().zip(diff_ids) {
            let stats = unpack_layer_file(layer, &rootfs, &unpack)?;
            let got = stats.diff_id.map(|d| d.to_string()).unwrap_or_default();
            if &got != want {
                return Err(Error::DigestMismatch { expected: want.clone(), actual: got });
            }
        }
        let parent = self.rootfs_root();
        fs::create_dir_all(&parent).map_err(Error::io("create", &parent))?;
        match fs::rename(&rootfs, &dest) {
            Ok(()) => Ok(dest),
            // Prepared concurrently by another store handle: theirs is as good as ours.
            Err(e) if dest.is_dir() && matches!(e.kind(), io::ErrorKind::AlreadyExists | io::ErrorKind::DirectoryNotEmpty) => {
                Ok(dest)
            }
            Err(e) => Err(Error::Io { op: "store rootfs", path: dest, source: e }),
        }
    }

    /// Deletes prepared root filesystems of images not in `keep` (by image id). Returns how
    /// many went.
    pub(crate) fn gc_rootfs(&self, keep: &HashSet<Digest>) -> Result<usize> {
        let parent = self.rootfs_root();
        let entries = match fs::read_dir(&parent) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::Io { op: "read", path: parent, source: e }),
        };
        let mut removed = 0;
        for e in entries {
            let e = e.map_err(Error::io("read", &parent))?;
            let name = e.file_name().to_string_lossy().into_owned();
            let hex = name.split('-').next().unwrap_or_default();
            let used = format!("sha256:{hex}").parse::<Digest>().is_ok_and(|d| keep.contains(&d));
            if !used {
                fs::remove_dir_all(e.path()).map_err(Error::io("remove rootfs", e.path()))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
