//! Three real stores on temp dirs, real openraft, an in-process transport.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use palisade_store::testing::*;
use palisade_store::{Check, Table, WriteBatch, WriteError};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_the_leader_reach_every_member_and_followers_refuse_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let stores = three(&net, &nodes, 10_000).await;

    let applied = stores[0].write(put(Table::Nodes, "n1", "{\"a\":1}")).await.unwrap();
    for store in &stores {
        wait_until("replication", 10, || store.status().last_applied >= applied.index).await;
        let record = store.get(Table::Nodes, "n1").unwrap().unwrap();
        assert_eq!(record.version, applied.index);
        assert_eq!(record.value.as_slice(), b"{\"a\":1}");
    }
    let status = stores[0].status();
    assert_eq!(status.members.keys().copied().collect::<BTreeSet<_>>(), BTreeSet::from([1, 2, 3]));
    assert!(status.members.values().all(|m| m.voter && m.matched.is_some() && m.last_contact.is_some()));
    assert_eq!(status.members[&2].member, member(2));

    wait_until("followers to know the leader", 10, || stores[1].status().leader == Some(1)).await;
    match stores[1].write(put(Table::Nodes, "n2", "{}")).await {
        Err(WriteError::NotLeader { leader: Some((1, m)) }) => assert_eq!(m, member(1)),
        other => panic!("expected NotLeader, got {other:?}"),
    }
    assert!(matches!(stores[2].linearizable().await, Err(WriteError::NotLeader { .. })));
    stores[0].linearizable().await.unwrap();
    for store in stores {
        store.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checks_refuse_the_whole_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let node = Node::new(tmp.path(), 1);
    let store = start(&net, &node, 10_000).await;
    store.bootstrap(member(1)).await.unwrap();
    wait_until("leader", 10, || store.status().is_leader).await;

    let first = store
        .write(put(Table::Secrets, "s", "v1").check(Check::Absent { table: Table::Secrets, key: "s".into() }))
        .await
        .unwrap();
    let refused = store
        .write(
            put(Table::Secrets, "s", "v2")
                .put(Table::Configs, "c", b"x".to_vec())
                .check(Check::Absent { table: Table::Secrets, key: "s".into() }),
        )
        .await;
    assert!(matches!(&refused, Err(WriteError::Conflict { table: Table::Secrets, key }) if key == "s"), "{refused:?}");
    let stale = Check::Version { table: Table::Secrets, key: "s".into(), version: first.index + 100 };
    let refused = store.write(WriteBatch::default().delete(Table::Secrets, "s").check(stale)).await;
    assert!(matches!(refused, Err(WriteError::Conflict { .. })), "{refused:?}");
    let missing = Check::Version { table: Table::Tasks, key: "none".into(), version: 1 };
    assert!(matches!(
        store.write(put(Table::Tasks, "none", "x").check(missing)).await,
        Err(WriteError::Conflict { .. })
    ));

    assert_eq!(value_of(&store, Table::Secrets, "s").as_deref(), Some("v1"));
    assert_eq!(store.get(Table::Secrets, "s").unwrap().unwrap().version, first.index);
    assert!(store.get(Table::Configs, "c").unwrap().is_none());
    assert!(store.get(Table::Tasks, "none").unwrap().is_none());

    let current = Check::Version { table: Table::Secrets, key: "s".into(), version: first.index };
    let second = store.write(put(Table::Secrets, "s", "v2").check(current)).await.unwrap();
    assert_eq!(store.get(Table::Secrets, "s").unwrap().unwrap().version, second.index);
    store.write(WriteBatch::default().delete(Table::Secrets, "s")).await.unwrap();
    assert!(store.get(Table::Secrets, "s").unwrap().is_none());
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_takes_over_and_the_old_one_rejoins_from_its_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let mut stores = three(&net, &nodes, 10_000).await;
    let before = stores[0].write(put(Table::Services, "before", "1")).await.unwrap();

    let old = stores.remove(0);
    stop(&net, old).await;
    let leader = leader_of(&[&stores[0], &stores[1]]).await;
    assert_ne!(leader.status().raft_id, 1);
    // A new leader applies what was committed before it took over once it has committed an
    // entry of its own term: wait for that, not just for the election.
    wait_until("the new leader to apply", 10, || leader.status().last_applied >= before.index).await;
    assert_eq!(value_of(&leader, Table::Services, "before").as_deref(), Some("1"));
    let after = leader.write(put(Table::Services, "after", "2")).await.unwrap();

    let restarted = start(&net, &nodes[0], 10_000).await;
    assert!(restarted.is_initialized());
    wait_until("the old leader to catch up", 15, || restarted.status().last_applied >= after.index).await;
    assert_eq!(value_of(&restarted, Table::Services, "after").as_deref(), Some("2"));
    assert_eq!(value_of(&restarted, Table::Services, "before").as_deref(), Some("1"));
    assert!(!restarted.status().is_leader);
    for store in stores.into_iter().chain([restarted]) {
        store.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_cannot_commit_and_converges_after_healing() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let stores = three(&net, &nodes, 10_000).await;
    stores[0].write(put(Table::Networks, "base", "0")).await.unwrap();

    net.isolate(1);
    let started = tokio::time::Instant::now();
    let lost = stores[0].write(put(Table::Networks, "lost", "x")).await;
    assert!(matches!(lost, Err(WriteError::NoQuorum)), "{lost:?}");
    assert!(started.elapsed() < Duration::from_secs(7));
    assert!(lost.unwrap_err().to_string().contains("does not have a leader / quorum"));

    let leader = leader_of(&[&stores[1], &stores[2]]).await;
    let kept = leader.write(put(Table::Networks, "kept", "y")).await.unwrap();

    net.heal();
    for store in &stores {
        wait_until("convergence", 15, || {
            store.status().last_applied >= kept.index && value_of(store, Table::Networks, "kept").is_some()
        })
        .await;
        assert_eq!(value_of(store, Table::Networks, "base").as_deref(), Some("0"));
        assert!(value_of(store, Table::Networks, "lost").is_none());
    }
    wait_until("node 1 to follow", 10, || stores[0].status().leader == Some(leader.status().raft_id)).await;
    for store in stores {
        store.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_added_after_compaction_gets_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=2).map(|id| Node::new(tmp.path(), id)).collect();
    let s1 = start(&net, &nodes[0], 5).await;
    s1.bootstrap(member(1)).await.unwrap();
    wait_until("leader", 10, || s1.status().is_leader).await;
    let mut last = 0;
    for i in 0..30 {
        last = s1.write(put(Table::Tasks, &format!("t{i:02}"), &i.to_string())).await.unwrap().index;
    }
    assert!(nodes[0].raft_dir().join("snapshot.sealed").exists());

    let s2 = start(&net, &nodes[1], 5).await;
    s1.add_learner(2, member(2)).await.unwrap();
    // Caught up with the writes and with the membership entry that made it a learner (which
    // comes after them).
    wait_until("the learner to catch up", 15, || {
        let status = s2.status();
        status.last_applied >= last && status.members.contains_key(&2)
    })
    .await;
    assert!(net.snapshots.load(std::sync::atomic::Ordering::SeqCst) > 0, "no snapshot was sent");
    let listed = s2.list(Table::Tasks).unwrap();
    assert_eq!(listed.len(), 30);
    assert_eq!(listed[7].0, "t07");
    assert_eq!(listed[7].1.value.as_slice(), b"7");
    assert!(!s2.status().members[&2].voter);
    s1.shutdown().await.unwrap();
    s2.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_voters_removes_members_including_the_leader_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=4).map(|id| Node::new(tmp.path(), id)).collect();
    let mut stores = three(&net, &nodes[..3], 10_000).await;
    stores[0].write(put(Table::Cluster, "cluster", "c")).await.unwrap();

    let unknown = stores[0].set_voters(BTreeSet::from([1, 2, 9])).await;
    assert!(matches!(unknown, Err(WriteError::Store(palisade_store::Error::Membership(_)))), "{unknown:?}");
    assert!(matches!(stores[0].set_voters(BTreeSet::new()).await, Err(WriteError::Store(_))));
    assert_eq!(stores[0].status().members.len(), 3);
    stores[0].set_voters(BTreeSet::from([1, 2])).await.unwrap();
    let members = stores[0].status().members;
    assert_eq!(members.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
    let gone = stores.remove(2);
    stop(&net, gone).await;

    let s4 = start(&net, &nodes[3], 10_000).await;
    stores[0].add_learner(4, member(4)).await.unwrap();
    stores[0].set_voters(BTreeSet::from([2, 4])).await.unwrap();
    let leader = leader_of(&[&stores[1], &s4]).await;
    let status = leader.status();
    assert_eq!(status.members.keys().copied().collect::<Vec<_>>(), vec![2, 4]);
    assert!(status.members.values().all(|m| m.voter));
    assert_eq!(value_of(&leader, Table::Cluster, "cluster").as_deref(), Some("c"));
    leader.write(put(Table::Cluster, "cluster", "d")).await.unwrap();
    for store in stores.into_iter().chain([s4]) {
        store.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_all_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let stores = three(&net, &nodes, 50).await;
    let started = std::time::Instant::now();
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let leader = stores[0].clone();
            tokio::spawn(async move {
                let mut indexes = Vec::new();
                for i in 0..20 {
                    let key = format!("w{w:02}-{i:02}");
                    indexes.push(leader.write(put(Table::Tasks, &key, "{}")).await.unwrap().index);
                }
                indexes
            })
        })
        .collect();
    let mut indexes = Vec::new();
    for writer in writers {
        let own = writer.await.unwrap();
        assert!(own.windows(2).all(|w| w[0] < w[1]), "a writer's later write gets a later index: {own:?}");
        indexes.extend(own);
    }
    indexes.sort_unstable();
    indexes.dedup();
    // Writes that arrive together share a log entry (and its replication round and fsync).
    eprintln!("320 writes from 16 writers in {:?}, in {} log entries", started.elapsed(), indexes.len());
    assert!(indexes.len() <= 320);
    let last = *indexes.last().unwrap();
    for store in &stores {
        wait_until("replication", 15, || store.status().last_applied >= last).await;
        assert_eq!(store.list(Table::Tasks).unwrap().len(), 320);
    }
    for store in stores {
        store.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_member_writes_through_the_leader_and_reads_after_a_barrier() {
    let tmp = tempfile::tempdir().unwrap();
    let net = Arc::new(Net::default());
    let nodes: Vec<Node> = (1..=3).map(|id| Node::new(tmp.path(), id)).collect();
    let mut stores = three(&net, &nodes, 10_000).await;
    for store in &stores {
        wait_until("every member to know the leader", 10, || store.status().leader == Some(1)).await;
    }

    // A follower's write is committed by the leader and applied here when it returns.
    let applied = stores[1].write_via_leader(put(Table::Nodes, "from-2", "x")).await.unwrap();
    let record = stores[1].get(Table::Nodes, "from-2").unwrap().unwrap();
    assert_eq!((record.version, record.value.as_slice()), (applied.index, b"x".as_slice()));
    // The leader judges its checks: a stale one refuses it, from whichever member.
    let stale = Check::Version { table: Table::Nodes, key: "from-2".into(), version: applied.index + 1 };
    let refused = stores[2].write_via_leader(put(Table::Nodes, "from-2", "y").check(stale)).await;
    assert!(matches!(&refused, Err(WriteError::Conflict { table: Table::Nodes, key }) if key == "from-2"), "{refused:?}");
    // On the leader it is a plain write.
    stores[0].write_via_leader(put(Table::Nodes, "from-1", "z")).await.unwrap();
    // A follower's barrier waits for whatever the leader committed before it.
    let on_leader = stores[0].write(put(Table::Nodes, "late", "w")).await.unwrap();
    stores[2].read_barrier().await.unwrap();
    assert!(stores[2].status().last_applied >= on_leader.index);
    assert_eq!(value_of(&stores[2], Table::Nodes, "late").as_deref(), Some("w"));
    stores[0].read_barrier().await.unwrap();

    // Cut off, a member can neither commit nor confirm what is committed.
    net.isolate(3);
    assert!(matches!(stores[2].write_via_leader(put(Table::Nodes, "cut", "c")).await, Err(WriteError::NoQuorum)));
    assert!(matches!(stores[2].read_barrier().await, Err(WriteError::NoQuorum)));
    net.heal();

    // When the leader goes, a follower's barrier waits for the next one.
    let old = stores.remove(0);
    stop(&net, old).await;
    stores[0].read_barrier().await.unwrap();
    assert_eq!(value_of(&stores[0], Table::Nodes, "late").as_deref(), Some("w"));
    let leader = leader_of(&[&stores[0], &stores[1]]).await;
    let follower = stores.iter().find(|s| !s.status().is_leader).unwrap();
    wait_until("the follower to know the new leader", 10, || follower.status().leader == Some(leader.status().raft_id)).await;
    let after = follower.write_via_leader(put(Table::Nodes, "after", "a")).await.unwrap();
    assert_eq!(leader.get(Table::Nodes, "after").unwrap().map(|r| r.version), Some(after.index));
    assert!(value_of(&leader, Table::Nodes, "cut").is_none());
    for store in stores {
        store.shutdown().await.unwrap();
    }
}
