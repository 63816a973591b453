//! Detectors, one module per ecosystem: which paths each needs, and how each turns those
//! files into packages. Binaries and archives are reduced while the layers stream
//! ([`binary`], [`java`]); metadata files are parsed once all layers are merged.

pub(crate) mod apk;
pub(crate) mod binary;
pub(crate) mod cargo;
pub(crate) mod dpkg;
pub(crate) mod java;
pub(crate) mod npm;
pub(crate) mod os_release;
pub(crate) mod python;
pub(crate) mod rpm;
mod rpm_header;

use crate::ecosystem::Ecosystem;
use crate::layers::{Kept, View};
use crate::package::{Location, OsInfo, Package};

/// What the layer reader does with a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Interest {
    /// Read past it.
    None,
    /// Keep its bytes for a metadata parser.
    Metadata,
    /// Inspect it if it is an ELF binary (Go build info, cargo-auditable).
    Executable,
    /// Inspect it if it is a zip (jar, war, ear).
    Archive,
    /// Keep its bytes for a package database (capped as binaries are: rpmdbs are large).
    Database,
    /// Note that it exists, without reading it (a database in a format not read).
    Presence,
}

/// Symlinks kept in the view (so `/etc/os-release → ../usr/lib/os-release` resolves).
pub(crate) fn keep_symlink(path: &str) -> bool {
    os_release::PATHS.contains(&path)
}

/// Decides from the path (and mode) alone, before reading, what a file is to the detectors.
pub(crate) fn interest(path: &str, mode: u32) -> Interest {
    if os_release::PATHS.contains(&path)
        || dpkg::wants(path)
        || apk::wants(path)
        || python::wants(path)
        || npm::wants(path)
        || cargo::wants(path)
    {
        return Interest::Metadata;
    }
    if rpm::keeps(path) {
        return Interest::Database;
    }
    if rpm::is_legacy(path) {
        return Interest::Presence;
    }
    if java::wants(path) {
        return Interest::Archive;
    }
    if mode & 0o111 != 0 {
        return Interest::Executable;
    }
    Interest::None
}

/// The merged inventory of a view: OS, packages (sorted, duplicates at the same path merged),
/// warnings naming each file that could not be read.
pub(crate) fn inventory(view: &View) -> (Option<OsInfo>, Vec<Package>, Vec<String>) {
    let mut warnings = Vec::new();
    let os = os_release::PATHS.iter().find_map(|p| {
        let (_, node) = view.resolve(p)?;
        match &node.kept {
            Kept::Bytes(b) => Some(os_release::parse(b)),
            _ => None,
        }
    });
    let mut packages = Vec::new();
    for (path, node) in &view.files {
        let loc = Location { layer: view.layer_digest(node.layer), path: format!("/{path}") };
        let bytes = match &node.kept {
            Kept::Packages(p) => {
                packages.extend(p.iter().cloned());
                continue;
            }
            Kept::Symlink(_) => continue,
            Kept::Present => {
                if rpm::is_legacy(path) {
                    warnings.push(format!("{} (layer {}): {}", loc.path, display_layer(&loc.layer), rpm::LEGACY_WARNING));
                }
                continue;
            }
            Kept::Bytes(b) => b,
        };
        let found = if dpkg::wants(path) {
            dpkg::parse(bytes, &loc, path.contains("/status.d/"))
        } else if apk::wants(path) {
            apk::parse(bytes, &loc)
        } else if python::wants(path) {
            python::parse(bytes, &loc)
        } else if npm::wants(path) {
            npm::parse(path, bytes, &loc)
        } else if cargo::wants(path) {
            cargo::parse(bytes, &loc)
        } else if rpm::wants(path) {
            // The log counts only if no lower layer's: a log beside a replaced database
            // belongs to the old one.
            let wal = view.files.get(&rpm::wal_path(path)).and_then(|n| match &n.kept {
                Kept::Bytes(b) if n.layer >= node.layer => Some(b.as_slice()),
                _ => None,
            });
            let eco = Ecosystem::for_rpm_os(os.as_ref().map_or("", |o| o.id.as_str()));
            rpm::parse(bytes, wal, eco, &loc)
        } else {
            continue;
        };
        match found {
            Ok((p, w)) => {
                packages.extend(p);
                warnings.extend(w.into_iter().map(|w| format!("{}: {w}", loc.path)));
            }
            Err(e) => warnings.push(format!("{} (layer {}): {e}; skipped", loc.path, display_layer(&loc.layer))),
        }
    }
    packages.sort();
    packages.dedup_by(|a, b| a.ecosystem == b.ecosystem && a.name == b.name && a.version == b.version && a.location.path == b.location.path);
    (os, packages, warnings)
}

fn display_layer(l: &str) -> &str {
    if l.is_empty() {
        "rootfs"
    } else {
        l
    }
}

/// Parsed packages plus per-entry warnings, or an error for a file that could not be read at all.
pub(crate) type Parsed = std::result::Result<(Vec<Package>, Vec<String>), String>;

/// Splits deb822-style text into paragraphs of (field, value) pairs; continuation lines are
/// appended to the previous field.
pub(crate) fn paragraphs(text: &str) -> Vec<Vec<(&str, String)>> {
    let mut out = Vec::new();
    let mut cur: Vec<(&str, String)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = cur.last_mut() {
                v.push('\n');
                v.push_str(line.trim());
            }
            continue;
        }
        match line.split_once(':') {
            Some((k, v)) => cur.push((k, v.trim().to_owned())),
            None => cur.push(("", line.to_owned())),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

pub(crate) fn field<'a>(p: &'a [(&str, String)], name: &str) -> Option<&'a str> {
    p.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}
