#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Volumes and bind mounts through the docker CLI: `-v`, `--mount`, `docker volume …`; named
//! volume data outlives its containers; binds of the daemon's own data root or socket (or of
//! a directory holding them) are refused.

mod common;

use common::Node;

#[test]
fn named_volumes_binds_and_tmpfs_mounts() {
    let node = Node::start();
    node.load_busybox("bb:latest");

    // A named volume: created, listed, written by one container, read by the next.
    assert_eq!(node.docker_ok(&["volume", "create", "--label", "tier=db", "data1"]).trim(), "data1");
    let mountpoint = node.docker_ok(&["volume", "inspect", "-f", "{{.Mountpoint}} {{.Driver}} {{.Labels.tier}}", "data1"]);
    let mountpoint = mountpoint.trim().split(' ').collect::<Vec<_>>();
    assert_eq!(&mountpoint[1..], ["local", "db"]);
    node.docker_ok(&["run", "--rm", "-v", "data1:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert_eq!(std::fs::read_to_string(std::path::Path::new(mountpoint[0]).join("f")).unwrap(), "kept\n");
    assert_eq!(node.docker_ok(&["run", "--rm", "-v", "data1:/data:ro", "bb", "cat", "/data/f"]), "kept\n");
    let (code, _, err) = node.docker_run(&["run", "--rm", "-v", "data1:/data:ro", "bb", "sh", "-c", "echo x > /data/g"]);
    assert_ne!(code, 0, "a read-only volume cannot be written");
    assert!(err.contains("Read-only file system"), "{err}");

    // The data outlives `docker rm` of a container that used it.
    node.docker_ok(&["run", "-d", "--name", "writer", "-v", "data1:/data", "bb", "sh", "-c", "echo again >> /data/f; exec sleep 1000"]);
    common::wait_for(std::time::Duration::from_secs(10), "the write", || {
        std::fs::read_to_string(std::path::Path::new(mountpoint[0]).join("f")).unwrap().contains("again")
    });
    let err = node.docker_err(&["volume", "rm", "data1"]);
    assert!(err.contains("volume is in use"), "{err}");
    node.docker_ok(&["rm", "-f", "writer"]);
    assert_eq!(node.docker_ok(&["run", "--rm", "-v", "data1:/data", "bb", "cat", "/data/f"]), "kept\nagain\n");

    // --mount of a volume creates it; of a tmpfs, with its size.
    node.docker_ok(&["run", "--rm", "--mount", "type=volume,source=data2,target=/d", "bb", "true"]);
    assert!(node.docker_ok(&["volume", "ls", "-q"]).lines().any(|l| l == "data2"));
    let mounts = node.docker_ok(&["run", "--rm", "--mount", "type=tmpfs,target=/t,tmpfs-size=1048576", "bb", "cat", "/proc/self/mounts"]);
    assert!(mounts.lines().any(|l| l.starts_with("tmpfs /t tmpfs") && l.contains("size=1024k")), "{mounts}");

    // A host directory, read-write and read-only.
    let host = node.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    let bind = format!("{}:/h", host.display());
    node.docker_ok(&["run", "--rm", "-v", &bind, "bb", "sh", "-c", "echo from-container > /h/out"]);
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "from-container\n");
    let (code, _, _) = node.docker_run(&["run", "--rm", "-v", &format!("{bind}:ro"), "bb", "sh", "-c", "echo x > /h/out"]);
    assert_ne!(code, 0);
    let mounts = node.docker_ok(&["run", "-d", "--name", "mnt", "-v", &bind, "-v", "data1:/v:ro", "bb", "true"]);
    assert_eq!(mounts.trim().len(), 64);
    let shown = node.docker_ok(&["inspect", "-f", "{{range .Mounts}}{{.Type}}:{{.Destination}}:{{.RW}} {{end}}", "mnt"]);
    // The CLI keeps its -v list in a map: any order.
    let mut shown: Vec<&str> = shown.split_whitespace().collect();
    shown.sort_unstable();
    assert_eq!(shown, ["bind:/h:true", "volume:/v:false"]);
    // `true` may still be running: rm without -f refuses a running container.
    node.docker_ok(&["wait", "mnt"]);
    node.docker_ok(&["rm", "mnt"]);

    // Anonymous volumes go with `rm -v`; `volume prune` takes only unused anonymous ones.
    node.docker_ok(&["run", "--name", "anon", "-v", "/scratch", "bb", "true"]);
    let anonymous: Vec<String> = node.docker_ok(&["volume", "ls", "-q"]).lines().filter(|l| l.len() == 64).map(str::to_owned).collect();
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    node.docker_ok(&["rm", "-v", "anon"]);
    assert!(!node.docker_ok(&["volume", "ls", "-q"]).contains(&anonymous[0]));
    node.docker_ok(&["create", "-v", "/scratch", "bb", "true"]);
    node.docker_ok(&["rm", node.docker_ok(&["ps", "-aq"]).trim()]);
    let pruned = node.docker_ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Deleted Volumes:"), "{pruned}");
    let left = node.docker_ok(&["volume", "ls", "-q"]);
    assert_eq!(left.lines().collect::<Vec<_>>(), ["data1", "data2"], "named volumes stay: {left}");
    node.docker_ok(&["volume", "rm", "data1", "data2"]);
    assert!(node.docker_ok(&["volume", "ls", "-q"]).trim().is_empty());
}

#[test]
fn binds_that_would_expose_the_daemon_are_refused_and_bad_specs_change_nothing() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let data_root = node.data_root();
    let runtime_state = palisade_runtime::state_dir_for(&data_root.join("runtime")).unwrap();
    let refused = [
        format!("{}:/x", data_root.display()),
        format!("{}:/x", data_root.join("runtime").display()),
        format!("{}:/x", node.socket.display()),
        // A directory holding the socket and the data root.
        format!("{}:/x", node.dir.path().display()),
        "/:/host".to_owned(),
        format!("{}:/x", runtime_state.display()),
    ];
    for spec in &refused {
        let err = node.docker_err(&["run", "--rm", "-v", spec, "bb", "true"]);
        assert!(err.contains("--allow-daemon-binds"), "{spec}: {err}");
    }
    let err = node.docker_err(&["run", "--rm", "--mount", &format!("type=bind,source={},target=/x", data_root.display()), "bb", "true"]);
    assert!(err.contains("--allow-daemon-binds"), "{err}");

    let host = node.dir.path().join("ok");
    std::fs::create_dir(&host).unwrap();
    for (args, expected) in [
        (vec!["-v".to_owned(), format!("{}:/x:rshared", host.display())], "propagation"),
        (vec!["--mount".to_owned(), format!("type=bind,source={},target=/x,bind-propagation=shared", host.display())], "propagation"),
        (vec!["-v".to_owned(), "/does/not/exist:/x".to_owned()], "does not exist"),
        (vec!["-v".to_owned(), "vol1:relative".to_owned()], "absolute"),
        (vec!["-v".to_owned(), "fresh-volume:/a".to_owned(), "-v".to_owned(), "other:/a".to_owned()], "Duplicate mount point"),
    ] {
        let mut cmd = vec!["run".to_owned(), "--rm".to_owned()];
        cmd.extend(args);
        cmd.extend(["bb".to_owned(), "true".to_owned()]);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let err = node.docker_err(&cmd);
        assert!(err.contains(expected), "{cmd:?}: {err}");
    }
    assert!(node.docker_ok(&["volume", "ls", "-q"]).trim().is_empty(), "a refused create makes no volume");
    assert!(node.docker_ok(&["ps", "-aq"]).trim().is_empty(), "nor a container");
    let err = node.docker_err(&["volume", "create", "-o", "type=ext4", "-o", "device=/dev/sda", "dev"]);
    assert!(err.contains("not supported"), "{err}");
    let err = node.docker_err(&["volume", "create", "../escape"]);
    assert!(err.contains("invalid characters"), "{err}");
    let err = node.docker_err(&["volume", "inspect", "missing"]);
    assert!(err.contains("no such volume"), "{err}");
}
