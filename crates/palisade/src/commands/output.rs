//! What the client verbs print: demultiplexed container output, and tables, ages and names as the
//! docker CLI words them.

use std::io::Write as _;

use palisade_engine_api::containers::types::unframe;

/// Writes the complete frames in `buffer` to stdout (stream 1) or stderr (others).
pub(crate) fn write_frames(buffer: &mut Vec<u8>, chunk: &[u8]) {
    buffer.extend_from_slice(chunk);
    for (stream, data) in unframe(buffer) {
        write_stream(stream, &data);
    }
}

/// `data` to stdout (stream 1) or stderr (others), flushed.
pub(crate) fn write_stream(stream: u8, data: &[u8]) {
    let _ = if stream == 1 {
        let mut out = std::io::stdout().lock();
        out.write_all(data).and_then(|()| out.flush())
    } else {
        std::io::stderr().write_all(data)
    };
}

/// Columns as docker's tabwriter lays them out (min width 10, padding 3).
pub(crate) fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(|h| h.chars().count());
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let widths = widths.map(|w| (w + 3).max(10));
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i]));
            }
        }
        println!("{out}");
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// `17 months ago`, as go-units' HumanDuration words it.
pub(crate) fn ago(timestamp: &str, now: time::OffsetDateTime) -> String {
    let Ok(at) = time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339) else { return String::new() };
    format!("{} ago", human_duration((now - at).whole_seconds().max(0)))
}

fn human_duration(seconds: i64) -> String {
    let hours = seconds as f64 / 3600.0;
    match seconds {
        s if s < 1 => "Less than a second".into(),
        1 => "1 second".into(),
        s if s < 60 => format!("{s} seconds"),
        s if s / 60 == 1 => "About a minute".into(),
        s if s < 3600 => format!("{} minutes", s / 60),
        _ if hours.round() as i64 == 1 => "About an hour".into(),
        _ if hours < 48.0 => format!("{} hours", hours.round() as i64),
        _ if hours < 24.0 * 7.0 * 2.0 => format!("{} days", (hours / 24.0).round() as i64),
        _ if hours < 24.0 * 30.0 * 2.0 => format!("{} weeks", (hours / 24.0 / 7.0).round() as i64),
        _ if hours < 24.0 * 365.0 * 2.0 => format!("{} months", (hours / 24.0 / 30.0).round() as i64),
        _ => format!("{} years", (hours / 24.0 / 365.0).round() as i64),
    }
}

/// `ready` → `Ready`, as docker's `PrettyPrint`.
pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// A swarm object ID as tables show it (docker's `TruncateID`: 12 characters).
pub(crate) fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_worded_as_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(17 * 30 * 86400), "17 months");
    }

    #[test]
    fn names_are_shortened_and_capitalized_as_docker() {
        assert_eq!(capitalize("running"), "Running");
        assert_eq!(capitalize(""), "");
        assert_eq!(short_id("0123456789abcdefghijklmno"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
