//! Checks of option values, so that a value no command can use (`--jobs 0`,
//! `--timeout 0`) is a usage error (exit 2) that names the allowed range, instead of
//! a silent substitute or a target blamed for it (exit 3).

use std::time::Duration;

use smtpspec::scenario::parse_duration;

/// The most sessions or cases at once, and the most server threads: beyond this
/// a 2-core machine only queues, and the file-descriptor limit is near.
const MOST_JOBS: usize = 4096;

/// The longest campaign `--duration` takes: a week.
const LONGEST_CAMPAIGN: Duration = Duration::from_secs(7 * 24 * 3600);

/// `--jobs`, `--threads`: 1 to [`MOST_JOBS`].
pub(super) fn jobs(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MOST_JOBS).contains(&n) => Ok(n),
        _ => Err(format!("{s:?} is not a whole number from 1 to {MOST_JOBS}")),
    }
}

/// A count that must be at least 1 (`--runs`).
pub(super) fn at_least_one(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a whole number of 1 or more")),
    }
}

/// A duration such as `5s`, `800ms` or `2m`, below an hour; zero allowed (a wait).
pub(super) fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .ok_or_else(|| format!("{s:?} is not a duration from 0 to 59m such as 5s, 800ms or 2m"))
}

/// A duration above zero and below an hour (timeouts: zero would fail every step,
/// and the target would be blamed).
pub(super) fn positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!(
            "{s:?} is not a duration above 0 and below an hour, such as 5s, 800ms or 2m"
        )),
    }
}

/// A campaign's length: as [`positive_duration`], or whole hours (`2h`) up to a week.
pub(super) fn campaign(s: &str) -> Result<Duration, String> {
    let hours = s.trim().strip_suffix('h').map(|h| h.trim().parse::<u64>());
    match hours {
        Some(Ok(h)) if h >= 1 && Duration::from_secs(h * 3600) <= LONGEST_CAMPAIGN => {
            Ok(Duration::from_secs(h * 3600))
        }
        Some(_) => Err(format!(
            "{s:?} is not a campaign length such as 30s, 10m or 2h (at most 168h)"
        )),
        None => positive_duration(s),
    }
}

/// `--shard I/N`: shard I (from 1) of N.
pub(super) fn shard(s: &str) -> Result<(usize, usize), String> {
    s.split_once('/')
        .and_then(|(i, n)| Some((i.trim().parse().ok()?, n.trim().parse().ok()?)))
        .filter(|&(i, n): &(usize, usize)| i >= 1 && i <= n && n <= MOST_JOBS)
        .ok_or_else(|| format!("{s:?} is not I/N with 1 <= I <= N <= {MOST_JOBS}, such as 2/4"))
}

/// A multiplier above zero (`--timeout-scale`).
pub(super) fn positive_factor(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("{s:?} is not a number above 0 such as 0.01 or 1")),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{
        at_least_one, campaign, duration, jobs, positive_duration, positive_factor, shard,
    };

    #[test]
    fn counts_name_their_range() {
        assert_eq!(jobs("32"), Ok(32));
        assert_eq!(jobs("4096"), Ok(4096));
        for bad in ["0", "4097", "-1", "x", ""] {
            let e = jobs(bad).expect_err(bad);
            assert!(e.contains("from 1 to 4096"), "{e}");
        }
        assert_eq!(at_least_one("1"), Ok(1));
        assert!(at_least_one("0").is_err());
    }

    #[test]
    fn durations_refuse_zero_where_it_fails_everything() {
        assert_eq!(positive_duration("800ms"), Ok(Duration::from_millis(800)));
        assert_eq!(positive_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["0", "0s", "0ms", "5x", "", "-1s", "60m"] {
            let e = positive_duration(bad).expect_err(bad);
            assert!(e.contains("above 0"), "{e}");
        }
        assert_eq!(duration("0s"), Ok(Duration::ZERO));
        assert!(duration("soon").is_err());
    }

    #[test]
    fn a_campaign_may_last_hours() {
        assert_eq!(campaign("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(campaign("90s"), Ok(Duration::from_secs(90)));
        assert!(campaign("0h").is_err());
        assert!(campaign("169h").is_err());
        assert!(campaign("0").is_err());
    }

    #[test]
    fn shards_are_one_of_n() {
        assert_eq!(shard("2/4"), Ok((2, 4)));
        assert_eq!(shard("1/1"), Ok((1, 1)));
        for bad in ["0/4", "5/4", "4", "a/b", "1/0", ""] {
            assert!(shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn factors_are_positive() {
        assert_eq!(positive_factor("0.01"), Ok(0.01));
        for bad in ["0", "-1", "inf", "NaN", "x"] {
            assert!(positive_factor(bad).is_err(), "{bad}");
        }
    }
}
