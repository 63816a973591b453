//! The daemon can tell a data root on an ext4 without a journal (where creating containers
//! slows down as they churn) from one with a journal: real file systems on loop devices.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use palisade_runtime::on_ext4_without_journal;

/// A fresh ext4 (made with `mkfs_options`) loop-mounted at `<dir>/<name>`, unmounted on drop.
struct LoopExt4(PathBuf);

impl LoopExt4 {
    fn new(dir: &Path, name: &str, mkfs_options: &[&str]) -> Self {
        let image = dir.join(format!("{name}.img"));
        std::fs::File::create(&image).unwrap().set_len(64 << 20).unwrap();
        let made = Command::new("mkfs.ext4").args(["-q", "-F"]).args(mkfs_options).arg(&image).status().unwrap();
        assert!(made.success(), "mkfs.ext4 {mkfs_options:?}");
        let mountpoint = dir.join(name);
        std::fs::create_dir(&mountpoint).unwrap();
        let mounted = Command::new("mount").args(["-o", "loop"]).arg(&image).arg(&mountpoint).status().unwrap();
        assert!(mounted.success(), "mount -o loop {}", image.display());
        Self(mountpoint)
    }
}

impl Drop for LoopExt4 {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn an_ext4_without_a_journal_is_told_from_one_with_a_journal() {
    common::require("mkfs.ext4");
    assert!(nix::unistd::geteuid().is_root(), "loop-mounting a file system needs root");
    let tmp = tempfile::tempdir().unwrap();
    let plain = LoopExt4::new(tmp.path(), "without-journal", &["-O", "^has_journal"]);
    let journaled = LoopExt4::new(tmp.path(), "with-journal", &[]);
    let data_root = plain.0.join("data");
    std::fs::create_dir(&data_root).unwrap();
    assert!(on_ext4_without_journal(&data_root));
    assert!(!on_ext4_without_journal(&journaled.0));
    // Not ext4 at all.
    assert!(!on_ext4_without_journal(Path::new("/proc")));
}
