//! The page frame (header with the user and logout, left navigation) and shared pieces.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, PreEscaped, DOCTYPE};

use crate::guard::Authed;

/// The stylesheet served at `/console/static/console.css`.
pub(crate) const STYLESHEET: &str = include_str!("../static/console.css");

/// The navigation entries: (key, label, path, administrators only).
const NAV: [(&str, &str, &str, bool); 5] = [
    ("repositories", "Repositories", "/console/repositories", false),
    ("organisations", "Organisations", "/console/organisations", false),
    ("users", "Users", "/console/users", true),
    ("audit", "Audit log", "/console/audit", true),
    ("settings", "Settings", "/console/settings", true),
];

/// A message above a page's content.
pub(crate) enum Notice {
    /// Something was refused or failed.
    Error(String),
    /// Something worked.
    Ok(String),
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " · Palisade" }
            link rel="stylesheet" href="/console/static/console.css";
        }
    }
}

fn brand() -> Markup {
    html! { span.brand { span.mark { (PreEscaped("&#9635;")) } "Palisade" small { "Registry console" } } }
}

/// The hidden CSRF field every form of the session carries.
pub(crate) fn csrf_field(authed: &Authed) -> Markup {
    html! { input type="hidden" name=(crate::csrf::FIELD) value=(authed.session.csrf); }
}

/// Shows a notice, if any.
pub(crate) fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @match notice {
            Some(Notice::Error(m)) => div.notice.error role="alert" { (m) },
            Some(Notice::Ok(m)) => div.notice.ok role="status" { (m) },
            None => {},
        }
    }
}

/// A full page for a logged-in user: `active` is the navigation key to highlight.
pub(crate) fn page(authed: &Authed, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                header.top {
                    a href="/console/repositories" { (brand()) }
                    div.who {
                        span { "Signed in as " strong #current-user { (authed.session.user) } }
                        @if authed.admin { span.badge.admin { "administrator" } }
                        form.inline method="post" action="/console/logout" {
                            (csrf_field(authed))
                            button.secondary type="submit" { "Log out" }
                        }
                    }
                }
                div.shell {
                    nav.side {
                        div.section { "Registry" }
                        @for (key, label, path, admin_only) in NAV {
                            @if !admin_only || authed.admin {
                                a href=(path) class=@if key == active { "active" } { (label) }
                            }
                        }
                    }
                    main { (body) }
                }
            }
        }
    }
}

/// The page for a refusal or failure that has no page of its own.
pub(crate) fn error_page(status: StatusCode, message: &str) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            (head(status.canonical_reason().unwrap_or("Error")))
            body.login-wrap {
                div.login {
                    (brand())
                    h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
                    p.sub { (message) }
                    a href="/console/repositories" { "Back to the console" }
                }
            }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// A rendered page with a status.
pub(crate) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, Html(markup.into_string())).into_response()
}

/// The login page (also used to show a failed login).
pub(crate) fn login_page(error: Option<&str>, user: &str) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head("Log in"))
            body.login-wrap {
                div.login {
                    (brand())
                    p.sub { "Sign in with your registry account or your directory (LDAP) login." }
                    @if let Some(e) = error { div.notice.error role="alert" #login-error { (e) } }
                    form method="post" action="/console/login" {
                        div.field { label for="user" { "User name" } input #user type="text" name="user" value=(user) autocomplete="username" required autofocus; }
                        div.field { label for="password" { "Password" } input #password type="password" name="password" autocomplete="current-password" required; }
                        button type="submit" { "Log in" }
                    }
                    p.foot { "Palisade trusted registry" }
                }
            }
        }
    }
}
