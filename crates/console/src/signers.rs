//! The seam for tag signers from a trust server: the repository page asks a [`SignerLookup`]
//! (when one is configured) who signed each tag's digest, and shows nothing about signers
//! otherwise.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// Manifest digest (`sha256:…`) → the roles that signed it (`targets`, `targets/releases`, …).
pub type Signers = BTreeMap<String, Vec<String>>;

/// Who signed a repository's manifests, from verified trust data.
pub trait SignerLookup: Send + Sync {
    /// The signers of `digests` in `repository` as `user` may read them, the images being
    /// named `host/repository` (digests nobody signed are left out), or why the trust data
    /// could not be fetched or verified.
    fn signers<'a>(
        &'a self,
        user: &'a str,
        host: &'a str,
        repository: &'a str,
        digests: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<Signers, String>> + Send + 'a>>;
}

/// Signers from a Notary-compatible trust server that takes this registry's tokens: the trust
/// data of GUN `host/repository` is fetched with a pull token the registry issues in process
/// for the console's user (so a private repository's signers show to exactly those who may
/// pull it, and no password is kept), verified as `docker trust inspect` would (trust on first
/// use, rollback floors kept in `cache`).
pub struct TrustSigners {
    /// The registry (its token service and its policy).
    pub registry: palisade_registry::Registry,
    /// `https://host[:port]` of the trust server.
    pub server: String,
    /// PEM CA files for the trust server's TLS (empty: the system roots).
    pub ca_files: Vec<std::path::PathBuf>,
    /// Where verified trust data is kept between lookups.
    pub cache: std::path::PathBuf,
}

impl TrustSigners {
    async fn lookup(&self, user: &str, host: &str, repository: &str, digests: &[String]) -> Result<Signers, String> {
        use palisade_registry::auth::{Identity, Scope};
        use palisade_trust::client::{KeyStore, RemoteOptions, Repository, TrustDir};
        let gun_text = format!("{host}/{repository}");
        let gun = palisade_trust::Gun::new(&gun_text).map_err(|e| e.to_string())?;
        let scope = Scope { kind: "repository".into(), name: gun_text.clone(), actions: vec!["pull".into()] };
        let issued = self
            .registry
            .auth()
            .issue_for(&Identity::User(user.to_owned()), &[scope])
            .map_err(|_| "this registry issues no tokens for its trust server".to_owned())?;
        let remote = RemoteOptions {
            server: self.server.clone(),
            ca_files: self.ca_files.clone(),
            credentials: None,
            token: Some(secrecy::SecretString::from(issued.token)),
        };
        let trust_dir = TrustDir::new(self.cache.clone());
        let keys = KeyStore::new(&trust_dir, std::sync::Arc::new(NoPassphrases));
        let clock = std::sync::Arc::new(palisade_pki::SystemClock);
        let repo = Repository::new(gun, &trust_dir, keys, &remote, false, clock).map_err(|e| e.to_string())?;
        let Some(trusted) = repo.fetch().await.map_err(|e| e.to_string())? else { return Ok(Signers::new()) };
        let mut found = Signers::new();
        for digest in digests {
            let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
            let roles: Vec<String> = trusted.signers_of(hex).iter().map(ToString::to_string).collect();
            if !roles.is_empty() {
                found.insert(digest.clone(), roles);
            }
        }
        Ok(found)
    }
}

impl SignerLookup for TrustSigners {
    fn signers<'a>(
        &'a self,
        user: &'a str,
        host: &'a str,
        repository: &'a str,
        digests: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<Signers, String>> + Send + 'a>> {
        Box::pin(self.lookup(user, host, repository, digests))
    }
}

/// Reading trust data needs no key: any passphrase asked for is refused.
struct NoPassphrases;

impl palisade_trust::client::Passphrases for NoPassphrases {
    fn passphrase(&self, _: &str, _: &str, _: bool) -> palisade_trust::client::ClientResult<secrecy::SecretString> {
        Err(palisade_trust::client::ClientError::Invalid("the console reads trust data and holds no keys".into()))
    }
}
