//! Which PKCS#11 token the client uses, from the environment:
//! `PALISADE_PKCS11_MODULE` (the vendor's module; unset = no token), `PALISADE_PKCS11_TOKEN`
//! (the token label) and `PALISADE_PKCS11_PIN` (else a prompt on the terminal).

use secrecy::SecretString;

use super::error::{ClientError, ClientResult};
use crate::pkcs11::Pkcs11Config;

/// Module path variable.
pub const PKCS11_MODULE_ENV: &str = "PALISADE_PKCS11_MODULE";
/// Token label variable.
pub const PKCS11_TOKEN_ENV: &str = "PALISADE_PKCS11_TOKEN";
/// User PIN variable.
pub const PKCS11_PIN_ENV: &str = "PALISADE_PKCS11_PIN";

/// The configured token, or `None` when [`PKCS11_MODULE_ENV`] is unset.
pub fn pkcs11_config_from_env() -> ClientResult<Option<Pkcs11Config>> {
    let Some(module) = std::env::var_os(PKCS11_MODULE_ENV).filter(|m| !m.is_empty()) else { return Ok(None) };
    let token_label = std::env::var(PKCS11_TOKEN_ENV)
        .ok()
        .filter(|l| !l.is_empty())
        .ok_or_else(|| ClientError::Invalid(format!("{PKCS11_MODULE_ENV} is set: {PKCS11_TOKEN_ENV} must name the token")))?;
    let pin = match std::env::var(PKCS11_PIN_ENV) {
        Ok(pin) if !pin.is_empty() => SecretString::from(pin),
        _ => SecretString::from(
            rpassword::prompt_password(format!("Enter the user PIN of token {token_label}: "))
                .map_err(|_| ClientError::Invalid(format!("no PIN for token {token_label}: set {PKCS11_PIN_ENV} or run on a terminal")))?,
        ),
    };
    Ok(Some(Pkcs11Config { module: module.into(), token_label, pin }))
}
