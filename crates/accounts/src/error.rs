//! The crate's error type.

/// Result alias for this crate.
pub type Result<T, E = AccountsError> = std::result::Result<T, E>;

/// What can go wrong reading or changing the access model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountsError {
    /// Input that breaks a rule (a name's grammar, a password's length, a level's spelling).
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was invalid (`user name`, `password`, …).
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// The named thing does not exist.
    #[error("{kind} {name:?} does not exist")]
    NotFound {
        /// `user`, `organisation`, `team`, `repository`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The name is taken.
    #[error("{kind} {name:?} already exists")]
    Exists {
        /// `user`, `organisation`, `team`, `repository`, `namespace`.
        kind: &'static str,
        /// Its name.
        name: String,
    },
    /// The acting user may not make this change.
    #[error("{actor:?} may not {what}")]
    Forbidden {
        /// Who tried.
        actor: String,
        /// What they tried.
        what: String,
    },
    /// The model kept changing while this change (or read) was made: it ran `attempts` times,
    /// each time on state that another change replaced before it was done. Nothing was changed.
    #[error("the accounts changed {attempts} times while this was done; nothing was changed, try again")]
    Contended {
        /// How many times it ran.
        attempts: u32,
    },
    /// The cluster store could not commit, or confirm what is committed, in time (no leader or
    /// no quorum). A change may or may not have been made.
    #[error("accounts: {0}")]
    Unavailable(String),
    /// The database failed.
    #[error("accounts database: {0}")]
    Store(String),
}

impl AccountsError {
    /// Whether the same call may succeed later unchanged: the model was busy, or the cluster
    /// store had no quorum.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Contended { .. } | Self::Unavailable(_))
    }
}

macro_rules! store_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for AccountsError {
            fn from(e: $t) -> Self {
                Self::Store(e.to_string())
            }
        }
    )*};
}
store_error_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    palisade_store::Error
);

pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> AccountsError {
    AccountsError::Invalid { what, reason: reason.into() }
}

pub(crate) fn not_found(kind: &'static str, name: &str) -> AccountsError {
    AccountsError::NotFound { kind, name: name.to_owned() }
}
