//! `TrafficRoute`: how traffic to a service is split across its versions.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto::{self, is_default, Tags};
use crate::validation::Violations;

/// Spec of a `TrafficRoute`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficRouteSpec {
    /// Clients the route applies to.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sources: Vec<Selector>,
    /// Service being routed.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub destinations: Vec<Selector>,
    /// Weighted split.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub conf: Vec<WeightedDestination>,
}

/// One branch of a split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WeightedDestination {
    /// Relative weight.
    #[serde(
        default,
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub weight: u32,
    /// Tags selecting the endpoints of this branch.
    #[serde(
        default,
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub destination: Tags,
}

impl TrafficRouteSpec {
    /// Validation of §6.8.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
