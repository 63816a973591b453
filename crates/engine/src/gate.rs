//! The image gate: asked before every container is created — `docker create`/`run` and service
//! tasks alike — with the image as referenced and the manifest digests the node holds it
//! under. The daemon's wiring provides it (the cluster's image policy); without one, every
//! image may run.

use futures::future::BoxFuture;
use palisade_runtime::Image;

use crate::error::{Error, Result};
use crate::state::Engine;

/// Why the gate said no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateError {
    /// The image may not run here; the text names the rule and the image.
    Refused(String),
    /// The gate cannot decide now (no policy received yet); the caller may retry.
    Unavailable(String),
}

/// Decides whether a container of an image may be created.
pub trait ImageGate: Send + Sync + 'static {
    /// `Ok(warnings)` to allow (the warnings are shown to the caller). `action` says what
    /// asked, for the gate's records.
    fn admit<'a>(&'a self, action: &'a str, image: &'a str, digests: &'a [String]) -> BoxFuture<'a, std::result::Result<Vec<String>, GateError>>;
}

/// The manifest digests `image` is known by: the stored manifest's, and any `name@digest`
/// reference it was pulled by (an index's digest, for multi-platform images).
fn digests_of(image: &Image) -> Vec<String> {
    let mut digests = vec![image.summary.manifest.to_string()];
    for reference in &image.summary.references {
        if let Some(digest) = reference.reference().digest().map(ToString::to_string) {
            if !digests.contains(&digest) {
                digests.push(digest);
            }
        }
    }
    digests
}

impl Engine {
    /// Installs the gate every later container create passes; it can be set once.
    pub fn set_image_gate(&self, gate: Box<dyn ImageGate>) -> Result<()> {
        self.inner.gate.set(gate).map_err(|_| Error::Internal("the image gate is already set".into()))
    }

    /// Asks the gate (if any) about a container of `reference`, stored as `image`.
    pub(crate) async fn admit_image(&self, action: &str, reference: &str, image: &Image) -> Result<Vec<String>> {
        let Some(gate) = self.inner.gate.get() else { return Ok(Vec::new()) };
        gate.admit(action, reference, &digests_of(image)).await.map_err(|e| match e {
            GateError::Refused(message) => Error::Refused(message),
            GateError::Unavailable(message) => Error::Unavailable(message),
        })
    }
}
