//! `WWW-Authenticate` challenges: Basic, and Bearer (Docker token protocol). Public so other
//! clients of the same token service (the trust client talking to a Notary server) share them.

use std::collections::HashMap;

use base64::Engine as _;
use http::header;

use super::{ClientError, ClientResult};

/// A parsed challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Send Basic credentials on every request.
    Basic,
    /// Fetch a token from `realm` with `service` and `scope`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// `service` parameter.
        service: Option<String>,
        /// `scope` parameter suggested by the server.
        scope: Option<String>,
    },
}

/// Parse `Basic realm="x"` / `Bearer realm="…",service="…",scope="…"`.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        _ => None,
    }
}

/// The `Authorization: Basic …` value for `(user, password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// Docker token protocol: `GET realm?scope=…&service=…` (with Basic credentials when given)
/// and return the `token` (or `access_token`) of the JSON answer.
pub async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    basic: Option<&str>,
) -> ClientResult<String> {
    let mut req = http.get(realm).query(&[("scope", scope)]);
    if let Some(s) = service {
        req = req.query(&[("service", s)]);
    }
    if let Some(v) = basic {
        req = req.header(header::AUTHORIZATION, v);
    }
    let resp = req.send().await.map_err(|source| ClientError::Http { url: realm.to_owned(), source })?;
    if !resp.status().is_success() {
        return Err(ClientError::Auth(format!("token endpoint {realm}: HTTP {}", resp.status().as_u16())));
    }
    let body: serde_json::Value =
        resp.json().await.map_err(|source| ClientError::Http { url: realm.to_owned(), source })?;
    body.get("token")
        .or_else(|| body.get("access_token"))
        .and_then(|t| t.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ClientError::Auth("token response without a token".into()))
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else { break };
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            after.split_once(',').unwrap_or((after, ""))
        };
        out.insert(key, value.to_owned());
        rest = next.trim_start_matches(|c: char| c == ',' || c.is_whitespace());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{parse_challenge, Challenge};

    #[test]
    fn challenges() {
        assert_eq!(parse_challenge(r#"Basic realm="r""#), Some(Challenge::Basic));
        assert_eq!(
            parse_challenge(r#"Bearer realm="https://h/token",service="svc",scope="repository:a/b:pull,push""#),
            Some(Challenge::Bearer {
                realm: "https://h/token".into(),
                service: Some("svc".into()),
                scope: Some("repository:a/b:pull,push".into())
            })
        );
        assert_eq!(parse_challenge("Negotiate"), None);
    }
}
