//! Layers are merged as a container runtime would: a package deleted in an upper layer (a
//! whiteout or an opaque directory) is not reported, a package rewritten upstairs is reported
//! from the layer that wrote it last; each finding names that layer and the path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use palisade_scan::{Ecosystem, Scanner};

fn meta(n: &str, v: &str) -> Vec<u8> {
    format!("Metadata-Version: 2.1\nName: {n}\nVersion: {v}\n\n").into_bytes()
}

#[test]
fn whiteouts_and_opaque_dirs_remove_lower_packages() {
    let sp = "usr/lib/python3/site-packages";
    let base = LayerBuilder::new()
        .file("etc/os-release", DEBIAN_OS_RELEASE)
        .file(&format!("{sp}/removed-1.0.dist-info/METADATA"), &meta("removed", "1.0"))
        .file(&format!("{sp}/kept-1.0.dist-info/METADATA"), &meta("kept", "1.0"))
        .file(&format!("{sp}/upgraded-1.0.dist-info/METADATA"), &meta("upgraded", "1.0"))
        .file("opt/app/node_modules/left-pad/package.json", br#"{"name":"left-pad","version":"1.0.0"}"#)
        .file("var/lib/dpkg/status", (dpkg_entry("curl", "7.88.1-10", None) + &dpkg_entry("wget", "1.21.3-1", None)).as_bytes())
        .tar();
    let upper = LayerBuilder::new()
        .whiteout(&format!("{sp}/removed-1.0.dist-info"))
        .whiteout(&format!("{sp}/upgraded-1.0.dist-info"))
        .file(&format!("{sp}/upgraded-2.0.dist-info/METADATA"), &meta("upgraded", "2.0"))
        .opaque("opt/app/node_modules")
        // The status file rewritten without wget (apt-get purge wget).
        .file("var/lib/dpkg/status", dpkg_entry("curl", "7.88.1-10", None).as_bytes())
        .tar();
    let dir = tmp();
    for (name, digests) in [
        ("docker.tar", None),
        ("oci.tar", Some(())),
    ] {
        let archive = path(&dir, name);
        let layer_ids = match digests {
            None => docker_archive(&archive, &[base.clone(), upper.clone()]),
            Some(()) => oci_archive(&archive, &[base.clone(), upper.clone()]),
        };
        let inv = Scanner::new().archive(&archive).unwrap();
        let got: Vec<(String, String, String, String)> = inv
            .packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone(), p.location.layer.clone(), p.location.path.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("curl".to_owned(), "7.88.1-10".to_owned(), layer_ids[1].clone(), "/var/lib/dpkg/status".to_owned()),
                ("kept".into(), "1.0".into(), layer_ids[0].clone(), format!("/{sp}/kept-1.0.dist-info/METADATA")),
                ("upgraded".into(), "2.0".into(), layer_ids[1].clone(), format!("/{sp}/upgraded-2.0.dist-info/METADATA")),
            ],
            "{name}"
        );
        assert_eq!(inv.layers, layer_ids, "{name}");
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
        assert_eq!(inv.os.as_ref().map(|o| o.id.as_str()), Some("debian"));
    }
}

#[test]
fn os_release_symlink_resolves_inside_the_image_only() {
    // Debian links /etc/os-release to ../usr/lib/os-release; a hostile link climbing out is
    // clamped at the image root and never reaches the host's file.
    let good = LayerBuilder::new().symlink("etc/os-release", "../usr/lib/os-release").file("usr/lib/os-release", DEBIAN_OS_RELEASE).tar();
    let hostile = LayerBuilder::new().symlink("etc/os-release", "../../../../../../etc/os-release").tar();
    let dir = tmp();
    let a = path(&dir, "a.tar");
    docker_archive(&a, &[good]);
    assert_eq!(Scanner::new().archive(&a).unwrap().os.unwrap().version_id, "12");
    let b = path(&dir, "b.tar");
    docker_archive(&b, &[hostile]);
    assert_eq!(Scanner::new().archive(&b).unwrap().os, None, "a self-referencing link resolves to nothing");
}

#[test]
fn rootfs_symlinks_are_not_followed_out_of_the_tree() {
    let dir = tmp();
    let root = dir.path().join("rootfs");
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/python3/site-packages")).unwrap();
    // Both point at real files of the host that hold packages.
    std::os::unix::fs::symlink("/var/lib/dpkg/status", root.join("var/lib/dpkg/status")).unwrap();
    std::os::unix::fs::symlink("/usr/lib/python3/dist-packages", root.join("usr/lib/python3/site-packages/host")).unwrap();
    std::fs::write(root.join("usr/lib/python3/site-packages/own-1.0.dist-info"), b"").unwrap();
    std::fs::create_dir_all(root.join("usr/lib/python3/site-packages/own-1.0.dist-info.d")).unwrap();
    std::fs::create_dir_all(root.join("usr/lib/python3/site-packages/real-2.0.dist-info")).unwrap();
    std::fs::write(root.join("usr/lib/python3/site-packages/real-2.0.dist-info/METADATA"), meta("real", "2.0")).unwrap();
    let inv = Scanner::new().rootfs(&root).unwrap();
    let names: Vec<_> = inv.packages.iter().map(|p| (p.ecosystem, p.name.as_str())).collect();
    assert_eq!(names, [(Ecosystem::PyPI, "real")]);
}
