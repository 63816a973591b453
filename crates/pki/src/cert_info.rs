//! Reading a node's identity back out of its certificate.

use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::{ClusterId, Error, NodeId, NodeRole, Result};

/// The identity a node certificate asserts. The cluster port derives every caller's authority
/// from this, after the TLS layer has verified the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeCertInfo {
    /// `CN`.
    pub node_id: NodeId,
    /// From `OU`.
    pub role: NodeRole,
    /// `O`.
    pub cluster_id: ClusterId,
    /// Serial number, lower-case hex.
    pub serial_hex: String,
    /// `CN` of the issuer.
    pub issuer_common_name: String,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// DER SubjectPublicKeyInfo: which key the certificate is for.
    pub subject_public_key_der: Vec<u8>,
}

impl NodeCertInfo {
    /// Parses a node certificate. Certificates without exactly the node subject fields are refused.
    pub fn from_der(der: &CertificateDer<'_>) -> Result<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| Error::InvalidCertificate(e.to_string()))?;
        let subject = cert.subject();
        let single = |attrs: Vec<&x509_parser::x509::AttributeTypeAndValue<'_>>, what: &str| -> Result<String> {
            match attrs.as_slice() {
                [one] => one.as_str().map(str::to_owned).map_err(|e| Error::NotANodeCertificate(format!("{what}: {e}"))),
                _ => Err(Error::NotANodeCertificate(format!("expected exactly one {what}"))),
            }
        };
        let cn = single(subject.iter_common_name().collect(), "CN")?;
        let ou = single(subject.iter_organizational_unit().collect(), "OU")?;
        let o = single(subject.iter_organization().collect(), "O")?;
        let issuer_common_name = cert
            .issuer()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            node_id: cn.parse().map_err(Error::NotANodeCertificate)?,
            role: NodeRole::from_organizational_unit(&ou).ok_or_else(|| Error::NotANodeCertificate(format!("unknown OU {ou:?}")))?,
            cluster_id: o.parse().map_err(Error::NotANodeCertificate)?,
            serial_hex: cert.raw_serial_as_string().replace(':', ""),
            issuer_common_name,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            subject_public_key_der: cert.tbs_certificate.subject_pki.raw.to_vec(),
        })
    }

    /// Parses the first certificate of a PEM text.
    pub fn from_pem(pem: &str) -> Result<Self> {
        let certs = crate::root_ca::parse_pem_certificates(pem)?;
        Self::from_der(&certs[0])
    }
}
