//! The budgeted proptest runner.

use std::cell::Cell;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Cases each target runs in the suite unless it asks for another number
/// ([`fuzz_cases`]) or `PALISADE_FUZZ_CASES` says otherwise.
const DEFAULT_CASES: u32 = 128;
/// Cases per proptest run in timed mode; runs repeat, with fresh seeds, until the deadline.
const TIMED_CHUNK: u32 = 256;
/// Limits on shrinking a failure, so a slow property still reports within minutes.
const MAX_SHRINK_ITERS: u32 = 4096;
const MAX_SHRINK_MILLIS: u32 = 60_000;

/// Held while a target runs: targets of one test binary run one at a time even under
/// `cargo test`'s threads, so each one's allocation peaks are its own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// How long a target runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// A fixed number of cases (the suite's short budget).
    Cases(u32),
    /// As many cases as fit in this time (`PALISADE_FUZZ_SECONDS`, set by `scripts/fuzz`).
    Time(Duration),
}

impl Budget {
    /// `PALISADE_FUZZ_SECONDS` (timed) if set, else `PALISADE_FUZZ_CASES`, else `default_cases`.
    pub fn from_env(default_cases: u32) -> Self {
        let var = |name| std::env::var(name).ok().and_then(|v| v.trim().parse::<u64>().ok());
        match (var("PALISADE_FUZZ_SECONDS"), var("PALISADE_FUZZ_CASES")) {
            (Some(secs), _) => Self::Time(Duration::from_secs(secs)),
            (None, Some(cases)) => Self::Cases(u32::try_from(cases).unwrap_or(u32::MAX)),
            (None, None) => Self::Cases(default_cases),
        }
    }
}

/// [`fuzz_cases`] with the default case budget.
pub fn fuzz<S>(target: &str, strategy: S, property: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    fuzz_cases(target, DEFAULT_CASES, strategy, property);
}

/// Runs `property` on values from `strategy` under [`Budget::from_env`]`(default_cases)`, then
/// prints `fuzz-figures: target=… cases=… seconds=… result=…`. Panics (failing the test) with the
/// shrunk input when a case fails or panics, or if [`crate::CountingAlloc`] is not installed.
#[allow(clippy::panic)] // a failed property fails the calling test
pub fn fuzz_cases<S>(
    target: &str,
    default_cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S: Strategy,
    S::Value: Debug,
{
    assert!(crate::installed(), "fuzz target {target}: install palisade_fuzzing::CountingAlloc as the global allocator");
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let budget = Budget::from_env(default_cases);
    let start = Instant::now();
    let deadline = match budget {
        Budget::Time(t) => Some(start + t),
        Budget::Cases(_) => None,
    };
    let cases = Cell::new(0u64);
    loop {
        let config = Config {
            cases: match budget {
                Budget::Cases(n) => n,
                Budget::Time(_) => TIMED_CHUNK,
            },
            failure_persistence: None,
            max_shrink_iters: MAX_SHRINK_ITERS,
            max_shrink_time: MAX_SHRINK_MILLIS,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config);
        let result = runner.run(&strategy, |value| {
            // Past the deadline the rest of the chunk is skipped (not counted).
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            cases.set(cases.get() + 1);
            property(value)
        });
        if let Err(failure) = result {
            figures(target, cases.get(), start, "failed");
            panic!("fuzz target {target} failed after {} cases: {failure}", cases.get());
        }
        if deadline.is_none_or(|d| Instant::now() >= d) {
            break;
        }
    }
    figures(target, cases.get(), start, "ok");
}

/// The line `scripts/fuzz` collects.
fn figures(target: &str, cases: u64, start: Instant, result: &str) {
    println!("fuzz-figures: target={target} cases={cases} seconds={:.1} result={result}", start.elapsed().as_secs_f64());
}
