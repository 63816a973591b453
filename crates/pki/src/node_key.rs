//! A node's own key pair. It is generated on the node and only its CSR ever leaves it.

use std::fmt;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// A node's ECDSA P-256 private key.
pub struct NodeKey(KeyPair);

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NodeKey(<redacted>)")
    }
}

impl NodeKey {
    /// A fresh key.
    pub fn generate() -> Result<Self> {
        Ok(Self(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?))
    }

    /// Loads a PKCS#8 PEM key.
    pub fn from_pem(pem: &str) -> Result<Self> {
        KeyPair::from_pem(pem).map(Self).map_err(|e| Error::InvalidKey(e.to_string()))
    }

    /// The key as PKCS#8 PEM (to be written with [`crate::write_private_file`]).
    pub fn to_pem(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.serialize_pem())
    }

    /// The key in the form rustls takes.
    pub fn to_rustls(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.0.serialize_der()))
    }

    /// A CSR for this key. Its subject is a placeholder: the CA decides the real one.
    pub fn csr_pem(&self) -> Result<String> {
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "palisade-node");
        params.distinguished_name = dn;
        Ok(params.serialize_request(&self.0)?.pem()?)
    }

    /// DER SubjectPublicKeyInfo of this key.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.0.public_key_der()
    }
}
