//! Splitting a JSON-lines file into complete lines, from the start or from the end.
//!
//! A line is complete when its `\n` is on disk. Appends write a whole line and fsync before
//! they are acknowledged, so bytes after the last `\n` belong to an append that never
//! completed (a crash, or one still under way when a reader looks): never part of the log.

use std::fs::File;
use std::os::unix::fs::FileExt;

/// How much to read at a time when scanning backwards from the end.
const CHUNK: u64 = 64 << 10;

/// The complete lines of `bytes` (each without its `\n`) and the number of bytes after the
/// last `\n` (an unfinished append).
pub(crate) fn complete_lines(bytes: &[u8]) -> (Vec<&[u8]>, usize) {
    let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let mut lines = bytes[..complete].split(|b| *b == b'\n').collect::<Vec<_>>();
    // `split` yields an empty piece after the final `\n` (or one for empty input).
    lines.pop();
    (lines, bytes.len() - complete)
}

/// The end of a file: up to `want` complete lines, oldest first, and the length of the file's
/// complete part (everything up to and including its last `\n`).
#[derive(Debug)]
pub(crate) struct Tail {
    /// The last complete lines, without their `\n`, oldest first. Fewer than asked for only
    /// when the file has fewer.
    pub(crate) lines: Vec<Vec<u8>>,
    /// Offset just after the last `\n` (0 when there is none).
    pub(crate) complete_len: u64,
}

/// Reads the last `want` complete lines of the first `len` bytes of `file`, scanning
/// backwards so the cost does not grow with the log.
pub(crate) fn read_tail(file: &File, len: u64, want: usize) -> std::io::Result<Tail> {
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    // `want` complete lines need `want + 1` newlines in view (the one before the oldest line
    // marks its start), or the start of the file.
    while start > 0 && buf.iter().filter(|b| **b == b'\n').count() <= want {
        let step = CHUNK.min(start);
        start -= step;
        let mut chunk = vec![0; usize::try_from(step).unwrap_or(usize::MAX)];
        file.read_exact_at(&mut chunk, start)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let (lines, unfinished) = complete_lines(&buf);
    // When the scan stopped before the start of the file, the first piece may be partial.
    let skip = usize::from(start > 0 && !lines.is_empty());
    let lines = lines[skip..].iter().rev().take(want).rev().map(|l| l.to_vec()).collect();
    let complete_len = len - unfinished as u64;
    Ok(Tail { lines, complete_len })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn complete_lines_leave_out_an_unfinished_tail() {
        assert_eq!(complete_lines(b""), (vec![], 0));
        assert_eq!(complete_lines(b"abc"), (vec![], 3));
        assert_eq!(complete_lines(b"a\nbc\n"), (vec![&b"a"[..], b"bc"], 0));
        assert_eq!(complete_lines(b"a\nbc\nde"), (vec![&b"a"[..], b"bc"], 2));
        assert_eq!(complete_lines(b"a\n\nb\n"), (vec![&b"a"[..], b"", b"b"], 0));
    }

    #[test]
    fn the_tail_is_found_across_chunks() {
        let mut file = tempfile::tempfile().unwrap();
        let long = "x".repeat(100_000);
        write!(file, "first\n{long}\nsecond\nthird\ntorn").unwrap();
        let len = file.metadata().unwrap().len();
        let tail = read_tail(&file, len, 2).unwrap();
        assert_eq!(tail.lines, vec![b"second".to_vec(), b"third".to_vec()]);
        assert_eq!(tail.complete_len, len - 4);
        let tail = read_tail(&file, len, 3).unwrap();
        assert_eq!(tail.lines[0], long.as_bytes());
        let tail = read_tail(&file, len, 10).unwrap();
        assert_eq!(tail.lines.len(), 4);
        assert_eq!(tail.lines[0], b"first");
    }

    #[test]
    fn a_file_without_newline_has_no_complete_line() {
        let mut file = tempfile::tempfile().unwrap();
        write!(file, "torn").unwrap();
        let tail = read_tail(&file, 4, 2).unwrap();
        assert!(tail.lines.is_empty());
        assert_eq!(tail.complete_len, 0);
        let tail = read_tail(&file, 0, 2).unwrap();
        assert!(tail.lines.is_empty());
    }
}
