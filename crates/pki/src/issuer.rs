//! Node certificate issuance: the policy that turns a node's CSR into its identity.

use rand::{CryptoRng, RngCore};
use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    KeyUsagePurpose, SerialNumber,
};
use rustls_pki_types::CertificateDer;
use time::OffsetDateTime;

use crate::root_ca::ROOT_CA_COMMON_NAME;
use crate::{CertExpiry, Clock, ClusterId, Error, NodeId, NodeRole, Result, RootCa, CERT_BACKDATE};

/// Who a node certificate is for. The CA decides every field; nothing in the CSR's subject is
/// used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSubject {
    /// `CN`.
    pub node_id: NodeId,
    /// `OU`: `swarm-manager` or `swarm-worker`.
    pub role: NodeRole,
    /// `O`.
    pub cluster_id: ClusterId,
}

/// A freshly signed node certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    /// The certificate as PEM, followed by any intermediates it needs to reach the trust bundle.
    pub cert_pem: String,
    /// The certificate as DER.
    pub cert_der: CertificateDer<'static>,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Signs `csr_pem` (whose signature must verify: proof that the requester holds the key) as a
/// node certificate for `subject`, valid from [`CERT_BACKDATE`] before now until `expiry` after
/// now.
///
/// As swarmkit does, the subject alternative names are the role's `OU` and the node ID, plus
/// `swarm-ca` for managers (managers also serve certificate requests).
pub fn issue_node_certificate(
    ca: &RootCa,
    csr_pem: &str,
    subject: &NodeSubject,
    expiry: CertExpiry,
    clock: &dyn Clock,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<IssuedCertificate> {
    let (issuer, issuer_key, intermediates_pem) = ca.signer()?;
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| Error::InvalidCsr(e.to_string()))?;

    let ou = subject.role.organizational_unit();
    let mut sans = vec![ou.to_owned(), subject.node_id.to_string()];
    if subject.role == NodeRole::Manager {
        sans.push(ROOT_CA_COMMON_NAME.to_owned());
    }
    let mut params = CertificateParams::new(sans)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, subject.cluster_id.as_str());
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, subject.node_id.as_str());
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial(rng));
    let now = clock.now();
    params.not_before = now - CERT_BACKDATE;
    params.not_after = now + expiry.duration();
    let not_after = params.not_after;

    let cert = params.signed_by(&csr.public_key, issuer, issuer_key)?;
    Ok(IssuedCertificate { cert_pem: format!("{}{intermediates_pem}", cert.pem()), cert_der: cert.der().clone(), not_after })
}

/// A positive 127-bit serial number.
pub(crate) fn random_serial(rng: &mut (impl RngCore + CryptoRng)) -> SerialNumber {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FixedClock, NodeCertInfo, NodeKey, SystemClock};

    fn subject(role: NodeRole) -> NodeSubject {
        let mut rng = rand::thread_rng();
        NodeSubject { node_id: NodeId::generate(&mut rng), role, cluster_id: ClusterId::generate(&mut rng) }
    }

    #[test]
    fn issued_certificate_carries_the_policy_subject_and_lifetime() {
        let clock = FixedClock::new(OffsetDateTime::now_utc().replace_nanosecond(0).unwrap());
        let ca = RootCa::generate(&clock).unwrap();
        let key = NodeKey::generate().unwrap();
        let subject = subject(NodeRole::Worker);
        let issued = issue_node_certificate(&ca, &key.csr_pem().unwrap(), &subject, CertExpiry::default(), &clock, &mut rand::thread_rng()).unwrap();
        let info = NodeCertInfo::from_der(&issued.cert_der).unwrap();
        assert_eq!(info.node_id, subject.node_id);
        assert_eq!(info.role, NodeRole::Worker);
        assert_eq!(info.cluster_id, subject.cluster_id);
        assert_eq!(info.issuer_common_name, "swarm-ca");
        assert_eq!((info.not_after - clock.now()).whole_days(), 90);
        assert_eq!((clock.now() - info.not_before).whole_hours(), 1);
    }

    #[test]
    fn csr_with_broken_signature_is_refused() {
        let ca = RootCa::generate(&SystemClock).unwrap();
        let key = NodeKey::generate().unwrap();
        let pem = key.csr_pem().unwrap();
        // Flip one character inside the base64 body, near the end (the signature).
        let mut bytes = pem.into_bytes();
        let idx = bytes.len() - 40;
        bytes[idx] = if bytes[idx] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        let err = issue_node_certificate(&ca, &tampered, &subject(NodeRole::Manager), CertExpiry::default(), &SystemClock, &mut rand::thread_rng()).unwrap_err();
        assert!(matches!(err, Error::InvalidCsr(_)), "{err}");
    }

    #[test]
    fn a_root_without_its_key_cannot_issue() {
        let ca = RootCa::generate(&SystemClock).unwrap();
        let public = RootCa::from_pem(ca.certs_pem(), None).unwrap();
        let key = NodeKey::generate().unwrap();
        let err = issue_node_certificate(&public, &key.csr_pem().unwrap(), &subject(NodeRole::Worker), CertExpiry::default(), &SystemClock, &mut rand::thread_rng()).unwrap_err();
        assert!(matches!(err, Error::NoSigner));
    }
}
