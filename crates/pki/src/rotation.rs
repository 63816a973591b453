//! The cluster's CA material and the root rotation state machine (swarmkit's `RootCA` in the
//! cluster object plus its `RootRotation`).
//!
//! ```text
//!             desired_root() = Some(new)                 try_finish_rotation(0)
//!   Stable(A) ───── begin_rotation(new) ─────▶ Rotating(A → B) ───────────────▶ Stable(B)
//!       ▲                                         │  begin_rotation(C): restart towards C,
//!       └── desired_root() = None: nothing to do   └─ still cross-signed by A (what nodes trust)
//! ```
//!
//! While rotating, the trust bundle stays A and certificates are issued by B with "B
//! cross-signed by A" appended, so they verify against A and, once the bundle moves, against B.
//! The rotation ends when no node still holds a certificate from another issuer than B.
//!
//! Everything here is pure: no I/O, no API types. The cluster store persists [`CaState`]
//! (sealed: it holds private keys).

use std::fmt;

use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::{Clock, Error, Result, RootCa};

/// The cluster's CA material, as the cluster store persists it (sealed).
///
/// The serialized field names are those of the cluster record it replaces
/// (`root_ca_cert_pem`, `root_ca_key_pem`, `rotation`), so it can be `#[serde(flatten)]`ed into
/// that record and read what older versions stored. `Debug` never shows a key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaState {
    /// The trust bundle every node verifies against.
    #[serde(rename = "root_ca_cert_pem")]
    root_cert_pem: String,
    /// Its signing key (PEM); empty when an external CA holds it.
    #[serde(rename = "root_ca_key_pem", with = "secret_pem")]
    root_key_pem: Zeroizing<String>,
    /// A rotation under way.
    #[serde(default)]
    rotation: Option<RootRotation>,
}

/// The root being rotated to. While it exists, certificates are issued by the new root with
/// `cross_signed_pem` appended.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RootRotation {
    new_cert_pem: String,
    /// Empty when an external CA holds the new root's key.
    #[serde(with = "secret_pem")]
    new_key_pem: Zeroizing<String>,
    /// The new root's subject and key, signed by the old root.
    cross_signed_pem: String,
}

/// What an operator asked of the CA: `docker swarm ca` / `swarm update`'s `CAConfig`.
#[derive(Clone, Copy, Default)]
pub struct CaRequest<'a> {
    /// `SigningCACert`: the root to rotate to (empty: none given).
    pub signing_cert_pem: &'a str,
    /// `SigningCAKey`: its key (empty: held by an external CA).
    pub signing_key_pem: &'a str,
    /// `ForceRotate` differs from the stored spec's (`docker swarm ca --rotate`).
    pub force_rotate_changed: bool,
    /// The certificate of the configured (cfssl) external CA, if there is one.
    pub external_ca_cert_pem: Option<&'a str>,
}

impl fmt::Debug for CaRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaRequest")
            .field("signing_cert_pem", &self.signing_cert_pem)
            .field("signing_key_pem", &if self.signing_key_pem.is_empty() { "" } else { "<redacted>" })
            .field("force_rotate_changed", &self.force_rotate_changed)
            .field("external_ca_cert_pem", &self.external_ca_cert_pem)
            .finish()
    }
}

/// A root to rotate to, validated: a usable CA certificate and, unless an external CA holds it,
/// its matching key. Only [`CaState::desired_root`] makes one.
#[derive(Clone)]
pub struct NewRoot {
    cert_pem: String,
    /// Empty when an external CA holds the key.
    key_pem: Zeroizing<String>,
}

impl NewRoot {
    /// The new root's certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Whether its key is held here (else by an external CA).
    pub fn has_local_key(&self) -> bool {
        !self.key_pem.is_empty()
    }
}

impl fmt::Debug for NewRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRoot").field("cert_pem", &self.cert_pem).field("has_local_key", &self.has_local_key()).finish()
    }
}

/// Who issues certificates: the DER subject and SubjectPublicKeyInfo of the signing certificate
/// (Engine API `TLSInfo.CertIssuerSubject` / `CertIssuerPublicKey`, before base64). Recorded
/// per node, it tells which root each node has moved to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IssuerInfo {
    /// DER `Name` of the issuing certificate's subject.
    pub subject_der: Vec<u8>,
    /// DER `SubjectPublicKeyInfo` of the issuing certificate.
    pub public_key_der: Vec<u8>,
}

impl IssuerInfo {
    /// Who issues certificates from `root` (its signer, else its first trust root).
    pub fn of(root: &RootCa) -> Result<Self> {
        Ok(Self { subject_der: root.issuer_subject_der()?, public_key_der: root.issuer_public_key_der()? })
    }
}

impl fmt::Debug for CaState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaState")
            .field("trust_digest", &crate::RootDigest::of_pem(&self.root_cert_pem))
            .field("root_key", &redacted(&self.root_key_pem))
            .field(
                "rotation",
                &self.rotation.as_ref().map(|r| {
                    format!("to {} (key {})", crate::RootDigest::of_pem(&r.new_cert_pem), redacted(&r.new_key_pem))
                }),
            )
            .finish()
    }
}

fn redacted(key_pem: &str) -> &'static str {
    if key_pem.is_empty() {
        "external"
    } else {
        "<redacted>"
    }
}

/// An empty key field means the key is held elsewhere (an external CA).
fn non_empty(key_pem: &str) -> Option<&str> {
    (!key_pem.is_empty()).then_some(key_pem)
}

impl CaState {
    /// A fresh cluster root: generated, its key held here.
    pub fn generate(clock: &dyn Clock) -> Result<Self> {
        let root = RootCa::generate(clock)?;
        let key = root.signing_key_pem().ok_or(Error::NoSigner)?;
        Ok(Self { root_cert_pem: root.certs_pem().to_owned(), root_key_pem: key, rotation: None })
    }

    /// A cluster rooted at an external CA's certificate, whose key stays with that CA. The
    /// certificate must be usable now ([`RootCa::check_usable`]); else
    /// [`Error::InvalidExternalCaCertificate`].
    pub fn external(cert_pem: &str, clock: &dyn Clock) -> Result<Self> {
        let invalid = |e: Error| Error::InvalidExternalCaCertificate(Box::new(e));
        let root = RootCa::from_pem(cert_pem, None).map_err(invalid)?;
        root.check_usable(clock.now()).map_err(invalid)?;
        Ok(Self { root_cert_pem: cert_pem.to_owned(), root_key_pem: Zeroizing::new(String::new()), rotation: None })
    }

    /// The signer for this state: the root, or — during a rotation — the new root with the
    /// cross-signed intermediate, trusted as the old root. Without a local key (external CA)
    /// it cannot issue, but still names the trust bundle and the issuer.
    pub fn signer(&self) -> Result<RootCa> {
        match &self.rotation {
            None => RootCa::from_pem(&self.root_cert_pem, non_empty(&self.root_key_pem)),
            Some(r) => RootCa::rotating(&self.root_cert_pem, &r.new_cert_pem, non_empty(&r.new_key_pem), &r.cross_signed_pem),
        }
    }

    /// The trust bundle every node verifies against (the old root during a rotation).
    pub fn trust_pem(&self) -> &str {
        &self.root_cert_pem
    }

    /// The certificate that issues node certificates: the new root during a rotation, else the
    /// root. What an external CA must be configured with to sign for this cluster.
    pub fn signing_cert_pem(&self) -> &str {
        self.rotation.as_ref().map_or(&self.root_cert_pem, |r| &r.new_cert_pem)
    }

    /// What follows every issued certificate so it chains to the trust bundle: the cross-signed
    /// new root during a rotation, else nothing.
    pub fn intermediates_pem(&self) -> &str {
        self.rotation.as_ref().map_or("", |r| &r.cross_signed_pem)
    }

    /// Whether a root rotation is under way (`ClusterInfo.RootRotationInProgress`).
    pub fn is_rotating(&self) -> bool {
        self.rotation.is_some()
    }

    /// Whether the signing certificate's key is held here (else an external CA signs).
    pub fn has_local_signing_key(&self) -> bool {
        !self.rotation.as_ref().map_or(&self.root_key_pem, |r| &r.new_key_pem).is_empty()
    }

    /// Whether an external CA with certificate `external_ca_cert_pem` is the one that signs
    /// for this cluster now (its certificate is the signing certificate, whitespace aside).
    pub fn is_signed_by_external(&self, external_ca_cert_pem: &str) -> bool {
        external_ca_cert_pem.trim() == self.signing_cert_pem().trim()
    }

    /// The root an operator's request asks to rotate to, validated: `None` when the root stays.
    ///
    /// * `SigningCACert` + `SigningCAKey`: the operator's root (a usable CA, key matching).
    /// * `SigningCACert` alone: the key stays with an external CA, which must be configured
    ///   with that very certificate.
    /// * `SigningCAKey` alone: refused.
    /// * neither, `ForceRotate` changed: a generated root.
    ///
    /// A certificate equal to the current trust root (whitespace aside) is no change.
    pub fn desired_root(&self, request: &CaRequest<'_>, clock: &dyn Clock) -> Result<Option<NewRoot>> {
        let invalid_cert = |e: Error| Error::InvalidCaCertificate(Box::new(e));
        if !request.signing_cert_pem.is_empty() {
            if request.signing_key_pem.is_empty() {
                let external = request
                    .external_ca_cert_pem
                    .filter(|cert| cert.trim() == request.signing_cert_pem.trim())
                    .ok_or(Error::CaCertificateNeedsExternalCa)?;
                let root = RootCa::from_pem(external, None).map_err(invalid_cert)?;
                root.check_usable(clock.now()).map_err(invalid_cert)?;
                if root.certs_pem().trim() == self.root_cert_pem.trim() {
                    return Ok(None);
                }
                return Ok(Some(NewRoot { cert_pem: request.signing_cert_pem.to_owned(), key_pem: Zeroizing::new(String::new()) }));
            }
            let root = RootCa::from_pem(request.signing_cert_pem, Some(request.signing_key_pem))
                .map_err(|e| Error::InvalidCaCertificateOrKey(Box::new(e)))?;
            root.check_usable(clock.now()).map_err(invalid_cert)?;
            if root.certs_pem().trim() == self.root_cert_pem.trim() {
                return Ok(None);
            }
            let key_pem = root.signing_key_pem().ok_or(Error::NoSigner)?;
            return Ok(Some(NewRoot { cert_pem: request.signing_cert_pem.to_owned(), key_pem }));
        }
        if !request.signing_key_pem.is_empty() {
            return Err(Error::CaKeyWithoutCertificate);
        }
        if request.force_rotate_changed {
            let root = RootCa::generate(clock)?;
            let key_pem = root.signing_key_pem().ok_or(Error::NoSigner)?;
            return Ok(Some(NewRoot { cert_pem: root.certs_pem().to_owned(), key_pem }));
        }
        Ok(None)
    }

    /// Starts (or restarts) a rotation to `new`: cross-signs it with the key of the root every
    /// node trusts now — never with an in-progress rotation's new key — and returns the signer
    /// to use from now on. Refused ([`Error::RotationFromExternalRoot`]) when an external CA
    /// holds that key. On error the state is unchanged.
    pub fn begin_rotation(&mut self, new: NewRoot, rng: &mut (impl RngCore + CryptoRng)) -> Result<RootCa> {
        let key = non_empty(&self.root_key_pem).ok_or(Error::RotationFromExternalRoot)?;
        let trusted = RootCa::from_pem(&self.root_cert_pem, Some(key))?;
        let cross_signed_pem = trusted.cross_sign(&new.cert_pem, rng)?;
        let rotation = RootRotation { new_cert_pem: new.cert_pem, new_key_pem: new.key_pem, cross_signed_pem };
        let next = Self { rotation: Some(rotation), ..self.clone() };
        let signer = next.signer()?;
        *self = next;
        Ok(signer)
    }

    /// Ends the rotation once `pending_nodes` — the nodes whose newest certificate comes from
    /// another issuer than [`CaState::issuer`] — is zero: the new root becomes the trust bundle
    /// and the only signer. Returns that signer when the rotation ended (its
    /// [`RootCa::digest`] is what the join tokens must now commit to); `None` when there is no
    /// rotation or nodes are still pending. On error the state is unchanged.
    pub fn try_finish_rotation(&mut self, pending_nodes: usize) -> Result<Option<RootCa>> {
        let Some(rotation) = &self.rotation else { return Ok(None) };
        if pending_nodes > 0 {
            return Ok(None);
        }
        let root = RootCa::from_pem(&rotation.new_cert_pem, non_empty(&rotation.new_key_pem))?;
        let next =
            Self { root_cert_pem: rotation.new_cert_pem.clone(), root_key_pem: rotation.new_key_pem.clone(), rotation: None };
        *self = next;
        Ok(Some(root))
    }

    /// Who issues certificates now (the new root during a rotation).
    pub fn issuer(&self) -> Result<IssuerInfo> {
        IssuerInfo::of(&self.signer()?)
    }
}

/// A PEM private key field: a plain string on the wire, zeroized in memory.
mod secret_pem {
    use serde::{Deserialize as _, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(key: &Zeroizing<String>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(key)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Zeroizing<String>, D::Error> {
        String::deserialize(deserializer).map(Zeroizing::new)
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::tls::verify_node_chain;
    use crate::{
        issue_node_certificate, CertExpiry, ClusterId, FixedClock, NodeId, NodeKey, NodeRole, NodeSubject, RootDigest,
        SystemClock,
    };

    fn rng() -> rand::rngs::ThreadRng {
        rand::thread_rng()
    }

    fn key_of(root: &RootCa) -> String {
        root.signing_key_pem().unwrap().to_string()
    }

    /// Issues a worker certificate with `signer`; returns its PEM (with intermediates).
    fn issue(signer: &RootCa) -> Result<String> {
        let key = NodeKey::generate().unwrap();
        let subject =
            NodeSubject { node_id: NodeId::generate(&mut rng()), role: NodeRole::Worker, cluster_id: ClusterId::generate(&mut rng()) };
        issue_node_certificate(signer, &key.csr_pem().unwrap(), &subject, CertExpiry::default(), &SystemClock, &mut rng())
            .map(|issued| issued.cert_pem)
    }

    fn trust(pem: &str) -> RootCa {
        RootCa::from_pem(pem, None).unwrap()
    }

    fn now() -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    #[test]
    fn the_same_root_is_no_change() {
        let state = CaState::generate(&SystemClock).unwrap();
        let key = state.root_key_pem.to_string();
        // With its key; whitespace around the PEM does not matter.
        let padded = format!("\n{}\n", state.trust_pem());
        let request = CaRequest { signing_cert_pem: &padded, signing_key_pem: &key, ..CaRequest::default() };
        assert!(state.desired_root(&request, &SystemClock).unwrap().is_none());
        // Without its key, through an external CA configured with it.
        let request =
            CaRequest { signing_cert_pem: state.trust_pem(), external_ca_cert_pem: Some(state.trust_pem()), ..CaRequest::default() };
        assert!(state.desired_root(&request, &SystemClock).unwrap().is_none());
        // Nothing asked.
        assert!(state.desired_root(&CaRequest::default(), &SystemClock).unwrap().is_none());
    }

    #[test]
    fn force_rotate_generates_a_root() {
        let state = CaState::generate(&SystemClock).unwrap();
        let request = CaRequest { force_rotate_changed: true, ..CaRequest::default() };
        let new = state.desired_root(&request, &SystemClock).unwrap().unwrap();
        assert_ne!(new.cert_pem(), state.trust_pem());
        assert!(new.has_local_key());
        RootCa::from_pem(new.cert_pem(), Some(&new.key_pem)).unwrap().check_usable(now()).unwrap();
    }

    #[test]
    fn an_operator_root_with_its_key_is_taken() {
        let state = CaState::generate(&SystemClock).unwrap();
        let other = RootCa::generate(&SystemClock).unwrap();
        let key = key_of(&other);
        let request = CaRequest { signing_cert_pem: other.certs_pem(), signing_key_pem: &key, ..CaRequest::default() };
        let new = state.desired_root(&request, &SystemClock).unwrap().unwrap();
        assert_eq!(new.cert_pem(), other.certs_pem());
        assert!(new.has_local_key());
        // The key must match the certificate.
        let wrong = key_of(&RootCa::generate(&SystemClock).unwrap());
        let request = CaRequest { signing_cert_pem: other.certs_pem(), signing_key_pem: &wrong, ..CaRequest::default() };
        let err = state.desired_root(&request, &SystemClock).unwrap_err();
        assert!(matches!(err, Error::InvalidCaCertificateOrKey(_)) && err.is_invalid_request(), "{err}");
        assert!(err.to_string().starts_with("invalid CA certificate or key: "), "{err}");
    }

    #[test]
    fn an_unusable_operator_root_is_refused() {
        let state = CaState::generate(&SystemClock).unwrap();
        // Not a CA.
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = CertificateParams::new(vec!["leaf".to_owned()]).unwrap().self_signed(&key).unwrap();
        let (leaf_pem, key_pem) = (leaf.pem(), key.serialize_pem());
        let request = CaRequest { signing_cert_pem: &leaf_pem, signing_key_pem: &key_pem, ..CaRequest::default() };
        let err = state.desired_root(&request, &SystemClock).unwrap_err();
        assert!(matches!(err, Error::InvalidCaCertificate(_)), "{err}");
        assert!(err.to_string().starts_with("invalid CA certificate: "), "{err}");
        // Expired.
        let old = RootCa::generate(&FixedClock::new(now() - Duration::days(365 * 21))).unwrap();
        let key_pem = key_of(&old);
        let request = CaRequest { signing_cert_pem: old.certs_pem(), signing_key_pem: &key_pem, ..CaRequest::default() };
        assert!(matches!(state.desired_root(&request, &SystemClock), Err(Error::InvalidCaCertificate(_))));
    }

    #[test]
    fn a_certificate_without_its_key_needs_a_matching_external_ca() {
        let state = CaState::generate(&SystemClock).unwrap();
        let other = RootCa::generate(&SystemClock).unwrap();
        let unrelated = RootCa::generate(&SystemClock).unwrap();
        for external in [None, Some(unrelated.certs_pem())] {
            let request = CaRequest { signing_cert_pem: other.certs_pem(), external_ca_cert_pem: external, ..CaRequest::default() };
            let err = state.desired_root(&request, &SystemClock).unwrap_err();
            assert!(matches!(err, Error::CaCertificateNeedsExternalCa) && err.is_invalid_request(), "{err}");
            assert_eq!(err.to_string(), "a CA certificate without its key needs an external CA configured for that certificate");
        }
        let configured = format!("{}\n", other.certs_pem().trim());
        let request =
            CaRequest { signing_cert_pem: other.certs_pem(), external_ca_cert_pem: Some(&configured), ..CaRequest::default() };
        let new = state.desired_root(&request, &SystemClock).unwrap().unwrap();
        assert_eq!(new.cert_pem(), other.certs_pem());
        assert!(!new.has_local_key());
    }

    #[test]
    fn a_key_without_its_certificate_is_refused() {
        let state = CaState::generate(&SystemClock).unwrap();
        let key = key_of(&RootCa::generate(&SystemClock).unwrap());
        let request = CaRequest { signing_key_pem: &key, force_rotate_changed: true, ..CaRequest::default() };
        let err = state.desired_root(&request, &SystemClock).unwrap_err();
        assert!(matches!(err, Error::CaKeyWithoutCertificate) && err.is_invalid_request(), "{err}");
        assert_eq!(err.to_string(), "a CA key was given without its certificate");
    }

    #[test]
    fn during_a_rotation_the_new_root_issues_and_chains_to_the_old_one() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        let old_pem = state.trust_pem().to_owned();
        let old_issuer = state.issuer().unwrap();
        let new = state.desired_root(&CaRequest { force_rotate_changed: true, ..CaRequest::default() }, &SystemClock).unwrap().unwrap();
        let new_pem = new.cert_pem().to_owned();
        let signer = state.begin_rotation(new, &mut rng()).unwrap();

        assert!(state.is_rotating());
        assert_eq!(state.trust_pem(), old_pem);
        assert_eq!(state.signing_cert_pem(), new_pem);
        assert!(!state.intermediates_pem().is_empty());
        assert!(state.has_local_signing_key());
        assert_eq!(signer.certs_pem(), old_pem, "trusted as the old root");
        let issuer = state.issuer().unwrap();
        assert_ne!(issuer, old_issuer);
        assert_eq!(issuer, IssuerInfo::of(&trust(&new_pem)).unwrap());

        let cert_pem = issue(&signer).unwrap();
        assert!(cert_pem.ends_with(state.intermediates_pem()));
        verify_node_chain(&trust(&old_pem), &cert_pem, now()).unwrap();
        verify_node_chain(&trust(&new_pem), &cert_pem, now()).unwrap();
        // The cross-signed intermediate is what makes it chain to the old root.
        let leaf_only = cert_pem.strip_suffix(state.intermediates_pem()).unwrap();
        assert!(verify_node_chain(&trust(&old_pem), leaf_only, now()).is_err());
    }

    #[test]
    fn a_restarted_rotation_is_cross_signed_by_the_trusted_root() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        let old_pem = state.trust_pem().to_owned();
        let force = CaRequest { force_rotate_changed: true, ..CaRequest::default() };
        let first = state.desired_root(&force, &SystemClock).unwrap().unwrap();
        state.begin_rotation(first, &mut rng()).unwrap();
        let second = state.desired_root(&force, &SystemClock).unwrap().unwrap();
        let signer = state.begin_rotation(second, &mut rng()).unwrap();
        verify_node_chain(&trust(&old_pem), &issue(&signer).unwrap(), now()).unwrap();
    }

    #[test]
    fn rotating_away_from_an_external_root_is_refused() {
        let external = RootCa::generate(&SystemClock).unwrap();
        let mut state = CaState::external(external.certs_pem(), &SystemClock).unwrap();
        assert!(!state.has_local_signing_key());
        assert!(state.is_signed_by_external(&format!("{}\n\n", external.certs_pem())));
        assert!(matches!(issue(&state.signer().unwrap()), Err(Error::NoSigner)));
        let before = state.clone();
        let new = state.desired_root(&CaRequest { force_rotate_changed: true, ..CaRequest::default() }, &SystemClock).unwrap().unwrap();
        let err = state.begin_rotation(new, &mut rng()).unwrap_err();
        assert!(matches!(err, Error::RotationFromExternalRoot) && err.is_invalid_request(), "{err}");
        assert_eq!(err.to_string(), "rotating away from a root whose key is held by an external CA is not supported");
        assert!(state == before, "a refused rotation leaves the state as it was");
    }

    #[test]
    fn an_unusable_external_root_is_refused() {
        let err = CaState::external("not a certificate", &SystemClock).unwrap_err();
        assert!(matches!(err, Error::InvalidExternalCaCertificate(_)) && err.is_invalid_request(), "{err}");
        assert!(err.to_string().starts_with("external CA certificate: "), "{err}");
    }

    #[test]
    fn rotating_to_an_external_root_signs_externally() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        let external = RootCa::generate(&SystemClock).unwrap();
        let request = CaRequest {
            signing_cert_pem: external.certs_pem(),
            external_ca_cert_pem: Some(external.certs_pem()),
            ..CaRequest::default()
        };
        let new = state.desired_root(&request, &SystemClock).unwrap().unwrap();
        let signer = state.begin_rotation(new, &mut rng()).unwrap();
        assert!(!state.has_local_signing_key());
        assert!(state.is_signed_by_external(external.certs_pem()));
        assert!(matches!(issue(&signer), Err(Error::NoSigner)));
        assert_eq!(state.issuer().unwrap(), IssuerInfo::of(&external).unwrap());
        let done = state.try_finish_rotation(0).unwrap().unwrap();
        assert_eq!(done.digest(), RootDigest::of_pem(external.certs_pem()));
        assert!(!state.has_local_signing_key());
    }

    #[test]
    fn a_rotation_finishes_only_when_no_node_is_pending() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        assert!(state.try_finish_rotation(0).unwrap().is_none(), "nothing to finish");
        let new = state.desired_root(&CaRequest { force_rotate_changed: true, ..CaRequest::default() }, &SystemClock).unwrap().unwrap();
        let new_pem = new.cert_pem().to_owned();
        state.begin_rotation(new, &mut rng()).unwrap();
        let issuer = state.issuer().unwrap();

        assert!(state.try_finish_rotation(3).unwrap().is_none());
        assert!(state.is_rotating());
        let root = state.try_finish_rotation(0).unwrap().unwrap();
        assert!(!state.is_rotating());
        assert_eq!(root.digest(), RootDigest::of_pem(&new_pem));
        assert_eq!(state.trust_pem(), new_pem);
        assert_eq!(state.signing_cert_pem(), new_pem);
        assert_eq!(state.intermediates_pem(), "");
        assert_eq!(state.issuer().unwrap(), issuer, "the issuer nodes moved to stays the issuer");
        let cert_pem = issue(&state.signer().unwrap()).unwrap();
        verify_node_chain(&trust(&new_pem), &cert_pem, now()).unwrap();
        assert!(state.try_finish_rotation(0).unwrap().is_none());
    }

    #[test]
    fn serde_round_trip_keeps_the_record_field_names() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        let stable = serde_json::to_value(&state).unwrap();
        assert!(stable.get("root_ca_cert_pem").is_some() && stable.get("root_ca_key_pem").is_some());
        assert!(serde_json::from_value::<CaState>(stable).unwrap() == state);
        let new = state.desired_root(&CaRequest { force_rotate_changed: true, ..CaRequest::default() }, &SystemClock).unwrap().unwrap();
        state.begin_rotation(new, &mut rng()).unwrap();
        let text = serde_json::to_string(&state).unwrap();
        let back: CaState = serde_json::from_str(&text).unwrap();
        assert!(back == state);
        assert_eq!(back.issuer().unwrap(), state.issuer().unwrap());
        // What older cluster records hold: no rotation field.
        let old = serde_json::json!({ "root_ca_cert_pem": state.trust_pem(), "root_ca_key_pem": "" });
        assert!(!serde_json::from_value::<CaState>(old).unwrap().is_rotating());
    }

    #[test]
    fn debug_redacts_keys() {
        let mut state = CaState::generate(&SystemClock).unwrap();
        let new = state.desired_root(&CaRequest { force_rotate_changed: true, ..CaRequest::default() }, &SystemClock).unwrap().unwrap();
        let new_key = new.key_pem.to_string();
        let shown = format!("{new:?}");
        assert!(!shown.contains("PRIVATE KEY"), "{shown}");
        let request = CaRequest { signing_cert_pem: new.cert_pem(), signing_key_pem: &new_key, ..CaRequest::default() };
        assert!(!format!("{request:?}").contains("PRIVATE KEY"));
        state.begin_rotation(new, &mut rng()).unwrap();
        let shown = format!("{state:?}");
        assert!(!shown.contains("PRIVATE KEY") && shown.contains("<redacted>"), "{shown}");
    }
}
