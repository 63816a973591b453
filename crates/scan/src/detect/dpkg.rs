//! dpkg: `/var/lib/dpkg/status` and, for distroless images, `/var/lib/dpkg/status.d/*`
//! (one paragraph per file, no `Status:` field). Each package keeps its source package
//! (`Source: name (version)`), which Debian advisories are keyed by.

use super::{field, paragraphs, Parsed};
use crate::ecosystem::Ecosystem;
use crate::package::{Location, Package};

pub(crate) fn wants(path: &str) -> bool {
    path == "var/lib/dpkg/status"
        || path.strip_prefix("var/lib/dpkg/status.d/").is_some_and(|n| !n.contains('/') && !n.ends_with(".md5sums"))
}

pub(crate) fn parse(bytes: &[u8], loc: &Location, distroless: bool) -> Parsed {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not a dpkg status file (not UTF-8: {e})"))?;
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let paras = paragraphs(text);
    if paras.is_empty() && !text.trim().is_empty() {
        return Err("not a dpkg status file (no paragraphs)".into());
    }
    for (i, p) in paras.iter().enumerate() {
        let (Some(name), Some(version)) = (field(p, "Package"), field(p, "Version")) else {
            warnings.push(format!("paragraph {} has no Package or Version field; skipped", i + 1));
            continue;
        };
        if !distroless {
            let installed = field(p, "Status").is_some_and(|s| s.split_whitespace().last() == Some("installed"));
            if !installed {
                continue;
            }
        }
        if crate::version::DpkgVersion::parse(version).is_none() {
            warnings.push(format!("package {name}: invalid version {version:?}; skipped"));
            continue;
        }
        let (source_name, source_version) = match field(p, "Source") {
            Some(s) => match s.split_once(' ') {
                Some((n, v)) => (Some(n.to_owned()), Some(v.trim().trim_start_matches('(').trim_end_matches(')').to_owned())),
                None => (Some(s.to_owned()), None),
            },
            None => (None, None),
        };
        out.push(Package {
            ecosystem: Ecosystem::Debian,
            name: name.to_owned(),
            version: version.to_owned(),
            source_name: Some(source_name.unwrap_or_else(|| name.to_owned())),
            source_version: Some(source_version.unwrap_or_else(|| version.to_owned())),
            license: None,
            arch: None,

            location: loc.clone(),
        });
    }
    Ok((out, warnings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_with_sources_and_states() {
        let status = "Package: libssl3\nStatus: install ok installed\nVersion: 3.0.11-1~deb12u2\nSource: openssl\n\n\
Package: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
Package: bsdutils\nStatus: install ok installed\nVersion: 1:2.38.1-5+b1\nSource: util-linux (2.38.1-5)\nDescription: x\n more\n\n\
Status: install ok installed\nVersion: 9\n";
        let (p, w) = parse(status.as_bytes(), &Location::default(), false).unwrap();
        let got: Vec<_> = p.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.advisory_name(), p.advisory_version())).collect();
        assert_eq!(got, [("libssl3", "3.0.11-1~deb12u2", "openssl", "3.0.11-1~deb12u2"), ("bsdutils", "1:2.38.1-5+b1", "util-linux", "2.38.1-5")]);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(parse(&[0xff, 0xfe, 0], &Location::default(), false).is_err());
    }
}
