//! `TrafficLog`: which connections are access-logged, to which backend.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto;
use crate::validation::Violations;

/// Spec of a `TrafficLog`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrafficLogSpec {
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
    /// Backend choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<BackendRef>,
}

/// A reference to a mesh backend by name (empty = the mesh's default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BackendRef {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub backend: String,
}

impl TrafficLogSpec {
    /// Validation of §6.6.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
