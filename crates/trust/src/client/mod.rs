//! The trust client (`palisade trust …`, docker's `docker trust …`): a TUF client of a Notary v1
//! server that shares docker's and notary's trust directory.
//!
//! Paved path: [`Repository::new`] for a GUN, then [`Repository::fetch`] (verified metadata),
//! and the operations that publish at once: [`Repository::initialize`],
//! [`Repository::add_signer`], [`Repository::sign`], [`Repository::revoke`],
//! [`Repository::rotate_key`]. [`TrustReport`] renders what `docker trust inspect` prints.

mod error;
mod hardware;
mod image;
mod inspect;
mod keyfile;
mod keystore;
mod passphrase;
mod pinned;
mod remote;
mod repo;
mod trust_dir;
mod update;

pub use error::{ClientError, ClientResult};
pub use hardware::{HardwareToken, PKCS11_MODULE_ENV, PKCS11_PIN_ENV, PKCS11_TOKEN_ENV};
pub use image::ImageName;
pub use inspect::{natural_cmp, reports_json, SignedTag, TrustReport};
pub use keyfile::{parse_public_key_pem, public_key_pem, KeyHeaders};
pub use keystore::KeyStore;
pub use pinned::PinnedRepository;
pub use passphrase::{EnvOrPrompt, FixedPassphrase, Passphrases, REPOSITORY_PASSPHRASE_ENV, ROOT_PASSPHRASE_ENV};
pub use remote::{RemoteOptions, DEFAULT_SERVER, SERVER_ENV};
pub use repo::{validate_signer_name, Repository, RELEASES_ROLE};
pub use trust_dir::{docker_config_dir, TrustDir};
pub use update::{target_meta, RootPin, TrustedRepo};
