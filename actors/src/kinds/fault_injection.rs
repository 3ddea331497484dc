//! `FaultInjection`: delays, aborts and bandwidth limits injected into HTTP traffic.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto::{self, Duration};
use crate::validation::Violations;

/// Spec of a `FaultInjection`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultInjectionSpec {
    /// Clients.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sources: Vec<Selector>,
    /// Services.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub destinations: Vec<Selector>,
    /// The faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<FaultInjectionConf>,
}

/// The faults of a FaultInjection.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultInjectionConf {
    /// Added latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Aborted requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
    /// Response bandwidth limit.
    #[serde(
        default,
        alias = "response_bandwidth",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_bandwidth: Option<ResponseBandwidth>,
}

/// Added latency.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Delay {
    /// Percentage of requests delayed.
    #[serde(
        default,
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// The delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Duration>,
}

/// Aborted requests.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Abort {
    /// Percentage of requests aborted.
    #[serde(
        default,
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// HTTP status returned.
    #[serde(
        default,
        alias = "http_status",
        deserialize_with = "proto::opt_u32",
        skip_serializing_if = "Option::is_none"
    )]
    pub http_status: Option<u32>,
}

/// Response bandwidth limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResponseBandwidth {
    /// Percentage of requests limited.
    #[serde(
        default,
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<f64>,
    /// Limit, e.g. `50kbps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
}

impl FaultInjectionSpec {
    /// Validation of §6.10.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
