//! Durations written the way Go writes them (`"1s"`, `"500ms"`, `"1m0s"`, `"1.5s"`), as Kuma's
//! configuration does: a parser for Go's `time.ParseDuration` syntax and a formatter matching Go's
//! `time.Duration.String()`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_MICRO: u128 = 1_000;
const NANOS_PER_MILLI: u128 = 1_000_000;
const NANOS_PER_SECOND: u128 = 1_000_000_000;
const NANOS_PER_MINUTE: u128 = 60 * NANOS_PER_SECOND;
const NANOS_PER_HOUR: u128 = 60 * NANOS_PER_MINUTE;
/// Go's largest duration, `1<<63 - 1` nanoseconds; longer input is out of range as in Go.
const MAX_NANOS: u128 = i64::MAX as u128;

/// A non-negative duration that (de)serialises as a Go duration string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

/// Why a string is not a valid (non-negative) Go duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text does not follow Go's duration syntax.
    #[error("invalid duration {0:?}")]
    Invalid(String),
    /// A number is not followed by a unit (only a bare `"0"` may omit it).
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    /// The unit is not one of ns, us, µs, ms, s, m, h.
    #[error(
        "unknown unit {unit:?} in duration {input:?} (valid units are ns, us, µs, ms, s, m, h)"
    )]
    UnknownUnit {
        /// The unrecognised unit.
        unit: String,
        /// The whole input.
        input: String,
    },
    /// The duration is below zero, which no setting accepts.
    #[error("negative duration {0:?} is not allowed")]
    Negative(String),
    /// The duration exceeds Go's maximum (about 292 years).
    #[error("duration {0:?} is out of range")]
    OutOfRange(String),
}

impl GoDuration {
    /// A duration of whole seconds.
    pub const fn from_secs(secs: u64) -> GoDuration {
        GoDuration(Duration::from_secs(secs))
    }

    /// A duration of whole milliseconds.
    pub const fn from_millis(millis: u64) -> GoDuration {
        GoDuration(Duration::from_millis(millis))
    }

    /// The wrapped [`Duration`].
    pub const fn as_duration(self) -> Duration {
        self.0
    }
}

impl From<Duration> for GoDuration {
    fn from(d: Duration) -> GoDuration {
        GoDuration(d)
    }
}

impl From<GoDuration> for Duration {
    fn from(d: GoDuration) -> Duration {
        d.0
    }
}

impl FromStr for GoDuration {
    type Err = DurationError;

    /// Parses Go's syntax: an optional sign, then one or more `<decimal number><unit>` terms
    /// (`"1h30m"`, `"1.5s"`, `".5ms"`), or a bare `"0"`. Negative non-zero values are rejected.
    fn from_str(input: &str) -> Result<GoDuration, DurationError> {
        let invalid = || DurationError::Invalid(input.to_owned());
        let (negative, mut rest) = match input.as_bytes().first() {
            Some(b'-') => (true, &input[1..]),
            Some(b'+') => (false, &input[1..]),
            _ => (false, input),
        };
        if rest == "0" {
            return Ok(GoDuration::default());
        }
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut total: u128 = 0;
        while !rest.is_empty() {
            // The integer part: [0-9]*
            let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
            let (int_digits, after_int) = rest.split_at(int_len);
            // The fraction: (\.[0-9]*)?
            let (frac_digits, after_frac) = match after_int.strip_prefix('.') {
                Some(tail) => {
                    let len = tail.bytes().take_while(u8::is_ascii_digit).count();
                    (Some(&tail[..len]), &tail[len..])
                }
                None => (None, after_int),
            };
            let has_frac_digits = frac_digits.is_some_and(|f| !f.is_empty());
            if int_digits.is_empty() && !has_frac_digits {
                return Err(invalid());
            }
            // The unit: everything up to the next digit or '.'.
            let unit_len = after_frac
                .find(|c: char| c == '.' || c.is_ascii_digit())
                .unwrap_or(after_frac.len());
            if unit_len == 0 {
                return Err(DurationError::MissingUnit(input.to_owned()));
            }
            let (unit, tail) = after_frac.split_at(unit_len);
            let unit_nanos = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
                unit: unit.to_owned(),
                input: input.to_owned(),
            })?;
            let out_of_range = || DurationError::OutOfRange(input.to_owned());
            let whole = parse_digits(int_digits).ok_or_else(out_of_range)?;
            let mut term = whole.checked_mul(unit_nanos).ok_or_else(out_of_range)?;
            if let Some(frac) = frac_digits {
                term += fraction_nanos(frac, unit_nanos);
            }
            total = total.checked_add(term).ok_or_else(out_of_range)?;
            if total > MAX_NANOS {
                return Err(out_of_range());
            }
            rest = tail;
        }
        if negative && total > 0 {
            return Err(DurationError::Negative(input.to_owned()));
        }
        // total <= MAX_NANOS < u64::MAX, so the conversion cannot fail.
        let nanos =
            u64::try_from(total).map_err(|_| DurationError::OutOfRange(input.to_owned()))?;
        Ok(GoDuration(Duration::from_nanos(nanos)))
    }
}

/// Nanoseconds in one `unit`, for the units Go accepts.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SECOND,
        "m" => NANOS_PER_MINUTE,
        "h" => NANOS_PER_HOUR,
        _ => return None,
    })
}

/// The value of a run of ASCII digits (empty = 0), or `None` when it exceeds Go's range.
fn parse_digits(digits: &str) -> Option<u128> {
    digits.bytes().try_fold(0u128, |acc, b| {
        let acc = acc * 10 + u128::from(b - b'0');
        (acc <= MAX_NANOS).then_some(acc)
    })
}

/// Nanoseconds contributed by the fractional digits `frac` of a number of `unit_nanos` units
/// (truncated; digits beyond nanosecond precision of an hour cannot matter and are ignored).
fn fraction_nanos(frac: &str, unit_nanos: u128) -> u128 {
    let mut numerator: u128 = 0;
    let mut scale: u128 = 1;
    for b in frac.bytes().take(20) {
        numerator = numerator * 10 + u128::from(b - b'0');
        scale *= 10;
    }
    numerator * unit_nanos / scale
}

/// `.ddd` for `value / 10^precision`, trailing zeros removed; empty when the fraction is zero.
fn fraction_text(value: u128, precision: usize) -> String {
    if value == 0 {
        return String::new();
    }
    let digits = format!("{value:0precision$}");
    format!(".{}", digits.trim_end_matches('0'))
}

impl fmt::Display for GoDuration {
    /// Formats exactly like Go's `time.Duration.String()`: `0s`, `1.5µs`, `500ms`, `1.5s`, `1m0s`,
    /// `1h0m0s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.0.as_nanos();
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < NANOS_PER_SECOND {
            let (unit, precision, per_unit) = if nanos < NANOS_PER_MICRO {
                ("ns", 0, 1)
            } else if nanos < NANOS_PER_MILLI {
                ("\u{b5}s", 3, NANOS_PER_MICRO)
            } else {
                ("ms", 6, NANOS_PER_MILLI)
            };
            let whole = nanos / per_unit;
            let frac = fraction_text(nanos % per_unit, precision);
            return write!(f, "{whole}{frac}{unit}");
        }
        let frac = fraction_text(nanos % NANOS_PER_SECOND, 9);
        let total_secs = nanos / NANOS_PER_SECOND;
        let secs = total_secs % 60;
        let total_mins = total_secs / 60;
        if total_mins == 0 {
            return write!(f, "{secs}{frac}s");
        }
        let mins = total_mins % 60;
        let hours = total_mins / 60;
        if hours == 0 {
            write!(f, "{mins}m{secs}{frac}s")
        } else {
            write!(f, "{hours}h{mins}m{secs}{frac}s")
        }
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GoDuration, D::Error> {
        struct GoDurationVisitor;

        impl Visitor<'_> for GoDurationVisitor {
            type Value = GoDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a Go duration string such as \"1s\", \"500ms\" or \"1m30s\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
                v.parse().map_err(E::custom)
            }
        }

        deserializer.deserialize_str(GoDurationVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Duration, DurationError> {
        s.parse::<GoDuration>().map(|d| d.0)
    }

    fn show(d: Duration) -> String {
        GoDuration(d).to_string()
    }

    #[test]
    fn parses_go_syntax() {
        let cases = [
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("-0s", Duration::ZERO),
            ("1s", Duration::from_secs(1)),
            ("+1s", Duration::from_secs(1)),
            ("500ms", Duration::from_millis(500)),
            ("1.5s", Duration::from_millis(1500)),
            (".5s", Duration::from_millis(500)),
            ("5.s", Duration::from_secs(5)),
            ("1m0s", Duration::from_secs(60)),
            ("1h0m0s", Duration::from_secs(3600)),
            ("1h30m", Duration::from_secs(5400)),
            ("2h45m10.5s", Duration::from_millis(9_910_500)),
            ("10ns", Duration::from_nanos(10)),
            ("3us", Duration::from_micros(3)),
            ("3\u{b5}s", Duration::from_micros(3)),
            ("3\u{3bc}s", Duration::from_micros(3)),
            ("1.000000001s", Duration::from_nanos(1_000_000_001)),
            ("0.3333333333333s", Duration::from_nanos(333_333_333)),
            ("1ms1ms", Duration::from_millis(2)),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_what_go_rejects_and_negatives() {
        let cases = [
            ("", DurationError::Invalid(String::new())),
            ("-", DurationError::Invalid("-".into())),
            ("s", DurationError::Invalid("s".into())),
            (".s", DurationError::Invalid(".s".into())),
            ("1", DurationError::MissingUnit("1".into())),
            ("1s2", DurationError::MissingUnit("1s2".into())),
            ("1.5", DurationError::MissingUnit("1.5".into())),
            (
                "3d",
                DurationError::UnknownUnit {
                    unit: "d".into(),
                    input: "3d".into(),
                },
            ),
            (
                "1 s",
                DurationError::UnknownUnit {
                    unit: " s".into(),
                    input: "1 s".into(),
                },
            ),
            ("-1s", DurationError::Negative("-1s".into())),
            ("-1.5ms", DurationError::Negative("-1.5ms".into())),
            (
                "2562047h47m16.854775808s",
                DurationError::OutOfRange("2562047h47m16.854775808s".into()),
            ),
            (
                "99999999999999999999999h",
                DurationError::OutOfRange("99999999999999999999999h".into()),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Err(expected), "{text:?}");
        }
    }

    #[test]
    fn formats_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(999), "999ns"),
            (Duration::from_nanos(1_100), "1.1\u{b5}s"),
            (Duration::from_micros(2), "2\u{b5}s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_micros(2_200), "2.2ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_secs(30), "30s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_millis(61_500), "1m1.5s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_secs(3600 + 2 * 60 + 3), "1h2m3s"),
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
            (
                Duration::from_nanos(i64::MAX as u64),
                "2562047h47m16.854775807s",
            ),
        ];
        for (d, expected) in cases {
            assert_eq!(show(d), expected, "{d:?}");
        }
    }

    #[test]
    fn round_trips() {
        for text in [
            "0s",
            "1ns",
            "1.5\u{b5}s",
            "500ms",
            "1s",
            "1.5s",
            "1m0s",
            "1m30s",
            "1h0m0s",
            "26h3m4.5s",
        ] {
            let d: GoDuration = text.parse().expect(text);
            assert_eq!(d.to_string(), text);
            let json = serde_json::to_value(d).expect("serialise");
            assert_eq!(json, serde_json::Value::String(text.to_owned()));
            let back: GoDuration = serde_json::from_value(json).expect("deserialise");
            assert_eq!(back, d);
        }
        for millis in [
            0u64, 1, 999, 1000, 1001, 59_999, 60_000, 3_599_999, 3_600_000, 86_400_123,
        ] {
            let d = GoDuration::from_millis(millis);
            assert_eq!(d.to_string().parse::<GoDuration>(), Ok(d), "{millis}ms");
        }
    }

    #[test]
    fn deserialise_rejects_non_strings_and_bad_text() {
        let err = serde_json::from_str::<GoDuration>("5").expect_err("a number is not a duration");
        assert!(err.to_string().contains("Go duration"), "{err}");
        let err = serde_json::from_str::<GoDuration>("\"-1s\"").expect_err("negative");
        assert!(
            err.to_string().contains("negative duration \"-1s\""),
            "{err}"
        );
    }
}
