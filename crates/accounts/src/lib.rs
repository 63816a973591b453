//! The trusted registry's access model, as Harbor's and Docker Trusted Registry's users know it.
//!
//! - **Users**: local (a bcrypt password kept here) or from a directory (LDAP; their
//!   passwords are checked there). A user owns the namespace of its own name.
//! - **Organisations** own a namespace too; their owners manage the organisation's teams and
//!   repositories.
//! - **Teams** belong to an organisation; members (kept here, or mapped from a directory
//!   group and synced on login) get a level per repository: read, write or admin.
//! - **Repositories** are public (anyone pulls) or private; a repository that has no record
//!   yet is private to its namespace's owner, who creates it by pushing.
//!
//! What each registry action needs: pull ← read, push ← write, delete (and deleting or
//! rotating trust data) ← admin. Platform administrators may do everything. The registry's
//! token service grants scopes from [`Accounts::allows`] alone (through [`AccountsAuthorizer`]),
//! so the registry and the trust server it issues tokens for follow one model.
//!
//! Every change is validated whole before it is written, in one redb transaction: bad input
//! gets a clear error and changes nothing.

pub mod api;
mod credentials;
mod directory;
mod error;
mod model;
mod store;
mod views;

pub use credentials::{AccountCredentials, AccountsAuthorizer, DirectoryLogin, DirectoryOutcome};
pub use directory::{sync_directory_users, LdapLogin, SyncReport};
pub use error::{AccountsError, Result};
pub use model::{Level, Organisation, Repository, Team, User, UserSource, Visibility};
pub use store::Accounts;
pub use views::{is_admin, managed_namespaces, teams_of, visible_repositories, ListedRepository};
