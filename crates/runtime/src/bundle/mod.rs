//! OCI runtime bundles with docker's hardened defaults.

mod caps;
mod options;
mod seccomp;
mod seccomp_default;
mod spec;
mod user;

pub use caps::{capability_mask, effective_capabilities, ALL_CAPABILITIES, DEFAULT_CAPABILITIES};
pub use options::{ExtraMount, NetworkMode, NoNewPrivileges, RunOptions, Seccomp, TmpfsMount, UsernsRemap};
pub use seccomp::{kernel_version, ArchMapEntry, ArgCondition, Cmp, RuleFilter, SeccompProfile, SeccompTarget, SyscallRule};
pub use seccomp_default::default_profile;
pub use spec::{
    build_spec, cgroup_path, command_line, hostname_for, validate_options, write_bundle_files, write_hosts, BundlePaths, DEFAULT_NOFILE,
    MASKED_PATHS, MIN_MEMORY_BYTES, READONLY_PATHS,
};
pub use user::{resolve_user, ResolvedUser};
pub(crate) use spec::{is_file_name, merge_env};
