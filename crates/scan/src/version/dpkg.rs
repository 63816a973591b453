//! Debian package versions: `[epoch:]upstream[-revision]`, ordered as `dpkg --compare-versions`
//! does (dpkg `lib/dpkg/version.c`, `verrevcmp`; Debian Policy 5.6.12).
//!
//! Non-digit runs compare character by character where `~` sorts before everything (even the
//! end of the string), then letters, then other characters; digit runs compare numerically.

use std::cmp::Ordering;

/// A parsed dpkg version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpkgVersion<'a> {
    /// Epoch (0 when absent).
    pub epoch: u64,
    /// Upstream version.
    pub upstream: &'a str,
    /// Debian revision (empty when absent).
    pub revision: &'a str,
}

impl<'a> DpkgVersion<'a> {
    /// Splits a version string; `None` for an empty upstream or a non-numeric epoch.
    pub fn parse(s: &'a str) -> Option<Self> {
        let s = s.trim();
        let (epoch, rest) = match s.split_once(':') {
            Some((e, rest)) => (e.parse::<u64>().ok()?, rest),
            None => (0, s),
        };
        let (upstream, revision) = match rest.rsplit_once('-') {
            Some((u, r)) => (u, r),
            None => (rest, ""),
        };
        if upstream.is_empty() || s.chars().any(char::is_whitespace) {
            return None;
        }
        Some(Self { epoch, upstream, revision })
    }
}

impl Ord for DpkgVersion<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.epoch
            .cmp(&other.epoch)
            .then_with(|| verrevcmp(self.upstream, other.upstream))
            .then_with(|| verrevcmp(self.revision, other.revision))
    }
}

impl PartialOrd for DpkgVersion<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Compares two dpkg version strings; `None` if either does not parse.
pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(DpkgVersion::parse(a)?.cmp(&DpkgVersion::parse(b)?))
}

/// The weight of one character in a non-digit run (0 stands for "end of run").
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let at = |s: &[u8], k: usize| s.get(k).copied();
    let digit = |c: Option<u8>| c.is_some_and(|c| c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while (at(a, i).is_some() && !digit(at(a, i))) || (at(b, j).is_some() && !digit(at(b, j))) {
            let (ac, bc) = (order(at(a, i)), order(at(b, j)));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while at(a, i) == Some(b'0') {
            i += 1;
        }
        while at(b, j) == Some(b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(at(a, i)) && digit(at(b, j)) {
            if first_diff == Ordering::Equal {
                first_diff = at(a, i).cmp(&at(b, j));
            }
            i += 1;
            j += 1;
        }
        if digit(at(a, i)) {
            return Ordering::Greater;
        }
        if digit(at(b, j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_examples() {
        let lt = |a, b| assert_eq!(compare(a, b), Some(Ordering::Less), "{a} < {b}");
        lt("1.0~rc1", "1.0");
        lt("1.0~~", "1.0~");
        lt("1.0", "1.0a");
        lt("1.0a", "1.0+");
        lt("1:9.9", "2:1.0");
        lt("1.2-1", "1.2-1+deb12u1");
        lt("3.0.11-1~deb12u2", "3.0.11-1");
        lt("9", "10");
        lt("1.0-1", "1.0-1.1");
        assert_eq!(compare("1.0", "1.0-0"), Some(Ordering::Equal));
        assert_eq!(compare("0:1.0", "1.0"), Some(Ordering::Equal));
        assert_eq!(compare("1.001", "1.1"), Some(Ordering::Equal));
        assert_eq!(compare("a:1", "1"), None);
    }

    #[test]
    fn revision_splits_at_last_hyphen() {
        let v = DpkgVersion::parse("2:1.2-3-4").unwrap();
        assert_eq!((v.epoch, v.upstream, v.revision), (2, "1.2-3", "4"));
    }
}
