//! Which PKCS#11 token the client uses, from the environment:
//! `PALISADE_PKCS11_MODULE` (the vendor's module; unset = no token), `PALISADE_PKCS11_TOKEN`
//! (the token label) and `PALISADE_PKCS11_PIN` (else a prompt on the terminal).
//!
//! The token is opened, and its PIN asked for, only when a key is needed: commands that only
//! read trust data (`inspect`, a trusted `pull`) never touch it.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use secrecy::SecretString;

use super::error::{ClientError, ClientResult};
use crate::pkcs11::{Pkcs11Config, Token};

/// Module path variable.
pub const PKCS11_MODULE_ENV: &str = "PALISADE_PKCS11_MODULE";
/// Token label variable.
pub const PKCS11_TOKEN_ENV: &str = "PALISADE_PKCS11_TOKEN";
/// User PIN variable.
pub const PKCS11_PIN_ENV: &str = "PALISADE_PKCS11_PIN";

/// A PKCS#11 token, opened on first use.
pub struct HardwareToken {
    /// Where to open it from; `None` for a token handed over open.
    source: Option<(PathBuf, String)>,
    opened: OnceLock<Arc<Token>>,
}

impl HardwareToken {
    /// The token the environment names, not yet opened; `None` when [`PKCS11_MODULE_ENV`] is
    /// unset. A module without a token label is an error now, not at first use.
    pub fn from_env() -> ClientResult<Option<Self>> {
        let Some(module) = std::env::var_os(PKCS11_MODULE_ENV).filter(|m| !m.is_empty()) else { return Ok(None) };
        let token_label = std::env::var(PKCS11_TOKEN_ENV)
            .ok()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| ClientError::Invalid(format!("{PKCS11_MODULE_ENV} is set: {PKCS11_TOKEN_ENV} must name the token")))?;
        Ok(Some(Self { source: Some((module.into(), token_label)), opened: OnceLock::new() }))
    }

    /// A token that is open already.
    pub fn open(token: Arc<Token>) -> Self {
        Self { source: None, opened: OnceLock::from(token) }
    }

    /// The open token: opened now (the PIN from [`PKCS11_PIN_ENV`], else the terminal) if this
    /// is the first use.
    pub fn get(&self) -> ClientResult<Arc<Token>> {
        if let Some(token) = self.opened.get() {
            return Ok(Arc::clone(token));
        }
        let Some((module, token_label)) = &self.source else {
            return Err(ClientError::Invalid("no PKCS#11 token".into()));
        };
        let pin = match std::env::var(PKCS11_PIN_ENV) {
            Ok(pin) if !pin.is_empty() => SecretString::from(pin),
            _ => SecretString::from(
                rpassword::prompt_password(format!("Enter the user PIN of token {token_label}: ")).map_err(|_| {
                    ClientError::Invalid(format!("no PIN for token {token_label}: set {PKCS11_PIN_ENV} or run on a terminal"))
                })?,
            ),
        };
        let config = Pkcs11Config { module: module.clone(), token_label: token_label.clone(), pin };
        let token = Arc::new(Token::open(&config)?);
        // Another thread may have opened it meanwhile: either is the same token.
        Ok(Arc::clone(self.opened.get_or_init(|| token)))
    }
}
