//! A small, typed invoker of CNI plugins (CNI spec 1.0): the network configuration on stdin,
//! `CNI_*` in the environment, the result (or error) as JSON on stdout. Chains are run in
//! order for `ADD`, each plugin getting the previous result, and in reverse for `DEL`.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The CNI version every configuration declares.
pub(crate) const CNI_VERSION: &str = "1.0.0";

/// One interface of a result.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub(crate) struct Interface {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) mac: String,
    /// Set for interfaces inside the container's namespace.
    #[serde(default)]
    pub(crate) sandbox: Option<String>,
}

/// The part of a CNI result Palisade reads; the whole JSON is kept for `prevResult`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct CniResult {
    #[serde(default)]
    pub(crate) interfaces: Vec<Interface>,
}

/// A CNI error result.
#[derive(Debug, Deserialize)]
struct CniError {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    msg: String,
    #[serde(default)]
    details: String,
}

/// Where a chain is applied.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Attachment {
    /// `CNI_CONTAINERID`.
    pub(crate) container_id: String,
    /// `CNI_NETNS`.
    pub(crate) netns: PathBuf,
    /// `CNI_IFNAME`.
    pub(crate) ifname: String,
}

/// The plugin directory (`/usr/lib/cni` from Debian's containernetworking-plugins).
#[derive(Clone, Debug)]
pub(crate) struct Cni {
    plugin_dir: PathBuf,
}

impl Cni {
    pub(crate) fn new(plugin_dir: &Path) -> Self {
        Self { plugin_dir: plugin_dir.to_owned() }
    }

    /// Whether every plugin Palisade uses is installed.
    pub(crate) fn check(&self) -> Result<()> {
        for p in ["bridge", "portmap", "loopback", "static"] {
            if !self.plugin_dir.join(p).is_file() {
                return Err(Error::InvalidArgument(format!(
                    "the CNI plugin {p} is missing from {}: install containernetworking-plugins",
                    self.plugin_dir.display()
                )));
            }
        }
        Ok(())
    }

    /// `ADD` of `plugins` (one network's chain, named `network`) in order; returns the last result.
    pub(crate) fn add(&self, network: &str, plugins: &[Value], at: &Attachment) -> Result<Value> {
        let mut prev: Option<Value> = None;
        for (i, plugin) in plugins.iter().enumerate() {
            match self.exec("ADD", network, plugin, prev.as_ref(), at) {
                Ok(result) => prev = result,
                Err(e) => {
                    // Undo what the earlier plugins did.
                    let _ = self.del(network, &plugins[..i], prev.as_ref(), at);
                    return Err(e);
                }
            }
        }
        prev.ok_or_else(|| Error::Cni { plugin: "chain".into(), command: "ADD", message: "no result".into() })
    }

    /// `DEL` of `plugins` in reverse order; every plugin is run even if one fails (the first
    /// error is returned).
    pub(crate) fn del(&self, network: &str, plugins: &[Value], result: Option<&Value>, at: &Attachment) -> Result<()> {
        let mut first = Ok(());
        for plugin in plugins.iter().rev() {
            if let Err(e) = self.exec("DEL", network, plugin, result, at) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn exec(&self, command: &'static str, network: &str, plugin: &Value, prev: Option<&Value>, at: &Attachment) -> Result<Option<Value>> {
        let kind = plugin.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let mut config = plugin.clone();
        if let Some(obj) = config.as_object_mut() {
            obj.insert("cniVersion".into(), CNI_VERSION.into());
            obj.insert("name".into(), network.into());
            if let Some(prev) = prev {
                obj.insert("prevResult".into(), prev.clone());
            }
        }
        let stdin = serde_json::to_vec(&config).map_err(|source| Error::Parse { what: "a CNI configuration".into(), source })?;
        let binary = self.plugin_dir.join(&kind);
        let mut child = Command::new(&binary)
            .env_clear()
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &at.container_id)
            .env("CNI_NETNS", &at.netns)
            .env("CNI_IFNAME", &at.ifname)
            .env("CNI_PATH", &self.plugin_dir)
            .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::io("running", &binary))?;
        if let Some(mut input) = child.stdin.take() {
            input.write_all(&stdin).map_err(Error::io("writing the configuration to", &binary))?;
        }
        let out = child.wait_with_output().map_err(Error::io("waiting for", &binary))?;
        if !out.status.success() {
            let message = match serde_json::from_slice::<CniError>(&out.stdout) {
                Ok(e) => format!("{} (code {}){}", e.msg, e.code, if e.details.is_empty() { String::new() } else { format!(": {}", e.details) }),
                Err(_) => format!("{} {}", String::from_utf8_lossy(&out.stdout).trim(), String::from_utf8_lossy(&out.stderr).trim()),
            };
            return Err(Error::Cni { plugin: kind, command, message });
        }
        if command == "DEL" || out.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(prev.cloned());
        }
        serde_json::from_slice(&out.stdout).map(Some).map_err(|source| Error::Parse { what: format!("the result of CNI plugin {kind}"), source })
    }
}

/// Reads the typed part of a result.
pub(crate) fn parse_result(result: &Value) -> Result<CniResult> {
    serde_json::from_value(result.clone()).map_err(|source| Error::Parse { what: "a CNI result".into(), source })
}
