//! `docker events`: `GET /events?since=&until=&filters=`, a stream of JSON lines, one
//! [`Event`] each, as dockerd sends them.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::containers::{stream_body, OutputStream};
use crate::routes::QueryArgs;
use crate::ApiError;

type ApiResult<T> = Result<T, ApiError>;

/// Who an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Container id, image reference, volume name, network id.
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, `exitCode`, `signal`, labels…
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event (dockerd's `events.Message`, with its legacy `status`/`id`/`from` fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Legacy: the action of a container or image event.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Legacy: the actor's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Legacy: a container's image.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, `volume`, `network`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`…
    #[serde(rename = "Action")]
    pub action: String,
    /// Who it is about.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// Always `local`.
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event happening now. `from` is a container's image (legacy field).
    pub fn now(kind: &str, action: impl Into<String>, id: impl Into<String>, attributes: BTreeMap<String, String>) -> Self {
        let nanos = i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX);
        let (action, id) = (action.into(), id.into());
        let legacy = matches!(kind, "container" | "image");
        Self {
            status: if legacy { action.clone() } else { String::new() },
            id: if legacy { id.clone() } else { String::new() },
            from: if kind == "container" { attributes.get("image").cloned().unwrap_or_default() } else { String::new() },
            kind: kind.to_owned(),
            action,
            actor: Actor { id, attributes },
            scope: "local".to_owned(),
            time: nanos.div_euclid(1_000_000_000),
            time_nano: nanos,
        }
    }
}

/// The `filters` of `GET /events`: each key must match one of its values (`type`, `event`,
/// `container`, `image`, `volume`, `network`, `label`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilters(BTreeMap<String, BTreeSet<String>>);

impl EventFilters {
    /// Parses the query's JSON: `{"type":{"container":true}}` or the legacy `{"type":["container"]}`.
    pub fn parse(json: &str) -> Result<Self, String> {
        if json.trim().is_empty() {
            return Ok(Self::default());
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Values {
            Map(BTreeMap<String, bool>),
            List(Vec<String>),
        }
        let raw: BTreeMap<String, Values> = serde_json::from_str(json).map_err(|e| format!("invalid filters: {e}"))?;
        let mut out = BTreeMap::new();
        for (key, values) in raw {
            if !["type", "event", "container", "image", "volume", "network", "label"].contains(&key.as_str()) {
                return Err(format!("invalid filter '{key}'"));
            }
            let values: BTreeSet<String> = match values {
                Values::Map(m) => m.into_iter().filter(|(_, on)| *on).map(|(v, _)| v).collect(),
                Values::List(l) => l.into_iter().collect(),
            };
            out.insert(key, values);
        }
        Ok(Self(out))
    }

    /// Whether `event` passes every filter.
    pub fn matches(&self, event: &Event) -> bool {
        let attr = |k: &str| event.actor.attributes.get(k).map(String::as_str).unwrap_or_default();
        self.0.iter().all(|(key, values)| {
            let any = |candidates: &[&str]| values.iter().any(|v| candidates.iter().any(|c| !c.is_empty() && c == v));
            match key.as_str() {
                "type" => any(&[&event.kind]),
                // "exec_start: sh" matches the filter "exec_start".
                "event" => any(&[&event.action, event.action.split(':').next().unwrap_or_default()]),
                "container" => event.kind == "container" && (any(&[&event.actor.id, attr("name")]) || values.iter().any(|v| event.actor.id.starts_with(v.as_str()))),
                "image" => any(&[attr("image"), if event.kind == "image" { &event.actor.id } else { "" }, attr("name")]),
                "volume" => event.kind == "volume" && any(&[&event.actor.id]),
                "network" => event.kind == "network" && any(&[&event.actor.id, attr("name")]),
                "label" => values.iter().any(|v| match v.split_once('=') {
                    Some((k, val)) => attr(k) == val,
                    None => event.actor.attributes.contains_key(v),
                }),
                _ => false,
            }
        })
    }
}

/// Query of `GET /events`.
#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    /// Replay events from this time (`seconds[.nanoseconds]`).
    pub since: Option<String>,
    /// End the stream at this time.
    pub until: Option<String>,
    /// [`EventFilters`] as JSON.
    pub filters: Option<String>,
}

/// What `GET /events` asks for, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsRequest {
    /// Nanoseconds since the epoch.
    pub since: Option<i64>,
    /// Nanoseconds since the epoch.
    pub until: Option<i64>,
    /// Which events.
    pub filters: EventFilters,
}

/// A `since`/`until` value: `seconds[.fraction]` since the epoch, as the docker CLI sends it.
pub fn parse_timestamp(value: &str) -> Result<i64, String> {
    let bad = || format!("invalid timestamp {value:?}: want seconds[.nanoseconds] since the epoch");
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let nanos: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().map_err(|_| bad())? };
    secs.checked_mul(1_000_000_000).and_then(|s| s.checked_add(nanos)).ok_or_else(bad)
}

/// What `GET /events` needs from a node's engine.
pub trait EventBackend: Send + Sync + 'static {
    /// The events of `request`, as newline-terminated JSON lines; the stream ends at `until`.
    fn events(&self, request: EventsRequest) -> impl Future<Output = ApiResult<OutputStream>> + Send;
}

/// The events route.
pub fn event_routes<E: EventBackend>(backend: Arc<E>) -> Router {
    Router::new().route("/events", get(events::<E>)).with_state(backend)
}

async fn events<E: EventBackend>(State(backend): State<Arc<E>>, QueryArgs(query): QueryArgs<EventsQuery>) -> ApiResult<Response> {
    let time = |v: Option<String>| v.filter(|v| !v.is_empty()).map(|v| parse_timestamp(&v)).transpose().map_err(ApiError::bad_request);
    let request = EventsRequest {
        since: time(query.since)?,
        until: time(query.until)?,
        filters: EventFilters::parse(query.filters.as_deref().unwrap_or_default()).map_err(ApiError::bad_request)?,
    };
    let rx = backend.events(request).await?;
    let mut response = stream_body(rx).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_seconds_with_an_optional_fraction() {
        assert_eq!(parse_timestamp("1700000000"), Ok(1_700_000_000_000_000_000));
        assert_eq!(parse_timestamp("1700000000.5"), Ok(1_700_000_000_500_000_000));
        assert!(parse_timestamp("10m").is_err());
    }

    #[test]
    fn filters_match_type_event_and_container_name() {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_owned(), "web".to_owned());
        attrs.insert("image".to_owned(), "bb".to_owned());
        let event = Event::now("container", "die", "abc123", attrs);
        assert!(EventFilters::parse(r#"{"type":{"container":true},"event":{"die":true}}"#).unwrap().matches(&event));
        assert!(EventFilters::parse(r#"{"container":["web"]}"#).unwrap().matches(&event));
        assert!(EventFilters::parse(r#"{"image":{"bb":true}}"#).unwrap().matches(&event));
        assert!(!EventFilters::parse(r#"{"event":{"start":true}}"#).unwrap().matches(&event));
        assert!(EventFilters::parse(r#"{"bogus":["x"]}"#).is_err());
    }
}
