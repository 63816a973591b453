//! Node certificate issuance: the policy that turns a node's CSR into its identity.

use rand::{CryptoRng, RngCore};
use std::net::IpAddr;

use rcgen::{
    CertificateParams, CertificateSigningRequestParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    KeyUsagePurpose, SanType, SerialNumber,
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
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

/// Signs `csr_pem` (whose signature must verify: proof that the requester holds the key) as a
/// node certificate for `subject` (see [`sign_csr`] for the shared policy).
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
    let ou = subject.role.organizational_unit();
    let mut sans = vec![SanType::DnsName(ou.try_into()?), SanType::DnsName(subject.node_id.as_str().try_into()?)];
    if subject.role == NodeRole::Manager {
        sans.push(SanType::DnsName(ROOT_CA_COMMON_NAME.try_into()?));
    }
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, subject.cluster_id.as_str());
    dn.push(DnType::OrganizationalUnitName, ou);
    dn.push(DnType::CommonName, subject.node_id.as_str());
    let usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    sign_csr(ca, csr_pem, dn, sans, usages, expiry, clock, rng)
}

/// Who a service certificate is for: a TLS server the node runs for clients outside the cluster
/// (the registry and trust server of `palisade up`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSubject {
    /// `CN`, e.g. `palisade-registry`.
    pub common_name: String,
    /// `O`: the cluster the service belongs to.
    pub cluster_id: ClusterId,
    /// DNS names clients use.
    pub dns_names: Vec<String>,
    /// IP addresses clients use.
    pub ip_addresses: Vec<IpAddr>,
}

/// OU of service certificates: never a swarm role, so a service certificate can never pass
/// for a node on the cluster port.
pub const SERVICE_ORGANIZATIONAL_UNIT: &str = "palisade-service";

/// Signs `csr_pem` as a server-only certificate (`serverAuth`, no `clientAuth`) for `subject`,
/// valid as node certificates are.
pub fn issue_service_certificate(
    ca: &RootCa,
    csr_pem: &str,
    subject: &ServiceSubject,
    expiry: CertExpiry,
    clock: &dyn Clock,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<IssuedCertificate> {
    if subject.dns_names.is_empty() && subject.ip_addresses.is_empty() {
        return Err(Error::InvalidCsr("a service certificate needs at least one DNS name or IP address".into()));
    }
    let mut sans = Vec::with_capacity(subject.dns_names.len() + subject.ip_addresses.len());
    for name in &subject.dns_names {
        sans.push(SanType::DnsName(name.as_str().try_into()?));
    }
    sans.extend(subject.ip_addresses.iter().copied().map(SanType::IpAddress));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, subject.cluster_id.as_str());
    dn.push(DnType::OrganizationalUnitName, SERVICE_ORGANIZATIONAL_UNIT);
    dn.push(DnType::CommonName, subject.common_name.as_str());
    sign_csr(ca, csr_pem, dn, sans, vec![ExtendedKeyUsagePurpose::ServerAuth], expiry, clock, rng)
}

/// The policy every certificate this CA issues shares: the CSR's signature must verify (proof
/// of possession), only the CA-chosen subject and names are used, a random serial, validity
/// from [`CERT_BACKDATE`] before now until `expiry` after now, chain appended.
#[allow(clippy::too_many_arguments)]
fn sign_csr(
    ca: &RootCa,
    csr_pem: &str,
    dn: DistinguishedName,
    sans: Vec<SanType>,
    extended_key_usages: Vec<ExtendedKeyUsagePurpose>,
    expiry: CertExpiry,
    clock: &dyn Clock,
    rng: &mut (impl RngCore + CryptoRng),
) -> Result<IssuedCertificate> {
    let (issuer, issuer_key, intermediates_pem) = ca.signer()?;
    let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| Error::InvalidCsr(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = extended_key_usages;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial(rng));
    let now = clock.now();
    params.not_before = now - CERT_BACKDATE;
    params.not_after = now + expiry.duration();
    let (not_before, not_after) = (params.not_before, params.not_after);

    let cert = params.signed_by(&csr.public_key, issuer, issuer_key)?;
    let cert_pem = format!("{}{intermediates_pem}", cert.pem());
    Ok(IssuedCertificate { cert_pem, cert_der: cert.der().clone(), not_before, not_after })
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
    fn service_certificates_are_server_only_and_name_their_addresses() {
        let ca = RootCa::generate(&SystemClock).unwrap();
        let key = NodeKey::generate().unwrap();
        let subject = ServiceSubject {
            common_name: "palisade-registry".into(),
            cluster_id: ClusterId::generate(&mut rand::thread_rng()),
            dns_names: vec!["localhost".into()],
            ip_addresses: vec![IpAddr::from([127, 0, 0, 1])],
        };
        let issued = issue_service_certificate(&ca, &key.csr_pem().unwrap(), &subject, CertExpiry::default(), &SystemClock, &mut rand::thread_rng()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth, "a service certificate must not authenticate as a node");
        let sans = cert.subject_alternative_name().unwrap().unwrap().value;
        assert_eq!(sans.general_names.len(), 2);
        assert!(NodeCertInfo::from_der(&issued.cert_der).is_err(), "not a node certificate");
        let nameless = ServiceSubject { dns_names: vec![], ip_addresses: vec![], ..subject };
        assert!(issue_service_certificate(&ca, &key.csr_pem().unwrap(), &nameless, CertExpiry::default(), &SystemClock, &mut rand::thread_rng()).is_err());
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
