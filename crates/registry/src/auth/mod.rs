//! Authentication (htpasswd Basic, Docker bearer tokens) and per-repository authorization.

mod gate;
mod htpasswd;
mod recent;
mod token;

use std::sync::Arc;

use base64::Engine as _;
use http::HeaderMap;

pub use gate::{CheckSlot, LoginGate, Refusal};
pub use htpasswd::{is_bcrypt_hash, Htpasswd};
pub use recent::{RecentLogins, RECENT_TTL};
pub use token::{AccessEntry, Claims, IssuedToken, Scope, TokenService, TokenVerifier};

use crate::config::{AuthMode, RegistryConfig, RepositoryRule};
use crate::error::Result;
use crate::names::RepoName;

/// What a request wants to do to a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read blobs, manifests, tags, referrers.
    Pull,
    /// Upload and tag.
    Push,
    /// Delete manifests and blobs; delete or rotate the keys of trust data (notary's `*`).
    Delete,
}

impl Action {
    /// The token-scope spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }
}

/// Where user names and passwords are checked: an htpasswd file, or the accounts of a trusted
/// registry (local users and a directory).
pub trait Credentials: Send + Sync {
    /// Whether `password` is `user`'s. Blocking (bcrypt, a directory): call from a blocking
    /// thread. Must not reveal through its timing whether `user` exists.
    fn verify(&self, user: &str, password: &str) -> bool;
    /// Whether `user:password` passed [`Self::verify`] lately, so that checking them again
    /// costs nothing (no password check to admit through the [`LoginGate`]).
    fn recently_verified(&self, user: &str, password: &str) -> bool;
}

/// Who may do what to a repository.
pub trait Authorizer: Send + Sync {
    /// Whether `who` may perform `action` on `name` (a repository name or a trust GUN; see
    /// [`governing_repo`] for how a GUN maps to its repository).
    fn allows(&self, who: &Identity, name: &str, action: Action) -> bool;
}

/// Users and rules that live outside the registry configuration (a trusted registry's
/// accounts): they replace the htpasswd file and the `[[repository]]` rules.
#[derive(Clone)]
pub struct Accounts {
    /// Who is who.
    pub credentials: Arc<dyn Credentials>,
    /// Who may do what.
    pub authorizer: Arc<dyn Authorizer>,
}

/// Where a request is served: the registry API, or the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `/v2/…`.
    Api,
    /// `/token`.
    Token,
}

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No (valid) credentials.
    Anonymous,
    /// An authenticated user.
    User(String),
}

impl Identity {
    /// The user name, if authenticated.
    pub fn user(&self) -> Option<&str> {
        match self {
            Self::Anonymous => None,
            Self::User(u) => Some(u),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// 401 with this `WWW-Authenticate` value.
    Unauthorized {
        /// Challenge header value.
        challenge: String,
    },
    /// 403: authenticated, but the policy forbids it.
    Denied,
}

/// Per-repository rules (first match wins).
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    rules: Vec<RepositoryRule>,
    open: bool,
}

impl AccessPolicy {
    /// Build from rules; `open` lets everyone do everything (auth mode `none`).
    pub fn new(rules: Vec<RepositoryRule>, open: bool) -> Self {
        Self { rules, open }
    }

    /// Whether `who` may perform `action` on `name`: a repository name or a trust GUN, judged by
    /// the rule of the repository `governing_repo` maps it to. A name that maps to no
    /// repository is refused (unless the policy is open). Deleting takes the right to push.
    pub fn allows(&self, who: &Identity, name: &str, action: Action) -> bool {
        if self.open {
            return true;
        }
        let Some(repo) = governing_repo(name) else { return false };
        let Some(rule) = self.rules.iter().find(|r| r.matches(repo.as_str())) else {
            return who.user().is_some();
        };
        let listed = |users: &[String]| {
            who.user().is_some_and(|u| users.iter().any(|x| x == "*" || x == u))
        };
        match action {
            Action::Pull => rule.public || listed(&rule.pull) || listed(&rule.push),
            Action::Push | Action::Delete => listed(&rule.push),
        }
    }
}

impl Authorizer for AccessPolicy {
    fn allows(&self, who: &Identity, name: &str, action: Action) -> bool {
        AccessPolicy::allows(self, who, name, action)
    }
}

enum Mode {
    None,
    Basic(Arc<dyn Credentials>),
    Token { users: Arc<dyn Credentials>, service: Box<TokenService>, realm: Option<String> },
}

/// Checks requests against the configured auth mode and policy.
pub struct Authenticator {
    mode: Mode,
    realm: String,
    policy: Arc<dyn Authorizer>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator").field("realm", &self.realm).finish_non_exhaustive()
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(rest.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_owned(), p.to_owned()))
}

/// The repository whose rules govern `name` (a repository name or a token scope's name): when
/// the first component is a host name as docker's reference parser decides
/// ([`palisade_reference::is_registry_host`]), the
/// repository after it; otherwise the name itself. So a trust GUN such as `127.0.0.1:5000/app`,
/// `localhost/app` or `registry.example.com/app` falls under the rule for `app`, one rule covers
/// an image and its signatures, and `None` (nothing valid after the host) grants nothing.
///
/// Invariant: applied once to a name as the client sent it, never to its own result (which may
/// itself start with a dotted component).
pub fn governing_repo(name: &str) -> Option<RepoName> {
    let repo = match name.split_once('/') {
        Some((first, rest)) if palisade_reference::is_registry_host(first) => rest,
        _ => name,
    };
    repo.parse().ok()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
}

impl Authenticator {
    /// Build from configuration (loads the htpasswd file and token key).
    pub fn from_config(config: &RegistryConfig) -> Result<Self> {
        let auth = &config.auth;
        let open = auth.effective_mode() == AuthMode::None;
        let users: Option<Arc<dyn Credentials>> = match &auth.htpasswd {
            Some(p) if !open => Some(Arc::new(Htpasswd::load(p)?)),
            _ => None,
        };
        let accounts = users.map(|credentials| Accounts {
            credentials,
            authorizer: Arc::new(AccessPolicy::new(config.repository.clone(), false)),
        });
        Self::build(config, accounts)
    }

    /// Build from configuration, with users and rules from `accounts` instead of the
    /// htpasswd file and the `[[repository]]` rules (loads the token key).
    pub fn with_accounts(config: &RegistryConfig, accounts: Accounts) -> Result<Self> {
        if config.auth.effective_mode() == AuthMode::None {
            return Err(crate::Error::Config { reason: "accounts need auth mode basic or token".into() });
        }
        Self::build(config, Some(accounts))
    }

    fn build(config: &RegistryConfig, accounts: Option<Accounts>) -> Result<Self> {
        let auth = &config.auth;
        let credentials = || -> Result<Arc<dyn Credentials>> {
            match &accounts {
                Some(a) => Ok(Arc::clone(&a.credentials)),
                None => Err(crate::Error::Config { reason: "auth mode basic/token needs an htpasswd file".into() }),
            }
        };
        let mode = match auth.effective_mode() {
            AuthMode::None => Mode::None,
            AuthMode::Basic => Mode::Basic(credentials()?),
            AuthMode::Token => {
                let t = &auth.token;
                let pem = match &t.key {
                    Some(p) => Some(std::fs::read_to_string(p).map_err(|source| {
                        crate::Error::ConfigRead { path: p.clone(), source }
                    })?),
                    None => None,
                };
                Mode::Token {
                    users: credentials()?,
                    service: Box::new(TokenService::new(&t.issuer, &t.service, t.ttl_seconds, pem.as_deref())?),
                    realm: t.realm.clone(),
                }
            }
        };
        let policy: Arc<dyn Authorizer> = match (&mode, accounts) {
            (Mode::None, _) => Arc::new(AccessPolicy::new(Vec::new(), true)),
            (_, Some(a)) => a.authorizer,
            (_, None) => Arc::new(AccessPolicy::new(config.repository.clone(), false)),
        };
        Ok(Self { mode, realm: auth.realm.clone(), policy })
    }

    /// The user name whose password a request to `endpoint` with `headers` makes us check
    /// (bcrypt), or `None` when it costs no password check. Callers pass it through a
    /// [`LoginGate`] first.
    pub fn password_check(&self, headers: &HeaderMap, endpoint: Endpoint) -> Option<String> {
        let users = match (&self.mode, endpoint) {
            (Mode::Basic(users), Endpoint::Api) | (Mode::Token { users, .. }, Endpoint::Token) => users,
            (Mode::None, _) | (Mode::Basic(_), Endpoint::Token) | (Mode::Token { .. }, Endpoint::Api) => return None,
        };
        let (user, password) = basic_credentials(headers)?;
        (!users.recently_verified(&user, &password)).then_some(user)
    }

    /// Who a request says it comes from, for the records of a refusal: the Basic user name, or
    /// the subject of a valid bearer token. Never used to authorize.
    pub fn claimed_user(&self, headers: &HeaderMap) -> Option<String> {
        if let Some((user, _)) = basic_credentials(headers) {
            return Some(user);
        }
        let service = self.token_service()?;
        let claims = service.verify(bearer(headers)?).ok()?;
        claims.subject().map(str::to_owned)
    }

    /// Whether `password` is `user`'s, by the registry's credentials (never in auth mode
    /// `none`). Blocking (bcrypt, a directory).
    pub fn verify_password(&self, user: &str, password: &str) -> bool {
        match &self.mode {
            Mode::Basic(users) | Mode::Token { users, .. } => users.verify(user, password),
            Mode::None => false,
        }
    }

    /// Whether `user:password` passed lately (checking them again costs nothing).
    pub fn recently_verified(&self, user: &str, password: &str) -> bool {
        match &self.mode {
            Mode::Basic(users) | Mode::Token { users, .. } => users.recently_verified(user, password),
            Mode::None => false,
        }
    }

    /// The token service, in token mode.
    pub fn token_service(&self) -> Option<&TokenService> {
        match &self.mode {
            Mode::Token { service, .. } => Some(service),
            _ => None,
        }
    }

    fn challenge(&self, base_url: &str, scope: Option<(&RepoName, Action)>, error: Option<&str>) -> String {
        match &self.mode {
            Mode::Token { service, realm, .. } => {
                let realm = realm.clone().unwrap_or_else(|| format!("{base_url}/token"));
                let mut c = format!("Bearer realm=\"{realm}\",service=\"{}\"", service.service());
                if let Some((repo, action)) = scope {
                    let actions = match action {
                        Action::Pull => "pull",
                        Action::Push => "pull,push",
                        Action::Delete => "delete",
                    };
                    c.push_str(&format!(",scope=\"repository:{repo}:{actions}\""));
                }
                if let Some(e) = error {
                    c.push_str(&format!(",error=\"{e}\""));
                }
                c
            }
            _ => format!("Basic realm=\"{}\"", self.realm),
        }
    }

    /// Authorize a request needing `required` (empty = any authenticated identity, e.g. `/v2/`).
    /// Blocking (bcrypt): call from `spawn_blocking`. `base_url` is `<scheme>://<host>`, used for
    /// the default token realm.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        required: &[(RepoName, Action)],
        base_url: &str,
    ) -> std::result::Result<Identity, Denial> {
        let first = required.first().map(|(r, a)| (r, *a));
        let unauthorized = |error: Option<&str>| Denial::Unauthorized { challenge: self.challenge(base_url, first, error) };
        match &self.mode {
            Mode::None => Ok(Identity::Anonymous),
            Mode::Basic(users) => {
                let who = match basic_credentials(headers) {
                    Some((u, p)) if users.verify(&u, &p) => Identity::User(u),
                    Some(_) => return Err(unauthorized(None)),
                    None => Identity::Anonymous,
                };
                self.check_policy(&who, required, || unauthorized(None))
            }
            Mode::Token { service, .. } => {
                let Some(token) = bearer(headers) else {
                    // Anonymous access to public repositories needs no token.
                    if !required.is_empty()
                        && required.iter().all(|(r, a)| self.policy.allows(&Identity::Anonymous, r.as_str(), *a))
                    {
                        return Ok(Identity::Anonymous);
                    }
                    return Err(unauthorized(None));
                };
                let claims = service.verify(token).map_err(|_| unauthorized(Some("invalid_token")))?;
                let who = claims.subject().map_or(Identity::Anonymous, |s| Identity::User(s.to_owned()));
                for (repo, action) in required {
                    if !claims.allows("repository", repo.as_str(), action.as_str()) {
                        // Ask for a better token only if the policy would grant one.
                        if self.policy.allows(&who, repo.as_str(), *action) {
                            return Err(unauthorized(Some("insufficient_scope")));
                        }
                        return Err(if who == Identity::Anonymous { unauthorized(None) } else { Denial::Denied });
                    }
                }
                Ok(who)
            }
        }
    }

    fn check_policy(
        &self,
        who: &Identity,
        required: &[(RepoName, Action)],
        unauthorized: impl Fn() -> Denial,
    ) -> std::result::Result<Identity, Denial> {
        if required.is_empty() && *who == Identity::Anonymous {
            return Err(unauthorized());
        }
        for (repo, action) in required {
            if !self.policy.allows(who, repo.as_str(), *action) {
                return Err(if *who == Identity::Anonymous { unauthorized() } else { Denial::Denied });
            }
        }
        Ok(who.clone())
    }

    /// Whether `who` may see `repo` in the catalog.
    pub fn can_list(&self, who: &Identity, repo: &str) -> bool {
        self.policy.allows(who, repo, Action::Pull)
    }

    /// Token endpoint logic: authenticate Basic credentials (if any) and issue a token granting
    /// the requested scopes intersected with the policy. Blocking (bcrypt).
    pub fn issue_token(&self, headers: &HeaderMap, scopes: &[Scope]) -> std::result::Result<IssuedToken, Denial> {
        let Mode::Token { users, .. } = &self.mode else {
            return Err(Denial::Denied);
        };
        let who = match basic_credentials(headers) {
            Some((u, p)) if users.verify(&u, &p) => Identity::User(u),
            Some(_) => return Err(Denial::Unauthorized { challenge: format!("Basic realm=\"{}\"", self.realm) }),
            None => Identity::Anonymous,
        };
        self.issue_for(&who, scopes)
    }

    /// A token for `who` granting the requested `scopes` intersected with the policy, as the
    /// token endpoint issues it — for an in-process surface that authenticated `who` itself
    /// (the console fetching trust data for its user). Token mode only.
    pub fn issue_for(&self, who: &Identity, scopes: &[Scope]) -> std::result::Result<IssuedToken, Denial> {
        let Mode::Token { service, .. } = &self.mode else {
            return Err(Denial::Denied);
        };
        let who = who.clone();
        let mut access = Vec::new();
        for scope in scopes {
            match scope.kind.as_str() {
                "repository" => {
                    let mut granted: Vec<String> = Vec::new();
                    for a in &scope.actions {
                        let candidates: &[(&str, Action)] = match a.as_str() {
                            "pull" => &[("pull", Action::Pull)],
                            "push" => &[("push", Action::Push)],
                            "delete" => &[("delete", Action::Delete)],
                            // `*` is granted as such (notary's delete and key rotation ask for it)
                            // to those who may delete; readers get `pull` out of it.
                            "*" => &[("*", Action::Delete), ("pull", Action::Pull)],
                            _ => &[],
                        };
                        for (name, action) in candidates {
                            if self.policy.allows(&who, &scope.name, *action) && !granted.iter().any(|g| g == name) {
                                granted.push((*name).to_owned());
                            }
                        }
                    }
                    access.push(AccessEntry { kind: "repository".into(), name: scope.name.clone(), actions: granted });
                }
                "registry" if scope.name == "catalog" && who != Identity::Anonymous => {
                    access.push(AccessEntry { kind: "registry".into(), name: "catalog".into(), actions: vec!["*".into()] });
                }
                _ => {}
            }
        }
        service.issue(who.user(), access).map_err(|_| Denial::Denied)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use base64::Engine as _;

    use super::*;

    fn authenticator(dir: &std::path::Path) -> Authenticator {
        let users = format!("{}\n{}\n", Htpasswd::entry("alice", "a").unwrap(), Htpasswd::entry("bob", "b").unwrap());
        std::fs::write(dir.join("htpasswd"), users).unwrap();
        let toml = format!(
            "[auth]\nmode = \"token\"\nhtpasswd = \"{}\"\n[[repository]]\nname = \"app\"\npush = [\"alice\"]\npull = [\"bob\"]\n",
            dir.join("htpasswd").display()
        );
        Authenticator::from_config(&RegistryConfig::from_toml(&toml).unwrap()).unwrap()
    }

    fn granted(auth: &Authenticator, user: &str, password: &str, scope: &str) -> Vec<AccessEntry> {
        let mut headers = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        headers.insert(http::header::AUTHORIZATION, format!("Basic {basic}").parse().unwrap());
        let issued = auth.issue_token(&headers, &[Scope::parse(scope).unwrap()]).unwrap();
        auth.token_service().unwrap().verify(&issued.token).unwrap().access
    }

    #[test]
    fn trust_gun_scopes_follow_the_repository_rule_and_keep_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let auth = authenticator(dir.path());
        let alice = granted(&auth, "alice", "a", "repository:127.0.0.1:5000/app:*");
        assert_eq!(alice[0].name, "127.0.0.1:5000/app");
        assert_eq!(alice[0].actions, vec!["*", "pull"]);
        let bob = granted(&auth, "bob", "b", "repository:127.0.0.1:5000/app:*");
        assert_eq!(bob[0].actions, vec!["pull"], "a reader gets no `*` out of a wildcard request");
        let bob_push = granted(&auth, "bob", "b", "repository:127.0.0.1:5000/app:push,pull");
        assert_eq!(bob_push[0].actions, vec!["pull"]);
        // A GUN grant is named as the GUN, which is never a registry repository name.
        assert!(!Claims { access: alice, ..claims_stub() }.allows("repository", "app", "push"));
    }

    #[test]
    fn host_prefixed_names_map_to_the_repository_after_the_host() {
        let map = |n: &str| governing_repo(n).map(|r| r.as_str().to_owned());
        for host in ["registry.example.com", "localhost", "127.0.0.1", "127.0.0.1:5000", "Host"] {
            assert_eq!(map(&format!("{host}/team/app")).as_deref(), Some("team/app"), "{host}");
        }
        assert_eq!(map("team/app").as_deref(), Some("team/app"));
        assert_eq!(map("app").as_deref(), Some("app"));
        for bad in ["localhost/", "a.b/Team", "a.b/x//y", "Team/app/"] {
            assert_eq!(map(bad), None, "{bad}");
        }
    }

    fn claims_stub() -> Claims {
        Claims { iss: String::new(), sub: String::new(), aud: String::new(), exp: 0, nbf: 0, iat: 0, jti: String::new(), access: vec![] }
    }
}
