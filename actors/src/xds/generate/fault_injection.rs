//! xDS §3.5 with X7: the one FaultInjection that selects an HTTP inbound best (matcher C) puts
//! Envoy's fault filter before the router of that inbound, applying only to requests whose
//! `x-kuma-tags` (set by the caller's outbound) match the policy's sources. TCP inbounds never
//! get it. Percentages are converted correctly (X7), unlike Kuma's 100× too large decimals.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use crate::kinds::fault_injection::{FaultInjectionConf, FaultInjectionSpec};
use crate::kinds::Kind;
use crate::proto::{self, Tags};
use crate::selector::{Selector, MATCH_ALL};
use crate::xds::model::{
    Denominator, Fault, FaultAbort, FaultDelay, FaultRateLimit, Fraction, HttpFilter, NetworkFilter,
};

use super::inbound::with_inbound_policies;
use super::{Builder, Input};

/// Adds the fault filter to the HTTP inbounds a FaultInjection selects.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    for (name, chosen) in with_inbound_policies::<FaultInjectionSpec>(input) {
        let Some((policy, spec)) = chosen else {
            continue;
        };
        builder
            .deps
            .policies
            .insert((Kind::FaultInjection, policy.meta.name.clone()));
        let Some(fault) = fault(spec) else {
            continue;
        };
        let Some(listener) = builder.resources.listeners.get_mut(&name) else {
            continue;
        };
        for filter in &mut listener.filter_chain.filters {
            // A TCP inbound has no connection manager, so it never gets the filter.
            if let NetworkFilter::HttpConnectionManager(hcm) = filter {
                let router = hcm
                    .http_filters
                    .iter()
                    .position(|f| *f == HttpFilter::Router)
                    .unwrap_or(hcm.http_filters.len());
                hcm.http_filters
                    .insert(router, HttpFilter::Fault(fault.clone()));
            }
        }
    }
}

/// The fault of `spec`, or `None` when it configures none Envoy can apply.
fn fault(spec: &FaultInjectionSpec) -> Option<Fault> {
    let conf = spec.conf.as_ref()?;
    let fault = Fault {
        tags_regex: sources_regex(&spec.sources),
        delay: delay(conf),
        abort: abort(conf),
        response_rate_limit: rate_limit(conf),
    };
    (fault.delay.is_some() || fault.abort.is_some() || fault.response_rate_limit.is_some())
        .then_some(fault)
}

fn delay(conf: &FaultInjectionConf) -> Option<FaultDelay> {
    let delay = conf.delay.as_ref()?;
    Some(FaultDelay {
        fixed: std_duration(delay.value?)?,
        percentage: fraction(delay.percentage?),
    })
}

fn abort(conf: &FaultInjectionConf) -> Option<FaultAbort> {
    let abort = conf.abort.as_ref()?;
    Some(FaultAbort {
        http_status: abort.http_status?,
        percentage: fraction(abort.percentage?),
    })
}

fn rate_limit(conf: &FaultInjectionConf) -> Option<FaultRateLimit> {
    let bandwidth = conf.response_bandwidth.as_ref()?;
    Some(FaultRateLimit {
        limit_kbps: kbps(bandwidth.limit.as_deref()?)?,
        percentage: fraction(bandwidth.percentage?),
    })
}

fn std_duration(d: proto::Duration) -> Option<Duration> {
    u64::try_from(d.as_nanos()).ok().map(Duration::from_nanos)
}

/// A percent in [0, 100] as Envoy's fraction (X7): whole percents over a hundred, hundredths
/// over ten thousand, anything finer over a million.
pub fn fraction(percent: f64) -> Fraction {
    let percent = percent.clamp(0.0, 100.0);
    let exact = |scaled: f64| (scaled - scaled.round()).abs() < 1e-9;
    let (numerator, denominator) = if exact(percent) {
        (percent.round(), Denominator::Hundred)
    } else if exact(percent * 100.0) {
        ((percent * 100.0).round(), Denominator::TenThousand)
    } else {
        ((percent * 10_000.0).round(), Denominator::Million)
    };
    Fraction {
        numerator: numerator as u32,
        denominator,
    }
}

/// Kuma's bandwidth syntax, `<n>kbps`, `<n>mbps` or `<n>gbps` (one optional space), in KiB/s;
/// `None` without a number.
pub fn kbps(limit: &str) -> Option<u64> {
    static BANDWIDTH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(\d*)\s?([gmk]bps)").expect("a valid regex"));
    let captures = BANDWIDTH.captures(limit)?;
    let value: u64 = captures[1].parse().ok()?;
    let scale = match &captures[2] {
        "gbps" => 1_000_000,
        "mbps" => 1_000,
        _ => 1,
    };
    value.checked_mul(scale)
}

/// The regex the caller's `x-kuma-tags` must match for one of `sources` to select it (Kuma's
/// `tags.MatchingRegex`): per selector, each tag in key order is `&key=` and, unless the value
/// is `*`, the value among the key's comma-separated values. `None` when a selector matches
/// any caller, with or without the header.
pub fn sources_regex(sources: &[Selector]) -> Option<String> {
    if sources.iter().any(|s| s.match_.is_empty()) {
        return None;
    }
    let each: Vec<String> = sources.iter().map(|s| selector_regex(&s.match_)).collect();
    match each.len() {
        0 => None,
        1 => each.into_iter().next(),
        _ => Some(format!("({})", each.join("|"))),
    }
}

fn selector_regex(tags: &Tags) -> String {
    // Tags is ordered by key, as Kuma sorts them.
    let mut out = String::from(".*");
    for (key, value) in tags {
        out.push('&');
        out.push_str(&regex::escape(key));
        out.push('=');
        if value != MATCH_ALL {
            out.push_str("[^&]*");
            out.push_str(&regex::escape(value));
            out.push_str("[,&]");
        }
        out.push_str(".*");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_converted_without_kumas_hundredfold_error() {
        let cases = [
            (50.0, 50, Denominator::Hundred),
            (100.0, 100, Denominator::Hundred),
            (0.0, 0, Denominator::Hundred),
            (50.5, 5050, Denominator::TenThousand),
            (0.01, 1, Denominator::TenThousand),
            (12.345, 123_450, Denominator::Million),
            (0.0001, 1, Denominator::Million),
        ];
        for (percent, numerator, denominator) in cases {
            assert_eq!(
                fraction(percent),
                Fraction {
                    numerator,
                    denominator
                },
                "{percent}"
            );
        }
    }

    #[test]
    fn bandwidths_are_read_in_kbps() {
        assert_eq!(kbps("50kbps"), Some(50));
        assert_eq!(kbps("50 mbps"), Some(50_000));
        assert_eq!(kbps("2gbps"), Some(2_000_000));
        assert_eq!(kbps("mbps"), None);
        assert_eq!(kbps("50bps"), None);
    }

    #[test]
    fn the_sources_regex_matches_the_callers_tags_header() {
        let selector = |pairs: &[(&str, &str)]| Selector {
            match_: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let web = selector(&[("service", "web"), ("version", "v1.0")]);
        let re = sources_regex(std::slice::from_ref(&web)).unwrap();
        assert_eq!(re, r".*&service=[^&]*web[,&].*&version=[^&]*v1\.0[,&].*");
        let full =
            |re: &str, header: &str| Regex::new(&format!("^(?:{re})$")).unwrap().is_match(header);
        assert!(full(&re, "&service=web&&version=v1.0&"));
        assert!(full(&re, "&region=eu&&service=api,web&&version=v1.0&"));
        assert!(!full(&re, "&service=web&&version=v1x0&"));
        assert!(!full(&re, "&service=backend&"));
        let any = selector(&[("service", "*")]);
        let both = sources_regex(&[web, any]).unwrap();
        assert!(both.starts_with('(') && both.contains('|'));
        assert!(full(&both, "&service=backend&"));
        assert_eq!(sources_regex(&[selector(&[])]), None);
    }
}
