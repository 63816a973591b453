//! `--secret` and `--config` as docker takes them, and the references the spec carries: the
//! object's ID looked up by name, its file's target (a secret's defaults to its name, a config's
//! to `/<name>` through the daemon), owner 0:0 and mode 0444 unless given.

use std::collections::BTreeSet;

use palisade_engine_api::client::Client;
use palisade_engine_api::types::{ConfigReference, FileTarget, SecretReference};

use super::super::secret::{ids_by_name, Kind};

/// A `--secret`/`--config` value: the object's name and where its file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileRef {
    source: String,
    file: FileTarget,
}

pub(super) fn parse_secret(value: &str) -> Result<FileRef, String> {
    parse_file_ref(value, Kind::Secret)
}

pub(super) fn parse_config(value: &str) -> Result<FileRef, String> {
    parse_file_ref(value, Kind::Config)
}

/// docker's `--secret`/`--config` syntax: `NAME`, or comma-separated `source|src=`, `target=`,
/// `uid=`, `gid=`, `mode=` (a number in Go's base-0 syntax: `0440` is octal).
fn parse_file_ref(value: &str, kind: Kind) -> Result<FileRef, String> {
    let mut file = FileTarget { name: String::new(), uid: "0".into(), gid: "0".into(), mode: 0o444 };
    let mut source = String::new();
    if !value.contains('=') && !value.contains(',') {
        source = value.to_owned();
    } else {
        for field in value.split(',') {
            let (key, val) = field.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| format!("invalid field '{field}' must be a key=value pair"))?;
            match key.to_ascii_lowercase().as_str() {
                "source" | "src" => source = val.to_owned(),
                "target" => file.name = val.to_owned(),
                "uid" => file.uid = val.to_owned(),
                "gid" => file.gid = val.to_owned(),
                "mode" => file.mode = parse_go_uint(val).ok_or_else(|| format!("invalid mode specified: {val}"))?,
                _ => return Err(format!("invalid field in {} request: {key}", kind.noun())),
            }
        }
    }
    if source.is_empty() {
        return Err("source is required".into());
    }
    if file.name.is_empty() {
        file.name = source.clone();
    }
    Ok(FileRef { source, file })
}

/// Go's `strconv.ParseUint(s, 0, 32)`: `0x` hex, `0o` or a leading `0` octal, `0b` binary.
fn parse_go_uint(text: &str) -> Option<u32> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = match lower.as_bytes() {
        [b'0', b'x', ..] => (&lower[2..], 16),
        [b'0', b'o', ..] => (&lower[2..], 8),
        [b'0', b'b', ..] => (&lower[2..], 2),
        [b'0', _, ..] => (&lower[1..], 8),
        _ => (lower.as_str(), 10),
    };
    let digits = digits.replace('_', "");
    (!digits.starts_with('+')).then(|| u32::from_str_radix(&digits, radix).ok()).flatten()
}

/// The IDs of `refs`' objects, looked up by name as docker does; a target used twice is refused.
async fn resolve(client: &Client, kind: Kind, refs: &[FileRef]) -> anyhow::Result<Vec<(FileRef, String)>> {
    let mut targets = BTreeSet::new();
    for r in refs {
        anyhow::ensure!(targets.insert(&r.file.name), "duplicate {} target for {} not allowed", kind.noun(), r.source);
    }
    let names: Vec<&str> = refs.iter().map(|r| r.source.as_str()).collect();
    let ids = ids_by_name(client, kind, &names).await?;
    Ok(refs.iter().map(|r| (r.clone(), ids.get(&r.source).cloned().unwrap_or_default())).collect())
}

pub(super) async fn secret_refs(client: &Client, refs: &[FileRef]) -> anyhow::Result<Vec<SecretReference>> {
    let resolved = resolve(client, Kind::Secret, refs).await?;
    Ok(resolved.into_iter().map(|(r, id)| SecretReference { file: Some(r.file), secret_id: id, secret_name: r.source }).collect())
}

pub(super) async fn config_refs(client: &Client, refs: &[FileRef]) -> anyhow::Result<Vec<ConfigReference>> {
    let resolved = resolve(client, Kind::Config, refs).await?;
    Ok(resolved.into_iter().map(|(r, id)| ConfigReference { file: Some(r.file), runtime: None, config_id: id, config_name: r.source }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_and_config_flags_are_read_as_docker_reads_them() {
        let short = parse_secret("db_pw").unwrap();
        assert_eq!((short.source.as_str(), short.file.name.as_str(), short.file.mode), ("db_pw", "db_pw", 0o444));
        assert_eq!((short.file.uid.as_str(), short.file.gid.as_str()), ("0", "0"));
        let long = parse_secret("src=db_pw,target=pw,uid=1000,gid=10,mode=0400").unwrap();
        assert_eq!(long.file, FileTarget { name: "pw".into(), uid: "1000".into(), gid: "10".into(), mode: 0o400 });
        assert_eq!(parse_secret("source=a,mode=292").unwrap().file.mode, 0o444, "mode without a leading 0 is decimal, as Go's base 0");
        assert_eq!(parse_config("source=app,target=/etc/app.conf").unwrap().file.name, "/etc/app.conf");
        assert_eq!(parse_config("app").unwrap().file.name, "app", "the daemon puts a relative target under /");
        assert_eq!(parse_secret("target=pw").unwrap_err(), "source is required");
        assert_eq!(parse_secret("source=a,colour=red").unwrap_err(), "invalid field in secret request: colour");
        assert_eq!(parse_config("source=a,colour=red").unwrap_err(), "invalid field in config request: colour");
        assert_eq!(parse_secret("source=a,mode").unwrap_err(), "invalid field 'mode' must be a key=value pair");
        assert!(parse_secret("source=a,mode=0999").is_err());
    }

    #[test]
    fn go_base_zero_numbers() {
        assert_eq!(parse_go_uint("0440"), Some(0o440));
        assert_eq!(parse_go_uint("0o440"), Some(0o440));
        assert_eq!(parse_go_uint("0x1ff"), Some(0o777));
        assert_eq!(parse_go_uint("420"), Some(420));
        assert_eq!(parse_go_uint("0"), Some(0));
        assert_eq!(parse_go_uint("-1"), None);
        assert_eq!(parse_go_uint("+1"), None);
    }
}
