//! Engine API bodies. Field names are the Engine API's (Go's), so most structs rename to
//! PascalCase; timestamps are RFC 3339 strings with nanoseconds, as Go writes them.

mod node;
mod swarm;
mod system;

pub use node::*;
pub use swarm::*;
pub use system::*;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Formats a time as the Engine API does (`2025-06-01T12:00:00.000000000Z`).
pub fn timestamp(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC).format(&Rfc3339).unwrap_or_default()
}

/// `{"Index": n}`: an object's version, for optimistic concurrency on updates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectVersion {
    /// Bumped on every change.
    pub index: u64,
}
