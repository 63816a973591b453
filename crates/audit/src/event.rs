//! What a caller records: an [`Event`] (who did what to what, and how it went), built with a
//! small builder that cuts oversized input instead of failing, so recording never breaks the
//! action being recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most bytes kept of any one string (actor, action, target, source, a detail key or
/// value). Longer input is cut at a character boundary. A bound on what one line of the log can
/// cost, so a client cannot grow the log without limit through, say, a long user name.
pub const MAX_FIELD_BYTES: usize = 1024;

/// The most detail keys kept per event; further keys are dropped (the map keeps the smallest
/// keys in byte order, since it is sorted).
pub const MAX_DETAIL_KEYS: usize = 32;

/// Dotted action names for the security-relevant actions Palisade records. Callers may use
/// others of the same shape (`<area>.<verb>`).
pub mod action {
    /// A registry or engine login attempt (success or failure).
    pub const REGISTRY_LOGIN: &str = "registry.login";
    /// A push of a manifest or blob.
    pub const REGISTRY_PUSH: &str = "registry.push";
    /// A delete of a manifest, tag or blob.
    pub const REGISTRY_DELETE: &str = "registry.delete";
    /// A tag created or moved.
    pub const REGISTRY_TAG: &str = "registry.tag";
    /// A user's or repository's permissions changed.
    pub const REGISTRY_PERMISSION: &str = "registry.permission";
    /// Trust metadata published for a repository.
    pub const TRUST_PUBLISH: &str = "trust.publish";
    /// A node joined the swarm.
    pub const SWARM_JOIN: &str = "swarm.join";
    /// A node left or was removed from the swarm.
    pub const SWARM_LEAVE: &str = "swarm.leave";
    /// The cluster's root CA was rotated.
    pub const SWARM_CA_ROTATE: &str = "swarm.ca-rotate";
    /// A secret was created.
    pub const SECRET_CREATE: &str = "secret.create";
    /// A secret was removed.
    pub const SECRET_REMOVE: &str = "secret.remove";
    /// An admission or signing policy changed.
    pub const POLICY_CHANGE: &str = "policy.change";
}

/// How an action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The action was refused or failed.
    Failure,
    /// The action was carried out.
    Success,
}

impl Outcome {
    /// `Success` when `ok`, else `Failure`.
    pub fn of(ok: bool) -> Self {
        if ok {
            Self::Success
        } else {
            Self::Failure
        }
    }
}

/// One security-relevant action, as a caller reports it; the log adds the sequence number, the
/// time and the chain hashes when it appends it.
///
/// **Never pass secret material** (passwords, tokens, keys, secret payloads): the log is
/// readable by whoever can read its directory, is shown by `palisade audit ls`, and can never
/// be edited afterwards without breaking the chain. Record names and digests instead.
///
/// Invariant: every string is at most [`MAX_FIELD_BYTES`] bytes and `detail` has at most
/// [`MAX_DETAIL_KEYS`] keys; the constructor and the builder methods enforce it by cutting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) outcome: Outcome,
    pub(crate) source: Option<String>,
    pub(crate) detail: BTreeMap<String, String>,
}

impl Event {
    /// An event: `actor` (a user or node name) did `action` (dotted, see [`action`]) to
    /// `target` (a repository, node, secret name…) with `outcome`.
    pub fn new(actor: impl Into<String>, action: impl Into<String>, target: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            actor: cut(actor.into()),
            action: cut(action.into()),
            target: cut(target.into()),
            outcome,
            source: None,
            detail: BTreeMap::new(),
        }
    }

    /// The client's address (for example `192.0.2.7:51234`).
    #[must_use]
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(cut(source.into()));
        self
    }

    /// Adds a detail (for example `digest` → `sha256:…`, `reason` → `bad password`). A key given
    /// twice keeps the last value; past [`MAX_DETAIL_KEYS`] keys, the map keeps the smallest.
    #[must_use]
    pub fn detail(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.detail.insert(cut(key.into()), cut(value.into()));
        while self.detail.len() > MAX_DETAIL_KEYS {
            self.detail.pop_last();
        }
        self
    }
}

/// `s` cut to at most [`MAX_FIELD_BYTES`] bytes, at a character boundary.
fn cut(mut s: String) -> String {
    if s.len() > MAX_FIELD_BYTES {
        let mut end = MAX_FIELD_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_FIELD_BYTES); // 2 bytes each
        let event = Event::new(long.clone(), "registry.push", "x".repeat(5000), Outcome::Success)
            .source(long.clone())
            .detail(long.clone(), long);
        assert_eq!(event.actor.len(), MAX_FIELD_BYTES);
        assert!(event.actor.chars().all(|c| c == 'é'));
        assert_eq!(event.target.len(), MAX_FIELD_BYTES);
        assert_eq!(event.source.as_deref().map(str::len), Some(MAX_FIELD_BYTES));
        let (key, value) = event.detail.first_key_value().unwrap();
        assert_eq!((key.len(), value.len()), (MAX_FIELD_BYTES, MAX_FIELD_BYTES));

        let odd = format!("a{}", "é".repeat(MAX_FIELD_BYTES));
        assert_eq!(cut(odd).len(), MAX_FIELD_BYTES - 1, "never splits a character");
    }

    #[test]
    fn detail_keeps_at_most_32_keys() {
        let mut event = Event::new("alice", "policy.change", "default", Outcome::Success);
        for i in 0..100 {
            event = event.detail(format!("k{i:03}"), "v");
        }
        assert_eq!(event.detail.len(), MAX_DETAIL_KEYS);
        assert_eq!(event.detail.keys().next().map(String::as_str), Some("k000"));
        assert_eq!(event.detail.keys().last().map(String::as_str), Some("k031"));
    }
}
