//! Property: whatever a caller records (any text: quotes, newlines, control characters,
//! non-ASCII) reads back as recorded and the log verifies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use palisade_audit::{read_entries, verify, AuditLog, Event, Outcome, Trust};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_events_read_back_and_verify(
        events in prop::collection::vec(
            (any::<String>(), "[a-z]{1,8}\\.[a-z]{1,8}", any::<String>(), any::<bool>(), prop::option::of(any::<String>()),
             prop::collection::btree_map(any::<String>(), any::<String>(), 0..4)),
            1..12,
        )
    ) {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), None).unwrap();
        let mut recorded = Vec::new();
        for (actor, action, target, ok, source, detail) in events {
            let outcome = if ok { Outcome::Success } else { Outcome::Failure };
            let mut event = Event::new(actor, action, target, outcome);
            if let Some(source) = source {
                event = event.source(source);
            }
            for (k, v) in detail {
                event = event.detail(k, v);
            }
            recorded.push(log.append(event).unwrap());
        }
        log.sign_head().unwrap();
        prop_assert_eq!(read_entries(dir.path(), None).unwrap(), recorded.clone());
        let report = verify(dir.path(), &Trust::default()).unwrap();
        prop_assert_eq!(report.last_seq, recorded.len() as u64);
        prop_assert_eq!(report.unsigned_entries(), 0);
        drop(log);
        let log = AuditLog::open(dir.path(), None).unwrap();
        prop_assert_eq!(log.last_seq(), recorded.len() as u64);
    }
}
