//! rpm version ordering, checked against rpm itself (`rpm.vercmp` in rpm's embedded Lua, from
//! Debian's `rpm` package) as the oracle on random `[epoch:]version[-release]` strings built
//! from the characters that matter (digits, letters, `.`, `_`, `+`, `~`, `^`). Pairs are
//! judged in batches: one rpm run per few hundred comparisons.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::cmp::Ordering;
use std::process::Command;

use palisade_scan::version::compare;
use palisade_scan::Ecosystem;
use proptest::prelude::*;

/// rpm's verdict on each pair.
fn oracle(pairs: &[(String, String)]) -> Vec<Ordering> {
    let mut lua = String::from("%{lua:");
    for (a, b) in pairs {
        // The alphabet below has no quote or backslash, so the strings need no escaping.
        // rpm's Lua print() adds no separator.
        lua.push_str(&format!("print(rpm.vercmp('{a}', '{b}') .. ' ') "));
    }
    lua.push('}');
    let out = Command::new("rpm")
        .args(["--eval", &lua])
        .output()
        .unwrap_or_else(|e| panic!("rpm must be installed (apt-get install rpm): {e}"));
    assert!(out.status.success(), "rpm --eval failed: {}", String::from_utf8_lossy(&out.stderr));
    let verdicts: Vec<Ordering> = String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(|v| match v {
            "-1" => Ordering::Less,
            "0" => Ordering::Equal,
            "1" => Ordering::Greater,
            other => panic!("rpm.vercmp printed {other:?}"),
        })
        .collect();
    assert_eq!(verdicts.len(), pairs.len(), "one verdict per pair");
    verdicts
}

fn check(pairs: &[(String, String)]) -> Result<(), TestCaseError> {
    for ((a, b), want) in pairs.iter().zip(oracle(pairs)) {
        prop_assert_eq!(compare(Ecosystem::RockyLinux, a, b), Some(want), "{} vs {}", a, b);
    }
    Ok(())
}

/// A version or release part: starts with a digit or letter, as rpm's own do.
const PART: &str = "[0-9a-c][0-9a-c._+~^]{0,6}";

fn evr() -> impl Strategy<Value = String> {
    (prop::option::of(0u8..3), PART, prop::option::of(PART)).prop_map(|(e, v, r)| {
        let mut s = e.map(|e| format!("{e}:")).unwrap_or_default();
        s.push_str(&v);
        if let Some(r) = r {
            s.push('-');
            s.push_str(&r);
        }
        s
    })
}

/// Pairs that share a version and differ in a short tail, so `~` and `^` against the end,
/// and digit runs with leading zeros, come up often.
fn near_pair() -> impl Strategy<Value = (String, String)> {
    (PART, "[0-9a-c._~^]{0,3}", "[0-9a-c._~^]{0,3}", prop::option::of("[0-9]{1,2}")).prop_map(|(v, x, y, r)| {
        let rel = r.map(|r| format!("-{r}")).unwrap_or_default();
        (format!("{v}{x}{rel}"), format!("{v}{y}{rel}"))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn random_pairs(pairs in prop::collection::vec((evr(), evr()), 250)) {
        check(&pairs)?;
    }

    #[test]
    fn near_pairs(pairs in prop::collection::vec(near_pair(), 250)) {
        check(&pairs)?;
    }
}

#[test]
fn fixed_cases_agree_with_rpm() {
    let cases: Vec<(String, String)> = [
        ("1.0~rc1", "1.0"),
        ("1.0^git1", "1.0"),
        ("1.0^git1", "1.0.1"),
        ("1.0~rc1^git1", "1.0~rc1"),
        ("2:1.0-1", "1:9.9-9"),
        ("0:1.0-1", "1.0-1"),
        ("1.0-1.el9", "1.0-1.el9_3"),
        ("3.0.7-24.el9", "3.0.7-25.el9"),
        ("1.01", "1.1"),
        ("1.a", "1.1"),
        ("1.0", "1.0-0"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    for ((a, b), want) in cases.iter().zip(oracle(&cases)) {
        assert_eq!(compare(Ecosystem::RockyLinux, a, b), Some(want), "{a} vs {b}");
    }
}
