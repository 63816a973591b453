//! [`Token`]: one logged-in session on a PKCS#11 token, and the TUF key objects on it.
//!
//! Object layout (one key = two token objects sharing a `CKA_ID`):
//! ```text
//! CKO_PRIVATE_KEY  CKK_EC P-256  CKA_ID = TUF key ID (32 bytes)  CKA_LABEL = role[:gun]
//!                  CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_SIGN = true; CKA_EXTRACTABLE = false
//! CKO_PUBLIC_KEY   CKK_EC P-256  same CKA_ID and CKA_LABEL       CKA_EC_POINT, CKA_VERIFY = true
//! ```
//! The TUF key ID is the ID of the bare `ecdsa` key (its DER SPKI), which is also the canonical
//! ID of any `ecdsa-x509` certificate made for it — notary names root keys the same way.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use p256::pkcs8::EncodePublicKey as _;
use rand::RngCore as _;
use zeroize::Zeroize as _;

use super::error::{token_op, HsmError};
use super::module::{load, Module};
use super::signer::HsmKey;
use super::Pkcs11Config;
use crate::error::{Error, Result};
use crate::key::{Key, KeyType, PrivateKey};
use crate::names::Gun;

/// DER of OID 1.2.840.10045.3.1.7 (prime256v1): the `CKA_EC_PARAMS` of every key here.
const P256_EC_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
/// Length of a `CKA_ID` that holds a TUF key ID (SHA-256).
const KEY_ID_BYTES: usize = 32;

/// One key on the token, as [`Token::list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The TUF key ID (hex; the canonical ID of any x509 form of the key).
    pub key_id: String,
    /// The role the key was made for (`root`, `targets`, `targets/releases`, a signer name…).
    pub role: String,
    /// The GUN the key is bound to, if any (root keys are not bound to one).
    pub gun: Option<Gun>,
}

/// The session a [`Token`] and its [`HsmKey`]s share.
pub(super) struct TokenSession {
    /// Declared before `_module`: the session closes before the module may be finalised.
    session: Mutex<Session>,
    label: String,
    _module: Arc<Module>,
}

impl TokenSession {
    pub(super) fn session(&self) -> MutexGuard<'_, Session> {
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn label(&self) -> &str {
        &self.label
    }

    pub(super) fn not_found(&self, key_id: &str) -> Error {
        HsmError::KeyNotFound { key_id: key_id.to_owned(), token: self.label.clone() }.into()
    }

    /// The private key object for `key_id`.
    pub(super) fn private_key(&self, session: &Session, key_id: &str) -> Result<ObjectHandle> {
        let id = ck_id(key_id).ok_or_else(|| self.not_found(key_id))?;
        objects(session, Some(ObjectClass::PRIVATE_KEY), &id)?.into_iter().next().ok_or_else(|| self.not_found(key_id))
    }
}

impl std::fmt::Debug for TokenSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSession").field("label", &self.label).finish_non_exhaustive()
    }
}

/// A PKCS#11 token, logged in as the user. Cheap to clone; the [`HsmKey`]s it hands out keep
/// the session open after the `Token` itself is dropped.
#[derive(Clone, Debug)]
pub struct Token {
    inner: Arc<TokenSession>,
}

impl Token {
    /// Loads `config.module`, finds the initialised token labelled `config.token_label` and
    /// logs in with `config.pin`.
    ///
    /// Errors: [`HsmError::ModuleLoad`], [`HsmError::TokenNotFound`], [`HsmError::BadPin`],
    /// [`HsmError::PinLocked`]. A second `Token` on a token this process is already logged in to
    /// must bring the same PIN (checked against a salted hash, as the token no longer asks).
    pub fn open(config: &Pkcs11Config) -> Result<Self> {
        let module = load(&config.module)?;
        let label = config.token_label.as_str();
        let slots = module.ctx.get_slots_with_initialized_token().map_err(token_op("C_GetSlotList"))?;
        let mut slot = None;
        for candidate in slots {
            let info = module.ctx.get_token_info(candidate).map_err(token_op("C_GetTokenInfo"))?;
            if info.label() == label {
                slot = Some(candidate);
                break;
            }
        }
        let slot = slot.ok_or_else(|| HsmError::TokenNotFound { label: label.to_owned() })?;
        let session = module.ctx.open_rw_session(slot).map_err(token_op("C_OpenSession"))?;
        module.login(&session, slot, &config.pin, label)?;
        let inner = TokenSession { session: Mutex::new(session), label: label.to_owned(), _module: module };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The token label.
    pub fn label(&self) -> &str {
        self.inner.label()
    }

    /// Generates an ECDSA P-256 key pair on the token for `role` (and `gun`, for keys bound to
    /// one). The private key is created sensitive and non-extractable and never leaves the token.
    pub fn generate(&self, role: &str, gun: Option<&Gun>) -> Result<HsmKey> {
        let label = key_label(role, gun)?;
        // The key ID is known only once the token has made the key: link the pair by a random
        // ID first, then set CKA_ID to the TUF key ID.
        let mut temp_id = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut temp_id);
        let session = self.inner.session();
        let public_template = public_attributes(&label, &temp_id);
        let private_template = private_attributes(&label, &temp_id);
        let (public, private) = session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public_template, &private_template)
            .map_err(token_op("C_GenerateKeyPair"))?;
        let linked = public_key(&session, public).and_then(|key| {
            let id = [Attribute::Id(key_id_bytes(&key)?)];
            for handle in [public, private] {
                session.update_attributes(handle, &id).map_err(token_op("C_SetAttributeValue"))?;
            }
            Ok(key)
        });
        let key = match linked {
            Ok(key) => key,
            Err(e) => {
                destroy(&session, &[private, public]);
                return Err(e);
            }
        };
        drop(session);
        tracing::info!(key_id = key.id(), role, token = self.label(), "generated key on PKCS#11 token");
        Ok(HsmKey::new(Arc::clone(&self.inner), key, role.to_owned(), gun.cloned()))
    }

    /// Copies a software ECDSA key onto the token (notary backs root keys up this way). The
    /// token copy is sensitive and non-extractable; the secret bytes handed to the module are
    /// zeroised afterwards. Fails with [`HsmError::AlreadyExists`] if the key is there already.
    pub fn import(&self, key: &PrivateKey, role: &str, gun: Option<&Gun>) -> Result<HsmKey> {
        let PrivateKey::Ecdsa(secret) = key else {
            return Err(HsmError::UnsupportedKey("only ECDSA P-256 keys can go on a token").into());
        };
        let label = key_label(role, gun)?;
        let public = key.public()?;
        let id = key_id_bytes(&public)?;
        let session = self.inner.session();
        if !objects(&session, None, &id)?.is_empty() {
            return Err(
                HsmError::AlreadyExists { key_id: public.id().to_owned(), token: self.label().to_owned() }.into()
            );
        }
        let mut public_template = public_attributes(&label, &id);
        let point = secret.verifying_key().to_encoded_point(false);
        let mut ec_point = vec![0x04, 0x41]; // DER OCTET STRING of the 65-byte point
        ec_point.extend_from_slice(point.as_bytes());
        public_template.extend([
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(CkKeyType::EC),
            Attribute::EcPoint(ec_point),
        ]);
        let mut private_template = private_attributes(&label, &id);
        private_template.extend([
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(CkKeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Value(key.secret_bytes().to_vec()),
        ]);
        let created = session.create_object(&private_template);
        for attribute in &mut private_template {
            if let Attribute::Value(secret) = attribute {
                secret.zeroize();
            }
        }
        let private = created.map_err(token_op("C_CreateObject"))?;
        if let Err(e) = session.create_object(&public_template) {
            destroy(&session, &[private]);
            return Err(token_op("C_CreateObject")(e));
        }
        drop(session);
        tracing::info!(key_id = public.id(), role, token = self.label(), "imported key to PKCS#11 token");
        Ok(HsmKey::new(Arc::clone(&self.inner), public, role.to_owned(), gun.cloned()))
    }

    /// The TUF keys on the token, by key ID. Objects that are not ours (no 32-byte `CKA_ID`, or
    /// a label that is not `role[:gun]`) are left out.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let session = self.inner.session();
        let template =
            [Attribute::Class(ObjectClass::PRIVATE_KEY), Attribute::KeyType(CkKeyType::EC), Attribute::Token(true)];
        let mut keys = Vec::new();
        for handle in session.find_objects(&template).map_err(token_op("C_FindObjects"))? {
            let (Some(key_id), Some((role, gun))) = id_and_label(&session, handle)? else { continue };
            keys.push(KeyInfo { key_id, role, gun });
        }
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    /// The key with TUF key ID `key_id` (the bare/canonical ID), ready to sign.
    pub fn find(&self, key_id: &str) -> Result<HsmKey> {
        let session = self.inner.session();
        let private = self.inner.private_key(&session, key_id)?;
        let inconsistent = |reason| HsmError::Inconsistent { key_id: key_id.to_owned(), reason };
        let (_, role_gun) = id_and_label(&session, private)?;
        let (role, gun) = role_gun.ok_or_else(|| inconsistent("the private key's label is not role[:gun]"))?;
        let id = ck_id(key_id).ok_or_else(|| self.inner.not_found(key_id))?;
        let public_handle = objects(&session, Some(ObjectClass::PUBLIC_KEY), &id)?
            .into_iter()
            .next()
            .ok_or_else(|| inconsistent("no public key object"))?;
        let public = public_key(&session, public_handle)?;
        if public.id() != hex::encode(&id) {
            return Err(inconsistent("the public key's TUF key ID is not its CKA_ID").into());
        }
        drop(session);
        Ok(HsmKey::new(Arc::clone(&self.inner), public, role, gun))
    }

    /// Deletes every object (private key, public key, certificate) of `key_id` from the token.
    pub fn remove(&self, key_id: &str) -> Result<()> {
        let id = ck_id(key_id).ok_or_else(|| self.inner.not_found(key_id))?;
        let session = self.inner.session();
        let handles = objects(&session, None, &id)?;
        if handles.is_empty() {
            return Err(self.inner.not_found(key_id));
        }
        for handle in handles {
            session.destroy_object(handle).map_err(token_op("C_DestroyObject"))?;
        }
        tracing::info!(key_id, token = self.label(), "removed key from PKCS#11 token");
        Ok(())
    }
}

/// `CKA_LABEL` of our key objects: the role, then `:` and the GUN for keys bound to one (the
/// `role:` and `gun:` headers of notary's key files). Roles never contain `:`.
fn key_label(role: &str, gun: Option<&Gun>) -> Result<String> {
    let ok = !role.is_empty()
        && role.len() <= 255
        && role.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'));
    if !ok {
        return Err(Error::BadName {
            what: "key role",
            value: role.to_owned(),
            reason: "must be 1..=255 [A-Za-z0-9_./-]",
        });
    }
    Ok(match gun {
        Some(gun) => format!("{role}:{gun}"),
        None => role.to_owned(),
    })
}

/// A key's role and GUN, as its label carries them.
type RoleGun = (String, Option<Gun>);

/// Inverse of [`key_label`]; `None` for labels we did not write.
fn parse_label(label: &[u8]) -> Option<RoleGun> {
    let label = std::str::from_utf8(label).ok()?;
    let (role, gun) = match label.split_once(':') {
        Some((role, gun)) => (role, Some(Gun::new(gun).ok()?)),
        None => (label, None),
    };
    key_label(role, gun.as_ref()).ok()?;
    Some((role.to_owned(), gun))
}

/// Hex key ID → `CKA_ID`; `None` if it cannot be one of ours.
fn ck_id(key_id: &str) -> Option<Vec<u8>> {
    hex::decode(key_id).ok().filter(|id| id.len() == KEY_ID_BYTES)
}

fn key_id_bytes(key: &Key) -> Result<Vec<u8>> {
    ck_id(key.id()).ok_or(Error::ApiMisuse("a key ID is not 32 bytes of hex"))
}

fn public_attributes(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(P256_EC_PARAMS.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

fn private_attributes(label: &str, id: &[u8]) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
    ]
}

/// Token objects with `CKA_ID` = `id` (of `class`, or of any class).
fn objects(session: &Session, class: Option<ObjectClass>, id: &[u8]) -> Result<Vec<ObjectHandle>> {
    let mut template = vec![Attribute::Token(true), Attribute::Id(id.to_vec())];
    template.extend(class.map(Attribute::Class));
    session.find_objects(&template).map_err(token_op("C_FindObjects"))
}

/// The object's `CKA_ID` as a hex key ID (if 32 bytes) and its parsed `CKA_LABEL`.
fn id_and_label(session: &Session, handle: ObjectHandle) -> Result<(Option<String>, Option<RoleGun>)> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::Id, AttributeType::Label])
        .map_err(token_op("C_GetAttributeValue"))?;
    let (mut id, mut label) = (None, None);
    for attribute in attributes {
        match attribute {
            Attribute::Id(bytes) if bytes.len() == KEY_ID_BYTES => id = Some(hex::encode(bytes)),
            Attribute::Label(bytes) => label = parse_label(&bytes),
            _ => {}
        }
    }
    Ok((id, label))
}

/// The `ecdsa` [`Key`] of a public key object (`CKA_EC_POINT`, DER-wrapped or raw).
fn public_key(session: &Session, handle: ObjectHandle) -> Result<Key> {
    let attributes =
        session.get_attributes(handle, &[AttributeType::EcPoint]).map_err(token_op("C_GetAttributeValue"))?;
    let point = attributes
        .iter()
        .find_map(|attribute| match attribute {
            Attribute::EcPoint(raw) => match raw.as_slice() {
                [0x04, 0x41, point @ ..] if point.len() == 65 => Some(point),
                [0x04, ..] if raw.len() == 65 => Some(raw.as_slice()),
                _ => None,
            },
            _ => None,
        })
        .ok_or_else(|| Error::BadKey("token public key has no P-256 CKA_EC_POINT".into()))?;
    let verifying = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map_err(|e| Error::BadKey(format!("token public key: {e}")))?;
    let der = verifying.to_public_key_der().map_err(|e| Error::Crypto(e.to_string()))?;
    Key::new(KeyType::Ecdsa, der.as_bytes().to_vec())
}

/// Best-effort clean-up after a failed create: the caller reports the first error.
fn destroy(session: &Session, handles: &[ObjectHandle]) {
    for handle in handles {
        if let Err(e) = session.destroy_object(*handle) {
            tracing::warn!(error = %e, "cannot remove half-made key object from PKCS#11 token");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn labels_round_trip_and_reject_foreign_ones() {
        let gun = Gun::new("127.0.0.1:5000/app").unwrap();
        let label = key_label("targets/releases", Some(&gun)).unwrap();
        assert_eq!(label, "targets/releases:127.0.0.1:5000/app");
        assert_eq!(parse_label(label.as_bytes()), Some(("targets/releases".to_owned(), Some(gun))));
        assert_eq!(parse_label(b"root"), Some(("root".to_owned(), None)));
        for foreign in [&b"my key"[..], b"", b"root:", b"\xff", b"root:a/../b"] {
            assert_eq!(parse_label(foreign), None, "{foreign:?}");
        }
        assert!(key_label("ro le", None).is_err());
    }
}
