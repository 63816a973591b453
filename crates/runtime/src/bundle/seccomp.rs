//! Docker-format seccomp profiles and their translation into the OCI `linux.seccomp` section.
//!
//! The translation follows docker's: only the native architecture and its sub-architectures
//! are listed, and a rule is kept only when its `includes` (all listed capabilities held, the
//! architecture listed, the kernel at least `minKernel`) hold and its `excludes` (any listed
//! capability held, the architecture listed) do not.

use std::collections::BTreeSet;
use std::path::Path;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompOperator,
    LinuxSyscallBuilder,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A seccomp profile in docker's JSON format (`docker run --security-opt seccomp=FILE`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SeccompProfile {
    /// Action for syscalls no rule matches.
    pub default_action: LinuxSeccompAction,
    /// Errno returned by the default action when it is `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Architectures, when no `archMap` is given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<String>,
    /// Native architecture → sub-architectures.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMapEntry>,
    /// Rules.
    #[serde(default)]
    pub syscalls: Vec<SyscallRule>,
}

/// One `archMap` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMapEntry {
    /// `SCMP_ARCH_*` name of a native architecture.
    pub architecture: String,
    /// Architectures also allowed on it.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sub_architectures: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Comparison operator of a syscall argument condition.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
}

impl From<Cmp> for LinuxSeccompOperator {
    fn from(c: Cmp) -> Self {
        match c {
            Cmp::Eq => Self::ScmpCmpEq,
            Cmp::Ge => Self::ScmpCmpGe,
            Cmp::Gt => Self::ScmpCmpGt,
            Cmp::Le => Self::ScmpCmpLe,
            Cmp::Lt => Self::ScmpCmpLt,
            Cmp::MaskedEq => Self::ScmpCmpMaskedEq,
            Cmp::Ne => Self::ScmpCmpNe,
        }
    }
}

/// A condition on one syscall argument.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgCondition {
    /// Argument index (0-based).
    pub index: u32,
    /// Value compared against.
    pub value: u64,
    /// Second value (for masked comparisons in some runtimes).
    #[serde(default)]
    pub value_two: u64,
    /// Operator.
    pub op: Cmp,
}

/// When a rule applies (`includes`) or does not (`excludes`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFilter {
    /// Capabilities (`CAP_*`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Go architecture names (`amd64`, `arm64`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// Minimum kernel version (`major.minor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// One rule of a profile.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyscallRule {
    /// Syscall names.
    #[serde(default)]
    pub names: Vec<String>,
    /// Legacy single name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Action when the rule matches.
    pub action: LinuxSeccompAction,
    /// Errno for `SCMP_ACT_ERRNO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions (all must hold).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<ArgCondition>,
    /// Conditions for the rule to apply.
    #[serde(default)]
    pub includes: RuleFilter,
    /// Conditions that disable the rule.
    #[serde(default)]
    pub excludes: RuleFilter,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl SyscallRule {
    fn new(action: LinuxSeccompAction, names: &[&str]) -> Self {
        Self {
            names: names.iter().map(|s| (*s).to_owned()).collect(),
            name: None,
            action,
            errno_ret: None,
            args: Vec::new(),
            includes: RuleFilter::default(),
            excludes: RuleFilter::default(),
            comment: None,
        }
    }

    pub(crate) fn allow(names: &[&str]) -> Self {
        Self::new(LinuxSeccompAction::ScmpActAllow, names)
    }

    pub(crate) fn errno(errno: u32, names: &[&str]) -> Self {
        let mut r = Self::new(LinuxSeccompAction::ScmpActErrno, names);
        r.errno_ret = Some(errno);
        r
    }

    pub(crate) fn arg(mut self, index: u32, value: u64, op: Cmp) -> Self {
        self.args.push(ArgCondition { index, value, value_two: 0, op });
        self
    }

    pub(crate) fn include_caps(mut self, caps: &[&str]) -> Self {
        self.includes.caps = caps.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub(crate) fn include_arches(mut self, arches: &[&str]) -> Self {
        self.includes.arches = arches.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub(crate) fn min_kernel(mut self, v: &str) -> Self {
        self.includes.min_kernel = Some(v.to_owned());
        self
    }

    pub(crate) fn exclude_caps(mut self, caps: &[&str]) -> Self {
        self.excludes.caps = caps.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub(crate) fn exclude_arches(mut self, arches: &[&str]) -> Self {
        self.excludes.arches = arches.iter().map(|s| (*s).to_owned()).collect();
        self
    }
}

/// The host facts a profile is specialised for.
#[derive(Clone, Debug)]
pub struct SeccompTarget {
    /// Go architecture name of the host (`amd64`).
    pub arch: String,
    /// Kernel version (major, minor).
    pub kernel: (u32, u32),
    /// Capabilities the container holds (`CAP_*`).
    pub caps: BTreeSet<String>,
}

fn parse_kernel(v: &str) -> Option<(u32, u32)> {
    let mut it = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Kernel (major, minor) from a release string such as `6.18.0-1-amd64`.
pub fn kernel_version(release: &str) -> (u32, u32) {
    parse_kernel(release).unwrap_or((0, 0))
}

fn seccomp_arch_of(go_arch: &str) -> Option<&'static str> {
    Some(match go_arch {
        "amd64" => "SCMP_ARCH_X86_64",
        "386" => "SCMP_ARCH_X86",
        "arm64" => "SCMP_ARCH_AARCH64",
        "arm" => "SCMP_ARCH_ARM",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        _ => return None,
    })
}

impl SeccompProfile {
    /// Reads a docker-format profile file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::SeccompProfile { path: path.to_path_buf(), reason: e.to_string() })?;
        serde_json::from_slice(&bytes).map_err(|e| Error::SeccompProfile { path: path.to_path_buf(), reason: e.to_string() })
    }

    /// Specialises the profile for `target`, giving the OCI `linux.seccomp` section.
    pub fn to_oci(&self, target: &SeccompTarget) -> Result<LinuxSeccomp> {
        let mut arch_names: Vec<String> = Vec::new();
        if self.arch_map.is_empty() {
            arch_names.extend(self.architectures.iter().cloned());
        } else if let Some(native) = seccomp_arch_of(&target.arch) {
            for e in self.arch_map.iter().filter(|e| e.architecture == native) {
                arch_names.push(e.architecture.clone());
                arch_names.extend(e.sub_architectures.iter().cloned());
            }
        }
        let mut arches: Vec<Arch> = Vec::new();
        for a in arch_names {
            // Architectures this oci-spec version does not know cannot be the native one here.
            if let Ok(a) = serde_json::from_value::<Arch>(serde_json::Value::String(a)) {
                arches.push(a);
            }
        }
        let mut syscalls = Vec::new();
        for rule in &self.syscalls {
            if !rule_applies(rule, target) {
                continue;
            }
            let mut names = rule.names.clone();
            names.extend(rule.name.iter().cloned());
            if names.is_empty() {
                continue;
            }
            let mut b = LinuxSyscallBuilder::default().names(names).action(rule.action);
            if let Some(e) = rule.errno_ret {
                b = b.errno_ret(e);
            }
            if !rule.args.is_empty() {
                let args = rule
                    .args
                    .iter()
                    .map(|a| {
                        LinuxSeccompArgBuilder::default()
                            .index(a.index as usize)
                            .value(a.value)
                            .value_two(a.value_two)
                            .op(LinuxSeccompOperator::from(a.op))
                            .build()
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(Error::oci("seccomp arg"))?;
                b = b.args(args);
            }
            syscalls.push(b.build().map_err(Error::oci("seccomp rule"))?);
        }
        let mut b = LinuxSeccompBuilder::default().default_action(self.default_action).syscalls(syscalls);
        if let Some(e) = self.default_errno_ret {
            b = b.default_errno_ret(e);
        }
        if !arches.is_empty() {
            b = b.architectures(arches);
        }
        b.build().map_err(Error::oci("seccomp"))
    }
}

fn rule_applies(rule: &SyscallRule, t: &SeccompTarget) -> bool {
    let ex = &rule.excludes;
    if ex.arches.iter().any(|a| a == &t.arch) || ex.caps.iter().any(|c| t.caps.contains(c)) {
        return false;
    }
    let inc = &rule.includes;
    if !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == &t.arch) {
        return false;
    }
    if !inc.caps.iter().all(|c| t.caps.contains(c)) {
        return false;
    }
    if let Some(min) = inc.min_kernel.as_deref().and_then(parse_kernel) {
        if t.kernel < min {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::seccomp_default::default_profile;

    fn target(caps: &[&str]) -> SeccompTarget {
        SeccompTarget {
            arch: "amd64".into(),
            kernel: (6, 18),
            caps: caps.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn allowed(s: &LinuxSeccomp, name: &str) -> Vec<oci_spec::runtime::LinuxSyscall> {
        s.syscalls()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn default_profile_is_an_eperm_allow_list_for_native_arches() {
        let s = default_profile().to_oci(&target(&[])).unwrap();
        assert_eq!(s.default_action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert_eq!(
            s.architectures().clone().unwrap(),
            vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
        assert!(!allowed(&s, "read").is_empty());
        assert!(allowed(&s, "mount").is_empty());
        assert!(allowed(&s, "reboot").is_empty());
        assert!(allowed(&s, "keyctl").is_empty());
        assert!(allowed(&s, "unshare").is_empty());
        assert!(!allowed(&s, "arch_prctl").is_empty());
        assert!(allowed(&s, "s390_runtime_instr").is_empty());
    }

    #[test]
    fn clone_is_flag_filtered_without_sys_admin() {
        let s = default_profile().to_oci(&target(&["CAP_CHOWN"])).unwrap();
        let clone = allowed(&s, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().clone().unwrap();
        assert_eq!(args[0].index(), 0);
        assert_eq!(args[0].value(), 2_114_060_288);
        assert_eq!(args[0].op(), LinuxSeccompOperator::ScmpCmpMaskedEq);
        let clone3 = allowed(&s, "clone3");
        assert_eq!(clone3[0].action(), LinuxSeccompAction::ScmpActErrno);
        assert_eq!(clone3[0].errno_ret(), Some(38));

        let admin = default_profile().to_oci(&target(&["CAP_SYS_ADMIN"])).unwrap();
        let clone = allowed(&admin, "clone");
        assert!(clone.iter().any(|r| r.args().is_none()));
        assert!(!allowed(&admin, "mount").is_empty());
        assert!(!allowed(&admin, "unshare").is_empty());
    }

    #[test]
    fn capability_rules_follow_the_capability_set() {
        assert!(allowed(&default_profile().to_oci(&target(&[])).unwrap(), "reboot").is_empty());
        assert!(!allowed(&default_profile().to_oci(&target(&["CAP_SYS_BOOT"])).unwrap(), "reboot").is_empty());
        assert!(!allowed(&default_profile().to_oci(&target(&["CAP_SYS_CHROOT"])).unwrap(), "chroot").is_empty());
        // minKernel 4.8 rule (ptrace) holds on this kernel but not on 4.4.
        assert!(!allowed(&default_profile().to_oci(&target(&[])).unwrap(), "ptrace").is_empty());
        let mut old = target(&[]);
        old.kernel = (4, 4);
        assert!(allowed(&default_profile().to_oci(&old).unwrap(), "ptrace").is_empty());
    }

    #[test]
    fn profile_roundtrips_through_docker_json() {
        let json = serde_json::to_string(&default_profile()).unwrap();
        let back: SeccompProfile = serde_json::from_str(&json).unwrap();
        let a = default_profile().to_oci(&target(&[])).unwrap();
        let b = back.to_oci(&target(&[])).unwrap();
        assert_eq!(a, b);
        assert_eq!(kernel_version("6.18.0-1-cloud-amd64"), (6, 18));
    }
}
