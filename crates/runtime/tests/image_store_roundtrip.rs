//! The image store loads docker archives, OCI archives and OCI layouts, lists them, and
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! removes images together with the blobs nothing else uses.

mod common;

use std::fs;

use palisade_runtime::{Error, ImageStore};

fn blob_count(root: &std::path::Path) -> usize {
    fs::read_dir(root.join("images/blobs/sha256")).unwrap().count()
}

#[test]
fn docker_archive_loads_lists_and_removes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&tmp.path().join("root")).unwrap();
    let archive = common::docker_archive(tmp.path(), "busybox:test");
    let loaded = store.load(&archive, None).unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].references[0].as_str(), "busybox:test");
    let listed = store.list().unwrap();
    assert_eq!(listed, loaded);
    let image = store.inspect("busybox:test").unwrap();
    assert_eq!(image.layers.len(), 1);
    assert!(image.layers[0].exists());
    assert_eq!(store.inspect(&image.summary.id.as_str()[7..19]).unwrap().summary.id, image.summary.id);
    assert_eq!(blob_count(&tmp.path().join("root")), 3);

    let removed = store.remove("busybox:test").unwrap();
    assert_eq!(removed.deleted, vec![image.summary.id.clone()]);
    assert_eq!(removed.blobs_removed, 3);
    assert!(store.list().unwrap().is_empty());
    assert_eq!(blob_count(&tmp.path().join("root")), 0);
    assert!(matches!(store.inspect("busybox:test"), Err(Error::ImageNotFound(_))));
}

#[test]
fn oci_layout_and_archive_load_and_share_blobs() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let store = ImageStore::open(&root).unwrap();
    let layout = common::oci_layout(tmp.path(), "v1");
    let name = "example.com/bb:latest".parse().unwrap();
    let a = store.load(&layout, Some(&name)).unwrap();
    assert_eq!(a[0].references[0].as_str(), "example.com/bb:v1");
    let archive = common::oci_archive(&layout, &tmp.path().join("oci.tar"));
    let other = "other/bb".parse().unwrap();
    let b = store.load(&archive, Some(&other)).unwrap();
    // Same manifest: one image with both names, blobs stored once.
    assert_eq!(a[0].manifest, b[0].manifest);
    assert_eq!(store.list().unwrap().len(), 1);
    assert_eq!(blob_count(&root), 3);
    // Removing one name keeps the image and its blobs.
    let r = store.remove("example.com/bb:v1").unwrap();
    assert!(r.deleted.is_empty());
    assert_eq!(blob_count(&root), 3);
    store.remove("other/bb:v1").unwrap();
    assert_eq!(blob_count(&root), 0);
}

#[test]
fn tampered_oci_blob_is_rejected_and_nothing_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&tmp.path().join("root")).unwrap();
    let layout = common::oci_layout(tmp.path(), "example.com/bb:v1");
    // Corrupt the largest blob (the layer).
    let blobs = layout.join("blobs/sha256");
    let mut largest = None;
    for e in fs::read_dir(&blobs).unwrap() {
        let e = e.unwrap();
        let len = e.metadata().unwrap().len();
        if largest.as_ref().is_none_or(|(l, _)| len > *l) {
            largest = Some((len, e.path()));
        }
    }
    let (_, p) = largest.unwrap();
    let mut bytes = fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(&p, bytes).unwrap();
    let err = store.load(&layout, None).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn garbage_archive_is_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let store = ImageStore::open(&tmp.path().join("root")).unwrap();
    let p = tmp.path().join("x.tar");
    let mut b = tar::Builder::new(fs::File::create(&p).unwrap());
    let mut h = tar::Header::new_gnu();
    h.set_size(2);
    b.append_data(&mut h, "hello.txt", &b"hi"[..]).unwrap();
    b.finish().unwrap();
    let err = store.load(&p, None).unwrap_err();
    assert!(matches!(err, Error::ArchiveFormat { .. }), "{err}");
}
