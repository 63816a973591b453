#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! An image's own `VOLUME`s through the docker CLI: each gets an anonymous volume unless the
//! request mounts something there, shown by inspect, removed by `rm -v`/`--rm`, kept across a
//! daemon restart; a new (empty) volume is filled with what the image holds at its mount
//! point, unless `nocopy` says not to; a volume holding anything, and a bind, are never
//! written.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use common::Node;

/// An image declaring `VOLUME /data`, with a file and a directory there.
fn load_image(node: &Node) {
    let files = [
        ("data/", Vec::new(), 0o750),
        ("data/seed", b"from-image\n".to_vec(), 0o640),
        ("data/sub/", Vec::new(), 0o755),
        ("data/sub/deep", b"deep\n".to_vec(), 0o644),
    ];
    let config = serde_json::json!({"Env": ["PATH=/bin"], "Cmd": ["sh"], "Volumes": {"/data": {}}});
    let archive = common::busybox_image_configured(node.dir.path(), "vol:1", &files, config);
    node.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
}

fn mountpoint(node: &Node, volume: &str) -> PathBuf {
    PathBuf::from(node.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}}", volume]).trim())
}

/// The names in `dir`, sorted.
fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

fn volumes(node: &Node) -> Vec<String> {
    node.docker_ok(&["volume", "ls", "-q"]).lines().map(str::to_owned).collect()
}

/// `Type Name Destination` of each of the container's mounts.
fn shown_mounts(node: &Node, container: &str) -> Vec<String> {
    let shown = node.docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}};{{end}}", container]);
    shown.split(';').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

#[test]
fn an_image_volume_gets_an_anonymous_volume_filled_from_the_image() {
    let mut node = Node::start();
    load_image(&node);

    assert_eq!(node.docker_ok(&["run", "--name", "with-volume", "vol:1", "cat", "/data/seed", "/data/sub/deep"]), "from-image\ndeep\n");
    let shown = shown_mounts(&node, "with-volume");
    assert_eq!(shown.len(), 1, "{shown:?}");
    let name = shown[0].strip_prefix("volume ").and_then(|s| s.strip_suffix(" /data")).unwrap().to_owned();
    assert_eq!(name.len(), 64, "{shown:?}");
    assert_eq!(volumes(&node), std::slice::from_ref(&name));
    let label = node.docker_ok(&["volume", "inspect", "-f", "{{json .Labels}}", &name]);
    assert!(label.contains("com.docker.volume.anonymous"), "{label}");
    // Copied with the image's modes, the mount point's included.
    let data = mountpoint(&node, &name);
    assert_eq!(names(&data), ["seed", "sub"]);
    assert_eq!(std::fs::metadata(data.join("seed")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(std::fs::metadata(&data).unwrap().mode() & 0o7777, 0o750);

    // Kept across a daemon restart, and removed with the container by `rm -v`.
    node.restart();
    assert_eq!(shown_mounts(&node, "with-volume"), shown);
    node.docker_ok(&["start", "with-volume"]);
    assert_eq!(node.docker_ok(&["wait", "with-volume"]).trim(), "0");
    assert_eq!(node.docker_ok(&["logs", "with-volume"]), "from-image\ndeep\n".repeat(2), "the volume's data, kept");
    node.docker_ok(&["rm", "-v", "with-volume"]);
    assert!(volumes(&node).is_empty(), "rm -v removes the image volume's anonymous volume");
    assert!(!data.exists());

    // `--rm` removes it as well.
    node.docker_ok(&["run", "--rm", "vol:1", "cat", "/data/seed"]);
    assert!(volumes(&node).is_empty(), "--rm removes it");
}

#[test]
fn new_volumes_are_filled_once_unless_nocopy_and_nothing_is_overwritten() {
    let node = Node::start();
    load_image(&node);

    // A new named volume over the image's volume: filled, and no anonymous volume beside it.
    assert_eq!(node.docker_ok(&["run", "--rm", "-v", "named:/data", "vol:1", "cat", "/data/seed"]), "from-image\n");
    assert_eq!(node.docker_ok(&["run", "--rm", "--mount", "type=volume,src=mounted,dst=/data", "vol:1", "cat", "/data/sub/deep"]), "deep\n");
    assert_eq!(volumes(&node), ["mounted", "named"]);
    assert_eq!(names(&mountpoint(&node, "named")), ["seed", "sub"]);

    // nocopy, both spellings: an empty volume.
    let (code, _, _) = node.docker_run(&["run", "--rm", "-v", "nc1:/data:nocopy", "vol:1", "cat", "/data/seed"]);
    assert_ne!(code, 0, "nothing was copied");
    node.docker_ok(&["run", "--rm", "--mount", "type=volume,src=nc2,dst=/data,volume-nocopy", "vol:1", "true"]);
    for v in ["nc1", "nc2"] {
        assert!(names(&mountpoint(&node, v)).is_empty(), "{v}");
    }

    // A volume holding anything is left as it is.
    node.docker_ok(&["run", "--rm", "-v", "full:/data:nocopy", "vol:1", "sh", "-c", "echo mine > /data/seed"]);
    assert_eq!(node.docker_ok(&["run", "--rm", "-v", "full:/data", "vol:1", "cat", "/data/seed"]), "mine\n");
    assert_eq!(names(&mountpoint(&node, "full")), ["seed"], "sub was not copied in");

    // Copied when the container is made, not on every start.
    node.docker_ok(&["create", "--name", "once", "-v", "once:/data", "vol:1", "sh", "-c", "cat /data/seed && rm -r /data/seed /data/sub"]);
    for expected in ["0", "1"] {
        node.docker_ok(&["start", "once"]);
        assert_eq!(node.docker_ok(&["wait", "once"]).trim(), expected);
    }
    let logs = node.docker(&["logs", "once"]);
    assert_eq!(common::stdout(&logs), "from-image\n", "only the first start found the image's file");
    assert!(common::stderr(&logs).contains("No such file"), "{}", common::stderr(&logs));
    assert!(names(&mountpoint(&node, "once")).is_empty());
    node.docker_ok(&["rm", "once"]);

    // A bind over the image's volume: never written, and no volume made.
    let host = node.dir.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    let before = volumes(&node);
    let (code, _, _) = node.docker_run(&["run", "--rm", "-v", &format!("{}:/data", host.display()), "vol:1", "cat", "/data/seed"]);
    assert_ne!(code, 0, "the bind hides the image's file");
    assert!(names(&host).is_empty(), "nothing copied into a bind");
    assert_eq!(volumes(&node), before);
}
