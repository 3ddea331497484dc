//! The proto3 JSON mapping Kuma's API uses (golang/protobuf `jsonpb`), as serde helpers: lenient
//! input (quoted numbers, `null` for "unset", snake_case aliases) and canonical output (defaults
//! omitted, 64-bit integers as strings, durations as `"1.500s"`). A `null` member of a message
//! reads as unset through [`json`], the one decoder of specs.

pub mod json;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A `map<string,string>` (tags, selectors): keys sorted on output.
pub type Tags = BTreeMap<String, String>;

/// A `google.protobuf.Struct`: a free-form JSON object (backend `conf` blocks).
pub type Struct = serde_json::Map<String, serde_json::Value>;

/// True for a value equal to its type's default; used to omit proto3 default fields.
pub fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// Deserialises a `map<string,string>`; `null` means empty and a `null` value becomes `""`.
pub fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Tags, D::Error> {
    let m: Option<BTreeMap<String, Option<String>>> = Option::deserialize(d)?;
    Ok(m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect())
}

macro_rules! int_visitor {
    ($name:ident, $opt:ident, $t:ty, $expect:literal) => {
        /// Deserialises an integer that may also be given as a quoted string; `null` means 0.
        pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$t, D::Error> {
            Ok($opt(d)?.unwrap_or_default())
        }

        /// Deserialises an optional integer (a wrapper type) that may be given quoted.
        pub fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<$t>, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Option<$t>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str($expect)
                }
                fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                    Ok(None)
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                    d.deserialize_any(self)
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                    <$t>::try_from(v)
                        .map(Some)
                        .map_err(|_| E::custom(format!("{v} is out of range for {}", $expect)))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                    <$t>::try_from(v)
                        .map(Some)
                        .map_err(|_| E::custom(format!("{v} is out of range for {}", $expect)))
                }
                fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                    if v.fract() == 0.0 && v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 {
                        Ok(Some(v as $t))
                    } else {
                        Err(E::custom(format!("{v} is not {}", $expect)))
                    }
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                    v.parse::<$t>()
                        .map(Some)
                        .map_err(|_| E::custom(format!("{v:?} is not {}", $expect)))
                }
            }
            d.deserialize_any(V)
        }
    };
}

int_visitor!(u32, opt_u32, u32, "an unsigned 32-bit integer");
int_visitor!(u64, opt_u64, u64, "an unsigned 64-bit integer");

/// Deserialises an optional `DoubleValue`; numbers may be quoted.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a number")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(v as f64))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| E::custom(format!("{v:?} is not a number")))
        }
    }
    d.deserialize_any(V)
}

/// Serialises a 64-bit integer as a JSON string, as proto3 JSON does.
pub fn u64_as_string<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// A `google.protobuf.Duration`: seconds and nanoseconds of the same sign.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    /// Whole seconds.
    pub seconds: i64,
    /// Nanoseconds, same sign as `seconds`.
    pub nanos: i32,
}

/// Largest duration proto3 can represent (10,000 years).
const MAX_DURATION_SECONDS: i64 = 315_576_000_000;

impl Duration {
    /// Builds a duration from a whole number of nanoseconds.
    pub fn from_nanos(n: i128) -> Option<Duration> {
        let seconds = n / 1_000_000_000;
        if seconds.abs() > MAX_DURATION_SECONDS as i128 {
            return None;
        }
        Some(Duration {
            seconds: seconds as i64,
            nanos: (n % 1_000_000_000) as i32,
        })
    }

    /// Builds a duration from whole seconds.
    pub fn from_secs(s: i64) -> Duration {
        Duration {
            seconds: s,
            nanos: 0,
        }
    }

    /// Total nanoseconds.
    pub fn as_nanos(&self) -> i128 {
        self.seconds as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// True when the duration is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.seconds == 0 && self.nanos == 0
    }

    /// Parses Go's duration syntax (`"10ms"`, `"1m30s"`, `"-5s"`, `"0.010s"`, `"0"`).
    pub fn parse(s: &str) -> Result<Duration, String> {
        let bad = || {
            format!("invalid duration {s:?}: expected a number with a unit (ns, us, ms, s, m, h), e.g. \"10s\" or \"1m30s\"")
        };
        let (neg, mut rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        if rest == "0" {
            return Ok(Duration::default());
        }
        if rest.is_empty() {
            return Err(bad());
        }
        // Sum in nanoseconds with i128 to detect overflow past the proto range.
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let num_end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let (num, tail) = rest.split_at(num_end);
            if num.is_empty() || num == "." || num.matches('.').count() > 1 {
                return Err(bad());
            }
            let unit_end = tail
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let scale: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60_000_000_000,
                "h" => 3_600_000_000_000,
                _ => return Err(bad()),
            };
            let (int_part, frac_part) = num.split_once('.').unwrap_or((num, ""));
            let int: i128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse().map_err(|_| bad())?
            };
            let mut value = int.checked_mul(scale).ok_or_else(bad)?;
            let mut frac_scale = scale;
            for digit in frac_part.bytes().take(30) {
                frac_scale /= 10;
                value += (digit - b'0') as i128 * frac_scale;
            }
            total = total.checked_add(value).ok_or_else(bad)?;
            if total > MAX_DURATION_SECONDS as i128 * 1_000_000_000 {
                return Err(format!("invalid duration {s:?}: out of range"));
            }
            rest = tail;
        }
        Duration::from_nanos(if neg { -total } else { total }).ok_or_else(bad)
    }
}

impl fmt::Display for Duration {
    /// Proto3 JSON form: seconds with 0, 3, 6 or 9 fractional digits and an `s` suffix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.as_nanos();
        let sign = if n < 0 { "-" } else { "" };
        let n = n.unsigned_abs();
        let (secs, nanos) = (n / 1_000_000_000, n % 1_000_000_000);
        if nanos == 0 {
            write!(f, "{sign}{secs}s")
        } else if nanos % 1_000_000 == 0 {
            write!(f, "{sign}{secs}.{:03}s", nanos / 1_000_000)
        } else if nanos % 1_000 == 0 {
            write!(f, "{sign}{secs}.{:06}s", nanos / 1_000)
        } else {
            write!(f, "{sign}{secs}.{nanos:09}s")
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

/// A `google.protobuf.Timestamp`, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Timestamp {
        Timestamp(Utc::now())
    }
}

impl Serialize for Timestamp {
    /// Proto3 form: UTC with `Z` and 0, 3, 6 or 9 fractional digits.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_rfc3339(&s).map(Timestamp).map_err(de::Error::custom)
    }
}

/// Parses an RFC 3339 timestamp with any offset into UTC.
pub fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("invalid RFC 3339 timestamp {s:?}: {e}"))
}

/// Formats a resource's meta time: RFC 3339 UTC with `Z`, fraction trimmed of trailing zeros.
pub fn format_meta_time(t: &DateTime<Utc>) -> String {
    let mut s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "…:SS.123456789Z": drop trailing zeros of the fraction, and the dot if nothing is left.
    if let Some(dot) = s.rfind('.') {
        let frac_end = s.len() - 1;
        let trimmed = s[dot + 1..frac_end].trim_end_matches('0').len();
        let cut = if trimmed == 0 { dot } else { dot + 1 + trimmed };
        s.replace_range(cut..frac_end, "");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_go_syntax_and_print_proto3() {
        for (input, out) in [
            ("10s", "10s"),
            ("10ms", "0.010s"),
            ("1.5s", "1.500s"),
            ("1m", "60s"),
            ("1m30s", "90s"),
            ("0.010s", "0.010s"),
            ("-5s", "-5s"),
            ("0", "0s"),
            ("1h", "3600s"),
            ("1us", "0.000001s"),
            ("1ns", "0.000000001s"),
        ] {
            assert_eq!(Duration::parse(input).unwrap().to_string(), out, "{input}");
        }
        for bad in ["", "10", "s", "1x", "1.2.3s", "-", "abc", "99999999999999h"] {
            assert!(Duration::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn meta_times_trim_trailing_zeros() {
        let t = parse_rfc3339("2018-07-17T16:05:36.995Z").unwrap();
        assert_eq!(format_meta_time(&t), "2018-07-17T16:05:36.995Z");
        let t = parse_rfc3339("2018-07-17T18:05:36+02:00").unwrap();
        assert_eq!(format_meta_time(&t), "2018-07-17T16:05:36Z");
        let t = parse_rfc3339("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(format_meta_time(&t), "0001-01-01T00:00:00Z");
        let t = parse_rfc3339("2020-05-12T12:31:45.606217100Z").unwrap();
        assert_eq!(format_meta_time(&t), "2020-05-12T12:31:45.6062171Z");
    }
}
