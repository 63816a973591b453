//! htpasswd files with bcrypt entries (`htpasswd -Bbn user pass`); other hash kinds are refused
//! at load time so a misconfigured file fails loudly instead of locking users out silently.

use std::path::Path;

use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

/// Parsed htpasswd users.
pub struct Htpasswd {
    entries: Vec<(String, String)>,
    /// Hash checked when the user is unknown, so timing does not reveal which users exist.
    dummy: String,
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
            if !["$2y$", "$2b$", "$2a$"].iter().any(|p| hash.starts_with(p)) {
                return Err(Error::HtpasswdUnsupportedHash { line: i + 1, user: user.to_owned() });
            }
            entries.push((user.to_owned(), hash.to_owned()));
        }
        let dummy = bcrypt::hash("palisade-dummy-password", 5)
            .map_err(|e| Error::Config { reason: format!("bcrypt: {e}") })?;
        Ok(Self { entries, dummy })
    }

    /// One htpasswd line `user:$2y$…` for `password`, as `htpasswd -Bbn` writes it (bcrypt,
    /// cost 10).
    pub fn entry(user: &str, password: &str) -> Result<String> {
        if user.is_empty() || user.contains(':') || user.contains('\n') {
            return Err(Error::Config { reason: format!("invalid htpasswd user name {user:?}") });
        }
        let hash = bcrypt::hash(password, 10).map_err(|e| Error::Config { reason: format!("bcrypt: {e}") })?;
        Ok(format!("{user}:{}", hash.replacen("$2b$", "$2y$", 1)))
    }

    /// Read and parse a file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| Error::ConfigRead { path: path.to_owned(), source })?;
        Self::parse(&text)
    }

    /// Check a password. Always runs one bcrypt verification and compares every username in
    /// constant time, so neither reveals whether the user exists.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let mut found: Option<&str> = None;
        for (u, h) in &self.entries {
            if bool::from(u.as_bytes().ct_eq(user.as_bytes())) {
                found = Some(h);
            }
        }
        let hash = found.unwrap_or(&self.dummy);
        let ok = bcrypt::verify(password, hash).unwrap_or(false);
        ok && found.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_entries_verify() {
        let line = Htpasswd::entry("admin", "s3cret").unwrap();
        assert!(line.starts_with("admin:$2y$10$"), "{line}");
        let f = Htpasswd::parse(&line).unwrap();
        assert!(f.verify("admin", "s3cret") && !f.verify("admin", "s3cre"));
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
