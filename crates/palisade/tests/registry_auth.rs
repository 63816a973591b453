//! Authentication and authorization: htpasswd Basic auth (against Palisade and distribution),
//! per-repository rules (403 DENIED), the Docker token protocol, and startup refusal of
//! non-bcrypt htpasswd entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use base64::Engine as _;
use support::{error_code, sha256, start, Kind, Opts, Server};

fn users() -> Vec<(String, String)> {
    vec![("alice".into(), "alice-pw".into()), ("bob".into(), "bob-pw".into())]
}

fn basic_auth_challenge_and_wrong_password(kind: Kind) {
    let s = start(kind, &Opts { users: users(), ..Opts::default() });
    let c = s.client();
    let r = c.get(s.url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.starts_with("Basic realm=\""), "{challenge}");
    assert_eq!(error_code(&r.text().unwrap()), "UNAUTHORIZED");
    let r = c.get(s.url("/v2/")).basic_auth("alice", Some("wrong")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic realm="));
    let r = c.get(s.url("/v2/")).basic_auth("nobody", Some("alice-pw")).send().unwrap();
    assert_eq!(r.status(), 401);
    let r = c.get(s.url("/v2/")).basic_auth("alice", Some("alice-pw")).send().unwrap();
    assert_eq!(r.status(), 200);
    // Unauthenticated pushes store nothing.
    let r = c.post(s.url(&format!("/v2/anon/blobs/uploads/?digest={}", sha256(b"x")))).body("x").send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(!s.storage_root_contains("anon"));
}

both_kinds!(basic_auth_challenge_and_wrong_password);

const RULES: &str = r#"
[[repository]]
name = "public/*"
public = true
push = ["alice"]

[[repository]]
name = "team/app"
pull = ["bob"]
push = ["alice"]
"#;

fn upload(s: &Server, auth: &dyn Fn(reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder, repo: &str) -> reqwest::blocking::Response {
    let c = s.client();
    auth(c.post(s.url(&format!("/v2/{repo}/blobs/uploads/")))).send().unwrap()
}

#[test]
fn basic_auth_repository_rules_palisade() {
    let s = start(Kind::Palisade, &Opts { users: users(), palisade_config: Some(RULES.into()), ..Opts::default() });
    let alice = |b: reqwest::blocking::RequestBuilder| b.basic_auth("alice", Some("alice-pw"));
    let bob = |b: reqwest::blocking::RequestBuilder| b.basic_auth("bob", Some("bob-pw"));
    let anon = |b: reqwest::blocking::RequestBuilder| b;
    assert_eq!(upload(&s, &alice, "team/app").status(), 202);
    let r = upload(&s, &bob, "team/app");
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(&r.text().unwrap()), "DENIED");
    let r = upload(&s, &anon, "team/app");
    assert_eq!(r.status(), 401);
    let c = s.client();
    // bob may pull team/app; anonymous may pull public/* but not push there.
    let r = bob(c.get(s.url("/v2/team/app/tags/list"))).send().unwrap();
    assert_eq!(r.status(), 404, "authorized, repository just does not exist yet");
    assert_eq!(c.get(s.url("/v2/public/x/tags/list")).send().unwrap().status(), 404);
    assert_eq!(upload(&s, &anon, "public/x").status(), 401);
    assert_eq!(upload(&s, &bob, "public/x").status(), 403);
    // Unlisted repositories: any authenticated user.
    assert_eq!(upload(&s, &bob, "bob/own").status(), 202);
}

const TOKEN: &str = r#"
[auth]
mode = "token"
realm = "palisade-test"

[[repository]]
name = "team/app"
pull = ["bob"]
push = ["alice"]
"#;

fn jwt_claims(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn get_token(s: &Server, creds: Option<(&str, &str)>, scope: &str) -> reqwest::blocking::Response {
    let mut b = s.client().get(s.url("/token")).query(&[("service", "palisade-registry"), ("scope", scope)]);
    if let Some((u, p)) = creds {
        b = b.basic_auth(u, Some(p));
    }
    b.send().unwrap()
}

#[test]
fn token_auth_protocol_palisade() {
    let s = start(Kind::Palisade, &Opts { users: users(), palisade_config: Some(TOKEN.into()), ..Opts::default() });
    let c = s.client();
    // Challenges point at the embedded token endpoint, with the scope the request needs.
    let r = c.get(s.url("/v2/")).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Bearer realm=\"{}/token\",service=\"palisade-registry\"", s.base())
    );
    let r = c.post(s.url("/v2/team/app/blobs/uploads/")).send().unwrap();
    assert_eq!(
        r.headers()["www-authenticate"].to_str().unwrap(),
        format!("Bearer realm=\"{}/token\",service=\"palisade-registry\",scope=\"repository:team/app:pull,push\"", s.base())
    );
    // Wrong password at the token endpoint.
    let r = get_token(&s, Some(("alice", "nope")), "repository:team/app:pull,push");
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic realm=\"palisade-test\""));
    // alice gets pull+push, and can push with the token.
    let t: serde_json::Value = get_token(&s, Some(("alice", "alice-pw")), "repository:team/app:pull,push").json().unwrap();
    let alice = t["token"].as_str().unwrap().to_owned();
    assert!(t["expires_in"].as_u64().unwrap() > 0);
    let claims = jwt_claims(&alice);
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "palisade-registry");
    assert_eq!(claims["access"], serde_json::json!([{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]));
    let r = c.post(s.url("/v2/team/app/blobs/uploads/")).bearer_auth(&alice).send().unwrap();
    assert_eq!(r.status(), 202);
    // bob asks for push but is only granted pull → 403 DENIED on push, 200-class on pull.
    let t: serde_json::Value = get_token(&s, Some(("bob", "bob-pw")), "repository:team/app:pull,push").json().unwrap();
    let bob = t["token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&bob)["access"][0]["actions"], serde_json::json!(["pull"]));
    let r = c.post(s.url("/v2/team/app/blobs/uploads/")).bearer_auth(&bob).send().unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(error_code(&r.text().unwrap()), "DENIED");
    let r = c.get(s.url("/v2/team/app/tags/list")).bearer_auth(&bob).send().unwrap();
    assert_eq!(r.status(), 404, "authorized; the repository has no content yet");
    assert_eq!(error_code(&r.text().unwrap()), "NAME_UNKNOWN");
    // alice with a pull-only token is asked to get a better one.
    let t: serde_json::Value = get_token(&s, Some(("alice", "alice-pw")), "repository:team/app:pull").json().unwrap();
    let r = c.post(s.url("/v2/team/app/blobs/uploads/")).bearer_auth(t["token"].as_str().unwrap()).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"insufficient_scope\""));
    // Anonymous tokens grant nothing on private repositories; forged tokens are rejected.
    let t: serde_json::Value = get_token(&s, None, "repository:team/app:pull").json().unwrap();
    assert_eq!(jwt_claims(t["token"].as_str().unwrap())["access"][0]["actions"], serde_json::json!([]));
    let mut forged = alice.clone();
    forged.pop();
    forged.push(if alice.ends_with('A') { 'B' } else { 'A' });
    let r = c.get(s.url("/v2/team/app/tags/list")).bearer_auth(&forged).send().unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
}

#[test]
fn non_bcrypt_htpasswd_is_refused_at_startup_palisade() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("htpasswd").args(["-sbn", "carol", "pw"]).output().unwrap();
    std::fs::write(dir.path().join("htpasswd"), &out.stdout).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["registry", "serve", "--addr", "127.0.0.1:0", "--root"])
        .arg(dir.path().join("data"))
        .arg("--htpasswd")
        .arg(dir.path().join("htpasswd"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a bcrypt hash") && err.contains("carol"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).is_empty(), "must not report listening");
}

/// Issue #21 item 2: trust GUNs name their registry host in every form docker's reference parser
/// accepts (`host.domain/…`, `localhost/…`, `IP/…`, `host:port/…`). Each is governed by the rule
/// of the repository after the host, so a user with no rights on `team/app` gets no `*` (delete,
/// key rotation) or `push` on its trust data; a name that maps to no repository grants nothing.
#[test]
fn trust_gun_scopes_follow_the_repository_rule_for_every_host_form_palisade() {
    let mut people = users();
    people.push(("carol".into(), "carol-pw".into()));
    let s = start(Kind::Palisade, &Opts { users: people, palisade_config: Some(TOKEN.into()), ..Opts::default() });
    let granted = |user: &str, scope: &str| -> serde_json::Value {
        let t: serde_json::Value = get_token(&s, Some((user, &format!("{user}-pw"))), scope).json().unwrap();
        let access = jwt_claims(t["token"].as_str().unwrap())["access"].clone();
        access.as_array().and_then(|a| a.first()).map(|e| e["actions"].clone()).unwrap_or(serde_json::json!([]))
    };
    for host in ["registry.example.com", "localhost", "127.0.0.1", "127.0.0.1:5000", "Registry"] {
        let scope = format!("repository:{host}/team/app:*");
        assert_eq!(granted("carol", &scope), serde_json::json!([]), "carol on {scope}");
        assert_eq!(granted("bob", &scope), serde_json::json!(["pull"]), "bob on {scope}");
        assert_eq!(granted("alice", &scope), serde_json::json!(["*", "pull"]), "alice on {scope}");
        let push = format!("repository:{host}/team/app:push,pull");
        assert_eq!(granted("carol", &push), serde_json::json!([]), "carol on {push}");
    }
    // Unlisted repositories stay open to any user, whatever the host form.
    assert_eq!(granted("carol", "repository:localhost/carol/own:push"), serde_json::json!(["push"]));
    // Names that map to no repository grant nothing.
    for bad in ["repository:registry.example.com/Team/App:*", "repository:localhost/:*", "repository:a.b/x//y:*"] {
        assert_eq!(granted("carol", bad), serde_json::json!([]), "{bad}");
    }
}
