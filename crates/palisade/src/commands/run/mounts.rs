//! `palisade run -v`, `--mount` and `--restart`, parsed as the docker CLI parses them into
//! `HostConfig.Binds`, `Config.Volumes`, `HostConfig.Mounts` and `HostConfig.RestartPolicy`.
//! What the daemon does not implement is passed on under docker's field names for it to
//! refuse, never dropped.

use std::collections::BTreeMap;

use palisade_engine_api::containers::types::{BindOptions, Mount, RestartPolicy, TmpfsOptions, VolumeOptions};
use serde_json::{json, Value};

/// One `-v`: `SOURCE:TARGET[:OPTIONS]` (a host path or a volume name) is a bind; `TARGET`
/// alone is an anonymous volume.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum VolumeSpec {
    /// For `HostConfig.Binds`, a relative host path (`./data`) made absolute.
    Bind(String),
    /// For `Config.Volumes`: the target.
    Anonymous(String),
}

/// Parses `-v` as docker's CLI.
pub(super) fn volume_spec(spec: &str) -> anyhow::Result<VolumeSpec> {
    anyhow::ensure!(!spec.trim().is_empty(), "invalid empty volume spec");
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [target] => Ok(VolumeSpec::Anonymous((*target).to_owned())),
        [source, rest @ ..] if rest.len() <= 2 => {
            anyhow::ensure!(!source.is_empty() && rest.first().is_some_and(|t| !t.is_empty()), "invalid volume specification: '{spec}'");
            if source.starts_with('.') {
                let absolute = std::path::absolute(source).map_err(|e| anyhow::anyhow!("invalid volume specification: '{spec}': {e}"))?;
                return Ok(VolumeSpec::Bind(format!("{}:{}", absolute.display(), rest.join(":"))));
            }
            Ok(VolumeSpec::Bind(spec.to_owned()))
        }
        _ => anyhow::bail!("invalid spec: {spec}: too many colons"),
    }
}

/// Parses `--restart no|always|unless-stopped|on-failure[:N]` as docker's CLI (which policy
/// names exist is the daemon's to say).
pub(super) fn restart_policy(policy: &str) -> anyhow::Result<RestartPolicy> {
    let (name, count) = match policy.split_once(':') {
        Some(("", _)) => anyhow::bail!("invalid restart policy format: no policy provided before colon"),
        Some((name, count)) => {
            let count = count.parse().map_err(|_| anyhow::anyhow!("invalid restart policy format: maximum retry count must be an integer"))?;
            (name, count)
        }
        None => (policy, 0),
    };
    Ok(RestartPolicy { name: name.to_owned(), maximum_retry_count: count })
}

/// Parses `--mount type=bind|volume|tmpfs,source=…,target=…[,readonly][,…]` (CSV, as docker's
/// `MountOpt`; the type defaults to `volume`).
pub(super) fn mount_spec(spec: &str) -> anyhow::Result<Mount> {
    let spec = spec.trim();
    anyhow::ensure!(!spec.is_empty(), "invalid --mount: value is empty");
    let mut mount = Mount { r#type: "volume".into(), ..Mount::default() };
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((key, value)) => (key.to_ascii_lowercase(), Some(value)),
            None => (field.to_ascii_lowercase(), None),
        };
        let bad = || anyhow::anyhow!("invalid --mount {spec:?}: invalid value for {key}: {}", value.unwrap_or_default());
        let flag = || value.map_or(Some(true), parse_bool).ok_or_else(bad);
        match (key.as_str(), value) {
            ("readonly" | "ro", _) => mount.read_only = flag()?,
            ("volume-nocopy", _) => volume_options(&mut mount).no_copy = flag()?,
            ("bind-nonrecursive", _) => {
                let nonrecursive = flag()?;
                let options = &mut mount.bind_options.get_or_insert_with(BindOptions::default).other;
                if nonrecursive {
                    set(options, "NonRecursive", json!(true));
                }
            }
            (_, None) => anyhow::bail!("invalid --mount {spec:?}: invalid field '{field}' must be a key=value pair"),
            ("type", Some(v)) => mount.r#type = v.to_ascii_lowercase(),
            ("source" | "src", Some(v)) => {
                mount.source = if v == "." || v.starts_with("./") {
                    std::path::absolute(v).map_or_else(|_| v.to_owned(), |p| p.display().to_string())
                } else {
                    v.to_owned()
                };
            }
            ("target" | "dst" | "destination", Some(v)) => mount.target = v.to_owned(),
            ("consistency", Some(v)) => set(&mut mount.other, "Consistency", json!(v.to_ascii_lowercase())),
            ("bind-propagation", Some(v)) => mount.bind_options.get_or_insert_with(BindOptions::default).propagation = v.to_ascii_lowercase(),
            ("bind-recursive", Some(v)) => {
                let options = &mut mount.bind_options.get_or_insert_with(BindOptions::default).other;
                match parse_bool(v).map(|b| if b { "enabled" } else { "disabled" }).unwrap_or(v) {
                    "enabled" => {}
                    "disabled" => set(options, "NonRecursive", json!(true)),
                    "writable" => set(options, "ReadOnlyNonRecursive", json!(true)),
                    "readonly" => set(options, "ReadOnlyForceRecursive", json!(true)),
                    _ => anyhow::bail!("invalid --mount {spec:?}: invalid value for {key}: {v} (must be \"enabled\", \"disabled\", \"writable\", or \"readonly\")"),
                }
            }
            ("volume-subpath", Some(v)) => set(&mut volume_options(&mut mount).other, "Subpath", json!(v)),
            ("volume-label", Some(v)) => {
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                if !k.is_empty() {
                    volume_options(&mut mount).labels.insert(k.to_owned(), val.to_owned());
                }
            }
            ("volume-driver", Some(v)) => driver_config(&mut mount)["Name"] = json!(v),
            ("volume-opt", Some(v)) => {
                let (k, val) = v.split_once('=').unwrap_or((v, ""));
                if !k.is_empty() {
                    driver_config(&mut mount)["Options"][k] = json!(val);
                }
            }
            ("tmpfs-size", Some(v)) => {
                mount.tmpfs_options.get_or_insert_with(TmpfsOptions::default).size_bytes = ram_in_bytes(v).ok_or_else(bad)?;
            }
            ("tmpfs-mode", Some(v)) => {
                mount.tmpfs_options.get_or_insert_with(TmpfsOptions::default).mode = u32::from_str_radix(v, 8).map_err(|_| bad())?;
            }
            (other, Some(_)) => anyhow::bail!("invalid --mount {spec:?}: unexpected key '{other}' in '{field}'"),
        }
    }
    anyhow::ensure!(!mount.r#type.is_empty(), "invalid --mount {spec:?}: type is required");
    anyhow::ensure!(!mount.target.is_empty(), "invalid --mount {spec:?}: target is required");
    for (options, kind) in [(mount.volume_options.is_some(), "volume"), (mount.bind_options.is_some(), "bind"), (mount.tmpfs_options.is_some(), "tmpfs")] {
        anyhow::ensure!(!options || mount.r#type == kind, "invalid --mount {spec:?}: cannot mix '{kind}-*' options with mount type '{}'", mount.r#type);
    }
    let writable_recursive = mount.bind_options.as_ref().is_some_and(|b| b.other.contains_key("ReadOnlyNonRecursive"));
    anyhow::ensure!(!writable_recursive || mount.read_only, "invalid --mount {spec:?}: option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction");
    Ok(mount)
}

fn set(map: &mut BTreeMap<String, Value>, key: &str, value: Value) {
    map.insert(key.to_owned(), value);
}

fn volume_options(mount: &mut Mount) -> &mut VolumeOptions {
    mount.volume_options.get_or_insert_with(VolumeOptions::default)
}

/// `VolumeOptions.DriverConfig` (`{"Name": …, "Options": {…}}`), which the daemon refuses.
fn driver_config(mount: &mut Mount) -> &mut Value {
    volume_options(mount).other.entry("DriverConfig".into()).or_insert_with(|| json!({}))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The fields of one CSV record (Go's `encoding/csv`: `"…"` quotes a field, `""` a quote).
fn csv_fields(record: &str) -> anyhow::Result<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = record.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        let field = fields.last_mut().ok_or_else(|| anyhow::anyhow!("unreachable: no CSV field"))?;
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => quoted = false,
            ('"', false) if field.is_empty() => quoted = true,
            (',', false) => fields.push(String::new()),
            (c, _) => field.push(c),
        }
    }
    anyhow::ensure!(!quoted, "invalid --mount {record:?}: a quote is not closed");
    Ok(fields)
}

/// go-units' `RAMInBytes`: `512`, `64k`, `1.5m`, `2GiB`, `1 gb` (binary multiples).
fn ram_in_bytes(size: &str) -> Option<i64> {
    let split = size.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(size.len());
    let (number, suffix) = size.split_at(split);
    let number: f64 = number.parse().ok()?;
    let suffix = suffix.strip_prefix(' ').unwrap_or(suffix).to_ascii_lowercase();
    let multiplier: f64 = match suffix.as_bytes() {
        [] | [b'b'] => 1.0,
        [unit] | [unit, b'b'] | [unit, b'i', b'b'] => {
            let power = b"kmgtp".iter().position(|u| u == unit)?;
            1024f64.powi(i32::try_from(power).ok()? + 1)
        }
        _ => return None,
    };
    Some((number * multiplier) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_binds_or_anonymous_as_docker_splits_them() {
        assert_eq!(volume_spec("data:/data").unwrap(), VolumeSpec::Bind("data:/data".into()));
        assert_eq!(volume_spec("/host:/h:ro").unwrap(), VolumeSpec::Bind("/host:/h:ro".into()));
        assert_eq!(volume_spec("/scratch").unwrap(), VolumeSpec::Anonymous("/scratch".into()));
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(volume_spec("./d:/d:ro").unwrap(), VolumeSpec::Bind(format!("{}/d:/d:ro", cwd.display())));
        assert!(volume_spec("").unwrap_err().to_string().contains("empty"));
        assert!(volume_spec("a:b:c:d").unwrap_err().to_string().contains("too many colons"));
        assert!(volume_spec(":/x").is_err());
    }

    #[test]
    fn restart_policies_parse_as_docker() {
        assert_eq!(restart_policy("always").unwrap(), RestartPolicy { name: "always".into(), maximum_retry_count: 0 });
        assert_eq!(restart_policy("on-failure:3").unwrap(), RestartPolicy { name: "on-failure".into(), maximum_retry_count: 3 });
        assert!(restart_policy(":3").unwrap_err().to_string().contains("no policy"));
        assert!(restart_policy("on-failure:x").unwrap_err().to_string().contains("must be an integer"));
    }

    #[test]
    fn mounts_parse_as_docker() {
        let m = mount_spec("type=bind,src=/srv,dst=/s,readonly,bind-propagation=rprivate").unwrap();
        assert_eq!((m.r#type.as_str(), m.source.as_str(), m.target.as_str(), m.read_only), ("bind", "/srv", "/s", true));
        assert_eq!(m.bind_options.unwrap().propagation, "rprivate");
        let m = mount_spec("target=/d,source=data,volume-label=a=b,ro=false").unwrap();
        assert_eq!((m.r#type.as_str(), m.read_only), ("volume", false));
        assert_eq!(m.volume_options.unwrap().labels["a"], "b");
        let m = mount_spec("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap();
        let t = m.tmpfs_options.unwrap();
        assert_eq!((t.size_bytes, t.mode), (1 << 20, 0o1770));
        // Passed on for the daemon to refuse.
        let m = mount_spec("type=volume,target=/d,\"volume-opt=o=addr=1.2.3.4,rw\",volume-driver=nfs").unwrap();
        assert_eq!(m.volume_options.unwrap().other["DriverConfig"], json!({"Name": "nfs", "Options": {"o": "addr=1.2.3.4,rw"}}));
        for (spec, message) in [
            ("type=bind,source=/x", "target is required"),
            ("type=tmpfs,target=/t,bind-propagation=shared", "cannot mix 'bind-*'"),
            ("target=/t,color=blue", "unexpected key 'color'"),
            ("target=/t,bogus", "must be a key=value pair"),
            ("type=tmpfs,target=/t,tmpfs-size=lots", "invalid value for tmpfs-size"),
            ("type=bind,source=/x,target=/t,bind-recursive=writable", "requires 'readonly'"),
            ("", "empty"),
        ] {
            let err = mount_spec(spec).unwrap_err().to_string();
            assert!(err.contains(message), "{spec}: {err}");
        }
    }

    #[test]
    fn sizes_parse_as_go_units() {
        assert_eq!(ram_in_bytes("512"), Some(512));
        assert_eq!(ram_in_bytes("64k"), Some(65536));
        assert_eq!(ram_in_bytes("1.5m"), Some(1_572_864));
        assert_eq!(ram_in_bytes("2GiB"), Some(2 << 30));
        assert_eq!(ram_in_bytes("1 gb"), Some(1 << 30));
        assert_eq!(ram_in_bytes("1x"), None);
        assert_eq!(ram_in_bytes("k"), None);
        assert_eq!(ram_in_bytes("1kbb"), None);
    }
}
