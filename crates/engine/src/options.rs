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
    if host.privileged {
        return invalid("--privileged is not supported by Palisade: add the capabilities you need with --cap-add".into());
    }
    if !host.binds.is_empty() {
        return invalid("bind mounts (-v) are not supported yet".into());
    }
    if config.tty || config.open_stdin {
        return invalid("-t and -i are not supported yet".into());
    }
    if !matches!(host.restart_policy.name.as_str(), "" | "no") {
        return invalid(format!("restart policy {:?} is not supported yet", host.restart_policy.name));
    }
    let kind = match host.runtime.as_str() {
        "" => default_kind,
        "crun" => OciRuntimeKind::Crun,
        "runc" => OciRuntimeKind::Runc,
        other => return invalid(format!("unknown or invalid runtime name: {other}")),
    };
    let network = match host.network_mode.as_str() {
        "" | "default" | "none" => NetworkMode::None,
        "host" => NetworkMode::Host,
        other => return invalid(format!("network {other} not found: Palisade containers use --network none (the default) or host")),
    };
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
    Ok(Translated { options, kind, seccomp_file })
}

#[cfg(test)]
mod tests {
    use super::*;

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
        request.host_config.security_opt.clear();
        request.host_config.network_mode = "bridge".into();
        assert!(translate(&request, OciRuntimeKind::Crun, Path::new("/p")).is_err());
    }
}
