//! The policy document: TOML written by an operator, validated whole before it is stored, and
//! kept as written (comments included) so `palisade policy show` prints what was set.
//!
//! ```toml
//! [[rule]]
//! name = "signed-apps"
//! images = ["registry.example:5000/apps/**"]   # globs over registry/repository
//! mode = "enforce"                              # or "audit": allow, and record
//! registries = ["registry.example:5000"]       # only these registries
//! require_digest = false                        # refuse references without @sha256:…
//!
//! [rule.signatures]
//! root_keys = ["<64 hex>"]                      # `docker trust inspect`: AdministrativeKeys Root
//! signers = ["alice", "bob"]                    # delegations; "releases", "targets" too
//! threshold = 2
//! server = "https://registry.example:4443"     # default https://<registry>
//! ca = "-----BEGIN CERTIFICATE-----…"           # default: the cluster's trust bundle
//!
//! [rule.vulnerabilities]
//! refuse = "critical"                           # fixable findings at or above
//! max_age = "7d"                                # scan results older than this do not count
//! scanner = "https://registry.example:5000"    # default https://<registry>
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use globset::{Glob, GlobMatcher};
use palisade_scan::Severity;
use serde::{Deserialize, Serialize};

use crate::error::{PolicyError, Result};

/// Largest policy document accepted.
pub const MAX_POLICY_BYTES: usize = 256 << 10;

/// Whether a rule refuses what fails it, or allows it and records the decision.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Refuse.
    #[default]
    Enforce,
    /// Allow, and record what would have been refused.
    Audit,
}

impl Mode {
    /// `enforce` or `audit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::Audit => "audit",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    rule: Vec<RuleText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleText {
    name: String,
    images: Vec<String>,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    registries: Vec<String>,
    #[serde(default)]
    require_digest: bool,
    signatures: Option<SignatureText>,
    vulnerabilities: Option<VulnerabilityText>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureText {
    root_keys: Vec<String>,
    #[serde(default)]
    signers: Vec<String>,
    threshold: Option<usize>,
    server: Option<String>,
    ca: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VulnerabilityText {
    refuse: String,
    max_age: Option<String>,
    scanner: Option<String>,
    ca: Option<String>,
}

/// A validated policy, with the text it was read from.
#[derive(Debug, Clone)]
pub struct Policy {
    text: String,
    rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique within the policy; named in every decision.
    pub name: String,
    /// The patterns as written.
    pub images: Vec<String>,
    matchers: Vec<GlobMatcher>,
    /// Enforce or audit.
    pub mode: Mode,
    /// Registries images may come from (empty: any).
    pub registries: Vec<String>,
    /// Whether references must name a digest.
    pub require_digest: bool,
    /// Signatures required.
    pub signatures: Option<SignatureRule>,
    /// Findings refused.
    pub vulnerabilities: Option<VulnerabilityRule>,
}

/// Signatures a rule requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureRule {
    /// Root key IDs the repository's root must be signed by.
    pub root_keys: Vec<String>,
    /// Signer names: delegations `targets/<name>`, plus `releases` and `targets` (the
    /// repository key). Default: `targets` and `releases`, as docker content trust accepts.
    pub signers: Vec<String>,
    /// How many of `signers` must have signed the digest.
    pub threshold: usize,
    /// Trust server URL (`None`: `https://<registry>`, as docker chooses).
    pub server: Option<String>,
    /// PEM CA certificates for the trust server (`None`: the node's defaults).
    pub ca: Option<String>,
}

/// Findings a rule refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VulnerabilityRule {
    /// Fixable findings at or above this severity refuse the image.
    pub refuse: Severity,
    /// Oldest scan result accepted.
    pub max_age: Duration,
    /// Scanner URL (`None`: the registry's own, `https://<registry>`).
    pub scanner: Option<String>,
    /// PEM CA certificates for the scanner (`None`: the node's defaults).
    pub ca: Option<String>,
}

/// Default oldest scan accepted.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

fn invalid(rule: &str, why: impl std::fmt::Display) -> PolicyError {
    PolicyError::Invalid(format!("rule {rule:?}: {why}"))
}

fn https_url(rule: &str, what: &str, url: &str) -> Result<String> {
    let rest = url.strip_prefix("https://").ok_or_else(|| invalid(rule, format!("{what} must be an https:// URL, got {url:?}")))?;
    let host = rest.trim_end_matches('/');
    if host.is_empty() || host.contains(['/', '?', '#', '@', ' ']) {
        return Err(invalid(rule, format!("{what} must be https://HOST[:PORT], got {url:?}")));
    }
    Ok(format!("https://{host}"))
}

fn ca_pem(rule: &str, what: &str, pem: Option<String>) -> Result<Option<String>> {
    let Some(pem) = pem else { return Ok(None) };
    palisade_pki::parse_pem_certificates(&pem).map_err(|e| invalid(rule, format!("{what} ca: {e}")))?;
    Ok(Some(pem))
}

fn signer_name(rule: &str, name: &str) -> Result<String> {
    palisade_trust::client::validate_signer_name(name).map_err(|e| invalid(rule, format!("signer {name:?}: {e}")))?;
    Ok(name.to_owned())
}

impl SignatureText {
    fn validate(self, rule: &str) -> Result<SignatureRule> {
        if self.root_keys.is_empty() {
            return Err(invalid(rule, "signatures need root_keys: the trust roots are pinned here, never taken on first use"));
        }
        for id in &self.root_keys {
            if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
                return Err(invalid(rule, format!("root key {id:?} is not a key ID (64 lowercase hex digits)")));
            }
        }
        let signers = if self.signers.is_empty() {
            vec!["targets".to_owned(), "releases".to_owned()]
        } else {
            let mut seen = BTreeSet::new();
            let mut names = Vec::new();
            for s in &self.signers {
                let s = if s == "targets" || s == "releases" { s.clone() } else { signer_name(rule, s)? };
                if !seen.insert(s.clone()) {
                    return Err(invalid(rule, format!("signer {s:?} is listed twice")));
                }
                names.push(s);
            }
            names
        };
        let threshold = self.threshold.unwrap_or(1);
        if threshold == 0 || threshold > signers.len() {
            return Err(invalid(rule, format!("threshold {threshold} must be between 1 and the {} signers listed", signers.len())));
        }
        let server = self.server.map(|s| https_url(rule, "server", &s)).transpose()?;
        Ok(SignatureRule { root_keys: self.root_keys, signers, threshold, server, ca: ca_pem(rule, "signatures", self.ca)? })
    }
}

impl VulnerabilityText {
    fn validate(self, rule: &str) -> Result<VulnerabilityRule> {
        let refuse: Severity = self.refuse.parse().map_err(|e| invalid(rule, e))?;
        if refuse == Severity::Unknown {
            return Err(invalid(rule, "refuse must be low, medium, high or critical"));
        }
        let max_age = match self.max_age {
            Some(text) => humantime::parse_duration(&text).map_err(|e| invalid(rule, format!("max_age {text:?}: {e}")))?,
            None => DEFAULT_MAX_AGE,
        };
        if max_age.is_zero() {
            return Err(invalid(rule, "max_age must be longer than zero"));
        }
        let scanner = self.scanner.map(|s| https_url(rule, "scanner", &s)).transpose()?;
        Ok(VulnerabilityRule { refuse, max_age, scanner, ca: ca_pem(rule, "vulnerabilities", self.ca)? })
    }
}

impl RuleText {
    fn validate(self) -> Result<Rule> {
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
            return Err(PolicyError::Invalid(format!("rule name {:?} must be 1-64 of [A-Za-z0-9-_.]", self.name)));
        }
        if self.images.is_empty() {
            return Err(invalid(&name, "images lists no pattern"));
        }
        let mut matchers = Vec::new();
        for pattern in &self.images {
            let glob = Glob::new(pattern).map_err(|e| invalid(&name, format!("pattern {pattern:?}: {e}")))?;
            matchers.push(glob.compile_matcher());
        }
        for registry in &self.registries {
            if registry.is_empty() || registry.contains(['/', ' ']) {
                return Err(invalid(&name, format!("registry {registry:?} must be HOST[:PORT]")));
            }
        }
        if self.signatures.is_none() && self.vulnerabilities.is_none() && self.registries.is_empty() && !self.require_digest {
            return Err(invalid(&name, "the rule requires nothing: add signatures, vulnerabilities, registries or require_digest"));
        }
        Ok(Rule {
            signatures: self.signatures.map(|s| s.validate(&name)).transpose()?,
            vulnerabilities: self.vulnerabilities.map(|v| v.validate(&name)).transpose()?,
            name,
            images: self.images,
            matchers,
            mode: self.mode,
            registries: self.registries,
            require_digest: self.require_digest,
        })
    }
}

impl Policy {
    /// Parses and validates a policy document; any error refuses all of it.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::Invalid(format!("the document is larger than {MAX_POLICY_BYTES} bytes")));
        }
        let document: Document = toml::from_str(text).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        let mut names = BTreeSet::new();
        let mut rules = Vec::new();
        for rule in document.rule {
            let rule = rule.validate()?;
            if !names.insert(rule.name.clone()) {
                return Err(PolicyError::Invalid(format!("two rules are named {:?}", rule.name)));
            }
            rules.push(rule);
        }
        Ok(Self { text: text.to_owned(), rules })
    }

    /// The document as it was written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The rules, in document order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rules whose patterns match `name` (`registry/repository`).
    pub fn matching<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.matchers.iter().any(|m| m.is_match(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_full_rule_parses_with_its_defaults() {
        let p = Policy::parse(&format!(
            "[[rule]]\nname = \"apps\"\nimages = [\"127.0.0.1:5000/apps/**\"]\n[rule.signatures]\nroot_keys = [\"{KEY}\"]\n\
             [rule.vulnerabilities]\nrefuse = \"critical\"\nmax_age = \"1day\"\n"
        ))
        .unwrap();
        let rule = &p.rules()[0];
        assert_eq!(rule.mode, Mode::Enforce);
        let s = rule.signatures.as_ref().unwrap();
        assert_eq!((s.signers.clone(), s.threshold), (vec!["targets".to_owned(), "releases".to_owned()], 1));
        let v = rule.vulnerabilities.as_ref().unwrap();
        assert_eq!((v.refuse, v.max_age), (Severity::Critical, Duration::from_secs(86400)));
        assert_eq!(p.matching("127.0.0.1:5000/apps/web").count(), 1);
        assert_eq!(p.matching("127.0.0.1:5000/other").count(), 0);
    }

    #[test]
    fn globs_keep_to_path_components_unless_doubled() {
        let p = Policy::parse("[[rule]]\nname = \"r\"\nimages = [\"reg:5000/*\"]\nrequire_digest = true\n").unwrap();
        assert_eq!(p.matching("reg:5000/app").count(), 1);
        let p2 = Policy::parse("[[rule]]\nname = \"r\"\nimages = [\"**\"]\nrequire_digest = true\n").unwrap();
        assert_eq!(p2.matching("docker.io/library/busybox").count(), 1);
    }

    #[test]
    fn bad_documents_are_refused_with_the_reason() {
        let cases = [
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\n", "requires nothing"),
            ("[[rule]]\nname = \"r\"\nimages = []\nrequire_digest = true\n", "no pattern"),
            ("[[rule]]\nname = \"r\"\nimages = [\"a[\"]\nrequire_digest = true\n", "pattern"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\n[rule.signatures]\nroot_keys = []\n", "root_keys"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\n[rule.signatures]\nroot_keys = [\"abc\"]\n", "not a key ID"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\nmode = \"maybe\"\n", "maybe"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\nrequire_digest = true\nextra = 1\n", "extra"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\n[rule.vulnerabilities]\nrefuse = \"dire\"\n", "dire"),
            ("[[rule]]\nname = \"r\"\nimages = [\"*\"]\n[rule.vulnerabilities]\nrefuse = \"high\"\nscanner = \"http://x\"\n", "https"),
        ];
        for (text, want) in cases {
            let e = Policy::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let two = format!(
            "[[rule]]\nname = \"r\"\nimages = [\"*\"]\n[rule.signatures]\nroot_keys = [\"{KEY}\"]\nsigners = [\"alice\"]\nthreshold = 2\n"
        );
        assert!(Policy::parse(&two).unwrap_err().to_string().contains("threshold"));
        let dup = "[[rule]]\nname = \"r\"\nimages = [\"*\"]\nrequire_digest = true\n[[rule]]\nname = \"r\"\nimages = [\"*\"]\nrequire_digest = true\n";
        assert!(Policy::parse(dup).unwrap_err().to_string().contains("two rules"));
    }
}
