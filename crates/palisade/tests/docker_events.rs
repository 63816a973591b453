#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker events` through `palisade daemon` with the stock docker CLI: a `docker run`'s
//! create/start/die (with its exit code), exec, image, volume and removal events are replayed
//! for `--since … --until …`, in order, with docker's fields, and filters select among them.

mod common;

use common::Node;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// `(Type, Action, Actor.ID, Actor.Attributes)` of each event line.
fn events(node: &Node, since: u64, until: u64, filters: &[&str]) -> Vec<(String, String, String, serde_json::Value)> {
    let (since, until) = (since.to_string(), until.to_string());
    let mut args = vec!["events", "--since", &since, "--until", &until, "--format", "{{json .}}"];
    for f in filters {
        args.extend(["--filter", f]);
    }
    node.docker_ok(&args)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["scope"], "local", "{l}");
            assert!(v["timeNano"].as_i64().unwrap() >= v["time"].as_i64().unwrap() * 1_000_000_000, "{l}");
            (
                v["Type"].as_str().unwrap().to_owned(),
                v["Action"].as_str().unwrap().to_owned(),
                v["Actor"]["ID"].as_str().unwrap().to_owned(),
                v["Actor"]["Attributes"].clone(),
            )
        })
        .collect()
}

#[test]
fn a_runs_events_are_replayed_between_since_and_until_and_filtered() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let since = now();
    let (code, _, _) = node.docker_run(&["run", "--name", "quitter", "bb", "sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    let id = node.docker_ok(&["inspect", "-f", "{{.Id}}", "quitter"]).trim().to_owned();
    node.docker_ok(&["run", "-d", "--name", "sleeper", "bb", "sleep", "600"]);
    node.docker_ok(&["exec", "sleeper", "true"]);
    node.docker_ok(&["tag", "bb", "bb:other"]);
    node.docker_ok(&["rmi", "bb:other"]);
    node.docker_ok(&["volume", "create", "vol1"]);
    node.docker_ok(&["volume", "rm", "vol1"]);
    node.docker_ok(&["rm", "-f", "sleeper", "quitter"]);
    let until = now() + 1;

    let all = events(&node, since, until, &[]);
    let of_quitter: Vec<&str> = all.iter().filter(|e| e.2 == id).map(|e| e.1.as_str()).collect();
    assert_eq!(of_quitter, ["create", "start", "die", "destroy"], "{all:#?}");
    let die = all.iter().find(|e| e.2 == id && e.1 == "die").unwrap();
    assert_eq!(die.0, "container");
    assert_eq!(die.3["exitCode"], "3");
    assert_eq!(die.3["name"], "quitter");
    assert_eq!(die.3["image"], "bb");
    let actions: Vec<(&str, &str)> = all.iter().map(|e| (e.0.as_str(), e.1.as_str())).collect();
    for wanted in [
        ("container", "exec_create: true"),
        ("container", "exec_start: true"),
        ("container", "exec_die"),
        ("image", "tag"),
        ("image", "untag"),
        ("volume", "create"),
        ("volume", "destroy"),
        ("container", "kill"),
    ] {
        assert!(actions.contains(&wanted), "{wanted:?} missing from {actions:?}");
    }

    // Filters: one container's die events only; volume events only.
    let dies = events(&node, since, until, &["container=quitter", "event=die"]);
    assert_eq!(dies.len(), 1, "{dies:#?}");
    assert_eq!(dies[0].2, id);
    let volumes = events(&node, since, until, &["type=volume"]);
    assert_eq!(volumes.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), ["create", "destroy"]);
    assert!(volumes.iter().all(|e| e.2 == "vol1"));

    // A window before anything happened is empty; a bad filter is refused.
    assert!(events(&node, since - 100, since - 50, &[]).is_empty());
    let err = node.docker_err(&["events", "--since", "0", "--until", "1", "--filter", "bogus=1"]);
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn live_events_reach_a_subscriber_until_its_until() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let until = (now() + 6).to_string();
    let child = std::process::Command::new("docker")
        .args(["-H", &node.host(), "events", "--until", &until, "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"])
        .env("DOCKER_CONFIG", node.dir.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(1));
    node.docker_ok(&["run", "--name", "live", "bb", "true"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for wanted in ["container create live", "container start live", "container die live"] {
        assert!(text.contains(wanted), "{wanted:?} missing from {text}");
    }
}
