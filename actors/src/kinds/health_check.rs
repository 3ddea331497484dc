//! `HealthCheck`: active and passive health checking between services.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto::{self, is_default, Duration};
use crate::validation::Violations;

/// Spec of a `HealthCheck`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckSpec {
    /// Dataplanes that perform the checks.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sources: Vec<Selector>,
    /// Services being checked.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub destinations: Vec<Selector>,
    /// Check settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<HealthCheckConf>,
}

/// Check settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheckConf {
    /// Active (probing) checks.
    #[serde(
        default,
        alias = "active_checks",
        skip_serializing_if = "Option::is_none"
    )]
    pub active_checks: Option<ActiveChecks>,
    /// Passive (outlier detection) checks.
    #[serde(
        default,
        alias = "passive_checks",
        skip_serializing_if = "Option::is_none"
    )]
    pub passive_checks: Option<PassiveChecks>,
}

/// Active checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActiveChecks {
    /// Time between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Time to wait for an answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Failures before a host is unhealthy.
    #[serde(
        default,
        alias = "unhealthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub unhealthy_threshold: u32,
    /// Successes before a host is healthy again.
    #[serde(
        default,
        alias = "healthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub healthy_threshold: u32,
}

/// Passive checks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassiveChecks {
    /// Errors before a host is ejected.
    #[serde(
        default,
        alias = "unhealthy_threshold",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub unhealthy_threshold: u32,
    /// How long an ejected host stays out.
    #[serde(
        default,
        alias = "penalty_interval",
        skip_serializing_if = "Option::is_none"
    )]
    pub penalty_interval: Option<Duration>,
}

impl HealthCheckSpec {
    /// Validation of §6.4.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
