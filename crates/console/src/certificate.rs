//! What the settings page shows about the TLS certificate the registry serves.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the certificate the registry serves comes from.
#[derive(Clone, Default)]
pub enum TlsCertificate {
    /// None: the registry serves plain HTTP.
    #[default]
    None,
    /// A PEM chain file given at start (`--tls-cert`), read once.
    File(PathBuf),
    /// A certificate renewed while the process runs (`palisade up`'s service certificate from
    /// the cluster CA): read each time the page is shown, so it is the one being served.
    Live(Arc<palisade_pki::tls::ReloadableCert>),
}

/// The first certificate of a PEM chain: who it names and until when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// The subject's distinguished name.
    pub subject: String,
    /// The issuer's distinguished name.
    pub issuer: String,
    /// `notAfter` (RFC 3339).
    pub not_after: String,
    /// Subject alternative names (DNS names and IP addresses).
    pub names: Vec<String>,
}

impl CertificateInfo {
    /// Reads the first certificate of the PEM file at `path`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        Self::from_pem(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the first certificate of a PEM chain.
    pub fn from_pem(bytes: &[u8]) -> Result<Self, String> {
        let (_, pem) = x509_parser::pem::parse_x509_pem(bytes).map_err(|e| format!("not a PEM certificate: {e}"))?;
        Self::from_der(&pem.contents)
    }

    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let not_after = cert
            .validity()
            .not_after
            .to_datetime()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| cert.validity().not_after.to_string());
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                match name {
                    x509_parser::extensions::GeneralName::DNSName(d) => names.push((*d).to_owned()),
                    x509_parser::extensions::GeneralName::IPAddress(ip) => names.push(ip_text(ip)),
                    _ => {}
                }
            }
        }
        Ok(Self { subject: cert.subject().to_string(), issuer: cert.issuer().to_string(), not_after, names })
    }
}

fn ip_text(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => hex::encode(bytes),
    }
}
