//! The advisory index: importing again updates in place (changed ranges replace old ones,
//! withdrawn records go), every import bumps the generation, and `info` counts per ecosystem.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use palisade_scan::AdvisoryDb;

#[test]
fn reimport_updates_in_place() {
    let dir = tmp();
    let db_path = dir.path().join("db.redb");
    let v1 = dir.path().join("v1");
    std::fs::create_dir_all(&v1).unwrap();
    let mut rec = osv("GHSA-1", "npm", "lodash", &[("introduced", "0"), ("fixed", "4.17.21")]);
    std::fs::write(v1.join("a.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    std::fs::write(v1.join("b.json"), serde_json::to_vec(&osv("DEB-1", "Debian:12", "openssl", &[("introduced", "0")])).unwrap()).unwrap();
    std::fs::write(v1.join("c.json"), serde_json::to_vec(&osv("RUBY-1", "RubyGems", "rails", &[("introduced", "0")])).unwrap()).unwrap();
    let db = AdvisoryDb::create(&db_path).unwrap();
    let s = db.import(std::slice::from_ref(&v1)).unwrap();
    assert_eq!((s.imported, s.skipped), (2, 1));
    let info = db.info().unwrap();
    assert_eq!((info.records, info.generation), (2, 1));
    assert_eq!(info.ecosystems.get("npm"), Some(&1));
    assert_eq!(info.ecosystems.get("Debian:12"), Some(&1));

    // The same files again: nothing changes but the generation.
    let s = db.import(std::slice::from_ref(&v1)).unwrap();
    assert_eq!((s.imported, s.unchanged), (0, 2));

    // The record moves to another package; the other is withdrawn.
    let v2 = dir.path().join("v2");
    std::fs::create_dir_all(&v2).unwrap();
    rec["modified"] = "2024-02-01T00:00:00Z".into();
    rec["affected"][0]["package"]["name"] = "lodash-es".into();
    std::fs::write(v2.join("a.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    let mut gone = osv("DEB-1", "Debian:12", "openssl", &[("introduced", "0")]);
    gone["withdrawn"] = "2024-02-01T00:00:00Z".into();
    std::fs::write(v2.join("b.json"), serde_json::to_vec(&gone).unwrap()).unwrap();
    let s = db.import(&[v2]).unwrap();
    assert_eq!((s.imported, s.withdrawn), (1, 1));
    drop(db);

    let db = AdvisoryDb::open(&db_path).unwrap();
    let info = db.info().unwrap();
    assert_eq!((info.records, info.generation), (1, 3));
    let r = db.reader().unwrap();
    assert!(r.lookup("npm", "lodash").unwrap().is_empty(), "old key removed");
    assert_eq!(r.lookup("npm", "lodash-es").unwrap().len(), 1);
    assert!(r.lookup("Debian:12", "openssl").unwrap().is_empty(), "withdrawn record removed");
}

#[test]
fn missing_database_is_a_clear_error() {
    let dir = tmp();
    let err = AdvisoryDb::open(&dir.path().join("nope.redb")).unwrap_err().to_string();
    assert!(err.contains("palisade scan db import"), "{err}");
}

#[test]
fn a_database_of_the_old_format_is_refused_then_rebuilt_by_an_import() {
    // Format 1: two tables (`affected`, `records`) and a meta table without a format key.
    let dir = tmp();
    let db_path = dir.path().join("db.redb");
    {
        let old = redb::Database::create(&db_path).unwrap();
        let txn = old.begin_write().unwrap();
        txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("affected")).unwrap().insert(b"npm\0x\0OLD-1".as_slice(), b"\0\0".as_slice()).unwrap();
        txn.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("records")).unwrap().insert(b"OLD-1".as_slice(), b"".as_slice()).unwrap();
        txn.open_table(redb::TableDefinition::<&str, u64>::new("meta")).unwrap().insert("generation", 7).unwrap();
        txn.commit().unwrap();
    }
    let err = AdvisoryDb::open(&db_path).unwrap_err().to_string();
    assert!(err.contains("format 1") && err.contains("re-import") && err.contains("palisade scan db import"), "{err}");

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a.json"), serde_json::to_vec(&osv("NEW-1", "npm", "lodash", &[("introduced", "0")])).unwrap()).unwrap();
    let s = AdvisoryDb::create(&db_path).unwrap().import(&[src]).unwrap();
    assert_eq!(s.imported, 1);
    assert!(s.warnings.iter().any(|w| w.contains("rebuilt") && w.contains("import again")), "{:?}", s.warnings);
    let db = AdvisoryDb::open(&db_path).unwrap();
    let info = db.info().unwrap();
    assert_eq!((info.records, info.generation), (1, 8), "old rows gone, the generation goes on");
    let r = db.reader().unwrap();
    assert_eq!(r.lookup("npm", "lodash").unwrap()[0].id, "NEW-1");
    assert!(r.lookup("npm", "x").unwrap().is_empty());
}

#[test]
fn the_later_file_wins_within_one_import() {
    let dir = tmp();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(a.join("x.json"), serde_json::to_vec(&osv("DUP-1", "npm", "first", &[("introduced", "0")])).unwrap()).unwrap();
    std::fs::write(b.join("x.json"), serde_json::to_vec(&osv("DUP-1", "npm", "second", &[("introduced", "0")])).unwrap()).unwrap();
    let db = AdvisoryDb::create(&dir.path().join("db.redb")).unwrap();
    let s = db.import(&[a, b]).unwrap();
    assert_eq!(s.imported, 2);
    let r = db.reader().unwrap();
    assert!(r.lookup("npm", "first").unwrap().is_empty());
    assert_eq!(r.lookup("npm", "second").unwrap().len(), 1);
    assert_eq!(db.info().unwrap().records, 1);
}

#[test]
fn the_later_member_wins_within_one_zip_inflated_by_several_threads() {
    // Three thousand members (several batches for each reader thread); ids repeat every
    // thousand members, each time on another package: only the last of each counts, however
    // the threads' batches arrive.
    let dir = tmp();
    let zip_path = dir.path().join("osv.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for i in 0..3000 {
        let rec = osv(&format!("DUP-{}", i % 1000), "npm", &format!("pkg-{i}"), &[("introduced", "0")]);
        z.start_file(format!("{i:05}.json"), zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, &serde_json::to_vec(&rec).unwrap()).unwrap();
    }
    z.finish().unwrap();
    let db = AdvisoryDb::create(&dir.path().join("db.redb")).unwrap();
    db.import(&[zip_path]).unwrap();
    assert_eq!(db.info().unwrap().records, 1000);
    let r = db.reader().unwrap();
    for i in 0..3000 {
        let hits = r.lookup("npm", &format!("pkg-{i}")).unwrap().len();
        assert_eq!(hits, usize::from(i >= 2000), "pkg-{i}");
    }
}

#[test]
fn an_unchanged_file_then_a_changed_one_for_the_same_id_leaves_only_the_change() {
    let dir = tmp();
    let (v1, a, b) = (dir.path().join("v1"), dir.path().join("a"), dir.path().join("b"));
    for d in [&v1, &a, &b] {
        std::fs::create_dir_all(d).unwrap();
    }
    let rec = osv("X-1", "npm", "old-name", &[("introduced", "0")]);
    std::fs::write(v1.join("x.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    let db = AdvisoryDb::create(&dir.path().join("db.redb")).unwrap();
    db.import(std::slice::from_ref(&v1)).unwrap();
    // One import: the same record unchanged, then a later file that moves it.
    std::fs::write(a.join("x.json"), serde_json::to_vec(&rec).unwrap()).unwrap();
    let mut moved = osv("X-1", "npm", "new-name", &[("introduced", "0")]);
    moved["modified"] = "2024-03-01T00:00:00Z".into();
    std::fs::write(b.join("x.json"), serde_json::to_vec(&moved).unwrap()).unwrap();
    db.import(&[a, b]).unwrap();
    let r = db.reader().unwrap();
    assert!(r.lookup("npm", "old-name").unwrap().is_empty(), "the old row is gone");
    assert_eq!(r.lookup("npm", "new-name").unwrap().len(), 1);
    assert_eq!(r.lookup("npm", "new-name").unwrap()[0].meta.modified, "2024-03-01T00:00:00Z");
    assert_eq!(db.info().unwrap().records, 1);
}

#[test]
fn a_corrupt_zip_member_is_skipped_and_the_rest_imported() {
    // Stored and deflated members; one stored member's bytes are damaged after the fact, so
    // its CRC-32 no longer matches: that record alone is left out.
    let dir = tmp();
    let zip_path = dir.path().join("osv.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    for i in 0..10 {
        let method = if i % 2 == 0 { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        let rec = osv(&format!("Z-{i}"), "npm", &format!("pkg-{i}"), &[("introduced", "0")]);
        z.start_file(format!("{i:02}.json"), zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
        std::io::Write::write_all(&mut z, &serde_json::to_vec(&rec).unwrap()).unwrap();
    }
    z.finish().unwrap();
    let mut bytes = std::fs::read(&zip_path).unwrap();
    // Member 4 is stored: its name is in the archive as written.
    let at = bytes.windows(5).position(|w| w == b"pkg-4").unwrap();
    bytes[at] = b'q';
    std::fs::write(&zip_path, bytes).unwrap();
    let db = AdvisoryDb::create(&dir.path().join("db.redb")).unwrap();
    let s = db.import(&[zip_path]).unwrap();
    assert_eq!(s.imported, 9);
    let r = db.reader().unwrap();
    assert!(r.lookup("npm", "pkg-4").unwrap().is_empty() && r.lookup("npm", "qkg-4").unwrap().is_empty());
    assert_eq!(r.lookup("npm", "pkg-5").unwrap().len(), 1);
}
