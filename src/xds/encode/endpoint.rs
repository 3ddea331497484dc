//! [`LoadAssignment`] → `envoy.config.endpoint.v3.ClusterLoadAssignment`, one locality per
//! assignment, encoded through a wire-compatible image with ordered maps so equal endpoints
//! give equal bytes.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::config::endpoint::v3 as endpoint;
use envoy_types::pb::google::protobuf as pb;
use prost::Message;
use ursa_actors::xds::model::{self, LoadAssignment};

use super::socket_address;

/// The v3 ClusterLoadAssignment of `la`: exactly one locality (empty when there are no
/// endpoints), `envoy.lb` metadata from each endpoint's tags.
///
/// Its `filter_metadata` is a `HashMap`, so prost encodes the tags in a random order; the
/// resources [`encode`] returns are encoded from a wire-compatible copy with ordered maps
/// instead, whose bytes decode to this same message.
pub fn load_assignment(la: &LoadAssignment) -> endpoint::ClusterLoadAssignment {
    endpoint::ClusterLoadAssignment {
        cluster_name: la.cluster_name.clone(),
        endpoints: vec![endpoint::LocalityLbEndpoints {
            lb_endpoints: la
                .endpoints
                .iter()
                .map(|e| endpoint::LbEndpoint {
                    host_identifier: Some(endpoint::lb_endpoint::HostIdentifier::Endpoint(
                        lb_endpoint_address(e),
                    )),
                    metadata: (!e.tags.is_empty()).then(|| core::Metadata {
                        filter_metadata: [(
                            "envoy.lb".to_string(),
                            pb::Struct {
                                fields: tag_values(&e.tags).collect(),
                            },
                        )]
                        .into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn lb_endpoint_address(e: &model::Endpoint) -> endpoint::Endpoint {
    endpoint::Endpoint {
        address: Some(socket_address(&e.address, e.port)),
        ..Default::default()
    }
}

fn tag_values(tags: &BTreeMap<String, String>) -> impl Iterator<Item = (String, pb::Value)> + '_ {
    tags.iter().map(|(k, v)| {
        (
            k.clone(),
            pb::Value {
                kind: Some(pb::value::Kind::StringValue(v.clone())),
            },
        )
    })
}

/// The deterministic wire image of `la` (see [`load_assignment`]).
pub fn sorted_load_assignment(la: &LoadAssignment) -> SortedLoadAssignment {
    SortedLoadAssignment {
        cluster_name: la.cluster_name.clone(),
        endpoints: vec![SortedLocality {
            lb_endpoints: la
                .endpoints
                .iter()
                .map(|e| SortedLbEndpoint {
                    endpoint: Some(lb_endpoint_address(e)),
                    metadata: (!e.tags.is_empty()).then(|| SortedMetadata {
                        filter_metadata: [(
                            "envoy.lb".to_string(),
                            SortedStruct {
                                fields: tag_values(&e.tags).collect(),
                            },
                        )]
                        .into(),
                    }),
                })
                .collect(),
        }],
    }
}

/// The wire image of `envoy.config.endpoint.v3.ClusterLoadAssignment` (the fields Ursa sets)
/// with ordered maps, so that encoding is deterministic.
#[derive(Clone, PartialEq, Message)]
pub struct SortedLoadAssignment {
    /// `cluster_name = 1`.
    #[prost(string, tag = "1")]
    cluster_name: String,
    /// `endpoints = 2` (LocalityLbEndpoints).
    #[prost(message, repeated, tag = "2")]
    endpoints: Vec<SortedLocality>,
}

/// The wire image of `LocalityLbEndpoints` (`lb_endpoints = 2`).
#[derive(Clone, PartialEq, Message)]
struct SortedLocality {
    /// `lb_endpoints = 2`.
    #[prost(message, repeated, tag = "2")]
    lb_endpoints: Vec<SortedLbEndpoint>,
}

/// The wire image of `LbEndpoint` (`endpoint = 1` of the `host_identifier` oneof, `metadata = 3`).
#[derive(Clone, PartialEq, Message)]
struct SortedLbEndpoint {
    /// `endpoint = 1`.
    #[prost(message, optional, tag = "1")]
    endpoint: Option<endpoint::Endpoint>,
    /// `metadata = 3`.
    #[prost(message, optional, tag = "3")]
    metadata: Option<SortedMetadata>,
}

/// The wire image of `core.v3.Metadata` (`filter_metadata = 1`).
#[derive(Clone, PartialEq, Message)]
struct SortedMetadata {
    /// `filter_metadata = 1`.
    #[prost(btree_map = "string, message", tag = "1")]
    filter_metadata: BTreeMap<String, SortedStruct>,
}

/// The wire image of `google.protobuf.Struct` (`fields = 1`).
#[derive(Clone, PartialEq, Message)]
struct SortedStruct {
    /// `fields = 1`.
    #[prost(btree_map = "string, message", tag = "1")]
    fields: BTreeMap<String, pb::Value>,
}
