#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Fuzzing safe layer unpacking: tar streams of plausible entries with hostile headers (long
//! names, `..`, absolute paths, links out of the rootfs, huge or garbage sizes, devices,
//! whiteouts, truncated data). Every unpack must return (no panic) within the allocation bound
//! and leave everything outside the rootfs as it was.

use std::fs;
use std::path::Path;

use palisade_fuzzing::json::hostile_string;
use palisade_fuzzing::{bounded, fuzz_cases, CountingAlloc};
use palisade_runtime::unpack::{unpack_layer, IdShift, UnpackOptions};
use proptest::prelude::*;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Stands for the absolute path of the directory next to the rootfs, filled in per case.
const OUTSIDE: &str = "@OUTSIDE@";

/// One header, written field by field so that nothing the `tar` crate's builder would refuse
/// is out of reach.
#[derive(Debug, Clone)]
struct Entry {
    path: String,
    link: String,
    kind: u8,
    mode: u32,
    uid: u64,
    /// What the size field claims, or garbage in its place.
    size: Size,
    data: Vec<u8>,
    /// Write the GNU long-name record before the header (for paths over 100 bytes).
    long_name: bool,
    /// Corrupt the checksum.
    bad_checksum: bool,
}

#[derive(Debug, Clone)]
enum Size {
    Exact,
    Claimed(u64),
    Garbage([u8; 12]),
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(\\./)?[a-z]{1,8}(/[a-z.]{1,8}){0,3}/?",
        2 => proptest::sample::select(vec![
            "..", "../x", "a/../../x", "/etc/passwd", "./", ".", "a/.wh..wh..opq", "a/.wh.b", ".wh.", ".wh...", "a//b",
            "link/escape", "link/../x", "dir/../../x", "@OUTSIDE@/pwned", "a\\..\\x",
        ])
        .prop_map(str::to_owned),
        1 => (1usize..600).prop_map(|n| "d/".repeat(n) + "f"),
        1 => hostile_string(),
    ]
}

fn link() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        proptest::sample::select(vec![
            "..", "../../..", "/", "/etc/passwd", "../outside/secret", "@OUTSIDE@/secret", "a", "link", "dir/f", "/link",
        ])
        .prop_map(str::to_owned),
        path(),
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = proptest::sample::select(vec![b'0', b'0', b'5', b'2', b'1', b'3', b'4', b'6', b'7', b'x', b'g', b'L', b'K', b'S', 0, b'Z']);
    let size = prop_oneof![
        6 => Just(Size::Exact),
        1 => prop_oneof![Just(u64::MAX >> 1), Just(8 << 30), Just(0), 0u64..10_000].prop_map(Size::Claimed),
        1 => any::<[u8; 12]>().prop_map(Size::Garbage),
    ];
    let mode = prop_oneof![Just(0o644u32), Just(0o755), Just(0o4755), Just(0o7777), Just(0), any::<u32>()];
    let uid = prop_oneof![Just(0u64), Just(1000), Just(65_536), Just(0o7777777)];
    let data = proptest::collection::vec(any::<u8>(), 0..2000);
    (path(), link(), kind, mode, uid, size, data, any::<bool>(), proptest::bool::weighted(0.05)).prop_map(
        |(path, link, kind, mode, uid, size, data, long_name, bad_checksum)| Entry {
            path,
            link,
            kind,
            mode,
            uid,
            size,
            data,
            long_name,
            bad_checksum,
        },
    )
}

fn put(field: &mut [u8], bytes: &[u8]) {
    let n = bytes.len().min(field.len());
    field[..n].copy_from_slice(&bytes[..n]);
}

fn octal(field: &mut [u8], value: u64) {
    let text = format!("{value:0width$o}", width = field.len() - 1);
    put(field, text.as_bytes());
}

fn block(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out.resize(bytes.len().div_ceil(512) * 512, 0);
    out
}

/// The raw bytes of `e`'s header, for `path` and `link` (with [`OUTSIDE`] filled in) and
/// `data_len` bytes of data: a ustar header with the fields set directly.
fn header(e: &Entry, path: &[u8], link: &[u8], data_len: usize) -> Vec<u8> {
    let mut h = [0u8; 512];
    put(&mut h[0..100], path);
    octal(&mut h[100..108], u64::from(e.mode & 0o7777777));
    octal(&mut h[108..116], e.uid);
    octal(&mut h[116..124], e.uid);
    match &e.size {
        Size::Exact => octal(&mut h[124..136], data_len as u64),
        Size::Claimed(n) => octal(&mut h[124..136], (*n).min(0o77777777777)),
        Size::Garbage(g) => put(&mut h[124..136], g),
    }
    octal(&mut h[136..148], 0);
    h[156] = e.kind;
    put(&mut h[157..257], link);
    put(&mut h[257..265], b"ustar\x0000");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum::<u64>() + u64::from(e.bad_checksum);
    octal(&mut h[148..155], sum);
    h.to_vec()
}

fn archive(entries: &[Entry], outside: &Path, truncate: Option<usize>) -> Vec<u8> {
    let outside = outside.to_str().unwrap();
    let mut out = Vec::new();
    for e in entries {
        let path = e.path.replace(OUTSIDE, outside);
        let link = e.link.replace(OUTSIDE, outside);
        let data: &[u8] = if matches!(e.kind, b'0' | 0 | b'7') { &e.data } else { &[] };
        if e.long_name {
            let mut name = path.clone().into_bytes();
            name.push(0);
            let record = Entry { kind: b'L', mode: 0, uid: 0, size: Size::Exact, bad_checksum: false, ..e.clone() };
            out.extend(header(&record, b"././@LongLink", b"", name.len()));
            out.extend(block(&name));
        }
        out.extend(header(e, path.as_bytes(), link.as_bytes(), data.len()));
        out.extend(block(data));
    }
    out.extend([0u8; 1024]);
    if let Some(at) = truncate {
        out.truncate(at % (out.len() + 1));
    }
    out
}

/// Everything under `dir`, without following links: (relative path, file type, contents of
/// regular files).
fn tree(dir: &Path) -> Vec<(String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let md = fs::symlink_metadata(&path).unwrap();
            let contents = if md.is_file() { fs::read(&path).unwrap() } else { Vec::new() };
            if md.is_dir() {
                stack.push(path.clone());
            }
            out.push((path.strip_prefix(dir).unwrap().display().to_string(), format!("{:?}", md.file_type()), contents));
        }
    }
    out.sort();
    out
}

/// A layer of 1–6 hostile entries, over a rootfs that already holds a file, a directory and a
/// symlink pointing out of it, unpacked with and without an id shift. No panic, bounded
/// allocation (the data is streamed, so a huge claimed size costs nothing), and the directory
/// beside the rootfs — the "outside" every escape aims at — is exactly as it was.
#[test]
fn fuzz_layer_unpack() {
    let layer = (proptest::collection::vec(entry(), 1..6), proptest::option::weighted(0.2, any::<usize>()), any::<bool>());
    fuzz_cases("runtime_layer_unpack", 128, layer, |(entries, truncate, shifted)| {
        let base = tempfile::tempdir().unwrap();
        let (rootfs, outside) = (base.path().join("rootfs"), base.path().join("outside"));
        fs::create_dir_all(rootfs.join("dir")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        fs::write(rootfs.join("dir/f"), b"lower").unwrap();
        std::os::unix::fs::symlink(&outside, rootfs.join("link")).unwrap();
        std::os::unix::fs::symlink("../outside", rootfs.join("rel")).unwrap();
        let before = tree(base.path());
        let before_outside = tree(&outside);

        let bytes = archive(&entries, &outside, truncate);
        let opts = UnpackOptions { id_shift: shifted.then_some(IdShift { host_uid: 100_000, host_gid: 100_000, size: 65_536 }) };
        let _ = bounded(bytes.len(), || unpack_layer(bytes.as_slice(), &rootfs, &opts))?;

        prop_assert_eq!(tree(&outside), before_outside, "something was written outside the rootfs");
        let names = |t: &[(String, String, Vec<u8>)]| -> Vec<String> {
            t.iter().filter(|(p, _, _)| !p.starts_with("rootfs")).map(|(p, _, _)| p.clone()).collect()
        };
        prop_assert_eq!(names(&tree(base.path())), names(&before), "an entry appeared beside the rootfs");
        Ok(())
    });
}
