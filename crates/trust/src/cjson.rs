//! Canonical JSON as notary computes it (docker/go `canonical/json`, OLPC style).
//!
//! Rules: object keys sorted bytewise, no insignificant whitespace, integers only (floats are
//! rejected), and strings escape only `"` and `\` (control characters, `<>&` and non-ASCII are
//! written raw). [`olpc_cjson`] implements exactly this variant. Signing and verification both
//! call [`canonical_json`], and nothing else in the crate produces bytes to be signed.

use serde::Serialize;

use crate::error::{Error, Result};

/// The canonical JSON encoding of `value`.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, olpc_cjson::CanonicalFormatter::new());
    value.serialize(&mut ser).map_err(|e| Error::CanonicalJson(std::io::Error::other(e)))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sorts_keys_and_escapes_only_quote_and_backslash() {
        let v: serde_json::Value = serde_json::from_str("{\"b\": 1, \"a\": \"x<&>\\n\\\"é\\\\\"}").unwrap();
        assert_eq!(canonical_json(&v).unwrap(), "{\"a\":\"x<&>\n\\\"é\\\\\",\"b\":1}".as_bytes());
    }

    #[test]
    fn rejects_floats() {
        let v: serde_json::Value = serde_json::from_str("{\"a\": 1.5}").unwrap();
        assert!(canonical_json(&v).is_err());
    }
}
