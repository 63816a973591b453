//! One repository: visibility (changeable by its managers), tags with digest, size and push
//! time, the pull command, (with a trust server) who signed each tag and (with a scanner) what
//! its scan found.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use palisade_accounts::Visibility;
use palisade_reference::{RepoName, Tag};
use palisade_registry::auth::Action;
use palisade_registry::storage::Store;
use palisade_registry::Reference;
use serde::Deserialize;
use time::OffsetDateTime;

use super::{failed, see_other};
use super::repositories::visibility_badge;
use crate::error::{blocking, ConsoleError};
use crate::guard::Authed;
use crate::layout::{csrf_field, notice, page, respond, Notice};
use crate::scans::{ScanLookup, ScanSummary};
use crate::signers::Signers;
use crate::state::AppState;

/// A tag as the page shows it.
struct TagRow {
    tag: String,
    /// `sha256:…`, or `None` when the tag's manifest cannot be read.
    digest: Option<String>,
    /// Config plus layers, from the manifest; `None` for an index or an unreadable one.
    size: Option<u64>,
    /// `image`, `index (3 manifests)`, …
    kind: String,
    /// When the tag was last pushed, if the storage keeps times.
    pushed: Option<OffsetDateTime>,
    /// The scan of its manifest, if the registry scans.
    scan: Option<ScanSummary>,
}

struct View {
    name: String,
    visibility: Visibility,
    manageable: bool,
    tags: Vec<TagRow>,
}

/// Total size of an image manifest's config and layers; for an index, the number of
/// manifests it lists.
fn describe(bytes: &[u8]) -> (Option<u64>, String) {
    let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes) else { return (None, "unreadable manifest".into()) };
    if let Some(list) = doc.get("manifests").and_then(|m| m.as_array()) {
        return (None, format!("index ({} manifests)", list.len()));
    }
    let config = doc.pointer("/config/size").and_then(serde_json::Value::as_u64).unwrap_or(0);
    let layers = doc.get("layers").and_then(|l| l.as_array()).map_or(0, |l| l.iter().filter_map(|d| d.get("size").and_then(serde_json::Value::as_u64)).sum());
    (Some(config.saturating_add(layers)), "image".into())
}

/// The tags of `repo`, newest push first (then by name).
fn tag_rows(store: &Store, scans: Option<&dyn ScanLookup>, repo: &RepoName) -> Vec<TagRow> {
    let mut rows = Vec::new();
    for name in store.tags(repo).unwrap_or_default() {
        let Ok(tag) = name.parse::<Tag>() else { continue };
        let manifest = store.get_manifest(repo, &Reference::Tag(tag.clone())).ok();
        let pushed = store.tag_pushed_at(repo, &tag).ok().flatten().map(OffsetDateTime::from);
        let row = match manifest {
            Some(m) => {
                let (size, kind) = describe(&m.bytes);
                let digest = m.digest.to_string();
                let scan = scans.map(|s| s.summary(repo.as_str(), &digest));
                TagRow { tag: name, digest: Some(digest), size, kind, pushed, scan }
            }
            None => TagRow { tag: name, digest: None, size: None, kind: "unreadable manifest".into(), pushed, scan: None },
        };
        rows.push(row);
    }
    rows.sort_by(|a, b| b.pushed.cmp(&a.pushed).then_with(|| a.tag.cmp(&b.tag)));
    rows
}

/// `2026-12-03 19:20 UTC`.
fn pushed_text(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{:04}-{:02}-{:02} {:02}:{:02} UTC", at.year(), u8::from(at.month()), at.day(), at.hour(), at.minute())
}

/// The scan cell: severity badges, or where the scan stands.
fn scan_cell(scan: &ScanSummary) -> Markup {
    match scan {
        ScanSummary::NotScanned => html! { span.muted { "not scanned" } },
        ScanSummary::Pending => html! { span.muted { "scanning\u{2026}" } },
        ScanSummary::Failed(why) => html! { span.badge.private title=(why) { "scan failed" } },
        ScanSummary::Done { advisories: false, packages, .. } => {
            html! { span.muted { (packages) " packages; no advisory database to match" } }
        }
        ScanSummary::Done { findings, packages, .. } if findings.total() == 0 => {
            html! { span.badge.public { "no known vulnerabilities" } " " span.muted { (packages) " packages" } }
        }
        ScanSummary::Done { findings, .. } => html! {
            @for (n, severity) in findings.nonzero() { span class={ "badge sev-" (severity) } { (n) " " (severity) } " " }
            span.muted { (findings.fixable) " fixable" }
        },
    }
}

/// Bytes in KB/MB/GB (powers of 1000, as registries show them).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if value < 1000.0 {
            break;
        }
        value /= 1000.0;
        unit = u;
    }
    format!("{value:.1} {unit}")
}

async fn view(app: &AppState, user: &str, name: &str) -> Result<View, ConsoleError> {
    let repo: RepoName = name.parse().map_err(|e: palisade_reference::ReferenceError| ConsoleError::BadRequest(e.to_string()))?;
    let (accounts, store, user) = (app.console.accounts.clone(), app.console.registry.store().clone(), user.to_owned());
    let scans = app.console.scans.clone();
    blocking(move || {
        if !accounts.allows(Some(&user), &repo, Action::Pull)? {
            // As the API: a private repository's existence is not told.
            return Err(ConsoleError::NotFound(format!("repository {repo}")));
        }
        let visibility = accounts.repository(repo.as_str())?.map_or(Visibility::Private, |r| r.visibility);
        let manageable = accounts.may_manage_repository(&user, &repo)?;
        Ok(View { name: repo.to_string(), visibility, manageable, tags: tag_rows(&store, scans.as_deref(), &repo) })
    })
    .await
}

/// The host the browser used (for the pull command), else the listening address is unknown
/// and a placeholder is shown.
fn host(headers: &HeaderMap, uri: &Uri) -> String {
    crate::csrf::request_host(headers, uri).unwrap_or_else(|| "REGISTRY".to_owned())
}

fn render(authed: &Authed, v: &View, host: &str, signers: Option<&Result<Signers, String>>, note: Option<&Notice>) -> Markup {
    let first_tag = v.tags.first().map_or("TAG", |t| t.tag.as_str());
    let scanned = v.tags.iter().any(|t| t.scan.is_some());
    let body = html! {
        p { a href="/console/repositories" { "\u{2190} Repositories" } }
        h1 #repository-name { (v.name) " " (visibility_badge(v.visibility)) }
        p.sub { (v.tags.len()) " tag" @if v.tags.len() != 1 { "s" } }
        (notice(note))
        div.card {
            h2 { "Pull" }
            div.pull { code #pull-command { "docker pull " (host) "/" (v.name) ":" (first_tag) } }
        }
        div.card {
            h2 { "Tags" }
            @if let Some(Err(e)) = signers { div.notice.info { "Signers unavailable: " (e) } }
            table #tags {
                thead { tr {
                    th { "Tag" } th { "Digest" } th { "Size" } th { "Kind" } th { "Pushed" }
                    @if signers.is_some() { th { "Signed by" } }
                    @if scanned { th { "Vulnerabilities" } }
                } }
                tbody {
                    @for t in &v.tags {
                        tr {
                            td { strong { (t.tag) } }
                            td.mono.digest { (t.digest.as_deref().unwrap_or("\u{2014}")) }
                            td.size { (t.size.map(human_size).unwrap_or_else(|| "\u{2014}".into())) }
                            td { (t.kind) }
                            td.pushed { (t.pushed.map(pushed_text).unwrap_or_else(|| "\u{2014}".into())) }
                            @if let Some(found) = signers {
                                td.signers {
                                    @let names = match (found, &t.digest) { (Ok(s), Some(d)) => s.get(d).cloned().unwrap_or_default(), _ => Vec::new() };
                                    @if names.is_empty() { span.badge.private { "unsigned" } }
                                    @for n in &names { span.badge.public { (n) } " " }
                                }
                            }
                            @if scanned {
                                td.scan { @if let Some(scan) = &t.scan { (scan_cell(scan)) } @else { "\u{2014}" } }
                            }
                        }
                    }
                }
            }
            @if v.tags.is_empty() { p.empty { "No tags yet. Push one with " code { "docker push " (host) "/" (v.name) ":TAG" } "." } }
        }
        @if v.manageable {
            div.card {
                h2 { "Visibility" }
                p.sub { "Public repositories can be pulled by anyone, without logging in." }
                form.row #visibility-form method="post" action={ "/console/repositories/" (v.name) } {
                    (csrf_field(authed))
                    div.field { label for="visibility" { "Visibility" }
                        select #visibility name="visibility" {
                            option value="private" selected[v.visibility == Visibility::Private] { "private" }
                            option value="public" selected[v.visibility == Visibility::Public] { "public" }
                        }
                    }
                    button type="submit" { "Save" }
                }
            }
        }
    };
    page(authed, "repositories", &v.name, body)
}

async fn signers_for(app: &AppState, user: &str, host: &str, v: &View) -> Option<Result<Signers, String>> {
    let lookup = app.console.signers.as_ref()?;
    let digests: Vec<String> = v.tags.iter().filter_map(|t| t.digest.clone()).collect();
    Some(lookup.signers(user, host, &v.name, &digests).await)
}

/// `GET /console/repositories/{name}`.
pub(crate) async fn show(State(app): State<AppState>, Extension(authed): Extension<Authed>, headers: HeaderMap, uri: Uri, Path(name): Path<String>) -> Response {
    match view(&app, &authed.session.user, &name).await {
        Ok(v) => {
            let host = host(&headers, &uri);
            let signers = signers_for(&app, &authed.session.user, &host, &v).await;
            respond(StatusCode::OK, render(&authed, &v, &host, signers.as_ref(), None))
        }
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct VisibilityChange {
    visibility: String,
}

/// `POST /console/repositories/{name}`: `Accounts::set_visibility`, as the API's.
pub(crate) async fn set_visibility(
    State(app): State<AppState>,
    Extension(authed): Extension<Authed>,
    headers: HeaderMap,
    uri: Uri,
    Path(name): Path<String>,
    Form(form): Form<VisibilityChange>,
) -> Response {
    let (accounts, actor, target) = (app.console.accounts.clone(), authed.session.user.clone(), name.clone());
    let done = blocking(move || {
        let visibility: Visibility = form.visibility.parse()?;
        Ok(accounts.set_visibility(&actor, &target, visibility)?)
    })
    .await;
    match done {
        Ok(()) => see_other(&format!("/console/repositories/{name}")),
        Err(e) => match view(&app, &authed.session.user, &name).await {
            Ok(v) => respond(e.status(), render(&authed, &v, &host(&headers, &uri), None, Some(&Notice::Error(e.to_string())))),
            Err(e) => failed(&e),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_size_is_config_plus_layers() {
        let m = br#"{"schemaVersion":2,"config":{"size":100},"layers":[{"size":1000},{"size":2345}]}"#;
        assert_eq!(describe(m), (Some(3445), "image".to_owned()));
        let i = br#"{"schemaVersion":2,"manifests":[{"size":1},{"size":2}]}"#;
        assert_eq!(describe(i), (None, "index (2 manifests)".to_owned()));
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(3445), "3.4 kB");
        assert_eq!(human_size(12_500_000), "12.5 MB");
    }
}
