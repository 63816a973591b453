//! Maven versions, ordered as Maven's `ComparableVersion` does: items split at `.`, `-` and
//! digit/letter transitions; numbers compare numerically; qualifiers
//! `alpha < beta < milestone < rc = cr < snapshot < (release) = ga = final < sp`, other
//! qualifiers after those, alphabetically; trailing zero and empty items do not count.

use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Number(u128),
    Qualifier(String),
}

fn qualifier_rank(q: &str) -> (u8, &str) {
    match q {
        "alpha" | "a" => (0, ""),
        "beta" | "b" => (1, ""),
        "milestone" | "m" => (2, ""),
        "rc" | "cr" => (3, ""),
        "snapshot" => (4, ""),
        "" | "ga" | "final" | "release" => (5, ""),
        "sp" => (6, ""),
        other => (7, other),
    }
}

fn items(v: &str) -> Vec<Item> {
    let v = v.trim().to_ascii_lowercase();
    let mut out = Vec::new();
    let mut cur = String::new();
    let flush = |cur: &mut String, out: &mut Vec<Item>| {
        if cur.is_empty() {
            return;
        }
        let item = match cur.parse::<u128>() {
            Ok(n) => Item::Number(n),
            Err(_) => Item::Qualifier(std::mem::take(cur)),
        };
        cur.clear();
        out.push(item);
    };
    let mut prev_digit: Option<bool> = None;
    for c in v.chars() {
        if c == '.' || c == '-' || c == '_' {
            flush(&mut cur, &mut out);
            prev_digit = None;
            continue;
        }
        let d = c.is_ascii_digit();
        if prev_digit.is_some_and(|p| p != d) {
            flush(&mut cur, &mut out);
        }
        prev_digit = Some(d);
        cur.push(c);
    }
    flush(&mut cur, &mut out);
    // Trailing "null" items (0, release qualifiers) do not count.
    while let Some(last) = out.last() {
        let null = match last {
            Item::Number(n) => *n == 0,
            Item::Qualifier(q) => qualifier_rank(q).0 == 5,
        };
        if !null {
            break;
        }
        out.pop();
    }
    out
}

fn cmp_item(a: Option<&Item>, b: Option<&Item>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (Some(Item::Number(x)), Some(Item::Number(y))) => x.cmp(y),
        (Some(Item::Number(x)), None) => {
            if *x == 0 {
                Ordering::Equal
            } else {
                Ordering::Greater
            }
        }
        (None, Some(Item::Number(_))) => cmp_item(b, a).reverse(),
        (Some(Item::Number(_)), Some(Item::Qualifier(_))) => Ordering::Greater,
        (Some(Item::Qualifier(_)), Some(Item::Number(_))) => Ordering::Less,
        (Some(Item::Qualifier(x)), Some(Item::Qualifier(y))) => qualifier_rank(x).cmp(&qualifier_rank(y)),
        (Some(Item::Qualifier(x)), None) => qualifier_rank(x).cmp(&qualifier_rank("")),
        (None, Some(Item::Qualifier(y))) => qualifier_rank("").cmp(&qualifier_rank(y)),
    }
}

/// Compares two Maven versions (every string is a Maven version).
pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    let (a, b) = (items(a), items(b));
    for k in 0..a.len().max(b.len()) {
        let o = cmp_item(a.get(k), b.get(k));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparable_version_order() {
        let row = ["1.0-alpha1", "1.0-beta2", "1.0-rc1", "1.0-SNAPSHOT", "1.0", "1.0-sp1", "1.0.1", "1.1", "2.0"];
        for w in row.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        assert_eq!(compare("1.0", "1.0.0"), Ordering::Equal);
        assert_eq!(compare("1.0.final", "1"), Ordering::Equal);
        assert_eq!(compare("2.12.7.1", "2.12.7"), Ordering::Greater);
    }
}
