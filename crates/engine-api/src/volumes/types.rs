//! Bodies and query strings of the volume endpoints, field names as the Engine API has them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::null_as_default;

/// A volume, as `docker volume inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// The name (64 hex digits for an anonymous volume).
    pub name: String,
    /// Always `local`.
    pub driver: String,
    /// Where its data lives on the host.
    pub mountpoint: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// `--label`.
    pub labels: BTreeMap<String, String>,
    /// Always `local`.
    pub scope: String,
    /// Driver options (none are accepted).
    pub options: BTreeMap<String, String>,
}

/// `POST /volumes/create` body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeCreateRequest {
    /// The name; empty for a generated one.
    pub name: String,
    /// `-d`: only `local` (or empty).
    pub driver: String,
    /// `-o`: refused (the local driver's mount options would mount devices as root).
    #[serde(deserialize_with = "null_as_default")]
    pub driver_opts: BTreeMap<String, String>,
    /// `--label`.
    #[serde(deserialize_with = "null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Anything else (cluster volume specs): refused when set.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `GET /volumes` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    /// The volumes that pass the filters.
    pub volumes: Vec<Volume>,
    /// Always empty.
    pub warnings: Vec<String>,
}

/// `POST /volumes/prune` response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumePruneResponse {
    /// Names of the volumes removed.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// `filters=` of `GET /volumes` and `POST /volumes/prune`: `{"name":["x"],"label":["k=v"]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeFilters {
    /// `dangling=true|false`: only volumes no container uses (or only used ones).
    pub dangling: Option<bool>,
    /// `name=`: substrings of the name, any of which matches.
    pub names: Vec<String>,
    /// `label=KEY` or `label=KEY=VALUE`, all of which must match.
    pub labels: Vec<String>,
    /// `all=true` (prune): named volumes too, not only anonymous ones.
    pub all: bool,
}

impl VolumeFilters {
    /// Parses the JSON of `filters=` (both the map-of-lists and the map-of-maps forms the
    /// CLI has used); an unknown filter or a bad value is an error naming it.
    pub fn parse(json: Option<&str>) -> Result<Self, String> {
        let mut filters = Self::default();
        let Some(json) = json.filter(|j| !j.is_empty()) else {
            return Ok(filters);
        };
        let raw: BTreeMap<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| format!("invalid filter: {e}"))?;
        for (key, value) in raw {
            let values: Vec<String> = match value {
                serde_json::Value::Array(a) => a.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                serde_json::Value::Object(o) => o.into_iter().filter(|(_, v)| v.as_bool() == Some(true)).map(|(k, _)| k).collect(),
                _ => return Err(format!("invalid filter '{key}'")),
            };
            let flag = |values: &[String]| -> Result<bool, String> {
                match values {
                    [v] if matches!(v.as_str(), "true" | "1") => Ok(true),
                    [v] if matches!(v.as_str(), "false" | "0") => Ok(false),
                    _ => Err(format!("invalid filter '{key}={}'", values.join(","))),
                }
            };
            match key.as_str() {
                "dangling" => filters.dangling = Some(flag(&values)?),
                "all" => filters.all = flag(&values)?,
                "name" => filters.names = values,
                "label" => filters.labels = values,
                "driver" if values.iter().all(|v| v == "local") => {}
                other => return Err(format!("invalid filter '{other}'")),
            }
        }
        Ok(filters)
    }

    /// Whether `volume`, used by containers or not (`in_use`), passes the name, label and
    /// dangling filters.
    pub fn matches(&self, volume: &Volume, in_use: bool) -> bool {
        let dangling = self.dangling.is_none_or(|d| d != in_use);
        let named = self.names.is_empty() || self.names.iter().any(|n| volume.name.contains(n.as_str()));
        let labelled = self.labels.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => volume.labels.get(k).is_some_and(|have| have == v),
            None => volume.labels.contains_key(l),
        });
        dangling && named && labelled
    }
}

/// `?filters=` query of the volume list and prune endpoints.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FiltersQuery {
    /// JSON, see [`VolumeFilters::parse`].
    pub filters: Option<String>,
}

/// `DELETE /volumes/{name}?force=` query.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct VolumeRemoveQuery {
    /// `-f`: a missing volume is not an error (a used one still is).
    pub force: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_both_forms_and_refuse_unknown_ones() {
        let f = VolumeFilters::parse(Some(r#"{"dangling":["true"],"label":{"a=b":true}}"#)).unwrap();
        assert_eq!(f.dangling, Some(true));
        assert_eq!(f.labels, vec!["a=b".to_owned()]);
        assert!(VolumeFilters::parse(Some(r#"{"reference":["x"]}"#)).unwrap_err().contains("reference"));
        assert!(VolumeFilters::parse(Some(r#"{"dangling":["maybe"]}"#)).is_err());
        assert!(VolumeFilters::parse(Some("{")).is_err());
    }

    #[test]
    fn filters_match_names_labels_and_use() {
        let v = Volume { name: "data-1".into(), labels: [("tier".into(), "db".into())].into(), ..Volume::default() };
        let f = |json: &str| VolumeFilters::parse(Some(json)).unwrap();
        assert!(f(r#"{"name":["data"]}"#).matches(&v, false));
        assert!(!f(r#"{"name":["logs"]}"#).matches(&v, false));
        assert!(f(r#"{"label":["tier=db"]}"#).matches(&v, true));
        assert!(!f(r#"{"label":["tier=web"]}"#).matches(&v, true));
        assert!(!f(r#"{"dangling":["true"]}"#).matches(&v, true));
        assert!(f(r#"{"dangling":["false"]}"#).matches(&v, true));
    }
}
