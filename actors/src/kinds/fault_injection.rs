//! `FaultInjection`: delays, aborts and bandwidth limits injected into HTTP traffic.

use serde::{Deserialize, Serialize};

use crate::gostd;
use crate::proto::{self, Duration};
use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `FaultInjection`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultInjectionSpec {
    /// Clients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Selector>,
    /// Services.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Selector>,
    /// The faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<FaultInjectionConf>,
}

/// The faults of a FaultInjection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FaultInjectionConf {
    /// Added latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Aborted requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
    /// Response bandwidth limit.
    #[serde(alias = "response_bandwidth", skip_serializing_if = "Option::is_none")]
    pub response_bandwidth: Option<ResponseBandwidth>,
}

/// Added latency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Delay {
    /// Percentage of requests delayed.
    #[serde(
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// The delay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Duration>,
}

/// Aborted requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Abort {
    /// Percentage of requests aborted.
    #[serde(
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// HTTP status returned.
    #[serde(
        alias = "http_status",
        deserialize_with = "proto::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_status: Option<u32>,
}

/// Response bandwidth limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ResponseBandwidth {
    /// Percentage of requests limited.
    #[serde(
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// Limit, e.g. `50kbps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl FaultInjectionSpec {
    /// Validation of §6.10.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        let rules = SelectorRules::NONE
            .at_least_one_selector()
            .at_least_one_tag()
            .protocol_http();
        rules.check_list(&Path::root("sources"), &self.sources, &mut v);
        rules.check_list(&Path::root("destinations"), &self.destinations, &mut v);

        let root = Path::root("conf");
        let conf = self.conf.clone().unwrap_or_default();
        // A fault is configured when its object is present and not entirely empty.
        let delay = conf.delay.filter(|d| *d != Delay::default());
        let abort = conf.abort.filter(|a| *a != Abort::default());
        let bandwidth = conf
            .response_bandwidth
            .filter(|b| *b != ResponseBandwidth::default());
        if delay.is_none() && abort.is_none() && bandwidth.is_none() {
            v.add(&root, "must have at least one of the faults configured");
        }
        if let Some(delay) = delay {
            let path = root.field("delay");
            check_percentage(&path, delay.percentage, &mut v);
            if delay.value.is_none() {
                v.add(path.field("value"), "cannot be empty");
            }
        }
        if let Some(abort) = abort {
            let path = root.field("abort");
            check_percentage(&path, abort.percentage, &mut v);
            match abort.http_status {
                None => v.add(path.field("httpStatus"), "cannot be empty"),
                Some(code) if !gostd::is_known_http_status(code) => {
                    v.add(path.field("httpStatus"), "http status code is incorrect")
                }
                Some(_) => {}
            }
        }
        if let Some(bandwidth) = bandwidth {
            let path = root.field("responseBandwidth");
            check_percentage(&path, bandwidth.percentage, &mut v);
            match &bandwidth.limit {
                None => v.add(path.field("limit"), "cannot be empty"),
                Some(limit) if !is_bandwidth(limit) => {
                    v.add(path.field("limit"), "has to be in kbps/mbps/gbps units")
                }
                Some(_) => {}
            }
        }
        v
    }
}

fn check_percentage(path: &Path, percentage: Option<f64>, v: &mut Violations) {
    match percentage {
        None => v.add(path.field("percentage"), "cannot be empty"),
        Some(p) if !(0.0..=100.0).contains(&p) => {
            v.add(path.field("percentage"), "has to be in [0.0 - 100.0] range")
        }
        Some(_) => {}
    }
}

/// Kuma's unanchored `\d*\s?[gmk]bps` (Go's ASCII `\d` and `\s`): the optional parts can
/// match nothing, so it holds exactly when the text contains `gbps`, `mbps` or `kbps`.
fn is_bandwidth(limit: &str) -> bool {
    ["gbps", "mbps", "kbps"]
        .iter()
        .any(|unit| limit.contains(unit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    fn with_conf(conf: serde_json::Value) -> serde_json::Value {
        json!({
            "sources": [{"match": {"service": "frontend", "protocol": "http"}}],
            "destinations": [{"match": {"service": "backend", "protocol": "http", "region": "eu"}}],
            "conf": conf
        })
    }

    const NO_FAULTS: (&str, &str) = ("conf", "must have at least one of the faults configured");

    #[test]
    fn valid_fault_injections() {
        let cases = [
            (
                "full",
                json!({
                "sources": [{"match": {"service": "frontend", "version": "0.1", "protocol": "http"}}],
                "destinations": [{"match": {"service": "backend", "protocol": "http", "valid": "abcd.123-456.under_score_.:80"}}],
                "conf": {
                    "delay": {"percentage": 50, "value": "0.010s"},
                    "abort": {"percentage": 40, "httpStatus": 500},
                    "responseBandwidth": {"percentage": 40, "limit": "50kbps"}}}),
            ),
            (
                "wildcard",
                json!({
                "sources": [{"match": {"service": "frontend", "protocol": "http", "region": "*"}}],
                "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
                "conf": {"delay": {"percentage": 100, "value": "0s"}}}),
            ),
            (
                "docs",
                json!({
                "type": "FaultInjection", "mesh": "default", "name": "fi1",
                "sources": [{"match": {"service": "frontend", "version": "0.1", "protocol": "http"}}],
                "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
                "conf": {
                    "delay": {"percentage": 50.5, "value": "5s"},
                    "abort": {"httpStatus": 500, "percentage": 50},
                    "responseBandwidth": {"limit": "50 mbps", "percentage": 50}}}),
            ),
            (
                "bandwidth units",
                with_conf(json!({"responseBandwidth": {"percentage": 0, "limit": "1gbps"}})),
            ),
        ];
        for (name, spec) in cases {
            check(name, spec, FaultInjectionSpec::validate, &[]);
        }
    }

    #[test]
    fn invalid_fault_injections() {
        let cases: Cases<'_> = vec![
            ("empty", json!({}), vec![
                ("sources", "must have at least one element"),
                ("destinations", "must have at least one element"),
                NO_FAULTS]),
            ("empty faults", with_conf(json!({"delay": {}, "abort": {}, "responseBandwidth": {}})), vec![NO_FAULTS]),
            ("no percentages", with_conf(json!({
                "delay": {"value": "5s"}, "abort": {"httpStatus": 500}, "responseBandwidth": {"limit": "50kbps"}})), vec![
                ("conf.delay.percentage", "cannot be empty"),
                ("conf.abort.percentage", "cannot be empty"),
                ("conf.responseBandwidth.percentage", "cannot be empty")]),
            ("only percentages", with_conf(json!({
                "delay": {"percentage": 50}, "abort": {"percentage": 50}, "responseBandwidth": {"percentage": 50}})), vec![
                ("conf.delay.value", "cannot be empty"),
                ("conf.abort.httpStatus", "cannot be empty"),
                ("conf.responseBandwidth.limit", "cannot be empty")]),
            ("http status 600", with_conf(json!({"abort": {"httpStatus": 600, "percentage": 100}})), vec![
                ("conf.abort.httpStatus", "http status code is incorrect")]),
            ("http status 306", with_conf(json!({"abort": {"httpStatus": 306, "percentage": 100}})), vec![
                ("conf.abort.httpStatus", "http status code is incorrect")]),
            ("bandwidth format", with_conf(json!({"responseBandwidth": {"limit": "50mb", "percentage": 101}})), vec![
                ("conf.responseBandwidth.percentage", "has to be in [0.0 - 100.0] range"),
                ("conf.responseBandwidth.limit", "has to be in kbps/mbps/gbps units")]),
            ("bps is not a unit", with_conf(json!({"responseBandwidth": {"limit": "100bps", "percentage": 1}})), vec![
                ("conf.responseBandwidth.limit", "has to be in kbps/mbps/gbps units")]),
            ("negative percentage", with_conf(json!({"delay": {"percentage": -1, "value": "1s"}})), vec![
                ("conf.delay.percentage", "has to be in [0.0 - 100.0] range")]),
            ("protocol", json!({
                "sources": [{"match": {"service": "frontend", "protocol": "tcp"}}],
                "destinations": [{"match": {"service": "backend", "region": "eu"}}],
                "conf": {"responseBandwidth": {"limit": "50mbps", "percentage": 100}}}), vec![
                ("sources[0].match[\"protocol\"]", "must be one of the [http]"),
                ("destinations[0].match", "protocol must be specified")]),
            ("invalid tag value", json!({
                "sources": [{"match": {"service": "frontend", "protocol": "http", "invalidTag": "v@/u^e"}}],
                "destinations": [{"match": {"service": "backend", "protocol": "http", "invalidTag": "v@/u^e"}}],
                "conf": {"responseBandwidth": {"limit": "50mbps", "percentage": 100}}}), vec![
                ("sources[0].match[\"invalidTag\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores or be \"*\""),
                ("destinations[0].match[\"invalidTag\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores or be \"*\"")]),
            ("invalid tag name", json!({
                "sources": [{"match": {"service": "frontend", "protocol": "http", "inv@lidT@g#": "value"}}],
                "destinations": [{"match": {"service": "backend", "protocol": "http", "inv@lidT@g#": "value"}}],
                "conf": {"responseBandwidth": {"limit": "50mbps", "percentage": 100}}}), vec![
                ("sources[0].match[\"inv@lidT@g#\"]", "tag name must consist of alphanumeric characters, dots, dashes and underscores"),
                ("destinations[0].match[\"inv@lidT@g#\"]", "tag name must consist of alphanumeric characters, dots, dashes and underscores")]),
            ("no service requirement, but tags", json!({
                "sources": [{"match": {}}], "destinations": [{"match": {"protocol": "http"}}],
                "conf": {"delay": {"percentage": 1, "value": "1s"}}}), vec![
                ("sources[0].match", "must have at least one tag"),
                ("sources[0].match", "protocol must be specified")]),
        ];
        for (name, spec, want) in cases {
            check(name, spec, FaultInjectionSpec::validate, &want);
        }
    }
}
