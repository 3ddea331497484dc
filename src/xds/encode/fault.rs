//! [`Fault`] → `envoy.extensions.filters.http.fault.v3.HTTPFault`, matching the caller's
//! `x-kuma-tags` with a full-string RE2 match (xDS §3.5).

use envoy_types::pb::envoy::config::route::v3 as route;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3 as common;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3 as fault;
use envoy_types::pb::envoy::r#type::matcher::v3 as matcher;
use envoy_types::pb::envoy::r#type::v3 as types;
use ursa_actors::xds::model::{Denominator, Fault, Fraction};
use ursa_actors::xds::names::TAGS_HEADER;

use super::duration;

/// Canonical name of the fault HTTP filter.
pub const FAULT: &str = "envoy.filters.http.fault";

/// The v3 HTTPFault of `f`.
pub fn http_fault(f: &Fault) -> fault::HttpFault {
    fault::HttpFault {
        delay: f.delay.as_ref().map(|d| common::FaultDelay {
            percentage: Some(percent(d.percentage)),
            fault_delay_secifier: Some(common::fault_delay::FaultDelaySecifier::FixedDelay(
                duration(d.fixed),
            )),
        }),
        abort: f.abort.as_ref().map(|a| fault::FaultAbort {
            percentage: Some(percent(a.percentage)),
            error_type: Some(fault::fault_abort::ErrorType::HttpStatus(a.http_status)),
            ..Default::default()
        }),
        response_rate_limit: f
            .response_rate_limit
            .as_ref()
            .map(|r| common::FaultRateLimit {
                percentage: Some(percent(r.percentage)),
                limit_type: Some(common::fault_rate_limit::LimitType::FixedLimit(
                    common::fault_rate_limit::FixedLimit {
                        limit_kbps: r.limit_kbps,
                    },
                )),
            }),
        headers: f
            .tags_regex
            .iter()
            .map(|regex| route::HeaderMatcher {
                name: TAGS_HEADER.to_string(),
                header_match_specifier: Some(
                    route::header_matcher::HeaderMatchSpecifier::StringMatch(
                        matcher::StringMatcher {
                            match_pattern: Some(matcher::string_matcher::MatchPattern::SafeRegex(
                                matcher::RegexMatcher {
                                    regex: regex.clone(),
                                    ..Default::default()
                                },
                            )),
                            ..Default::default()
                        },
                    ),
                ),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn percent(f: Fraction) -> types::FractionalPercent {
    use types::fractional_percent::DenominatorType;
    types::FractionalPercent {
        numerator: f.numerator,
        denominator: match f.denominator {
            Denominator::Hundred => DenominatorType::Hundred,
            Denominator::TenThousand => DenominatorType::TenThousand,
            Denominator::Million => DenominatorType::Million,
        } as i32,
    }
}
