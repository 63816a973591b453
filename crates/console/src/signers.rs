//! The seam for tag signers from a trust server: the repository page asks a [`SignerLookup`]
//! (when one is configured) who signed each tag's digest, and shows nothing about signers
//! otherwise.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

/// Manifest digest (`sha256:…`) → the roles that signed it (`targets`, `targets/releases`, …).
pub type Signers = BTreeMap<String, Vec<String>>;

/// Who signed a repository's manifests, from verified trust data.
pub trait SignerLookup: Send + Sync {
    /// The signers of `digests` in `repository` (digests nobody signed are left out), or why
    /// the trust data could not be fetched or verified.
    fn signers<'a>(&'a self, repository: &'a str, digests: &'a [String]) -> Pin<Box<dyn Future<Output = Result<Signers, String>> + Send + 'a>>;
}
