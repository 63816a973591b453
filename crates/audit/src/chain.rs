//! The certificate chain a head signed by a node carries: who signed it, checkable long after
//! that node's certificate was renewed.

use std::fmt;

use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use p256::pkcs8::DecodePublicKey as _;
use palisade_pki::NodeCertInfo;
use rustls_pki_types::CertificateDer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A node's certificate chain as a head carries it: the leaf, whose key signed the head, then
/// the intermediates the node presents with it (during a root rotation, the new root
/// cross-signed by the old one), exactly as the node's certificate file holds them.
///
/// In a head line it is a JSON array of the base64 (standard alphabet, padded) of each DER
/// certificate, leaf first — the encoding of JWS's `x5c` (RFC 7515, 4.1.6).
///
/// Invariant: at least one certificate (enforced by every constructor and by deserializing).
#[derive(Clone, PartialEq, Eq)]
pub struct CertificateChain(Vec<CertificateDer<'static>>);

impl CertificateChain {
    /// The chain `certificates` (leaf first); `None` when it is empty.
    pub fn new(certificates: Vec<CertificateDer<'static>>) -> Option<Self> {
        (!certificates.is_empty()).then_some(Self(certificates))
    }

    /// Every certificate of a PEM text, leaf first (a node's `node.crt`).
    pub fn from_pem(pem: &str) -> Result<Self, palisade_pki::Error> {
        // parse_pem_certificates refuses a text without certificates.
        palisade_pki::parse_pem_certificates(pem).map(Self)
    }

    /// The certificates, leaf first; never empty.
    pub fn certificates(&self) -> &[CertificateDer<'static>] {
        &self.0
    }

    /// The node the leaf certifies and its P-256 public key, or why the leaf is not a node
    /// certificate for such a key.
    pub(crate) fn signer(&self) -> Result<(NodeCertInfo, VerifyingKey), String> {
        let leaf = self.0.first().ok_or("no certificate")?;
        let info = NodeCertInfo::from_der(leaf).map_err(|e| e.to_string())?;
        let key = VerifyingKey::from_public_key_der(&info.subject_public_key_der)
            .map_err(|_| "the certificate's key is not an ECDSA P-256 key".to_owned())?;
        Ok((info, key))
    }
}

impl fmt::Debug for CertificateChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateChain").field("certificates", &self.0.len()).finish()
    }
}

impl Serialize for CertificateChain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|der| base64::engine::general_purpose::STANDARD.encode(der)))
    }
}

impl<'de> Deserialize<'de> for CertificateChain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let encoded = Vec::<String>::deserialize(deserializer)?;
        let certificates = encoded
            .iter()
            .map(|text| base64::engine::general_purpose::STANDARD.decode(text).map(CertificateDer::from))
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)?;
        Self::new(certificates).ok_or_else(|| serde::de::Error::custom("a certificate chain needs at least one certificate"))
    }
}
