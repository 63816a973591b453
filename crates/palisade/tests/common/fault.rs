//! Fault injection: kill a server at a moment that varies per run, while worker threads load it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the workers get to make progress before the kill comes anyway.
const PATIENCE: Duration = Duration::from_secs(20);

/// A delay below `max_ms` milliseconds that differs from run to run.
pub fn random_ms(max_ms: u64) -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    u64::from(nanos) % max_ms.max(1)
}

/// Once `ready()` holds (or [`PATIENCE`] ran out), waits a random moment below `max_delay_ms`,
/// runs `kill`, then raises `stop` and joins the `workers` (which end at `stop` or at their
/// first failed request). The caller asserts on what the workers recorded.
pub fn kill_mid_flight(workers: Vec<JoinHandle<()>>, stop: &AtomicBool, ready: impl Fn() -> bool, max_delay_ms: u64, kill: impl FnOnce()) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(random_ms(max_delay_ms)));
    kill();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.join().unwrap();
    }
}
