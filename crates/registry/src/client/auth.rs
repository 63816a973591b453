//! `WWW-Authenticate` challenges: Basic, and Bearer (Docker token protocol). Public so other
//! clients of the same token service (the trust client talking to a Notary server) share them.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use http::header;
use secrecy::{ExposeSecret as _, SecretString};

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

/// The authentication half of a Docker-token-protocol client (registry or trust server): it
/// sends requests with the `Authorization` value that last worked and answers a 401 once — with
/// Basic credentials, or with a bearer token for `scope` from the challenge's realm. The
/// credentials and tokens are held redacted.
pub struct AuthSession {
    basic: Option<SecretString>,
    scope: String,
    /// What the server is called in errors ("registry", "trust server").
    server_kind: &'static str,
    current: Mutex<Option<SecretString>>,
}

impl std::fmt::Debug for AuthSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSession").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl AuthSession {
    /// Authenticates as `credentials` (user, password) when asked, for token `scope` (scopes
    /// separated by spaces).
    pub fn new(credentials: Option<(&str, &str)>, scope: String, server_kind: &'static str) -> Self {
        let basic = credentials.map(|(u, p)| SecretString::from(basic_authorization(u, p)));
        Self { basic, scope, server_kind, current: Mutex::new(None) }
    }

    /// Sends `token` (a bearer token already issued for `scope`, by an in-process caller that
    /// authenticated the user itself) with every request; no password is ever sent.
    pub fn with_token(token: &SecretString, scope: String, server_kind: &'static str) -> Self {
        let bearer = SecretString::from(format!("Bearer {}", token.expose_secret()));
        Self { basic: None, scope, server_kind, current: Mutex::new(Some(bearer)) }
    }

    /// Sends the request `build` makes; on a 401, authenticates per the challenge and retries
    /// once.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        method: http::Method,
        url: &str,
        build: impl Fn(reqwest::RequestBuilder) -> ClientResult<reqwest::RequestBuilder>,
    ) -> ClientResult<reqwest::Response> {
        let mut retried = false;
        loop {
            let mut req = build(http.request(method.clone(), url))?;
            let current = self.current.lock().map(|a| a.clone()).unwrap_or(None);
            if let Some(v) = current {
                req = req.header(header::AUTHORIZATION, v.expose_secret());
            }
            let resp = req.send().await.map_err(|source| ClientError::Http { url: url.to_owned(), source })?;
            if resp.status() != http::StatusCode::UNAUTHORIZED || retried {
                return Ok(resp);
            }
            retried = true;
            let challenge = resp
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_challenge)
                .ok_or_else(|| ClientError::Auth(format!("{url}: 401 without a usable challenge")))?;
            let value = match challenge {
                Challenge::Basic => self
                    .basic
                    .clone()
                    .ok_or_else(|| ClientError::Auth(format!("{} needs credentials", self.server_kind)))?,
                Challenge::Bearer { realm, service, .. } => {
                    let basic = self.basic.as_ref().map(|b| b.expose_secret().to_owned());
                    let token = fetch_token(http, &realm, service.as_deref(), &self.scope, basic.as_deref()).await?;
                    SecretString::from(format!("Bearer {token}"))
                }
            };
            if let Ok(mut current) = self.current.lock() {
                *current = Some(value);
            }
        }
    }
}

/// The `Authorization: Basic …` value for `(user, password)`.
pub fn basic_authorization(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// Retries of a token request the server answered with 429.
const MAX_TOKEN_RETRIES: u32 = 5;
/// The longest wait a 429's `Retry-After` may ask for.
const MAX_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// The wait a 429 asks for (`Retry-After` in seconds), at least 100 ms and at most
/// [`MAX_RETRY_AFTER`].
fn retry_after(resp: &reqwest::Response) -> std::time::Duration {
    let asked = resp
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(std::time::Duration::from_secs(1), std::time::Duration::from_secs);
    asked.clamp(std::time::Duration::from_millis(100), MAX_RETRY_AFTER)
}

/// Docker token protocol: `GET realm?scope=…&service=…` (with Basic credentials when given;
/// `scope` is a space-separated list, as in a challenge, sent as one parameter each; none
/// when it is empty)
/// and return the `token` (or `access_token`) of the JSON answer.
pub async fn fetch_token(
    http: &reqwest::Client,
    realm: &str,
    service: Option<&str>,
    scope: &str,
    basic: Option<&str>,
) -> ClientResult<String> {
    let mut retries = 0;
    let resp = loop {
        // No scope at all for a login: the token then only proves who asked.
        let mut req = http.get(realm);
        for one in scope.split_whitespace() {
            req = req.query(&[("scope", one)]);
        }
        if let Some(s) = service {
            req = req.query(&[("service", s)]);
        }
        if let Some(v) = basic {
            req = req.header(header::AUTHORIZATION, v);
        }
        let resp = req.send().await.map_err(|source| ClientError::Http { url: realm.to_owned(), source })?;
        // A server shedding a burst of logins says when to come back: do, a few times.
        if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || retries == MAX_TOKEN_RETRIES {
            break resp;
        }
        retries += 1;
        tokio::time::sleep(retry_after(&resp)).await;
    };
    if !resp.status().is_success() {
        return Err(ClientError::Auth(format!("token endpoint {realm}: HTTP {}", resp.status().as_u16())));
    }
    let body = super::read_capped(resp, super::MAX_TOKEN_BYTES)
        .await
        .map_err(|source| ClientError::Http { url: realm.to_owned(), source })?
        .ok_or_else(|| ClientError::TooLarge { url: realm.to_owned(), what: "token answer", limit: super::MAX_TOKEN_BYTES })?;
    let body: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| ClientError::Auth(format!("token endpoint {realm}: {e}")))?;
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
