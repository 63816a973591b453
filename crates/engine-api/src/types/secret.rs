//! `/secrets*`: the storage half of swarm secrets, with the checks dockerd and swarmkit make at
//! the API edge (name rules, payload size, label-only updates, reference resolution, filters).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::ObjectVersion;
use crate::ApiError;

/// The largest secret payload swarmkit accepts is one byte less than this (500 KiB).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// The largest config payload swarmkit accepts (1000 KiB).
pub const MAX_CONFIG_SIZE: usize = 1000 * 1024;

/// A config has a secret's shape (`ID`, `Version`, `Spec{Name, Labels, Data, Templating}`),
/// but its data is not secret: `GET /configs` returns it.
pub type Config = Secret;
/// `ConfigSpec`: see [`Config`].
pub type ConfigSpec = SecretSpec;

/// A secret as `GET /secrets` and `GET /secrets/{id}` report it (never with its data).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Secret {
    /// Secret ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Version for `POST /secrets/{id}/update?version=`.
    #[serde(default)]
    pub version: ObjectVersion,
    /// Creation time.
    #[serde(default)]
    pub created_at: String,
    /// Last update.
    #[serde(default)]
    pub updated_at: String,
    /// The spec, without `Data`.
    #[serde(default)]
    pub spec: SecretSpec,
}

/// `SecretSpec`. `Data` is base64 in JSON (as Go's `[]byte`); it is only ever sent to the
/// daemon, never returned: build listings with [`SecretSpec::without_data`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretSpec {
    /// User-defined name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// User-defined metadata.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// The secret bytes (absent in every response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<SecretData>,
    /// An external secret driver (the data then comes from it and `Data` stays empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Driver>,
    /// A templating driver applied to the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templating: Option<Driver>,
}

/// `Driver` (secret driver or templating driver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Driver {
    /// Driver name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver options.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// `201` answer of `POST /secrets/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretCreateResponse {
    /// The new secret's ID.
    #[serde(rename = "ID")]
    pub id: String,
}

/// Query of `POST /secrets/{id}/update`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct UpdateSecretQuery {
    /// The secret version the spec was read at.
    pub version: Option<u64>,
}

/// Secret bytes: zeroed when dropped, redacted in `Debug`, base64 (standard alphabet, padded,
/// as Go's `encoding/json`) on the wire.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData(Zeroizing<Vec<u8>>);

impl SecretData {
    /// Wraps bytes (they are zeroed when the value is dropped).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The secret bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Decodes base64 as Go's `encoding/json` does for `[]byte` (standard alphabet with
    /// padding; CR and LF are ignored). The error text is Go's.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let cleaned: Zeroizing<Vec<u8>> = Zeroizing::new(text.bytes().filter(|b| !matches!(b, b'\r' | b'\n')).collect());
        let mut out = Zeroizing::new(Vec::with_capacity(cleaned.len() / 4 * 3 + 3));
        match base64::engine::general_purpose::STANDARD.decode_vec(&*cleaned, &mut out) {
            Ok(()) => Ok(Self(out)),
            Err(base64::DecodeError::InvalidByte(at, _)) | Err(base64::DecodeError::InvalidLastSymbol(at, _)) => {
                Err(format!("illegal base64 data at input byte {at}"))
            }
            Err(_) => Err(format!("illegal base64 data at input byte {}", cleaned.len())),
        }
    }
}

impl From<Vec<u8>> for SecretData {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretData([REDACTED; {} bytes])", self.0.len())
    }
}

impl Serialize for SecretData {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.0));
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = SecretData;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a base64 string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SecretData, E> {
                SecretData::from_base64(text).map_err(E::custom)
            }
            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<SecretData, E> {
                let text = Zeroizing::new(text);
                SecretData::from_base64(&text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl SecretSpec {
    /// The spec as responses show it: everything but `Data`.
    pub fn without_data(&self) -> Self {
        Self { data: None, ..self.clone() }
    }

    /// swarmkit's `validateSecretSpec`, for `POST /secrets/create`: a valid name, and either a
    /// named driver or 1 byte to 500 KiB − 1 of data.
    pub fn validate_for_create(&self) -> Result<(), ApiError> {
        validate_secret_name(&self.name)?;
        if let Some(driver) = &self.driver {
            if driver.name.is_empty() {
                return Err(ApiError::invalid_argument("secret driver must have a name"));
            }
            return Ok(());
        }
        let size = self.data.as_ref().map_or(0, SecretData::len);
        if size == 0 || size >= MAX_SECRET_SIZE {
            return Err(ApiError::invalid_argument(format!(
                "secret data must be larger than 0 and less than {MAX_SECRET_SIZE} bytes"
            )));
        }
        Ok(())
    }

    /// swarmkit's `validateConfigSpec`, for `POST /configs/create`: a valid name, no driver,
    /// and 1 byte to 1000 KiB of data.
    pub fn validate_config_for_create(&self) -> Result<(), ApiError> {
        validate_secret_name(&self.name)?;
        if self.driver.is_some() {
            return Err(ApiError::invalid_argument("configs have no driver"));
        }
        let size = self.data.as_ref().map_or(0, SecretData::len);
        if size == 0 || size > MAX_CONFIG_SIZE {
            return Err(ApiError::invalid_argument(format!("config data must be larger than 0 and less than {MAX_CONFIG_SIZE} bytes")));
        }
        Ok(())
    }

    /// swarmkit's `UpdateSecret` rule: only labels change. `current` is the stored spec (with
    /// its data); a request without data keeps it, one with the same data is accepted.
    pub fn check_label_only_update(&self, current: &SecretSpec) -> Result<(), ApiError> {
        let data_changed = match (&self.data, &current.data) {
            (None, _) => false,
            (Some(new), Some(old)) => !constant_time_eq(new.expose(), old.expose()),
            (Some(_), None) => true,
        };
        if self.name != current.name || data_changed {
            return Err(ApiError::invalid_argument("only updates to Labels are allowed"));
        }
        Ok(())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// swarmkit's secret/config name rule: 1–64 characters of `[a-zA-Z0-9-_.]`, starting and ending
/// with `[a-zA-Z0-9]` (`^[a-zA-Z0-9]+(?:[a-zA-Z0-9-_.]*[a-zA-Z0-9])?$`).
pub fn validate_secret_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid_argument("name must be provided"));
    }
    let bytes = name.as_bytes();
    let inner_ok = bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let ends_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric) && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if bytes.len() > 64 || !inner_ok || !ends_ok {
        return Err(ApiError::invalid_argument(
            "invalid name, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
        ));
    }
    Ok(())
}

/// The `filters` of `GET /secrets`, as dockerd accepts them: `names` (exact), `name` (prefix),
/// `id` (prefix), `label` (`key` or `key=value`). Values of one filter are alternatives; filters
/// combine with AND.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretFilters {
    /// Exact names.
    pub names: Vec<String>,
    /// Name prefixes.
    pub name_prefixes: Vec<String>,
    /// ID prefixes.
    pub id_prefixes: Vec<String>,
    /// `key` (present) or `key=value` (equal).
    pub labels: Vec<String>,
}

/// Filter keys `GET /secrets` and `GET /configs` accept.
pub const SECRET_FILTERS: &[&str] = &["names", "name", "id", "label"];

impl SecretFilters {
    /// Parses the `filters` query value: `{"name":{"x":true}}` or the older `{"name":["x"]}`.
    pub fn parse(json: Option<&str>) -> Result<Self, ApiError> {
        let mut filters = super::ListFilters::parse(json, SECRET_FILTERS)?.0;
        let mut take = |key: &str| filters.remove(key).unwrap_or_default();
        Ok(Self { names: take("names"), name_prefixes: take("name"), id_prefixes: take("id"), labels: take("label") })
    }

    /// Whether `secret` passes every filter.
    pub fn matches(&self, secret: &Secret) -> bool {
        let name = &secret.spec.name;
        (self.names.is_empty() || self.names.iter().any(|n| n == name))
            && (self.name_prefixes.is_empty() || self.name_prefixes.iter().any(|p| name.starts_with(p.as_str())))
            && (self.id_prefixes.is_empty() || self.id_prefixes.iter().any(|p| secret.id.starts_with(p.as_str())))
            && super::labels_match(&self.labels, &secret.spec.labels)
    }
}

/// Resolves a secret reference as dockerd does: full ID, then exact name, then unique ID prefix.
/// Errors: 404 `secret X not found`, 400 `secret X is ambiguous (N matches found)`.
pub fn resolve_secret<'a>(secrets: &'a [Secret], reference: &str) -> Result<&'a Secret, ApiError> {
    if let Some(secret) = secrets.iter().find(|s| s.id == reference) {
        return Ok(secret);
    }
    let by_name: Vec<&Secret> = secrets.iter().filter(|s| s.spec.name == reference).collect();
    let matches = if by_name.is_empty() {
        if reference.is_empty() {
            Vec::new()
        } else {
            secrets.iter().filter(|s| s.id.starts_with(reference)).collect()
        }
    } else {
        by_name
    };
    match matches.as_slice() {
        [] => Err(ApiError::secret_not_found(reference)),
        [one] => Ok(one),
        many => Err(ApiError::bad_request(format!("secret {reference} is ambiguous ({} matches found)", many.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_cli_create_body_parses_and_data_stays_out_of_debug() {
        // Verbatim from docker CLI 28.2.2 `secret create db_pw FILE` (file: "s3cr3t").
        let spec: SecretSpec = serde_json::from_str(r#"{"Name":"db_pw","Labels":{},"Data":"czNjcjN0"}"#).unwrap();
        assert_eq!(spec.name, "db_pw");
        assert_eq!(spec.data.as_ref().unwrap().expose(), b"s3cr3t");
        let debug = format!("{spec:?}");
        assert!(!debug.contains("s3cr3t") && !debug.contains("czNjcjN0"), "{debug}");
        spec.validate_for_create().unwrap();
    }

    #[test]
    fn responses_never_carry_data() {
        let spec = SecretSpec { name: "a".into(), data: Some(b"x".to_vec().into()), ..SecretSpec::default() };
        let secret = Secret { id: "id1".into(), spec: spec.without_data(), ..Secret::default() };
        let json = serde_json::to_value(&secret).unwrap();
        assert_eq!(json["Spec"], serde_json::json!({"Name": "a", "Labels": {}}));
        assert_eq!(json["ID"], "id1");
        assert_eq!(json["Version"]["Index"], 0);
    }

    #[test]
    fn data_decodes_like_go() {
        assert_eq!(SecretData::from_base64("czNj\ncjN0").unwrap().expose(), b"s3cr3t");
        assert_eq!(SecretData::from_base64("cz!j").unwrap_err(), "illegal base64 data at input byte 2");
        assert!(SecretData::from_base64("czNjcjN").is_err());
        assert!(SecretData::from_base64("-_8=").is_err(), "URL-safe alphabet is not Go's []byte encoding");
        let round = serde_json::to_string(&SecretData::new(vec![0xfb, 0xff])).unwrap();
        assert_eq!(round, "\"+/8=\"");
    }

    #[test]
    fn names_follow_swarmkit() {
        for good in ["a", "db_pw", "A.b-c_9", &"x".repeat(64)] {
            validate_secret_name(good).unwrap();
        }
        for bad in ["", "-a", "a-", "a b", "ä", ".a", "a_", &"x".repeat(65)] {
            let err = validate_secret_name(bad).unwrap_err();
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST, "{bad}");
        }
        assert_eq!(validate_secret_name("").unwrap_err().message, "rpc error: code = InvalidArgument desc = name must be provided");
    }

    #[test]
    fn data_size_is_bounded() {
        let with = |n: usize| SecretSpec { name: "s".into(), data: Some(vec![7u8; n].into()), ..SecretSpec::default() };
        with(1).validate_for_create().unwrap();
        with(MAX_SECRET_SIZE - 1).validate_for_create().unwrap();
        for n in [0, MAX_SECRET_SIZE] {
            let err = with(n).validate_for_create().unwrap_err();
            assert_eq!(err.message, "rpc error: code = InvalidArgument desc = secret data must be larger than 0 and less than 512000 bytes");
        }
        let no_data = SecretSpec { name: "s".into(), ..SecretSpec::default() };
        assert!(no_data.validate_for_create().is_err());
        let driven = SecretSpec { driver: Some(Driver { name: "vault".into(), ..Driver::default() }), ..no_data };
        driven.validate_for_create().unwrap();
    }

    #[test]
    fn updates_may_change_labels_only() {
        let current = SecretSpec { name: "s".into(), data: Some(b"one".to_vec().into()), ..SecretSpec::default() };
        let mut labels_only = current.without_data();
        labels_only.labels.insert("k".into(), "v".into());
        labels_only.check_label_only_update(&current).unwrap();
        current.check_label_only_update(&current).unwrap();
        let new_data = SecretSpec { data: Some(b"two".to_vec().into()), ..current.clone() };
        let renamed = SecretSpec { name: "t".into(), ..current.without_data() };
        for bad in [new_data, renamed] {
            let err = bad.check_label_only_update(&current).unwrap_err();
            assert_eq!(err.message, "rpc error: code = InvalidArgument desc = only updates to Labels are allowed");
        }
    }

    fn secret(id: &str, name: &str, labels: &[(&str, &str)]) -> Secret {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Secret { id: id.into(), spec: SecretSpec { name: name.into(), labels, ..SecretSpec::default() }, ..Secret::default() }
    }

    #[test]
    fn filters_parse_both_forms_and_match_as_dockerd() {
        let all = [secret("abc1", "db_pw", &[("env", "prod")]), secret("abd2", "db_user", &[("env", "dev"), ("team", "x")])];
        let pick = |json: &str| {
            let filters = SecretFilters::parse(Some(json)).unwrap();
            all.iter().filter(|s| filters.matches(s)).map(|s| s.id.as_str()).collect::<Vec<_>>()
        };
        assert_eq!(pick(r#"{"name":{"db_pw":true}}"#), ["abc1"]);
        assert_eq!(pick(r#"{"name":{"db_":true}}"#), ["abc1", "abd2"]);
        assert_eq!(pick(r#"{"names":["db_"]}"#), Vec::<&str>::new());
        assert_eq!(pick(r#"{"id":["abd"]}"#), ["abd2"]);
        assert_eq!(pick(r#"{"label":{"env=prod":true}}"#), ["abc1"]);
        assert_eq!(pick(r#"{"label":{"team":true},"name":{"db":true}}"#), ["abd2"]);
        assert_eq!(SecretFilters::parse(Some(r#"{"bogus":{"x":true}}"#)).unwrap_err().message, "invalid filter 'bogus'");
        assert!(SecretFilters::parse(Some("{")).is_err());
        assert_eq!(SecretFilters::parse(None).unwrap(), SecretFilters::default());
    }

    #[test]
    fn references_resolve_by_id_then_name_then_prefix() {
        let all = [secret("abc1", "db_pw", &[]), secret("abd2", "abc1x", &[]), secret("zzz", "abd2", &[])];
        assert_eq!(resolve_secret(&all, "abc1").unwrap().id, "abc1");
        assert_eq!(resolve_secret(&all, "abd2").unwrap().id, "abd2", "a full ID wins over a name");
        assert_eq!(resolve_secret(&all, "db_pw").unwrap().id, "abc1");
        assert_eq!(resolve_secret(&all, "zz").unwrap().id, "zzz");
        let ambiguous = resolve_secret(&all, "ab").unwrap_err();
        assert_eq!((ambiguous.status.as_u16(), ambiguous.message.as_str()), (400, "secret ab is ambiguous (2 matches found)"));
        let missing = resolve_secret(&all, "nosuch").unwrap_err();
        assert_eq!((missing.status.as_u16(), missing.message.as_str()), (404, "secret nosuch not found"));
        assert!(resolve_secret(&all, "").is_err());
    }
}
