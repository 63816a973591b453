//! Passphrases for key files, chosen as docker does (`cli/trust/trust.go` `GetPassphraseRetriever`):
//! the root key reads `DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE`, every other key (targets, snapshot,
//! delegations) `DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE`; an unset or empty variable falls
//! back to a prompt on the terminal. Passphrases live in [`SecretString`] and are never logged.

use secrecy::{ExposeSecret as _, SecretString};

use super::error::{ClientError, ClientResult};

/// Environment variable for the root key's passphrase.
pub const ROOT_PASSPHRASE_ENV: &str = "DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE";
/// Environment variable for every other key's passphrase.
pub const REPOSITORY_PASSPHRASE_ENV: &str = "DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE";

/// Where passphrases come from.
pub trait Passphrases: Send + Sync {
    /// The passphrase for a key of `role` (`root`, `targets`, `alice`, …) with ID `key_id`;
    /// `new` when the key is being created (a prompt asks twice).
    fn passphrase(&self, role: &str, key_id: &str, new: bool) -> ClientResult<SecretString>;
}

/// Docker's rules: environment first, then a prompt on the TTY.
#[derive(Debug, Default, Clone, Copy)]
pub struct EnvOrPrompt;

fn env_for(role: &str) -> &'static str {
    if role == "root" {
        ROOT_PASSPHRASE_ENV
    } else {
        REPOSITORY_PASSPHRASE_ENV
    }
}

impl Passphrases for EnvOrPrompt {
    fn passphrase(&self, role: &str, key_id: &str, new: bool) -> ClientResult<SecretString> {
        let env = env_for(role);
        if let Ok(v) = std::env::var(env) {
            if !v.is_empty() {
                return Ok(SecretString::from(v));
            }
        }
        let no_tty = |_| ClientError::NoPassphrase { role: role.to_owned(), env };
        let short: String = key_id.chars().take(7).collect();
        let display = if role == "targets" { "repository" } else { role };
        if !new {
            let p = rpassword::prompt_password(format!("Enter passphrase for {display} key with ID {short}: "))
                .map_err(no_tty)?;
            return Ok(SecretString::from(p));
        }
        let first = SecretString::from(
            rpassword::prompt_password(format!("Enter passphrase for new {display} key with ID {short}: "))
                .map_err(no_tty)?,
        );
        let again = SecretString::from(
            rpassword::prompt_password(format!("Repeat passphrase for new {display} key with ID {short}: "))
                .map_err(no_tty)?,
        );
        use subtle::ConstantTimeEq as _;
        if !bool::from(first.expose_secret().as_bytes().ct_eq(again.expose_secret().as_bytes())) {
            return Err(ClientError::Invalid("passphrases do not match".into()));
        }
        if first.expose_secret().len() < MIN_PASSPHRASE_LEN {
            return Err(ClientError::Invalid(format!("passphrase is too short (at least {MIN_PASSPHRASE_LEN} characters)")));
        }
        Ok(first)
    }
}

/// Notary's minimum passphrase length for new keys (`passphrase.go`).
const MIN_PASSPHRASE_LEN: usize = 8;

/// A fixed passphrase for every key (tests and non-interactive tooling).
pub struct FixedPassphrase(pub SecretString);

impl Passphrases for FixedPassphrase {
    fn passphrase(&self, _role: &str, _key_id: &str, _new: bool) -> ClientResult<SecretString> {
        Ok(self.0.clone())
    }
}
