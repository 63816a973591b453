//! Building the OCI runtime `config.json` with docker's hardened defaults.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;
use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder,
    LinuxDeviceType, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespace, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, Mount, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use super::caps::{effective_capabilities, to_oci};
use super::options::{ExtraMount, NetworkMode, NoNewPrivileges, RunOptions, Seccomp};
use super::seccomp::{kernel_version, SeccompProfile, SeccompTarget};
use super::seccomp_default::default_profile;
use super::user::resolve_user;
use crate::error::{Error, Result};
use crate::ids::ContainerId;
use crate::syscall::Syscall;

/// Paths docker masks (bind-mounts `/dev/null` or an empty read-only tmpfs over) in every
/// container (moby `oci/defaults.go`).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths docker remounts read-only in every container.
pub const READONLY_PATHS: &[&str] = &["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// Default `RLIMIT_NOFILE` (soft and hard), as docker containers get from dockerd's
/// `LimitNOFILE=infinity` (1048576). Lowered to this process's hard limit if that is less.
pub const DEFAULT_NOFILE: u64 = 1_048_576;

/// Docker's minimum `--memory`.
pub const MIN_MEMORY_BYTES: u64 = 6 * 1024 * 1024;

/// CFS period used for `--cpus`, in microseconds.
const CPU_PERIOD_US: u64 = 100_000;

const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Files the bundle holds beside `rootfs/` that the spec bind-mounts.
#[derive(Clone, Debug)]
pub struct BundlePaths {
    /// The bundle directory.
    pub bundle: PathBuf,
}

impl BundlePaths {
    /// `<bundle>/rootfs`.
    pub fn rootfs(&self) -> PathBuf {
        self.bundle.join("rootfs")
    }
    /// `<bundle>/hostname`, bind-mounted at `/etc/hostname`.
    pub fn hostname_file(&self) -> PathBuf {
        self.bundle.join("hostname")
    }
    /// `<bundle>/hosts`, bind-mounted at `/etc/hosts`.
    pub fn hosts_file(&self) -> PathBuf {
        self.bundle.join("hosts")
    }
    /// `<bundle>/secrets`, the host tmpfs behind an [`ExtraMount::SecretsTmpfs`].
    pub fn secrets_dir(&self) -> PathBuf {
        self.bundle.join("secrets")
    }

    /// `<bundle>/files`, the host tmpfs behind every [`ExtraMount::TmpfsFile`].
    pub fn files_dir(&self) -> PathBuf {
        self.bundle.join("files")
    }
    /// `<bundle>/config.json`.
    pub fn config(&self) -> PathBuf {
        self.bundle.join("config.json")
    }
}

/// The cgroup path of a container (relative to each v1 controller's root).
pub fn cgroup_path(id: &ContainerId) -> String {
    format!("/palisade/{id}")
}

/// The hostname a container gets.
pub fn hostname_for(id: &ContainerId, opts: &RunOptions) -> String {
    opts.hostname.clone().unwrap_or_else(|| id.as_str().chars().take(12).collect())
}

fn invalid(option: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidOption { option, reason: reason.into() }
}

fn check_destination(option: &'static str, d: &str) -> Result<()> {
    if !d.starts_with('/') || d == "/" || d.split('/').any(|c| c == "..") {
        return Err(invalid(option, format!("destination {d:?} must be an absolute path below /")));
    }
    Ok(())
}

/// Checks options that do not depend on the image; nothing is changed on failure.
pub fn validate_options(opts: &RunOptions, sys: &dyn Syscall) -> Result<()> {
    if let Some(p) = &opts.apparmor {
        if p != "unconfined" && !sys.apparmor_enabled() {
            return Err(Error::AppArmorUnavailable { profile: p.clone() });
        }
    }
    if let Some(m) = opts.memory {
        if m < MIN_MEMORY_BYTES {
            return Err(invalid("memory", "minimum memory limit allowed is 6MB"));
        }
    }
    if let Some(c) = opts.cpus {
        if !(c.is_finite() && c > 0.0 && c <= 1024.0) {
            return Err(invalid("cpus", format!("{c} is not a positive number of CPUs")));
        }
    }
    if let Some(p) = opts.pids_limit {
        if p == 0 || p < -1 {
            return Err(invalid("pids-limit", "must be positive, or -1 for unlimited"));
        }
    }
    if let Some(h) = &opts.hostname {
        let ok = !h.is_empty() && h.len() <= 63 && h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !ok {
            return Err(invalid("hostname", format!("{h:?} is not a valid hostname")));
        }
    }
    for e in &opts.env {
        if e.is_empty() || e.starts_with('=') {
            return Err(invalid("env", format!("{e:?} is not KEY=VALUE")));
        }
    }
    for t in &opts.tmpfs {
        check_destination("tmpfs", &t.destination)?;
    }
    for m in &opts.mounts {
        match m {
            ExtraMount::Bind { source, destination, .. } => {
                check_destination("mount", destination)?;
                if !source.is_absolute() {
                    return Err(invalid("mount", format!("bind source {} must be absolute", source.display())));
                }
            }
            ExtraMount::SecretsTmpfs { destination, size_bytes } => {
                check_destination("mount", destination)?;
                if *size_bytes == 0 {
                    return Err(invalid("mount", "secrets tmpfs size must be positive"));
                }
            }
            ExtraMount::TmpfsFile { destination, name } => {
                check_destination("mount", destination)?;
                if !is_file_name(name) {
                    return Err(invalid("mount", format!("bad file name {name:?}")));
                }
            }
        }
    }
    if opts.userns.is_some() && opts.network == NetworkMode::Host {
        return Err(invalid("userns-remap", "cannot be combined with --network host"));
    }
    if let NetworkMode::Path(p) = &opts.network {
        if !p.is_absolute() {
            return Err(invalid("network", format!("namespace path {} must be absolute", p.display())));
        }
    }
    if let Some(u) = opts.userns {
        if u.size == 0 || u.host_uid == 0 || u.host_gid == 0 {
            return Err(invalid("userns-remap", "host range must be non-empty and must not start at root"));
        }
    }
    Ok(())
}

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Result<Mount> {
    MountBuilder::default()
        .destination(dest)
        .typ(typ)
        .source(source)
        .options(options.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .build()
        .map_err(Error::oci("mount"))
}

/// Docker's default mounts.
fn default_mounts() -> Result<Vec<Mount>> {
    Ok(vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])?,
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"])?,
        mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"])?,
        mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"])?,
        mount("/sys/fs/cgroup", "cgroup", "cgroup", &["ro", "nosuid", "noexec", "nodev"])?,
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"])?,
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"])?,
    ])
}

fn device_rule(allow: bool, major: Option<i64>, minor: Option<i64>) -> Result<LinuxDeviceCgroup> {
    let mut b = LinuxDeviceCgroupBuilder::default().allow(allow).access("rwm");
    if let (Some(ma), Some(mi)) = (major, minor) {
        b = b.typ(LinuxDeviceType::C).major(ma).minor(mi);
    }
    b.build().map_err(Error::oci("device cgroup rule"))
}

/// Docker's device cgroup: deny everything, allow null, zero, full, urandom, random, tty,
/// console, ptmx; deny /dev/net/tun.
fn default_device_rules() -> Result<Vec<LinuxDeviceCgroup>> {
    let mut v = vec![device_rule(false, None, None)?];
    for (ma, mi) in [(1, 5), (1, 3), (1, 9), (1, 8), (5, 0), (5, 1)] {
        v.push(device_rule(true, Some(ma), Some(mi))?);
    }
    v.push(device_rule(false, Some(10), Some(229))?);
    Ok(v)
}

fn namespace(t: LinuxNamespaceType) -> Result<LinuxNamespace> {
    LinuxNamespaceBuilder::default().typ(t).build().map_err(Error::oci("namespace"))
}

pub(crate) fn merge_env(image: &[String], extra: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for kv in image.iter().chain(extra) {
        let key = kv.split_once('=').map(|(k, _)| k).unwrap_or(kv);
        out.retain(|e| e.split_once('=').map(|(k, _)| k).unwrap_or(e) != key);
        out.push(kv.clone());
    }
    out
}

fn has_key(env: &[String], key: &str) -> bool {
    env.iter().any(|e| e.split_once('=').map(|(k, _)| k) == Some(key))
}

/// The host facts the spec depends on.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// The container's command line, as docker derives it: the entrypoint (`--entrypoint`, else
/// the image's) followed by the arguments given, else — unless `--entrypoint` was given — the
/// image's `Cmd`. What the bundle runs and what `docker inspect` shows both come from here.
pub fn command_line(image: &ImageConfiguration, opts: &RunOptions) -> Vec<String> {
    let cfg = image.config().clone().unwrap_or_default();
    let entrypoint = match &opts.entrypoint {
        Some(e) => e.clone(),
        None => cfg.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = if !opts.args.is_empty() {
        opts.args.clone()
    } else if opts.entrypoint.is_some() {
        Vec::new()
    } else {
        cfg.cmd().clone().unwrap_or_default()
    };
    entrypoint.into_iter().chain(cmd).collect()
}

/// Builds `config.json` for container `id` from the image config and options. `image_root`
/// is the image's unpacked filesystem: its `/etc/passwd` and `/etc/group` resolve `--user`
/// (the bundle's `rootfs/` need not be mounted yet).
pub fn build_spec(
    id: &ContainerId,
    image: &ImageConfiguration,
    image_root: &Path,
    paths: &BundlePaths,
    opts: &RunOptions,
    sys: &dyn Syscall,
) -> Result<Spec> {
    validate_options(opts, sys)?;
    let cfg = image.config().clone().unwrap_or_default();

    let args = command_line(image, opts);
    if args.is_empty() {
        return Err(invalid("args", "no command specified and the image has no Entrypoint or Cmd"));
    }

    let user_spec = opts.user.clone().or_else(|| cfg.user().clone()).unwrap_or_default();
    let user = resolve_user(image_root, &user_spec)?;
    let hostname = hostname_for(id, opts);
    let mut env = merge_env(&cfg.env().clone().unwrap_or_default(), &opts.env);
    if !has_key(&env, "PATH") {
        env.insert(0, DEFAULT_PATH.to_owned());
    }
    if !has_key(&env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    if !has_key(&env, "HOME") {
        env.push(format!("HOME={}", user.home.clone().unwrap_or_else(|| "/".into())));
    }
    let cwd = opts.workdir.clone().or_else(|| cfg.working_dir().clone()).filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(invalid("workdir", format!("{cwd:?} must be absolute")));
    }

    let nofile = DEFAULT_NOFILE.min(sys.raise_nofile_limit(DEFAULT_NOFILE));
    let caps = effective_capabilities(&opts.cap_add, &opts.cap_drop, sys.cap_last_cap())?;
    let oci_caps = to_oci(&caps)?;
    let capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(oci_caps.clone())
        .effective(oci_caps.clone())
        .permitted(oci_caps)
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .build()
        .map_err(Error::oci("capabilities"))?;

    let mut user_b = UserBuilder::default().uid(user.uid).gid(user.gid);
    if !user.additional_gids.is_empty() {
        user_b = user_b.additional_gids(user.additional_gids.clone());
    }
    let mut process = ProcessBuilder::default()
        .terminal(opts.tty)
        .user(user_b.build().map_err(Error::oci("user"))?)
        .args(args)
        .env(env)
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(nofile)
            .soft(nofile)
            .build()
            .map_err(Error::oci("rlimit"))?])
        .no_new_privileges(opts.no_new_privileges == NoNewPrivileges::Enforced);
    if let Some((rows, columns)) = opts.console_size.filter(|_| opts.tty) {
        let size = oci_spec::runtime::BoxBuilder::default().height(u64::from(rows)).width(u64::from(columns)).build();
        process = process.console_size(size.map_err(Error::oci("consoleSize"))?);
    }
    if let Some(p) = &opts.apparmor {
        if p != "unconfined" {
            process = process.apparmor_profile(p.clone());
        }
    }
    let process = process.build().map_err(Error::oci("process"))?;

    // Mounts.
    let mut mounts = default_mounts()?;
    let hostname_file = paths.hostname_file().display().to_string();
    let hosts_file = paths.hosts_file().display().to_string();
    mounts.push(mount("/etc/hostname", "bind", &hostname_file, &["rbind", "rprivate"])?);
    mounts.push(mount("/etc/hosts", "bind", &hosts_file, &["rbind", "rprivate"])?);
    for t in &opts.tmpfs {
        let mut o: Vec<&str> = vec!["noexec", "nosuid", "nodev"];
        o.extend(t.options.iter().map(String::as_str));
        mounts.push(mount(&t.destination, "tmpfs", "tmpfs", &o)?);
    }
    for m in &opts.mounts {
        match m {
            ExtraMount::Bind { source, destination, read_only } => {
                let src = source.display().to_string();
                let o: &[&str] = if *read_only { &["rbind", "rprivate", "ro"] } else { &["rbind", "rprivate"] };
                mounts.push(mount(destination, "bind", &src, o)?);
            }
            ExtraMount::SecretsTmpfs { destination, .. } => {
                let src = paths.secrets_dir().display().to_string();
                mounts.push(mount(destination, "bind", &src, &["rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"])?);
            }
            ExtraMount::TmpfsFile { destination, name } => {
                let src = paths.files_dir().join(name).display().to_string();
                mounts.push(mount(destination, "bind", &src, &["rbind", "rprivate", "ro", "nosuid", "nodev", "noexec"])?);
            }
        }
    }

    // Namespaces, ids, resources.
    let mut namespaces = vec![
        namespace(LinuxNamespaceType::Pid)?,
        namespace(LinuxNamespaceType::Ipc)?,
        namespace(LinuxNamespaceType::Uts)?,
        namespace(LinuxNamespaceType::Mount)?,
        namespace(LinuxNamespaceType::Cgroup)?,
    ];
    match &opts.network {
        NetworkMode::None => namespaces.push(namespace(LinuxNamespaceType::Network)?),
        NetworkMode::Host => {}
        NetworkMode::Path(path) => namespaces.push(
            LinuxNamespaceBuilder::default().typ(LinuxNamespaceType::Network).path(path.clone()).build().map_err(Error::oci("namespace"))?,
        ),
    }
    let mut resources = LinuxResourcesBuilder::default().devices(default_device_rules()?);
    if let Some(m) = opts.memory {
        let limit = i64::try_from(m).map_err(|_| invalid("memory", "too large"))?;
        resources = resources.memory(LinuxMemoryBuilder::default().limit(limit).build().map_err(Error::oci("memory"))?);
    }
    if let Some(c) = opts.cpus {
        // Bounded by validate_options: 0 < c <= 1024, so the product fits in i64.
        let quota = (c * CPU_PERIOD_US as f64).round() as i64;
        resources = resources
            .cpu(LinuxCpuBuilder::default().quota(quota).period(CPU_PERIOD_US).build().map_err(Error::oci("cpu"))?);
    }
    if let Some(p) = opts.pids_limit {
        resources = resources.pids(LinuxPidsBuilder::default().limit(p).build().map_err(Error::oci("pids"))?);
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces.clone())
        .masked_paths(MASKED_PATHS.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .readonly_paths(READONLY_PATHS.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
        .resources(resources.build().map_err(Error::oci("resources"))?)
        .cgroups_path(PathBuf::from(cgroup_path(id)))
        .devices(Vec::new());
    if let Some(u) = opts.userns {
        namespaces.push(namespace(LinuxNamespaceType::User)?);
        let map = |host: u32| {
            LinuxIdMappingBuilder::default().container_id(0u32).host_id(host).size(u.size).build().map_err(Error::oci("id mapping"))
        };
        linux = linux.namespaces(namespaces).uid_mappings(vec![map(u.host_uid)?]).gid_mappings(vec![map(u.host_gid)?]);
    }
    let from_file;
    let seccomp = match &opts.seccomp {
        Seccomp::Unconfined => None,
        Seccomp::Default => Some(default_profile()),
        Seccomp::Profile(p) => {
            from_file = SeccompProfile::from_file(p)?;
            Some(&from_file)
        }
    };
    if let Some(profile) = seccomp {
        let target = SeccompTarget { arch: go_arch().to_owned(), kernel: kernel_version(&sys.kernel_release()), caps };
        linux = linux.seccomp(profile.to_oci(&target)?);
    }

    SpecBuilder::default()
        .version("1.0.2")
        .root(RootBuilder::default().path("rootfs").readonly(opts.read_only).build().map_err(Error::oci("root"))?)
        .hostname(hostname)
        .process(process)
        .mounts(mounts)
        .linux(linux.build().map_err(Error::oci("linux"))?)
        .build()
        .map_err(Error::oci("spec"))
}

/// A single path component: not empty, `.` or `..`, and without `/` or NUL.
pub(crate) fn is_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

/// Writes the files the spec bind-mounts (`hostname`, `hosts`).
pub fn write_bundle_files(paths: &BundlePaths, hostname: &str) -> Result<()> {
    let h = paths.hostname_file();
    std::fs::write(&h, format!("{hostname}\n")).map_err(Error::io("write", &h))?;
    write_hosts(paths, hostname, None)
}

/// Writes the bundle's `hosts`: localhost, and the container's hostname at `address` (its
/// address on its first network, as Docker writes it) or, with none, at 127.0.1.1. Mode 0644
/// whatever the umask: every user of the container reads it. Written before the container
/// starts, so nobody reads it half-written.
pub fn write_hosts(paths: &BundlePaths, hostname: &str, address: Option<Ipv4Addr>) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let hosts = paths.hosts_file();
    let own = address.map_or_else(|| "127.0.1.1".to_owned(), |a| a.to_string());
    let body = format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n");
    std::fs::write(&hosts, body).map_err(Error::io("write", &hosts))?;
    std::fs::set_permissions(&hosts, std::fs::Permissions::from_mode(0o644)).map_err(Error::io("chmod", &hosts))
}


#[cfg(test)]
mod tests;
