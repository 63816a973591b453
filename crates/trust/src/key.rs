//! Public keys as TUF/notary encode them, their key IDs, and signature verification.
//!
//! Key object: `{"keytype":T,"keyval":{"private":null,"public":"<b64>"}}`. The key ID is
//! `hex(sha256(canonical JSON of that object))` with `"private":null` included, computed from
//! the decoded public bytes (notary re-marshals before hashing). Public encodings:
//! `ecdsa`/`rsa` = DER SubjectPublicKeyInfo, `ecdsa-x509`/`rsa-x509` = PEM certificate text,
//! `ed25519` = raw 32 bytes. The *canonical* key ID of an x509 key is the ID of the bare key
//! (`ecdsa`/`rsa` + DER SPKI of the certificate's public key).

use std::collections::BTreeMap;

use p256::pkcs8::DecodePublicKey as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::b64;
use crate::cjson::canonical_json;
use crate::error::{Error, Result};

/// Minimum RSA modulus size notary accepts.
pub const MIN_RSA_BITS: usize = 2048;

/// The `keytype` values notary uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KeyType {
    /// P-256 public key, DER SPKI.
    #[serde(rename = "ecdsa")]
    Ecdsa,
    /// PEM X.509 certificate with a P-256 key.
    #[serde(rename = "ecdsa-x509")]
    EcdsaX509,
    /// Raw 32-byte Ed25519 public key.
    #[serde(rename = "ed25519")]
    Ed25519,
    /// RSA public key, DER SPKI.
    #[serde(rename = "rsa")]
    Rsa,
    /// PEM X.509 certificate with an RSA key.
    #[serde(rename = "rsa-x509")]
    RsaX509,
}

impl KeyType {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ecdsa => "ecdsa",
            Self::EcdsaX509 => "ecdsa-x509",
            Self::Ed25519 => "ed25519",
            Self::Rsa => "rsa",
            Self::RsaX509 => "rsa-x509",
        }
    }

    /// `true` for the certificate key types.
    pub fn is_x509(self) -> bool {
        matches!(self, Self::EcdsaX509 | Self::RsaX509)
    }
}

/// What the server needs to know about an x509 key's certificate.
#[derive(Clone, Debug)]
pub struct CertInfo {
    /// Subject common name.
    pub common_name: Option<String>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// BasicConstraints CA flag.
    pub is_ca: bool,
    /// Signed with a SHA-1 based algorithm.
    pub sha1_signed: bool,
}

#[derive(Clone, Debug)]
enum Verifier {
    Ecdsa(p256::ecdsa::VerifyingKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(Box<rsa::RsaPublicKey>),
}

#[derive(Serialize, Deserialize)]
struct RawKeyVal {
    #[serde(with = "b64")]
    public: Vec<u8>,
    #[serde(default)]
    private: Option<serde_json::Value>,
}

#[derive(Serialize, Deserialize)]
struct RawKey {
    keytype: KeyType,
    keyval: RawKeyVal,
}

/// A parsed public key. Construction decodes the key material, so a `Key` always verifies
/// signatures of its kind; the key ID is computed once at construction.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawKey", into = "RawKey")]
pub struct Key {
    keytype: KeyType,
    public: Vec<u8>,
    /// Invariant: `hex(sha256(canonical {"keytype","keyval":{"private":null,"public"}}))`.
    id: String,
    /// Invariant: the ID of the bare (non-x509) form of this key.
    canonical_id: String,
    verifier: Verifier,
    cert: Option<CertInfo>,
}

impl From<Key> for RawKey {
    fn from(key: Key) -> Self {
        Self { keytype: key.keytype, keyval: RawKeyVal { public: key.public, private: None } }
    }
}

impl TryFrom<RawKey> for Key {
    type Error = Error;
    fn try_from(raw: RawKey) -> Result<Self> {
        Self::new(raw.keytype, raw.keyval.public)
    }
}

fn key_id_of(keytype: KeyType, public: &[u8]) -> Result<String> {
    let obj = serde_json::json!({
        "keytype": keytype.as_str(),
        "keyval": { "private": null, "public": b64::encode(public) },
    });
    Ok(hex::encode(Sha256::digest(canonical_json(&obj)?)))
}

impl Key {
    /// Decodes a key of `keytype` from its public bytes.
    pub fn new(keytype: KeyType, public: Vec<u8>) -> Result<Self> {
        let (verifier, spki, cert) = match keytype {
            KeyType::Ecdsa => (ecdsa_from_spki(&public)?, public.clone(), None),
            KeyType::Rsa => (rsa_from_spki(&public)?, public.clone(), None),
            KeyType::Ed25519 => {
                let bytes: [u8; 32] =
                    public.as_slice().try_into().map_err(|_| Error::BadKey("ed25519 key is not 32 bytes".into()))?;
                let vk = ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|e| Error::BadKey(e.to_string()))?;
                (Verifier::Ed25519(vk), public.clone(), None)
            }
            KeyType::EcdsaX509 | KeyType::RsaX509 => {
                let (spki, info) = parse_cert(&public)?;
                let verifier =
                    if keytype == KeyType::EcdsaX509 { ecdsa_from_spki(&spki)? } else { rsa_from_spki(&spki)? };
                (verifier, spki, Some(info))
            }
        };
        let bare = match keytype {
            KeyType::EcdsaX509 => KeyType::Ecdsa,
            KeyType::RsaX509 => KeyType::Rsa,
            other => other,
        };
        Ok(Self {
            id: key_id_of(keytype, &public)?,
            canonical_id: key_id_of(bare, &spki)?,
            keytype,
            public,
            verifier,
            cert,
        })
    }

    /// The key ID (as used in metadata).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The canonical key ID (what the notary CLI displays and names private key files by).
    pub fn canonical_id(&self) -> &str {
        &self.canonical_id
    }

    /// The key type.
    pub fn keytype(&self) -> KeyType {
        self.keytype
    }

    /// The public bytes as encoded in `keyval.public`.
    pub fn public(&self) -> &[u8] {
        &self.public
    }

    /// Certificate details for x509 keys.
    pub fn cert(&self) -> Option<&CertInfo> {
        self.cert.as_ref()
    }

    /// RSA modulus size in bits, for RSA keys.
    pub fn rsa_bits(&self) -> Option<usize> {
        use rsa::traits::PublicKeyParts as _;
        match &self.verifier {
            Verifier::Rsa(k) => Some(k.size() * 8),
            _ => None,
        }
    }

    /// Verifies `sig` over `msg` with signature `method` (`ecdsa`, `eddsa`, `rsapss`,
    /// `rsapkcs1v15`, `pycrypto-pkcs#1 pss`). A method that does not fit the key fails.
    pub fn verify(&self, method: &str, msg: &[u8], sig: &[u8]) -> Result<()> {
        use signature::Verifier as _;
        let bad = || Error::BadSignature { key_id: self.id.clone() };
        match (&self.verifier, method) {
            (Verifier::Ecdsa(vk), "ecdsa") => {
                let sig = p256::ecdsa::Signature::from_slice(sig).map_err(|_| bad())?;
                vk.verify(msg, &sig).map_err(|_| bad())
            }
            (Verifier::Ed25519(vk), "eddsa") => {
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| bad())?;
                vk.verify_strict(msg, &sig).map_err(|_| bad())
            }
            (Verifier::Rsa(pk), "rsapss" | "pycrypto-pkcs#1 pss") => {
                let digest = Sha256::digest(msg);
                pk.verify(rsa::Pss::new::<Sha256>(), &digest, sig).map_err(|_| bad())
            }
            (Verifier::Rsa(pk), "rsapkcs1v15") => {
                let digest = Sha256::digest(msg);
                pk.verify(rsa::Pkcs1v15Sign::new::<Sha256>(), &digest, sig).map_err(|_| bad())
            }
            _ => Err(bad()),
        }
    }
}

fn ecdsa_from_spki(der: &[u8]) -> Result<Verifier> {
    p256::ecdsa::VerifyingKey::from_public_key_der(der)
        .map(Verifier::Ecdsa)
        .map_err(|e| Error::BadKey(format!("not a P-256 public key: {e}")))
}

fn rsa_from_spki(der: &[u8]) -> Result<Verifier> {
    use rsa::traits::PublicKeyParts as _;
    let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| Error::BadKey(format!("not an RSA key: {e}")))?;
    if key.size() * 8 < MIN_RSA_BITS {
        return Err(Error::BadKey(format!("RSA key of {} bits is below {MIN_RSA_BITS}", key.size() * 8)));
    }
    Ok(Verifier::Rsa(Box::new(key)))
}

fn parse_cert(pem_bytes: &[u8]) -> Result<(Vec<u8>, CertInfo)> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem_bytes).map_err(|e| Error::BadKey(format!("bad PEM: {e}")))?;
    let cert = pem.parse_x509().map_err(|e| Error::BadKey(format!("bad certificate: {e}")))?;
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_owned);
    let is_ca = cert.basic_constraints().ok().flatten().is_some_and(|bc| bc.value.ca);
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    // sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1
    let sha1_signed = matches!(oid.as_str(), "1.2.840.113549.1.1.5" | "1.2.840.10045.4.1" | "1.2.840.10040.4.3");
    let info = CertInfo {
        common_name,
        not_before: cert.validity().not_before.to_datetime(),
        not_after: cert.validity().not_after.to_datetime(),
        is_ca,
        sha1_signed,
    };
    Ok((cert.public_key().raw.to_vec(), info))
}

/// Deserialises a `keys` map, recomputing each key's ID and rejecting a map key that differs.
pub(crate) fn deserialize_keys<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Key>, D::Error> {
    let raw = BTreeMap::<String, Key>::deserialize(d)?;
    for (id, key) in &raw {
        if id != key.id() {
            return Err(serde::de::Error::custom(format!("key ID {id} does not match computed ID {}", key.id())));
        }
    }
    Ok(raw)
}

/// Anything that makes TUF signatures with one key: a [`PrivateKey`] in memory, or a key that
/// never leaves a hardware token (PKCS#11). Invariant: `try_sign` output verifies under
/// `public_key()` with `signature_method()`.
pub trait TufSigner: Send + Sync {
    /// The bare public key (its ID is the canonical ID of any x509 form of it).
    fn public_key(&self) -> Result<Key>;
    /// The signature method name (`ecdsa`, `eddsa`, …).
    fn signature_method(&self) -> &'static str;
    /// Signs `msg` (the canonical bytes of a `signed` object).
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>>;
}

impl TufSigner for PrivateKey {
    fn public_key(&self) -> Result<Key> {
        self.public()
    }

    fn signature_method(&self) -> &'static str {
        self.method()
    }

    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        Ok(self.sign(msg))
    }
}

/// A private key the server or a test signs with (`ed25519` → method `eddsa`, P-256 → `ecdsa`).
pub enum PrivateKey {
    /// Ed25519 (what notary's local trust service uses).
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA P-256.
    Ecdsa(p256::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// A fresh Ed25519 key from the OS RNG.
    pub fn generate_ed25519() -> Self {
        Self::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// A fresh P-256 key from the OS RNG.
    pub fn generate_ecdsa() -> Self {
        Self::Ecdsa(p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng))
    }

    /// The secret bytes (32 bytes for both kinds), for sealing.
    pub fn secret_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        match self {
            Self::Ed25519(k) => zeroize::Zeroizing::new(k.to_bytes().to_vec()),
            Self::Ecdsa(k) => zeroize::Zeroizing::new(k.to_bytes().to_vec()),
        }
    }

    /// Rebuilds a key from [`Self::secret_bytes`].
    pub fn from_secret_bytes(keytype: KeyType, bytes: &[u8]) -> Result<Self> {
        match keytype {
            KeyType::Ed25519 => {
                let arr: [u8; 32] =
                    bytes.try_into().map_err(|_| Error::BadKey("ed25519 secret is not 32 bytes".into()))?;
                Ok(Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&arr)))
            }
            KeyType::Ecdsa => {
                p256::ecdsa::SigningKey::from_slice(bytes).map(Self::Ecdsa).map_err(|e| Error::BadKey(e.to_string()))
            }
            _ => Err(Error::ApiMisuse("only ed25519 and ecdsa private keys are supported")),
        }
    }

    /// The matching public key.
    pub fn public(&self) -> Result<Key> {
        use p256::pkcs8::EncodePublicKey as _;
        match self {
            Self::Ed25519(k) => Key::new(KeyType::Ed25519, k.verifying_key().to_bytes().to_vec()),
            Self::Ecdsa(k) => {
                let der = k.verifying_key().to_public_key_der().map_err(|e| Error::Crypto(e.to_string()))?;
                Key::new(KeyType::Ecdsa, der.as_bytes().to_vec())
            }
        }
    }

    /// The signature method name for this key.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "eddsa",
            Self::Ecdsa(_) => "ecdsa",
        }
    }

    /// Signs `msg` (the canonical bytes of a `signed` object).
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        use signature::Signer as _;
        match self {
            Self::Ed25519(k) => k.sign(msg).to_bytes().to_vec(),
            Self::Ecdsa(k) => {
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_bytes().to_vec()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sign_verify_roundtrip_and_ids() {
        for key in [PrivateKey::generate_ed25519(), PrivateKey::generate_ecdsa()] {
            let public = key.public().unwrap();
            let sig = key.sign(b"hello");
            public.verify(key.method(), b"hello", &sig).unwrap();
            assert!(public.verify(key.method(), b"hellO", &sig).is_err());
            assert!(public.verify("rsapss", b"hello", &sig).is_err());
            assert_eq!(public.id(), public.canonical_id());
            let json = serde_json::to_string(&public).unwrap();
            let back: Key = serde_json::from_str(&json).unwrap();
            assert_eq!(back.id(), public.id());
        }
    }

    #[test]
    fn x509_key_has_distinct_canonical_id() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "example.com/app");
        let cert = params.self_signed(&kp).unwrap();
        let key = Key::new(KeyType::EcdsaX509, cert.pem().into_bytes()).unwrap();
        let bare = Key::new(KeyType::Ecdsa, kp.public_key_der()).unwrap();
        assert_eq!(key.canonical_id(), bare.id());
        assert_ne!(key.id(), bare.id());
        assert_eq!(key.cert().unwrap().common_name.as_deref(), Some("example.com/app"));
    }
}
