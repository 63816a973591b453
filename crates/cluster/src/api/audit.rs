//! The node's audit records of what its Engine API was asked to do to the swarm: join,
//! leave, updates (CA rotation among them), secrets and the image policy. The caller is the
//! Engine API socket's (root-equivalent) user; secret values never reach the log, names do.

use palisade_audit::{Event, Outcome};

use super::ApiResult;
use crate::daemon::Daemon;

/// The actor of records made at the Engine API: whoever holds its socket.
const ENGINE_API: &str = "engine-api";

impl Daemon {
    /// Records `action` on `target` with the outcome of `result` (and its error), off the async
    /// threads. A failure to record is logged, never the caller's error.
    pub(super) async fn record<T>(&self, action: &str, target: impl Into<String>, details: &[(&str, String)], result: &ApiResult<T>) {
        let error = result.as_ref().err().map(ToString::to_string);
        self.append(action, target.into(), details, result.is_ok(), error).await;
    }

    /// [`Self::record`] without the error's text, for actions whose errors may name what must
    /// stay encrypted at rest (a secret's name).
    pub(super) async fn record_outcome<T>(&self, action: &str, target: impl Into<String>, result: &ApiResult<T>) {
        self.append(action, target.into(), &[], result.is_ok(), None).await;
    }

    async fn append(&self, action: &str, target: String, details: &[(&str, String)], ok: bool, error: Option<String>) {
        let mut event = Event::new(ENGINE_API, action, target, Outcome::of(ok));
        for (key, value) in details {
            event = event.detail(*key, value.clone());
        }
        if let Some(error) = error {
            event = event.detail("error", error);
        }
        let log = self.audit.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || log.record(event)).await {
            tracing::error!("audit log: {e}");
        }
    }
}
