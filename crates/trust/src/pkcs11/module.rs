//! Loading a PKCS#11 module once per process.
//!
//! `C_Initialize` may be called once per process and module, and `C_Finalize` ends every
//! session of the process on that module. So each module path is loaded at most once at a time:
//! every [`super::Token`] holds an `Arc<Module>`, and the last one dropped finalises (only if this
//! process's `Module` was the one that initialised it).
//!
//! Login state is per process and token, too: while one session is logged in, `C_Login` on
//! another answers `CKR_USER_ALREADY_LOGGED_IN` without looking at the PIN. So the module keeps a
//! salted SHA-256 of the PIN that logged each token in, and [`Module::login`] compares a later
//! PIN with it instead — a wrong PIN is refused however many tokens the process has open.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::error::{token_op, HsmError};
use crate::error::Result;

/// A loaded and initialised PKCS#11 module.
#[derive(Debug)]
pub(super) struct Module {
    pub(super) ctx: Pkcs11,
    /// `false` when someone else in the process had already initialised the module.
    initialized_here: bool,
    /// Random per-module salt for `logins`.
    salt: [u8; 16],
    /// Slot → `sha256(salt || PIN)` of the PIN that last logged its token in.
    logins: Mutex<HashMap<Slot, [u8; 32]>>,
}

impl Module {
    /// Logs `session` (on `slot`, whose token is labelled `token`) in as the user with `pin`.
    pub(super) fn login(&self, session: &Session, slot: Slot, pin: &SecretString, token: &str) -> Result<()> {
        let digest: [u8; 32] = Sha256::new_with_prefix(self.salt).chain_update(pin.expose_secret()).finalize().into();
        let mut logins = self.logins.lock().unwrap_or_else(PoisonError::into_inner);
        match session.login(UserType::User, Some(pin)) {
            Ok(()) => {
                logins.insert(slot, digest);
                Ok(())
            }
            Err(e @ CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => match logins.get(&slot) {
                Some(known) if bool::from(known.ct_eq(&digest)) => Ok(()),
                Some(_) => Err(HsmError::BadPin { token: token.to_owned() }.into()),
                // Logged in by code outside this module: the PIN cannot be checked.
                None => Err(token_op("C_Login")(e)),
            },
            Err(CkError::Pkcs11(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange, _)) => {
                Err(HsmError::BadPin { token: token.to_owned() }.into())
            }
            Err(CkError::Pkcs11(RvError::PinLocked, _)) => Err(HsmError::PinLocked { token: token.to_owned() }.into()),
            Err(e) => Err(token_op("C_Login")(e)),
        }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        if self.initialized_here {
            if let Err(e) = self.ctx.clone().finalize() {
                tracing::debug!(error = %e, "C_Finalize failed");
            }
        }
    }
}

fn loaded() -> &'static Mutex<HashMap<PathBuf, Weak<Module>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Weak<Module>>>> = OnceLock::new();
    LOADED.get_or_init(Mutex::default)
}

/// The module at `path`, loading and initialising it unless it is loaded already.
pub(super) fn load(path: &Path) -> Result<Arc<Module>> {
    let mut loaded = loaded().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(module) = loaded.get(path).and_then(Weak::upgrade) {
        return Ok(module);
    }
    let failed = |source| HsmError::ModuleLoad { module: path.to_owned(), source };
    let ctx = Pkcs11::new(path).map_err(failed)?;
    let initialized_here = match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => true,
        Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => false,
        Err(e) => return Err(failed(e).into()),
    };
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let module = Arc::new(Module { ctx, initialized_here, salt, logins: Mutex::default() });
    loaded.retain(|_, weak| weak.strong_count() > 0);
    loaded.insert(path.to_owned(), Arc::downgrade(&module));
    Ok(module)
}
