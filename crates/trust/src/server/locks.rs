//! One lock per GUN, so a slow update of one GUN never holds up another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Per-GUN mutexes, created on first use and dropped when nobody holds or waits for them.
///
/// Invariant: a GUN's entry is cloned out of the map only while the map lock is held, so under
/// that lock `Arc::strong_count == 2` (the map's and ours) means nobody else holds or waits.
#[derive(Debug, Default)]
pub(crate) struct GunLocks {
    held: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

impl GunLocks {
    /// Runs `f` holding `gun`'s lock (updates of one GUN are serialised: validation reads and
    /// the commit see the same state).
    pub(crate) fn with<R>(&self, gun: &str, f: impl FnOnce() -> R) -> R {
        let map = || self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let lock = Arc::clone(map().entry(gun.to_owned()).or_default());
        let result = {
            let _guard = lock.lock().unwrap_or_else(PoisonError::into_inner);
            f()
        };
        let mut held = map();
        if Arc::strong_count(&lock) == 2 {
            held.remove(gun);
        }
        result
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.held.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_held_gun_does_not_block_another_and_entries_are_dropped() {
        let locks = Arc::new(GunLocks::default());
        let (entered, wait_entered) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let held = Arc::clone(&locks);
        let t = std::thread::spawn(move || {
            held.with("a", || {
                entered.send(()).unwrap();
                released.recv().unwrap();
            })
        });
        wait_entered.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(locks.with("b", || 7), 7);
        assert_eq!(locks.len(), 1, "only the held GUN has an entry");
        release.send(()).unwrap();
        t.join().unwrap();
        assert_eq!(locks.len(), 0);
    }
}
