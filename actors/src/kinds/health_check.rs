//! `HealthCheck`: active and passive health checking between services.

use serde::{Deserialize, Serialize};

use crate::proto::{self, is_default, Duration};
use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `HealthCheck`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Dataplanes that perform the checks.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Selector>,
    /// Services being checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Selector>,
    /// Check settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<HealthCheckConf>,
}

/// Check settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HealthCheckConf {
    /// Active (probing) checks.
    #[serde(alias = "active_checks", skip_serializing_if = "Option::is_none")]
    pub active_checks: Option<ActiveChecks>,
    /// Passive (outlier detection) checks.
    #[serde(alias = "passive_checks", skip_serializing_if = "Option::is_none")]
    pub passive_checks: Option<PassiveChecks>,
}

/// Active checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ActiveChecks {
    /// Time between checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time to wait for an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Failures before a host is unhealthy.
    #[serde(
        alias = "unhealthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub unhealthy_threshold: u32,
    /// Successes before a host is healthy again.
    #[serde(
        alias = "healthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub healthy_threshold: u32,
}

/// Passive checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PassiveChecks {
    /// Errors before a host is ejected.
    #[serde(
        alias = "unhealthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub unhealthy_threshold: u32,
    /// How long an ejected host stays out.
    #[serde(alias = "penalty_interval", skip_serializing_if = "Option::is_none")]
    pub penalty_interval: Option<Duration>,
}

impl HealthCheckSpec {
    /// Validation of §6.4: sources, destinations, then the checks.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::SERVICE.check_list(&Path::root("sources"), &self.sources, &mut v);
        SelectorRules::ONLY_SERVICE.check_list(
            &Path::root("destinations"),
            &self.destinations,
            &mut v,
        );
        let root = Path::root("conf");
        let conf = self.conf.clone().unwrap_or_default();
        // "Configured" = present and not entirely empty (a `"0s"` duration counts as set).
        let active = conf.active_checks.filter(|a| *a != ActiveChecks::default());
        let passive = conf
            .passive_checks
            .filter(|p| *p != PassiveChecks::default());
        if active.is_none() && passive.is_none() {
            v.add(
                &root,
                "must have either active or passive checks configured",
            );
        }
        if let Some(active) = active {
            let path = root.field("activeChecks");
            check_duration(&path.field("interval"), active.interval, &mut v);
            check_duration(&path.field("timeout"), active.timeout, &mut v);
            check_threshold(
                &path.field("unhealthyThreshold"),
                active.unhealthy_threshold,
                &mut v,
            );
            check_threshold(
                &path.field("healthyThreshold"),
                active.healthy_threshold,
                &mut v,
            );
        }
        if let Some(passive) = passive {
            let path = root.field("passiveChecks");
            check_threshold(
                &path.field("unhealthyThreshold"),
                passive.unhealthy_threshold,
                &mut v,
            );
            check_duration(
                &path.field("penaltyInterval"),
                passive.penalty_interval,
                &mut v,
            );
        }
        v
    }
}

/// Missing or zero → `must have a positive value`; beyond proto's range → `must have a valid
/// value`. Negative durations pass, as in Kuma.
fn check_duration(path: &Path, duration: Option<Duration>, v: &mut Violations) {
    match duration {
        None => v.add(path, "must have a positive value"),
        Some(d) if d.is_zero() => v.add(path, "must have a positive value"),
        Some(d) if !is_valid_duration(&d) => v.add(path, "must have a valid value"),
        Some(_) => {}
    }
}

/// `ptypes.DurationFromProto` succeeds: within ±10,000 years, nanos in range and of the same
/// sign as the seconds.
fn is_valid_duration(d: &Duration) -> bool {
    const MAX_SECONDS: i64 = 315_576_000_000;
    d.seconds.abs() <= MAX_SECONDS
        && d.nanos.abs() < 1_000_000_000
        && !(d.seconds > 0 && d.nanos < 0 || d.seconds < 0 && d.nanos > 0)
}

fn check_threshold(path: &Path, threshold: u32, v: &mut Violations) {
    if threshold == 0 {
        v.add(path, "must have a positive value");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    fn case(name: &str, spec: serde_json::Value, want: &[(&str, &str)]) {
        check(name, spec, HealthCheckSpec::validate, want);
    }

    const NO_CHECKS: (&str, &str) = (
        "conf",
        "must have either active or passive checks configured",
    );

    #[test]
    fn valid_health_checks() {
        case(
            "docs",
            json!({
                "type": "HealthCheck", "mesh": "mesh-1", "name": "web-to-backend",
                "sources": [{"match": {"service": "web"}}],
                "destinations": [{"match": {"service": "backend"}}],
                "conf": {"activeChecks": {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1}}
            }),
            &[],
        );
        case(
            "passive only, negative durations pass",
            json!({
                "sources": [{"match": {"service": "*", "region": "eu"}}],
                "destinations": [{"match": {"service": "backend"}}],
                "conf": {"passiveChecks": {"unhealthyThreshold": 3, "penaltyInterval": "-5s"}}
            }),
            &[],
        );
    }

    #[test]
    fn invalid_health_checks() {
        let selectors = json!({"sources": [{"match": {"service": "web"}}], "destinations": [{"match": {"service": "backend"}}]});
        let with_conf = |conf: serde_json::Value| {
            let mut s = selectors.clone();
            s["conf"] = conf;
            s
        };
        let cases: Cases<'_> = vec![
            (
                "empty",
                json!({}),
                vec![
                    ("sources", "must have at least one element"),
                    ("destinations", "must have at least one element"),
                    NO_CHECKS,
                ],
            ),
            (
                "selectors without tags",
                json!({
                "sources": [{"match": {}}], "destinations": [{"match": {}}],
                "conf": {"activeChecks": {}, "passiveChecks": {}}}),
                vec![
                    ("sources[0].match", "must have at least one tag"),
                    ("sources[0].match", "mandatory tag \"service\" is missing"),
                    (
                        "destinations[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "destinations[0].match",
                        "mandatory tag \"service\" is missing",
                    ),
                    NO_CHECKS,
                ],
            ),
            (
                "selectors with empty tag values",
                json!({
                "sources": [{"match": {"service": "", "region": ""}}],
                "destinations": [{"match": {"service": "", "region": ""}}]}),
                vec![
                    (
                        "sources[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "sources[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "destinations[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "destinations[0].match[\"region\"]",
                        "tag \"region\" is not allowed",
                    ),
                    (
                        "destinations[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "destinations[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                    NO_CHECKS,
                ],
            ),
            (
                "empty active and passive checks",
                with_conf(json!({"activeChecks": {}, "passiveChecks": {}})),
                vec![NO_CHECKS],
            ),
            (
                "active checks all zero",
                with_conf(json!({"activeChecks": {
                "interval": "0s", "timeout": "0s", "unhealthyThreshold": 0, "healthyThreshold": 0}})),
                vec![
                    ("conf.activeChecks.interval", "must have a positive value"),
                    ("conf.activeChecks.timeout", "must have a positive value"),
                    (
                        "conf.activeChecks.unhealthyThreshold",
                        "must have a positive value",
                    ),
                    (
                        "conf.activeChecks.healthyThreshold",
                        "must have a positive value",
                    ),
                ],
            ),
            (
                "active checks missing durations",
                with_conf(
                    json!({"activeChecks": {"unhealthyThreshold": 1, "healthyThreshold": 1}}),
                ),
                vec![
                    ("conf.activeChecks.interval", "must have a positive value"),
                    ("conf.activeChecks.timeout", "must have a positive value"),
                ],
            ),
            (
                "passive checks zero",
                with_conf(
                    json!({"passiveChecks": {"unhealthyThreshold": 0, "penaltyInterval": "0s"}}),
                ),
                vec![
                    (
                        "conf.passiveChecks.unhealthyThreshold",
                        "must have a positive value",
                    ),
                    (
                        "conf.passiveChecks.penaltyInterval",
                        "must have a positive value",
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            case(name, spec, &want);
        }
    }

    #[test]
    fn durations_beyond_proto_range_are_invalid() {
        let mut v = Violations::new();
        let huge = Duration {
            seconds: 315_576_000_001,
            nanos: 0,
        };
        check_duration(&Path::root("d"), Some(huge), &mut v);
        assert_eq!(v, Violations::single("d", "must have a valid value"));
        assert!(is_valid_duration(&Duration {
            seconds: -1,
            nanos: -5
        }));
        assert!(!is_valid_duration(&Duration {
            seconds: 1,
            nanos: -5
        }));
    }
}
