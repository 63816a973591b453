//! The storage layout, and the one place that turns names into driver paths.
//!
//! ```text
//! <root>/
//! ├── blobs/<alg>/<hex[0..2]>/<hex>/data        content-addressed bytes, shared by every repository
//! ├── repositories/<name component>/…/          one directory level per name component
//! │   ├── _layers/<alg>/<hex>/link              blob linked into this repository (content: digest)
//! │   ├── _manifests/revisions/<alg>/<hex>/link manifest present here (content: its media type)
//! │   ├── _manifests/tags/<tag>/link            tag → manifest digest
//! │   └── _referrers/<alg>/<subject hex>/<alg>-<hex>   descriptor JSON of a manifest whose
//! │                                                    `subject` is that digest
//! └── _uploads/<id>/
//!     ├── repo                                  the repository the upload belongs to
//!     ├── startedat                             RFC 3339 start time (stale-upload cleanup)
//!     └── data                                  bytes received so far
//! ```
//! Name components always start with `[a-z0-9]`, so they never collide with the `_`-prefixed
//! entries inside a repository directory. Blobs become visible in `blobs/` only by an atomic
//! rename of a fully received, digest-verified upload.

use crate::Digest;
use crate::driver::{DriverResult, StoragePath};
use crate::names::{RepoName, Tag};

/// Root of the content-addressed blob store.
pub(crate) const BLOBS: &str = "blobs";
/// Root of repository metadata.
pub(crate) const REPOSITORIES: &str = "repositories";
/// Root of in-progress uploads.
pub(crate) const UPLOADS: &str = "_uploads";

/// Every path the storage layer uses.
pub(crate) enum PathSpec<'a> {
    BlobData(&'a Digest),
    Repo(&'a RepoName),
    LayerLink(&'a RepoName, &'a Digest),
    RevisionLink(&'a RepoName, &'a Digest),
    TagsDir(&'a RepoName),
    TagLink(&'a RepoName, &'a Tag),
    ReferrersDir(&'a RepoName, &'a Digest),
    ReferrerEntry(&'a RepoName, &'a Digest, &'a Digest),
    Upload(&'a str),
    UploadRepo(&'a str),
    UploadStartedAt(&'a str),
    UploadData(&'a str),
}

/// Resolve a spec to a driver path.
pub(crate) fn path_for(spec: PathSpec<'_>) -> DriverResult<StoragePath> {
    let repo = |r: &RepoName| format!("{REPOSITORIES}/{r}");
    let dpath = |d: &Digest| format!("{}/{}", d.algorithm().as_str(), d.hex());
    let s = match spec {
        PathSpec::BlobData(d) => format!(
            "{BLOBS}/{}/{}/{}/data",
            d.algorithm().as_str(),
            d.hex().get(..2).unwrap_or("00"),
            d.hex()
        ),
        PathSpec::Repo(r) => repo(r),
        PathSpec::LayerLink(r, d) => format!("{}/_layers/{}/link", repo(r), dpath(d)),
        PathSpec::RevisionLink(r, d) => {
            format!("{}/_manifests/revisions/{}/link", repo(r), dpath(d))
        }
        PathSpec::TagsDir(r) => format!("{}/_manifests/tags", repo(r)),
        PathSpec::TagLink(r, t) => format!("{}/_manifests/tags/{t}/link", repo(r)),
        PathSpec::ReferrersDir(r, subject) => format!("{}/_referrers/{}", repo(r), dpath(subject)),
        PathSpec::ReferrerEntry(r, subject, m) => format!(
            "{}/_referrers/{}/{}-{}",
            repo(r),
            dpath(subject),
            m.algorithm().as_str(),
            m.hex()
        ),
        PathSpec::Upload(id) => format!("{UPLOADS}/{id}"),
        PathSpec::UploadRepo(id) => format!("{UPLOADS}/{id}/repo"),
        PathSpec::UploadStartedAt(id) => format!("{UPLOADS}/{id}/startedat"),
        PathSpec::UploadData(id) => format!("{UPLOADS}/{id}/data"),
    };
    StoragePath::new(s)
}
