//! Shared test fixtures: the driver conformance suite every [`StorageDriver`] runs from one
//! line, and [`push_blob`]. Enabled for this crate's tests and, for other crates, by the `test-util` feature.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};

use crate::driver::{StorageDriver, StoragePath};
use crate::storage::Store;
use crate::{Digest, RepoName};

/// Uploads `data` as a blob of `repo` through the upload API and returns its digest.
pub fn push_blob(store: &Store, repo: &RepoName, data: &[u8]) -> Digest {
    let id = store.start_upload(repo).unwrap();
    let mut w = store.upload_writer(repo, &id).unwrap();
    w.write_all(data).unwrap();
    w.commit().unwrap();
    let digest = Digest::sha256_of(data);
    store.complete_upload(repo, &id, &digest).unwrap();
    digest
}

fn p(s: &str) -> StoragePath {
    StoragePath::new(s).unwrap()
}

/// Run the driver contract checks against an empty driver; panics on the first violation.
pub fn driver_conformance(d: &dyn StorageDriver) {
    // Paths are validated.
    for bad in ["", "/a", "a//b", "a/../b", "..", "a/./b", "a/.tmp-x", "a b"] {
        assert!(StoragePath::new(bad).is_err(), "{bad:?} must be rejected");
    }
    // Missing things are NotFound.
    assert!(d.get_content(&p("missing")).unwrap_err().is_not_found());
    assert!(d.stat(&p("missing/x")).unwrap_err().is_not_found());
    assert!(d.delete(&p("missing")).unwrap_err().is_not_found());
    assert!(d.reader(&p("missing"), 0).is_err());

    // put/get/overwrite.
    d.put_content(&p("a/b/c"), b"hello").unwrap();
    assert_eq!(d.get_content(&p("a/b/c")).unwrap(), b"hello");
    d.put_content(&p("a/b/c"), b"bye").unwrap();
    assert_eq!(d.get_content(&p("a/b/c")).unwrap(), b"bye");
    let info = d.stat(&p("a/b/c")).unwrap();
    assert_eq!((info.size, info.is_dir), (3, false));
    assert!(d.stat(&p("a/b")).unwrap().is_dir);

    // Files report when they were written (object stores keep whole seconds).
    let before = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    d.put_content(&p("t/stamped"), b"x").unwrap();
    let after = std::time::SystemTime::now() + std::time::Duration::from_secs(2);
    let modified = d.stat(&p("t/stamped")).unwrap().modified.expect("a file's modification time");
    assert!(before <= modified && modified <= after, "{modified:?} is not the time of the write");

    // Readers honour offsets.
    d.put_content(&p("a/r"), b"0123456789").unwrap();
    let mut s = String::new();
    d.reader(&p("a/r"), 4).unwrap().read_to_string(&mut s).unwrap();
    assert_eq!(s, "456789");

    // Non-append writers are invisible until commit; cancel discards.
    let mut w = d.writer(&p("w/data"), false).unwrap();
    w.write_all(b"abc").unwrap();
    assert_eq!(w.size(), 3);
    assert!(d.get_content(&p("w/data")).unwrap_err().is_not_found());
    w.commit().unwrap();
    assert_eq!(d.get_content(&p("w/data")).unwrap(), b"abc");
    let mut w = d.writer(&p("w/data"), false).unwrap();
    w.write_all(b"zzzz").unwrap();
    w.cancel().unwrap();
    assert_eq!(d.get_content(&p("w/data")).unwrap(), b"abc");

    // Append writers continue the file; cancel truncates back.
    let mut w = d.writer(&p("w/data"), true).unwrap();
    assert_eq!(w.size(), 3);
    w.write_all(b"def").unwrap();
    w.commit().unwrap();
    assert_eq!(d.get_content(&p("w/data")).unwrap(), b"abcdef");
    let mut w = d.writer(&p("w/data"), true).unwrap();
    w.write_all(b"XYZ").unwrap();
    w.cancel().unwrap();
    assert_eq!(d.get_content(&p("w/data")).unwrap(), b"abcdef");
    let mut w = d.writer(&p("w/new"), true).unwrap();
    w.write_all(b"n").unwrap();
    w.commit().unwrap();
    assert_eq!(d.get_content(&p("w/new")).unwrap(), b"n");

    // list is sorted, direct children only.
    d.put_content(&p("l/b/x"), b"").unwrap();
    d.put_content(&p("l/a"), b"").unwrap();
    d.put_content(&p("l/c/y/z"), b"").unwrap();
    assert_eq!(d.list(&p("l")).unwrap(), vec!["a", "b", "c"]);
    assert!(d.list(&p("nope")).unwrap_err().is_not_found());

    // rename replaces and creates parents.
    d.put_content(&p("m/src"), b"S").unwrap();
    d.put_content(&p("n/o/dst"), b"D").unwrap();
    d.rename(&p("m/src"), &p("n/o/dst")).unwrap();
    assert_eq!(d.get_content(&p("n/o/dst")).unwrap(), b"S");
    assert!(d.get_content(&p("m/src")).unwrap_err().is_not_found());
    d.put_content(&p("m/src2"), b"T").unwrap();
    d.rename(&p("m/src2"), &p("q/r/s/t")).unwrap();
    assert_eq!(d.get_content(&p("q/r/s/t")).unwrap(), b"T");

    // delete is recursive.
    d.delete(&p("l")).unwrap();
    assert!(d.stat(&p("l/c/y/z")).unwrap_err().is_not_found());
    assert!(d.list(&p("l")).unwrap_err().is_not_found());
    d.delete(&p("a/r")).unwrap();
    assert!(d.get_content(&p("a/r")).unwrap_err().is_not_found());
}

/// A moto S3 server (`moto_server` / `python3 -m moto.server`, from PyPI `moto[server]`) on a
/// free loopback port, killed on drop. Tests get a fresh bucket per call to [`Moto::bucket`].
pub struct Moto {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    port: u16,
}

impl Moto {
    /// Start the server and wait until it answers.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = std::process::Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]')");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}"), port };
        for _ in 0..300 {
            if moto.request("GET", "/").is_some() {
                return moto;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("moto server did not start on port {port}");
    }

    /// A raw HTTP/1.0 request (moto does not check signatures); the status code.
    fn request(&self, method: &str, path: &str) -> Option<u16> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(s, "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\n\r\n", self.port).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        out.split_whitespace().nth(1)?.parse().ok()
    }

    /// Create a new, empty bucket and return its name.
    pub fn bucket(&self) -> String {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!("palisade-{}-{}", std::process::id(), N.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let code = self.request("PUT", &format!("/{name}")).expect("create bucket");
        assert_eq!(code, 200, "create bucket {name}");
        name
    }

    /// A driver on a fresh bucket.
    pub fn driver(&self) -> crate::driver::S3Driver {
        crate::driver::S3Driver::new(&crate::driver::S3Options {
            bucket: self.bucket(),
            region: "us-east-1".into(),
            endpoint: Some(self.endpoint.clone()),
            prefix: Some("registry".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            session_token: None,
        })
        .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
