//! The trust server's configuration file (`palisade trust-server serve --config F`).
//!
//! ```toml
//! [auth]
//! mode = "token"                                # "none" (default: open, for local use) | "token"
//! realm = "https://registry.example:5000/token" # the registry's token endpoint
//! service = "palisade-registry"                 # token audience
//! issuer = "palisade-registry"
//! public_key = "/etc/palisade/token-key.pub"    # SPKI PEM of the registry's token key
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::TokenAuth;
use crate::error::{Error, Result};

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrustServerConfig {
    /// Authentication.
    pub auth: AuthConfig,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, tag = "mode", rename_all = "lowercase")]
pub enum AuthConfig {
    /// Everyone may read and write (local use only).
    #[default]
    None,
    /// Bearer tokens from the registry's token service.
    Token {
        /// Token endpoint URL sent in challenges.
        realm: String,
        /// Token audience.
        service: String,
        /// Token issuer.
        issuer: String,
        /// SPKI PEM file of the token signing key.
        public_key: PathBuf,
    },
}

impl TrustServerConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Config(format!("{}: {reason}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        toml::from_str(&text).map_err(|e| bad(e.to_string()))
    }

    /// The token checker to put in front of the router, or `None` for an open server.
    pub fn token_auth(&self) -> Result<Option<TokenAuth>> {
        let AuthConfig::Token { realm, service, issuer, public_key } = &self.auth else { return Ok(None) };
        let pem = std::fs::read_to_string(public_key)
            .map_err(|e| Error::Config(format!("token public key {}: {e}", public_key.display())))?;
        let verifier = palisade_registry::auth::TokenVerifier::new(issuer, service, &pem)
            .map_err(|e| Error::Config(format!("token public key {}: {e}", public_key.display())))?;
        Ok(Some(TokenAuth::new(verifier, realm.clone())))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn auth_defaults_to_none_and_token_needs_every_field() {
        assert!(matches!(toml::from_str::<TrustServerConfig>("").unwrap().auth, AuthConfig::None));
        let full = "[auth]\nmode = \"token\"\nrealm = \"https://r/token\"\nservice = \"s\"\nissuer = \"i\"\npublic_key = \"/k\"\n";
        assert!(matches!(toml::from_str::<TrustServerConfig>(full).unwrap().auth, AuthConfig::Token { .. }));
        assert!(toml::from_str::<TrustServerConfig>("[auth]\nmode = \"token\"\nrealm = \"x\"\n").is_err());
        assert!(toml::from_str::<TrustServerConfig>("[auth]\nmode = \"basic\"\n").is_err());
        assert!(toml::from_str::<TrustServerConfig>("[oops]\n").is_err());
    }
}
