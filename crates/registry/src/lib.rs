//! OCI distribution v1.1 registry server, storage backends and auth.
#![warn(missing_docs)]
