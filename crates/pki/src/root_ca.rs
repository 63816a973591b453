//! The cluster's root of trust.

use std::fmt;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::policy::ROOT_CA_LIFETIME;
use crate::{Clock, Error, Result};

/// Common name of a generated root CA, as swarmkit sets it.
pub const ROOT_CA_COMMON_NAME: &str = "swarm-ca";

/// SHA-256 of the root CA bundle's PEM text: the first part of every join token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RootDigest(pub(crate) [u8; 32]);

impl RootDigest {
    /// The digest of a PEM bundle.
    pub fn of_pem(pem: &str) -> Self {
        Self(Sha256::digest(pem.as_bytes()).into())
    }

    /// Lower-case hex.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for RootDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Display for RootDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

/// The certificate that issues node certificates, and its key when this node holds it (an
/// external CA keeps its own).
struct Signer {
    /// The issuer as rcgen needs it (only its subject and key identifier are used), with its key.
    local: Option<(rcgen::Certificate, KeyPair)>,
    /// The signing certificate itself.
    cert_der: CertificateDer<'static>,
    /// Certificates appended to every issued one so that it chains to the trust bundle
    /// (during a root rotation: the new root cross-signed by the old one).
    intermediates_pem: String,
}

/// A cluster root CA: the trust bundle every node verifies peers against, and — on managers —
/// the signer that issues node certificates.
///
/// Outside a root rotation the signer is the (single) trust root. During a rotation from root
/// A to root B (swarmkit's scheme):
///
/// | phase     | trust bundle | signer | appended to issued certificates |
/// |-----------|--------------|--------|---------------------------------|
/// | before    | A            | A      | —                               |
/// | rotating  | A            | B      | B cross-signed by A             |
/// | after     | B            | B      | —                               |
///
/// so that every certificate issued in any phase verifies against the trust bundle of the
/// phase it is used in.
///
/// Invariants (enforced by the constructors): `certs_der` is non-empty and is exactly the
/// content of `certs_pem`; when `signer` is present its key matches `signer.cert_der`.
pub struct RootCa {
    certs_pem: String,
    certs_der: Vec<CertificateDer<'static>>,
    signer: Option<Signer>,
}

impl fmt::Debug for RootCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RootCa")
            .field("digest", &self.digest())
            .field("has_signing_key", &self.signing_key_pem().is_some())
            .finish()
    }
}

impl RootCa {
    /// Generates a new self-signed root: ECDSA P-256, `CN=swarm-ca`, valid for
    /// [`ROOT_CA_LIFETIME`] (backdated like node certificates, for clock drift).
    pub fn generate(clock: &dyn Clock) -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, ROOT_CA_COMMON_NAME);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let now = clock.now();
        params.not_before = now - crate::CERT_BACKDATE;
        params.not_after = now + ROOT_CA_LIFETIME;
        let cert = params.self_signed(&key)?;
        let pem = cert.pem();
        Self::from_pem(&pem, Some(&key.serialize_pem()))
    }

    /// Loads a root from its PEM bundle and, on managers, the PEM private key of the first
    /// certificate. A key that does not match the certificate is refused.
    pub fn from_pem(certs_pem: &str, key_pem: Option<&str>) -> Result<Self> {
        let certs_der = parse_pem_certificates(certs_pem)?;
        let signer = key_pem.map(|key_pem| Signer::new(certs_der[0].clone(), key_pem, String::new())).transpose()?;
        Ok(Self { certs_pem: certs_pem.to_owned(), certs_der, signer })
    }

    /// A root in rotation: trusted as `trust_pem`, issuing from `signer_cert_pem` (signing
    /// locally when `signer_key_pem` is given, else through an external CA) and appending
    /// `intermediates_pem` (the cross-signed new root) to what it issues.
    pub fn rotating(trust_pem: &str, signer_cert_pem: &str, signer_key_pem: Option<&str>, intermediates_pem: &str) -> Result<Self> {
        let certs_der = parse_pem_certificates(trust_pem)?;
        let signer_cert = parse_pem_certificates(signer_cert_pem)?.remove(0);
        parse_pem_certificates(intermediates_pem)?;
        let signer = match signer_key_pem {
            Some(key_pem) => Signer::new(signer_cert, key_pem, intermediates_pem.to_owned())?,
            None => Signer { local: None, cert_der: signer_cert, intermediates_pem: intermediates_pem.to_owned() },
        };
        Ok(Self { certs_pem: trust_pem.to_owned(), certs_der, signer: Some(signer) })
    }

    /// Signs `new_root_pem`'s subject and public key with this root's signer: the intermediate
    /// that lets certificates from the new root verify against this one during a rotation.
    pub fn cross_sign(&self, new_root_pem: &str, rng: &mut (impl rand::RngCore + rand::CryptoRng)) -> Result<String> {
        let (issuer, key, _) = self.signer()?;
        let new_root = parse_pem_certificates(new_root_pem)?.remove(0);
        let mut params = CertificateParams::from_ca_cert_der(&new_root)?;
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(crate::issuer::random_serial(rng));
        let public_key = rcgen::SubjectPublicKeyInfo::from_der(&spki_of(&new_root)?)?;
        Ok(params.signed_by(&public_key, issuer, key)?.pem())
    }

    /// Checks that this bundle can serve as a cluster root at `now`: every certificate is a CA
    /// and currently valid.
    pub fn check_usable(&self, now: OffsetDateTime) -> Result<()> {
        for der in &self.certs_der {
            let (_, cert) = parse_x509(der)?;
            if !cert.is_ca() {
                return Err(Error::InvalidCertificate(format!("{} is not a CA certificate", cert.subject())));
            }
            let (from, until) = (cert.validity().not_before.to_datetime(), cert.validity().not_after.to_datetime());
            if now < from || now > until {
                return Err(Error::InvalidCertificate(format!("CA certificate {} is not valid now (valid {from} to {until})", cert.subject())));
            }
        }
        Ok(())
    }

    /// The trust bundle as PEM.
    pub fn certs_pem(&self) -> &str {
        &self.certs_pem
    }

    /// The trust bundle as DER certificates.
    pub fn certs_der(&self) -> &[CertificateDer<'static>] {
        &self.certs_der
    }

    /// The digest join tokens commit to.
    pub fn digest(&self) -> RootDigest {
        RootDigest::of_pem(&self.certs_pem)
    }

    /// The signing key as PEM, for persisting in the (encrypted) cluster store.
    pub fn signing_key_pem(&self) -> Option<Zeroizing<String>> {
        self.signer.as_ref().and_then(|s| s.local.as_ref()).map(|(_, key)| Zeroizing::new(key.serialize_pem()))
    }

    /// The certificate that signs node certificates: the signer's, else the first trust root.
    fn issuing_cert(&self) -> &CertificateDer<'static> {
        self.signer.as_ref().map_or(&self.certs_der[0], |s| &s.cert_der)
    }

    /// The DER subject of the certificate that signs node certificates (Engine API
    /// `TLSInfo.CertIssuerSubject`).
    pub fn issuer_subject_der(&self) -> Result<Vec<u8>> {
        let (_, cert) = parse_x509(self.issuing_cert())?;
        Ok(cert.tbs_certificate.subject.as_raw().to_vec())
    }

    /// The DER SubjectPublicKeyInfo of that certificate (`TLSInfo.CertIssuerPublicKey`).
    pub fn issuer_public_key_der(&self) -> Result<Vec<u8>> {
        spki_of(self.issuing_cert())
    }

    /// Expiry of the first root certificate.
    pub fn not_after(&self) -> Result<OffsetDateTime> {
        let (_, cert) = parse_x509(&self.certs_der[0])?;
        Ok(cert.validity().not_after.to_datetime())
    }

    pub(crate) fn signer(&self) -> Result<(&rcgen::Certificate, &KeyPair, &str)> {
        let signer = self.signer.as_ref().ok_or(Error::NoSigner)?;
        let (issuer, key) = signer.local.as_ref().ok_or(Error::NoSigner)?;
        Ok((issuer, key, signer.intermediates_pem.as_str()))
    }
}

/// A CA private key from PEM: PKCS#8 (`PRIVATE KEY`), or SEC1 (`EC PRIVATE KEY`, what
/// `openssl ecparam -genkey` writes) for P-256, converted to PKCS#8.
fn parse_private_key_pem(key_pem: &str) -> Result<KeyPair> {
    if key_pem.contains("-----BEGIN EC PRIVATE KEY-----") {
        use p256::pkcs8::EncodePrivateKey as _;
        let key = p256::SecretKey::from_sec1_pem(key_pem)
            .map_err(|_| Error::InvalidKey("only P-256 EC keys are supported in SEC1 form".into()))?;
        let pkcs8 = key.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).map_err(|e| Error::InvalidKey(e.to_string()))?;
        return KeyPair::from_pem(&pkcs8).map_err(|e| Error::InvalidKey(e.to_string()));
    }
    KeyPair::from_pem(key_pem).map_err(|e| Error::InvalidKey(e.to_string()))
}

impl Signer {
    fn new(cert_der: CertificateDer<'static>, key_pem: &str, intermediates_pem: String) -> Result<Self> {
        let key = parse_private_key_pem(key_pem)?;
        if spki_of(&cert_der)? != key.public_key_der() {
            return Err(Error::InvalidKey("the private key does not match the CA certificate".into()));
        }
        let issuer = CertificateParams::from_ca_cert_der(&cert_der)?.self_signed(&key)?;
        Ok(Self { local: Some((issuer, key)), cert_der, intermediates_pem })
    }
}

fn parse_x509<'a>(der: &'a CertificateDer<'_>) -> Result<(&'a [u8], x509_parser::certificate::X509Certificate<'a>)> {
    x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| Error::InvalidCertificate(e.to_string()))
}

fn spki_of(der: &CertificateDer<'_>) -> Result<Vec<u8>> {
    let (_, cert) = parse_x509(der)?;
    Ok(cert.tbs_certificate.subject_pki.raw.to_vec())
}

/// Every `CERTIFICATE` block of a PEM text; anything else, or none at all, is an error.
pub fn parse_pem_certificates(pem_text: &str) -> Result<Vec<CertificateDer<'static>>> {
    let blocks = x509_parser::pem::Pem::iter_from_buffer(pem_text.as_bytes())
        .map(|block| block.map_err(|e| Error::InvalidCertificate(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    if blocks.is_empty() {
        return Err(Error::InvalidCertificate("no PEM certificate found".into()));
    }
    blocks
        .into_iter()
        .map(|block| {
            if block.label != "CERTIFICATE" {
                return Err(Error::InvalidCertificate(format!("unexpected PEM block {}", block.label)));
            }
            block.parse_x509().map_err(|e| Error::InvalidCertificate(e.to_string()))?;
            Ok(CertificateDer::from(block.contents))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SystemClock;

    #[test]
    fn generated_root_is_a_p256_ca_named_swarm_ca() {
        let ca = RootCa::generate(&SystemClock).unwrap();
        let (_, cert) = parse_x509(&ca.certs_der()[0]).unwrap();
        assert_eq!(cert.subject().to_string(), "CN=swarm-ca");
        assert!(cert.is_ca());
        assert_eq!(cert.signature_algorithm.algorithm, x509_parser::oid_registry::OID_SIG_ECDSA_WITH_SHA256);
        let years = (cert.validity().not_after.to_datetime() - cert.validity().not_before.to_datetime()).whole_days() / 365;
        assert_eq!(years, 20);
    }

    #[test]
    fn reload_keeps_digest_and_signer() {
        let ca = RootCa::generate(&SystemClock).unwrap();
        let key = ca.signing_key_pem().unwrap();
        let again = RootCa::from_pem(ca.certs_pem(), Some(&key)).unwrap();
        assert_eq!(again.digest(), ca.digest());
        assert!(again.signer().is_ok());
        let public = RootCa::from_pem(ca.certs_pem(), None).unwrap();
        assert!(matches!(public.signer(), Err(Error::NoSigner)));
    }

    #[test]
    fn mismatched_key_is_refused() {
        let a = RootCa::generate(&SystemClock).unwrap();
        let b = RootCa::generate(&SystemClock).unwrap();
        let err = RootCa::from_pem(a.certs_pem(), Some(&b.signing_key_pem().unwrap())).unwrap_err();
        assert!(matches!(err, Error::InvalidKey(_)), "{err}");
    }

    #[test]
    fn garbage_pem_is_refused() {
        assert!(RootCa::from_pem("not a certificate", None).is_err());
    }
}
