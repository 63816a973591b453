//! Serde helpers shared by the on-disk and wire formats.

/// Byte strings as standard base64 text instead of JSON arrays of numbers.
pub(crate) mod b64 {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(STANDARD.encode(bytes));
        s.serialize_str(&text)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// Describes a JSON failure without quoting the input (which may hold secrets): its kind and
/// position only.
pub(crate) fn json_fault(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "i/o error",
        serde_json::error::Category::Syntax => "malformed JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at line {} column {}", e.line(), e.column())
}
