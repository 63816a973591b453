//! Heads signed with a swarm node's key carry its certificate chain: `verify` names the node,
//! and refuses a head whose certificate does not chain to the trusted roots, was not valid when
//! the head was signed, or is not for the key that made the signature. Heads signed with the
//! log's own key, before the node had a certificate, still verify beside them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{append, lines, write_lines};
use p256::ecdsa::signature::Signer as _;
use p256::pkcs8::DecodePrivateKey as _;
use palisade_audit::{verify, AuditError, AuditLog, CertifiedKey, HeadSigner, SignedBy, SignedHead, Trust, VerifyError};
use palisade_pki::{issue_node_certificate, CertExpiry, ClusterId, FixedClock, NodeId, NodeKey, NodeRole, NodeSubject, RootCa};
use time::macros::datetime;
use time::OffsetDateTime;

const HEADS: &str = "heads.jsonl";
/// When the CAs and certificates are made: long ago, so every check below is at a head's time.
const ISSUED: OffsetDateTime = datetime!(2025-06-01 10:00 UTC);

/// A node's key and certificate, as its data root keeps them (`node.key`, `node.crt`).
#[derive(Debug)]
struct Node {
    id: NodeId,
    key_pem: String,
    cert_pem: String,
}

impl Node {
    /// A worker certificate from `ca` for a fresh key, valid for an hour (the shortest the
    /// policy allows) from one hour before [`ISSUED`].
    fn issued_by(ca: &RootCa, id: &NodeId) -> Self {
        let key = NodeKey::generate().unwrap();
        let subject = NodeSubject { node_id: id.clone(), role: NodeRole::Worker, cluster_id: ClusterId::generate(&mut rand::rngs::OsRng) };
        let expiry = CertExpiry::new(Duration::from_secs(3600)).unwrap();
        let issued = issue_node_certificate(ca, &key.csr_pem().unwrap(), &subject, expiry, &FixedClock::new(ISSUED), &mut rand::rngs::OsRng).unwrap();
        Self { id: id.clone(), key_pem: key.to_pem().to_string(), cert_pem: issued.cert_pem }
    }

    fn serial(&self) -> String {
        palisade_pki::NodeCertInfo::from_pem(&self.cert_pem).unwrap().serial_hex
    }
}

/// Supplies the node's key and certificate at each signing, as a daemon in a swarm does.
impl HeadSigner for Node {
    fn certified_key(&self) -> palisade_audit::Result<Option<CertifiedKey>> {
        CertifiedKey::from_pem(&self.key_pem, &self.cert_pem).map(Some)
    }
}

/// The only signed head of the log in `dir`.
fn read_head(dir: &std::path::Path) -> SignedHead {
    serde_json::from_slice(lines(dir, HEADS)[0].trim_ascii_end()).unwrap()
}

/// Replaces the log's only head with `head` dated `time` and signed, as the head format
/// documents, with `key_pem`; its certificates stay.
fn resign(dir: &std::path::Path, mut head: SignedHead, time: OffsetDateTime, key_pem: &str) {
    let time_text = time.format(&time::format_description::well_known::Rfc3339).unwrap();
    let message = format!("palisade-audit-head-v1\n{}\n{}\n{time_text}", head.seq, head.hash);
    let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from_pkcs8_pem(key_pem).unwrap().sign(message.as_bytes());
    head.time = time;
    head.signature = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
    write_lines(dir, HEADS, &[[serde_json::to_vec(&head).unwrap(), b"\n".to_vec()].concat()]);
}

fn ca() -> RootCa {
    RootCa::generate(&FixedClock::new(ISSUED)).unwrap()
}

/// The trust bundle of `ca` as a node holds it: certificates only, no signing key.
fn bundle(cas: &[&RootCa]) -> RootCa {
    RootCa::from_pem(&cas.iter().map(|ca| ca.certs_pem()).collect::<String>(), None).unwrap()
}

fn roots(trusted: &RootCa) -> Trust<'_> {
    Trust { roots: Some(trusted), ..Trust::default() }
}

/// A log stamping at `at`, signing with `node`'s key.
fn node_log(dir: &std::path::Path, node: Node, at: OffsetDateTime) -> AuditLog {
    AuditLog::open_with_clock(dir, None, Arc::new(FixedClock::new(at))).unwrap().with_head_signer(Arc::new(node))
}

#[test]
fn a_head_signed_with_a_node_key_verifies_and_names_the_node() {
    let ca = ca();
    let node = Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng));
    let (id, serial) = (node.id.clone(), node.serial());
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path(), node, ISSUED + Duration::from_secs(600));
    append(&log, 3);
    let head = log.sign_head().unwrap();
    let chain = head.certificates.as_ref().expect("a node's head carries its certificate");
    assert_eq!(chain.certificates().len(), 1, "a leaf issued by the root itself needs no intermediate");
    drop(log);

    let report = verify(dir.path(), &roots(&bundle(&[&ca]))).unwrap();
    assert_eq!(report.signed_heads, 1);
    assert_eq!(report.heads[0].signed_by, SignedBy::Node { node_id: id, serial });
    assert_eq!((report.heads[0].line, report.heads[0].seq), (1, 3));
    // Reopening checks the last head with the key of its certificate.
    AuditLog::open(dir.path(), None).unwrap();

    // Without roots it cannot be judged: a missing input, not tampering.
    let err = verify(dir.path(), &Trust::default()).unwrap_err();
    assert!(matches!(err, VerifyError::NoRoots { line: 1, seq: 3 }) && !err.is_tampering(), "{err:?}");
}

#[test]
fn heads_signed_with_the_log_key_before_the_node_had_a_certificate_still_verify() {
    let ca = ca();
    let node = Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng));
    let id = node.id.clone();
    let dir = tempfile::tempdir().unwrap();
    let at = ISSUED + Duration::from_secs(60);
    // Written before this change, or before the node joined a swarm: the log's own key.
    let log = AuditLog::open_with_clock(dir.path(), None, Arc::new(FixedClock::new(at))).unwrap();
    append(&log, 2);
    assert!(log.sign_head().unwrap().certificates.is_none());
    drop(log);
    let log = node_log(dir.path(), node, at);
    append(&log, 2);
    log.sign_head().unwrap();
    drop(log);

    let old_line = &lines(dir.path(), HEADS)[0];
    assert!(!String::from_utf8_lossy(old_line).contains("certificates"), "the old form is unchanged");
    let report = verify(dir.path(), &roots(&bundle(&[&ca]))).unwrap();
    let signers: Vec<_> = report.heads.iter().map(|h| h.signed_by.clone()).collect();
    assert!(matches!(signers.as_slice(), [SignedBy::LogKey, SignedBy::Node { node_id, .. }] if *node_id == id), "{signers:?}");
}

#[test]
fn a_certificate_from_a_ca_outside_the_trust_bundle_is_refused() {
    let (ours, theirs) = (ca(), ca());
    // Same node ID, same CN on the CA ("swarm-ca"): only the signature on the certificate differs.
    let id = NodeId::generate(&mut rand::rngs::OsRng);
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path(), Node::issued_by(&theirs, &id), ISSUED);
    append(&log, 5);
    log.sign_head().unwrap();

    let err = verify(dir.path(), &roots(&bundle(&[&ours]))).unwrap_err();
    assert!(matches!(&err, VerifyError::HeadUntrusted { line: 1, seq: 5, .. }) && err.is_tampering(), "{err:?}");
    assert!(err.to_string().contains("the signed head on line 1 of heads.jsonl (for entry 5) is not signed by a node of the trusted cluster"), "{err}");
    // A bundle holding both roots (as after a rotation, with the earlier root given) accepts it.
    verify(dir.path(), &roots(&bundle(&[&ours, &theirs]))).unwrap();
}

#[test]
fn a_signature_not_made_by_the_certificates_key_is_refused() {
    let ca = ca();
    let [alice, mallory] = [0, 1].map(|_| Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng)));
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path(), alice, ISSUED);
    append(&log, 4);
    log.sign_head().unwrap();
    drop(log);

    // Mallory, a node of the same cluster, signs the head herself but presents alice's
    // certificate, so that the head seems to be alice's.
    let head = read_head(dir.path());
    let time = head.time;
    resign(dir.path(), head, time, &mallory.key_pem);

    let err = verify(dir.path(), &roots(&bundle(&[&ca]))).unwrap_err();
    assert!(matches!(err, VerifyError::HeadBadSignature { line: 1, seq: 4 }), "{err:?}");
    let err = AuditLog::open(dir.path(), None).unwrap_err();
    assert!(matches!(&err, AuditError::Tampered { finding, .. } if matches!(**finding, VerifyError::HeadBadSignature { line: 1, .. })), "{err:?}");
}

#[test]
fn a_certificate_is_judged_at_the_heads_time_not_now() {
    let ca = ca();
    let node = Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng));
    let key_pem = node.key_pem.clone();
    let trusted = bundle(&[&ca]);
    // Signed while the certificate was valid: verifies today, long after it expired.
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path(), node, ISSUED + Duration::from_secs(1800));
    append(&log, 1);
    log.sign_head().unwrap();
    drop(log);
    verify(dir.path(), &roots(&trusted)).unwrap();

    // A head claiming a time after the certificate expired is refused, even with a good signature.
    resign(dir.path(), read_head(dir.path()), datetime!(2025-06-01 11:30 UTC), &key_pem);
    let err = verify(dir.path(), &roots(&trusted)).unwrap_err();
    assert!(matches!(&err, VerifyError::HeadUntrusted { line: 1, seq: 1, reason } if reason.to_lowercase().contains("expired")), "{err:?}");
}

#[test]
fn a_log_whose_node_certificate_expired_signs_with_its_own_key() {
    let ca = ca();
    let dir = tempfile::tempdir().unwrap();
    let log = node_log(dir.path(), Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng)), ISSUED + Duration::from_secs(7200));
    append(&log, 1);
    assert!(log.sign_head().unwrap().certificates.is_none(), "a head signed with it would never verify");
    assert_eq!(verify(dir.path(), &Trust::default()).unwrap().heads[0].signed_by, SignedBy::LogKey);
}

#[test]
fn a_key_and_a_certificate_for_another_key_are_refused_together() {
    let ca = ca();
    let (a, b) = (Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng)), Node::issued_by(&ca, &NodeId::generate(&mut rand::rngs::OsRng)));
    let err = CertifiedKey::from_pem(&a.key_pem, &b.cert_pem).unwrap_err();
    assert!(matches!(&err, AuditError::CertifiedKey { reason } if reason.contains("not for this key")), "{err:?}");
    let err = CertifiedKey::from_pem(&a.key_pem, ca.certs_pem()).unwrap_err();
    assert!(matches!(&err, AuditError::CertifiedKey { reason } if reason.contains("not a node certificate")), "{err:?}");
    assert!(!format!("{:?}", CertifiedKey::from_pem(&a.key_pem, &a.cert_pem).unwrap()).contains("PRIVATE"));
}
