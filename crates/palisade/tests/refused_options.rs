#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Options Palisade does not implement are refused with a clear error, never dropped: a
//! container started without the mount, device or namespace it asked for is not what was
//! asked (issue #21, item 9). Before, `--mount src=/` created a container without the mount.

mod common;

use std::process::Command;

use common::{stdout, Node};

#[test]
fn unimplemented_run_options_and_malformed_registry_auth_are_refused() {
    let node = Node::start();
    node.load_busybox("busybox:latest");
    for (args, expected) in [
        // --mount is implemented now; a bind of / (which holds the data root) stays refused.
        (vec!["--mount", "type=bind,src=/,dst=/host"], "would expose the daemon's"),
        (vec!["--device", "/dev/null:/dev/x"], "--device (HostConfig.Devices) is not supported by Palisade yet"),
        (vec!["--pid", "host"], "--pid (HostConfig.PidMode) is not supported by Palisade yet"),
        (vec!["--ulimit", "nofile=10:10"], "--ulimit (HostConfig.Ulimits) is not supported by Palisade yet"),
        (vec!["--dns", "192.0.2.53"], "--dns (HostConfig.Dns) is not supported by Palisade yet"),
        // No default bridge on this daemon (--bridge none): a published port has nowhere to go.
        (vec!["-p", "8080:80"], "port publishing (-p/-P) needs a bridge network"),
    ] {
        let mut run = vec!["run", "--rm"];
        run.extend(args.iter().copied());
        run.extend(["busybox:latest", "true"]);
        let err = node.docker_err(&run);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert!(stdout(&node.docker(&["ps", "-aq"])).trim().is_empty(), "nothing was created");
    // What the CLI sends on every run, unset, is accepted.
    node.docker_ok(&["run", "--rm", "busybox:latest", "true"]);

    // A registry credential header that is not text is refused, not taken as anonymous.
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST"])
        .arg("--unix-socket")
        .arg(&node.socket)
        .arg("-H")
        .arg(non_utf8_header())
        .arg("http://localhost/v1.50/images/create?fromImage=127.0.0.1:9/app&tag=1")
        .output()
        .expect("curl is required");
    let text = stdout(&out);
    assert!(text.ends_with("400"), "{text}");
    assert!(text.contains("X-Registry-Auth is not base64-encoded JSON"), "{text}");
}

/// `X-Registry-Auth: ` followed by bytes that are not UTF-8.
fn non_utf8_header() -> &'static std::ffi::OsStr {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b"X-Registry-Auth: \xff\xfe")
}
