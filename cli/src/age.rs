//! Times as kumactl shows them: ages like Kubernetes' `ShortHumanDuration` (`10s`, `5m`, `2h`,
//! `3d`, `1y`), `never` for an absent time, dates as `2006-01-02 15:04:05`.

use chrono::{DateTime, Utc};

/// Parses an RFC 3339 time from the API.
pub fn parse(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// How long ago `then` was, in kumactl's short form.
pub fn short(then: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - then).num_seconds();
    // Up to a second in the future counts as now (clocks of client and server differ).
    if seconds < -1 {
        return "<invalid>".into();
    }
    let seconds = seconds.max(0);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    if seconds < 60 {
        format!("{seconds}s")
    } else if minutes < 60 {
        format!("{minutes}m")
    } else if hours < 24 {
        format!("{hours}h")
    } else if hours < 24 * 365 {
        format!("{}d", hours / 24)
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

/// `short` of an optional time, `never` when absent.
pub fn ago(then: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    then.map(|t| short(t, now))
        .unwrap_or_else(|| "never".into())
}

/// A date and time in UTC, `-` when absent.
pub fn date(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn ages_in_kumactl_units() {
        let now = parse("2024-06-01T12:00:00Z").unwrap();
        let cases = [
            (Duration::seconds(10), "10s"),
            (Duration::seconds(59), "59s"),
            (Duration::seconds(300), "5m"),
            (Duration::minutes(59), "59m"),
            (Duration::hours(2), "2h"),
            (Duration::hours(23), "23h"),
            (Duration::days(3), "3d"),
            (Duration::days(364), "364d"),
            (Duration::days(365), "1y"),
            (Duration::days(800), "2y"),
            (Duration::milliseconds(-900), "0s"),
            (Duration::seconds(-5), "<invalid>"),
        ];
        for (d, want) in cases {
            assert_eq!(short(now - d, now), want, "{d:?}");
        }
        assert_eq!(ago(None, now), "never");
        assert_eq!(
            date(parse("2030-01-02T03:04:05.678+01:00")),
            "2030-01-02 02:04:05"
        );
        assert_eq!(date(None), "-");
    }
}
