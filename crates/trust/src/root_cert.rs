//! Notary's self-signed root certificate (`ecdsa-x509` root keys), made with any ECDSA
//! [`TufSigner`] — a software [`crate::PrivateKey`] or a key on a PKCS#11 token.
//!
//! Notary's certificate (`trustmanager.NewCertificate`, see `reference/notary.md`): self-signed
//! P-256, subject CN = GUN, random positive 128-bit serial, valid from now for 10 years, KeyUsage
//! (critical) digitalSignature + keyEncipherment, ExtendedKeyUsage codeSigning, BasicConstraints
//! (critical) CA:FALSE, signed ecdsa-with-SHA256.

use std::sync::{Arc, Mutex, PoisonError};

use p256::pkcs8::DecodePublicKey as _;
use palisade_pki::Clock;
use rand::RngCore as _;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};

use crate::error::{Error, Result};
use crate::key::{Key, KeyType, TufSigner};
use crate::names::Gun;
use crate::schema::ROOT_EXPIRY;

/// Makes notary's self-signed root certificate for `gun`, signed by `signer` (which must be an
/// ECDSA P-256 signer), valid from `clock.now()` for [`ROOT_EXPIRY`], and returns it as the
/// `ecdsa-x509` [`Key`] to list in root.json. Its [`Key::canonical_id`] is `signer`'s key ID, so
/// `Signed::sign_as(meta, &[(&cert_key, &signer)])` signs root metadata with it.
pub fn self_signed_root_certificate(signer: Arc<dyn TufSigner>, gun: &Gun, clock: &dyn Clock) -> Result<Key> {
    if signer.signature_method() != "ecdsa" {
        return Err(Error::ApiMisuse("root certificates need an ECDSA P-256 signer"));
    }
    let public = signer.public_key()?;
    let point = p256::ecdsa::VerifyingKey::from_public_key_der(public.public())
        .map_err(|e| Error::BadKey(format!("not a P-256 public key: {e}")))?
        .to_encoded_point(false)
        .as_bytes()
        .to_vec();
    let failure = Arc::new(Mutex::new(None));
    let remote = SignerKeyPair { signer, point, failure: Arc::clone(&failure) };
    let key_pair = KeyPair::from_remote(Box::new(remote)).map_err(|e| Error::Crypto(e.to_string()))?;

    let now = clock.now();
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f; // positive, as Go's rand.Int(2^128) serials are
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, gun.as_str());
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.not_before = now;
    params.not_after = now + ROOT_EXPIRY;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];

    let cert = params.self_signed(&key_pair).map_err(|e| {
        // The signer's own error says more (wrong PIN, key removed) than rcgen's "remote key error".
        let taken = failure.lock().unwrap_or_else(PoisonError::into_inner).take();
        taken.unwrap_or_else(|| Error::Crypto(format!("cannot make root certificate: {e}")))
    })?;
    Key::new(KeyType::EcdsaX509, cert.pem().into_bytes())
}

/// rcgen's view of a [`TufSigner`]: TUF ECDSA signatures are raw r||s, X.509 wants DER.
struct SignerKeyPair {
    signer: Arc<dyn TufSigner>,
    /// Uncompressed SEC1 point (what rcgen calls the raw public key).
    point: Vec<u8>,
    /// The signer's error, handed back past rcgen's unit-like `RemoteKeyError`.
    failure: Arc<Mutex<Option<Error>>>,
}

impl rcgen::RemoteKeyPair for SignerKeyPair {
    fn public_key(&self) -> &[u8] {
        &self.point
    }

    fn sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, rcgen::Error> {
        let raw = self.signer.try_sign(msg).map_err(|e| {
            *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
            rcgen::Error::RemoteKeyError
        })?;
        let sig = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| rcgen::Error::RemoteKeyError)?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ECDSA_P256_SHA256
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use palisade_pki::FixedClock;
    use time::macros::datetime;

    use super::*;
    use crate::key::PrivateKey;

    #[test]
    fn software_key_makes_notary_root_certificate() {
        let key = Arc::new(PrivateKey::generate_ecdsa());
        let clock = FixedClock::new(datetime!(2026-01-02 03:04:05 UTC));
        let gun = Gun::new("example.com/app").unwrap();
        let cert = self_signed_root_certificate(key.clone(), &gun, &clock).unwrap();
        assert_eq!(cert.keytype(), KeyType::EcdsaX509);
        assert_eq!(cert.canonical_id(), key.public().unwrap().id());
        let info = cert.cert().unwrap();
        assert_eq!(info.common_name.as_deref(), Some("example.com/app"));
        assert!(!info.is_ca && !info.sha1_signed);
        assert_eq!(info.not_before, clock.now());
        assert_eq!(info.not_after - info.not_before, ROOT_EXPIRY);
    }

    #[test]
    fn ed25519_signer_is_refused() {
        let key = Arc::new(PrivateKey::generate_ed25519());
        let gun = Gun::new("example.com/app").unwrap();
        let err = self_signed_root_certificate(key, &gun, &palisade_pki::SystemClock).unwrap_err();
        assert!(matches!(err, Error::ApiMisuse(_)), "{err}");
    }
}
