//! End-to-end `run true` through Palisade's runtime library versus bare `crun run` of the
//! identical, already prepared bundle (`scripts/bench-run` measures the same through the
//! daemon and CLI); prints both timings and the ratio.
//!
//! Usage: `bench_run [ITERATIONS]` (default 20). Needs root, crun and busybox-static.

use std::error::Error;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use palisade_runtime::{ContainerRuntime, OciRuntimeKind, RunOptions};

type Res<T> = std::result::Result<T, Box<dyn Error>>;

/// A one-layer docker archive with busybox as `/bin/true`'s provider.
fn busybox_archive(dir: &Path) -> Res<std::path::PathBuf> {
    use sha2::{Digest as _, Sha256};
    let mut layer = tar::Builder::new(Vec::new());
    let busybox = std::fs::read("/bin/busybox")?;
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(0);
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        layer.append_data(&mut h.clone(), d, &[][..])?;
    }
    let mut f = tar::Header::new_gnu();
    f.set_mode(0o755);
    f.set_uid(0);
    f.set_gid(0);
    f.set_mtime(0);
    f.set_size(busybox.len() as u64);
    layer.append_data(&mut f, "bin/busybox", &busybox[..])?;
    for applet in ["true", "sh"] {
        let mut l = tar::Header::new_gnu();
        l.set_entry_type(tar::EntryType::Symlink);
        l.set_mode(0o777);
        l.set_uid(0);
        l.set_gid(0);
        l.set_mtime(0);
        l.set_size(0);
        layer.append_link(&mut l, format!("bin/{applet}"), "busybox")?;
    }
    let layer = layer.into_inner()?;
    let diff_id = format!("sha256:{}", hex::encode(Sha256::digest(&layer)));
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["true"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    }))?;
    let manifest = serde_json::to_vec(&serde_json::json!([
        {"Config": "config.json", "RepoTags": ["bench:latest"], "Layers": ["layer.tar"]}
    ]))?;
    let path = dir.join("bench.tar");
    let mut ar = tar::Builder::new(std::fs::File::create(&path)?);
    for (name, data) in [("manifest.json", &manifest), ("config.json", &config), ("layer.tar", &layer)] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        ar.append_data(&mut h, name, &data[..])?;
    }
    ar.finish()?;
    Ok(path)
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = v.iter().map(|d| ms(*d)).sum::<f64>() / v.len().max(1) as f64;
    let median = v.get(v.len() / 2).map(|d| ms(*d)).unwrap_or(0.0);
    (mean, median)
}

fn main() -> Res<()> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(20);
    // As a daemon does: on a hybrid cgroup host, one private mount namespace without the cgroup
    // v2 mount for this whole process, so both sides run crun directly.
    palisade_runtime::isolate_mount_namespace()?;
    let tmp = tempfile::tempdir()?;
    let rt = ContainerRuntime::open(&tmp.path().join("root"), OciRuntimeKind::Crun)?;
    rt.images().load(&busybox_archive(tmp.path())?, None)?;
    let opts = RunOptions { args: vec!["true".into()], ..RunOptions::default() };

    // Bare crun on an identical bundle, prepared once.
    let prepared = rt.create("bench:latest", &opts)?;
    let bundle = prepared.bundle().to_path_buf();
    let state = tmp.path().join("bare-crun-state");
    let bare_run = |i: usize| -> Res<Duration> {
        let t = Instant::now();
        let status = Command::new("crun")
            .arg("--root")
            .arg(&state)
            .args(["run", "--bundle"])
            .arg(&bundle)
            .arg(format!("bare-{i}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(format!("crun run exited {status}").into());
        }
        Ok(t.elapsed())
    };
    // Palisade: image → overlay rootfs → bundle → crun run -d → wait for the exit (timed),
    // then remove (crun delete, unmount; timed separately).
    let palisade_run = || -> Res<(Duration, Duration)> {
        let t = Instant::now();
        let mut c = rt.create("bench:latest", &opts)?;
        c.start()?;
        let exit = c.wait(Some(Duration::from_secs(30)))?.ok_or("timed out")?;
        let exited = t.elapsed();
        c.remove(true)?;
        if exit.code != 0 {
            return Err(format!("palisade run exited {}", exit.code).into());
        }
        Ok((exited, t.elapsed()))
    };
    for i in 0..2 {
        palisade_run()?;
        bare_run(i)?;
    }
    // Interleaved, so that load changes on a shared machine hit both sides alike.
    let (mut palisade, mut removed, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..n {
        let (exited, gone) = palisade_run()?;
        palisade.push(exited);
        removed.push(gone);
        bare.push(bare_run(i + 2)?);
    }
    prepared.remove(true)?;

    let (pm, pmed) = stats(palisade);
    let (rm, rmed) = stats(removed);
    let (cm, cmed) = stats(bare);
    println!("iterations: {n}");
    println!("palisade create+start+wait (until exit): mean {pm:.1} ms, median {pmed:.1} ms");
    println!("  … until removed (crun delete, unmount): mean {rm:.1} ms, median {rmed:.1} ms");
    println!("bare crun run (prepared bundle): mean {cm:.1} ms, median {cmed:.1} ms");
    println!("ratio palisade/crun (median): {:.2}", pmed / cmed.max(0.001));
    Ok(())
}
