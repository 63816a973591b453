//! What reaches the disk: everything sealed, restarts keep everything, keys are checked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use palisade_store::testing::*;
use palisade_store::{DataKey, Error, Kek, ReplicatedStore, Table};

const KEY: &str = "SECRET-NAME-alpha-7731";
const VALUE: &str = "TOP-SECRET-VALUE-omega-4410";

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_key_value_or_member_reaches_any_file_and_export_returns_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let stores = three(&net, &nodes, 5).await;
    let mut last = 0;
    for i in 0..12 {
        let batch = put(Table::Secrets, &format!("{KEY}-{i:02}"), &format!("{{\"data\":\"{VALUE}-{i:02}\"}}"));
        last = stores[0].write(batch).await.unwrap().index;
    }
    stores[0].write(put(Table::Secrets, &format!("{KEY}-deleted"), VALUE)).await.unwrap();
    let deleted = palisade_store::WriteBatch::default().delete(Table::Secrets, format!("{KEY}-deleted"));
    last = last.max(stores[0].write(deleted).await.unwrap().index);
    for store in &stores {
        wait_until("replication", 10, || store.status().last_applied >= last).await;
    }
    for store in stores {
        stop(&net, store).await;
    }

    let mut needles: Vec<Vec<u8>> = vec![KEY.into(), VALUE.into(), b"node-1".to_vec(), b"127.0.0.2:2377".to_vec()];
    needles.push(base64::engine::general_purpose::STANDARD.encode(format!("{{\"data\":\"{VALUE}-03\"}}")).into());
    let mut files = Vec::new();
    files_under(tmp.path(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("snapshot.sealed")), "no snapshot was written: {files:?}");
    assert!(files.iter().any(|f| f.ends_with("log.redb")) && files.iter().any(|f| f.ends_with("state.redb")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                "{} holds {:?} in plaintext",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }

    for node in &nodes {
        let exported = ReplicatedStore::export(&node.raft_dir(), &node.dek()).unwrap();
        assert_eq!(exported.len(), 12, "node {}", node.id);
        let (table, key, value) = &exported[3];
        assert_eq!((*table, key.as_str()), (Table::Secrets, format!("{KEY}-03").as_str()));
        assert_eq!(value.as_slice(), format!("{{\"data\":\"{VALUE}-03\"}}").as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_store_keeps_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let node = Node::new(tmp.path(), 1);
    let store = start(&net, &node, 4).await;
    assert!(!store.is_initialized());
    let mut status = store.subscribe();
    store.bootstrap(member(1)).await.unwrap();
    assert!(store.is_initialized());
    let elected = tokio::time::timeout(std::time::Duration::from_secs(10), status.wait_for(|s| s.is_leader)).await;
    assert_eq!(elected.unwrap().unwrap().leader, Some(1));
    for i in 0..10 {
        store.write(put(Table::Configs, &format!("c{i}"), &i.to_string())).await.unwrap();
    }
    let before = store.list(Table::Configs).unwrap();
    let applied = store.status().last_applied;
    stop(&net, store).await;

    let store = start(&net, &node, 4).await;
    assert!(store.is_initialized());
    assert!(matches!(store.bootstrap(member(1)).await, Err(Error::Raft(_))));
    wait_until("leader after restart", 10, || store.status().is_leader).await;
    assert!(store.status().last_applied >= applied);
    let after = store.list(Table::Configs).unwrap();
    assert_eq!(after.len(), 10);
    assert_eq!(
        after.iter().map(|(k, r)| (k.clone(), r.version, r.value.to_vec())).collect::<Vec<_>>(),
        before.iter().map(|(k, r)| (k.clone(), r.version, r.value.to_vec())).collect::<Vec<_>>()
    );
    store.write(put(Table::Configs, "more", "1")).await.unwrap();
    assert_eq!(store.status().members[&1].member, member(1));
    stop(&net, store).await;
    assert!(matches!(ReplicatedStore::export(&node.raft_dir(), &node.dek()).unwrap().len(), 11));
}

#[test]
fn the_data_key_is_sealed_under_the_kek() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dek.sealed");
    let kek = Kek::generate();
    let dek = DataKey::create(&path, &kek).unwrap();
    assert!(matches!(DataKey::create(&path, &kek), Err(Error::AlreadyExists(_))));
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    assert!(matches!(DataKey::open(&path, &Kek::generate()), Err(Error::WrongKey)));
    DataKey::open(&path, &kek).unwrap();

    let new_kek = Kek::generate();
    dek.reseal(&path, &new_kek).unwrap();
    assert!(matches!(DataKey::open(&path, &kek), Err(Error::WrongKey)));
    let reopened = DataKey::open(&path, &new_kek).unwrap();
    assert_eq!(format!("{reopened:?}"), "DataKey(<redacted>)");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "reseal left a temporary file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_data_key_cannot_read_the_store() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let node = Node::new(tmp.path(), 1);
    let store = start(&net, &node, 100).await;
    store.bootstrap(member(1)).await.unwrap();
    wait_until("leader", 10, || store.status().is_leader).await;
    store.write(put(Table::Nodes, "n", "v")).await.unwrap();
    stop(&net, store).await;
    let other = DataKey::create(&tmp.path().join("other.sealed"), &Kek::generate()).unwrap();
    assert!(ReplicatedStore::export(&node.raft_dir(), &other).is_err());
}

/// A power cut may roll the (not fsynced) state machine back behind a snapshot whose entries
/// are purged from the log: reopening re-installs the snapshot and re-applies the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_machine_rolled_back_behind_the_snapshot_recovers() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let node = Node::new(tmp.path(), 1);
    let store = start(&net, &node, 4).await;
    store.bootstrap(member(1)).await.unwrap();
    wait_until("leader", 10, || store.status().is_leader).await;
    store.write(put(Table::Tasks, "early", "0")).await.unwrap();
    stop(&net, store).await;
    let old_state = std::fs::read(node.raft_dir().join("state.redb")).unwrap();

    let store = start(&net, &node, 4).await;
    wait_until("leader", 10, || store.status().is_leader).await;
    let mut last = 0;
    for i in 0..25 {
        last = store.write(put(Table::Tasks, &format!("t{i:02}"), &i.to_string())).await.unwrap().index;
    }
    stop(&net, store).await;
    std::fs::write(node.raft_dir().join("state.redb"), old_state).unwrap();

    let store = start(&net, &node, 4).await;
    wait_until("leader", 10, || store.status().is_leader).await;
    wait_until("re-applying", 10, || store.status().last_applied >= last).await;
    let tasks = store.list(Table::Tasks).unwrap();
    assert_eq!(tasks.len(), 26);
    assert_eq!(tasks.iter().find(|(k, _)| k == "t24").unwrap().1.version, last);
    store.write(put(Table::Tasks, "later", "1")).await.unwrap();
    stop(&net, store).await;
}
