//! `palisade up` serves the web console beside its registry, in a real browser (Chromium over
//! WebDriver): the administrator `up` created logs in with the password it printed once, and a
//! repository page shows a tag skopeo pushed with its digest, when it was pushed, who signed it
//! (the real notary CLI on up's trust server) and what scan on push found in it (an advisory
//! database with a fixable critical flaw in the image's zlib); the administrator adds a user
//! (a short password refused) and makes it an organisation's owner; the settings page shows
//! the certificate up serves (issued by the cluster CA). Screenshots go to the test's temporary
//! directory and to `<target>/console-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::time::{Duration, Instant};

use browser::{browser, login, screenshot, start_driver, text};
use fantoccini::Locator;
use common::Up;
use support::{import_zlib_advisory, notary_as, skopeo_push_image, vulnerable_alpine_image};

/// The page's text once `want` holds, reloading while the scan runs.
async fn reload_until(c: &fantoccini::Client, url: &str, css: &str, want: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        c.goto(url).await.unwrap();
        let seen = text(c, css).await;
        if want(&seen) {
            return seen;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{css} never matched: {seen}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn up_serves_the_console_with_each_tags_push_time_signer_and_scan() {
    let driver = start_driver();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let up = Up::start(&data);
    let (registry, trust, password) = (up.registry(), up.trust_url(), up.password());
    let ca = data.join("node/root-ca.crt");
    let console_line = up.lines.iter().find(|l| l.contains("Web console:")).unwrap();
    assert!(console_line.contains(&format!("https://{registry}/console/")), "{console_line}");

    // The advisory database knows a fixable critical flaw in the image's Alpine zlib.
    import_zlib_advisory(&data, &dir.path().join("osv"));

    // acme/app:v1, pushed by skopeo and signed with notary as the administrator.
    let (status, body) = up.api("POST", "/api/v1/organisations", Some(serde_json::json!({"name": "acme"})));
    assert_eq!(status, 201, "{body}");
    let image = vulnerable_alpine_image("v1");
    let certs = tempfile::tempdir().unwrap();
    std::fs::copy(&ca, certs.path().join("ca.crt")).unwrap();
    let creds = format!("admin:{password}");
    let pushed_after = time::OffsetDateTime::now_utc().replace_second(0).unwrap().replace_nanosecond(0).unwrap();
    let digest = skopeo_push_image(&image, "v1", &format!("{registry}/acme/app:v1"), certs.path(), &creds);
    let gun = format!("{registry}/acme/app");
    let notary_dir = tempfile::tempdir().unwrap();
    notary_as(notary_dir.path(), &trust, &ca, &creds, &["init", &gun, "-p"]);
    let size = image.blob(&digest).len().to_string();
    notary_as(notary_dir.path(), &trust, &ca, &creds, &["addhash", &gun, "v1", &size, "--sha256", digest.trim_start_matches("sha256:"), "-p"]);

    let shots = tempfile::tempdir().unwrap();
    let base = format!("https://{registry}");
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let c = browser(&driver).await;
        login(&c, &base, "admin", &password).await;
        assert_eq!(text(&c, "#current-user").await, "admin");

        let page = format!("{base}/console/repositories/acme/app");
        let row = reload_until(&c, &page, "#tags tbody tr", |t| t.contains("critical")).await;
        assert!(row.contains("v1") && row.contains(&digest), "{row}");
        assert!(row.contains("targets"), "the signer: {row}");
        assert!(row.contains("1 critical") && row.contains("1 fixable"), "the scan: {row}");
        // Pushed at, to the minute, in UTC.
        let pushed = text(&c, "#tags td.pushed").await;
        let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
        let at = time::PrimitiveDateTime::parse(&pushed, format).unwrap_or_else(|e| panic!("{pushed:?}: {e}")).assume_utc();
        assert!(pushed_after <= at && at <= time::OffsetDateTime::now_utc(), "pushed {at}, test started {pushed_after}");
        assert!(text(&c, "#pull-command").await.contains(&format!("docker pull {registry}/acme/app:v1")));
        screenshot(&c, shots.path(), "up-repository.png").await;

        // Users and owners: the administrator adds a local user and makes it an owner of acme.
        c.goto(&format!("{base}/console/users")).await.unwrap();
        let add_user = |name: &'static str, password: &'static str| {
            let c = c.clone();
            async move {
                c.find(Locator::Id("new-name")).await.unwrap().send_keys(name).await.unwrap();
                c.find(Locator::Id("new-password")).await.unwrap().send_keys(password).await.unwrap();
                c.find(Locator::Css("#add-user button[type=submit]")).await.unwrap().click().await.unwrap();
            }
        };
        add_user("carol", "short").await;
        // The browser's own minlength check stops this one; a forced submit is refused server-side.
        assert!(!text(&c, "#users").await.contains("carol"));
        c.execute("document.getElementById('new-password').removeAttribute('minlength'); document.getElementById('add-user').submit();", vec![]).await.unwrap();
        assert!(text(&c, ".notice.error").await.contains("at least 8 characters"));
        c.goto(&format!("{base}/console/users")).await.unwrap();
        add_user("carol", "carol-password").await;
        let users = reload_until(&c, &format!("{base}/console/users"), "#users", |t| t.contains("carol")).await;
        assert!(users.contains("admin") && users.contains("administrator"), "{users}");
        c.goto(&format!("{base}/console/organisations/acme")).await.unwrap();
        c.find(Locator::Id("owner-name")).await.unwrap().send_keys("carol").await.unwrap();
        c.find(Locator::Css("form[action$='/owners'] button")).await.unwrap().click().await.unwrap();
        let owners = reload_until(&c, &format!("{base}/console/organisations/acme"), "#owners", |t| t.contains("carol")).await;
        assert!(owners.contains("admin"), "{owners}");
        screenshot(&c, shots.path(), "up-organisation.png").await;

        // The certificate being served: up's service certificate from the cluster CA.
        c.goto(&format!("{base}/console/settings")).await.unwrap();
        let certificate = text(&c, "#certificate").await;
        assert!(certificate.contains("palisade-service") && certificate.contains("swarm-ca"), "{certificate}");
        screenshot(&c, shots.path(), "up-settings.png").await;
        c.close().await.unwrap();
    });
    // What the console did, the API reads back.
    let (_, orgs) = up.api("GET", "/api/v1/organisations", None);
    let acme = orgs["organisations"].as_array().unwrap().iter().find(|o| o["name"] == "acme").unwrap().clone();
    assert_eq!(acme["owners"], serde_json::json!(["admin", "carol"]), "{orgs}");
}
