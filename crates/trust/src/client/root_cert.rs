//! The self-signed root certificate notary's client makes for a repository (notary
//! `cryptoservice/certificate.go`): P-256, CN = GUN, random 128-bit serial, 10 years,
//! KeyUsage digitalSignature+keyEncipherment, EKU codeSigning, BasicConstraints CA:FALSE.

use pkcs8::EncodePrivateKey as _;
use rand::RngCore as _;
use time::OffsetDateTime;

use super::error::{ClientError, ClientResult};
use crate::key::{Key, KeyType, PrivateKey};
use crate::names::Gun;
use crate::schema::ROOT_EXPIRY;

fn crypto(e: impl std::fmt::Display) -> ClientError {
    ClientError::Tuf(crate::Error::Crypto(format!("root certificate: {e}")))
}

/// An `ecdsa-x509` key: a certificate for `key` with CN = `gun`, valid from `now` for the
/// root expiry period.
pub fn root_certificate(gun: &Gun, key: &PrivateKey, now: OffsetDateTime) -> ClientResult<Key> {
    let PrivateKey::Ecdsa(sk) = key else {
        return Err(ClientError::Invalid("root keys must be ECDSA P-256".into()));
    };
    let der = sk.to_pkcs8_der().map_err(crypto)?;
    let pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes());
    let kp = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8, &rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, gun.as_str());
    params.is_ca = rcgen::IsCa::ExplicitNoCa;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature, rcgen::KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    serial[0] &= 0x7f;
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = now;
    params.not_after = now + ROOT_EXPIRY;
    let cert = params.self_signed(&kp).map_err(crypto)?;
    Ok(Key::new(KeyType::EcdsaX509, cert.pem().into_bytes())?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn root_cert_is_a_leaf_for_the_gun() {
        let gun = Gun::new("127.0.0.1:5000/app").unwrap();
        let key = PrivateKey::generate_ecdsa();
        let now = OffsetDateTime::now_utc();
        let cert = root_certificate(&gun, &key, now).unwrap();
        assert_eq!(cert.canonical_id(), key.public().unwrap().id());
        let info = cert.cert().unwrap();
        assert_eq!(info.common_name.as_deref(), Some(gun.as_str()));
        assert!(!info.is_ca);
    }
}
