//! Docker's human-readable durations (`Up 3 seconds`, `Exited (0) 2 minutes ago`).

use time::Duration;

/// go-units `HumanDuration`.
pub(crate) fn human_duration(d: Duration) -> String {
    let seconds = d.whole_seconds();
    let minutes = d.whole_minutes();
    let hours = d.whole_hours();
    match () {
        _ if seconds < 1 => "Less than a second".to_owned(),
        _ if seconds == 1 => "1 second".to_owned(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(Duration::milliseconds(200)), "Less than a second");
        assert_eq!(human_duration(Duration::seconds(5)), "5 seconds");
        assert_eq!(human_duration(Duration::seconds(70)), "About a minute");
        assert_eq!(human_duration(Duration::hours(3)), "3 hours");
    }
}
