//! `TrafficPermission`: which services may talk to which when mTLS is on.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto;
use crate::validation::Violations;

/// Spec of a `TrafficPermission`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficPermissionSpec {
    /// Allowed clients.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub sources: Vec<Selector>,
    /// Services they may reach.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub destinations: Vec<Selector>,
}

impl TrafficPermissionSpec {
    /// Validation of §6.7.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
