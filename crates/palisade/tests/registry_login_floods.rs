//! Issue #21 item 7: logins under attack. 48 clients sending bad passwords as fast as they can
//! (from 127.0.0.2) must not slow a real user's login (from 127.0.0.1): the flood is answered
//! 429 `TOOMANYREQUESTS` instead of every request waiting for bcrypt on an exhausted machine.
//! The cost of the dummy hash checked for unknown users is that of the store's own entries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{start, Kind, Opts};

/// A registry in basic auth mode whose only user has a cost-10 bcrypt entry, as `palisade up`
/// writes them (every request with Basic credentials costs one bcrypt check).
fn registry() -> (support::Server, tempfile::TempDir) {
    let users = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("htpasswd").args(["-nbB", "-C", "10", "alice", "alice-pw"]).output().unwrap();
    assert!(out.status.success());
    let path = users.path().join("htpasswd");
    std::fs::write(&path, &out.stdout).unwrap();
    let config = format!("[auth]\nmode = \"basic\"\nhtpasswd = \"{}\"\n", path.display());
    (start(Kind::Palisade, &Opts { palisade_config: Some(config), ..Opts::default() }), users)
}

fn client_from(ip: &str) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().local_address(ip.parse::<std::net::IpAddr>().unwrap()).build().unwrap()
}

#[test]
fn bad_password_flood_is_answered_429_and_a_real_login_stays_quick() {
    let (s, _users) = registry();
    let url = s.url("/v2/");
    let stop = Arc::new(AtomicBool::new(false));
    let (refused, unauthorized) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let attackers: Vec<_> = (0..48)
        .map(|i| {
            let (url, stop, refused, unauthorized) = (url.clone(), stop.clone(), refused.clone(), unauthorized.clone());
            std::thread::spawn(move || {
                let c = client_from("127.0.0.2");
                while !stop.load(Ordering::Relaxed) {
                    let Ok(r) = c.get(&url).basic_auth(format!("mallory{i}"), Some("guess")).send() else {
                        // Over the server's connection caps for this address: closed at once.
                        refused.fetch_add(1, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    match r.status().as_u16() {
                        429 => refused.fetch_add(1, Ordering::Relaxed),
                        401 => unauthorized.fetch_add(1, Ordering::Relaxed),
                        other => panic!("flood answered {other}"),
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let alice = client_from("127.0.0.1");
    let mut took = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let r = alice.get(&url).basic_auth("alice", Some("alice-pw")).send().unwrap();
        took.push(started.elapsed());
        assert_eq!(r.status(), 200, "a real login during the flood");
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.join().unwrap();
    }
    let (refused, unauthorized) = (refused.load(Ordering::Relaxed), unauthorized.load(Ordering::Relaxed));
    assert!(refused > 0, "the flood was never refused ({unauthorized} bcrypt checks answered 401)");
    // The median, so one scheduling hiccup on a loaded test machine does not decide.
    took.sort();
    assert!(took[2] < Duration::from_secs(2), "real logins took {took:?} during the flood");
    // Once the flood stops, its address may log in again after a while; alice never lost hers.
    assert_eq!(alice.get(&url).basic_auth("alice", Some("alice-pw")).send().unwrap().status(), 200);
}
