//! Bodies and query strings of the container and image endpoints. Field names are the Engine
//! API's; fields Palisade does not act on are accepted and ignored.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::null_as_default;

/// A docker query flag: `1`, `true`, `True` are set; anything else (or absent) is not.
pub fn query_flag(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true" | "True" | "TRUE"))
}

/// `Config` of `POST /containers/create` (and of inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// `--hostname`.
    pub hostname: String,
    /// `--user`.
    pub user: String,
    /// Whether stdin is attached (`-i` with `docker run`).
    pub attach_stdin: bool,
    /// Whether stdout is attached.
    pub attach_stdout: bool,
    /// Whether stderr is attached.
    pub attach_stderr: bool,
    /// `-t`.
    pub tty: bool,
    /// `-i`.
    pub open_stdin: bool,
    /// Close the container's stdin when the attached client ends its input.
    pub stdin_once: bool,
    /// `-e`.
    #[serde(deserialize_with = "null_as_default")]
    pub env: Vec<String>,
    /// Arguments after the image.
    #[serde(deserialize_with = "null_as_default")]
    pub cmd: Vec<String>,
    /// The image reference.
    pub image: String,
    /// `--workdir`.
    pub working_dir: String,
    /// `--entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `--label`.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `-v /TARGET`: anonymous volumes, the targets as keys (values are `{}`).
    #[serde(deserialize_with = "null_as_default")]
    pub volumes: BTreeMap<String, serde_json::Value>,
    /// `--expose` and the ports of `-p` (`{"80/tcp": {}}`).
    #[serde(deserialize_with = "null_as_default")]
    pub exposed_ports: BTreeMap<String, serde_json::Value>,
    /// Every other field the client sent, kept so that what Palisade does not implement is
    /// refused when set, not dropped (see [`crate::types::is_unset`]).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// One `--mount` (`HostConfig.Mounts`). Options Palisade does not implement stay in the
/// `other` maps, to be refused when set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume` or `tmpfs`.
    pub r#type: String,
    /// The host path (bind) or volume name (volume; empty for an anonymous one).
    pub source: String,
    /// The absolute path in the container.
    pub target: String,
    /// `readonly`.
    pub read_only: bool,
    /// `bind-propagation` and the other bind options.
    pub bind_options: Option<BindOptions>,
    /// `volume-nocopy`, `volume-label`, …
    pub volume_options: Option<VolumeOptions>,
    /// `tmpfs-size`, `tmpfs-mode`.
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Everything else (`Consistency`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `Mount.BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `bind-propagation`: only `rprivate`/`private` (the default) are accepted.
    pub propagation: String,
    /// Everything else (`NonRecursive`, `CreateMountpoint`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `Mount.VolumeOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// `volume-nocopy`.
    pub no_copy: bool,
    /// `volume-label`: labels of a volume this mount creates.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Everything else (`DriverConfig`, `Subpath`, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `Mount.TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// `tmpfs-size` in bytes (0: the kernel's default).
    pub size_bytes: i64,
    /// `tmpfs-mode` (0: 1777).
    pub mode: u32,
    /// Everything else.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `RestartPolicy`: `no`, `always`, `unless-stopped`, `on-failure` with a retry limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped` (empty means `no`).
    pub name: String,
    /// Retries for `on-failure`.
    pub maximum_retry_count: i64,
}

/// `HostConfig` of `POST /containers/create` (and of inspect).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// Initial terminal size `[rows, columns]` of a `-t` container.
    pub console_size: Option<[u16; 2]>,
    /// `--rm`.
    pub auto_remove: bool,
    /// `--cap-add`.
    #[serde(deserialize_with = "null_as_default")]
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    #[serde(deserialize_with = "null_as_default")]
    pub cap_drop: Vec<String>,
    /// `--security-opt` (the CLI inlines seccomp profile files as JSON).
    #[serde(deserialize_with = "null_as_default")]
    pub security_opt: Vec<String>,
    /// `--read-only`.
    pub readonly_rootfs: bool,
    /// `--memory` in bytes (0: unlimited).
    pub memory: i64,
    /// `--cpus` × 10⁹.
    pub nano_cpus: i64,
    /// `--pids-limit` (`None`/0/-1: unlimited).
    pub pids_limit: Option<i64>,
    /// `--network`.
    pub network_mode: String,
    /// `--runtime`.
    pub runtime: String,
    /// `--privileged` (refused).
    pub privileged: bool,
    /// `--tmpfs` destination → options.
    #[serde(deserialize_with = "null_as_default")]
    pub tmpfs: BTreeMap<String, String>,
    /// `-v SOURCE:TARGET[:OPTIONS]`: a host path (absolute) or a volume name.
    #[serde(deserialize_with = "null_as_default")]
    pub binds: Vec<String>,
    /// `--mount`.
    #[serde(deserialize_with = "null_as_default")]
    pub mounts: Vec<Mount>,
    /// `--restart`.
    pub restart_policy: RestartPolicy,
    /// `-p` (`{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`).
    #[serde(deserialize_with = "null_as_default")]
    pub port_bindings: BTreeMap<String, Option<Vec<crate::types::PortBinding>>>,
    /// `-P`.
    pub publish_all_ports: bool,
    /// Every other field the client sent (see [`ContainerConfig::other`]).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `POST /containers/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateRequest {
    /// Everything but the host config.
    #[serde(flatten)]
    pub config: ContainerConfig,
    /// Host-side options.
    #[serde(default)]
    pub host_config: HostConfig,
    /// `--network-alias`, `--ip`, further `--network`s.
    #[serde(default)]
    pub networking_config: crate::types::NetworkingConfig,
}

/// `POST /containers/create?name=` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CreateQuery {
    /// `--name`.
    pub name: Option<String>,
}

/// `POST /containers/create` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCreateResponse {
    /// The new container's id.
    pub id: String,
    /// Warnings for the CLI to print.
    #[serde(deserialize_with = "null_as_default", default)]
    pub warnings: Vec<String>,
}

/// `HostConfig` as `GET /containers/json` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    /// Network mode.
    pub network_mode: String,
}

/// One row of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    /// Container id.
    pub id: String,
    /// `["/name"]`.
    pub names: Vec<String>,
    /// Image as given at create.
    pub image: String,
    /// Image id (`sha256:…`).
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Command line, space-joined.
    pub command: String,
    /// Unix seconds.
    pub created: i64,
    /// `created`, `running`, `exited`, `removing`.
    pub state: String,
    /// `Up 2 seconds`, `Exited (0) 3 seconds ago`.
    pub status: String,
    /// Published and exposed ports.
    pub ports: Vec<crate::types::Port>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Always empty.
    pub mounts: Vec<serde_json::Value>,
    /// Network mode.
    pub host_config: SummaryHostConfig,
}

/// `GET /containers/json` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ListQuery {
    /// `-a`.
    pub all: Option<String>,
}

/// `State` of a container inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `exited`, `removing`.
    pub status: String,
    /// Whether the process runs.
    pub running: bool,
    /// Always false.
    pub paused: bool,
    /// Always false.
    pub restarting: bool,
    /// The OOM killer struck.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Always false.
    pub dead: bool,
    /// Host pid while running, else 0.
    pub pid: i64,
    /// Exit code once exited.
    pub exit_code: i64,
    /// Why start failed, if it did.
    pub error: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` before start).
    pub started_at: String,
    /// RFC 3339 (`0001-01-01T00:00:00Z` before exit).
    pub finished_at: String,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// Container id.
    pub id: String,
    /// RFC 3339.
    pub created: String,
    /// Executable.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Lifecycle state.
    pub state: ContainerState,
    /// Image id.
    pub image: String,
    /// `/name`.
    pub name: String,
    /// Always 0.
    pub restart_count: i64,
    /// Storage driver name.
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// Host config as created.
    pub host_config: HostConfig,
    /// Config as created.
    pub config: ContainerConfig,
    /// Always empty.
    pub mounts: Vec<serde_json::Value>,
    /// Endpoints and ports.
    pub network_settings: crate::types::NetworkSettings,
}

/// `POST /containers/{id}/wait?condition=` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct WaitQuery {
    /// `not-running` (default), `next-exit`, `removed`.
    pub condition: Option<String>,
}

/// When a wait returns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum WaitCondition {
    /// At once if the container is not running, else at its exit.
    #[default]
    NotRunning,
    /// At the container's next exit.
    NextExit,
    /// Once the container is removed.
    Removed,
}

impl WaitCondition {
    /// Parses the query value.
    pub fn parse(value: Option<&str>) -> Option<Self> {
        match value.unwrap_or("") {
            "" | "not-running" => Some(Self::NotRunning),
            "next-exit" => Some(Self::NextExit),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// `Error` of a wait response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitError {
    /// What went wrong.
    pub message: String,
}

/// `POST /containers/{id}/wait` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WaitResponse {
    /// The exit code the CLI exits with.
    pub status_code: i64,
    /// Set when waiting failed.
    #[serde(default)]
    pub error: Option<WaitError>,
}

/// `POST /containers/{id}/stop` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StopQuery {
    /// Seconds before SIGKILL.
    pub t: Option<i64>,
    /// Signal instead of SIGTERM.
    pub signal: Option<String>,
}

/// `POST /containers/{id}/kill` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct KillQuery {
    /// Signal (default `KILL`).
    pub signal: Option<String>,
}

/// `DELETE /containers/{id}` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RemoveQuery {
    /// `-f`.
    pub force: Option<String>,
    /// `-v`: remove its anonymous volumes too.
    pub v: Option<String>,
}

/// `GET /containers/{id}/logs` and `POST …/attach` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OutputQuery {
    /// `-f` (logs) / `stream=1` (attach).
    pub follow: Option<String>,
    /// Attach: stream output.
    pub stream: Option<String>,
    /// Include stdout.
    pub stdout: Option<String>,
    /// Include stderr.
    pub stderr: Option<String>,
}

/// Which output a log or attach stream carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming until the container exits.
    pub follow: bool,
}

/// `GET /images/json` row.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageSummary {
    /// `sha256:…` of the config.
    pub id: String,
    /// Always empty.
    pub parent_id: String,
    /// `name:tag`.
    pub repo_tags: Vec<String>,
    /// `name@sha256:…`.
    pub repo_digests: Vec<String>,
    /// Unix seconds.
    pub created: i64,
    /// Bytes.
    pub size: i64,
    /// -1 (not computed).
    pub shared_size: i64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// -1 (not computed).
    pub containers: i64,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageInspect {
    /// `sha256:…` of the config.
    pub id: String,
    /// `name:tag`.
    pub repo_tags: Vec<String>,
    /// `name@sha256:…`.
    pub repo_digests: Vec<String>,
    /// RFC 3339 (may be empty).
    pub created: String,
    /// Bytes.
    pub size: i64,
    /// `amd64`…
    pub architecture: String,
    /// `linux`.
    pub os: String,
    /// The image's run config (`Cmd`, `Env`, …) as stored.
    pub config: serde_json::Value,
    /// `{"Type":"layers","Layers":[…]}`.
    #[serde(rename = "RootFS")]
    pub root_fs: serde_json::Value,
}

/// One entry of `DELETE /images/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleteItem {
    /// A reference that was removed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub untagged: Option<String>,
    /// An image id that was deleted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub deleted: Option<String>,
}

/// `DELETE /images/{name}` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageRemoveQuery {
    /// `-f`.
    pub force: Option<String>,
}

/// `POST /images/{name}/push?tag=` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImagePushQuery {
    /// The tag to push; empty for every tag of the repository (`--all-tags`).
    pub tag: Option<String>,
}

/// `POST /auth` body (`docker login`): the same credentials object docker sends in
/// `X-Registry-Auth`, with `serveraddress` naming the registry (`host[:port]` or a URL).
pub type AuthRequest = RegistryAuth;

/// `POST /auth` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AuthResponse {
    /// `Login Succeeded`.
    pub status: String,
    /// Always empty: the client keeps the password it sent.
    pub identity_token: String,
}

/// `POST /images/{name}/tag` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ImageTagQuery {
    /// Target repository.
    pub repo: Option<String>,
    /// Target tag (default `latest`).
    pub tag: Option<String>,
}

/// `POST /images/load` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LoadQuery {
    /// `-q`.
    pub quiet: Option<String>,
}

/// The multiplexed stream header: `[stream, 0, 0, 0, size as u32 big-endian]` then the bytes.
/// `stream` is 1 for stdout, 2 for stderr.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&data[..len as usize]);
    out
}

/// Splits a multiplexed stream buffer: returns complete `(stream, bytes)` frames and leaves the
/// incomplete rest in `buffer`.
pub fn unframe(buffer: &mut Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    loop {
        if buffer.len() < 8 {
            break;
        }
        let size = u32::from_be_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]) as usize;
        if buffer.len() < 8 + size {
            break;
        }
        let data = buffer[8..8 + size].to_vec();
        let stream = buffer[0];
        buffer.drain(..8 + size);
        frames.push((stream, data));
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_cli_create_body_parses() {
        let body = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":true,"AttachStderr":true,
"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":[],"Cmd":["sh","-c","exit 3"],"Image":"bb","Volumes":{},
"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"",
"LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},
"AutoRemove":true,"CapAdd":null,"CapDrop":["ALL"],"SecurityOpt":null,"ReadonlyRootfs":false,"Memory":33554432,"PidsLimit":20},
"NetworkingConfig":{"EndpointsConfig":{}}}"#;
        let request: ContainerCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(request.config.cmd, ["sh", "-c", "exit 3"]);
        assert!(request.host_config.auto_remove);
        assert_eq!(request.host_config.cap_drop, ["ALL"]);
        assert_eq!(request.host_config.pids_limit, Some(20));
    }

    #[test]
    fn frames_round_trip() {
        let mut buffer = frame(1, b"out");
        buffer.extend(frame(2, b"err"));
        buffer.extend_from_slice(&[1, 0]);
        let frames = unframe(&mut buffer);
        assert_eq!(frames, vec![(1, b"out".to_vec()), (2, b"err".to_vec())]);
        assert_eq!(buffer, vec![1, 0]);
    }
}

/// `POST /images/create` query (`docker pull`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageCreateQuery {
    /// The image to pull: `HOST[:PORT]/REPO` (or a Docker Hub name), optionally with a tag.
    pub from_image: Option<String>,
    /// Tag or digest; empty means `latest` unless `from_image` names one.
    pub tag: Option<String>,
    /// `docker import` source (not supported).
    pub from_src: Option<String>,
    /// Requested platform (`linux/amd64`); the node's own is always used.
    pub platform: Option<String>,
}

/// `GET /distribution/{name}/json`: what the image's registry holds under the name (moby's
/// `DistributionInspect`). The docker CLI pins a service's image to the descriptor's digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionInspect {
    /// The manifest's (or index's) descriptor.
    pub descriptor: OciDescriptor,
    /// The platforms the image is for: an index's entries, or a manifest's config.
    #[serde(default)]
    pub platforms: Vec<OciPlatform>,
}

/// An OCI content descriptor as the Engine API carries it (moby's `OCIDescriptor`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OciDescriptor {
    /// `application/vnd.oci.image.index.v1+json`, …
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// Where else the content may be downloaded from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An OCI platform as the Engine API carries it (moby's `OCIPlatform`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciPlatform {
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `linux`, …
    pub os: String,
    /// Operating system version (Windows images).
    #[serde(rename = "os.version", default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    /// Required operating system features.
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// The credentials docker sends in `X-Registry-Auth`: base64url of this JSON object. The
/// password never appears in `Debug` output.
#[derive(Clone, Default, Deserialize)]
pub struct RegistryAuth {
    /// User name.
    #[serde(default)]
    pub username: String,
    /// Password or access token.
    #[serde(default, deserialize_with = "secret_string")]
    pub password: Option<secrecy::SecretString>,
    /// The registry the credentials are for (informational).
    #[serde(default, rename = "serveraddress")]
    pub server_address: String,
}

fn secret_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<secrecy::SecretString>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()).map(secrecy::SecretString::from))
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[REDACTED]"))
            .field("server_address", &self.server_address)
            .finish()
    }
}

impl RegistryAuth {
    /// Decodes an `X-Registry-Auth` header value (base64url JSON, padded or not; docker also
    /// accepts standard base64). An empty header or `{}` means no credentials.
    pub fn from_header(value: &str) -> Result<Option<Self>, String> {
        use base64::Engine as _;
        let value = value.trim();
        if value.is_empty() {
            return Ok(None);
        }
        let cleaned = value.trim_end_matches('=');
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cleaned)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(cleaned))
            .map_err(|_| "X-Registry-Auth is not base64-encoded JSON".to_owned())?;
        let auth: Self = serde_json::from_slice(&bytes).map_err(|_| "X-Registry-Auth is not valid JSON".to_owned())?;
        Ok((!auth.username.is_empty() || auth.password.is_some()).then_some(auth))
    }

    /// The `X-Registry-Auth` header of a request, if any: a value that is not text is an error,
    /// never an anonymous request.
    pub fn from_headers(headers: &http::HeaderMap) -> Result<Option<Self>, String> {
        match headers.get("X-Registry-Auth") {
            None => Ok(None),
            Some(value) => Self::from_header(value.to_str().map_err(|_| "X-Registry-Auth is not base64-encoded JSON".to_owned())?),
        }
    }

    /// Encodes `username`/`password` as docker does for `X-Registry-Auth`.
    pub fn header_value(username: &str, password: &str, server_address: &str) -> String {
        use base64::Engine as _;
        let json = serde_json::json!({ "username": username, "password": password, "serveraddress": server_address });
        base64::engine::general_purpose::URL_SAFE.encode(json.to_string())
    }
}

/// One line of a progress stream (`docker pull`): a status, a per-layer progress update, or an
/// error (`{"errorDetail":{"message":…},"error":…}`), as dockerd's jsonmessage.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonMessage {
    /// What is happening (`Pulling fs layer`, `Downloading`, `Status: …`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<String>,
    /// Short layer id the status is about.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    /// Byte progress of a layer.
    #[serde(rename = "progressDetail", skip_serializing_if = "Option::is_none", default)]
    pub progress_detail: Option<ProgressDetail>,
    /// The failure, if this line reports one.
    #[serde(rename = "errorDetail", skip_serializing_if = "Option::is_none", default)]
    pub error_detail: Option<ErrorDetail>,
    /// The failure message (legacy field docker still reads).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Machine-readable results (a push's `{"Tag","Digest","Size"}`, which the docker CLI
    /// signs under content trust).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub aux: Option<serde_json::Value>,
}

/// `progressDetail` of a [`JsonMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub current: Option<u64>,
    /// Bytes in all.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub total: Option<u64>,
}

/// `errorDetail` of a [`JsonMessage`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// What went wrong.
    pub message: String,
}

impl JsonMessage {
    /// A status line, optionally about one layer.
    pub fn status(status: impl Into<String>, id: Option<&str>) -> Self {
        Self { status: Some(status.into()), id: id.map(str::to_owned), ..Self::default() }
    }

    /// An error line.
    pub fn error(message: impl Into<String>) -> Self {
        let message = message.into();
        Self { error_detail: Some(ErrorDetail { message: message.clone() }), error: Some(message), ..Self::default() }
    }

    /// The message as one newline-terminated JSON line.
    pub fn to_line(&self) -> bytes::Bytes {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        bytes::Bytes::from(line)
    }
}
