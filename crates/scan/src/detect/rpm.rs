//! rpm: the sqlite rpmdb (`/var/lib/rpm/rpmdb.sqlite`, or `/usr/lib/sysimage/rpm/` on newer
//! Fedora and openSUSE), one header blob per installed package in its `Packages` table.
//!
//! The database comes from an untrusted image, so it is copied out of the layer stream into a
//! private temp directory (with its write-ahead log, when the image has one) and opened there
//! with SQLite's defensive settings; a `Packages` that is anything but a table is refused, and
//! rows are read up to a cap. Each blob is decoded by [`super::rpm_header`].

use rusqlite::{Connection, OpenFlags};

use super::rpm_header::{tag, Header};
use super::Parsed;
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

/// Where rpm keeps its sqlite database, without the leading `/`.
const DB_PATHS: [&str; 2] = ["var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite"];
/// SQLite's write-ahead log beside a database (committed rows not yet checkpointed).
const WAL_SUFFIX: &str = "-wal";
/// Rows read from `Packages` at most (a distribution image has a few thousand).
const MAX_PACKAGES: usize = 100_000;
/// Largest value SQLite may hand back (rpm refuses headers of 16 MiB or more anyway).
const MAX_VALUE_BYTES: i32 = 16 << 20;

/// rpm's pseudo-packages for imported signing keys: not software, never reported.
const GPG_PUBKEY: &str = "gpg-pubkey";

/// rpmdbs in the formats before sqlite: Berkeley DB (`Packages`: RHEL 8, CentOS 7, Amazon
/// Linux 2) and ndb (`Packages.db`: SUSE). Not read; their presence is a warning.
const LEGACY_PATHS: [&str; 3] = ["var/lib/rpm/Packages", "var/lib/rpm/Packages.db", "usr/lib/sysimage/rpm/Packages.db"];

/// Whether `path` is an rpmdb in a format this scanner does not read.
pub(crate) fn is_legacy(path: &str) -> bool {
    LEGACY_PATHS.contains(&path)
}

/// The warning for an rpmdb in a legacy format.
pub(crate) const LEGACY_WARNING: &str = "an rpmdb in Berkeley DB or ndb format, which this scanner does not read (only the sqlite rpmdb of rpm 4.16 and later); its rpm packages are not listed";

/// The database file itself (what the inventory parses).
pub(crate) fn wants(path: &str) -> bool {
    DB_PATHS.contains(&path)
}

/// The database or its write-ahead log (what the layer reader keeps).
pub(crate) fn keeps(path: &str) -> bool {
    wants(path) || path.strip_suffix(WAL_SUFFIX).is_some_and(wants)
}

/// The path of the write-ahead log of the database at `path`.
pub(crate) fn wal_path(path: &str) -> String {
    format!("{path}{WAL_SUFFIX}")
}

/// Reads every package of the database `db` (with its write-ahead log `wal`, if any).
/// `ecosystem` is the OSV ecosystem the image's os-release names for rpm packages.
pub(crate) fn parse(db: &[u8], wal: Option<&[u8]>, ecosystem: Ecosystem, loc: &Location) -> Parsed {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a temp directory for the rpmdb: {e}"))?;
    let file = dir.path().join("rpmdb.sqlite");
    std::fs::write(&file, db).map_err(|e| format!("cannot copy the rpmdb out: {e}"))?;
    if let Some(wal) = wal {
        std::fs::write(dir.path().join(format!("rpmdb.sqlite{WAL_SUFFIX}")), wal).map_err(|e| format!("cannot copy the rpmdb's log out: {e}"))?;
    }
    // Read-write on our own copy, so SQLite can replay the log; nothing is written back.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&file, flags).map_err(|e| format!("not an sqlite rpmdb: {e}"))?;
    harden(&conn).map_err(|e| format!("cannot configure SQLite: {e}"))?;
    match conn.query_row("SELECT type FROM sqlite_master WHERE name = 'Packages'", [], |r| r.get::<_, String>(0)) {
        Ok(kind) if kind == "table" => {}
        Ok(_) | Err(rusqlite::Error::QueryReturnedNoRows) => return Err("not an sqlite rpmdb (no Packages table)".into()),
        Err(e) => return Err(format!("not an sqlite rpmdb: {e}")),
    }
    let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages").map_err(|e| format!("not an sqlite rpmdb: {e}"))?;
    let mut rows = stmt.query([]).map_err(|e| format!("reading Packages: {e}"))?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut read = 0usize;
    loop {
        let row = match rows.next() {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => {
                warnings.push(format!("reading Packages stopped after {read} rows: {e}"));
                break;
            }
        };
        read += 1;
        if read > MAX_PACKAGES {
            warnings.push(format!("more than {MAX_PACKAGES} packages; the rest were not read"));
            break;
        }
        let hnum: i64 = row.get(0).unwrap_or_default();
        let blob: Vec<u8> = match row.get(1) {
            Ok(b) => b,
            Err(e) => {
                warnings.push(format!("package #{hnum}: {e}; skipped"));
                continue;
            }
        };
        match package(&blob, ecosystem, loc) {
            Ok(Some(p)) => out.push(p),
            Ok(None) => {}
            Err(e) => warnings.push(format!("package #{hnum}: {e}; skipped")),
        }
    }
    Ok((out, warnings))
}

/// SQLite's settings for a database file from an untrusted source (SQLite, "Defense Against
/// The Dark Arts"): no code from the schema, structure checks on, values capped.
fn harden(conn: &Connection) -> rusqlite::Result<()> {
    use rusqlite::config::DbConfig;
    use rusqlite::limits::Limit;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_TRIGGER, false)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_VIEW, false)?;
    conn.pragma_update(None, "cell_size_check", true)?;
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)?;
    Ok(())
}

/// One header blob as a package; `None` for rpm's key pseudo-packages.
fn package(blob: &[u8], ecosystem: Ecosystem, loc: &Location) -> Result<Option<Package>, String> {
    let h = Header::parse(blob)?;
    let (Some(name), Some(version)) = (h.string(tag::NAME), h.string(tag::VERSION)) else {
        return Err("header without a name or version".into());
    };
    if name == GPG_PUBKEY {
        return Ok(None);
    }
    let release = h.string(tag::RELEASE).unwrap_or_default();
    let mut evr = String::new();
    if let Some(epoch) = h.int32(tag::EPOCH) {
        evr.push_str(&format!("{epoch}:"));
    }
    evr.push_str(&version);
    if !release.is_empty() {
        evr.push('-');
        evr.push_str(&release);
    }
    let source_name = h.string(tag::SOURCERPM).as_deref().and_then(source_name_of).map(str::to_owned);
    Ok(Some(Package {
        ecosystem,
        name,
        version: evr,
        source_name,
        // The source rpm is built from the same version and release (no epoch in its name).
        source_version: None,
        license: h.string(tag::LICENSE),
        arch: h.string(tag::ARCH),
        location: loc.clone(),
    }))
}

/// The package name of a source rpm file name: `openssl-3.0.7-24.el9.src.rpm` → `openssl`
/// (name-version-release, the last two never containing `-`).
fn source_name_of(srpm: &str) -> Option<&str> {
    let stem = srpm.strip_suffix(".rpm")?;
    let stem = stem.rsplit_once('.').map_or(stem, |(s, _arch)| s);
    let (nv, _release) = stem.rsplit_once('-')?;
    let (name, _version) = nv.rsplit_once('-')?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_rpm_names() {
        assert_eq!(source_name_of("openssl-3.0.7-24.el9.src.rpm"), Some("openssl"));
        assert_eq!(source_name_of("python-setuptools-53.0.0-12.el9.src.rpm"), Some("python-setuptools"));
        assert_eq!(source_name_of("(none)"), None);
        assert_eq!(source_name_of("-1-2.src.rpm"), None);
    }

    #[test]
    fn not_a_database_is_an_error() {
        let loc = Location::default();
        assert!(parse(b"this is not sqlite", None, Ecosystem::Rpm, &loc).is_err());
        assert!(parse(b"", None, Ecosystem::Rpm, &loc).is_err());
    }

    #[test]
    fn paths() {
        assert!(wants("var/lib/rpm/rpmdb.sqlite") && wants("usr/lib/sysimage/rpm/rpmdb.sqlite"));
        assert!(keeps("var/lib/rpm/rpmdb.sqlite-wal") && !wants("var/lib/rpm/rpmdb.sqlite-wal"));
        assert!(!keeps("var/lib/rpm/Packages") && is_legacy("var/lib/rpm/Packages"));
    }
}
