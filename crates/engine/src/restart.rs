//! Restart policies (`--restart`) and dockerd's back-off between restarts.

use std::time::Duration;

use palisade_engine_api::containers::types::RestartPolicy;

use crate::error::{Error, Result};

/// First delay before a policy restarts a container.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The delay doubles with each restart up to this.
const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the delay to [`FIRST_DELAY`].
const STABLE_RUN: Duration = Duration::from_secs(10);

/// A container's restart policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Never restarted (`no`).
    No,
    /// Restarted whenever it exits, unless stopped by the user; started with the daemon.
    Always,
    /// As `Always`, but a container the user stopped stays stopped across daemon restarts.
    UnlessStopped,
    /// Restarted after a non-zero exit, at most `max` times (0: without limit).
    OnFailure {
        /// Retry limit.
        max: u32,
    },
}

impl Policy {
    /// The policy of a create request; dockerd's errors for bad ones.
    pub(crate) fn parse(policy: &RestartPolicy, auto_remove: bool) -> Result<Self> {
        let retries = policy.maximum_retry_count;
        let parsed = match policy.name.as_str() {
            "" | "no" => Self::No,
            "always" => Self::Always,
            "unless-stopped" => Self::UnlessStopped,
            "on-failure" => {
                let max = u32::try_from(retries)
                    .map_err(|_| Error::InvalidArgument("invalid restart policy: maximum retry count can't be negative".into()))?;
                return Ok(Self::OnFailure { max });
            }
            other => return Err(Error::InvalidArgument(format!("invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"))),
        };
        if retries != 0 {
            return Err(Error::InvalidArgument("invalid restart policy: maximum retry count can only be used with 'on-failure'".into()));
        }
        if auto_remove && parsed != Self::No {
            return Err(Error::InvalidArgument("can't create 'AutoRemove' container with restart policy".into()));
        }
        Ok(parsed)
    }

    /// Whether a container that just exited with `exit_code`, having been restarted
    /// `restarts` times, is restarted. A container the user stopped never is.
    pub(crate) fn restarts_after(self, exit_code: i64, restarts: u32, stopped_by_user: bool) -> bool {
        if stopped_by_user {
            return false;
        }
        match self {
            Self::No => false,
            Self::Always | Self::UnlessStopped => true,
            Self::OnFailure { max } => exit_code != 0 && (max == 0 || restarts < max),
        }
    }

    /// Whether the daemon starts the container when it starts.
    pub(crate) fn starts_with_daemon(self, stopped_by_user: bool) -> bool {
        match self {
            Self::Always => true,
            Self::UnlessStopped => !stopped_by_user,
            Self::No | Self::OnFailure { .. } => false,
        }
    }
}

/// The delay before the next policy restart, given the last one and how long the container
/// then ran: doubling from 100 ms up to a minute; reset by a run of 10 s or more.
pub(crate) fn next_delay(last: Option<Duration>, ran_for: Duration) -> Duration {
    match last {
        Some(d) if ran_for < STABLE_RUN => (d * 2).min(MAX_DELAY),
        _ => FIRST_DELAY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, retries: i64) -> Result<Policy> {
        Policy::parse(&RestartPolicy { name: name.into(), maximum_retry_count: retries }, false)
    }

    #[test]
    fn policies_parse_as_dockerd_reads_them() {
        assert_eq!(policy("", 0).unwrap(), Policy::No);
        assert_eq!(policy("on-failure", 3).unwrap(), Policy::OnFailure { max: 3 });
        assert!(policy("sometimes", 0).is_err());
        assert!(policy("always", 2).is_err());
        assert!(policy("on-failure", -1).is_err());
        let always = RestartPolicy { name: "always".into(), maximum_retry_count: 0 };
        assert!(Policy::parse(&always, true).unwrap_err().to_string().contains("AutoRemove"));
    }

    #[test]
    fn restarts_follow_the_policy_and_never_a_user_stop() {
        assert!(Policy::Always.restarts_after(0, 100, false));
        assert!(!Policy::Always.restarts_after(1, 0, true));
        assert!(!Policy::No.restarts_after(1, 0, false));
        let on_failure = Policy::OnFailure { max: 2 };
        assert!(!on_failure.restarts_after(0, 0, false));
        assert!(on_failure.restarts_after(3, 1, false));
        assert!(!on_failure.restarts_after(3, 2, false));
        assert!(Policy::OnFailure { max: 0 }.restarts_after(3, 1000, false));
        assert!(Policy::UnlessStopped.starts_with_daemon(false) && !Policy::UnlessStopped.starts_with_daemon(true));
        assert!(Policy::Always.starts_with_daemon(true));
    }

    #[test]
    fn back_off_doubles_to_a_minute_and_resets_after_a_stable_run() {
        let short = Duration::from_secs(1);
        let mut d = next_delay(None, short);
        assert_eq!(d, FIRST_DELAY);
        for _ in 0..20 {
            d = next_delay(Some(d), short);
        }
        assert_eq!(d, MAX_DELAY);
        assert_eq!(next_delay(Some(d), STABLE_RUN), FIRST_DELAY);
    }
}
