use std::fs;

use oci_spec::runtime::{Capability, LinuxNamespaceType};

use super::*;
use crate::bundle::options::{TmpfsMount, UsernsRemap};
use crate::syscall::RecordingSyscall;

fn image(json: serde_json::Value) -> ImageConfiguration {
    serde_json::from_value(json).unwrap()
}

fn busybox_image() -> ImageConfiguration {
    image(serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin", "A=image"], "Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo hi"], "User": "app", "WorkingDir": "/home/app"},
        "rootfs": {"type": "layers", "diff_ids": []}
    }))
}

fn bundle() -> (tempfile::TempDir, BundlePaths) {
    let d = tempfile::tempdir().unwrap();
    let paths = BundlePaths { bundle: d.path().to_path_buf() };
    fs::create_dir_all(paths.rootfs().join("etc")).unwrap();
    fs::write(paths.rootfs().join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n").unwrap();
    fs::write(paths.rootfs().join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
    (d, paths)
}

fn id() -> ContainerId {
    "c0ffee0123456789".parse().unwrap()
}

#[test]
fn defaults_match_docker_hardening() {
    let (_d, paths) = bundle();
    let sys = RecordingSyscall::default();
    let spec = build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &RunOptions::default(), &sys).unwrap();
    let p = spec.process().clone().unwrap();
    let caps = p.capabilities().clone().unwrap();
    for set in [caps.bounding(), caps.effective(), caps.permitted()] {
        let set = set.clone().unwrap();
        assert_eq!(set.len(), 14);
        assert!(set.contains(&Capability::NetBindService) && !set.contains(&Capability::SysAdmin));
    }
    assert!(caps.inheritable().clone().unwrap_or_default().is_empty());
    assert!(caps.ambient().clone().unwrap_or_default().is_empty());
    assert_eq!(p.no_new_privileges(), Some(true));
    let rl = p.rlimits().clone().unwrap();
    assert_eq!((rl[0].soft(), rl[0].hard()), (DEFAULT_NOFILE, DEFAULT_NOFILE));
    assert_eq!(p.args().clone().unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
    assert_eq!((p.user().uid(), p.user().gid()), (1000, 1000));
    assert_eq!(p.cwd().display().to_string(), "/home/app");
    let env = p.env().clone().unwrap();
    assert!(env.contains(&"A=image".to_owned()) && env.contains(&"HOSTNAME=c0ffee012345".to_owned()));
    assert_eq!(spec.hostname().as_deref(), Some("c0ffee012345"));

    let linux = spec.linux().clone().unwrap();
    let ns: Vec<_> = linux.namespaces().clone().unwrap().iter().map(|n| n.typ()).collect();
    for t in [LinuxNamespaceType::Pid, LinuxNamespaceType::Network, LinuxNamespaceType::Mount, LinuxNamespaceType::Ipc, LinuxNamespaceType::Uts, LinuxNamespaceType::Cgroup] {
        assert!(ns.contains(&t), "{t:?} missing");
    }
    assert!(!ns.contains(&LinuxNamespaceType::User));
    assert_eq!(linux.masked_paths().clone().unwrap(), MASKED_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(linux.readonly_paths().clone().unwrap(), READONLY_PATHS.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(linux.seccomp().is_some());
    let dests: Vec<_> = spec.mounts().clone().unwrap().iter().map(|m| m.destination().display().to_string()).collect();
    for d in ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"] {
        assert!(dests.contains(&d.to_owned()), "{d} missing");
    }
    assert_eq!(spec.root().clone().unwrap().readonly(), Some(false));
}

#[test]
fn options_change_the_spec() {
    let (_d, paths) = bundle();
    let sys = RecordingSyscall::default();
    let opts = RunOptions {
        args: vec!["id".into()],
        user: Some("0:0".into()),
        cap_drop: vec!["ALL".into()],
        seccomp: Seccomp::Unconfined,
        no_new_privileges: NoNewPrivileges::Disabled,
        read_only: true,
        tmpfs: vec![TmpfsMount { destination: "/scratch".into(), options: vec!["size=1m".into()] }],
        memory: Some(32 << 20),
        cpus: Some(0.5),
        pids_limit: Some(20),
        network: NetworkMode::None,
        userns: Some(UsernsRemap::default()),
        hostname: Some("web-1".into()),
        env: vec!["A=opt".into()],
        mounts: vec![ExtraMount::SecretsTmpfs { destination: "/run/secrets".into(), size_bytes: 1 << 20 }],
        ..RunOptions::default()
    };
    let spec = build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &opts, &sys).unwrap();
    let p = spec.process().clone().unwrap();
    assert_eq!(p.args().clone().unwrap(), vec!["/bin/sh", "-c", "id"]);
    assert!(p.capabilities().clone().unwrap().effective().clone().unwrap().is_empty());
    assert_eq!(p.no_new_privileges(), Some(false));
    assert!(p.env().clone().unwrap().contains(&"A=opt".to_owned()));
    assert!(!p.env().clone().unwrap().contains(&"A=image".to_owned()));
    let linux = spec.linux().clone().unwrap();
    assert!(linux.seccomp().is_none());
    let r = linux.resources().clone().unwrap();
    assert_eq!(r.memory().unwrap().limit(), Some(32 << 20));
    assert_eq!(r.cpu().clone().unwrap().quota(), Some(50_000));
    assert_eq!(r.pids().unwrap().limit(), 20);
    assert_eq!(linux.uid_mappings().clone().unwrap()[0].host_id(), 100_000);
    assert!(linux.namespaces().clone().unwrap().iter().any(|n| n.typ() == LinuxNamespaceType::User));
    assert_eq!(spec.root().clone().unwrap().readonly(), Some(true));
    assert_eq!(spec.hostname().as_deref(), Some("web-1"));
    let secrets = spec.mounts().clone().unwrap().into_iter().find(|m| m.destination().to_str() == Some("/run/secrets")).unwrap();
    assert_eq!(secrets.source().clone().unwrap(), paths.secrets_dir());
    assert!(secrets.options().clone().unwrap().contains(&"ro".to_owned()));
}

#[test]
fn apparmor_without_the_lsm_is_a_clear_error() {
    let (_d, paths) = bundle();
    let opts = RunOptions { apparmor: Some("docker-default".into()), ..RunOptions::default() };
    let err = build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &opts, &RecordingSyscall::default()).unwrap_err();
    assert!(matches!(err, Error::AppArmorUnavailable { .. }), "{err}");
    assert!(err.to_string().contains("AppArmor is not enabled"));
    let with = RecordingSyscall::with_apparmor(true);
    let spec = build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &opts, &with).unwrap();
    assert_eq!(spec.process().clone().unwrap().apparmor_profile().as_deref(), Some("docker-default"));
}

#[test]
fn bad_options_are_rejected() {
    let (_d, paths) = bundle();
    let sys = RecordingSyscall::default();
    let bad = [
        RunOptions { memory: Some(1024), ..RunOptions::default() },
        RunOptions { cpus: Some(-1.0), ..RunOptions::default() },
        RunOptions { hostname: Some("bad host".into()), ..RunOptions::default() },
        RunOptions { tmpfs: vec![TmpfsMount { destination: "rel".into(), options: vec![] }], ..RunOptions::default() },
        RunOptions { cap_add: vec!["CAP_NOPE".into()], ..RunOptions::default() },
        RunOptions { userns: Some(UsernsRemap::default()), network: NetworkMode::Host, ..RunOptions::default() },
    ];
    for o in bad {
        assert!(matches!(build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &o, &sys), Err(Error::InvalidOption { .. })), "{o:?}");
    }
    let unknown_user = RunOptions { user: Some("ghost".into()), ..RunOptions::default() };
    assert!(matches!(build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &unknown_user, &sys), Err(Error::UserNotFound { .. })));
}

#[test]
fn a_namespace_path_is_joined_not_created() {
    let (_d, paths) = bundle();
    let sys = RecordingSyscall::default();
    let opts = RunOptions { network: NetworkMode::Path("/run/x/netns/c1".into()), ..RunOptions::default() };
    let spec = build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &opts, &sys).unwrap();
    let namespaces = spec.linux().clone().unwrap().namespaces().clone().unwrap();
    let net: Vec<_> = namespaces.iter().filter(|n| n.typ() == LinuxNamespaceType::Network).collect();
    assert_eq!(net.len(), 1);
    assert_eq!(net[0].path().clone().unwrap(), std::path::PathBuf::from("/run/x/netns/c1"));
    let relative = RunOptions { network: NetworkMode::Path("netns/c1".into()), ..RunOptions::default() };
    assert!(build_spec(&id(), &busybox_image(), &paths.rootfs(), &paths, &relative, &sys).is_err());
}
