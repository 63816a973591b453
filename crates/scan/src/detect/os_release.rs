//! `/etc/os-release` (os-release(5)): `ID`, `VERSION_ID`, `PRETTY_NAME`.

use crate::package::OsInfo;

/// Where os-release lives, in the order systemd reads them.
pub(crate) const PATHS: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];

pub(crate) fn parse(bytes: &[u8]) -> OsInfo {
    let text = String::from_utf8_lossy(bytes);
    let mut os = OsInfo::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
        match k.trim() {
            "ID" => os.id = v,
            "VERSION_ID" => os.version_id = v,
            "PRETTY_NAME" => os.pretty_name = v,
            _ => {}
        }
    }
    os
}
