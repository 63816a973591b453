//! What the data root's file system means for containers, for the daemon to tell operators.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether `path` lies on an ext4 file system without a journal.
///
/// On one, every new inode is searched for past all inodes freed in the last minutes (ext4
/// checks `recently_deleted` only when it has no journal), and each container makes and later
/// frees about a dozen inodes of its writable layer and logs: creating containers slows down
/// the more of them come and go. ext4 shows whether a mounted file system has a journal in
/// `/sys/fs/ext4/<device>/journal_task` (`<none>` without one).
pub fn on_ext4_without_journal(path: &Path) -> bool {
    const EXT4_SUPER_MAGIC: nix::libc::c_long = 0xEF53;
    let is_ext4 = nix::sys::statfs::statfs(path).is_ok_and(|fs| fs.filesystem_type().0 == EXT4_SUPER_MAGIC);
    if !is_ext4 {
        return false;
    }
    let Ok(dev) = std::fs::metadata(path).map(|m| m.dev()) else { return false };
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    let Some(device) = std::fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent"))
        .ok()
        .and_then(|uevent| uevent.lines().find_map(|l| l.strip_prefix("DEVNAME=")).map(str::to_owned))
    else {
        return false;
    };
    std::fs::read_to_string(Path::new("/sys/fs/ext4").join(device).join("journal_task")).is_ok_and(|t| t.trim() == "<none>")
}
