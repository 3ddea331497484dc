//! `Dataplane`: one proxied workload — its address, inbound and outbound interfaces, or a
//! gateway.

use serde::{Deserialize, Serialize};

use super::mesh::MetricsBackend;
use crate::proto::{self, is_default, Tags};
use crate::validation::Violations;

/// Spec of a `Dataplane`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataplaneSpec {
    /// Network interfaces of the dataplane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networking: Option<Networking>,
    /// Metrics backend override for this dataplane.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsBackend>,
}

/// `networking` section of a Dataplane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Networking {
    /// IP address of the dataplane.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub address: String,
    /// Present on a gateway dataplane instead of inbounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    /// Services this dataplane exposes.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub inbound: Vec<Inbound>,
    /// Services this dataplane consumes.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub outbound: Vec<Outbound>,
    /// Transparent-proxying settings.
    #[serde(
        default,
        alias = "transparent_proxying",
        skip_serializing_if = "Option::is_none"
    )]
    pub transparent_proxying: Option<TransparentProxying>,
}

/// A gateway dataplane's tags.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gateway {
    /// Tags of the gateway (must include `service`).
    #[serde(
        default,
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub tags: Tags,
}

/// An inbound interface: traffic to `address:port` is forwarded to the workload's `servicePort`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Inbound {
    /// Legacy form `DATAPLANE_IP:DATAPLANE_PORT:WORKLOAD_PORT`.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub interface: String,
    /// Port the dataplane listens on.
    #[serde(
        default,
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub port: u32,
    /// Port of the workload behind the dataplane.
    #[serde(
        default,
        alias = "service_port",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub service_port: u32,
    /// Address of this inbound (defaults to `networking.address`).
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub address: String,
    /// Tags of the service (must include `service`).
    #[serde(
        default,
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub tags: Tags,
}

/// An outbound interface: a local port that reaches a service of the mesh.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Outbound {
    /// Legacy form `[DATAPLANE_IP]:DATAPLANE_PORT`.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub interface: String,
    /// Local address to listen on (default 127.0.0.1).
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub address: String,
    /// Local port to listen on.
    #[serde(
        default,
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub port: u32,
    /// Service reached through this outbound.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub service: String,
}

/// Transparent-proxying settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransparentProxying {
    /// Port iptables redirects outbound traffic to.
    #[serde(
        default,
        alias = "redirect_port",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub redirect_port: u32,
}

impl DataplaneSpec {
    /// Validation of §6.3.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
