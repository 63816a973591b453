#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Fuzzing the PKI's untrusted inputs: certificate signing requests (a joining or renewing
//! node's, a service's) and join tokens. Every case must return (no panic) within the
//! allocation bound; see `palisade_fuzzing`.

use palisade_fuzzing::json::hostile_string;
use palisade_fuzzing::{bounded, fuzz, CountingAlloc};
use palisade_pki::{
    issue_node_certificate, issue_service_certificate, CertExpiry, ClusterId, JoinToken, NodeId, NodeKey, NodeRole,
    NodeSubject, RootCa, ServiceSubject, SystemClock,
};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Damage to a CSR: to its DER inside intact PEM armour, or to the PEM text.
#[derive(Debug, Clone)]
enum CsrDamage {
    None,
    DerFlip(usize, u8),
    DerTruncate(usize),
    DerInsert(usize, Vec<u8>),
    TextReplace(usize, char),
    Text(String),
}

fn csr_damage() -> impl Strategy<Value = CsrDamage> {
    prop_oneof![
        1 => Just(CsrDamage::None),
        4 => (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| CsrDamage::DerFlip(at, mask)),
        2 => any::<usize>().prop_map(CsrDamage::DerTruncate),
        2 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..64)).prop_map(|(at, b)| CsrDamage::DerInsert(at, b)),
        2 => (any::<usize>(), any::<char>()).prop_map(|(at, c)| CsrDamage::TextReplace(at, c)),
        1 => hostile_string().prop_map(CsrDamage::Text),
    ]
}

fn damaged(csr_pem: &str, damage: CsrDamage) -> String {
    let der = pem::parse(csr_pem).unwrap().into_contents();
    let armour = |der: Vec<u8>| pem::encode(&pem::Pem::new("CERTIFICATE REQUEST", der));
    match damage {
        CsrDamage::None => csr_pem.to_owned(),
        CsrDamage::DerFlip(at, mask) => {
            let mut der = der;
            let i = at % der.len();
            der[i] ^= mask;
            armour(der)
        }
        CsrDamage::DerTruncate(at) => armour(der[..at % der.len()].to_vec()),
        CsrDamage::DerInsert(at, bytes) => {
            let mut der = der;
            let i = at % (der.len() + 1);
            der.splice(i..i, bytes);
            armour(der)
        }
        CsrDamage::TextReplace(at, c) => {
            let mut chars: Vec<char> = csr_pem.chars().collect();
            let i = at % chars.len();
            chars[i] = c;
            chars.into_iter().collect()
        }
        CsrDamage::Text(text) => text,
    }
}

/// Node and service certificate issuance on damaged CSRs: no panic, bounded allocation, and a
/// certificate is only ever issued for the key that made the CSR (the signature is proof of
/// possession; no damage can swap in another key).
#[test]
fn fuzz_csr_issuance() {
    let ca = RootCa::generate(&SystemClock).unwrap();
    let key = NodeKey::generate().unwrap();
    let csr = key.csr_pem().unwrap();
    let spki = key.public_key_der();
    let mut rng = rand::thread_rng();
    let node = NodeSubject { node_id: NodeId::generate(&mut rng), role: NodeRole::Worker, cluster_id: ClusterId::generate(&mut rng) };
    let names = proptest::collection::vec(hostile_string(), 0..3);
    fuzz("pki_csr_issuance", (csr_damage(), names), |(damage, dns_names)| {
        let pem_text = damaged(&csr, damage);
        let service = ServiceSubject {
            common_name: "palisade-registry".into(),
            cluster_id: node.cluster_id.clone(),
            dns_names,
            ip_addresses: vec![],
        };
        let size = pem_text.len() + service.dns_names.iter().map(String::len).sum::<usize>();
        let (as_node, as_service) = bounded(size, || {
            let mut rng = rand::thread_rng();
            (
                issue_node_certificate(&ca, &pem_text, &node, CertExpiry::default(), &SystemClock, &mut rng),
                issue_service_certificate(&ca, &pem_text, &service, CertExpiry::default(), &SystemClock, &mut rng),
            )
        })?;
        for issued in [as_node.ok(), as_service.ok()].into_iter().flatten() {
            let (_, cert) = x509_parser::parse_x509_certificate(&issued.cert_der).unwrap();
            prop_assert_eq!(cert.public_key().raw, spki.as_slice(), "issued for another key");
        }
        Ok(())
    });
}

/// Join tokens as `swarm join` receives them: near-valid tokens with one part changed, and
/// hostile text. No panic, bounded; a token that parses prints back to text that parses to the
/// same digest.
#[test]
fn fuzz_join_tokens() {
    let ca = RootCa::generate(&SystemClock).unwrap();
    let text = JoinToken::generate(ca.digest(), &mut rand::thread_rng()).expose();
    let near = (0..4usize, prop_oneof!["[0-9a-z]{0,60}", "[0-9A-Z]{50}", "[0-9a-z]{25}", hostile_string()]).prop_map({
        move |(part, replacement)| {
            let mut parts: Vec<String> = text.split('-').map(str::to_owned).collect();
            parts[part] = replacement;
            parts.join("-")
        }
    });
    let max_digest = ("z{50}", "[0-9a-z]{25}").prop_map(|(d, s)| format!("SWMTKN-1-{d}-{s}"));
    fuzz("pki_join_token", prop_oneof![4 => near, 1 => max_digest, 2 => hostile_string()], |token| {
        let parsed = bounded(token.len(), || token.parse::<JoinToken>())?;
        if let Ok(parsed) = parsed {
            let again: JoinToken = parsed.expose().parse().unwrap();
            prop_assert_eq!(again.digest(), parsed.digest());
            prop_assert!(again.matches(&parsed));
        }
        Ok(())
    });
}
