//! Tag lists, the catalog (both paginated with `n`/`last` and `Link`), and the referrers API.

use axum::response::{IntoResponse, Response};
use http::header;
use serde_json::json;

use super::errors::ApiError;
use super::{blocking, query_param, Registry};
use crate::auth::Identity;
use crate::Digest;
use crate::error::Error;
use crate::manifest::MediaType;
use crate::names::RepoName;

/// Apply `n`/`last` to a sorted list; returns the page and whether more follow.
fn paginate(all: Vec<String>, query: &str, cap: usize) -> Result<(Vec<String>, bool), Error> {
    let n = match query_param(query, "n") {
        None => cap,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| Error::PaginationInvalid { reason: "n must be a non-negative integer" })?
            .min(cap as u64) as usize,
    };
    let last = query_param(query, "last");
    let mut rest: Vec<String> = match &last {
        Some(l) => all.into_iter().filter(|x| x.as_str() > l.as_str()).collect(),
        None => all,
    };
    let more = rest.len() > n;
    rest.truncate(n);
    Ok((rest, more))
}

fn link(path: &str, page: &[String], query: &str, cap: usize) -> Option<String> {
    let last = page.last()?;
    let n = query_param(query, "n").and_then(|v| v.parse::<u64>().ok()).map_or(cap as u64, |n| n.min(cap as u64));
    let last: String = form_urlencoded::byte_serialize(last.as_bytes()).collect();
    Some(format!("<{path}?n={n}&last={last}>; rel=\"next\""))
}

pub(super) async fn tags(reg: Registry, repo: RepoName, query: &str) -> Result<Response, ApiError> {
    let cap = reg.limits().max_page_entries;
    let store = reg.store().clone();
    let r = repo.clone();
    let all = blocking(move || store.tags(&r)).await?;
    let (page, more) = paginate(all, query, cap)?;
    let mut resp = axum::Json(json!({ "name": repo.as_str(), "tags": page })).into_response();
    if more {
        if let Some(l) = link(&format!("/v2/{repo}/tags/list"), &page, query, cap) {
            if let Ok(v) = l.parse() {
                resp.headers_mut().insert(header::LINK, v);
            }
        }
    }
    Ok(resp)
}

pub(super) async fn catalog(reg: Registry, who: Identity, query: &str) -> Result<Response, ApiError> {
    let cap = reg.limits().max_page_entries;
    let store = reg.store().clone();
    let all = blocking(move || store.repositories()).await?;
    let visible: Vec<String> = all.into_iter().filter(|r| reg.auth().can_list(&who, r)).collect();
    let (page, more) = paginate(visible, query, cap)?;
    let mut resp = axum::Json(json!({ "repositories": page })).into_response();
    if more {
        if let Some(l) = link("/v2/_catalog", &page, query, cap) {
            if let Ok(v) = l.parse() {
                resp.headers_mut().insert(header::LINK, v);
            }
        }
    }
    Ok(resp)
}

pub(super) async fn referrers(reg: Registry, repo: RepoName, digest: &str, query: &str) -> Result<Response, ApiError> {
    let subject: Digest = digest.parse()?;
    let filter = query_param(query, "artifactType");
    let store = reg.store().clone();
    let mut found = blocking(move || store.referrers(&repo, &subject)).await?;
    if let Some(f) = &filter {
        found.retain(|d| d.artifact_type.as_deref() == Some(f.as_str()));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MediaType::OciIndex.as_str(),
        "manifests": found,
    });
    let mut resp = axum::Json(index).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, http::HeaderValue::from_static("application/vnd.oci.image.index.v1+json"));
    if filter.is_some() {
        resp.headers_mut().insert("oci-filters-applied", http::HeaderValue::from_static("artifactType"));
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination() {
        let all: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(paginate(all.clone(), "n=2", 100).unwrap(), (vec!["a".into(), "b".into()], true));
        assert_eq!(paginate(all.clone(), "n=2&last=b", 100).unwrap(), (vec!["c".into(), "d".into()], false));
        assert_eq!(paginate(all.clone(), "n=99999999999", 3).unwrap().0.len(), 3);
        assert!(paginate(all.clone(), "n=-1", 3).is_err());
        assert!(paginate(all, "n=1e99", 3).is_err());
    }
}
