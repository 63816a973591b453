//! Package ecosystems as OSV names them, and names normalised the way each ecosystem compares
//! them (OSV schema, "affected[].package").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A package ecosystem the scanner inventories and matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Ecosystem {
    /// AlmaLinux rpm packages (advisories keyed by source package, `AlmaLinux:N`).
    AlmaLinux,
    /// Alpine apk packages (advisories keyed by origin package, `Alpine:vX.Y`).
    Alpine,
    /// Rust crates.
    #[serde(rename = "crates.io")]
    CratesIo,
    /// Debian dpkg packages (advisories keyed by source package, `Debian:N`).
    Debian,
    /// Go modules (and the standard library as `stdlib`).
    Go,
    /// Java artifacts, `groupId:artifactId`.
    Maven,
    /// npm packages.
    #[serde(rename = "npm")]
    Npm,
    /// openSUSE rpm packages (advisories keyed by source package, `openSUSE:<release name>`).
    #[serde(rename = "openSUSE")]
    OpenSuse,
    /// Python distributions (PEP 503-normalised names).
    #[serde(rename = "PyPI")]
    PyPI,
    /// Red Hat Enterprise Linux rpm packages (advisories keyed by binary package, under a
    /// product stream: `Red Hat:enterprise_linux:9::baseos`).
    #[serde(rename = "Red Hat")]
    RedHat,
    /// Rocky Linux rpm packages (advisories keyed by source package, `Rocky Linux:N`).
    #[serde(rename = "Rocky Linux")]
    RockyLinux,
    /// rpm packages of a distribution OSV publishes no advisories for (Fedora, CentOS,
    /// Amazon Linux, …): inventoried and put in SBOMs, never matched.
    #[serde(rename = "rpm")]
    Rpm,
    /// SUSE Linux Enterprise rpm packages (keyed by source package, `SUSE:<release name>`).
    #[serde(rename = "SUSE")]
    Suse,
}

impl Ecosystem {
    /// Every ecosystem, for listings.
    pub const ALL: [Self; 13] = [
        Self::AlmaLinux,
        Self::Alpine,
        Self::CratesIo,
        Self::Debian,
        Self::Go,
        Self::Maven,
        Self::Npm,
        Self::OpenSuse,
        Self::PyPI,
        Self::RedHat,
        Self::RockyLinux,
        Self::Rpm,
        Self::Suse,
    ];

    /// The OSV ecosystem string (without a release suffix).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlmaLinux => "AlmaLinux",
            Self::Alpine => "Alpine",
            Self::CratesIo => "crates.io",
            Self::Debian => "Debian",
            Self::Go => "Go",
            Self::Maven => "Maven",
            Self::Npm => "npm",
            Self::OpenSuse => "openSUSE",
            Self::PyPI => "PyPI",
            Self::RedHat => "Red Hat",
            Self::RockyLinux => "Rocky Linux",
            Self::Rpm => "rpm",
            Self::Suse => "SUSE",
        }
    }

    /// The package-url type (purl spec, "known types").
    pub fn purl_type(self) -> &'static str {
        match self {
            Self::AlmaLinux | Self::OpenSuse | Self::RedHat | Self::RockyLinux | Self::Rpm | Self::Suse => "rpm",
            Self::Alpine => "apk",
            Self::CratesIo => "cargo",
            Self::Debian => "deb",
            Self::Go => "golang",
            Self::Maven => "maven",
            Self::Npm => "npm",
            Self::PyPI => "pypi",
        }
    }

    /// Whether this is an rpm-based distribution (versions ordered as rpm orders them).
    pub fn is_rpm(self) -> bool {
        matches!(self, Self::AlmaLinux | Self::OpenSuse | Self::RedHat | Self::RockyLinux | Self::Rpm | Self::Suse)
    }

    /// Whether packages of this ecosystem belong to the OS, so advisories are scoped to its
    /// release (`Debian:12`, `Rocky Linux:9`).
    pub fn is_os(self) -> bool {
        matches!(self, Self::Alpine | Self::Debian) || self.is_rpm()
    }

    /// The ecosystem of rpm packages on the OS os-release(5) `ID` names.
    pub fn for_rpm_os(id: &str) -> Self {
        match id {
            "almalinux" => Self::AlmaLinux,
            "rhel" => Self::RedHat,
            "rocky" => Self::RockyLinux,
            "sles" | "sled" | "sle-micro" => Self::Suse,
            id if id.starts_with("opensuse") => Self::OpenSuse,
            _ => Self::Rpm,
        }
    }

    /// A package name as this ecosystem compares it: PEP 503 for PyPI (lowercase, runs of
    /// `-_.` become `-`), as given elsewhere.
    pub fn normalize_name(self, name: &str) -> String {
        match self {
            Self::PyPI => {
                let mut out = String::with_capacity(name.len());
                let mut sep = false;
                for c in name.chars() {
                    if matches!(c, '-' | '_' | '.') {
                        sep = true;
                    } else {
                        if sep && !out.is_empty() {
                            out.push('-');
                        }
                        sep = false;
                        out.extend(c.to_lowercase());
                    }
                }
                out
            }
            _ => name.to_owned(),
        }
    }
}

impl fmt::Display for Ecosystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Ecosystem {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `rpm` is the scanner's own name for rpm packages OSV has no ecosystem for.
        Self::ALL
            .into_iter()
            .filter(|e| *e != Self::Rpm)
            .find(|e| e.as_str() == s)
            .ok_or_else(|| format!("unsupported ecosystem {s:?}"))
    }
}

/// An OSV ecosystem with its optional release (`Debian:12`, `Alpine:v3.19`, `PyPI`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EcosystemRelease {
    /// The ecosystem.
    pub ecosystem: Ecosystem,
    /// The release after the colon, if any.
    pub release: Option<String>,
}

impl EcosystemRelease {
    /// Parses an OSV `affected[].package.ecosystem` string; `None` for ecosystems not scanned.
    pub fn parse(s: &str) -> Option<Self> {
        let (eco, release) = match s.split_once(':') {
            Some((e, r)) => (e, Some(r.to_owned()).filter(|r| !r.is_empty())),
            None => (s, None),
        };
        Some(Self { ecosystem: eco.parse().ok()?, release })
    }

    /// The key prefix used in the index: `Debian:12`, `PyPI`.
    pub fn key(&self) -> String {
        match &self.release {
            Some(r) => format!("{}:{r}", self.ecosystem),
            None => self.ecosystem.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep503_names() {
        assert_eq!(Ecosystem::PyPI.normalize_name("Django_REST.framework"), "django-rest-framework");
        assert_eq!(Ecosystem::PyPI.normalize_name("a__b"), "a-b");
        assert_eq!(Ecosystem::Npm.normalize_name("@Scope/X"), "@Scope/X");
    }

    #[test]
    fn ecosystem_strings() {
        let d = EcosystemRelease::parse("Debian:12").unwrap();
        assert_eq!((d.ecosystem, d.release.as_deref(), d.key().as_str()), (Ecosystem::Debian, Some("12"), "Debian:12"));
        assert_eq!(EcosystemRelease::parse("crates.io").unwrap().ecosystem, Ecosystem::CratesIo);
        assert!(EcosystemRelease::parse("RubyGems").is_none());
        let r = EcosystemRelease::parse("Red Hat:enterprise_linux:9::appstream").unwrap();
        assert_eq!((r.ecosystem, r.release.as_deref()), (Ecosystem::RedHat, Some("enterprise_linux:9::appstream")));
        assert_eq!(EcosystemRelease::parse("Rocky Linux:9").unwrap().key(), "Rocky Linux:9");
        assert_eq!(EcosystemRelease::parse("openSUSE:Leap 15.5").unwrap().ecosystem, Ecosystem::OpenSuse);
        assert!(EcosystemRelease::parse("rpm").is_none(), "not an OSV ecosystem");
    }
}
