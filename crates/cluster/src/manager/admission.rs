//! The admission hook and the policy it applies: every service spec that `service create` or
//! `service update` (a rollback included) would store passes through [`Manager::admit`]
//! first, and nothing is stored when it refuses. Admission resolves the image's tag through
//! the repository's signed targets and pins the digest in the spec, so every task — those
//! rescheduled later included — runs what was judged, whatever the tag points at afterwards.
//!
//! The policy itself is one record, set only through [`Manager::policy_set`] (managers only:
//! `/control/` needs a manager certificate); every change, refusal and audit is appended to
//! the policy log, which keeps the newest [`MAX_LOG_ENTRIES`].

use palisade_policy::Policy;

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{LogEntry, LogKind, PolicyObject, ServiceSpec, Versioned, WriteSet, MAX_LOG_ENTRIES, POLICY_KEY};
use crate::rpc::{PolicyRecord, PolicyState, PolicyView};

/// Most records one node report may carry.
const MAX_RECORDS_PER_REPORT: usize = 64;

impl Manager {
    /// Whether `spec` may run in this cluster under the stored policy: pins the digest its
    /// tag resolved to and returns what audit-mode rules let through; a refusal is
    /// [`Error::PolicyRefused`] naming the rule and the image. `action` names the request
    /// in the log.
    pub(super) async fn admit(&self, spec: &mut ServiceSpec, action: &str) -> Result<Vec<String>> {
        let Some((policy, version)) = self.policy()? else {
            tracing::debug!(service = %spec.name, image = %spec.task.image, "admitted: no image policy");
            return Ok(Vec::new());
        };
        let decision = self
            .evaluator
            .evaluate(&policy, version, &spec.task.image, &[])
            .await
            .map_err(|e| Error::invalid(e.to_string()))?;
        if let Some(refusal) = decision.refusal() {
            self.record(LogKind::Refused, action, &refusal).await;
            return Err(Error::PolicyRefused(refusal));
        }
        let warnings = decision.audited();
        for warning in &warnings {
            self.record(LogKind::Audited, action, warning).await;
        }
        if let Some(pinned) = decision.pinned {
            tracing::info!(service = %spec.name, image = %spec.task.image, %pinned, "image pinned to its judged digest");
            spec.task.image = pinned;
        }
        Ok(warnings)
    }

    /// The stored policy and its version, parsed.
    fn policy(&self) -> Result<Option<(Policy, u64)>> {
        let Some(stored) = self.records.get::<PolicyObject>(POLICY_KEY)? else { return Ok(None) };
        let policy = Policy::parse(&stored.value.text).map_err(|e| Error::internal("the stored image policy", e))?;
        Ok(Some((policy, stored.version)))
    }

    /// `policy set`: validates the whole document, then stores it; returns its version.
    pub(super) async fn policy_set(&self, text: String) -> Result<u64> {
        let policy = Policy::parse(&text).map_err(|e| Error::invalid(e.to_string()))?;
        let current = self.records.get::<PolicyObject>(POLICY_KEY)?;
        let object = PolicyObject { text, updated_at: self.clock.now() };
        let version = self.records.commit(WriteSet::new().put(&object, current.as_ref().map(|c| c.version))?).await?;
        let rules: Vec<String> = policy.rules().iter().map(|r| format!("{} ({})", r.name, r.mode.as_str())).collect();
        self.record(LogKind::Changed, "policy set", &format!("policy version {version}: rules [{}]", rules.join(", "))).await;
        Ok(version)
    }

    pub(super) fn policy_view(&self) -> Result<Option<PolicyView>> {
        Ok(self.records.get::<PolicyObject>(POLICY_KEY)?.map(|Versioned { version, value }| PolicyView {
            version,
            text: value.text,
            updated_at: value.updated_at,
        }))
    }

    /// What a node holding `held` should be sent: the stored policy when its version differs.
    pub(super) fn policy_for(&self, held: Option<u64>) -> Result<Option<PolicyState>> {
        let stored = self.records.get::<PolicyObject>(POLICY_KEY)?;
        let state = match stored {
            Some(s) => PolicyState { version: s.version, text: Some(s.value.text) },
            None => PolicyState { version: 0, text: None },
        };
        Ok((held != Some(state.version)).then_some(state))
    }

    pub(super) fn policy_log(&self) -> Result<Vec<LogEntry>> {
        Ok(self.records.list::<LogEntry>()?.into_iter().map(|e| e.value).collect())
    }

    /// Decisions a node made, for the log.
    pub(super) async fn policy_records(&self, node: &palisade_pki::NodeId, records: Vec<PolicyRecord>) -> Result<()> {
        if records.len() > MAX_RECORDS_PER_REPORT {
            return Err(Error::invalid(format!("at most {MAX_RECORDS_PER_REPORT} policy records per report")));
        }
        if records.iter().any(|r| r.kind == LogKind::Changed) {
            return Err(Error::invalid("nodes report decisions, not policy changes"));
        }
        for r in records {
            self.append(LogEntry::new(self.clock.now(), r.kind, node.to_string(), r.action, r.message)).await?;
        }
        Ok(())
    }

    /// Appends to the log; a failure is logged, never fatal to the decision it records.
    async fn record(&self, kind: LogKind, action: &str, message: &str) {
        let entry = LogEntry::new(self.clock.now(), kind, self.self_id.to_string(), action.to_owned(), message.to_owned());
        if let Err(e) = self.append(entry).await {
            tracing::warn!("policy log: {e}");
        }
    }

    /// Appends `entry`, dropping the oldest entries beyond the limit in the same commit.
    async fn append(&self, entry: LogEntry) -> Result<()> {
        tracing::info!(kind = ?entry.kind, action = %entry.action, "{}", entry.message);
        let existing = self.records.list::<LogEntry>()?;
        let excess = (existing.len() + 1).saturating_sub(MAX_LOG_ENTRIES);
        let mut writes = WriteSet::new().put(&entry, None)?;
        for old in existing.iter().take(excess) {
            writes = writes.delete::<LogEntry>(&old.value.key, old.version);
        }
        self.records.commit(writes).await.map(drop)
    }
}
