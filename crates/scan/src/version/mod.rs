//! Version ordering per ecosystem, from well-kept crates where they exist (`semver`,
//! `pep440_rs`, `rpm-version`) and from the ecosystems' own algorithms otherwise (dpkg, apk,
//! Maven).

mod apk;
mod dpkg;
mod maven;

use std::cmp::Ordering;

pub use dpkg::DpkgVersion;

use crate::ecosystem::Ecosystem;

/// Compares `a` with `b` under `ecosystem`'s rules; `None` when either is not a version of
/// that ecosystem (such advisories are reported as unmatched, never guessed).
pub fn compare(ecosystem: Ecosystem, a: &str, b: &str) -> Option<Ordering> {
    match ecosystem {
        Ecosystem::Debian => dpkg::compare(a, b),
        Ecosystem::Alpine => apk::compare(a, b),
        Ecosystem::PyPI => {
            let a: pep440_rs::Version = a.trim().parse().ok()?;
            let b: pep440_rs::Version = b.trim().parse().ok()?;
            Some(a.cmp(&b))
        }
        Ecosystem::Npm | Ecosystem::CratesIo => semver_cmp(a, b),
        Ecosystem::Go => semver_cmp(go_semver(a), go_semver(b)),
        Ecosystem::Maven => Some(maven::compare(a, b)),
        Ecosystem::AlmaLinux | Ecosystem::OpenSuse | Ecosystem::RedHat | Ecosystem::RockyLinux | Ecosystem::Rpm | Ecosystem::Suse => {
            rpm_cmp(a, b)
        }
    }
}

/// rpm's ordering of `[epoch:]version[-release]` (rpmvercmp on each part, a missing epoch
/// being 0; `~` sorts before anything, `^` after the end but before anything else).
fn rpm_cmp(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() || b.is_empty() {
        return None;
    }
    Some(rpm_version::rpm_evr_compare(a, b))
}

/// SemVer 2.0 precedence (build metadata ignored).
fn semver_cmp(a: &str, b: &str) -> Option<Ordering> {
    let a = semver::Version::parse(a.trim()).ok()?;
    let b = semver::Version::parse(b.trim()).ok()?;
    Some(a.cmp_precedence(&b))
}

/// A Go module version as SemVer: `v1.2.3` → `1.2.3`, pseudo-versions
/// (`v0.0.0-20200101000000-abcdef123456`) are SemVer pre-releases already, and Go toolchain
/// versions (`go1.21`, `1.21rc2`) are padded to three numbers.
fn go_semver(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('v').or_else(|| v.strip_prefix("go")).unwrap_or(v)
}

/// Go toolchain version (`go1.21`, `go1.19.8`) as the `stdlib` module version OSV uses.
pub fn go_toolchain_version(v: &str) -> String {
    let v = v.trim().strip_prefix("go").unwrap_or(v);
    // "1.21rc2" → "1.21.0-rc.2"; "1.21" → "1.21.0".
    let (num, pre) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (v.get(..i).unwrap_or(v), v.get(i..)),
        None => (v, None),
    };
    let mut parts: Vec<&str> = num.split('.').collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = parts.join(".");
    if let Some(pre) = pre {
        let (word, n) = pre.split_at(pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len()));
        out.push('-');
        out.push_str(word);
        if !n.is_empty() {
            out.push('.');
            out.push_str(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ecosystem() {
        use Ordering::*;
        assert_eq!(compare(Ecosystem::PyPI, "1.0rc1", "1.0"), Some(Less));
        assert_eq!(compare(Ecosystem::PyPI, "1.0.post1", "1.0"), Some(Greater));
        assert_eq!(compare(Ecosystem::PyPI, "1.0.dev1", "1.0a1"), Some(Less));
        assert_eq!(compare(Ecosystem::PyPI, "1!0.1", "2.0"), Some(Greater));
        assert_eq!(compare(Ecosystem::PyPI, "1.0RC1", "1.0rc1"), Some(Equal));
        assert_eq!(compare(Ecosystem::Npm, "1.0.0-alpha", "1.0.0"), Some(Less));
        assert_eq!(compare(Ecosystem::CratesIo, "1.0.0+build", "1.0.0"), Some(Equal));
        assert_eq!(compare(Ecosystem::Go, "v0.0.0-20200101000000-abcdef123456", "v0.1.0"), Some(Less));
        assert_eq!(compare(Ecosystem::Go, "v1.2.3+incompatible", "v1.2.3"), Some(Equal));
        assert_eq!(compare(Ecosystem::Go, "v1.10.0", "v1.9.9"), Some(Greater));
        assert_eq!(compare(Ecosystem::Npm, "not-a-version", "1.0.0"), None);
        assert_eq!(compare(Ecosystem::RockyLinux, "1:1.0-1.el9", "2.0-1.el9"), Some(Greater));
        assert_eq!(compare(Ecosystem::RedHat, "0:1.0-1", "1.0-1"), Some(Equal));
        assert_eq!(compare(Ecosystem::AlmaLinux, "1.0~rc1-1", "1.0-1"), Some(Less));
        assert_eq!(compare(Ecosystem::Suse, "1.0^git1-1", "1.0-1"), Some(Greater));
    }

    #[test]
    fn go_toolchains() {
        assert_eq!(go_toolchain_version("go1.19.8"), "1.19.8");
        assert_eq!(go_toolchain_version("go1.21"), "1.21.0");
        assert_eq!(go_toolchain_version("go1.21rc2"), "1.21.0-rc.2");
    }
}
