//! Cross-site request forgery checks: the session's token in every form, and the browser's
//! own word on where a request comes from.

use axum::http::{header, HeaderMap};
use subtle::ConstantTimeEq as _;

/// The hidden form field carrying the token.
pub(crate) const FIELD: &str = "csrf";

/// Whether `given` is the session's token, compared in constant time (a length mismatch is
/// simply unequal).
pub(crate) fn token_matches(expected: &str, given: &str) -> bool {
    expected.as_bytes().ct_eq(given.as_bytes()).into()
}

/// Whether the browser says the request comes from this site. `Sec-Fetch-Site`, when sent
/// (every current browser), decides: `same-origin`, or `none` (typed by the user). Without
/// it, an `Origin` must name the host the request was sent to (`host`: the `Host` header,
/// or HTTP/2's `:authority`). `Origin: null` (which browsers send under our
/// `Referrer-Policy: no-referrer`) and requests with neither header (scripts) pass here and
/// rely on the token and the `SameSite=Strict` cookie.
pub(crate) fn same_origin(headers: &HeaderMap, host: Option<&str>) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return matches!(site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    if origin == "null" {
        return true;
    }
    let Some(host) = host else { return false };
    let origin_host = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    origin_host.is_some_and(|o| o.eq_ignore_ascii_case(host))
}

/// The host a request was sent to: its `Host` header (HTTP/1.1) or its URI's authority
/// (HTTP/2's `:authority`).
pub(crate) fn request_host(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned).or_else(|| uri.authority().map(|a| a.as_str().to_owned()))
}

/// The `csrf` field of a URL-encoded form body, if any.
pub(crate) fn token_in_form(body: &[u8]) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).ok()?;
    pairs.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let token = "a".repeat(64);
        assert!(token_matches(&token, &token));
        assert!(!token_matches(&token, &"a".repeat(63)));
        assert!(!token_matches(&token, &format!("{token}a")));
        assert!(!token_matches(&token, &format!("b{}", &token[1..])));
        assert!(!token_matches(&token, ""));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let host = Some("reg.example:5000");
        assert!(same_origin(&headers(&[]), host), "no browser headers: the token decides");
        assert!(same_origin(&headers(&[("origin", "https://reg.example:5000"), ("sec-fetch-site", "same-origin")]), host));
        assert!(!same_origin(&headers(&[("origin", "https://evil.example")]), host));
        assert!(!same_origin(&headers(&[("origin", "https://reg.example:5000.evil.example")]), host));
        assert!(same_origin(&headers(&[("origin", "null"), ("sec-fetch-site", "same-origin")]), host), "no-referrer: Origin null");
        assert!(!same_origin(&headers(&[("origin", "https://reg.example:5000"), ("sec-fetch-site", "cross-site")]), host));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site")]), host));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "same-site")]), host));
        assert!(!same_origin(&headers(&[("origin", "https://reg.example:5000")]), None), "an Origin without a host");
    }

    #[test]
    fn the_host_comes_from_the_header_or_the_http2_authority() {
        let uri: axum::http::Uri = "https://reg.example:5000/console/".parse().unwrap();
        assert_eq!(request_host(&headers(&[]), &uri).as_deref(), Some("reg.example:5000"));
        assert_eq!(request_host(&headers(&[("host", "other:1")]), &uri).as_deref(), Some("other:1"));
    }

    #[test]
    fn the_token_is_read_from_a_form_body() {
        assert_eq!(token_in_form(b"name=x&csrf=abc%20d").as_deref(), Some("abc d"));
        assert_eq!(token_in_form(b"name=x"), None);
        assert_eq!(token_in_form(b"\xff\xfe=%"), None);
    }
}
