//! `DataplaneInsight`: what the control plane knows of a dataplane's xDS connections.

use serde::{Deserialize, Serialize};

use crate::proto::{self, is_default, Timestamp};
use crate::validation::Violations;

/// Subscriptions kept per insight, most recent last (X10).
pub const MAX_SUBSCRIPTIONS: usize = 10;

/// Spec of a `DataplaneInsight`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DataplaneInsightSpec {
    /// xDS subscriptions, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<Subscription>,
    /// Certificate state of the dataplane.
    #[serde(rename = "mTLS", skip_serializing_if = "Option::is_none")]
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
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Subscription {
    /// Stream id.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Control-plane instance that served the stream.
    #[serde(
        alias = "control_plane_instance_id",
        skip_serializing_if = "String::is_empty"
    )]
    pub control_plane_instance_id: String,
    /// When the stream opened.
    #[serde(alias = "connect_time", skip_serializing_if = "Option::is_none")]
    pub connect_time: Option<Timestamp>,
    /// When the stream closed.
    #[serde(alias = "disconnect_time", skip_serializing_if = "Option::is_none")]
    pub disconnect_time: Option<Timestamp>,
    /// Counters of the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<SubscriptionStatus>,
}

/// Counters of one subscription, per xDS type and in total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SubscriptionStatus {
    /// When a counter last changed.
    #[serde(alias = "last_update_time", skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Timestamp>,
    /// All types together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<Stats>,
    /// Clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cds: Option<Stats>,
    /// Endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eds: Option<Stats>,
    /// Listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lds: Option<Stats>,
    /// Routes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rds: Option<Stats>,
}

/// xDS response counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Stats {
    /// Responses sent.
    #[serde(
        alias = "responses_sent",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_sent: u64,
    /// Responses ACKed.
    #[serde(
        alias = "responses_acknowledged",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_acknowledged: u64,
    /// Responses NACKed.
    #[serde(
        alias = "responses_rejected",
        deserialize_with = "proto::u64",
        serialize_with = "proto::u64_as_string",
        skip_serializing_if = "is_default"
    )]
    pub responses_rejected: u64,
}

/// Certificate state of a dataplane.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MtlsInsight {
    /// When the current certificate expires.
    #[serde(
        alias = "certificate_expiration_time",
        skip_serializing_if = "Option::is_none"
    )]
    pub certificate_expiration_time: Option<Timestamp>,
    /// When the certificate was last regenerated.
    #[serde(
        alias = "last_certificate_regeneration",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_certificate_regeneration: Option<Timestamp>,
    /// How many times the certificate was regenerated.
    #[serde(
        alias = "certificate_regenerations",
        deserialize_with = "proto::u32",
        skip_serializing_if = "is_default"
    )]
    pub certificate_regenerations: u32,
    /// Why the last certificate could not be issued (an unreadable provided CA, say); empty
    /// after a success (Ursa extension).
    #[serde(
        alias = "last_certificate_error",
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
