//! dpkg version ordering, checked against `dpkg --compare-versions` as the oracle on random
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! versions built from the characters that matter (digits, letters, `~`, `+`, `.`, `-`, epochs).

use std::cmp::Ordering;
use std::process::Command;

use palisade_scan::version::compare;
use palisade_scan::Ecosystem;
use proptest::prelude::*;

fn dpkg_says(a: &str, op: &str, b: &str) -> bool {
    let status = Command::new("dpkg").args(["--compare-versions", a, op, b]).status().expect("dpkg must be installed");
    status.success()
}

fn oracle(a: &str, b: &str) -> Ordering {
    if dpkg_says(a, "lt", b) {
        Ordering::Less
    } else if dpkg_says(a, "eq", b) {
        Ordering::Equal
    } else {
        Ordering::Greater
    }
}

fn version() -> impl Strategy<Value = String> {
    let upstream = "[0-9]([0-9a-c~+.]{0,5}[0-9a-c~+.]){0,1}";
    let revision = prop::option::of("[0-9a-c~+.]{1,5}");
    let epoch = prop::option::of(0u8..3);
    (epoch, upstream, revision).prop_map(|(e, u, r)| {
        let mut s = String::new();
        if let Some(e) = e {
            s.push_str(&format!("{e}:"));
        }
        s.push_str(&u);
        if let Some(r) = r {
            s.push('-');
            s.push_str(&r);
        }
        s
    })
}

/// Pairs that share a prefix, so the interesting cases (`~` against the end, digit runs with
/// leading zeros) come up often.
fn near_pair() -> impl Strategy<Value = (String, String)> {
    (version(), "[0-9a-c~+.]{0,3}", "[0-9a-c~+.]{0,3}").prop_map(|(base, x, y)| {
        let (head, tail) = match base.rsplit_once('-') {
            Some((h, t)) => (h.to_owned(), format!("-{t}")),
            None => (base.clone(), String::new()),
        };
        (format!("{head}{x}{tail}"), format!("{head}{y}{tail}"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_pairs(a in version(), b in version()) {
        prop_assert_eq!(compare(Ecosystem::Debian, &a, &b), Some(oracle(&a, &b)), "{} vs {}", a, b);
    }

    #[test]
    fn near_pairs((a, b) in near_pair()) {
        prop_assert_eq!(compare(Ecosystem::Debian, &a, &b), Some(oracle(&a, &b)), "{} vs {}", a, b);
    }
}

#[test]
fn fixed_cases_agree_with_dpkg() {
    let cases = [
        ("1.0~rc1", "1.0"),
        ("2:1.0", "1:9.9"),
        ("3.0.11-1~deb12u2", "3.0.11-1"),
        ("1.0", "1.0-0"),
        ("7.88.1-10+deb12u5", "7.88.1-10+deb12u12"),
        ("1.2.3~", "1.2.3~~"),
        ("0.9", "0.10"),
        ("1.0+dfsg-1", "1.0-1"),
    ];
    for (a, b) in cases {
        assert_eq!(compare(Ecosystem::Debian, a, b), Some(oracle(a, b)), "{a} vs {b}");
    }
}
