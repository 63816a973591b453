//! Turning an Engine-API create request into the runtime's [`RunOptions`].

use std::path::{Path, PathBuf};

use palisade_engine_api::containers::types::ContainerCreateRequest;
use palisade_runtime::{NetworkMode, NoNewPrivileges, OciRuntimeKind, RunOptions, Seccomp, TmpfsMount};

use crate::error::{Error, Result};

/// The runtime options of a request, plus a seccomp profile file to write (path, JSON) when the
/// CLI inlined one.
pub(crate) struct Translated {
    pub(crate) options: RunOptions,
    pub(crate) kind: OciRuntimeKind,
    pub(crate) seccomp_file: Option<(PathBuf, String)>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// `profile_path` is where an inlined seccomp profile will be written.
pub(crate) fn translate(request: &ContainerCreateRequest, default_kind: OciRuntimeKind, profile_path: &Path) -> Result<Translated> {
    let (config, host) = (&request.config, &request.host_config);
    let invalid = |m: String| Err(Error::InvalidArgument(m));
    refuse_unimplemented("Config", &config.other)?;
    refuse_unimplemented("HostConfig", &host.other)?;
    if host.privileged {
        return invalid("--privileged is not supported by Palisade: add the capabilities you need with --cap-add".into());
    }
    let kind = match host.runtime.as_str() {
        "" => default_kind,
        "crun" => OciRuntimeKind::Crun,
        "runc" => OciRuntimeKind::Runc,
        other => return invalid(format!("unknown or invalid runtime name: {other}")),
    };
    // Any other mode is a network: crate::networks makes the namespace it joins.
    let network = if host.network_mode == "host" { NetworkMode::Host } else { NetworkMode::None };
    let mut options = RunOptions {
        args: config.cmd.clone(),
        entrypoint: config.entrypoint.clone().filter(|e| !e.is_empty()),
        env: config.env.clone(),
        user: non_empty(&config.user),
        workdir: non_empty(&config.working_dir),
        hostname: non_empty(&config.hostname),
        cap_add: host.cap_add.clone(),
        cap_drop: host.cap_drop.clone(),
        read_only: host.readonly_rootfs,
        memory: u64::try_from(host.memory).ok().filter(|m| *m > 0),
        cpus: (host.nano_cpus > 0).then(|| host.nano_cpus as f64 / 1e9),
        pids_limit: host.pids_limit.filter(|p| *p > 0),
        network,
        tty: config.tty,
        console_size: host.console_size.filter(|[rows, columns]| *rows > 0 && *columns > 0).map(|[rows, columns]| (rows, columns)),
        open_stdin: config.open_stdin,
        tmpfs: host
            .tmpfs
            .iter()
            .map(|(destination, opts)| TmpfsMount {
                destination: destination.clone(),
                options: opts.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
            })
            .collect(),
        ..RunOptions::default()
    };
    let mut seccomp_file = None;
    for opt in &host.security_opt {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match key {
            "seccomp" if value == "unconfined" => options.seccomp = Seccomp::Unconfined,
            "seccomp" if value.is_empty() || value == "builtin" => options.seccomp = Seccomp::Default,
            "seccomp" => {
                options.seccomp = Seccomp::Profile(profile_path.to_owned());
                seccomp_file = Some((profile_path.to_owned(), value.to_owned()));
            }
            "no-new-privileges" => {
                options.no_new_privileges = match value {
                    "" | "true" => NoNewPrivileges::Enforced,
                    "false" => NoNewPrivileges::Disabled,
                    _ => return invalid(format!("invalid --security-opt 2: {opt:?}")),
                }
            }
            "apparmor" => options.apparmor = Some(value.to_owned()),
            _ => return invalid(format!("invalid --security-opt 1: {opt:?}")),
        }
    }
    options.runtime = Some(kind);
    Ok(Translated { options, kind, seccomp_file })
}

/// Fields only the client acts on (the CLI writes `--cidfile` itself).
const CLIENT_ONLY: &[&str] = &["ContainerIDFile"];

/// docker's flag for a field, where the user typed one.
fn flag_of(field: &str) -> Option<&'static str> {
    Some(match field {
        "Devices" => "--device",
        "PidMode" => "--pid",
        "IpcMode" => "--ipc",
        "UTSMode" => "--uts",
        "UsernsMode" => "--userns",
        "CgroupnsMode" => "--cgroupns",
        "Dns" | "DnsOptions" | "DnsSearch" => "--dns",
        "ExtraHosts" => "--add-host",
        "Links" => "--link",
        "VolumesFrom" => "--volumes-from",
        "LogConfig" => "--log-driver/--log-opt",
        "ShmSize" => "--shm-size",
        "Ulimits" => "--ulimit",
        "Sysctls" => "--sysctl",
        "GroupAdd" => "--group-add",
        "Init" => "--init",
        "Healthcheck" => "--health-cmd",
        "StopSignal" => "--stop-signal",
        "StopTimeout" => "--stop-timeout",
        _ => return None,
    })
}

/// Refuses every field of `other` that is set: Palisade implements none of them, and running
/// a container without what was asked (a device, a mount, a PID namespace) is worse than not
/// running it. `MemorySwappiness: -1` is the CLI's "unset".
fn refuse_unimplemented(section: &str, other: &std::collections::BTreeMap<String, serde_json::Value>) -> Result<()> {
    let set = other.iter().find(|(key, value)| {
        // In these maps the keys are the data (`{"80/tcp": {}}`): only an empty one is unset.
        let keyed = matches!(key.as_str(), "ExposedPorts" | "Volumes" | "PortBindings" | "Sysctls" | "StorageOpt");
        let empty = if keyed {
            value.is_null() || value.as_object().is_some_and(serde_json::Map::is_empty)
        } else {
            palisade_engine_api::types::is_unset(value)
        };
        let unset = empty
            || CLIENT_ONLY.contains(&key.as_str())
            || (key.as_str() == "MemorySwappiness" && value.as_i64() == Some(-1));
        !unset
    });
    match set {
        None => Ok(()),
        Some((key, _)) => {
            let what = flag_of(key).map_or_else(|| format!("{section}.{key}"), |flag| format!("{flag} ({section}.{key})"));
            Err(Error::InvalidArgument(format!("{what} is not supported by Palisade yet")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What docker CLI 28.2.2 sends for `docker run --rm busybox true` (recorded).
    const CLI_RUN: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,
      "Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["true"],"Image":"busybox","Volumes":{},"WorkingDir":"",
      "Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},
      "NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"",
      "VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],
      "ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,
      "PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"",
      "CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"Devices":[],
      "DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,
      "PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"MaskedPaths":null,"ReadonlyPaths":null},
      "NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","GwPriority":0}}}}"#;

    #[test]
    fn what_the_cli_always_sends_is_accepted_and_what_is_set_but_unimplemented_refused() {
        let request: ContainerCreateRequest = serde_json::from_str(CLI_RUN).unwrap();
        translate(&request, OciRuntimeKind::Crun, Path::new("/p")).unwrap();
        let refused = |patch: &dyn Fn(&mut serde_json::Value)| {
            let mut json: serde_json::Value = serde_json::from_str(CLI_RUN).unwrap();
            patch(&mut json);
            let request: ContainerCreateRequest = serde_json::from_value(json).unwrap();
            translate(&request, OciRuntimeKind::Crun, Path::new("/p")).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(refused(&|j| j["HostConfig"]["Devices"] = serde_json::json!([{"PathOnHost": "/dev/sda"}])).contains("--device"));
        assert!(refused(&|j| j["HostConfig"]["PidMode"] = "host".into()).contains("--pid"));
        assert!(refused(&|j| j["HostConfig"]["MemorySwappiness"] = 60.into()).contains("MemorySwappiness"));
        assert!(refused(&|j| j["Healthcheck"] = serde_json::json!({"Test": ["CMD", "true"]})).contains("--health-cmd"));
    }

    #[test]
    fn docker_flags_become_run_options() {
        let mut request = ContainerCreateRequest::default();
        request.host_config.security_opt = vec!["seccomp=unconfined".into(), "no-new-privileges=false".into()];
        request.host_config.memory = 32 << 20;
        request.host_config.pids_limit = Some(-1);
        request.host_config.runtime = "runc".into();
        request.host_config.network_mode = "host".into();
        let t = translate(&request, OciRuntimeKind::Crun, Path::new("/x")).unwrap();
        assert_eq!(t.options.seccomp, Seccomp::Unconfined);
        assert_eq!(t.options.no_new_privileges, NoNewPrivileges::Disabled);
        assert_eq!(t.options.memory, Some(32 << 20));
        assert_eq!(t.options.pids_limit, None);
        assert_eq!(t.kind, OciRuntimeKind::Runc);
        assert_eq!(t.options.network, NetworkMode::Host);
    }

    #[test]
    fn inlined_profiles_are_written_and_unknown_options_refused() {
        let mut request = ContainerCreateRequest::default();
        request.host_config.security_opt = vec!["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into()];
        let t = translate(&request, OciRuntimeKind::Crun, Path::new("/p.json")).unwrap();
        assert_eq!(t.seccomp_file.unwrap().1, "{\"defaultAction\":\"SCMP_ACT_ALLOW\"}");
        request.host_config.security_opt = vec!["label=disable".into()];
        assert!(translate(&request, OciRuntimeKind::Crun, Path::new("/p")).is_err());
    }
}
