//! Palisade's web console: the trusted registry in a browser, served under `/console/`.
//!
//! Server-rendered HTML ([`maud`] escapes every interpolated value) with no JavaScript. Every
//! change calls the same [`palisade_accounts::Accounts`] methods the JSON API calls, so the
//! console can never allow what the API refuses.
//!
//! Security properties (enforced in `guard.rs`, `session.rs` and `csrf.rs`):
//! - logins go through [`palisade_registry::Registry::check_password`], the registry's login
//!   gate (rates per address and per user);
//! - a session is a random 256-bit id from the OS, kept server-side (only its SHA-256 is used
//!   as the key), idle-limited and absolutely limited, in a `HttpOnly; Secure;
//!   SameSite=Strict; Path=/console` cookie;
//! - every POST but the login carries the session's CSRF token (compared in constant time),
//!   and every POST with an `Origin` or `Sec-Fetch-Site` header must be same-origin;
//! - every response carries a strict `Content-Security-Policy`, `X-Content-Type-Options`,
//!   `Referrer-Policy` and `Cache-Control: no-store`.
#![warn(missing_docs)]

mod audit;
mod certificate;
mod csrf;
mod error;
mod guard;
mod layout;
mod pages;
mod scans;
mod session;
mod signers;
mod state;

pub use audit::{AuditRow, AuditView};
pub use certificate::{CertificateInfo, TlsCertificate};
pub use error::{ConsoleError, Result};
pub use scans::{Findings, ScanLookup, ScanSummary};
pub use session::{SessionLimits, Sessions};
pub use signers::{SignerLookup, Signers, TrustSigners};
pub use state::{router, Console};
