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
    /// `success` or `failure`.
    pub outcome: String,
}

/// Read access to the audit log. Implementations may block (they are called from
/// `spawn_blocking`).
pub trait AuditView: Send + Sync {
    /// The newest `limit` entries, newest first, or why they cannot be read.
    fn recent(&self, limit: usize) -> Result<Vec<AuditRow>, String>;
}

/// The tamper-evident audit log itself.
impl AuditView for palisade_audit::AuditLog {
    fn recent(&self, limit: usize) -> Result<Vec<AuditRow>, String> {
        let entries = self.entries(None).map_err(|e| e.to_string())?;
        let rfc3339 = time::format_description::well_known::Rfc3339;
        Ok(entries
            .into_iter()
            .rev()
            .take(limit)
            .map(|e| AuditRow {
                time: e.time.format(&rfc3339).unwrap_or_default(),
                actor: e.actor,
                action: e.action,
                target: e.target,
                outcome: match e.outcome {
                    palisade_audit::Outcome::Success => "success".to_owned(),
                    palisade_audit::Outcome::Failure => "failure".to_owned(),
                },
            })
            .collect())
    }
}
