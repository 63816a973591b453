//! htpasswd files with bcrypt entries (`htpasswd -Bbn user pass`); other hash kinds are refused
//! at load time so a misconfigured file fails loudly instead of locking users out silently.

use std::path::Path;

use subtle::ConstantTimeEq;

use super::recent::RecentLogins;
use super::Credentials;
use crate::error::{Error, Result};

/// Whether `hash` names bcrypt (`$2a$`, `$2b$`, `$2y$`: what `htpasswd -B` and the bcrypt
/// crate write), the one hash kind accepted for stored passwords.
pub fn is_bcrypt_hash(hash: &str) -> bool {
    ["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p))
}

/// Parsed htpasswd users.
pub struct Htpasswd {
    entries: Vec<(String, String)>,
    /// Hash checked when the user is unknown, so timing does not reveal which users exist.
    dummy: String,
    /// Credentials that passed bcrypt lately: a client in basic mode sends the same
    /// credentials with every request, and each would otherwise cost a bcrypt check.
    recent: RecentLogins,
}

impl std::fmt::Debug for Htpasswd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Htpasswd").field("users", &self.entries.len()).finish_non_exhaustive()
    }
}

impl Htpasswd {
    /// Parse file contents.
    pub fn parse(text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line.split_once(':').ok_or(Error::HtpasswdMalformed { line: i + 1 })?;
            if user.is_empty() {
                return Err(Error::HtpasswdMalformed { line: i + 1 });
            }
            if !is_bcrypt_hash(hash) {
                return Err(Error::HtpasswdUnsupportedHash { line: i + 1, user: user.to_owned() });
            }
            entries.push((user.to_owned(), hash.to_owned()));
        }
        let dummy = bcrypt::hash("palisade-dummy-password", store_cost(&entries))
            .map_err(|e| Error::Config { reason: format!("bcrypt: {e}") })?;
        Ok(Self { entries, dummy, recent: RecentLogins::default() })
    }

    /// One htpasswd line `user:$2y$…` for `password`, as `htpasswd -Bbn` writes it (bcrypt,
    /// cost 10).
    pub fn entry(user: &str, password: &str) -> Result<String> {
        if user.is_empty() || user.contains(':') || user.contains('\n') {
            return Err(Error::Config { reason: format!("invalid htpasswd user name {user:?}") });
        }
        let hash = bcrypt::hash(password, DEFAULT_COST).map_err(|e| Error::Config { reason: format!("bcrypt: {e}") })?;
        Ok(format!("{user}:{}", hash.replacen("$2b$", "$2y$", 1)))
    }

    /// The users and their bcrypt hashes, in the file's order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(user, hash)| (user.as_str(), hash.as_str()))
    }

    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::ConfigRead { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    /// Whether `user:password` passed [`Self::verify`] less than a minute ago (then verifying
    /// it again costs no bcrypt check).
    pub fn recently_verified(&self, user: &str, password: &str) -> bool {
        self.recent.contains(user, password)
    }

    /// Check a password. Credentials verified in the last minute are answered from memory;
    /// otherwise one bcrypt verification runs and every username is compared in constant time,
    /// so neither reveals whether the user exists.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        if self.recently_verified(user, password) {
            return true;
        }
        let mut found: Option<&str> = None;
        for (u, h) in &self.entries {
            if bool::from(u.as_bytes().ct_eq(user.as_bytes())) {
                found = Some(h);
            }
        }
        let hash = found.unwrap_or(&self.dummy);
        let ok = bcrypt::verify(password, hash).unwrap_or(false) && found.is_some();
        if ok {
            self.recent.remember(user, password);
        }
        ok
    }
}

impl Credentials for Htpasswd {
    fn verify(&self, user: &str, password: &str) -> bool {
        Htpasswd::verify(self, user, password)
    }

    fn recently_verified(&self, user: &str, password: &str) -> bool {
        Htpasswd::recently_verified(self, user, password)
    }
}

/// The bcrypt cost the dummy hash uses: the cost most entries have (the higher one on a tie),
/// [`DEFAULT_COST`] for an empty file. An unknown user then costs what a real one does.
fn store_cost(entries: &[(String, String)]) -> u32 {
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for (_, hash) in entries {
        // `$2y$NN$…`: entries were checked to start with a bcrypt prefix.
        if let Some(cost) = hash.get(4..6).and_then(|c| c.parse::<u32>().ok()) {
            *counts.entry(cost).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(cost, n)| (*n, *cost)).map_or(DEFAULT_COST, |(cost, _)| cost)
}

/// bcrypt cost of entries Palisade writes (`htpasswd -B -C 10`).
const DEFAULT_COST: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #21 item 7: the dummy hash checked for unknown users has the entries' own cost
    /// (it had cost 5 against real cost-10 entries: 3 ms against 80 ms told the names apart).
    #[test]
    fn unknown_users_cost_what_real_ones_do() {
        let cost = |f: &Htpasswd| f.dummy.get(4..6).unwrap().parse::<u32>().unwrap();
        let line = |user: &str, c: u32| format!("{user}:{}\n", bcrypt::hash("pw", c).unwrap().replacen("$2b$", "$2y$", 1));
        assert_eq!(cost(&Htpasswd::parse(&line("alice", 10)).unwrap()), 10);
        let mixed = format!("{}{}{}", line("a", 4), line("b", 6), line("c", 6));
        assert_eq!(cost(&Htpasswd::parse(&mixed).unwrap()), 6);
        assert_eq!(cost(&Htpasswd::parse("").unwrap()), DEFAULT_COST);
    }

    #[test]
    fn written_entries_verify() {
        let line = Htpasswd::entry("admin", "s3cret").unwrap();
        assert!(line.starts_with("admin:$2y$10$"), "{line}");
        let f = Htpasswd::parse(&line).unwrap();
        assert!(!f.recently_verified("admin", "s3cret"));
        assert!(f.verify("admin", "s3cret") && !f.verify("admin", "s3cre"));
        assert!(f.recently_verified("admin", "s3cret") && !f.recently_verified("admin", "s3cre"));
        assert!(Htpasswd::entry("a:b", "x").is_err());
    }

    #[test]
    fn bcrypt_only() {
        let h = bcrypt::hash("pw", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let f = Htpasswd::parse(&format!("alice:{h}\n")).unwrap();
        assert!(f.verify("alice", "pw"));
        assert!(!f.verify("alice", "PW"));
        assert!(!f.verify("bob", "pw"));
        assert!(matches!(
            Htpasswd::parse("bob:{SHA}abc"),
            Err(Error::HtpasswdUnsupportedHash { line: 1, .. })
        ));
        assert!(matches!(Htpasswd::parse("nocolon"), Err(Error::HtpasswdMalformed { line: 1 })));
    }
}
