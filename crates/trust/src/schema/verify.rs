//! Threshold signature checks and expiry (TUF 5.3.4–5.3.10).

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;

use super::{Role, Root, Signed};
use crate::error::{Error, Result};
use crate::key::Key;
use crate::names::Gun;

/// Leeway on a root certificate's NotBefore (clock skew), as notary allows.
const NOT_BEFORE_LEEWAY: time::Duration = time::Duration::days(1);

/// The keys of `root`'s root role that are acceptable root certificates for `gun` (notary
/// trust pinning): x509 leaf certificates (not CA, not SHA-1 signed) whose CN is exactly the GUN
/// (no wildcard or prefix match: notary's `validRootLeafCerts`), valid at `now` with a day of
/// NotBefore leeway. Signatures on a root only count when made by one of these keys.
pub fn root_leaf_keys(gun: &Gun, root: &Root, now: OffsetDateTime) -> BTreeMap<String, Key> {
    let mut valid = BTreeMap::new();
    for id in root.roles.get("root").map(|k| k.keyids.as_slice()).unwrap_or_default() {
        let Some(key) = root.keys.get(id) else { continue };
        let Some(cert) = key.cert() else { continue };
        let cn_ok = cert.common_name.as_deref() == Some(gun.as_str());
        let time_ok = now + NOT_BEFORE_LEEWAY >= cert.not_before && now <= cert.not_after;
        if cn_ok && time_ok && !cert.is_ca && !cert.sha1_signed {
            valid.insert(id.clone(), key.clone());
        }
    }
    valid
}

/// Whether expired metadata is refused. The default is [`ExpirationEnforcement::Safe`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExpirationEnforcement {
    /// Expired metadata is an error.
    #[default]
    Safe,
    /// Expired metadata is accepted (offline inspection only).
    Unsafe,
}

/// Fails with [`Error::Expired`] if `role` expired before `now` and enforcement is safe.
pub fn check_expiry<T: Role>(
    role: &str,
    meta: &Signed<T>,
    now: OffsetDateTime,
    enforcement: ExpirationEnforcement,
) -> Result<()> {
    let expires = meta.signed().expires();
    if enforcement == ExpirationEnforcement::Safe && expires <= now {
        return Err(Error::Expired { role: role.to_owned(), expires: expires.to_string() });
    }
    Ok(())
}

/// Checks that `meta` carries valid signatures from at least `threshold` distinct keys among
/// `keyids` (looked up in `keys`). Each key counts once, however many signatures name it; a
/// signature whose key ID is unknown, not in the role, or whose bytes do not verify counts zero.
pub fn verify_role<T: Role>(
    role: &str,
    meta: &Signed<T>,
    keys: &BTreeMap<String, Key>,
    keyids: &[String],
    threshold: u64,
) -> Result<()> {
    if meta.signatures().is_empty() {
        return Err(Error::NoSignatures);
    }
    let msg = meta.canonical_signed()?;
    let allowed: BTreeSet<&str> = keyids.iter().map(String::as_str).collect();
    let mut valid = BTreeSet::new();
    for sig in meta.signatures() {
        if !allowed.contains(sig.keyid.as_str()) || valid.contains(sig.keyid.as_str()) {
            continue;
        }
        let Some(key) = keys.get(&sig.keyid) else { continue };
        if key.verify(&sig.method, &msg, &sig.sig).is_ok() {
            valid.insert(sig.keyid.as_str());
        }
    }
    if (valid.len() as u64) < threshold.max(1) {
        return Err(Error::Threshold { role: role.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::num::NonZeroU64;

    use super::*;
    use crate::key::PrivateKey;
    use crate::schema::{Snapshot, SNAPSHOT_EXPIRY};

    fn snapshot() -> Snapshot {
        Snapshot {
            type_: "Snapshot".into(),
            expires: OffsetDateTime::now_utc() + SNAPSHOT_EXPIRY,
            meta: BTreeMap::new(),
            version: NonZeroU64::MIN,
            extra: Default::default(),
        }
    }

    #[test]
    fn each_key_counts_once() {
        let k = PrivateKey::generate_ed25519();
        let pk = k.public().unwrap();
        let keys = BTreeMap::from([(pk.id().to_owned(), pk.clone())]);
        let ids = vec![pk.id().to_owned()];
        let signed = Signed::sign(snapshot(), &[&k, &k]).unwrap();
        verify_role("snapshot", &signed, &keys, &ids, 1).unwrap();
        assert!(matches!(verify_role("snapshot", &signed, &keys, &ids, 2), Err(Error::Threshold { .. })));
    }

    #[test]
    fn reparse_verifies_and_tamper_fails() {
        let k = PrivateKey::generate_ecdsa();
        let pk = k.public().unwrap();
        let keys = BTreeMap::from([(pk.id().to_owned(), pk.clone())]);
        let ids = vec![pk.id().to_owned()];
        let signed = Signed::sign(snapshot(), &[&k]).unwrap();
        let back: Signed<Snapshot> = Signed::from_bytes("snapshot", signed.bytes()).unwrap();
        verify_role("snapshot", &back, &keys, &ids, 1).unwrap();
        let tampered = String::from_utf8(signed.bytes().to_vec()).unwrap().replace("\"version\":1", "\"version\":2");
        let back: Signed<Snapshot> = Signed::from_bytes("snapshot", tampered.as_bytes()).unwrap();
        assert!(verify_role("snapshot", &back, &keys, &ids, 1).is_err());
        // an unrelated key is not in the role
        assert!(verify_role("snapshot", &back, &keys, &[], 1).is_err());
    }

    #[test]
    fn expiry_is_enforced_by_default() {
        let k = PrivateKey::generate_ed25519();
        let mut s = snapshot();
        s.expires = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        let signed = Signed::sign(s, &[&k]).unwrap();
        let now = OffsetDateTime::now_utc();
        assert!(check_expiry("snapshot", &signed, now, ExpirationEnforcement::default()).is_err());
        check_expiry("snapshot", &signed, now, ExpirationEnforcement::Unsafe).unwrap();
    }
}
