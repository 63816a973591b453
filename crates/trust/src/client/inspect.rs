//! What `docker trust inspect` shows (docker/cli `cli/command/trust/{common,inspect,
//! inspect_pretty,formatter}.go`): released tags (in `targets` or `targets/releases`) with the
//! signers that signed the same digest, the signers and their keys, and the administrative keys.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;

use super::repo::RELEASES_ROLE;
use super::update::{sha256_hex, TrustedRepo};
use crate::names::RoleName;

/// The label docker uses for a tag signed by the targets key only.
const REPO_ADMIN: &str = "Repo Admin";

/// One released tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SignedTag {
    /// Tag name.
    #[serde(rename = "SignedTag")]
    pub tag: String,
    /// hex(sha256) of the manifest.
    #[serde(rename = "Digest")]
    pub digest: String,
    /// Signer names (`Repo Admin` when only the repository key signed it).
    #[serde(rename = "Signers")]
    pub signers: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
struct KeyId {
    #[serde(rename = "ID")]
    id: String,
}

#[derive(Clone, Debug, Serialize)]
struct NamedKeys {
    #[serde(rename = "Name")]
    name: String,
    #[serde(rename = "Keys", skip_serializing_if = "Vec::is_empty")]
    keys: Vec<KeyId>,
}

/// The inspection of one repository (or one tag of it).
#[derive(Clone, Debug, Serialize)]
pub struct TrustReport {
    /// The name as the user wrote it.
    #[serde(rename = "Name")]
    pub name: String,
    /// Released tags, in natural tag order.
    #[serde(rename = "SignedTags")]
    pub signed_tags: Vec<SignedTag>,
    #[serde(rename = "Signers")]
    signers: Vec<NamedKeys>,
    #[serde(rename = "AdministrativeKeys")]
    admin: Vec<NamedKeys>,
}

/// `a < b` comparing digit runs by value (github.com/fvbommel/sortorder `NaturalLess`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    loop {
        match (a.first(), b.first()) {
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let da = a.iter().take_while(|c| c.is_ascii_digit()).count();
                let db = b.iter().take_while(|c| c.is_ascii_digit()).count();
                let (na, nb) = (&a[..da], &b[..db]);
                let ta: &[u8] = { let z = na.iter().take_while(|c| **c == b'0').count(); &na[z..] };
                let tb: &[u8] = { let z = nb.iter().take_while(|c| **c == b'0').count(); &nb[z..] };
                let ord = ta.len().cmp(&tb.len()).then_with(|| ta.cmp(tb)).then_with(|| da.cmp(&db));
                if ord != Ordering::Equal {
                    return ord;
                }
                a = &a[da..];
                b = &b[db..];
            }
            (Some(x), Some(y)) => {
                if x != y {
                    return x.cmp(y);
                }
                a = &a[1..];
                b = &b[1..];
            }
        }
    }
}

fn signer_name(role: &str) -> String {
    role.strip_prefix("targets/").unwrap_or(role).to_owned()
}

impl TrustReport {
    /// Builds the report of `repo` shown under `name`; only `tag` when given.
    pub fn new(name: &str, repo: &TrustedRepo, tag: Option<&str>) -> Self {
        let releases = RELEASES_ROLE;
        let mut walk: Vec<(RoleName, &crate::schema::Targets)> = vec![(RoleName::Targets, repo.targets.signed())];
        walk.extend(repo.delegations.iter().map(|(r, m)| (r.clone(), m.signed())));
        let is_released = |role: &RoleName| role.as_str() == "targets" || role.as_str() == releases;
        let wanted = |role: &RoleName, n: &str| tag.is_none_or(|t| t == n) && repo.may_sign(role, n);
        let mut rows: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (role, t) in &walk {
            if is_released(role) {
                for (n, meta) in t.targets.iter().filter(|(n, _)| wanted(role, n)) {
                    rows.entry((n.clone(), sha256_hex(meta))).or_default();
                }
            }
        }
        for (role, t) in &walk {
            if is_released(role) {
                continue;
            }
            for (n, meta) in t.targets.iter().filter(|(n, _)| wanted(role, n)) {
                if let Some(signers) = rows.get_mut(&(n.clone(), sha256_hex(meta))) {
                    signers.push(signer_name(role.as_str()));
                }
            }
        }
        let mut signed_tags: Vec<SignedTag> = rows
            .into_iter()
            .map(|((tag, digest), signers)| SignedTag { tag, digest, signers })
            .collect();
        signed_tags.sort_by(|a, b| natural_cmp(&a.tag, &b.tag));

        // Every delegation role (any depth) but releases, with canonical key IDs.
        let mut signers: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, t) in &walk {
            for d in &t.delegations.roles {
                if d.name == releases || RoleName::new(&d.name).is_err() {
                    continue;
                }
                let ids = d
                    .keyids
                    .iter()
                    .map(|id| t.delegations.keys.get(id).map_or_else(|| id.clone(), |k| k.canonical_id().to_owned()))
                    .collect();
                signers.insert(signer_name(&d.name), ids);
            }
        }
        let mut signers: Vec<NamedKeys> = signers
            .into_iter()
            .map(|(name, ids)| NamedKeys { name, keys: ids.into_iter().map(|id| KeyId { id }).collect() })
            .collect();
        signers.sort_by(|a, b| b.name.cmp(&a.name));

        let root = repo.root.signed();
        let ids = |role: &str| -> Vec<KeyId> {
            let mut v = root.roles.get(role).map(|r| r.keyids.clone()).unwrap_or_default();
            v.sort();
            v.into_iter().map(|id| KeyId { id }).collect()
        };
        let admin = vec![
            NamedKeys { name: "Root".into(), keys: ids("root") },
            NamedKeys { name: "Repository".into(), keys: ids("targets") },
        ];
        Self { name: name.to_owned(), signed_tags, signers, admin }
    }

    /// The JSON document element (tags signed by the repository key only list `Repo Admin`).
    fn for_json(&self) -> Self {
        let mut out = self.clone();
        for t in &mut out.signed_tags {
            if t.signers.is_empty() {
                t.signers.push(REPO_ADMIN.into());
            }
        }
        out
    }

    /// Signer names with their full canonical key IDs, sorted by name.
    pub fn signers(&self) -> Vec<(String, Vec<String>)> {
        let mut v: Vec<(String, Vec<String>)> =
            self.signers.iter().map(|s| (s.name.clone(), s.keys.iter().map(|k| k.id.clone()).collect())).collect();
        v.sort_by(|a, b| natural_cmp(&a.0, &b.0));
        v
    }

    /// `docker trust inspect --pretty` output.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        if self.signed_tags.is_empty() {
            out.push_str(&format!("\nNo signatures for {}\n\n", self.name));
        } else {
            out.push_str(&format!("\nSignatures for {}\n\n", self.name));
            let mut rows = vec![vec!["SIGNED TAG".to_owned(), "DIGEST".to_owned(), "SIGNERS".to_owned()]];
            for t in &self.signed_tags {
                let mut s = t.signers.clone();
                s.sort();
                let signers = if s.is_empty() { format!("({REPO_ADMIN})") } else { s.join(", ") };
                rows.push(vec![t.tag.clone(), t.digest.clone(), signers]);
            }
            out.push_str(&table(&rows));
        }
        let signers = self.signers();
        if !signers.is_empty() {
            out.push_str(&format!("\nList of signers and their keys for {}\n\n", self.name));
            let mut rows = vec![vec!["SIGNER".to_owned(), "KEYS".to_owned()]];
            for (name, mut keys) in signers {
                keys.sort();
                let short: Vec<String> = keys.iter().map(|k| k.chars().take(12).collect()).collect();
                rows.push(vec![name, short.join(", ")]);
            }
            out.push_str(&table(&rows));
        }
        out.push_str(&format!("\nAdministrative keys for {}\n\n", self.name));
        for (label, name) in [("Repository Key", "Repository"), ("Root Key", "Root")] {
            let keys: Vec<String> = self
                .admin
                .iter()
                .filter(|a| a.name == name)
                .flat_map(|a| a.keys.iter().map(|k| k.id.clone()))
                .collect();
            out.push_str(&format!("  {label}:\t{}\n", keys.join(", ")));
        }
        out
    }
}

/// `docker trust inspect` JSON: an array, indented with four spaces.
pub fn reports_json(reports: &[TrustReport]) -> String {
    let items: Vec<TrustReport> = reports.iter().map(TrustReport::for_json).collect();
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    if items.serialize(&mut ser).is_err() {
        return "[]".into();
    }
    String::from_utf8(buf).unwrap_or_else(|_| "[]".into())
}

/// Go `tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)` as docker's table formatter uses it: each
/// column but the last is padded to max(10, widest cell + 3).
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0).saturating_add(3).max(10))
        .collect();
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                out.push_str(cell);
            } else {
                out.push_str(cell);
                out.push_str(&" ".repeat(widths[i].saturating_sub(cell.chars().count())));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut v = vec!["v10", "v2", "latest", "v1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, ["latest", "v1", "v2", "v10"]);
    }

    #[test]
    fn table_like_tabwriter() {
        let t = table(&[vec!["SIGNER".into(), "KEYS".into()], vec!["alice".into(), "f9d10486534a".into()]]);
        assert_eq!(t, "SIGNER    KEYS\nalice     f9d10486534a\n");
    }
}
