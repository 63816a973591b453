//! Settings for administrators: authentication, the LDAP test, storage, the TLS certificate,
//! and a garbage-collection dry run.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::{html, Markup};
use palisade_registry::storage::GcMode;

use crate::error::{blocking, ConsoleError};
use crate::guard::Authed;
use crate::layout::{csrf_field, notice, page, respond, Notice};
use crate::state::AppState;

/// Uploads older than this count as stale in the dry run (as `palisade registry gc`'s default).
const UPLOAD_MAX_AGE: time::Duration = time::Duration::hours(24);

fn render(app: &AppState, authed: &Authed, note: Option<&Notice>) -> Markup {
    let console = &app.console;
    let body = html! {
        h1 { "Settings" }
        p.sub { "How this registry is configured. Change them with the flags of " code { "palisade registry serve" } "." }
        (notice(note))
        div.card {
            h2 { "Authentication" }
            dl.facts {
                dt { "Users" }
                dd #auth-mode { @match &console.directory {
                    Some(d) => { "Local accounts and LDAP directory " code { (d.config().url().to_string()) } },
                    None => "Local accounts",
                } }
            }
            @if console.directory.is_some() {
                form.row method="post" action="/console/settings/ldap-test".actions {
                    (csrf_field(authed))
                    button.secondary #ldap-test type="submit" { "Test the LDAP connection" }
                }
            }
        }
        div.card {
            h2 { "Storage" }
            dl.facts { dt { "Backend" } dd #storage { code { (console.storage) } } }
            form.row method="post" action="/console/settings/gc".actions {
                (csrf_field(authed))
                button.secondary #gc type="submit" { "Garbage collection: dry run" }
            }
        }
        div.card {
            h2 { "TLS certificate" }
            @match &app.certificate() {
                None => p.empty { "This registry serves plain HTTP (no " code { "--tls-cert" } ")." },
                Some(Err(e)) => div.notice.error { (e) },
                Some(Ok(c)) => dl.facts #certificate {
                    dt { "Subject" } dd { (c.subject) }
                    dt { "Issuer" } dd { (c.issuer) }
                    dt { "Names" } dd { (c.names.join(", ")) }
                    dt { "Expires" } dd { (c.not_after) }
                },
            }
        }
    };
    page(authed, "settings", "Settings", body)
}

/// What a non-administrator is told.
const ADMINS_ONLY: &str = "Settings are for administrators.";

/// `GET /console/settings`.
pub(crate) async fn show(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin(ADMINS_ONLY) {
        return refused;
    }
    respond(StatusCode::OK, render(&app, &authed, None))
}

/// `POST /console/settings/ldap-test`: `Directory::check()` (connect and bind).
pub(crate) async fn ldap_test(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin(ADMINS_ONLY) {
        return refused;
    }
    let note = match &app.console.directory {
        None => Notice::Error("This registry has no LDAP directory.".into()),
        Some(d) => match d.check().await {
            Ok(()) => Notice::Ok(format!("LDAP OK: connected and bound to {}.", d.config().url())),
            Err(e) => Notice::Error(format!("LDAP failed: {e}")),
        },
    };
    respond(StatusCode::OK, render(&app, &authed, Some(&note)))
}

/// `POST /console/settings/gc`: `Store::collect_garbage` in dry-run mode; deletes nothing.
pub(crate) async fn gc(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin(ADMINS_ONLY) {
        return refused;
    }
    let store = app.console.registry.store().clone();
    let cutoff = time::OffsetDateTime::now_utc() - UPLOAD_MAX_AGE;
    let report = blocking(move || {
        store.collect_garbage(GcMode::DryRun, cutoff).map_err(|e| ConsoleError::Storage(e.to_string()))
    })
    .await;
    let note = match report {
        Ok(r) => Notice::Ok(format!(
            "Dry run: {} blobs in use; {} unreferenced blobs and {} stale uploads would be deleted. Run `palisade registry gc` while no server writes to delete them.",
            r.blobs_kept,
            r.blobs_deleted.len(),
            r.uploads_deleted.len()
        )),
        Err(e) => Notice::Error(format!("Garbage collection failed: {e}")),
    };
    respond(StatusCode::OK, render(&app, &authed, Some(&note)))
}

