//! `DataplaneInsight`: what the control plane knows of a dataplane's xDS connections.

use serde::{Deserialize, Serialize};

use crate::proto::{self, is_default, Timestamp};
use crate::validation::Violations;

/// Subscriptions kept per insight, most recent last (X10).
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// Spec of a `DataplaneInsight`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataplaneInsightSpec {
    /// xDS subscriptions, oldest first.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub subscriptions: Vec<Subscription>,
    /// Certificate state of the dataplane.
    #[serde(rename = "mTLS", default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<MtlsInsight>,
}

impl DataplaneInsightSpec {
    /// Drops all but the [`MAX_SUBSCRIPTIONS`] most recent (last) subscriptions, as every
    /// write keeps them (D24: a client-sent insight is trimmed like a proxy-reported one).
    pub fn keep_recent(&mut self) {
        if self.subscriptions.len() > MAX_SUBSCRIPTIONS {
            let excess = self.subscriptions.len() - MAX_SUBSCRIPTIONS;
            self.subscriptions.drain(..excess);
        }
    }
}

/// One ADS stream of a dataplane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subscription {
    /// Stream id.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub id: String,
    /// Control-plane instance that served the stream.
    #[serde(
        default,
        alias = "control_plane_instance_id",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub control_plane_instance_id: String,
    /// When the stream opened.
    #[serde(
        default,
        alias = "connect_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub connect_time: Option<Timestamp>,
    /// When the stream closed.
    #[serde(
        default,
        alias = "disconnect_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub disconnect_time: Option<Timestamp>,
    /// Counters of the stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubscriptionStatus>,
}

/// Counters of one subscription, per xDS type and in total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubscriptionStatus {
    /// When a counter last changed.
    #[serde(
        default,
        alias = "last_update_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_update_time: Option<Timestamp>,
    /// All types together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Stats>,
    /// Clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cds: Option<Stats>,
    /// Endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eds: Option<Stats>,
    /// Listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lds: Option<Stats>,
    /// Routes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rds: Option<Stats>,
}

/// xDS response counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stats {
    /// Responses sent.
    #[serde(
        default,
        alias = "responses_sent",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_sent: u64,
    /// Responses ACKed.
    #[serde(
        default,
        alias = "responses_acknowledged",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_acknowledged: u64,
    /// Responses NACKed.
    #[serde(
        default,
        alias = "responses_rejected",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_rejected: u64,
}

/// Certificate state of a dataplane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MtlsInsight {
    /// When the current certificate expires.
    #[serde(
        default,
        alias = "certificate_expiration_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_expiration_time: Option<Timestamp>,
    /// When the certificate was last regenerated.
    #[serde(
        default,
        alias = "last_certificate_regeneration",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_certificate_regeneration: Option<Timestamp>,
    /// How many times the certificate was regenerated.
    #[serde(
        default,
        alias = "certificate_regenerations",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub certificate_regenerations: u32,
    /// Why the last certificate could not be issued (an unreadable provided CA, say); empty
    /// after a success (Ursa extension).
    #[serde(
        default,
        alias = "last_certificate_error",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub last_certificate_error: String,
}

impl DataplaneInsightSpec {
    /// Kuma does not validate insights (§6.11); decoding already checked types and fields.
    pub fn validate(&self) -> Violations {
        Violations::new()
    }
}
