//! The trusted registry's access model with the real `skopeo`: organisations, teams and
//! repository permissions made through the JSON API decide who pulls and pushes; public
//! repositories pull anonymously; LDAP users' team access follows their directory groups;
//! bad changes are refused and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

/// A real slapd, the same the LDAP crate's tests use.
#[path = "../../ldap/tests/support/mod.rs"]
#[allow(dead_code, unreachable_pub)]
mod slapd;

use serde_json::{json, Value};
use support::{build_image, skopeo_pull, skopeo_push, start, Kind, Opts, Server};

const ADMIN: (&str, &str) = ("admin", "admin-password");

/// Who calls (`None`: anonymous), method, path, body, expected status, a phrase of the error.
type Refused<'a> = (Option<(&'a str, &'a str)>, &'a str, &'a str, Value, u16, &'a str);

fn push(s: &Server, who: Option<&str>, reference: &str) -> (bool, String) {
    let img = build_image(reference.rsplit(':').next().unwrap());
    let tag = reference.rsplit(':').next().unwrap();
    skopeo_push(s, &format!("oci:{}:{tag}", img.layout().display()), &format!("docker://{}/{reference}", s.addr), who)
}

fn pull(s: &Server, who: Option<&str>, reference: &str) -> (bool, String) {
    let out = tempfile::tempdir().unwrap();
    skopeo_pull(s, &format!("docker://{}/{reference}", s.addr), &format!("oci:{}:x", out.path().display()), who)
}

#[test]
fn teams_decide_who_pulls_and_pushes_and_public_repositories_pull_anonymously() {
    let s = start(Kind::Palisade, &Opts { admin: Some((ADMIN.0.into(), ADMIN.1.into())), ..Opts::default() });
    for user in ["alice", "bob", "carol", "dave"] {
        s.api_ok(ADMIN, "POST", "/api/v1/users", json!({"name": user, "password": format!("{user}-password")}));
    }
    let alice = ("alice", "alice-password");
    s.api_ok(alice, "POST", "/api/v1/organisations", json!({"name": "acme"}));
    s.api_ok(alice, "POST", "/api/v1/organisations/acme/teams", json!({"name": "readers"}));
    s.api_ok(alice, "POST", "/api/v1/organisations/acme/teams", json!({"name": "writers"}));
    s.api_ok(alice, "POST", "/api/v1/organisations/acme/teams/readers/members", json!({"user": "bob"}));
    s.api_ok(alice, "POST", "/api/v1/organisations/acme/teams/writers/members", json!({"user": "carol"}));
    s.api_ok(alice, "POST", "/api/v1/repositories", json!({"name": "acme/app", "visibility": "private"}));
    s.api_ok(alice, "PUT", "/api/v1/organisations/acme/teams/readers/grants", json!({"repository": "acme/app", "level": "read"}));
    s.api_ok(alice, "PUT", "/api/v1/organisations/acme/teams/writers/grants", json!({"repository": "acme/app", "level": "write"}));

    // The organisation's owner pushes; team read pulls but cannot push; team write pushes.
    let (pushed, err) = push(&s, Some("alice:alice-password"), "acme/app:v1");
    assert!(pushed, "alice (owner) push: {err}");
    let (pulled, err) = pull(&s, Some("bob:bob-password"), "acme/app:v1");
    assert!(pulled, "bob (read) pull: {err}");
    let (pushed, err) = push(&s, Some("bob:bob-password"), "acme/app:v2");
    assert!(!pushed && err.contains("denied"), "bob (read) must not push: {err}");
    let (pushed, err) = push(&s, Some("carol:carol-password"), "acme/app:v2");
    assert!(pushed, "carol (write) push: {err}");
    // Nobody else sees the private repository.
    assert!(!pull(&s, Some("dave:dave-password"), "acme/app:v1").0, "dave is in no team");
    assert!(!pull(&s, None, "acme/app:v1").0, "anonymous on a private repository");
    assert!(!pull(&s, Some("bob:wrong-password"), "acme/app:v1").0, "a wrong password");
    let (_, listed) = s.api(Some(("dave", "dave-password")), "GET", "/api/v1/repositories", None);
    assert_eq!(listed["repositories"], json!([]), "dave lists nothing");
    let (_, listed) = s.api(Some(("bob", "bob-password")), "GET", "/api/v1/repositories", None);
    assert_eq!(listed["repositories"], json!([{"name": "acme/app", "visibility": "private"}]));
    let (status, _) = s.api(Some(("dave", "dave-password")), "GET", "/api/v1/repositories/acme/app", None);
    assert_eq!(status, 404, "a private repository's existence is not told");

    // Users own their namespace.
    let (pushed, err) = push(&s, Some("dave:dave-password"), "dave/tool:v1");
    assert!(pushed, "dave pushes to his own namespace: {err}");
    assert!(!pull(&s, Some("bob:bob-password"), "dave/tool:v1").0);

    // Leaving the team takes the access away.
    s.api_ok(alice, "DELETE", "/api/v1/organisations/acme/teams/readers/members/bob", json!({}));
    assert!(!pull(&s, Some("bob:bob-password"), "acme/app:v1").0, "bob left readers");

    // Public: anyone pulls, nobody anonymous pushes.
    s.api_ok(alice, "PATCH", "/api/v1/repositories/acme/app", json!({"visibility": "public"}));
    let (pulled, err) = pull(&s, None, "acme/app:v2");
    assert!(pulled, "anonymous pull of a public repository: {err}");
    assert!(!push(&s, None, "acme/app:v3").0);
    let (_, listed) = s.api(None, "GET", "/api/v1/repositories", None);
    assert_eq!(listed["repositories"], json!([{"name": "acme/app", "visibility": "public"}]));
    let (_, repo) = s.api(None, "GET", "/api/v1/repositories/acme/app", None);
    assert_eq!(repo["tags"], json!(["v1", "v2"]));

    // Everything above is in the audit log, which verifies — and stops verifying, naming the
    // entry, once an entry is changed, removed or two are swapped.
    let log = s.dir.path().join("audit");
    let entries = audit_entries(&log);
    let has = |actor: &str, action: &str, target: &str, outcome: &str| {
        entries.iter().any(|e| e["actor"] == actor && e["action"] == action && e["target"].as_str().unwrap().contains(target) && e["outcome"] == outcome)
    };
    assert!(has("alice", "registry.login", "registry", "success"), "{entries:#?}");
    assert!(has("bob", "registry.login", "registry", "failure"), "the wrong password");
    assert!(has("alice", "registry.push", "acme/app:v1", "success"));
    assert!(has("carol", "registry.push", "acme/app:v2", "success"));
    assert!(has("bob", "registry.push", "acme/app", "failure"), "bob's refused push");
    assert!(has("alice", "registry.permission", "readers on acme/app", "success"));
    assert!(has("alice", "registry.permission", "acme/readers member bob", "success"));
    assert!(has("alice", "registry.permission", "acme/app", "success"), "made public");
    assert!(!std::fs::read_to_string(log.join("log.jsonl")).unwrap().contains("password"), "no secret material");
    let (ok_, out) = palisade(&["audit", "verify", "--dir", log.to_str().unwrap()]);
    assert!(ok_, "{out}");
    assert!(out.contains(&format!("{} entries intact", entries.len())), "{out}");
    let (_, table) = palisade(&["audit", "ls", "--dir", log.to_str().unwrap()]);
    assert!(table.contains("registry.push") && table.contains("acme/app:v1"), "{table}");

    let tampered = |name: &str, edit: &dyn Fn(&mut Vec<String>)| -> String {
        let copy = s.dir.path().join(name);
        std::fs::create_dir(&copy).unwrap();
        for f in std::fs::read_dir(&log).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
        }
        let mut lines: Vec<String> = std::fs::read_to_string(copy.join("log.jsonl")).unwrap().lines().map(str::to_owned).collect();
        edit(&mut lines);
        std::fs::write(copy.join("log.jsonl"), lines.join("\n") + "\n").unwrap();
        let (ok_, out) = palisade(&["audit", "verify", "--dir", copy.to_str().unwrap()]);
        assert!(!ok_, "{name}: verify passed on a tampered log");
        out
    };
    let changed = tampered("one-byte", &|lines| lines[2] = lines[2].replacen("registry", "regIstry", 1));
    assert!(changed.contains("entry 3") && changed.contains("changed"), "{changed}");
    let removed = tampered("removed", &|lines| {
        lines.remove(3);
    });
    assert!(removed.contains("entry 4 was removed"), "{removed}");
    let swapped = tampered("swapped", &|lines| lines.swap(4, 5));
    assert!(swapped.contains("entry 5") && swapped.contains("swapped"), "{swapped}");
}

/// The entries of the audit log in `dir`, through `palisade audit ls --json`.
fn audit_entries(dir: &std::path::Path) -> Vec<Value> {
    let (ok_, out) = palisade(&["audit", "ls", "--json", "--dir", dir.to_str().unwrap()]);
    assert!(ok_, "{out}");
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The palisade CLI: (success, stdout + stderr).
fn palisade(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_palisade")).args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn bad_changes_are_refused_with_a_reason_and_change_nothing() {
    let s = start(Kind::Palisade, &Opts { admin: Some((ADMIN.0.into(), ADMIN.1.into())), ..Opts::default() });
    s.api_ok(ADMIN, "POST", "/api/v1/users", json!({"name": "alice", "password": "alice-password"}));
    s.api_ok(ADMIN, "POST", "/api/v1/users", json!({"name": "bob", "password": "bob-password"}));
    let alice = ("alice", "alice-password");
    s.api_ok(alice, "POST", "/api/v1/organisations", json!({"name": "acme"}));
    s.api_ok(alice, "POST", "/api/v1/organisations/acme/teams", json!({"name": "devs"}));
    let teams_before = s.api_ok(alice, "GET", "/api/v1/organisations/acme/teams", json!(null));

    let cases: [Refused; 8] = [
        (Some(alice), "PUT", "/api/v1/organisations/acme/teams/devs/grants", json!({"repository": "acme/ghost", "level": "read"}), 404, "repository \"acme/ghost\" does not exist"),
        (Some(alice), "PUT", "/api/v1/organisations/acme/teams/devs/grants", json!({"repository": "acme/app", "level": "owner"}), 422, ""),
        (Some(("bob", "bob-password")), "POST", "/api/v1/organisations/acme/teams", json!({"name": "mine"}), 403, "may not manage organisation acme"),
        (Some(("bob", "bob-password")), "POST", "/api/v1/users", json!({"name": "eve", "password": "eve-password"}), 403, "not an administrator"),
        (None, "POST", "/api/v1/organisations", json!({"name": "anon"}), 401, "log in"),
        (Some(("alice", "wrong-password")), "POST", "/api/v1/organisations", json!({"name": "x"}), 401, "wrong user name or password"),
        (Some(ADMIN), "POST", "/api/v1/users", json!({"name": "Eve Smith", "password": "eve-password"}), 400, "invalid user name"),
        (Some(ADMIN), "POST", "/api/v1/organisations", json!({"name": "alice"}), 409, "namespace \"alice\" already exists"),
    ];
    for (who, method, path, body, status, message) in cases {
        let (got, out) = s.api(who, method, path, Some(body));
        assert_eq!(got, status, "{method} {path}: {out}");
        assert!(out["error"].as_str().unwrap_or_default().contains(message) || got == 422, "{method} {path}: {out}");
    }
    assert_eq!(s.api_ok(alice, "GET", "/api/v1/organisations/acme/teams", json!(null)), teams_before);
    let (_, users) = s.api(Some(ADMIN), "GET", "/api/v1/users", None);
    let names: Vec<&str> = users["users"].as_array().unwrap().iter().map(|u| u["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["admin", "alice", "bob"]);
}

/// `[[repository]]` rules would not apply beside an accounts database: such a config is refused
/// at start, naming the rules, before anything listens.
#[test]
fn repository_rules_beside_accounts_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("registry.toml");
    std::fs::write(&config, "[[repository]]\nname = \"*\"\npublic = true\npull = [\"*\"]\n").unwrap();
    let accounts = dir.path().join("accounts.redb");
    let (ok, out) = palisade(&["registry", "serve", "--addr", "127.0.0.1:0", "--root", dir.path().join("data").to_str().unwrap(),
        "--accounts", accounts.to_str().unwrap(), "--config", config.to_str().unwrap()]);
    assert!(!ok && out.contains("[[repository]] rules"), "{out}");
    assert!(!out.contains("listening"), "{out}");
}

/// The registry's `--ldap` file for `directory`, over ldaps:// with its CA.
fn ldap_toml(directory: &slapd::Slapd) -> String {
    format!(
        "{}group_base = \"ou=groups,{}\"\nca_file = {:?}\ntimeout_seconds = 3\n",
        slapd::minimal_toml(&directory.ldaps_url(), slapd::READER_PASSWORD),
        slapd::SUFFIX,
        directory.ca_file()
    )
}

#[test]
fn an_ldap_users_access_follows_its_directory_group_after_a_sync() {
    let directory = slapd::Slapd::start();
    let s = start(Kind::Palisade, &Opts { admin: Some((ADMIN.0.into(), ADMIN.1.into())), ldap: Some(ldap_toml(&directory)), ..Opts::default() });
    assert_eq!(s.api_ok(ADMIN, "POST", "/api/v1/directory/check", json!({}))["ok"], json!(true));
    s.api_ok(ADMIN, "POST", "/api/v1/organisations", json!({"name": "acme"}));
    s.api_ok(ADMIN, "POST", "/api/v1/organisations/acme/teams", json!({"name": "devs", "directory_group": "devs"}));
    s.api_ok(ADMIN, "POST", "/api/v1/repositories", json!({"name": "acme/app", "visibility": "private"}));
    s.api_ok(ADMIN, "PUT", "/api/v1/organisations/acme/teams/devs/grants", json!({"repository": "acme/app", "level": "read"}));
    let (pushed, err) = push(&s, Some("admin:admin-password"), "acme/app:v1");
    assert!(pushed, "{err}");

    // alice is in the directory group devs: team read.
    let alice = format!("alice:{}", slapd::ALICE_PASSWORD);
    let (pulled, err) = pull(&s, Some(&alice), "acme/app:v1");
    assert!(pulled, "alice (LDAP, devs) pull: {err}");
    assert!(!push(&s, Some(&alice), "acme/app:v2").0, "read only");
    assert_eq!(s.api_ok(("alice", slapd::ALICE_PASSWORD), "GET", "/api/v1/me", json!(null))["name"], "alice");
    // bob is in ops only; a wrong directory password is refused.
    let bob = format!("bob:{}", slapd::BOB_PASSWORD);
    assert!(!pull(&s, Some(&bob), "acme/app:v1").0, "bob is not in devs");
    assert!(!pull(&s, Some("alice:not-her-password"), "acme/app:v1").0);
    // A team mapped to ops with write: bob (LDAP, posixGroup ops) pushes.
    s.api_ok(ADMIN, "POST", "/api/v1/organisations/acme/teams", json!({"name": "ops", "directory_group": "ops"}));
    s.api_ok(ADMIN, "PUT", "/api/v1/organisations/acme/teams/ops/grants", json!({"repository": "acme/app", "level": "write"}));
    let (pushed, err) = push(&s, Some(&bob), "acme/app:v2");
    assert!(pushed, "bob (LDAP, ops: write) push: {err}");

    // alice leaves devs in the directory; after a sync her access is gone.
    directory.remove_from_group("devs", "alice");
    let report = s.api_ok(ADMIN, "POST", "/api/v1/directory/sync", json!({}));
    assert!(report["synced"].as_array().unwrap().contains(&json!("alice")), "{report}");
    let (pulled, _) = pull(&s, Some(&alice), "acme/app:v1");
    assert!(!pulled, "alice left devs");
}

#[test]
fn an_unreachable_directory_fails_logins_clearly_and_local_administrators_still_log_in() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let ldap = format!(
        "url = \"ldap://127.0.0.1:{port}\"\nbind_dn = \"cn=reader,dc=x\"\nbind_password = \"pw\"\nuser_base = \"ou=people,dc=x\"\ntimeout_seconds = 2\n"
    );
    let s = start(Kind::Palisade, &Opts { admin: Some((ADMIN.0.into(), ADMIN.1.into())), ldap: Some(ldap), ..Opts::default() });
    let (status, _) = s.api(Some(("alice", "alice-password")), "GET", "/api/v1/me", None);
    assert_eq!(status, 401);
    assert_eq!(s.api_ok(ADMIN, "GET", "/api/v1/me", json!(null))["admin"], json!(true), "the local administrator");
    let (status, out) = s.api(Some(ADMIN), "POST", "/api/v1/directory/check", Some(json!({})));
    assert_eq!(status, 502, "{out}");
    assert!(out["error"].as_str().unwrap().contains(&format!("127.0.0.1:{port}")), "{out}");
}
