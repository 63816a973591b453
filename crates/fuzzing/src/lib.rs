//! Fuzzing on stable Rust, for the crates' `fuzz_*` tests.
//!
//! * [`fuzz`]: runs one proptest property under the suite's budget — a few cases by default,
//!   or for `PALISADE_FUZZ_SECONDS` seconds (what `scripts/fuzz` sets) — and prints one
//!   `fuzz-figures:` line with the cases run and the time taken. Panics inside the property are
//!   caught by proptest, shrunk and reported as failures.
//! * [`CountingAlloc`] and [`bounded`]: a counting global allocator (each fuzz test binary
//!   installs it) and the check that a call's peak live heap stays under
//!   [`alloc_bound`]`(input length)`: no unbounded allocation driven by hostile input.
//! * [`json`]: near-valid JSON documents (valid seeds with hostile mutations) and hostile
//!   strings and values, shared by every JSON wire format's target.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: palisade_fuzzing::CountingAlloc = palisade_fuzzing::CountingAlloc;
//!
//! #[test]
//! fn fuzz_tags() {
//!     palisade_fuzzing::fuzz("tags", palisade_fuzzing::json::hostile_string(), |s| {
//!         palisade_fuzzing::bounded(s.len(), || s.parse::<Tag>().is_ok())?;
//!         Ok(())
//!     });
//! }
//! ```
#![warn(missing_docs)]

mod alloc;
pub mod json;
mod runner;

pub use alloc::{alloc_bound, bounded, bounded_per_byte, installed, CountingAlloc};
pub use runner::{fuzz, fuzz_cases, Budget};
