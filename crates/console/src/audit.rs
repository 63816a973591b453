//! The seam for the audit log: the console shows what an [`AuditView`] returns, or "not
//! configured" when the registry has none.

/// One audit entry as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Who acted.
    pub actor: String,
    /// What was done (`create repository`, …).
    pub action: String,
    /// On what.
    pub target: String,
}

/// Read access to the audit log. Implementations may block (they are called from
/// `spawn_blocking`).
pub trait AuditView: Send + Sync {
    /// The newest `limit` entries, newest first, or why they cannot be read.
    fn recent(&self, limit: usize) -> Result<Vec<AuditRow>, String>;
}
