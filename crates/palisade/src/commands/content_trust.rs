//! Content trust on `pull` and `run`, as docker's `DOCKER_CONTENT_TRUST=1`: a tag is resolved
//! through the repository's signed, verified TUF targets (`targets/releases` first, then
//! `targets`) to a manifest digest, and the image is fetched *by that digest*, so what runs is
//! byte for byte what was signed (the registry client checks every manifest and blob against its
//! digest). Unsigned tags, repositories without trust data and metadata that fails verification
//! are refused before anything is pulled.
//!
//! On with `DOCKER_CONTENT_TRUST=1` (then `--disable-content-trust` turns it off for one
//! command, as in docker) or with `[trust] enforce = true` in the client configuration
//! (`$PALISADE_CONFIG`, default `~/.config/palisade/config.toml`), which no flag overrides:
//!
//! ```toml
//! [trust]
//! enforce = true
//! server = "https://127.0.0.1:4443"   # default: DOCKER_CONTENT_TRUST_SERVER, else https://<registry>
//! ```

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use palisade_trust::client::{
    ClientError, HardwareToken, EnvOrPrompt, ImageName, KeyStore, RemoteOptions, Repository, TrustDir, TrustedRepo,
};
use secrecy::SecretString;
use serde::Deserialize;

/// Where trust data lives: the local trust directory and the Notary server.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct TrustLocation {
    /// Trust directory (default: $DOCKER_CONFIG/trust or ~/.docker/trust).
    #[arg(long, value_name = "DIR")]
    trust_dir: Option<PathBuf>,
    /// Notary server URL (https://…; default: the config's, else https://<registry>).
    #[arg(long = "trust-server", env = "DOCKER_CONTENT_TRUST_SERVER", value_name = "URL")]
    server: Option<String>,
}

impl TrustLocation {
    pub(crate) fn trust_dir(&self) -> anyhow::Result<TrustDir> {
        Ok(match &self.trust_dir {
            Some(d) => TrustDir::new(d),
            None => TrustDir::from_env()?,
        })
    }

    /// The key store: the trust directory's files, plus the PKCS#11 token the environment
    /// names (`PALISADE_PKCS11_MODULE`, `…_TOKEN`, `…_PIN`), opened when a key is needed.
    pub(crate) fn keys(&self) -> anyhow::Result<KeyStore> {
        let files = KeyStore::new(&self.trust_dir()?, Arc::new(EnvOrPrompt));
        Ok(match HardwareToken::from_env()? {
            Some(token) => files.with_hardware_token(token),
            None => files,
        })
    }

    /// A client of `name`'s trust collection (`push`: may publish).
    pub(crate) fn repository(&self, name: &ImageName, creds: Option<(String, String)>, push: bool) -> anyhow::Result<Repository> {
        self.repository_with(&ClientConfig::load()?, name, creds, push)
    }

    fn repository_with(
        &self,
        config: &ClientConfig,
        name: &ImageName,
        creds: Option<(String, String)>,
        push: bool,
    ) -> anyhow::Result<Repository> {
        let server = self.server.as_deref().or(config.trust.server.as_deref());
        let creds = creds.map(|(u, p)| (u, SecretString::from(p)));
        let remote = RemoteOptions::for_registry(server, &name.image.registry, creds)?;
        let clock = Arc::new(palisade_pki::SystemClock);
        Ok(Repository::new(name.gun.clone(), &self.trust_dir()?, self.keys()?, &remote, push, clock)?)
    }
}

/// Content-trust flags of `pull` and `run`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ContentTrustArgs {
    /// Skip image verification (only when DOCKER_CONTENT_TRUST turned it on; a config that
    /// enforces trust cannot be skipped).
    #[arg(long)]
    disable_content_trust: bool,
    #[command(flatten)]
    location: TrustLocation,
}

/// The client configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct ClientConfig {
    trust: TrustConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct TrustConfig {
    enforce: bool,
    server: Option<String>,
}

impl ClientConfig {
    fn path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("PALISADE_CONFIG") {
            return Some(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("palisade").join("config.toml"))
    }

    /// The configuration, or defaults when the file does not exist. A file that exists but
    /// cannot be read or parsed is an error: a broken policy must not silently turn trust off.
    fn load() -> anyhow::Result<Self> {
        let Some(path) = Self::path() else { return Ok(Self::default()) };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).with_context(|| format!("client configuration {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(e).with_context(|| format!("reading client configuration {}", path.display())),
        }
    }
}

fn env_enables_trust() -> bool {
    std::env::var("DOCKER_CONTENT_TRUST").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "True"))
}

/// An image as content trust pins it: `repo:tag` signed as `repo@digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pinned {
    /// `registry/repo`.
    pub(crate) repo: String,
    /// The signed tag.
    pub(crate) tag: String,
    /// `sha256:<hex>` of the signed manifest.
    pub(crate) digest: String,
}

impl Pinned {
    /// `registry/repo@sha256:<hex>`: what to fetch.
    pub(crate) fn by_digest(&self) -> String {
        format!("{}@{}", self.repo, self.digest)
    }

    /// `registry/repo:tag`: the name to give it afterwards.
    pub(crate) fn tagged(&self) -> String {
        format!("{}:{}", self.repo, self.tag)
    }
}

impl ContentTrustArgs {
    /// Whether trust is on for this command under `config`.
    fn enabled(&self, config: &ClientConfig) -> anyhow::Result<bool> {
        let enforced = config.trust.enforce;
        if enforced && self.disable_content_trust {
            anyhow::bail!("content trust is enforced by the client configuration; --disable-content-trust is refused");
        }
        Ok(enforced || (env_enables_trust() && !self.disable_content_trust))
    }

    /// With trust on, the signed digest `image`'s tag stands for; `None` when trust is off or
    /// the image is already named by digest (a digest pins content by itself).
    pub(crate) async fn pin(&self, image: &str, creds: Option<(String, String)>) -> anyhow::Result<Option<Pinned>> {
        let config = ClientConfig::load()?;
        if !self.enabled(&config)? {
            return Ok(None);
        }
        let name = ImageName::parse(image)?;
        if name.by_digest {
            return Ok(None);
        }
        let tag = name.tag.clone().unwrap_or_else(|| "latest".to_owned());
        let repo = self.location.repository_with(&config, &name, creds, false)?;
        let trusted = repo.fetch_existing().await.map_err(|e| match e {
            ClientError::NoTrustData { .. } => anyhow::anyhow!("remote trust data does not exist for {}: {e}", name.gun),
            other => anyhow::Error::new(other).context(format!("verifying trust data for {}", name.gun)),
        })?;
        let hex = signed_digest(&trusted, &tag).ok_or_else(|| anyhow::anyhow!("No valid trust data for {tag}"))?;
        let repo = format!("{}/{}", name.image.registry, name.image.repo);
        Ok(Some(Pinned { repo, tag, digest: format!("sha256:{hex}") }))
    }
}

fn signed_digest(trusted: &TrustedRepo, tag: &str) -> Option<String> {
    trusted.released_target(tag).and_then(TrustedRepo::sha256_hex)
}
