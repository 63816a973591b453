//! The crate's error type.

use std::io;
use std::path::PathBuf;

use crate::ids::Digest;
use crate::unpack::UnpackError;

/// Result alias used throughout the crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Every failure the runtime library reports.
///
/// Variants are grouped by whose fault it was: untrusted input (archives, layers, profiles),
/// caller misuse (bad options, wrong lifecycle state) and the environment (I/O, missing
/// runtime binaries, a kernel feature that is not enabled).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host has no AppArmor LSM enabled, so the requested profile cannot be applied.
    #[error("apparmor profile {profile:?} requested but AppArmor is not enabled on this host")]
    AppArmorUnavailable {
        /// The requested profile name.
        profile: String,
    },
    /// An image archive or OCI layout is malformed.
    #[error("malformed image archive {path}: {reason}")]
    ArchiveFormat {
        /// Archive or layout path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The container does not exist in the state directory.
    #[error("no such container: {0}")]
    ContainerNotFound(String),
    /// A container with this id already exists.
    #[error("container {0} already exists")]
    ContainerExists(String),
    /// Content did not hash to the digest that names it.
    #[error("content digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest the content was named by.
        expected: String,
        /// The digest of the bytes actually read.
        actual: String,
    },
    /// A reference pinned to a digest (`name:tag@D`) names other content than the image held
    /// under its tag: no image here is `D` (a loaded image, never pulled by that digest, or
    /// an older pull of the tag). Pulling `D` resolves it.
    #[error("{reference}: the image held as {tagged} has manifest {held}, not the pinned digest")]
    ImageDigestDiffers {
        /// The pinned reference, as written.
        reference: String,
        /// The reference of the image held under the tag.
        tagged: String,
        /// That image's manifest digest.
        held: Digest,
    },
    /// The image cannot be deleted: a container uses it.
    #[error("conflict: unable to delete {image} (must remove the container first) - image is being used by container {container}")]
    ImageInUse {
        /// Short image id.
        image: String,
        /// The container using it.
        container: String,
    },
    /// The referenced image is not in the store.
    #[error("no such image: {0}")]
    ImageNotFound(String),
    /// The container id is not a valid identifier.
    #[error("invalid container id {0:?}: must be 1-64 characters of [A-Za-z0-9_.-], not starting with '.' or '-'")]
    InvalidContainerId(String),
    /// A string is not a valid `sha256:<64 hex>` digest.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    /// The operation is not allowed in the container's current state.
    #[error("container {id} is {state}; cannot {op}")]
    InvalidState {
        /// Container id.
        id: String,
        /// Current state.
        state: String,
        /// The refused operation.
        op: &'static str,
    },
    /// A run option is invalid (caller misuse).
    #[error("invalid option {option}: {reason}")]
    InvalidOption {
        /// Option name as docker spells it.
        option: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// `docker cp` or a volume's copy-up: the path or the archive is refused, or copying
    /// failed.
    #[error("copying {path}: {reason}")]
    CopyRefused {
        /// The path in the container or the archive entry.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// `docker cp`: no such path in the container (dockerd's wording follows).
    #[error("Could not find the file {0} in container")]
    PathNotFound(String),
    /// A string is not a valid image reference.
    #[error("invalid image reference {0:?}")]
    InvalidReference(String),
    /// A filesystem operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation that failed.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A JSON document could not be parsed or written.
    #[error("{what}: {source}")]
    Json {
        /// Which document.
        what: String,
        /// Underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// Building an OCI document failed.
    #[error("building OCI {what}: {source}")]
    Oci {
        /// Which document.
        what: &'static str,
        /// Underlying error.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// The OCI runtime binary (crun or runc) failed.
    #[error("{runtime} {command} failed ({status}): {stderr}")]
    RuntimeFailed {
        /// Runtime binary name.
        runtime: String,
        /// Sub-command that failed.
        command: &'static str,
        /// Exit status description.
        status: String,
        /// What the runtime printed.
        stderr: String,
    },
    /// The container's process (its command, or an exec's) could not be executed; the OCI
    /// runtime's words are in `detail`.
    #[error("{detail}")]
    ProcessStart {
        /// Why, as far as the runtime's words tell.
        failure: StartFailure,
        /// What the runtime printed.
        detail: String,
    },
    /// The OCI runtime binary could not be started.
    #[error("cannot execute OCI runtime {binary}: {source}")]
    RuntimeUnavailable {
        /// Binary name or path.
        binary: String,
        /// Underlying error.
        #[source]
        source: io::Error,
    },
    /// A seccomp profile file is unusable.
    #[error("seccomp profile {path}: {reason}")]
    SeccompProfile {
        /// Profile path.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A system call failed.
    #[error("{op}: {source}")]
    Syscall {
        /// The call.
        op: &'static str,
        /// Underlying errno.
        #[source]
        source: nix::Error,
    },
    /// The image uses a feature this runtime does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A layer could not be unpacked safely.
    #[error(transparent)]
    Unpack(#[from] UnpackError),
    /// The image's user could not be resolved against its /etc/passwd and /etc/group.
    #[error("unable to find user {user}: {reason}")]
    UserNotFound {
        /// The user spec (`name`, `uid`, `name:group`...).
        user: String,
        /// Why it could not be resolved.
        reason: String,
    },
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { op, path, source }
    }

    pub(crate) fn json(what: impl Into<String>) -> impl FnOnce(serde_json::Error) -> Self {
        let what = what.into();
        move |source| Self::Json { what, source }
    }

    pub(crate) fn oci(what: &'static str) -> impl FnOnce(oci_spec::OciSpecError) -> Self {
        move |source| Self::Oci { what, source }
    }
}

/// Why a container's process could not be executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFailure {
    /// No such executable (docker: exit 127).
    NotFound,
    /// The file is not executable, or is a directory (docker: exit 126).
    PermissionDenied,
}

impl StartFailure {
    /// Classifies what crun or runc printed when executing the process failed; `None` when
    /// the failure was not about the executable (a mount, a cgroup, a namespace…).
    ///
    /// crun: ``executable file `x` not found in $PATH: No such file or directory``,
    /// `open executable: Permission denied` (`Operation not permitted` for a directory);
    /// runc: `exec: "x": executable file not found in $PATH`,
    /// `exec: "/x": stat /x: no such file or directory`, `exec: "/etc/passwd": permission denied`.
    pub fn classify(stderr: &str) -> Option<Self> {
        let text = stderr.to_ascii_lowercase();
        let about_executable = text.contains("executable") || text.contains("exec: \"");
        if !about_executable {
            return None;
        }
        if text.contains("not found in $path") || text.contains("no such file or directory") {
            Some(Self::NotFound)
        } else if text.contains("permission denied") || text.contains("operation not permitted") {
            Some(Self::PermissionDenied)
        } else {
            None
        }
    }
}

impl Error {
    /// A failed start or exec: a [`Error::ProcessStart`] when the runtime's words say the
    /// executable was at fault, else unchanged.
    pub(crate) fn process_start(self) -> Self {
        match self {
            Self::RuntimeFailed { stderr, runtime, command, status } => match StartFailure::classify(&stderr) {
                Some(failure) => Self::ProcessStart { failure, detail: stderr },
                None => Self::RuntimeFailed { runtime, command, status, stderr },
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StartFailure;

    #[test]
    fn the_runtimes_words_about_executables_are_classified_and_nothing_else() {
        let cases = [
            ("executable file `nosuch` not found in $PATH: No such file or directory", Some(StartFailure::NotFound)),
            ("exec: \"nosuch\": executable file not found in $PATH", Some(StartFailure::NotFound)),
            ("exec: \"/x\": stat /x: no such file or directory", Some(StartFailure::NotFound)),
            ("open executable: Permission denied", Some(StartFailure::PermissionDenied)),
            ("open executable: Operation not permitted", Some(StartFailure::PermissionDenied)),
            ("exec: \"/etc/passwd\": permission denied", Some(StartFailure::PermissionDenied)),
            ("mount `/proc` to `proc`: No such file or directory", None),
            ("cgroup not found", None),
        ];
        for (text, want) in cases {
            assert_eq!(StartFailure::classify(text), want, "{text}");
        }
    }
}
