//! Organisations → teams → members and grants, for their owners and administrators.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use maud::{html, Markup};
use palisade_accounts::{Level, Organisation, Team};
use serde::Deserialize;

use super::{failed, see_other};
use crate::error::{blocking, ConsoleError};
use crate::guard::Authed;
use crate::layout::{csrf_field, notice, page, respond, Notice};
use crate::state::AppState;

/// The organisations `user` manages (all of them for administrators).
async fn managed(app: &AppState, user: &str) -> Result<Vec<Organisation>, ConsoleError> {
    let (accounts, user) = (app.console.accounts.clone(), user.to_owned());
    blocking(move || {
        let mut out = Vec::new();
        for org in accounts.organisations()? {
            if accounts.may_manage_organisation(&user, &org.name)? {
                out.push(org);
            }
        }
        Ok(out)
    })
    .await
}

fn render_list(authed: &Authed, orgs: &[Organisation], note: Option<&Notice>) -> Markup {
    let body = html! {
        h1 { "Organisations" }
        p.sub { "Organisations own a namespace; their owners manage its teams and repositories." }
        (notice(note))
        div.card {
            table #organisations {
                thead { tr { th { "Organisation" } th { "Owners" } } }
                tbody {
                    @for o in orgs {
                        tr { td { a href={ "/console/organisations/" (o.name) } { strong { (o.name) } } }
                             td { (o.owners.iter().cloned().collect::<Vec<_>>().join(", ")) } }
                    }
                }
            }
            @if orgs.is_empty() { p.empty { "You manage no organisation yet." } }
        }
        div.card {
            h2 { "Create an organisation" }
            form.row method="post" action="/console/organisations" {
                (csrf_field(authed))
                div.field { label for="org-name" { "Name" } input #org-name type="text" name="name" placeholder="acme" required; }
                button type="submit" { "Create" }
            }
        }
    };
    page(authed, "organisations", "Organisations", body)
}

/// `GET /console/organisations`.
pub(crate) async fn list(State(app): State<AppState>, Extension(authed): Extension<Authed>) -> Response {
    match managed(&app, &authed.session.user).await {
        Ok(orgs) => respond(StatusCode::OK, render_list(&authed, &orgs, None)),
        Err(e) => failed(&e),
    }
}

#[derive(Deserialize)]
pub(crate) struct Named {
    name: String,
    #[serde(default)]
    directory_group: String,
}

/// `POST /console/organisations`: `Accounts::create_organisation`.
pub(crate) async fn create(State(app): State<AppState>, Extension(authed): Extension<Authed>, Form(form): Form<Named>) -> Response {
    let (accounts, actor, name) = (app.console.accounts.clone(), authed.session.user.clone(), form.name.trim().to_owned());
    match blocking(move || Ok(accounts.create_organisation(&actor, &name)?)).await {
        Ok(o) => see_other(&format!("/console/organisations/{}", o.name)),
        Err(e) => match managed(&app, &authed.session.user).await {
            Ok(orgs) => respond(e.status(), render_list(&authed, &orgs, Some(&Notice::Error(e.to_string())))),
            Err(e) => failed(&e),
        },
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Read => "read",
        Level::Write => "write",
        Level::Admin => "admin",
    }
}

fn team_card(authed: &Authed, org: &str, t: &Team) -> Markup {
    let base = format!("/console/organisations/{org}/teams/{}", t.name);
    html! {
        div.team {
            h2 { "Team " (t.name)
                @if let Some(g) = &t.directory_group { " " span.badge { "directory group: " (g) } } }
            div.grid2 {
                div {
                    label { "Members" }
                    div.chips {
                        @for m in &t.members {
                            span.chip { (m)
                                form.inline method="post" action={ (base) "/members/remove" } {
                                    (csrf_field(authed)) input type="hidden" name="user" value=(m);
                                    button.danger type="submit" title={ "Remove " (m) } { "\u{d7}" }
                                }
                            }
                        }
                        @if t.members.is_empty() { span.empty { "No members added by hand." } }
                    }
                    form.row method="post" action={ (base) "/members" } {
                        (csrf_field(authed))
                        div.field { input type="text" name="user" placeholder="user name" required aria-label="User to add"; }
                        button.secondary type="submit" { "Add member" }
                    }
                }
                div {
                    label { "Repository grants" }
                    table {
                        tbody {
                            @for (repo, level) in &t.grants {
                                tr { td { a href={ "/console/repositories/" (repo) } { (repo) } } td { span.badge { (level_name(*level)) } }
                                     td { form.inline method="post" action={ (base) "/grants/revoke" } {
                                        (csrf_field(authed)) input type="hidden" name="repository" value=(repo);
                                        button.danger type="submit" { "Revoke" } } } }
                            }
                        }
                    }
                    @if t.grants.is_empty() { p.empty { "No grants." } }
                    form.row method="post" action={ (base) "/grants" } {
                        (csrf_field(authed))
                        div.field { input type="text" name="repository" placeholder={ (org) "/app" } required aria-label="Repository"; }
                        div.field { select name="level" aria-label="Level" { option value="read" { "read" } option value="write" { "write" } option value="admin" { "admin" } } }
                        button.secondary type="submit" { "Grant" }
                    }
                }
            }
        }
    }
}

/// An organisation's page: its owners and its teams.
struct OrgView {
    owners: Vec<String>,
    teams: Vec<Team>,
}

fn render_org(authed: &Authed, org: &str, view: &OrgView, note: Option<&Notice>) -> Markup {
    let teams = &view.teams;
    let body = html! {
        p { a href="/console/organisations" { "\u{2190} Organisations" } }
        h1 { (org) }
        p.sub { "Teams, their members and what they may do with the organisation's repositories." }
        (notice(note))
        div.card {
            h2 { "Owners" }
            p.sub { "Owners manage the organisation's teams, grants and repositories." }
            div.chips #owners { @for o in &view.owners { span.chip { (o) } } }
            form.row method="post" action={ "/console/organisations/" (org) "/owners" } {
                (csrf_field(authed))
                div.field { input #owner-name type="text" name="user" placeholder="user name" required aria-label="Owner to add"; }
                button.secondary type="submit" { "Add owner" }
            }
        }
        div.card {
            @for t in teams { (team_card(authed, org, t)) }
            @if teams.is_empty() { p.empty { "No teams yet." } }
        }
        div.card {
            h2 { "Create a team" }
            form.row method="post" action={ "/console/organisations/" (org) "/teams" } {
                (csrf_field(authed))
                div.field { label for="team-name" { "Name" } input #team-name type="text" name="name" placeholder="devs" required; }
                div.field { label for="team-group" { "Directory group (optional)" } input #team-group type="text" name="directory_group" placeholder="LDAP group"; }
                button type="submit" { "Create team" }
            }
        }
    };
    page(authed, "organisations", org, body)
}

async fn org_view(app: &AppState, user: &str, org: &str) -> Result<OrgView, ConsoleError> {
    let (accounts, user, org) = (app.console.accounts.clone(), user.to_owned(), org.to_owned());
    blocking(move || {
        // `teams_of` refuses those who may not manage the organisation, before owners are read.
        let teams = palisade_accounts::teams_of(&accounts, &user, &org)?;
        let owners = accounts.organisation(&org)?.map(|o| o.owners.into_iter().collect()).unwrap_or_default();
        Ok(OrgView { owners, teams })
    })
    .await
}

/// `GET /console/organisations/{org}`.
pub(crate) async fn show(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path(org): Path<String>) -> Response {
    match org_view(&app, &authed.session.user, &org).await {
        Ok(v) => respond(StatusCode::OK, render_org(&authed, &org, &v, None)),
        Err(e) => failed(&e),
    }
}

/// After a change on `org`'s page: back to it, or the page again with the error.
async fn after(app: &AppState, authed: &Authed, org: &str, done: Result<(), ConsoleError>) -> Response {
    match done {
        Ok(()) => see_other(&format!("/console/organisations/{org}")),
        Err(e) => match org_view(app, &authed.session.user, org).await {
            Ok(v) => respond(e.status(), render_org(authed, org, &v, Some(&Notice::Error(e.to_string())))),
            Err(e) => failed(&e),
        },
    }
}

/// `POST …/teams`: `Accounts::create_team`.
pub(crate) async fn create_team(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path(org): Path<String>, Form(form): Form<Named>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || {
        let group = Some(form.directory_group.trim()).filter(|g| !g.is_empty());
        accounts.create_team(&actor, &o, form.name.trim(), group)?;
        Ok(())
    })
    .await;
    after(&app, &authed, &org, done).await
}

#[derive(Deserialize)]
pub(crate) struct UserField {
    user: String,
}

/// `POST /console/organisations/{org}/owners`: `Accounts::add_owner`.
pub(crate) async fn add_owner(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path(org): Path<String>, Form(form): Form<UserField>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || Ok(accounts.add_owner(&actor, &o, form.user.trim())?)).await;
    after(&app, &authed, &org, done).await
}

/// `POST …/members`: `Accounts::add_member`.
pub(crate) async fn add_member(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path((org, team)): Path<(String, String)>, Form(form): Form<UserField>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || Ok(accounts.add_member(&actor, &o, &team, form.user.trim())?)).await;
    after(&app, &authed, &org, done).await
}

/// `POST …/members/remove`: `Accounts::remove_member`.
pub(crate) async fn remove_member(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path((org, team)): Path<(String, String)>, Form(form): Form<UserField>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || Ok(accounts.remove_member(&actor, &o, &team, &form.user)?)).await;
    after(&app, &authed, &org, done).await
}

#[derive(Deserialize)]
pub(crate) struct GrantForm {
    repository: String,
    #[serde(default)]
    level: String,
}

/// `POST …/grants`: `Accounts::grant`.
pub(crate) async fn grant(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path((org, team)): Path<(String, String)>, Form(form): Form<GrantForm>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || {
        let level: Level = form.level.parse()?;
        Ok(accounts.grant(&actor, &o, &team, form.repository.trim(), level)?)
    })
    .await;
    after(&app, &authed, &org, done).await
}

/// `POST …/grants/revoke`: `Accounts::revoke`.
pub(crate) async fn revoke(State(app): State<AppState>, Extension(authed): Extension<Authed>, Path((org, team)): Path<(String, String)>, Form(form): Form<GrantForm>) -> Response {
    let (accounts, actor, o) = (app.console.accounts.clone(), authed.session.user.clone(), org.clone());
    let done = blocking(move || Ok(accounts.revoke(&actor, &o, &team, &form.repository)?)).await;
    after(&app, &authed, &org, done).await
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::session::Session;

    #[test]
    fn hostile_team_and_repository_names_are_escaped() {
        let authed = Authed { session: Session { user: "<b>mallory</b>".into(), csrf: "t\"oken".into() }, id: "x".into(), admin: false };
        let evil = "<script>alert(1)</script>";
        let team = Team {
            organisation: "acme".into(),
            name: evil.into(),
            members: BTreeSet::from(["\"><img src=x onerror=alert(2)>".to_owned()]),
            directory_group: Some(evil.into()),
            grants: BTreeMap::from([(format!("acme/{evil}"), Level::Read)]),
        };
        let view = OrgView { owners: vec![evil.to_owned()], teams: vec![team] };
        let html = render_org(&authed, evil, &view, Some(&Notice::Error(evil.into()))).into_string();
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("<b>mallory"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("value=\"t&quot;oken\""), "attribute values are escaped too");
    }
}
