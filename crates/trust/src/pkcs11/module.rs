//! Loading a PKCS#11 module once per process.
//!
//! `C_Initialize` may be called once per process and module, and `C_Finalize` ends every
//! session of the process on that module. So each module path is loaded at most once at a time:
//! every [`super::Token`] holds an `Arc<Module>`, and the last one dropped finalises (only if this
//! process's `Module` was the one that initialised it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};

use super::error::HsmError;
use crate::error::Result;

/// A loaded and initialised PKCS#11 module.
#[derive(Debug)]
pub(super) struct Module {
    pub(super) ctx: Pkcs11,
    /// `false` when someone else in the process had already initialised the module.
    initialized_here: bool,
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
    let module = Arc::new(Module { ctx, initialized_here });
    loaded.retain(|_, weak| weak.strong_count() > 0);
    loaded.insert(path.to_owned(), Arc::downgrade(&module));
    Ok(module)
}
