//! The audit log page: the entries an [`crate::AuditView`] returns, or "not configured".

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use maud::html;

use crate::error::blocking;
use crate::guard::Authed;
use crate::layout::{page, respond};
use crate::state::AppState;

/// How many entries the page lists.
const SHOWN: usize = 200;

/// `GET /console/audit` (administrators).
pub(crate) async fn show(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin("The audit log is for administrators.") {
        return refused;
    }
    let rows = match app.console.audit.clone() {
        None => None,
        Some(view) => Some(blocking(move || Ok(view.recent(SHOWN))).await.unwrap_or_else(|e| Err(e.to_string()))),
    };
    let body = html! {
        h1 { "Audit log" }
        p.sub { "Who changed what, newest first." }
        @match &rows {
            None => div.notice.info #audit-not-configured { "The audit log is not configured on this registry." },
            Some(Err(e)) => div.notice.error { "The audit log cannot be read: " (e) },
            Some(Ok(rows)) => div.card {
                table {
                    thead { tr { th { "Time" } th { "Who" } th { "Action" } th { "On" } th { "Outcome" } } }
                    tbody { @for r in rows { tr { td.mono { (r.time) } td { (r.actor) } td { (r.action) } td { (r.target) } td { (r.outcome) } } } }
                }
                @if rows.is_empty() { p.empty { "No entries yet." } }
            },
        }
    };
    respond(StatusCode::OK, page(&authed, "audit", "Audit log", body))
}
