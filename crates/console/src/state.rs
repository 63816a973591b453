//! What the console serves from, and its routes.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::Router;
use palisade_accounts::Accounts;
use palisade_registry::Registry;

use crate::audit::AuditView;
use crate::certificate::{CertificateInfo, TlsCertificate};
use crate::pages;
use crate::scans::ScanLookup;
use crate::session::{SessionLimits, Sessions};
use crate::signers::SignerLookup;

/// Everything the console needs, built by `palisade registry serve --console` and `palisade up`.
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
    /// The certificate the registry serves, if it serves TLS.
    pub tls_certificate: TlsCertificate,
    /// The audit log, once there is one.
    pub audit: Option<Arc<dyn AuditView>>,
    /// Tag signers from a trust server, if one is configured.
    pub signers: Option<Arc<dyn SignerLookup>>,
    /// Scan results, if the registry scans what is pushed.
    pub scans: Option<Arc<dyn ScanLookup>>,
    /// Session lifetimes.
    pub session_limits: SessionLimits,
}

/// The console and its sessions, shared by every handler.
pub(crate) struct App {
    pub(crate) console: Console,
    pub(crate) sessions: Sessions,
    /// A `--tls-cert` file as read at start (or why it could not be read).
    certificate_file: Option<Result<CertificateInfo, String>>,
}

impl App {
    /// The certificate served now (or why it cannot be shown); `None` for plain HTTP.
    pub(crate) fn certificate(&self) -> Option<Result<CertificateInfo, String>> {
        match &self.console.tls_certificate {
            TlsCertificate::None => None,
            TlsCertificate::File(_) => self.certificate_file.clone(),
            TlsCertificate::Live(cert) => Some(CertificateInfo::from_der(&cert.current_leaf())),
        }
    }
}

pub(crate) type AppState = Arc<App>;

/// The `/console/` routes (and `/console` → `/console/`). Every route goes through the
/// guard (sessions, CSRF, security headers).
pub fn router(console: Console) -> Router {
    let certificate_file = match &console.tls_certificate {
        TlsCertificate::File(path) => Some(CertificateInfo::read(path)),
        TlsCertificate::None | TlsCertificate::Live(_) => None,
    };
    let sessions = Sessions::new(console.session_limits);
    let app: AppState = Arc::new(App { console, sessions, certificate_file });
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
        .route("/console/organisations/{org}/owners", post(pages::organisations::add_owner))
        .route("/console/organisations/{org}/teams", post(pages::organisations::create_team))
        .route("/console/organisations/{org}/teams/{team}/members", post(pages::organisations::add_member))
        .route("/console/organisations/{org}/teams/{team}/members/remove", post(pages::organisations::remove_member))
        .route("/console/organisations/{org}/teams/{team}/grants", post(pages::organisations::grant))
        .route("/console/organisations/{org}/teams/{team}/grants/revoke", post(pages::organisations::revoke))
        .route("/console/users", get(pages::users::list).post(pages::users::create))
        .route("/console/settings", get(pages::settings::show))
        .route("/console/settings/ldap-test", post(pages::settings::ldap_test))
        .route("/console/settings/gc", post(pages::settings::gc))
        .route("/console/audit", get(pages::audit::show))
        .route("/console/{*rest}", get(pages::not_found).post(pages::not_found))
        .layer(axum::middleware::from_fn_with_state(app.clone(), crate::guard::guard))
        .with_state(app)
}
