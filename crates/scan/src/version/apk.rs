//! Alpine apk versions, ordered as apk-tools' `version.c` does:
//! `N(.N)*[letter](_suffix[N])*[~hash][-rN]`, with pre-release suffixes
//! (`_alpha < _beta < _pre < _rc`) below the release and post-release suffixes
//! (`_cvs < _svn < _git < _hg < _p`) above it.

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq)]
struct Apk<'a> {
    numbers: Vec<&'a str>,
    letter: Option<u8>,
    suffixes: Vec<(i8, u64)>,
    revision: u64,
}

fn suffix_rank(s: &str) -> Option<i8> {
    Some(match s {
        "alpha" => -4,
        "beta" => -3,
        "pre" => -2,
        "rc" => -1,
        "cvs" => 1,
        "svn" => 2,
        "git" => 3,
        "hg" => 4,
        "p" => 5,
        _ => return None,
    })
}

fn parse(s: &str) -> Option<Apk<'_>> {
    let s = s.trim();
    let (body, revision) = match s.rsplit_once("-r") {
        Some((b, r)) => (b, r.parse::<u64>().ok()?),
        None => (s, 0),
    };
    let body = body.split_once('~').map_or(body, |(b, _hash)| b);
    let mut parts = body.split('_');
    let head = parts.next()?;
    let mut numbers = Vec::new();
    let mut letter = None;
    for (i, n) in head.split('.').enumerate() {
        let digits = n.trim_end_matches(|c: char| c.is_ascii_lowercase());
        let rest = n.get(digits.len()..).unwrap_or_default();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || rest.len() > 1 {
            return None;
        }
        if !rest.is_empty() {
            // A letter only after the last number.
            if i + 1 != head.split('.').count() {
                return None;
            }
            letter = rest.bytes().next();
        }
        numbers.push(digits);
    }
    let mut suffixes = Vec::new();
    for p in parts {
        let name = p.trim_end_matches(|c: char| c.is_ascii_digit());
        let num = p.get(name.len()..).unwrap_or_default();
        let n = if num.is_empty() { 0 } else { num.parse().ok()? };
        suffixes.push((suffix_rank(name)?, n));
    }
    Some(Apk { numbers, letter, suffixes, revision })
}

fn cmp_number(i: usize, a: &str, b: &str) -> Ordering {
    // After the first component a leading zero makes the comparison fractional (string).
    if i > 0 && (a.starts_with('0') || b.starts_with('0')) {
        return a.cmp(b);
    }
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Compares two apk version strings; `None` if either does not parse.
pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    for (i, (x, y)) in a.numbers.iter().zip(&b.numbers).enumerate() {
        let o = cmp_number(i, x, y);
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    let o = a.numbers.len().cmp(&b.numbers.len()).then_with(|| a.letter.cmp(&b.letter));
    if o != Ordering::Equal {
        return Some(o);
    }
    let n = a.suffixes.len().max(b.suffixes.len());
    for k in 0..n {
        // A missing suffix is the plain release (rank 0).
        let x = a.suffixes.get(k).copied().unwrap_or((0, 0));
        let y = b.suffixes.get(k).copied().unwrap_or((0, 0));
        let o = x.cmp(&y);
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(a.revision.cmp(&b.revision))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apk_tools_table() {
        // Each row ascending; the pairs are apk-tools' own test vectors where it has them.
        let rows: &[&[&str]] = &[
            &["1.0_alpha", "1.0_alpha2", "1.0_beta", "1.0_pre1", "1.0_rc1", "1.0", "1.0-r1", "1.0_cvs", "1.0_git20200101", "1.0_p1", "1.0a", "1.0.1"],
            &["3.1.4-r0", "3.1.4-r5", "3.1.4a-r0", "3.1.10-r0"],
            &["1.01", "1.1"],
            &["2.39.2-r0", "2.39.3-r0", "2.40.0-r0"],
            &["1.2.3~abc-r0", "1.2.3-r1"],
        ];
        for row in rows {
            for w in row.windows(2) {
                assert_eq!(compare(w[0], w[1]), Some(Ordering::Less), "{} < {}", w[0], w[1]);
                assert_eq!(compare(w[1], w[0]), Some(Ordering::Greater), "{} > {}", w[1], w[0]);
            }
        }
        assert_eq!(compare("1.0-r0", "1.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.0_bogus", "1.0"), None);
        assert_eq!(compare("x.y", "1.0"), None);
    }
}
