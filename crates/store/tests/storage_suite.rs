//! openraft's storage conformance suite against the redb log store and state machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use openraft::testing::{StoreBuilder, Suite};
use openraft::StorageError;
use palisade_store::storage::{open_storage, LogStore, StateMachine};
use palisade_store::{DataKey, Kek, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let dek = DataKey::create(&dir.path().join("dek.sealed"), &Kek::generate()).unwrap();
        let (log, sm) = open_storage(&dir.path().join("raft"), &dek).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite_passes() {
    Suite::test_all(Builder).unwrap();
}
