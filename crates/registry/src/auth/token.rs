//! Docker token service: issues and verifies short-lived ES256 JWTs carrying `access` claims.
//!
//! Reusable by any Palisade server that speaks the Docker token protocol (the registry embeds
//! it at `/token`; the content-trust server can verify the same tokens):
//! ```no_run
//! # fn demo() -> palisade_registry::Result<()> {
//! use palisade_registry::auth::{AccessEntry, TokenService};
//! let svc = TokenService::new("palisade-registry", "palisade-registry", 300, None)?;
//! let issued = svc.issue(Some("alice"), vec![AccessEntry::repository("lib/app", &["pull"])])?;
//! let claims = svc.verify(&issued.token)?;
//! assert!(claims.allows("repository", "lib/app", "pull"));
//! # Ok(()) }
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// One `access` claim entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Resource type, e.g. `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Granted actions.
    pub actions: Vec<String>,
}

impl AccessEntry {
    /// A `repository` entry.
    pub fn repository(name: &str, actions: &[&str]) -> Self {
        Self {
            kind: "repository".into(),
            name: name.into(),
            actions: actions.iter().map(|a| (*a).to_owned()).collect(),
        }
    }
}

/// A requested scope, `type:name:action,action` (e.g. `repository:lib/app:pull,push`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// Resource type.
    pub kind: String,
    /// Resource name.
    pub name: String,
    /// Requested actions.
    pub actions: Vec<String>,
}

impl Scope {
    /// Parse one scope; `None` when malformed.
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if kind.is_empty() || name.is_empty() {
            return None;
        }
        Some(Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            actions: actions.split(',').filter(|a| !a.is_empty()).map(str::to_owned).collect(),
        })
    }
}

/// JWT claims.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject (user name; empty for anonymous).
    pub sub: String,
    /// Audience (the service).
    pub aud: String,
    /// Expiry (unix seconds).
    pub exp: u64,
    /// Not before.
    pub nbf: u64,
    /// Issued at.
    pub iat: u64,
    /// Unique id.
    pub jti: String,
    /// Granted access.
    #[serde(default)]
    pub access: Vec<AccessEntry>,
}

impl Claims {
    /// Whether the token grants `action` on `kind:name` (`*` grants everything).
    pub fn allows(&self, kind: &str, name: &str, action: &str) -> bool {
        self.access.iter().any(|a| {
            a.kind == kind && a.name == name && a.actions.iter().any(|x| x == action || x == "*")
        })
    }

    /// The subject, or `None` for anonymous tokens.
    pub fn subject(&self) -> Option<&str> {
        (!self.sub.is_empty()).then_some(self.sub.as_str())
    }
}

/// A freshly issued token, in the token endpoint's response shape.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Same JWT (OAuth2 spelling).
    pub access_token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    /// RFC 3339 issue time.
    pub issued_at: String,
}

/// Verifies tokens a [`TokenService`] issued, knowing only its public key: what another server
/// (the trust server) needs to accept the registry's tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    service: String,
    decoding: DecodingKey,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("issuer", &self.issuer).field("service", &self.service).finish_non_exhaustive()
    }
}

impl TokenVerifier {
    /// Accept tokens from `issuer` for audience `service`, signed by the P-256 key whose public
    /// half is `public_pem` (SPKI PEM, as [`TokenService::public_key_pem`] gives it).
    pub fn new(issuer: &str, service: &str, public_pem: &str) -> Result<Self> {
        let decoding = DecodingKey::from_ec_pem(public_pem.as_bytes()).map_err(|e| Error::TokenKey { reason: e.to_string() })?;
        Ok(Self { issuer: issuer.into(), service: service.into(), decoding })
    }

    /// The service name (token audience).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Verify signature (ES256 only), issuer, audience and lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&[&self.service]);
        v.set_issuer(&[&self.issuer]);
        v.leeway = 5;
        v.validate_nbf = true;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(Error::TokenInvalid)
    }
}

/// Issues and verifies tokens with one P-256 key.
pub struct TokenService {
    ttl_seconds: u64,
    kid: String,
    encoding: EncodingKey,
    verifier: TokenVerifier,
    public_pem: String,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").field("verifier", &self.verifier).field("kid", &self.kid).finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenService {
    /// Build from a PKCS#8 PEM P-256 key, or generate a fresh key when `key_pem` is `None`.
    pub fn new(issuer: &str, service: &str, ttl_seconds: u64, key_pem: Option<&str>) -> Result<Self> {
        let key_err = |e: rcgen::Error| Error::TokenKey { reason: e.to_string() };
        let pair = match key_pem {
            Some(pem) => rcgen::KeyPair::from_pem(pem).map_err(key_err)?,
            None => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(key_err)?,
        };
        if pair.algorithm() != &rcgen::PKCS_ECDSA_P256_SHA256 {
            return Err(Error::TokenKey { reason: "the token key must be an ECDSA P-256 key".into() });
        }
        let jwt_err = |e: jsonwebtoken::errors::Error| Error::TokenKey { reason: e.to_string() };
        let encoding = EncodingKey::from_ec_pem(pair.serialize_pem().as_bytes()).map_err(jwt_err)?;
        let public_pem = pair.public_key_pem();
        let verifier = TokenVerifier::new(issuer, service, &public_pem)?;
        let kid = hex::encode(Sha256::digest(pair.public_key_der())).chars().take(32).collect();
        Ok(Self { ttl_seconds, kid, encoding, verifier, public_pem })
    }

    /// The service name (token audience).
    pub fn service(&self) -> &str {
        self.verifier.service()
    }

    /// A verifier for this service's tokens (public key only).
    pub fn verifier(&self) -> TokenVerifier {
        self.verifier.clone()
    }

    /// The verification key (SPKI PEM) for other verifiers.
    pub fn public_key_pem(&self) -> &str {
        &self.public_pem
    }

    /// Issue a token for `subject` (`None` = anonymous) granting `access`.
    pub fn issue(&self, subject: Option<&str>, access: Vec<AccessEntry>) -> Result<IssuedToken> {
        self.issue_at(subject, access, now())
    }

    /// Issue a token as if the time were `iat` (unix seconds); for tests and replayable tools.
    pub fn issue_at(&self, subject: Option<&str>, access: Vec<AccessEntry>, iat: u64) -> Result<IssuedToken> {
        let mut jti = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut jti);
        let claims = Claims {
            iss: self.verifier.issuer.clone(),
            sub: subject.unwrap_or("").to_owned(),
            aud: self.verifier.service.clone(),
            exp: iat + self.ttl_seconds,
            nbf: iat.saturating_sub(5),
            iat,
            jti: hex::encode(jti),
            access,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).map_err(Error::TokenIssue)?;
        let issued_at = time::OffsetDateTime::from_unix_timestamp(i64::try_from(iat).unwrap_or(0))
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        Ok(IssuedToken { access_token: token.clone(), token, expires_in: self.ttl_seconds, issued_at })
    }

    /// Verify signature, issuer, audience and lifetime.
    pub fn verify(&self, token: &str) -> Result<Claims> {
        self.verifier.verify(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_verify_and_reject_foreign_tokens() {
        let a = TokenService::new("iss", "svc", 60, None).unwrap();
        let b = TokenService::new("iss", "svc", 60, None).unwrap();
        let t = a.issue(Some("alice"), vec![AccessEntry::repository("x/y", &["pull"])]).unwrap();
        let c = a.verify(&t.token).unwrap();
        assert!(c.allows("repository", "x/y", "pull"));
        assert!(!c.allows("repository", "x/y", "push"));
        assert_eq!(c.subject(), Some("alice"));
        assert!(b.verify(&t.token).is_err(), "other key");
        let other_aud = TokenService::new("iss", "other", 60, None).unwrap();
        assert!(other_aud.verify(&other_aud.issue(None, vec![]).unwrap().token).is_ok());
        assert!(a.verify("garbage").is_err());
        let public_only = TokenVerifier::new("iss", "svc", a.public_key_pem()).unwrap();
        assert!(public_only.verify(&t.token).unwrap().allows("repository", "x/y", "pull"));
        assert!(TokenVerifier::new("other-iss", "svc", a.public_key_pem()).unwrap().verify(&t.token).is_err());
        assert!(TokenVerifier::new("iss", "svc", b.public_key_pem()).unwrap().verify(&t.token).is_err());
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let a = TokenService::new("iss", "svc", 60, None).unwrap();
        let old = a.issue_at(Some("alice"), vec![], now() - 3600).unwrap();
        assert!(a.verify(&old.token).is_err());
        let fresh = a.issue_at(Some("alice"), vec![], now()).unwrap();
        assert!(a.verify(&fresh.token).is_ok());
    }

    #[test]
    fn scopes_parse() {
        let s = Scope::parse("repository:a/b:pull,push").unwrap();
        assert_eq!((s.kind.as_str(), s.name.as_str()), ("repository", "a/b"));
        assert_eq!(s.actions, vec!["pull", "push"]);
        assert_eq!(Scope::parse("registry:catalog:*").unwrap().actions, vec!["*"]);
        assert!(Scope::parse("nonsense").is_none());
    }
}
