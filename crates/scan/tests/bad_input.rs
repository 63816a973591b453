//! Bad input gets a warning (or an error) naming the file, and the rest of the scan or
//! import goes on: truncated layers, a corrupt status file, malformed OSV records, oversized
//! files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;

use common::*;
use palisade_scan::{AdvisoryDb, Limits, Scanner};

#[test]
fn truncated_layer_is_a_warning_and_other_layers_are_read() {
    let good = LayerBuilder::new().file("app/node_modules/a/package.json", br#"{"name":"a","version":"1.0.0"}"#).tar();
    let mut big = LayerBuilder::new();
    for i in 0..50 {
        big = big.file(&format!("data/file{i}"), &vec![b'x'; 4096]);
    }
    let big = big.file("app/node_modules/b/package.json", br#"{"name":"b","version":"1.0.0"}"#).gz();
    let truncated = big[..big.len() / 2].to_vec();
    let top = LayerBuilder::new().file("app/node_modules/c/package.json", br#"{"name":"c","version":"1.0.0"}"#).tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    let ids = docker_archive(&archive, &[good, truncated, top]);
    let inv = Scanner::new().archive(&archive).unwrap();
    let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(inv.warnings.len(), 1, "{:?}", inv.warnings);
    assert!(inv.warnings[0].contains(&ids[1]) && inv.warnings[0].contains("truncated"), "{}", inv.warnings[0]);
}

#[test]
fn truncated_archive_is_a_clear_error() {
    let layer = LayerBuilder::new().file("x", &vec![0u8; 100_000]).tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let bytes = std::fs::read(&archive).unwrap();
    std::fs::write(&archive, &bytes[..bytes.len() / 3]).unwrap();
    let err = Scanner::new().archive(&archive).unwrap_err().to_string();
    assert!(err.contains("image.tar"), "{err}");
}

#[test]
fn corrupt_status_file_names_the_file_and_the_scan_goes_on() {
    let status = format!("{}Package: broken\nThis line has no colon\n\nVersion: 1.0\nStatus: install ok installed\n\n", dpkg_entry("curl", "7.88.1-10", None));
    let layer = LayerBuilder::new()
        .file("var/lib/dpkg/status", status.as_bytes())
        .file("var/lib/dpkg/status.d/garbage", &[0xff, 0xfe, 0x00, 0x01])
        .file("var/lib/dpkg/status.d/base", dpkg_entry("base-files", "12.4", None).as_bytes())
        .file("app/node_modules/x/package.json", b"{not json")
        .file("app/node_modules/y/package.json", br#"{"name":"y","version":"2.0.0"}"#)
        .tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let inv = Scanner::new().archive(&archive).unwrap();
    let names: Vec<_> = inv.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["base-files", "curl", "y"]);
    let w = inv.warnings.join("\n");
    for needle in ["/var/lib/dpkg/status: paragraph 2", "/var/lib/dpkg/status: paragraph 3", "/var/lib/dpkg/status.d/garbage", "/app/node_modules/x/package.json"] {
        assert!(w.contains(needle), "no warning naming {needle}:\n{w}");
    }
}

#[test]
fn oversized_metadata_is_skipped_with_a_warning() {
    let layer = LayerBuilder::new()
        .file("var/lib/dpkg/status", dpkg_entry("curl", "7.88.1-10", None).repeat(100).as_bytes())
        .file("app/node_modules/y/package.json", br#"{"name":"y","version":"2.0.0"}"#)
        .tar();
    let dir = tmp();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let inv = Scanner::new().with_limits(Limits { max_metadata_bytes: 1000, ..Limits::default() }).archive(&archive).unwrap();
    assert_eq!(inv.packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["y"]);
    assert!(inv.warnings.iter().any(|w| w.contains("var/lib/dpkg/status") && w.contains("limit")), "{:?}", inv.warnings);
}

#[test]
fn malformed_osv_records_are_warnings_naming_the_file() {
    let dir = tmp();
    let osv_dir = dir.path().join("osv");
    std::fs::create_dir_all(&osv_dir).unwrap();
    std::fs::write(osv_dir.join("good.json"), serde_json::to_vec(&osv("GOOD-1", "PyPI", "x", &[("introduced", "0")])).unwrap()).unwrap();
    std::fs::write(osv_dir.join("broken.json"), b"{\"id\": \"B\", \"affected\": [").unwrap();
    std::fs::write(osv_dir.join("noid.json"), b"{\"summary\": \"no id\"}").unwrap();
    // A zip with one good and one bad member.
    let zpath = dir.path().join("PyPI.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zpath).unwrap());
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("GOOD-2.json", opts).unwrap();
    z.write_all(&serde_json::to_vec(&osv("GOOD-2", "PyPI", "y", &[("introduced", "0")])).unwrap()).unwrap();
    z.start_file("BAD-2.json", opts).unwrap();
    z.write_all(b"[1,2,3]").unwrap();
    z.finish().unwrap();
    let db = AdvisoryDb::create(&dir.path().join("db.redb")).unwrap();
    let stats = db.import(&[osv_dir, zpath]).unwrap();
    assert_eq!((stats.imported, stats.malformed), (2, 3), "{stats:?}");
    let w = stats.warnings.join("\n");
    for needle in ["broken.json", "noid.json", "PyPI.zip!BAD-2.json"] {
        assert!(w.contains(needle), "no warning naming {needle}:\n{w}");
    }
    assert_eq!(db.info().unwrap().records, 2);
}
