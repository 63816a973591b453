use std::os::unix::fs::{MetadataExt, PermissionsExt};

use tar::{EntryType, Header};

use super::*;

/// Builds a tar in memory; names are written raw so hostile paths are possible.
struct Layer(tar::Builder<Vec<u8>>);

impl Layer {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn header(kind: EntryType, name: &str, mode: u32, size: u64) -> Header {
        let mut h = Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        let raw = &mut h.as_old_mut().name;
        raw.fill(0);
        raw[..name.len()].copy_from_slice(name.as_bytes());
        h
    }

    fn link_header(kind: EntryType, name: &str, target: &str) -> Header {
        let mut h = Self::header(kind, name, 0o777, 0);
        let raw = &mut h.as_old_mut().linkname;
        raw.fill(0);
        raw[..target.len()].copy_from_slice(target.as_bytes());
        h
    }

    fn file(mut self, name: &str, data: &[u8]) -> Self {
        self = self.file_owned(name, data, 0o644, 0, 0);
        self
    }

    fn file_owned(mut self, name: &str, data: &[u8], mode: u32, uid: u64, gid: u64) -> Self {
        let mut h = Self::header(EntryType::Regular, name, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    fn dir(mut self, name: &str) -> Self {
        let mut h = Self::header(EntryType::Directory, name, 0o755, 0);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn symlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::link_header(EntryType::Symlink, name, target);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn hardlink(mut self, name: &str, target: &str) -> Self {
        let mut h = Self::link_header(EntryType::Link, name, target);
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn device(mut self, name: &str) -> Self {
        let mut h = Self::header(EntryType::Char, name, 0o666, 0);
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
        h.set_cksum();
        self.0.append(&h, &[][..]).unwrap();
        self
    }

    fn bytes(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A scratch area holding `rootfs/` and, beside it, `outside/` which must stay empty.
struct Scratch {
    _dir: tempfile::TempDir,
    rootfs: PathBuf,
    outside: PathBuf,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let rootfs = dir.path().join("rootfs");
        let outside = dir.path().join("outside");
        fs::create_dir(&rootfs).unwrap();
        fs::create_dir(&outside).unwrap();
        Self { _dir: dir, rootfs, outside }
    }

    fn unpack(&self, layer: Layer) -> Result<UnpackStats, UnpackError> {
        unpack_layer(&layer.bytes()[..], &self.rootfs, &UnpackOptions::default())
    }

    fn assert_outside_untouched(&self) {
        let parent = self.rootfs.parent().unwrap();
        let mut names: Vec<_> = fs::read_dir(parent).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, vec![OsString::from("outside"), OsString::from("rootfs")]);
        assert_eq!(fs::read_dir(&self.outside).unwrap().count(), 0, "something was written outside the rootfs");
    }
}

#[test]
fn dotdot_entry_is_refused() {
    let s = Scratch::new();
    let err = s.unpack(Layer::new().file("../outside/pwned", b"x")).unwrap_err();
    assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
    let err = s.unpack(Layer::new().file("a/../../pwned", b"x")).unwrap_err();
    assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
    s.assert_outside_untouched();
}

#[test]
fn absolute_entry_is_refused() {
    let s = Scratch::new();
    let abs = format!("{}/pwned", s.outside.display());
    let err = s.unpack(Layer::new().file(&abs, b"x")).unwrap_err();
    assert!(matches!(err, UnpackError::PathEscape { .. }), "{err}");
    s.assert_outside_untouched();
}

#[test]
fn symlink_with_escaping_relative_target_is_refused() {
    let s = Scratch::new();
    let err = s.unpack(Layer::new().dir("a").symlink("a/evil", "../../outside")).unwrap_err();
    assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    assert!(fs::symlink_metadata(s.rootfs.join("a/evil")).is_err());
    s.assert_outside_untouched();
}

#[test]
fn symlink_escape_is_judged_from_its_real_directory() {
    let s = Scratch::new();
    // d1 -> / so d1/d2 is really <rootfs>/d2: "../../x" from there climbs out.
    let err = s
        .unpack(Layer::new().symlink("d1", "/").dir("d2").symlink("d1/d2/x", "../../outside"))
        .unwrap_err();
    assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    assert!(fs::symlink_metadata(s.rootfs.join("d2/x")).is_err());
    s.assert_outside_untouched();
}

#[test]
fn write_through_absolute_symlink_stays_in_rootfs() {
    let s = Scratch::new();
    let target = s.outside.display().to_string();
    s.unpack(Layer::new().symlink("evil", &target).file("evil/pwned", b"x")).unwrap();
    // Resolved as the container would see it: <rootfs>/<outside path>/pwned.
    let inside = s.rootfs.join(target.trim_start_matches('/')).join("pwned");
    assert_eq!(fs::read(inside).unwrap(), b"x");
    s.assert_outside_untouched();
}

#[test]
fn write_through_symlinked_dir_from_earlier_layer_is_refused() {
    let s = Scratch::new();
    // As if an earlier (unchecked) layer had left an escaping link behind.
    std::os::unix::fs::symlink("../outside", s.rootfs.join("lnk")).unwrap();
    let err = s.unpack(Layer::new().file("lnk/pwned", b"x")).unwrap_err();
    assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    // Deeper: a link chain through an inner directory.
    fs::create_dir(s.rootfs.join("d")).unwrap();
    std::os::unix::fs::symlink("../../outside", s.rootfs.join("d/up")).unwrap();
    let err = s.unpack(Layer::new().file("d/up/sub/pwned", b"x")).unwrap_err();
    assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    s.assert_outside_untouched();
}

#[test]
fn symlink_in_the_way_is_replaced_not_followed() {
    let s = Scratch::new();
    let victim = s.outside.join("victim");
    s.unpack(Layer::new().symlink("f", &victim.display().to_string())).unwrap();
    s.unpack(Layer::new().file("f", b"new")).unwrap();
    assert!(fs::symlink_metadata(s.rootfs.join("f")).unwrap().is_file());
    s.assert_outside_untouched();
}

#[test]
fn hardlink_escapes_are_refused() {
    let s = Scratch::new();
    fs::write(s.outside.join("..secret-probe"), b"s").unwrap();
    let err = s.unpack(Layer::new().hardlink("h", "../outside/..secret-probe")).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
    // Through a symlinked directory pointing at the host's /etc: resolves inside the rootfs,
    // where no passwd exists, so the link is refused rather than made to the host file.
    let err = s.unpack(Layer::new().symlink("etcl", "/etc").hardlink("h", "etcl/passwd")).unwrap_err();
    assert!(matches!(err, UnpackError::HardlinkEscape { .. }), "{err}");
    // Through a relative escaping link already on disk.
    std::os::unix::fs::symlink("../outside", s.rootfs.join("up")).unwrap();
    let err = s.unpack(Layer::new().hardlink("h2", "up/..secret-probe")).unwrap_err();
    assert!(matches!(err, UnpackError::SymlinkEscape { .. }), "{err}");
    assert_eq!(fs::metadata(s.outside.join("..secret-probe")).unwrap().nlink(), 1);
    fs::remove_file(s.outside.join("..secret-probe")).unwrap();
    s.assert_outside_untouched();
}

#[test]
fn hardlink_inside_rootfs_works() {
    let s = Scratch::new();
    s.unpack(Layer::new().file("bin/busybox", b"elf").hardlink("bin/sh", "bin/busybox")).unwrap();
    assert_eq!(fs::metadata(s.rootfs.join("bin/sh")).unwrap().nlink(), 2);
}

#[test]
fn device_nodes_are_refused() {
    let s = Scratch::new();
    let err = s.unpack(Layer::new().device("dev/null")).unwrap_err();
    assert!(matches!(err, UnpackError::DeviceNode { .. }), "{err}");
    assert!(fs::symlink_metadata(s.rootfs.join("dev/null")).is_err());
}

#[test]
fn whiteouts_remove_lower_content() {
    let s = Scratch::new();
    s.unpack(Layer::new().file("a/x", b"1").file("a/y", b"2").file("b/z", b"3").dir("c")).unwrap();
    let stats = s
        .unpack(Layer::new().file("a/.wh.x", b"").dir("b").file("b/.wh..wh..opq", b"").file("b/new", b"4").file(".wh.c", b""))
        .unwrap();
    assert_eq!(stats.whiteouts, 3);
    assert!(!s.rootfs.join("a/x").exists());
    assert!(s.rootfs.join("a/y").exists());
    assert!(!s.rootfs.join("b/z").exists());
    assert_eq!(fs::read(s.rootfs.join("b/new")).unwrap(), b"4");
    assert!(!s.rootfs.join("c").exists());
    assert!(!s.rootfs.join("a/.wh.x").exists());
    assert!(!s.rootfs.join("b/.wh..wh..opq").exists());
}

#[test]
fn whiteout_cannot_name_parent() {
    let s = Scratch::new();
    let err = s.unpack(Layer::new().file(".wh...", b"")).unwrap_err();
    assert!(matches!(err, UnpackError::BadWhiteout { .. }), "{err}");
}

#[test]
fn ownership_and_setuid_bits_follow_the_header() {
    let s = Scratch::new();
    s.unpack(
        Layer::new()
            .file_owned("bin/su", b"x", 0o4755, 1234, 5678)
            .file_owned("bin/wall", b"x", 0o2755, 0, 5)
            .file_owned("etc/plain", b"x", 0o640, 7, 8),
    )
    .unwrap();
    let su = fs::metadata(s.rootfs.join("bin/su")).unwrap();
    assert_eq!(su.permissions().mode() & 0o7777, 0o4755);
    assert_eq!((su.uid(), su.gid()), (1234, 5678));
    let wall = fs::metadata(s.rootfs.join("bin/wall")).unwrap();
    assert_eq!(wall.permissions().mode() & 0o7777, 0o2755);
    let plain = fs::metadata(s.rootfs.join("etc/plain")).unwrap();
    assert_eq!(plain.permissions().mode() & 0o7777, 0o640);
    assert_eq!((plain.uid(), plain.gid()), (7, 8));
}

#[test]
fn id_shift_maps_owners_into_host_range() {
    let s = Scratch::new();
    let opts = UnpackOptions { id_shift: Some(IdShift { host_uid: 100_000, host_gid: 200_000, size: 65536 }) };
    unpack_layer(&Layer::new().file_owned("f", b"x", 0o644, 3, 4).bytes()[..], &s.rootfs, &opts).unwrap();
    let md = fs::metadata(s.rootfs.join("f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (100_003, 200_004));
    let err = unpack_layer(&Layer::new().file_owned("g", b"x", 0o644, 70_000, 0).bytes()[..], &s.rootfs, &opts).unwrap_err();
    assert!(matches!(err, UnpackError::IdOutOfRange { .. }), "{err}");
}

#[test]
fn gzip_layers_are_detected() {
    let s = Scratch::new();
    let raw = Layer::new().file("hello", b"world").bytes();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let path = s.outside.parent().unwrap().join("layer.tgz");
    fs::write(&path, gz.finish().unwrap()).unwrap();
    let stats = unpack_layer_file(&path, &s.rootfs, &UnpackOptions::default()).unwrap();
    assert_eq!(fs::read(s.rootfs.join("hello")).unwrap(), b"world");
    // The diff_id is the digest of the uncompressed stream.
    assert_eq!(stats.diff_id, Some(crate::ids::Digest::sha256_of(&raw)));
}
