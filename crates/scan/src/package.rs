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
    /// The name advisories use for it: the source package for dpkg and apk.
    pub fn advisory_name(&self) -> &str {
        match self.ecosystem {
            Ecosystem::Debian | Ecosystem::Alpine => self.source_name.as_deref().unwrap_or(&self.name),
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

    /// The package URL (purl spec), with `distro` as a qualifier for OS packages.
    pub fn purl(&self, distro: Option<&str>) -> String {
        let enc = |s: &str| -> String {
            s.chars()
                .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '~') { c.to_string() } else { format!("%{:02X}", c as u32) })
                .collect()
        };
        let (namespace, name) = match self.ecosystem {
            Ecosystem::Debian => (Some("debian".to_owned()), enc(&self.name)),
            Ecosystem::Alpine => (Some("alpine".to_owned()), enc(&self.name)),
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
        purl.push_str(&enc(&self.version));
        let mut q = Vec::new();
        if matches!(self.ecosystem, Ecosystem::Debian | Ecosystem::Alpine) {
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
    /// The OSV ecosystem release for OS packages: `Debian:12`, `Alpine:v3.19`.
    pub fn advisory_release(&self) -> Option<String> {
        match self.id.as_str() {
            "debian" => self.version_id.split('.').next().filter(|v| !v.is_empty()).map(str::to_owned),
            "alpine" => {
                let mut it = self.version_id.split('.');
                match (it.next(), it.next()) {
                    (Some(a), Some(b)) => Some(format!("v{a}.{b}")),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// `debian-12` style distro qualifier for purls.
    pub fn distro(&self) -> Option<String> {
        (!self.id.is_empty()).then(|| if self.version_id.is_empty() { self.id.clone() } else { format!("{}-{}", self.id, self.version_id) })
    }
}
