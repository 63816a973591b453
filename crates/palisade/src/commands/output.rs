//! What the client verbs print: demultiplexed container output, and tables, ages and names as the
//! docker CLI words them.

use std::io::Write as _;

use palisade_engine_api::client::ClientError;
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

/// Runs `action` on each of `references` in turn, printing those it succeeded for; the errors
/// are reported together at the end (a nonzero exit), as docker does for `rm`, `start`, ….
pub(crate) async fn each<F, Fut>(references: &[String], mut action: F) -> anyhow::Result<()>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), ClientError>>,
{
    let mut errors = Vec::new();
    for reference in references {
        match action(reference.clone()).await {
            Ok(()) => println!("{reference}"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(())
}

/// docker's prune confirmation: `warning`, then `Are you sure you want to continue? [y/N]`,
/// answered on stdin (`y` or `yes`); `force` skips it. Declining is an error, as docker's
/// "has been cancelled".
pub(crate) fn confirm(what: &str, warning: &str, force: bool) -> anyhow::Result<()> {
    if force {
        return Ok(());
    }
    print!("WARNING! {warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        return Ok(());
    }
    anyhow::bail!("{what} has been cancelled")
}

/// `2.048kB`, as go-units' HumanSize (decimal units, four significant digits).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let integer_digits = if value < 10.0 { 1 } else if value < 100.0 { 2 } else { 3 };
    let text = format!("{value:.prec$}", prec = 4 - integer_digits);
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", UNITS[unit])
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
    fn sizes_are_worded_as_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(2048), "2.048kB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(123_456_789), "123.5MB");
    }

    #[test]
    fn names_are_shortened_and_capitalized_as_docker() {
        assert_eq!(capitalize("running"), "Running");
        assert_eq!(capitalize(""), "");
        assert_eq!(short_id("0123456789abcdefghijklmno"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}
