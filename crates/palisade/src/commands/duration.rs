//! Go-style durations (`720h`, `1h30m`, `90s`) as the docker CLI accepts them.

use std::time::Duration;

/// Parses a Go duration: one or more `<number><unit>` with units ns, us, ms, s, m, h.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("invalid duration {text:?}");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(invalid)?;
        let (number, tail) = rest.split_at(digits);
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(invalid()),
        };
        total += Duration::try_from_secs_f64(value * seconds).map_err(|_| invalid())?;
        rest = tail;
    }
    Ok(total)
}

/// Nanoseconds as the Engine API carries durations.
pub(crate) fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Nanoseconds as Go's `time.Duration.String` writes them (`1h0m0s`, `1m30s`, `1.5s`, `500ms`).
pub(crate) fn go_string(nanos: i64) -> String {
    const SECOND: u64 = 1_000_000_000;
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    // `whole.fraction` of n / unit, without trailing zeros.
    let decimal = |n: u64, unit: u64| {
        let (whole, rest) = (n / unit, n % unit);
        if rest == 0 {
            return whole.to_string();
        }
        let digits = unit.ilog10() as usize;
        format!("{whole}.{}", format!("{rest:0digits$}").trim_end_matches('0'))
    };
    let text = match n {
        0 => "0s".to_owned(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", decimal(n, 1_000)),
        n if n < SECOND => format!("{}ms", decimal(n, 1_000_000)),
        n => {
            let (hours, minutes, rest) = (n / (3600 * SECOND), n / (60 * SECOND) % 60, n % (60 * SECOND));
            let seconds = decimal(rest, SECOND);
            match (hours, minutes) {
                (0, 0) => format!("{seconds}s"),
                (0, m) => format!("{m}m{seconds}s"),
                (h, m) => format!("{h}h{m}m{seconds}s"),
            }
        }
    };
    format!("{sign}{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("720h").unwrap(), Duration::from_secs(720 * 3600));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "10", "h", "5x", "-1h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        for (text, n) in [("500ms", 500_000_000), ("1.5s", 1_500_000_000), ("1m30s", 90_000_000_000), ("1h0m0s", 3_600_000_000_000)] {
            assert_eq!(go_string(n), text);
            assert_eq!(nanos(parse(text).unwrap()), n, "{text} round-trips");
        }
        assert_eq!(go_string(0), "0s");
        assert_eq!(go_string(1_500), "1.5µs");
        assert_eq!(go_string(-5_000_000_000), "-5s");
    }
}
