//! What the console serves from, and its routes.

use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use palisade_accounts::Accounts;
use palisade_registry::Registry;

use crate::audit::AuditView;
use crate::certificate::CertificateInfo;
use crate::pages;
use crate::session::{SessionLimits, Sessions};
use crate::signers::SignerLookup;

/// Everything the console needs, built by `palisade registry serve --console`.
#[derive(Clone)]
pub struct Console {
    /// The access model (the same the JSON API and the token service use).
    pub accounts: Arc<Accounts>,
    /// The registry: its login gate and its storage.
    pub registry: Registry,
    /// The LDAP directory, if users come from one.
    pub directory: Option<Arc<palisade_ldap::Directory>>,
    /// How the storage is described on the settings page (`filesystem /srv/registry`, …).
    pub storage: String,
    /// The PEM certificate chain given to `--tls-cert`, if any.
    pub tls_certificate: Option<PathBuf>,
    /// The audit log, once there is one.
    pub audit: Option<Arc<dyn AuditView>>,
    /// Tag signers from a trust server, if one is configured.
    pub signers: Option<Arc<dyn SignerLookup>>,
    /// Session lifetimes.
    pub session_limits: SessionLimits,
}

/// The console and its sessions, shared by every handler.
pub(crate) struct App {
    pub(crate) console: Console,
    pub(crate) sessions: Sessions,
    /// The TLS certificate as read at start (or why it could not be read).
    pub(crate) certificate: Option<Result<CertificateInfo, String>>,
}

pub(crate) type AppState = Arc<App>;

/// The `/console/` routes (and `/console` → `/console/`). Every route goes through the
/// guard (sessions, CSRF, security headers).
pub fn router(console: Console) -> Router {
    let certificate = console.tls_certificate.as_deref().map(CertificateInfo::read);
    let sessions = Sessions::new(console.session_limits);
    let app: AppState = Arc::new(App { console, sessions, certificate });
    Router::new()
        .route("/console", get(pages::home))
        .route("/console/", get(pages::home))
        .route("/console/static/console.css", get(pages::stylesheet))
        .route("/console/login", get(pages::login::form).post(pages::login::submit))
        .route("/console/logout", post(pages::login::logout))
        .route("/console/repositories", get(pages::repositories::list).post(pages::repositories::create))
        .route("/console/repositories/{*name}", get(pages::repository::show).post(pages::repository::set_visibility))
        .route("/console/organisations", get(pages::organisations::list).post(pages::organisations::create))
        .route("/console/organisations/{org}", get(pages::organisations::show))
        .route("/console/organisations/{org}/teams", post(pages::organisations::create_team))
        .route("/console/organisations/{org}/teams/{team}/members", post(pages::organisations::add_member))
        .route("/console/organisations/{org}/teams/{team}/members/remove", post(pages::organisations::remove_member))
        .route("/console/organisations/{org}/teams/{team}/grants", post(pages::organisations::grant))
        .route("/console/organisations/{org}/teams/{team}/grants/revoke", post(pages::organisations::revoke))
        .route("/console/settings", get(pages::settings::show))
        .route("/console/settings/ldap-test", post(pages::settings::ldap_test))
        .route("/console/settings/gc", post(pages::settings::gc))
        .route("/console/audit", get(pages::audit::show))
        .route("/console/{*rest}", get(pages::not_found).post(pages::not_found))
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::guard::guard))
        .with_state(app)
}
