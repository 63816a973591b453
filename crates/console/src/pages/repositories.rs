//! The repositories the user may pull, with a search box and the "create repository" form.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use palisade_accounts::{ListedRepository, Visibility};
use serde::Deserialize;

use super::{failed, see_other};
use crate::error::{blocking, ConsoleError};
use crate::guard::Authed;
use crate::layout::{csrf_field, notice, page, respond, Notice};
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub(crate) struct Search {
    #[serde(default)]
    q: String,
}

/// What the page shows.
struct Listing {
    rows: Vec<ListedRepository>,
    namespaces: Vec<String>,
}

async fn listing(app: &AppState, user: &str) -> Result<Listing, ConsoleError> {
    let (accounts, store, user) = (app.console.accounts.clone(), app.console.registry.store().clone(), user.to_owned());
    blocking(move || {
        let rows = palisade_accounts::visible_repositories(&accounts, &store, Some(&user))?;
        let namespaces = palisade_accounts::managed_namespaces(&accounts, &user)?;
        Ok(Listing { rows, namespaces })
    })
    .await
}

pub(crate) fn visibility_badge(v: Visibility) -> Markup {
    match v {
        Visibility::Public => html! { span.badge.public { "public" } },
        Visibility::Private => html! { span.badge.private { "private" } },
    }
}

fn render(authed: &Authed, listing: &Listing, q: &str, note: Option<&Notice>) -> Markup {
    let needle = q.trim().to_lowercase();
    let shown: Vec<&ListedRepository> = listing.rows.iter().filter(|r| needle.is_empty() || r.name.contains(&needle)).collect();
    let body = html! {
        h1 { "Repositories" }
        p.sub { "The repositories you may pull." }
        (notice(note))
        div.card {
            form.row method="get" action="/console/repositories" role="search" {
                div.field { label for="q" { "Search" } input #q type="search" name="q" value=(q) placeholder="name contains…"; }
                button.secondary type="submit" { "Search" }
            }
        }
        div.card {
            table #repositories {
                thead { tr { th { "Name" } th { "Visibility" } } }
                tbody {
                    @for r in &shown {
                        tr { td { a href={ "/console/repositories/" (r.name) } { (r.name) } } td { (visibility_badge(r.visibility)) } }
                    }
                }
            }
            @if shown.is_empty() {
                p.empty { @if needle.is_empty() { "No repositories yet." } @else { "No repository matches \u{201c}" (q) "\u{201d}." } }
            }
        }
        div.card {
            h2 { "Create a repository" }
            form.row #create-repository method="post" action="/console/repositories" {
                (csrf_field(authed))
                div.field { label for="namespace" { "Namespace" }
                    select #namespace name="namespace" { @for n in &listing.namespaces { option value=(n) { (n) } } } }
                div.field { label for="name" { "Name" } input #name type="text" name="name" placeholder="app" required; }
                div.field { label for="visibility" { "Visibility" }
                    select #visibility name="visibility" { option value="private" selected { "private" } option value="public" { "public" } } }
                button type="submit" { "Create" }
            }
        }
    };
    page(authed, "repositories", "Repositories", body)
}

/// `GET /console/repositories?q=`.
pub(crate) async fn list(State(app): State<AppState>, Extension(authed): Extension<Authed>, Query(search): Query<Search>) -> Response {
    match listing(&app, &authed.session.user).await {
        Ok(l) => respond(StatusCode::OK, render(&authed, &l, &search.q, None)),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct NewRepository {
    namespace: String,
    name: String,
    visibility: String,
}

/// `POST /console/repositories`: `Accounts::create_repository`, as the API's.
pub(crate) async fn create(State(app): State<AppState>, Extension(authed): Extension<Authed>, Form(form): Form<NewRepository>) -> Response {
    let full = format!("{}/{}", form.namespace.trim(), form.name.trim());
    let (accounts, actor, name) = (app.console.accounts.clone(), authed.session.user.clone(), full.clone());
    let done = blocking(move || {
        let visibility: Visibility = form.visibility.parse()?;
        Ok(accounts.create_repository(&actor, &name, visibility)?)
    })
    .await;
    match done {
        Ok(r) => see_other(&format!("/console/repositories/{}", r.name)),
        Err(e) => match listing(&app, &authed.session.user).await {
            Ok(l) => respond(e.status(), render(&authed, &l, "", Some(&Notice::Error(format!("Could not create {full}: {e}"))))),
            Err(e) => failed(&e),
        },
    }
}
