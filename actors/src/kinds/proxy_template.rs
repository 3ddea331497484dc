//! `ProxyTemplate`: which generation profile and which raw Envoy resources a dataplane gets.

use serde::{Deserialize, Serialize};

use super::selector::Selector;
use crate::proto;
use crate::validation::Violations;

/// Spec of a `ProxyTemplate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyTemplateSpec {
    /// Dataplanes the template applies to.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub selectors: Vec<Selector>,
    /// What to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conf: Option<ProxyTemplateConf>,
}

/// What a ProxyTemplate generates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProxyTemplateConf {
    /// Predefined profiles (`default-proxy`).
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub imports: Vec<String>,
    /// Raw Envoy resources.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub resources: Vec<RawResource>,
}

/// A raw Envoy resource in YAML or JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawResource {
    /// Resource name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Resource version.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub version: String,
    /// The resource itself, as YAML or JSON text.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub resource: String,
}

impl ProxyTemplateSpec {
    /// Validation of §6.5.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
