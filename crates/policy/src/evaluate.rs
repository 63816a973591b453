//! Evaluation: a policy and an image reference in, a [`Decision`] out.
//!
//! The digest every check judges is fixed first: the one the reference names, else the ones
//! the node already holds the image under (a `docker run` of a local image), else the tag
//! resolved through the first matching rule's trust data (`targets/releases`, then `targets`,
//! as docker content trust does) or, when no rule needs signatures, through the registry.
//! A resolved tag is pinned: what runs is exactly the digest that was judged.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use palisade_pki::Clock;
use palisade_reference::ImageReference;
use palisade_registry::client::{ClientOptions, ImageRef, RemoteClient};
use palisade_trust::client::{PinnedRepository, RemoteOptions, RootPin, TrustDir, TrustedRepo};
use palisade_trust::Gun;
use sha2::{Digest as _, Sha256};

use crate::decision::{Check, CheckKind, Decision, RuleOutcome};
use crate::document::{Policy, Rule, SignatureRule};
use crate::error::{PolicyError, Result};
use crate::{scan, signatures};

/// Evaluates images against policies, fetching evidence from trust servers and scanners.
#[derive(Debug, Clone)]
pub struct Evaluator {
    /// Trust metadata (rollback floors) and the CA files rules carry; private to this node.
    cache: PathBuf,
    /// CA files used when a rule names none (the cluster's trust bundle).
    default_cas: Vec<PathBuf>,
    clock: Arc<dyn Clock>,
}

/// Trust data fetched once per evaluation and source.
type TrustCache = HashMap<(String, Vec<String>), std::result::Result<Option<TrustedRepo>, String>>;

impl Evaluator {
    /// An evaluator caching under `cache` (created 0700 when needed) and trusting
    /// `default_cas` where a rule names no CA.
    pub fn new(cache: PathBuf, default_cas: Vec<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self { cache, default_cas, clock }
    }

    /// Evaluates `reference` against `policy` (stored as `version`). `local_digests` are the
    /// manifest digests the node holds the image under, if it holds it.
    pub async fn evaluate(&self, policy: &Policy, version: u64, reference: &str, local_digests: &[String]) -> Result<Decision> {
        let name = ImageReference::parse(reference).map_err(|e| PolicyError::Reference(e.to_string()))?;
        let full = name.name();
        let rules: Vec<&Rule> = policy.matching(&full).collect();
        let mut decision =
            Decision { image: reference.to_owned(), policy_version: version, digest: name.digest().map(ToString::to_string), pinned: None, rules: Vec::new() };
        if rules.is_empty() {
            return Ok(decision);
        }
        let mut trust = TrustCache::new();
        let (digests, unresolved) = self.digests(&name, &rules, local_digests, &mut trust, &mut decision).await;
        for rule in rules {
            let mut checks = Vec::new();
            if !rule.registries.is_empty() {
                let passed = rule.registries.iter().any(|r| r == name.host());
                let detail = if passed {
                    format!("{} is allowed", name.host())
                } else {
                    format!("registry {} is not allowed (allowed: {})", name.host(), rule.registries.join(", "))
                };
                checks.push(Check { kind: CheckKind::Registry, passed, detail });
            }
            if rule.require_digest {
                let passed = name.digest().is_some();
                let detail = if passed { "the reference names a digest".to_owned() } else { "the reference must name a digest (@sha256:…)".to_owned() };
                checks.push(Check { kind: CheckKind::Digest, passed, detail });
            }
            if let Some(sig) = &rule.signatures {
                checks.push(match &unresolved {
                    Some(why) => signatures::failed(why.clone()),
                    None => match self.trusted(&name, sig, &mut trust).await {
                        Ok(Some(repo)) => signatures::judge(&repo, sig, &digests),
                        Ok(None) => signatures::failed(format!("{full} has no trust data")),
                        Err(e) => signatures::failed(e),
                    },
                });
            }
            if let Some(vuln) = &rule.vulnerabilities {
                checks.push(match &unresolved {
                    Some(why) => Check { kind: CheckKind::Vulnerabilities, passed: false, detail: why.clone() },
                    None => self.scanned(&name, vuln, &digests).await,
                });
            }
            decision.rules.push(RuleOutcome { rule: rule.name.clone(), mode: rule.mode, checks });
        }
        tracing::debug!(image = reference, allowed = decision.allowed(), "image policy evaluated");
        Ok(decision)
    }

    /// The digests to judge, or why there are none.
    async fn digests(
        &self,
        name: &ImageReference,
        rules: &[&Rule],
        local: &[String],
        trust: &mut TrustCache,
        decision: &mut Decision,
    ) -> (Vec<String>, Option<String>) {
        if let Some(d) = name.digest() {
            return (vec![d.to_string()], None);
        }
        if !local.is_empty() {
            return (local.to_vec(), None);
        }
        if !rules.iter().any(|r| r.signatures.is_some() || r.vulnerabilities.is_some()) {
            return (Vec::new(), None);
        }
        let tag = name.tag_or_latest();
        let resolved = match rules.iter().find_map(|r| r.signatures.as_ref()) {
            Some(sig) => match self.trusted(name, sig, trust).await {
                Ok(Some(repo)) => repo
                    .released_target(tag)
                    .and_then(TrustedRepo::sha256_hex)
                    .map(|hex| format!("sha256:{hex}"))
                    .ok_or_else(|| format!("tag {tag} of {} is not signed", name.name())),
                Ok(None) => Err(format!("{} has no trust data", name.name())),
                Err(e) => Err(e),
            },
            None => self.registry_digest(name, tag).await,
        };
        match resolved {
            Ok(digest) => {
                decision.digest = Some(digest.clone());
                decision.pinned = Some(format!("{}@{digest}", name.name()));
                (vec![digest], None)
            }
            Err(why) => (Vec::new(), Some(why)),
        }
    }

    /// The digest the registry serves for `tag` (the digest of the manifest bytes).
    async fn registry_digest(&self, name: &ImageReference, tag: &str) -> std::result::Result<String, String> {
        let image: ImageRef = format!("{}:{tag}", name.name()).parse().map_err(|e| format!("{e}"))?;
        let options = ClientOptions { tls_ca: self.default_cas.first().cloned(), insecure: false, credentials: None };
        let client = RemoteClient::new(&image, &options, false).map_err(|e| format!("registry client: {e}"))?;
        let (_, bytes) = client.get_manifest(tag).await.map_err(|e| format!("resolving {}:{tag}: {e}", name.name()))?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
    }

    /// The repository's verified trust data from `rule`'s server, once per evaluation.
    async fn trusted(&self, name: &ImageReference, rule: &SignatureRule, cache: &mut TrustCache) -> std::result::Result<Option<TrustedRepo>, String> {
        let server = rule.server.clone().unwrap_or_else(|| format!("https://{}", name.host()));
        let key = (server.clone(), rule.root_keys.clone());
        if let Some(found) = cache.get(&key) {
            return found.clone();
        }
        let fetched = self.fetch_trust(name, rule, &server).await;
        cache.insert(key, fetched.clone());
        fetched
    }

    async fn fetch_trust(&self, name: &ImageReference, rule: &SignatureRule, server: &str) -> std::result::Result<Option<TrustedRepo>, String> {
        let gun = Gun::new(&name.name()).map_err(|e| e.to_string())?;
        let remote = RemoteOptions { server: server.to_owned(), ca_files: self.cas(rule.ca.as_deref())?, credentials: None, token: None };
        let pin = RootPin::new(rule.root_keys.clone());
        let repo = PinnedRepository::new(gun, pin, &TrustDir::new(self.cache.join("trust")), &remote, self.clock.clone())
            .map_err(|e| e.to_string())?;
        repo.fetch().await.map_err(|e| format!("trust data of {} from {server}: {e}", name.name()))
    }

    async fn scanned(&self, name: &ImageReference, rule: &crate::VulnerabilityRule, digests: &[String]) -> Check {
        let scanner = rule.scanner.clone().unwrap_or_else(|| format!("https://{}", name.host()));
        let cas = match self.cas(rule.ca.as_deref()) {
            Ok(cas) => cas,
            Err(e) => return Check { kind: CheckKind::Vulnerabilities, passed: false, detail: e },
        };
        let now = u64::try_from(self.clock.now().unix_timestamp()).unwrap_or(0);
        let mut last = format!("{} has no digest to look a scan up by", name.name());
        for digest in digests {
            match scan::fetch(&scanner, &cas, name.repository().as_str(), digest).await {
                Ok(Some(result)) => return scan::judge(&result, rule, now),
                Ok(None) => last = format!("{scanner} has no scan result for {digest}"),
                Err(e) => last = e,
            }
        }
        Check { kind: CheckKind::Vulnerabilities, passed: false, detail: last }
    }

    /// The CA files for a rule: its own PEM (kept as a file named by its hash), else the
    /// node's defaults.
    fn cas(&self, pem: Option<&str>) -> std::result::Result<Vec<PathBuf>, String> {
        let Some(pem) = pem else { return Ok(self.default_cas.clone()) };
        let path = self.cache.join("ca").join(format!("{}.crt", hex::encode(Sha256::digest(pem.as_bytes()))));
        if !path.is_file() {
            write_ca(&path, pem).map_err(|e| format!("keeping the rule's CA at {}: {e}", path.display()))?;
        }
        Ok(vec![path])
    }
}

fn write_ca(path: &Path, pem: &str) -> std::result::Result<(), String> {
    use std::os::unix::fs::DirBuilderExt as _;
    let dir = path.parent().ok_or("no parent directory")?;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
    palisade_pki::write_private_file(path, pem.as_bytes()).map_err(|e| e.to_string())
}
