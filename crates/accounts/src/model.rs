//! The records of the access model and the rules their names follow.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// A team's level on a repository. Ordered: each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Pull.
    Read,
    /// Pull and push.
    Write,
    /// Pull, push, delete, and manage the repository (visibility, trust data keys).
    Admin,
}

impl Level {
    /// The level's name (`read`, `write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Level {
    type Err = crate::AccountsError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "read" | "read-only" => Ok(Self::Read),
            "write" | "read-write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(invalid("level", format!("{s:?}: expected read, write or admin"))),
        }
    }
}

/// Who may pull a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Anyone, without logging in.
    Public,
    /// Its namespace's owner and the teams granted it.
    Private,
}

impl Visibility {
    /// The change that sets this visibility, as the audit log names it.
    pub fn change(self) -> &'static str {
        match self {
            Self::Public => "make public",
            Self::Private => "make private",
        }
    }
}

impl std::str::FromStr for Visibility {
    type Err = crate::AccountsError;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "public" => Ok(Self::Public),
            "private" => Ok(Self::Private),
            _ => Err(invalid("visibility", format!("{s:?}: expected public or private"))),
        }
    }
}

/// Where a user's password is checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind")]
pub enum UserSource {
    /// Here: a bcrypt hash.
    Local {
        /// `$2b$…`.
        password_hash: String,
    },
    /// In the directory (LDAP); the record is made and kept current on each login and sync.
    Directory {
        /// The user's distinguished name.
        dn: String,
        /// The directory groups seen at the last sync.
        groups: BTreeSet<String>,
    },
}

/// A user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique; also the name of the user's own namespace.
    pub name: String,
    /// Where the password is checked.
    pub source: UserSource,
    /// E-mail address, if known.
    #[serde(default)]
    pub email: Option<String>,
    /// A platform administrator: may do everything.
    #[serde(default)]
    pub admin: bool,
}

/// An organisation: a namespace with owners and teams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organisation {
    /// Unique among organisations and users (it is a namespace).
    pub name: String,
    /// Users who manage it.
    pub owners: BTreeSet<String>,
}

/// A team of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Team {
    /// The organisation.
    pub organisation: String,
    /// Unique within the organisation.
    pub name: String,
    /// Members added by hand.
    pub members: BTreeSet<String>,
    /// A directory group whose members are members too (synced on login and on demand).
    #[serde(default)]
    pub directory_group: Option<String>,
    /// Repository name → level.
    pub grants: BTreeMap<String, Level>,
}

impl Team {
    /// Whether `user` (with its directory groups) belongs to the team.
    pub fn has_member(&self, user: &User) -> bool {
        self.members.contains(&user.name)
            || match (&self.directory_group, &user.source) {
                (Some(group), UserSource::Directory { groups, .. }) => groups.contains(group),
                _ => false,
            }
    }
}

/// A repository's record: its visibility and who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// The repository name (`namespace/…`).
    pub name: String,
    /// Who may pull.
    pub visibility: Visibility,
    /// The user who created it.
    pub created_by: String,
}

/// Longest user, organisation or team name.
const MAX_NAME: usize = 64;

/// A user, organisation or team name: 1–64 characters that are a valid repository-name
/// component (lower-case letters and digits, separated by `.`, `_`, `__` or dashes), so
/// that a user's or organisation's name is also its namespace.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(invalid(what, format!("{name:?} must be 1 to {MAX_NAME} characters")));
    }
    if name.contains('/') || name.parse::<palisade_reference::RepoName>().is_err() {
        return Err(invalid(
            what,
            format!("{name:?}: use lower-case letters and digits, separated by '.', '_' or '-'"),
        ));
    }
    Ok(())
}

/// The shortest password accepted for a local user.
pub(crate) const MIN_PASSWORD: usize = 8;
