//! [`PolicyBackend`] for [`Daemon`]: the image policy, kept by the managers.

use palisade_engine_api::policy::{Decision, PolicyDocument, PolicyLogEntry};
use palisade_engine_api::PolicyBackend;
use time::format_description::well_known::Rfc3339;

use super::{to_api, unexpected, ApiResult};
use crate::daemon::Daemon;
use crate::rpc::{ControlCall, ControlReply, PolicyView};

fn document(view: PolicyView) -> PolicyDocument {
    PolicyDocument { version: view.version, text: view.text, updated_at: view.updated_at.format(&Rfc3339).unwrap_or_default() }
}

impl PolicyBackend for Daemon {
    async fn policy_inspect(&self) -> ApiResult<Option<PolicyDocument>> {
        match self.call(ControlCall::PolicyInspect).await? {
            ControlReply::Policy(view) => Ok(view.map(document)),
            other => Err(unexpected(&other)),
        }
    }

    async fn policy_set(&self, text: String) -> ApiResult<PolicyDocument> {
        let result = match self.call(ControlCall::PolicySet { text }).await {
            Ok(ControlReply::Policy(Some(view))) => Ok(document(view)),
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(e),
        };
        let version = result.as_ref().map(|d| d.version.to_string()).unwrap_or_default();
        self.record(palisade_audit::action::POLICY_CHANGE, "image policy", &[("version", version)], &result).await;
        result
    }

    async fn policy_test(&self, image: String) -> ApiResult<Decision> {
        let view = match self.call(ControlCall::PolicyInspect).await? {
            ControlReply::Policy(view) => view,
            other => return Err(unexpected(&other)),
        };
        self.explain_image(view.map(|v| (v.version, v.text)), &image).await.map_err(to_api)
    }

    async fn policy_log(&self) -> ApiResult<Vec<PolicyLogEntry>> {
        match self.call(ControlCall::PolicyLog).await? {
            ControlReply::PolicyLog(entries) => Ok(entries
                .into_iter()
                .map(|e| PolicyLogEntry {
                    time: e.at.format(&Rfc3339).unwrap_or_default(),
                    kind: e.kind.as_str().to_owned(),
                    node: e.node,
                    action: e.action,
                    message: e.message,
                })
                .collect()),
            other => Err(unexpected(&other)),
        }
    }
}
