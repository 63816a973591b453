//! Users, for administrators: who can log in (local or from the directory, with the groups
//! seen at the last sync) and a form that adds a local user, as `POST /api/v1/users` does.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use palisade_accounts::{User, UserSource};
use serde::Deserialize;

use super::{failed, see_other};
use crate::error::{blocking, ConsoleError};
use crate::guard::Authed;
use crate::layout::{csrf_field, notice, page, respond, Notice};
use crate::state::AppState;

/// What a non-administrator is told.
const ADMINS_ONLY: &str = "Users are managed by administrators.";

async fn users(app: &AppState) -> Result<Vec<User>, ConsoleError> {
    let accounts = app.console.accounts.clone();
    blocking(move || Ok(accounts.users()?)).await
}

fn source(u: &User) -> Markup {
    match &u.source {
        UserSource::Local { .. } => html! { "local" },
        UserSource::Directory { dn, groups } => html! {
            "directory " code { (dn) }
            @if !groups.is_empty() { br; span.muted { "groups: " (groups.iter().cloned().collect::<Vec<_>>().join(", ")) } }
        },
    }
}

fn render(authed: &Authed, rows: &[User], note: Option<&Notice>) -> Markup {
    let body = html! {
        h1 { "Users" }
        p.sub { "Everyone who can log in. Directory users appear after their first login or a sync." }
        (notice(note))
        div.card {
            table #users {
                thead { tr { th { "User" } th { "Source" } th { "Role" } } }
                tbody {
                    @for u in rows {
                        tr { td { strong { (u.name) } } td { (source(u)) }
                             td { @if u.admin { span.badge.admin { "administrator" } } @else { "user" } } }
                    }
                }
            }
        }
        div.card {
            h2 { "Add a local user" }
            p.sub { "The user's name is also its namespace. Passwords have at least 8 characters and are kept only as a bcrypt hash." }
            form.row #add-user method="post" action="/console/users" {
                (csrf_field(authed))
                div.field { label for="new-name" { "Name" } input #new-name type="text" name="name" placeholder="alice" required; }
                div.field { label for="new-password" { "Password" } input #new-password type="password" name="password" autocomplete="new-password" required minlength="8"; }
                div.field { label for="new-admin" { "Administrator" } input #new-admin type="checkbox" name="admin" value="on"; }
                button type="submit" { "Add user" }
            }
        }
    };
    page(authed, "users", "Users", body)
}

/// `GET /console/users` (administrators).
pub(crate) async fn list(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin(ADMINS_ONLY) {
        return refused;
    }
    match users(&app).await {
        Ok(rows) => respond(StatusCode::OK, render(&authed, &rows, None)),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewUser {
    name: String,
    password: String,
    /// A checked checkbox sends `on`; an unchecked one sends nothing.
    #[serde(default)]
    admin: Option<String>,
}

/// `POST /console/users` (administrators): `Accounts::add_local_user`, as the API's.
pub(crate) async fn create(State(app): State<AppState>, Extension(authed): Extension<Authed>, Form(form): Form<NewUser>) -> Response {
    if let Some(refused) = authed.refuse_unless_admin(ADMINS_ONLY) {
        return refused;
    }
    let (accounts, actor) = (app.console.accounts.clone(), authed.session.user.clone());
    let name = form.name.trim().to_owned();
    let admin = form.admin.is_some();
    let done = blocking(move || Ok(accounts.add_local_user(&actor, &name, &form.password, admin)?)).await;
    match done {
        Ok(_) => see_other("/console/users"),
        Err(e) => match users(&app).await {
            Ok(rows) => respond(e.status(), render(&authed, &rows, Some(&Notice::Error(format!("Could not add the user: {e}"))))),
            Err(e) => failed(&e),
        },
    }
}
