//! [`Signed<T>`]: a role plus signatures, keeping the exact bytes it was read from.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Role;
use crate::cjson::canonical_json;
use crate::error::{Error, Result};
use crate::key::{Key, PrivateKey, TufSigner};

/// One signature (`{"keyid","method","sig"}`; wire order kept).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Signature {
    /// Signing key ID.
    pub keyid: String,
    /// `ecdsa`, `eddsa`, `rsapss`, …
    pub method: String,
    /// Signature bytes (base64 on the wire).
    #[serde(with = "crate::b64")]
    pub sig: Vec<u8>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
struct Envelope {
    signed: Value,
    signatures: Vec<Signature>,
}

/// Signed metadata. Invariant: `signed` was parsed from `signed_value`, which was parsed from
/// `bytes`; signatures are checked over `canonical_json(signed_value)`.
#[derive(Clone, Debug)]
pub struct Signed<T> {
    signed: T,
    signed_value: Value,
    signatures: Vec<Signature>,
    bytes: Vec<u8>,
}

impl<T: Role> Signed<T> {
    /// Parses metadata bytes, checking `_type`.
    pub fn from_bytes(role: &str, bytes: &[u8]) -> Result<Self> {
        let parse_err = |source| Error::MetadataParse { role: role.to_owned(), source };
        let env: Envelope = serde_json::from_slice(bytes).map_err(parse_err)?;
        let signed: T = serde_json::from_value(env.signed.clone()).map_err(parse_err)?;
        let type_ = env.signed.get("_type").and_then(Value::as_str).unwrap_or_default();
        if type_ != T::TYPE {
            return Err(Error::BadRole(format!("{role}: _type is {type_:?}, expected {:?}", T::TYPE)));
        }
        Ok(Self { signed, signed_value: env.signed, signatures: env.signatures, bytes: bytes.to_vec() })
    }

    /// Serialises `signed`, signs its canonical form with each key (named by its bare key ID),
    /// and builds the wire bytes `{"signed":…,"signatures":[…]}` (signed first, as notary does).
    pub fn sign(signed: T, keys: &[&PrivateKey]) -> Result<Self> {
        let publics = keys.iter().map(|k| k.public()).collect::<Result<Vec<_>>>()?;
        let pairs: Vec<(&Key, &dyn TufSigner)> =
            publics.iter().zip(keys.iter().map(|k| *k as &dyn TufSigner)).collect();
        Self::sign_as(signed, &pairs)
    }

    /// Like [`Self::sign`], but each signature names the given public key (e.g. the x509
    /// certificate key listed in root). Fails if a signer's key does not match its public key.
    pub fn sign_as(signed: T, keys: &[(&Key, &dyn TufSigner)]) -> Result<Self> {
        let signed_value = serde_json::to_value(&signed).map_err(|e| Error::CanonicalJson(std::io::Error::other(e)))?;
        let canonical = canonical_json(&signed_value)?;
        let mut signatures = Vec::with_capacity(keys.len());
        for (public, key) in keys {
            if key.public_key()?.id() != public.canonical_id() {
                return Err(Error::ApiMisuse("private key does not match the public key it signs as"));
            }
            signatures.push(Signature {
                keyid: public.id().to_owned(),
                method: key.signature_method().to_owned(),
                sig: key.try_sign(&canonical)?,
                extra: Map::new(),
            });
        }
        let sigs = serde_json::to_vec(&signatures).map_err(|e| Error::CanonicalJson(std::io::Error::other(e)))?;
        let mut bytes = Vec::with_capacity(canonical.len() + sigs.len() + 32);
        bytes.extend_from_slice(b"{\"signed\":");
        bytes.extend_from_slice(&canonical);
        bytes.extend_from_slice(b",\"signatures\":");
        bytes.extend_from_slice(&sigs);
        bytes.push(b'}');
        Ok(Self { signed, signed_value, signatures, bytes })
    }

    /// The parsed role.
    pub fn signed(&self) -> &T {
        &self.signed
    }

    /// The signatures.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }

    /// The exact bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes signatures are checked over.
    pub fn canonical_signed(&self) -> Result<Vec<u8>> {
        canonical_json(&self.signed_value)
    }
}
