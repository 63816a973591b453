//! Authentication, lookup and the connection check against a real slapd (see `support`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

mod support;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use palisade_ldap::{Directory, DirectoryConfig, LdapError};
use secrecy::SecretString;
use support::{Slapd, ALICE_PASSWORD, BOB_PASSWORD, READER_PASSWORD, SUFFIX};

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

fn groups(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn directory(config: DirectoryConfig) -> Directory {
    Directory::new(config).unwrap()
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn alice_logs_in_and_gets_her_groups() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    let alice = dir
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.dn, format!("uid=alice,ou=people,{SUFFIX}"));
    assert_eq!(alice.email.as_deref(), Some("alice@palisade.test"));
    assert_eq!(alice.groups, groups(&["devs"]));

    // The directory compares uid case-insensitively; the stored spelling comes back.
    let again = dir
        .authenticate("ALICE", &secret(ALICE_PASSWORD))
        .await
        .unwrap();
    assert_eq!(again, alice);
}

#[tokio::test]
async fn a_wrong_password_is_invalid_credentials_and_an_unknown_user_not_found() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));

    let wrong = dir
        .authenticate("alice", &secret(BOB_PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(wrong, LdapError::InvalidCredentials), "{wrong:?}");
    assert!(wrong.is_authentication_failure());

    let unknown = dir
        .authenticate("mallory", &secret(ALICE_PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(&unknown, LdapError::UserNotFound { username } if username == "mallory"),
        "{unknown:?}"
    );
    assert!(unknown.is_authentication_failure());
    // What a caller shows for both does not tell them apart.
    assert_eq!(wrong.to_string(), LdapError::AUTHENTICATION_FAILED);
}

#[tokio::test]
async fn an_empty_password_is_refused_before_any_bind() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    let err = dir.authenticate("alice", &secret("")).await.unwrap_err();
    assert!(matches!(err, LdapError::InvalidCredentials), "{err:?}");

    // Against a port where nothing listens: any connection attempt would be Unreachable, so
    // InvalidCredentials proves the refusal came first.
    let nowhere = directory(slapd.config(&format!("ldap://127.0.0.1:{}", closed_port()), ""));
    let err = nowhere
        .authenticate("alice", &secret(""))
        .await
        .unwrap_err();
    assert!(matches!(err, LdapError::InvalidCredentials), "{err:?}");
}

#[tokio::test]
async fn filter_injection_authenticates_nobody() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    for username in [
        "*",
        "alice)(uid=*",
        "al*",
        "*)(|(uid=*",
        "alice\0",
        "(uid=alice)",
    ] {
        for password in [ALICE_PASSWORD, BOB_PASSWORD] {
            let err = dir
                .authenticate(username, &secret(password))
                .await
                .unwrap_err();
            assert!(
                matches!(err, LdapError::UserNotFound { .. }),
                "{username:?}: {err:?}"
            );
        }
        assert_eq!(dir.lookup(username).await.unwrap(), None, "{username:?}");
    }
}

#[tokio::test]
async fn a_lookup_sees_a_group_change_made_while_the_directory_runs() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    assert_eq!(dir.lookup("alice").await.unwrap().unwrap().groups, groups(&["devs"]));
    // Blocking tools (ldapmodify) off the async threads.
    let slapd = tokio::task::spawn_blocking(move || {
        slapd.remove_from_group("devs", "alice");
        slapd
    })
    .await
    .unwrap();
    assert_eq!(dir.lookup("alice").await.unwrap().unwrap().groups, BTreeSet::new());
    drop(slapd);
}

#[tokio::test]
async fn lookup_finds_bob_and_his_posix_group_without_his_password() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    let bob = dir.lookup("bob").await.unwrap().unwrap();
    assert_eq!(bob.username, "bob");
    assert_eq!(bob.email.as_deref(), Some("bob@palisade.test"));
    assert_eq!(bob.groups, groups(&["ops"]));
    assert_eq!(dir.lookup("mallory").await.unwrap(), None);

    // Bob's password works too, and gives the same user.
    let logged_in = dir
        .authenticate("bob", &secret(BOB_PASSWORD))
        .await
        .unwrap();
    assert_eq!(logged_in, bob);
}

#[tokio::test]
async fn a_filter_matching_two_users_is_ambiguous() {
    let slapd = Slapd::start();
    // Both alice and bob have sn=Tester.
    let dir = directory(slapd.config(&slapd.ldap_url(), "user_filter = \"(sn={username})\""));
    let err = dir
        .authenticate("Tester", &secret(ALICE_PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(err, LdapError::AmbiguousUser { count: 2, .. }),
        "{err:?}"
    );
    assert!(!err.is_authentication_failure());
}

#[tokio::test]
async fn no_group_base_means_no_groups() {
    let slapd = Slapd::start();
    let config = support::parse(&support::minimal_toml(&slapd.ldap_url(), READER_PASSWORD));
    let alice = directory(config)
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap();
    assert!(alice.groups.is_empty());
}

#[tokio::test]
async fn ldaps_with_the_right_ca_works_and_with_another_ca_fails_with_tls() {
    let slapd = Slapd::start();
    let ca = format!("ca_file = {:?}", slapd.ca_file());
    let dir = directory(slapd.config(&slapd.ldaps_url(), &ca));
    let alice = dir
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap();
    assert_eq!(alice.groups, groups(&["devs"]));
    dir.check().await.unwrap();

    // The certificate also names localhost.
    let by_name = format!("ldaps://localhost:{}", slapd.ldaps_port);
    directory(slapd.config(&by_name, &ca))
        .check()
        .await
        .unwrap();

    let other = format!("ca_file = {:?}", slapd.other_ca_file());
    let dir = directory(slapd.config(&slapd.ldaps_url(), &other));
    let err = dir
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(err, LdapError::Tls { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
    let err = dir.check().await.unwrap_err();
    assert!(matches!(err, LdapError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn start_tls_works_and_checks_the_certificate() {
    let slapd = Slapd::start();
    let ca = format!("start_tls = true\nca_file = {:?}", slapd.ca_file());
    let dir = directory(slapd.config(&slapd.ldap_url(), &ca));
    let bob = dir
        .authenticate("bob", &secret(BOB_PASSWORD))
        .await
        .unwrap();
    assert_eq!(bob.groups, groups(&["ops"]));
    dir.check().await.unwrap();

    let other = format!("start_tls = true\nca_file = {:?}", slapd.other_ca_file());
    let err = directory(slapd.config(&slapd.ldap_url(), &other))
        .check()
        .await
        .unwrap_err();
    assert!(matches!(err, LdapError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn a_closed_port_is_unreachable_at_once() {
    let slapd = Slapd::start();
    let url = format!("ldap://127.0.0.1:{}", closed_port());
    let dir = directory(slapd.config(&url, ""));
    let started = Instant::now();
    let err = dir
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, LdapError::Unreachable { url: u, .. } if u.starts_with(&url)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let err = dir.check().await.unwrap_err();
    assert!(matches!(err, LdapError::Unreachable { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn a_server_that_never_answers_fails_within_the_timeout() {
    let slapd = Slapd::start();
    // The kernel accepts the connection into the backlog; nobody ever reads or writes.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    for (url, extra) in [
        (
            format!("ldap://127.0.0.1:{port}"),
            "timeout_seconds = 1".to_owned(),
        ),
        (
            format!("ldaps://127.0.0.1:{port}"),
            format!("timeout_seconds = 1\nca_file = {:?}", slapd.ca_file()),
        ),
    ] {
        let text = format!("{}{extra}", support::minimal_toml(&url, READER_PASSWORD));
        let dir = directory(support::parse(&text));
        let started = Instant::now();
        let err = dir.check().await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(err, LdapError::Unreachable { .. }),
            "{url}: {err:?}"
        );
        assert!(err.to_string().contains("no answer within 1 s"), "{err}");
        assert!(took < Duration::from_millis(2500), "{url}: took {took:?}");
    }
}

#[tokio::test]
async fn check_reports_a_wrong_service_password_without_showing_it() {
    let slapd = Slapd::start();
    let dir = directory(slapd.config(&slapd.ldap_url(), ""));
    dir.check().await.unwrap();

    let wrong = directory(slapd.config_with_password(&slapd.ldap_url(), "not-the-secret-5d1", ""));
    let err = wrong.check().await.unwrap_err();
    assert!(matches!(err, LdapError::ServiceBind { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("cn=reader"), "{message}");
    assert!(message.contains("invalidCredentials"), "{message}");
    assert!(!message.contains("not-the-secret"), "{message}");
    assert!(!format!("{err:?}").contains("not-the-secret"));
    assert!(!format!("{wrong:?}").contains("not-the-secret"));

    // A login through a broken service account is the operator's problem, not the user's.
    let err = wrong
        .authenticate("alice", &secret(ALICE_PASSWORD))
        .await
        .unwrap_err();
    assert!(matches!(err, LdapError::ServiceBind { .. }), "{err:?}");
}

#[tokio::test]
async fn check_reports_a_missing_base() {
    let slapd = Slapd::start();
    let text =
        support::minimal_toml(&slapd.ldap_url(), READER_PASSWORD).replace("ou=people", "ou=nobody");
    let err = directory(support::parse(&text)).check().await.unwrap_err();
    assert!(
        matches!(
            err,
            LdapError::Config {
                field: "user_base",
                ..
            }
        ),
        "{err:?}"
    );
}
