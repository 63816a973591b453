//! rpm packages from a real sqlite rpmdb, made by the tests with Debian's `rpm` package
//! (rpmbuild builds tiny packages, `rpm -i --justdb` installs them into a fresh database):
//! every package `rpm -qa` lists is found with its version, source rpm, architecture and
//! license; advisories straddling the installed versions (epochs, `~`, `^`) give exactly the
//! expected findings, under the OSV ecosystem the image's os-release names.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use palisade_scan::{assess, Ecosystem, Filter, Scanner};

const ROCKY_OS_RELEASE: &[u8] = b"NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n";
const RHEL_OS_RELEASE: &[u8] = b"NAME=\"Red Hat Enterprise Linux\"\nID=\"rhel\"\nVERSION_ID=\"9.3\"\nPRETTY_NAME=\"Red Hat Enterprise Linux 9.3 (Plow)\"\n";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e} (install Debian's rpm package: apt-get install rpm)"));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// One spec file: (name, epoch, version, release, license, subpackages).
struct Spec {
    name: &'static str,
    epoch: Option<u32>,
    version: &'static str,
    release: &'static str,
    license: &'static str,
    subpackages: &'static [&'static str],
}

const SPECS: &[Spec] = &[
    Spec { name: "openssl", epoch: Some(1), version: "3.0.7", release: "24.el9", license: "Apache-2.0", subpackages: &["libs"] },
    Spec { name: "bash", epoch: None, version: "5.1.8", release: "6.el9", license: "GPL-3.0-or-later", subpackages: &[] },
    Spec { name: "curl", epoch: None, version: "8.0~rc1", release: "1.el9", license: "curl", subpackages: &[] },
    Spec { name: "vim", epoch: Some(2), version: "9.0^20230101", release: "1.el9", license: "Vim AND MIT", subpackages: &["minimal"] },
    Spec { name: "tzdata", epoch: None, version: "2024a", release: "1.el9", license: "LicenseRef-Fedora-Public-Domain", subpackages: &[] },
];

/// Builds the packages with rpmbuild and installs them into a fresh sqlite rpmdb; returns
/// the database directory.
fn make_rpmdb(dir: &Path) -> PathBuf {
    let top = dir.join("rpmbuild");
    let mut rpms = Vec::new();
    for s in SPECS {
        let mut spec = format!("Name: {}\nVersion: {}\nRelease: {}\nSummary: fixture\nLicense: {}\nBuildArch: noarch\n", s.name, s.version, s.release, s.license);
        if let Some(e) = s.epoch {
            spec.push_str(&format!("Epoch: {e}\n"));
        }
        spec.push_str("%description\nfixture\n%files\n");
        for sub in s.subpackages {
            spec.push_str(&format!("%package {sub}\nSummary: fixture\n%description {sub}\nfixture\n%files {sub}\n"));
        }
        let file = dir.join(format!("{}.spec", s.name));
        std::fs::write(&file, spec).unwrap();
        run(Command::new("rpmbuild").arg("--define").arg(format!("_topdir {}", top.display())).arg("-bb").arg(&file));
    }
    for e in std::fs::read_dir(top.join("RPMS/noarch")).unwrap() {
        rpms.push(e.unwrap().path());
    }
    assert_eq!(rpms.len(), 7, "{rpms:?}");
    let db = dir.join("rpmdb");
    std::fs::create_dir_all(&db).unwrap();
    run(Command::new("rpm")
        .arg("--dbpath")
        .arg(&db)
        .args(["--define", "_db_backend sqlite", "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos"])
        .args(&rpms));
    assert!(db.join("rpmdb.sqlite").is_file(), "rpm did not make an sqlite rpmdb in {}", db.display());
    db
}

/// What `rpm -qa` says: (name, [epoch:]version-release, source rpm, arch, license).
fn rpm_qa(db: &Path) -> Vec<(String, String, String, String, String)> {
    let qf = "%{NAME}\\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\t%{SOURCERPM}\\t%{ARCH}\\t%{LICENSE}\\n";
    let out = run(Command::new("rpm").arg("--dbpath").arg(db).args(["--define", "_db_backend sqlite", "-qa", "--qf", qf]));
    let mut rows: Vec<_> = out
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_owned(), f[1].to_owned(), f[2].to_owned(), f[3].to_owned(), f[4].to_owned())
        })
        .collect();
    rows.sort();
    rows
}

/// An image of one layer holding os-release and the rpmdb (and its log, if rpm left one).
fn image(dir: &Path, os_release: &[u8], db: &Path, db_path: &str) -> PathBuf {
    let mut layer = LayerBuilder::new().file("etc/os-release", os_release).file(db_path, &std::fs::read(db.join("rpmdb.sqlite")).unwrap());
    let wal = std::fs::read(db.join("rpmdb.sqlite-wal")).unwrap_or_default();
    if !wal.is_empty() {
        layer = layer.file(&format!("{db_path}-wal"), &wal);
    }
    let archive = dir.join(format!("image-{}.tar", db_path.replace('/', "_")));
    docker_archive(&archive, &[layer.tar()]);
    archive
}

#[test]
fn every_package_rpm_lists_is_found_with_version_source_arch_and_license() {
    let dir = tmp();
    let db = make_rpmdb(dir.path());
    let expected = rpm_qa(&db);
    assert_eq!(expected.len(), 7, "{expected:?}");
    for db_path in ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"] {
        let archive = image(dir.path(), ROCKY_OS_RELEASE, &db, db_path);
        let inv = Scanner::new().archive(&archive).unwrap();
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
        let mut got: Vec<_> = inv
            .packages
            .iter()
            .map(|p| {
                assert_eq!(p.ecosystem, Ecosystem::RockyLinux);
                assert_eq!(p.location.path, format!("/{db_path}"));
                // The source rpm rpm reports is the source name, version and release found.
                let src = p.source_name.clone().unwrap();
                let vr = p.version.split_once(':').map_or(p.version.as_str(), |(_, vr)| vr);
                (p.name.clone(), p.version.clone(), format!("{src}-{vr}.src.rpm"), p.arch.clone().unwrap(), p.license.clone().unwrap())
            })
            .collect();
        got.sort();
        assert_eq!(got, expected, "{db_path}");
    }
}

#[test]
fn rocky_advisories_straddling_installed_versions_give_exactly_the_expected_findings() {
    let dir = tmp();
    let db = make_rpmdb(dir.path());
    let archive = image(dir.path(), ROCKY_OS_RELEASE, &db, "var/lib/rpm/rpmdb.sqlite");
    let eco = "Rocky Linux:9";
    let advisories = db_with(
        dir.path(),
        &[
            // openssl 1:3.0.7-24.el9 (source of openssl and openssl-libs).
            osv("RL-BELOW", eco, "openssl", &[("introduced", "0"), ("fixed", "1:3.0.7-20.el9")]),
            osv("RL-EQUAL", eco, "openssl", &[("introduced", "0"), ("fixed", "1:3.0.7-24.el9")]),
            osv("RL-ABOVE", eco, "openssl", &[("introduced", "0"), ("fixed", "1:3.0.7-25.el9")]),
            // Without an epoch the fix is epoch 0, older than anything of epoch 1.
            osv("RL-EPOCH", eco, "openssl", &[("introduced", "0"), ("fixed", "3.0.9-1.el9")]),
            // curl 8.0~rc1: a tilde sorts before the release, after an earlier pre-release.
            osv("RL-TILDE", eco, "curl", &[("introduced", "0"), ("fixed", "8.0-1.el9")]),
            osv("RL-TILDE-BELOW", eco, "curl", &[("introduced", "0"), ("fixed", "8.0~beta1-1.el9")]),
            // vim 2:9.0^20230101: a caret sorts after the release, before the next one.
            osv("RL-CARET-BELOW", eco, "vim", &[("introduced", "0"), ("fixed", "2:9.0-1.el9")]),
            osv("RL-CARET-ABOVE", eco, "vim", &[("introduced", "0"), ("fixed", "2:9.0.1-1.el9")]),
            osv("RL-UNFIXED", eco, "tzdata", &[("introduced", "0")]),
            // Another release, another distribution, a binary name: none apply.
            osv("RL-OTHER-RELEASE", "Rocky Linux:8", "bash", &[("introduced", "0"), ("fixed", "9:9")]),
            osv("ALSA-OTHER-DISTRO", "AlmaLinux:9", "bash", &[("introduced", "0"), ("fixed", "9:9")]),
            osv("RL-BINARY-NAME", eco, "openssl-libs", &[("introduced", "0"), ("fixed", "9:9")]),
        ],
    );
    let r = scan_archive(&archive, &advisories);
    assert_eq!(
        found(&r),
        set(&[
            ("RL-ABOVE", "openssl"),
            ("RL-ABOVE", "openssl-libs"),
            ("RL-TILDE", "curl"),
            ("RL-CARET-ABOVE", "vim"),
            ("RL-CARET-ABOVE", "vim-minimal"),
            ("RL-UNFIXED", "tzdata"),
        ]),
        "{:#?}",
        r.findings
    );
    let f = r.findings.iter().find(|f| f.id == "RL-ABOVE" && f.package.name == "openssl-libs").unwrap();
    assert_eq!((f.installed.as_str(), f.fixed.as_deref()), ("1:3.0.7-24.el9", Some("1:3.0.7-25.el9")));
    assert_eq!(f.package.purl(Some("rocky-9.3")), "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=noarch&distro=rocky-9.3&epoch=1&upstream=openssl");
}

#[test]
fn red_hat_advisories_match_binary_packages_under_the_product_streams() {
    let dir = tmp();
    let db = make_rpmdb(dir.path());
    let archive = image(dir.path(), RHEL_OS_RELEASE, &db, "var/lib/rpm/rpmdb.sqlite");
    let advisories = db_with(
        dir.path(),
        &[
            osv("RHSA-BASEOS", "Red Hat:enterprise_linux:9::baseos", "openssl-libs", &[("introduced", "0"), ("fixed", "1:3.0.7-25.el9_3")]),
            osv("RHSA-APPSTREAM", "Red Hat:enterprise_linux:9::appstream", "curl", &[("introduced", "0"), ("fixed", "0:8.0-1.el9")]),
            osv("RHSA-RHEL8", "Red Hat:enterprise_linux:8::baseos", "bash", &[("introduced", "0"), ("fixed", "9:9")]),
            osv("RHSA-FIXED", "Red Hat:enterprise_linux:9::baseos", "bash", &[("introduced", "0"), ("fixed", "5.1.8-6.el9")]),
        ],
    );
    let r = scan_archive(&archive, &advisories);
    assert!(r.inventory.packages.iter().all(|p| p.ecosystem == Ecosystem::RedHat));
    assert_eq!(found(&r), set(&[("RHSA-BASEOS", "openssl-libs"), ("RHSA-APPSTREAM", "curl")]), "{:#?}", r.findings);
}

#[test]
fn a_corrupt_rpmdb_is_a_warning_naming_it_and_the_scan_goes_on() {
    let dir = tmp();
    let layer = LayerBuilder::new()
        .file("etc/os-release", ROCKY_OS_RELEASE)
        .file("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0 but truncated right here")
        .file("usr/lib/python3.9/site-packages/requests-2.31.0.dist-info/METADATA", b"Name: requests\nVersion: 2.31.0\n\n")
        .tar();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let r = assess(Scanner::new().archive(&archive).unwrap(), &db_with(dir.path(), &[]), &Filter::default()).unwrap();
    assert!(r.inventory.warnings.iter().any(|w| w.contains("/var/lib/rpm/rpmdb.sqlite")), "{:?}", r.inventory.warnings);
    assert_eq!(r.inventory.packages.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["requests"]);
}

#[test]
fn the_write_ahead_log_is_replayed_but_not_onto_a_database_an_upper_layer_replaced() {
    let dir = tmp();
    let db = make_rpmdb(dir.path());
    let original = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    // Remove bash in a write-ahead log that is not checkpointed: copy the database and its
    // log while the connection is still open.
    let work = dir.path().join("wal");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("rpmdb.sqlite"), &original).unwrap();
    let conn = rusqlite::Connection::open(work.join("rpmdb.sqlite")).unwrap();
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    // rpm's index tables refer to Packages; only the package row matters here.
    conn.pragma_update(None, "foreign_keys", false).unwrap();
    let hnum: i64 = conn
        .query_row("SELECT hnum FROM Name WHERE key = 'bash'", [], |r| r.get(0))
        .expect("rpm's sqlite schema has a Name index table");
    assert_eq!(conn.execute("DELETE FROM Packages WHERE hnum = ?1", [hnum]).unwrap(), 1);
    let (db_bytes, wal) = (std::fs::read(work.join("rpmdb.sqlite")).unwrap(), std::fs::read(work.join("rpmdb.sqlite-wal")).unwrap());
    assert!(!wal.is_empty(), "the change must still be in the log");
    drop(conn);
    let names = |layers: Vec<Vec<u8>>| -> Vec<String> {
        let archive = dir.path().join(format!("wal-{}.tar", layers.len()));
        docker_archive(&archive, &layers);
        let inv = Scanner::new().archive(&archive).unwrap();
        assert!(inv.warnings.is_empty(), "{:?}", inv.warnings);
        inv.packages.iter().map(|p| p.name.clone()).collect()
    };
    let lower = LayerBuilder::new()
        .file("etc/os-release", ROCKY_OS_RELEASE)
        .file("var/lib/rpm/rpmdb.sqlite", &db_bytes)
        .file("var/lib/rpm/rpmdb.sqlite-wal", &wal)
        .tar();
    let replayed = names(vec![lower.clone()]);
    assert_eq!(replayed.len(), 6, "{replayed:?}");
    assert!(!replayed.contains(&"bash".to_owned()), "{replayed:?}");
    // An upper layer writes a whole new database: the lower layer's log is not its log.
    let upper = LayerBuilder::new().file("var/lib/rpm/rpmdb.sqlite", &original).tar();
    let replaced = names(vec![lower, upper]);
    assert_eq!(replaced.len(), 7, "{replaced:?}");
    assert!(replaced.contains(&"bash".to_owned()), "{replaced:?}");
}

#[test]
fn a_berkeley_db_rpmdb_is_a_warning_not_silence() {
    // RHEL 8, CentOS 7 and Amazon Linux 2 keep rpm's database in Berkeley DB: not read, said so.
    let dir = tmp();
    let layer = LayerBuilder::new()
        .file("etc/os-release", b"ID=\"centos\"\nVERSION_ID=\"7\"\n")
        .file("var/lib/rpm/Packages", &[0u8; 4096])
        .tar();
    let archive = path(&dir, "image.tar");
    docker_archive(&archive, &[layer]);
    let inv = Scanner::new().archive(&archive).unwrap();
    assert!(inv.packages.is_empty());
    assert!(
        inv.warnings.iter().any(|w| w.contains("/var/lib/rpm/Packages") && w.contains("Berkeley DB")),
        "{:?}",
        inv.warnings
    );
}
