//! Signed heads: one line of `heads.jsonl` vouching that the log had entry `seq` with hash
//! `hash` at `time`, signed with the log's own key or, carrying its certificate chain, with a
//! node's key. They pin the chain, so that a rewritten chain or entries removed from the end
//! (which the chain alone cannot show) are detected.

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::CertificateChain;

/// Domain separation for head signatures. A node's key also signs TLS handshakes; their
/// signed structures begin otherwise (TLS 1.3: 64 spaces; TLS 1.2: two 32-byte randoms, then
/// a binary curve description), so no head signature is valid for a handshake or back.
const SIGNATURE_DOMAIN: &str = "palisade-audit-head-v1";

/// One line of `heads.jsonl`, compact JSON with the fields in this order:
///
/// ```text
/// {"seq":100,"hash":"…","time":"2025-03-04T05:06:07.25Z","signature":"…"}
/// {"seq":200,"hash":"…","time":"2025-03-04T05:16:07.5Z","signature":"…","certificates":["MIIB…","MIIB…"]}
/// ```
///
/// `signature` is the base64 (standard alphabet, padded) of the 64-byte `r || s` ECDSA
/// P-256 / SHA-256 signature over the UTF-8 text
/// `"palisade-audit-head-v1\n{seq}\n{hash}\n{time}"`, `time` written as in the JSON (RFC 3339
/// UTC). A head for `seq` 0 (an empty log) vouches for [`GENESIS_HASH`](crate::GENESIS_HASH).
///
/// Who signed it: without `certificates`, the log's own key (`head-key.pem`; every head of
/// logs outside a swarm, and of a node's log before it joined one). With them, the key of the
/// first certificate, a swarm node certificate (its `CN` is the node ID) followed by any
/// intermediates it chains through ([`CertificateChain`]); the chain is not covered by the
/// signature, it says which key to check it with, and only a certificate for that same key
/// makes the signature verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedHead {
    /// The last entry at signing time (0 for an empty log).
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// When the head was signed (UTC).
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    /// Base64 of the signature (see the type's docs).
    pub signature: String,
    /// The certificate chain of the node whose key made `signature`; `None` when the log's own
    /// key did. Never present and empty (an empty list is not a canonical line).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificates: Option<CertificateChain>,
}

impl SignedHead {
    /// Signs `(seq, hash, time)` with `key`, which `certificates` certifies (`None` for the
    /// log's own key).
    pub(crate) fn sign(
        key: &SigningKey,
        certificates: Option<CertificateChain>,
        seq: u64,
        hash: &str,
        time: OffsetDateTime,
    ) -> Result<Self, serde_json::Error> {
        let time = time.to_offset(time::UtcOffset::UTC);
        let signature: Signature = key.sign(&message(seq, hash, time)?);
        Ok(Self {
            seq,
            hash: hash.to_owned(),
            time,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            certificates,
        })
    }

    /// Whether `signature` is `key`'s signature over this head.
    pub fn is_signed_by(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&self.signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        message(self.seq, &self.hash, self.time).is_ok_and(|message| key.verify(&message, &signature).is_ok())
    }

    /// The stored line, with its `\n`.
    pub(crate) fn line(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut line = serde_json::to_vec(self)?;
        line.push(b'\n');
        Ok(line)
    }
}

/// The signed message. The time is formatted exactly as serde writes it in the JSON.
fn message(seq: u64, hash: &str, time: OffsetDateTime) -> Result<Vec<u8>, serde_json::Error> {
    // serde's RFC 3339 form, quoted; strip the quotes.
    let quoted = serde_json::to_string(&Rfc3339(time))?;
    let time = quoted.trim_matches('"');
    Ok(format!("{SIGNATURE_DOMAIN}\n{seq}\n{hash}\n{time}").into_bytes())
}

#[derive(Serialize)]
struct Rfc3339(#[serde(with = "time::serde::rfc3339")] OffsetDateTime);

/// Parses one line of `heads.jsonl` (without its `\n`); `None` unless it is a head in exactly
/// the form [`SignedHead::line`] writes (the signature is not checked here).
pub(crate) fn parse_head(line: &[u8]) -> Option<SignedHead> {
    let head: SignedHead = serde_json::from_slice(line).ok()?;
    let canonical = serde_json::to_vec(&head).ok()?;
    (canonical == line).then_some(head)
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::GENESIS_HASH;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    #[test]
    fn a_head_verifies_with_its_key_only() {
        let head = SignedHead::sign(&key(1), None, 100, GENESIS_HASH, datetime!(2025-01-02 03:04:05 UTC)).unwrap();
        assert!(head.is_signed_by(key(1).verifying_key()));
        assert!(!head.is_signed_by(key(2).verifying_key()));
        let mut moved = head.clone();
        moved.seq = 99;
        assert!(!moved.is_signed_by(key(1).verifying_key()), "the seq is signed");
        let mut redated = head.clone();
        redated.time = datetime!(2025-01-02 03:04:06 UTC);
        assert!(!redated.is_signed_by(key(1).verifying_key()), "the time is signed");
        let mut garbled = head;
        garbled.signature = "not base64!".into();
        assert!(!garbled.is_signed_by(key(1).verifying_key()));
    }

    #[test]
    fn the_message_is_the_documented_text() {
        let message = message(7, "ab", datetime!(2025-01-02 03:04:05.5 UTC)).unwrap();
        assert_eq!(message, b"palisade-audit-head-v1\n7\nab\n2025-01-02T03:04:05.5Z");
    }

    #[test]
    fn a_head_line_round_trips_and_only_its_canonical_form_parses() {
        let head = SignedHead::sign(&key(1), None, 3, GENESIS_HASH, datetime!(2025-01-02 03:04:05 UTC)).unwrap();
        let line = head.line().unwrap();
        let text = std::str::from_utf8(&line[..line.len() - 1]).unwrap();
        assert!(text.starts_with(r#"{"seq":3,"hash":"0000"#), "{text}");
        assert_eq!(parse_head(text.as_bytes()), Some(head));
        assert_eq!(parse_head(text.replace("05Z", "05+00:00").as_bytes()), None);
    }

    #[test]
    fn a_certified_head_line_carries_its_chain_last_and_only_in_canonical_form() {
        let chain = CertificateChain::new(vec![vec![1u8, 2, 3].into(), vec![4u8].into()]);
        let head = SignedHead::sign(&key(1), chain, 3, GENESIS_HASH, datetime!(2025-01-02 03:04:05 UTC)).unwrap();
        let line = head.line().unwrap();
        let text = std::str::from_utf8(&line[..line.len() - 1]).unwrap();
        assert!(text.ends_with(r#"","certificates":["AQID","BA=="]}"#), "{text}");
        assert_eq!(parse_head(text.as_bytes()), Some(head.clone()));
        assert!(head.is_signed_by(key(1).verifying_key()), "the chain is not part of the signed text");

        let without = text.split(r#","certificates""#).next().unwrap().to_owned() + "}";
        for variant in [
            without.replace('}', r#","certificates":[]}"#),
            without.replace('}', r#","certificates":null}"#),
            text.replace("AQID", "AQI"),
            text.replace("BA==", "BA"),
            text.replace("AQID", "AQI*"),
        ] {
            assert_eq!(parse_head(variant.as_bytes()), None, "{variant}");
        }
        assert!(parse_head(without.as_bytes()).is_some_and(|h| h.certificates.is_none()));
    }
}
