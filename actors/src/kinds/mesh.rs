//! `Mesh`: the tenant every other resource lives in; its mTLS, tracing, logging and metrics
//! backends.

use serde::{Deserialize, Serialize};

use crate::proto::{self, Duration, Struct};
use crate::validation::Violations;

/// Spec of a `Mesh`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshSpec {
    /// Mutual TLS: certificate authority backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Tracing backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Access-log backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Metrics backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// `mtls` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mtls {
    /// Name of the enabled CA backend; empty = mTLS off.
    #[serde(
        default,
        alias = "enabled_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub enabled_backend: String,
    /// CA backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<CaBackend>,
}

/// A certificate-authority backend (`builtin` or `provided`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Backend type: `builtin` or `provided`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Dataplane certificate settings.
    #[serde(default, alias = "dp_cert", skip_serializing_if = "Option::is_none")]
    pub dp_cert: Option<DpCert>,
    /// Type-specific configuration.
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// Dataplane certificate settings of a CA backend.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DpCert {
    /// Rotation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// Certificate rotation settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// How long a dataplane certificate is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Duration>,
}

/// `tracing` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    /// Backend used when a TrafficTrace names none.
    #[serde(
        default,
        alias = "default_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub default_backend: String,
    /// Tracing backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<TracingBackend>,
}

/// A tracing backend (`zipkin`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Percentage of requests sampled (0–100).
    #[serde(
        default,
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sampling: Option<f64>,
    /// Backend type: `zipkin`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`url`, `traceId128bit`, `apiVersion`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// `logging` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    /// Backend used when a TrafficLog names none.
    #[serde(
        default,
        alias = "default_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub default_backend: String,
    /// Logging backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<LoggingBackend>,
}

/// An access-log backend (`file` or `tcp`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggingBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Envoy access-log format string.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub format: String,
    /// Backend type: `file` or `tcp`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`path` or `address`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// `metrics` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metrics {
    /// Name of the enabled metrics backend.
    #[serde(
        default,
        alias = "enabled_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub enabled_backend: String,
    /// Metrics backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<MetricsBackend>,
}

/// A metrics backend (`prometheus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Backend type: `prometheus`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`port`, `path`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

impl MeshSpec {
    /// Structural validation (§6.2.1–6.2.4): mtls, logging, tracing, metrics.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}

/// The whole Mesh pipeline of a PUT (§3.6.1, §3.6.2, §7.2): defaults, structural validation,
/// on update the CA-change rule, then the CA backend checks. `old` is the stored spec on update.
pub fn prepare(
    spec: &mut MeshSpec,
    mesh_name: &str,
    old: Option<&MeshSpec>,
) -> Result<(), Violations> {
    let _ = (mesh_name, old);
    spec.validate().into_result()
}
