//! `TrafficTrace`: which dataplanes report traces, to which backend.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use super::traffic_log::BackendRef;
use crate::proto;
use crate::validation::Violations;

/// Spec of a `TrafficTrace`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficTraceSpec {
    /// Dataplanes that trace.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub selectors: Vec<Selector>,
    /// Backend choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<BackendRef>,
}

impl TrafficTraceSpec {
    /// Validation of §6.9.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
