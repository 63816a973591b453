//! `RunOptions`: what `docker run` flags ask of a container.

use std::path::PathBuf;

/// Seccomp mode (`--security-opt seccomp=...`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// Docker's default profile.
    #[default]
    Default,
    /// A docker-format JSON profile file.
    Profile(PathBuf),
    /// No seccomp filter (`seccomp=unconfined`).
    Unconfined,
}

/// `no_new_privileges` for the container process (`--security-opt no-new-privileges`).
/// Palisade enforces it unless explicitly disabled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NoNewPrivileges {
    /// The process and its children cannot gain privileges (setuid binaries, file caps).
    #[default]
    Enforced,
    /// Opted out (`no-new-privileges=false`).
    Disabled,
}

/// Network mode (`--network`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// A new network namespace with only loopback.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// An existing network namespace, bound at this path (made and wired by palisade-net).
    Path(PathBuf),
}

/// User-namespace remapping (`--userns-remap`): container ids `0..size` map to host ids
/// starting at `host_uid`/`host_gid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsernsRemap {
    /// First host uid.
    pub host_uid: u32,
    /// First host gid.
    pub host_gid: u32,
    /// Number of ids mapped.
    pub size: u32,
}

impl Default for UsernsRemap {
    /// Docker's usual `dockremap` range: 100000 + 65536.
    fn default() -> Self {
        Self { host_uid: 100_000, host_gid: 100_000, size: 65_536 }
    }
}

/// A `--tmpfs` mount.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TmpfsMount {
    /// Absolute path in the container.
    pub destination: String,
    /// Extra tmpfs options (`size=64m,mode=1777`); `noexec,nosuid,nodev` are always added.
    pub options: Vec<String>,
}

/// A mount other than the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtraMount {
    /// Bind-mount a host path.
    Bind {
        /// Host path.
        source: PathBuf,
        /// Absolute path in the container.
        destination: String,
        /// Mount read-only.
        read_only: bool,
    },
    /// A host tmpfs created for this container (under its state dir, never on disk),
    /// bind-mounted read-only at `destination`. The caller writes files into it through
    /// [`crate::Container::write_secret`] before starting; it is unmounted on delete.
    /// This is how `/run/secrets` is provided.
    SecretsTmpfs {
        /// Absolute path in the container (usually `/run/secrets`).
        destination: String,
        /// Size limit in bytes.
        size_bytes: u64,
    },
    /// One file from a host tmpfs created for this container (shared by all its
    /// `TmpfsFile`s, never on disk), bind-mounted read-only at `destination`. The caller
    /// writes it through [`crate::Container::write_file`] before starting. This is how
    /// service configs are provided.
    TmpfsFile {
        /// Absolute path in the container.
        destination: String,
        /// The file's name on the tmpfs (no `/`).
        name: String,
    },
}

/// The docker-named options of a container; `Default` is `docker run IMAGE` with Palisade's
/// hardened defaults.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The OCI runtime to run the container under (`--runtime`); `None`: the data root's
    /// default.
    pub runtime: Option<crate::OciRuntimeKind>,
    /// Arguments replacing the image's `Cmd` (`docker run IMAGE ARGS...`).
    pub args: Vec<String>,
    /// Replaces the image's `Entrypoint` (`--entrypoint`); also clears its `Cmd`.
    pub entrypoint: Option<Vec<String>>,
    /// `KEY=VALUE` variables added to (and overriding) the image's (`-e`).
    pub env: Vec<String>,
    /// `--user` (`name`, `uid`, `name:group`, `uid:gid`).
    pub user: Option<String>,
    /// `--workdir`.
    pub workdir: Option<String>,
    /// `--hostname`; default: the first 12 characters of the container id.
    pub hostname: Option<String>,
    /// `--cap-add` (names with or without `CAP_`, or `ALL`).
    pub cap_add: Vec<String>,
    /// `--cap-drop` (names with or without `CAP_`, or `ALL`).
    pub cap_drop: Vec<String>,
    /// `--security-opt seccomp=`.
    pub seccomp: Seccomp,
    /// `--security-opt no-new-privileges`.
    pub no_new_privileges: NoNewPrivileges,
    /// `--security-opt apparmor=PROFILE`; fails clearly when AppArmor is not enabled.
    pub apparmor: Option<String>,
    /// `--read-only`: the root filesystem is mounted read-only.
    pub read_only: bool,
    /// `--tmpfs`.
    pub tmpfs: Vec<TmpfsMount>,
    /// `--memory` in bytes.
    pub memory: Option<u64>,
    /// `--cpus` (fractional CPUs).
    pub cpus: Option<f64>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--network`.
    pub network: NetworkMode,
    /// `--userns-remap`.
    pub userns: Option<UsernsRemap>,
    /// Other mounts (`-v`, secrets).
    pub mounts: Vec<ExtraMount>,
    /// `-t`: the init gets a terminal (its master from [`crate::Container::take_io`]).
    pub tty: bool,
    /// Initial terminal size (rows, columns) with `tty`.
    pub console_size: Option<(u16, u16)>,
    /// `-i`: the init's stdin is a pipe we write to, not `/dev/null`.
    pub open_stdin: bool,
}
