//! [`HsmKey`]: a TUF signer whose private key stays on the token.

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use palisade_pki::Clock;
use sha2::{Digest as _, Sha256};

use super::error::{token_op, HsmError};
use super::token::TokenSession;
use crate::error::Result;
use crate::key::{Key, TufSigner};
use crate::names::Gun;

/// An ECDSA P-256 key on a PKCS#11 token. Signs as notary's YubiKey store does: `CKM_ECDSA`
/// over SHA-256 of the canonical bytes, giving the raw 64-byte r||s TUF method `ecdsa` expects.
/// Cheap to clone; keeps the token session open while it lives.
#[derive(Clone)]
pub struct HsmKey {
    token: Arc<TokenSession>,
    /// Invariant: the bare `ecdsa` key read from the token; its ID is the objects' `CKA_ID`.
    public: Key,
    role: String,
    gun: Option<Gun>,
}

impl std::fmt::Debug for HsmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmKey")
            .field("key_id", &self.public.id())
            .field("role", &self.role)
            .field("gun", &self.gun)
            .field("token", &self.token.label())
            .finish()
    }
}

impl HsmKey {
    pub(super) fn new(token: Arc<TokenSession>, public: Key, role: String, gun: Option<Gun>) -> Self {
        Self { token, public, role, gun }
    }

    /// The TUF key ID (of the bare `ecdsa` key; the canonical ID of its certificates).
    pub fn key_id(&self) -> &str {
        self.public.id()
    }

    /// The bare `ecdsa` public key.
    pub fn public(&self) -> &Key {
        &self.public
    }

    /// The role the key was made for.
    pub fn role(&self) -> &str {
        &self.role
    }

    /// The GUN the key is bound to, if any.
    pub fn gun(&self) -> Option<&Gun> {
        self.gun.as_ref()
    }

    /// Notary's self-signed root certificate for `gun` (CN = gun, 10 years from `clock.now()`),
    /// signed on the token: the `ecdsa-x509` key to list in root.json. Sign root metadata with
    /// `Signed::sign_as(root, &[(&cert_key, &hsm_key)])`.
    pub fn self_signed_root_certificate(&self, gun: &Gun, clock: &dyn Clock) -> Result<Key> {
        crate::root_cert::self_signed_root_certificate(Arc::new(self.clone()), gun, clock)
    }
}

impl TufSigner for HsmKey {
    fn public_key(&self) -> Result<Key> {
        Ok(self.public.clone())
    }

    fn signature_method(&self) -> &'static str {
        "ecdsa"
    }

    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        let digest = Sha256::digest(msg);
        let sig = {
            let session = self.token.session();
            let private = self.token.private_key(&session, self.key_id())?;
            session.sign(&Mechanism::Ecdsa, private, &digest).map_err(token_op("C_Sign"))?
        };
        // A token that signs with another key than it showed us must not go unnoticed.
        self.public.verify("ecdsa", msg, &sig).map_err(|_| HsmError::Inconsistent {
            key_id: self.key_id().to_owned(),
            reason: "the token's signature does not verify under its public key",
        })?;
        Ok(sig)
    }
}
