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
//! Every change is validated whole before it is written, and written in one atomic step: bad
//! input gets a clear error and changes nothing.
//!
//! # Where the model is kept
//!
//! The same model code runs on two backends, and every public method (the audit hook too)
//! behaves the same on both:
//!
//! - [`Accounts::open`]: a redb file of its own (0600), for `palisade registry serve`;
//! - [`Accounts::on_cluster_store`]: the swarm's replicated cluster store, encrypted at rest
//!   (password hashes included), shared by every manager. A manager's daemon hands its
//!   `Arc<ReplicatedStore>` and a runtime handle in:
//!
//!   ```ignore
//!   let accounts = Arc::new(Accounts::on_cluster_store(store, tokio::runtime::Handle::current()));
//!   accounts.set_audit(log);
//!   // then as with `Accounts::open`: AccountCredentials::new, AccountsAuthorizer, api::router …
//!   ```
//!
//!   Its methods block on that runtime: call them from `spawn_blocking` threads (as every
//!   caller in the workspace already does), never from async tasks.
//!
//! A change may be made on any manager: it catches up with every change committed before it
//! (a read barrier through the raft leader), reads and decides, and commits through the leader
//! with a check of every record it read (and of the generation of every table it listed). When
//! another change got in first — on this manager or another — the checks fail, nothing is
//! written, and the change runs again on the new state, up to five times
//! ([`AccountsError::Contended`] then). Changes are therefore as if made one at a time, as
//! they are in the redb file. A change whose commit cannot be confirmed (no leader or quorum)
//! fails with [`AccountsError::Unavailable`]: it may or may not have been made.
//!
//! Reads and decisions ([`Accounts::allows`], the lists, [`Accounts::may_manage_organisation`])
//! use the manager's own copy as it is, without a round trip to the leader. Invariant: each
//! decision rests on one committed state of the model (reads that saw a change land between
//! them are made again), and that state includes every change this manager has applied; on a
//! follower it may lack changes the leader committed and has not yet replicated (normally one
//! heartbeat, 100 ms), and a manager cut off from the others keeps deciding on the state it
//! last had. So a revocation takes effect on each manager as it applies it, as a bearer token
//! issued before it stays valid until it expires. Call [`Accounts::catch_up`] first where a
//! read must see every change committed anywhere.

pub mod api;
mod backend;
mod change;
mod credentials;
mod directory;
mod error;
mod model;
mod store;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
mod views;

pub use credentials::{AccountCredentials, AccountsAuthorizer, DirectoryLogin, DirectoryOutcome};
pub use directory::{sync_directory_users, LdapLogin, SyncReport};
pub use error::{AccountsError, Result};
pub use model::{Level, Organisation, Repository, Team, User, UserSource, Visibility};
pub use store::Accounts;
pub use views::{is_admin, managed_namespaces, teams_of, visible_repositories, ListedRepository};
