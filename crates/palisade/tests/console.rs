//! The web console in a real browser (Debian's Chromium, driven over WebDriver by
//! chromedriver): an LDAP user logs in over TLS, sees only what its teams allow, creates a
//! repository through a form and sees a pushed tag with its digest and its signer (the real
//! notary CLI signed it on a trust server that takes the registry's tokens); a wrong password
//! shows an error; a POST without the session's CSRF token is refused and changes nothing; an
//! administrator tests the LDAP connection from the settings. Screenshots go to the test's
//! temporary directory and to `<target>/console-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

/// A real slapd, the same the LDAP crate's tests use.
#[path = "../../ldap/tests/support/mod.rs"]
#[allow(dead_code, unreachable_pub)]
mod slapd;
mod browser;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use browser::{browser, login, screenshot, start_driver, text};
use fantoccini::Locator;
use serde_json::json;
use support::{build_image, skopeo_push, start, Kind, Opts, Server};

const ADMIN: (&str, &str) = ("admin", "admin-password");

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `palisade trust-server serve` on `url`'s port with the files in `dir`, taking the tokens of
/// the registry at `registry` (its key's public half in `token-key.pub`).
fn start_trust_server(dir: &Path, url: &str, registry: &str) -> Killed {
    use std::io::BufRead as _;
    let config = dir.join("trust-server.toml");
    std::fs::write(
        &config,
        format!(
            "[auth]\nmode = \"token\"\nrealm = \"{registry}/token\"\nservice = \"palisade-registry\"\nissuer = \"palisade-registry\"\npublic_key = {:?}\n",
            dir.join("token-key.pub")
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["trust-server", "serve", "--addr", url.trim_start_matches("https://"), "--root"])
        .arg(dir.join("root"))
        .arg("--tls-cert")
        .arg(dir.join("server.crt"))
        .arg("--tls-key")
        .arg(dir.join("server.key"))
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.join("trust-server.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if !line.starts_with("trust server listening on") {
        // Say why it did not start (a port another test took meanwhile, say).
        let _ = child.wait();
        let why = std::fs::read_to_string(dir.join("trust-server.log")).unwrap_or_default();
        panic!("the trust server did not start on {url}: {line:?} {why}");
    }
    Killed(child)
}

/// The real notary CLI as the registry's administrator (its token endpoint takes `NOTARY_AUTH`).
fn notary(dir: &Path, url: &str, ca: &Path, args: &[&str]) -> (bool, String) {
    use base64::Engine as _;
    let mut cmd = Command::new("notary");
    cmd.arg("-d").arg(dir.join("notary")).args(["-s", url, "--tlscacert"]).arg(ca).args(args);
    for role in ["ROOT", "TARGETS", "SNAPSHOT"] {
        cmd.env(format!("NOTARY_{role}_PASSPHRASE"), "pass");
    }
    cmd.env("NOTARY_AUTH", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", ADMIN.0, ADMIN.1)));
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The repository names the accounts know (as the administrator lists them).
fn repositories(s: &Server) -> Vec<String> {
    let (_, out) = s.api(Some(ADMIN), "GET", "/api/v1/repositories", None);
    out["repositories"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn an_ldap_user_uses_the_console_in_a_real_browser_and_forged_posts_are_refused() {
    let driver = start_driver();
    let directory = slapd::Slapd::start();
    let ldap = format!(
        "{}group_base = \"ou=groups,{}\"\nca_file = {:?}\ntimeout_seconds = 3\n",
        slapd::minimal_toml(&directory.ldaps_url(), slapd::READER_PASSWORD),
        slapd::SUFFIX,
        directory.ca_file()
    );
    // A trust server that takes this registry's tokens, on a port chosen now: the console is
    // told where it is, and it is told the registry's token endpoint once the registry runs.
    let trust = tempfile::tempdir().unwrap();
    let t = |name: &str| trust.path().join(name);
    let token_key = rcgen::KeyPair::generate().unwrap();
    std::fs::write(t("token-key.pem"), token_key.serialize_pem()).unwrap();
    std::fs::write(t("token-key.pub"), token_key.public_key_pem()).unwrap();
    let (trust_ca, trust_cert, trust_tls_key) = support::make_tls();
    for (name, pem) in [("ca.crt", &trust_ca), ("server.crt", &trust_cert), ("server.key", &trust_tls_key)] {
        std::fs::write(t(name), pem).unwrap();
    }
    let trust_url = format!("https://127.0.0.1:{}", support::free_port());
    let registry_config = format!("[auth]\nmode = \"token\"\n[auth.token]\nkey = {:?}\n", t("token-key.pem"));
    let extra_args = ["--console-trust-server", &trust_url, "--console-trust-ca", t("ca.crt").to_str().unwrap()].map(str::to_owned).to_vec();
    let s = start(
        Kind::Palisade,
        &Opts {
            admin: Some((ADMIN.0.into(), ADMIN.1.into())),
            ldap: Some(ldap),
            tls: true,
            console: true,
            palisade_config: Some(registry_config),
            extra_args,
            ..Opts::default()
        },
    );
    let _trust_server = start_trust_server(trust.path(), &trust_url, &s.base());
    s.api_ok(ADMIN, "POST", "/api/v1/organisations", json!({"name": "acme"}));
    s.api_ok(ADMIN, "POST", "/api/v1/organisations/acme/teams", json!({"name": "devs", "directory_group": "devs"}));
    s.api_ok(ADMIN, "POST", "/api/v1/repositories", json!({"name": "acme/app", "visibility": "private"}));
    s.api_ok(ADMIN, "POST", "/api/v1/repositories", json!({"name": "acme/secret", "visibility": "private"}));
    s.api_ok(ADMIN, "PUT", "/api/v1/organisations/acme/teams/devs/grants", json!({"repository": "acme/app", "level": "read"}));
    let image = build_image("v1");
    let (pushed, err) = skopeo_push(&s, &format!("oci:{}:v1", image.layout().display()), &format!("docker://{}/acme/app:v1", s.addr), Some("admin:admin-password"));
    assert!(pushed, "{err}");
    // The administrator signs acme/app:v1 with the real notary CLI (its manifest as the target).
    let bundle = t("both-cas.pem");
    std::fs::write(&bundle, format!("{}{trust_ca}", s.tls.as_ref().unwrap().ca_pem)).unwrap();
    let gun = format!("{}/acme/app", s.addr);
    let manifest = t("manifest.json");
    std::fs::write(&manifest, image.blob(&image.manifest_digest)).unwrap();
    for args in [vec!["init", gun.as_str(), "-p"], vec!["add", gun.as_str(), "v1", manifest.to_str().unwrap(), "-p"]] {
        let (signed, out) = notary(trust.path(), &trust_url, &bundle, &args);
        assert!(signed, "notary {args:?}: {out}");
    }
    let shots = tempfile::tempdir().unwrap();
    let base = s.base();
    let ca = reqwest::Certificate::from_pem(s.tls.as_ref().unwrap().ca_pem.as_bytes()).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let (cookie, token) = runtime.block_on(async {
        let c = browser(&driver).await;
        // `/` leads to the console, which asks for a login.
        c.goto(&format!("{base}/")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");
        screenshot(&c, shots.path(), "login.png").await;

        // A wrong password shows an error on the login page.
        login(&c, &base, "alice", "not-her-password").await;
        assert!(text(&c, "#login-error").await.contains("Wrong user name or password"));
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");

        // alice (LDAP, group devs) sees acme/app through team devs, never acme/secret.
        login(&c, &base, "alice", slapd::ALICE_PASSWORD).await;
        assert_eq!(c.current_url().await.unwrap().path(), "/console/repositories");
        assert_eq!(text(&c, "#current-user").await, "alice");
        let listed = text(&c, "#repositories").await;
        assert!(listed.contains("acme/app"), "{listed}");
        assert!(!listed.contains("acme/secret"), "{listed}");
        c.goto(&format!("{base}/console/repositories/acme/secret")).await.unwrap();
        assert!(c.source().await.unwrap().contains("404"), "a private repository's existence is not told");

        // She creates a private repository in her own namespace through the form.
        c.goto(&format!("{base}/console/repositories")).await.unwrap();
        c.find(Locator::Css("#create-repository #name")).await.unwrap().send_keys("new").await.unwrap();
        c.find(Locator::Css("#create-repository button")).await.unwrap().click().await.unwrap();
        text(&c, "#repository-name").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/console/repositories/alice/new");
        assert!(text(&c, "#repository-name").await.contains("private"));
        c.goto(&format!("{base}/console/repositories?q=new")).await.unwrap();
        let listed = text(&c, "#repositories").await;
        assert!(listed.contains("alice/new") && !listed.contains("acme/app"), "search: {listed}");
        c.goto(&format!("{base}/console/repositories")).await.unwrap();
        screenshot(&c, shots.path(), "repositories.png").await;

        // The pushed tag with its digest and the pull command for the host the browser used.
        c.goto(&format!("{base}/console/repositories/acme/app")).await.unwrap();
        let tags = text(&c, "#tags").await;
        assert!(tags.contains("v1") && tags.contains(&image.manifest_digest), "{tags}");
        assert!(tags.contains("targets") && !tags.contains("unsigned"), "the tag's signer, read with alice's own access: {tags}");
        assert_eq!(text(&c, "#pull-command").await, format!("docker pull {}/acme/app:v1", s.addr));
        assert!(c.find(Locator::Id("visibility-form")).await.is_err(), "read access does not manage the repository");
        screenshot(&c, shots.path(), "repository.png").await;

        // The session cookie is HttpOnly, Secure and strict; the CSRF token is in the forms.
        let cookie = c.get_named_cookie("palisade_session").await.unwrap();
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
        let token = c.find(Locator::Css("input[name=csrf]")).await.unwrap().attr("value").await.unwrap().unwrap();
        let session = (cookie.value().to_owned(), token);
        c.close().await.unwrap();
        session
    });

    // Forged POSTs with alice's session cookie: no token, a wrong token, the right token
    // from another site. All 403; nothing is created.
    let http = reqwest::blocking::Client::builder().add_root_certificate(ca).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |form: &[(&str, &str)], origin: Option<&str>| {
        let mut r = http.post(s.url("/console/repositories")).header("cookie", format!("palisade_session={cookie}")).form(form);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        let response = r.send().unwrap();
        let headers = response.headers().clone();
        (response.status().as_u16(), headers)
    };
    let forged = [("namespace", "alice"), ("name", "forged"), ("visibility", "public")];
    assert_eq!(post(&forged, None).0, 403, "no CSRF token");
    let wrong = "0".repeat(64);
    let with = |t: &str| [("namespace", "alice"), ("name", "forged"), ("visibility", "public"), ("csrf", t)].map(|(k, v)| (k, v.to_owned()));
    let form_wrong = with(&wrong);
    let form_wrong: Vec<(&str, &str)> = form_wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&form_wrong, None).0, 403, "a wrong CSRF token");
    let form_right = with(&token);
    let form_right: Vec<(&str, &str)> = form_right.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(post(&form_right, Some("https://evil.example")).0, 403, "another site's Origin");
    assert_eq!(repositories(&s), ["acme/app", "acme/secret", "alice/new"], "the forged POSTs created nothing");
    // alice is no administrator: adding a user is refused even with her valid token.
    let r = http
        .post(s.url("/console/users"))
        .header("cookie", format!("palisade_session={cookie}"))
        .form(&[("name", "mallory"), ("password", "mallory-password"), ("admin", "on"), ("csrf", token.as_str())])
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let (_, users) = s.api(Some(ADMIN), "GET", "/api/v1/users", None);
    assert!(!users.to_string().contains("mallory"), "{users}");
    // The same session with its token works (so the refusals were the CSRF checks).
    let (status, headers) = post(&form_right, Some(&s.base()));
    assert_eq!(status, 303);
    assert_eq!(headers["location"], "/console/repositories/alice/forged");
    for (name, value) in [
        ("content-security-policy", "default-src 'self'; frame-ancestors 'none'"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
    ] {
        assert!(headers[name].to_str().unwrap().starts_with(value), "{name}: {:?}", headers[name]);
    }

    // An administrator tests the LDAP connection from the settings.
    runtime.block_on(async {
        let c = browser(&driver).await;
        login(&c, &base, ADMIN.0, ADMIN.1).await;
        c.goto(&format!("{base}/console/settings")).await.unwrap();
        assert!(text(&c, "#auth-mode").await.contains(&directory.ldaps_url()));
        assert!(text(&c, "#certificate").await.contains("127.0.0.1"));
        c.find(Locator::Id("ldap-test")).await.unwrap().click().await.unwrap();
        text(&c, ".notice").await;
        assert!(text(&c, ".notice").await.contains("LDAP OK"), "{}", text(&c, ".notice").await);
        screenshot(&c, shots.path(), "settings.png").await;
        c.goto(&format!("{base}/console/organisations/acme")).await.unwrap();
        assert!(text(&c, "main").await.contains("directory group: devs"));
        screenshot(&c, shots.path(), "organisation.png").await;
        // The audit log: alice's console login and the repository she made through the form.
        c.goto(&format!("{base}/console/audit")).await.unwrap();
        let audit = text(&c, "main").await;
        assert!(audit.contains("registry.login") && audit.contains("alice"), "{audit}");
        assert!(audit.contains("registry.permission") && audit.contains("alice/new"), "{audit}");
        assert!(audit.contains("failure"), "the wrong password is in the log: {audit}");
        screenshot(&c, shots.path(), "audit.png").await;
        // Logging out ends the session.
        c.find(Locator::Css("form[action='/console/logout'] button")).await.unwrap().click().await.unwrap();
        text(&c, "#password").await;
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");
        c.goto(&format!("{base}/console/settings")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/console/login");
        c.close().await.unwrap();
    });
    for name in ["login.png", "repositories.png", "repository.png", "settings.png", "organisation.png", "audit.png"] {
        assert!(std::fs::metadata(shots.path().join(name)).unwrap().len() > 1000, "{name}");
    }
}
