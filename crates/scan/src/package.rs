//! What the detectors find: packages with the layer and path they came from.

use serde::{Deserialize, Serialize};

use crate::ecosystem::Ecosystem;

/// One installed package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// Name as installed (binary package name for dpkg/apk).
    pub name: String,
    /// Installed version.
    pub version: String,
    /// Source (dpkg `Source:`) or origin (apk `o:`) package, when it differs from the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_name: Option<String>,
    /// Source version, when dpkg records one that differs from the binary version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Declared license, when the metadata gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    /// Architecture, when the package database records one (rpm).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// Where it was found.
    pub location: Location,
}

/// Where a package was found: the layer that last wrote the file and the file's path.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// Layer digest (`sha256:…`) of the layer that wrote the file; empty for a plain rootfs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub layer: String,
    /// Absolute path inside the image.
    pub path: String,
}

impl Package {
    /// The name advisories use for it: the source package for OS packages, except on Red
    /// Hat, whose advisories name binary rpms.
    pub fn advisory_name(&self) -> &str {
        match self.ecosystem {
            Ecosystem::RedHat => &self.name,
            e if e.is_os() => self.source_name.as_deref().unwrap_or(&self.name),
            _ => &self.name,
        }
    }

    /// The version advisories are written against: the source version for dpkg.
    pub fn advisory_version(&self) -> &str {
        match self.ecosystem {
            Ecosystem::Debian => self.source_version.as_deref().unwrap_or(&self.version),
            _ => &self.version,
        }
    }

    /// The package URL (purl spec), with `distro` as a qualifier for OS packages, and for rpm
    /// the epoch and architecture.
    pub fn purl(&self, distro: Option<&str>) -> String {
        let enc = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~') { c.to_string() } else { format!("%{:02X}", c as u32) })
                .collect()
        };
        let (namespace, name) = match self.ecosystem {
            Ecosystem::Debian => (Some("debian".to_owned()), enc(&self.name)),
            Ecosystem::Alpine => (Some("alpine".to_owned()), enc(&self.name)),
            Ecosystem::AlmaLinux => (Some("almalinux".to_owned()), enc(&self.name)),
            Ecosystem::OpenSuse => (Some("opensuse".to_owned()), enc(&self.name)),
            Ecosystem::RedHat => (Some("redhat".to_owned()), enc(&self.name)),
            Ecosystem::RockyLinux => (Some("rocky".to_owned()), enc(&self.name)),
            Ecosystem::Suse => (Some("suse".to_owned()), enc(&self.name)),
            Ecosystem::Maven => match self.name.split_once(':') {
                Some((g, a)) => (Some(enc(g)), enc(a)),
                None => (None, enc(&self.name)),
            },
            Ecosystem::Npm => match self.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
                Some((scope, n)) => (Some(format!("%40{}", enc(scope))), enc(n)),
                None => (None, enc(&self.name)),
            },
            Ecosystem::Go => match self.name.rsplit_once('/') {
                Some((ns, n)) => (Some(ns.split('/').map(enc).collect::<Vec<_>>().join("/")), enc(n)),
                None => (None, enc(&self.name)),
            },
            _ => (None, enc(&self.name)),
        };
        let mut purl = format!("pkg:{}/", self.ecosystem.purl_type());
        if let Some(ns) = namespace {
            purl.push_str(&ns);
            purl.push('/');
        }
        purl.push_str(&name);
        purl.push('@');
        let mut q = Vec::new();
        // rpm purls carry the epoch and architecture as qualifiers (purl spec, "rpm").
        let version = match self.version.split_once(':') {
            Some((epoch, vr)) if self.ecosystem.is_rpm() => {
                q.push(format!("epoch={}", enc(epoch)));
                vr
            }
            _ => &self.version,
        };
        purl.push_str(&enc(version));
        if let Some(arch) = &self.arch {
            q.push(format!("arch={}", enc(arch)));
        }
        if self.ecosystem.is_os() {
            if let Some(src) = &self.source_name {
                if src != &self.name {
                    q.push(format!("upstream={}", enc(src)));
                }
            }
            if let Some(d) = distro {
                q.push(format!("distro={}", enc(d)));
            }
        }
        if !q.is_empty() {
            // Qualifiers in key order (purl spec, canonical form).
            q.sort();
            purl.push('?');
            purl.push_str(&q.join("&"));
        }
        purl
    }
}

/// The operating system `/etc/os-release` names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    /// `ID` (`debian`, `alpine`).
    pub id: String,
    /// `VERSION_ID` (`12`, `3.19.1`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    /// `PRETTY_NAME`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
}

impl OsInfo {
    /// The OSV ecosystem releases OS packages of this system are looked up under, most
    /// specific first: `12` (`Debian:12`), `v3.19` (`Alpine:v3.19`), `9` (`Rocky Linux:9`),
    /// Red Hat's product streams of the major release (`enterprise_linux:9::baseos`, …),
    /// and for SUSE the release's marketing name (`PRETTY_NAME`, with and without the
    /// vendor word: `openSUSE Leap 15.5`, `Leap 15.5`).
    pub fn advisory_releases(&self) -> Vec<String> {
        let major = self.version_id.split('.').next().filter(|v| !v.is_empty());
        match self.id.as_str() {
            "debian" | "almalinux" | "rocky" => major.into_iter().map(str::to_owned).collect(),
            "alpine" => {
                let mut it = self.version_id.split('.');
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => vec![format!("v{a}.{b}")],
                    _ => Vec::new(),
                }
            }
            "rhel" => major
                .map(|m| ["baseos", "appstream", "crb"].iter().map(|s| format!("enterprise_linux:{m}::{s}")).collect())
                .unwrap_or_default(),
            id if Ecosystem::for_rpm_os(id) == Ecosystem::OpenSuse || Ecosystem::for_rpm_os(id) == Ecosystem::Suse => {
                let name = self.pretty_name.trim();
                let mut out = vec![name.to_owned()];
                if let Some(short) = name.strip_prefix("openSUSE ").or_else(|| name.strip_prefix("SUSE ")) {
                    out.push(short.to_owned());
                }
                out.retain(|r| !r.is_empty());
                out
            }
            _ => Vec::new(),
        }
    }

    /// `debian-12` style distro qualifier for purls.
    pub fn distro(&self) -> Option<String> {
        (!self.id.is_empty()).then(|| if self.version_id.is_empty() { self.id.clone() } else { format!("{}-{}", self.id, self.version_id) })
    }
}
