//! Who signs a log's heads. The log always has its own key (`head-key.pem`); a [`HeadSigner`]
//! given to [`AuditLog::with_head_signer`](crate::AuditLog::with_head_signer) may supply
//! another, certified one — a node's TLS key and certificate — for as long as it has one.

use std::fmt;

use p256::ecdsa::SigningKey;
use p256::pkcs8::DecodePrivateKey as _;
use palisade_pki::NodeCertInfo;
use time::OffsetDateTime;

use crate::{AuditError, CertificateChain, Result};

/// Supplies the key a log signs its heads with when that is not the log's own key. The log asks
/// at every signing, so a key replaced in between (a renewed certificate) signs from the next
/// head on, and heads signed earlier keep the certificate they were signed with.
pub trait HeadSigner: Send + Sync + fmt::Debug {
    /// The key to sign the next head with and the certificate chain that vouches for it;
    /// `None` to sign with the log's own key (a node that is not in a swarm has no certificate).
    /// An error is logged and the head retried later, never signed with another key.
    fn certified_key(&self) -> Result<Option<CertifiedKey>>;
}

/// A P-256 signing key and the node certificate chain that certifies it.
///
/// Invariant: the chain's leaf is a node certificate (`CN` node ID, `OU` role, `O` cluster)
/// for `key`'s public key, checked by the constructor, so every head signed with it verifies
/// with the certificate it carries. `Debug` never shows the key.
pub struct CertifiedKey {
    key: SigningKey,
    chain: CertificateChain,
    leaf: NodeCertInfo,
}

impl CertifiedKey {
    /// A PKCS#8 PEM private key with its PEM certificate chain, leaf first (a node's `node.key`
    /// and `node.crt`). Refused when the leaf is not a node certificate for that key.
    pub fn from_pem(key_pem: &str, chain_pem: &str) -> Result<Self> {
        let refused = |reason: String| AuditError::CertifiedKey { reason };
        // Neither error can carry key material: p256 reports only that decoding failed.
        let key = SigningKey::from_pkcs8_pem(key_pem).map_err(|e| refused(format!("not a P-256 PKCS#8 key: {e}")))?;
        let chain = CertificateChain::from_pem(chain_pem).map_err(|e| refused(e.to_string()))?;
        let (leaf, public) = chain.signer().map_err(refused)?;
        if public != *key.verifying_key() {
            return Err(refused("the certificate is not for this key".into()));
        }
        Ok(Self { key, chain, leaf })
    }

    /// The node the certificate names.
    pub fn node(&self) -> &NodeCertInfo {
        &self.leaf
    }

    /// Whether the certificate is valid at `time` (a head signed outside its validity would
    /// never verify).
    pub(crate) fn is_valid_at(&self, time: OffsetDateTime) -> bool {
        (self.leaf.not_before..=self.leaf.not_after).contains(&time)
    }

    pub(crate) fn key(&self) -> &SigningKey {
        &self.key
    }

    pub(crate) fn chain(&self) -> &CertificateChain {
        &self.chain
    }
}

impl fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("node_id", &self.leaf.node_id)
            .field("serial", &self.leaf.serial_hex)
            .field("key", &"<redacted>")
            .finish()
    }
}
