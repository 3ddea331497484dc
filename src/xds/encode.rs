//! [`ProxyConfig`] → Envoy v3 resources (behaviour spec §6.3, sample
//! `20-dataplane-resources-v3.yaml`): canonical extension names with `typed_config`, EDS and RDS
//! over ADS with `resource_api_version: V3`, one locality per load assignment.
//!
//! Every type URL the xDS edge uses lives here. Versions are content hashes, so an unchanged
//! configuration keeps its version across pushes and restarts (decision X3).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3 as cluster;
use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::config::endpoint::v3 as endpoint;
use envoy_types::pb::envoy::config::listener::v3 as listener;
use envoy_types::pb::envoy::config::route::v3 as route;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3 as tcp;
use envoy_types::pb::google::protobuf::{self as pb, Any};
use envoy_types::util::pack_any;
use prost::Message;
use ursa_actors::xds::model::{
    self, Cluster, Direction, Discovery, FilterChain, HttpConnectionManager, HttpFilter,
    HttpRoutes, Listener, LoadAssignment, NetworkFilter, ProxyConfig, RouteConfig, Target,
    TcpProxy,
};

/// Type URL of a v3 Cluster (CDS).
pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// Type URL of a v3 ClusterLoadAssignment (EDS).
pub const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// Type URL of a v3 Listener (LDS).
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// Type URL of a v3 RouteConfiguration (RDS).
pub const ROUTE: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

/// Canonical name of the TCP proxy network filter.
pub const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";
/// Canonical name of the HTTP connection manager network filter.
pub const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";
/// Canonical name of the router HTTP filter.
pub const ROUTER: &str = "envoy.filters.http.router";

/// The resources of one type, ready for a DiscoveryResponse.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// One of [`CLUSTER`], [`ENDPOINT`], [`LISTENER`], [`ROUTE`].
    pub type_url: &'static str,
    /// Content hash of the resources: 16 hex digits of FNV-1a 64.
    pub version: String,
    /// The resources, each packed with `type_url`, in name order.
    pub resources: Vec<Any>,
}

/// Encodes `config` as the four v3 resource types in the order CDS, EDS, LDS, RDS. Equal
/// configurations give byte-identical resources and equal versions.
pub fn encode(config: &ProxyConfig) -> Vec<Encoded> {
    vec![
        encoded(
            CLUSTER,
            config.clusters.iter().map(|c| cluster(c).encode_to_vec()),
        ),
        encode_endpoints(&config.load_assignments),
        encoded(
            LISTENER,
            config.listeners.iter().map(|l| listener(l).encode_to_vec()),
        ),
        encoded(
            ROUTE,
            config
                .route_configs
                .iter()
                .map(|r| route_configuration(r).encode_to_vec()),
        ),
    ]
}

fn encode_endpoints(load_assignments: &[Arc<LoadAssignment>]) -> Encoded {
    encoded(
        ENDPOINT,
        load_assignments
            .iter()
            .map(|la| sorted_load_assignment(la).encode_to_vec()),
    )
}

/// [`encode`] for many ADS streams at once, sharing what their configurations have in common.
///
/// Generation shares one [`LoadAssignment`] between every proxy that uses the cluster, and the
/// endpoints are by far the largest resources (a cluster of 100 endpoints is ~10 KB), so the
/// endpoints (EDS) of one set of shared load assignments are encoded and hashed once, and every
/// stream holding that set holds the same bytes. The other types are small and mostly
/// per-proxy; they are encoded per call. The result equals [`encode`]'s.
#[derive(Default)]
pub struct Encoder {
    endpoints: Mutex<EndpointSets>,
}

/// Encoded EDS responses by the identity of their load assignments.
#[derive(Default)]
struct EndpointSets {
    /// Key: the addresses of the `Arc<LoadAssignment>`s, in order. The `Weak`s keep those
    /// allocations from being reused while the entry exists, so an address seen again is the
    /// same load assignment, never a new one at a recycled address.
    by_members: HashMap<Vec<usize>, EndpointSet>,
    /// Entries whose load assignments are all gone are dropped when the map reaches this size.
    sweep_at: usize,
}

/// The load assignments of one EDS response (held weakly) and its encoding.
type EndpointSet = (Vec<Weak<LoadAssignment>>, Arc<Encoded>);

/// Smallest map size that triggers a sweep of dead entries.
const MIN_SWEEP: usize = 256;

impl Encoder {
    /// An encoder with an empty cache.
    pub fn new() -> Encoder {
        Encoder::default()
    }

    fn sets(&self) -> MutexGuard<'_, EndpointSets> {
        // A panic while holding the lock leaves a consistent map (inserts and retains only).
        self.endpoints.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `config` as CDS, EDS, LDS and RDS, in that order; equal to [`encode`]`(config)`.
    pub fn encode(&self, config: &ProxyConfig) -> [Arc<Encoded>; 4] {
        self.reencode(None, config)
    }

    /// [`Encoder::encode`] of `config`, reusing the encoding of each type whose resources are
    /// the same in `previous` (a configuration and its encoding): a change usually touches
    /// some types of a proxy, not all four.
    pub fn reencode(
        &self,
        previous: Option<(&ProxyConfig, &[Arc<Encoded>; 4])>,
        config: &ProxyConfig,
    ) -> [Arc<Encoded>; 4] {
        let reuse = |t: usize, same: fn(&ProxyConfig, &ProxyConfig) -> bool| {
            previous.and_then(|(old, encoded)| same(old, config).then(|| encoded[t].clone()))
        };
        [
            reuse(0, |a, b| a.clusters == b.clusters).unwrap_or_else(|| {
                Arc::new(encoded(
                    CLUSTER,
                    config.clusters.iter().map(|c| cluster(c).encode_to_vec()),
                ))
            }),
            self.endpoints(&config.load_assignments),
            reuse(2, |a, b| a.listeners == b.listeners).unwrap_or_else(|| {
                Arc::new(encoded(
                    LISTENER,
                    config.listeners.iter().map(|l| listener(l).encode_to_vec()),
                ))
            }),
            reuse(3, |a, b| a.route_configs == b.route_configs).unwrap_or_else(|| {
                Arc::new(encoded(
                    ROUTE,
                    config
                        .route_configs
                        .iter()
                        .map(|r| route_configuration(r).encode_to_vec()),
                ))
            }),
        ]
    }

    /// The EDS resources of `load_assignments`, from the cache or encoded now.
    pub fn endpoints(&self, load_assignments: &[Arc<LoadAssignment>]) -> Arc<Encoded> {
        let key: Vec<usize> = load_assignments
            .iter()
            .map(|la| Arc::as_ptr(la) as usize)
            .collect();
        if let Some((_, cached)) = self.sets().by_members.get(&key) {
            return cached.clone();
        }
        // Encode outside the lock: other streams keep going meanwhile (two streams may encode
        // the same new set at once; the second insert replaces the first with equal bytes).
        let fresh = Arc::new(encode_endpoints(load_assignments));
        let members = load_assignments.iter().map(Arc::downgrade).collect();
        let mut sets = self.sets();
        if sets.by_members.len() >= sets.sweep_at {
            sets.by_members
                .retain(|_, (members, _)| members.iter().all(|m| m.strong_count() > 0));
            sets.sweep_at = (sets.by_members.len() * 2).max(MIN_SWEEP);
        }
        sets.by_members.insert(key, (members, fresh.clone()));
        fresh
    }

    /// Cached EDS sets (for tests and diagnostics).
    pub fn cached_sets(&self) -> usize {
        self.sets().by_members.len()
    }
}

fn encoded(type_url: &'static str, values: impl Iterator<Item = Vec<u8>>) -> Encoded {
    let resources: Vec<Any> = values
        .map(|value| Any {
            type_url: type_url.to_string(),
            value,
        })
        .collect();
    Encoded {
        type_url,
        version: version(&resources),
        resources,
    }
}

/// FNV-1a 64 over each resource's length (8 bytes, little endian) and bytes.
fn version(resources: &[Any]) -> String {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for any in resources {
        let len = (any.value.len() as u64).to_le_bytes();
        for byte in len.iter().chain(&any.value) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(PRIME);
        }
    }
    format!("{hash:016x}")
}

/// The v3 Listener of `l`.
pub fn listener(l: &Listener) -> listener::Listener {
    listener::Listener {
        name: l.name.clone(),
        address: Some(socket_address(&l.address, l.port)),
        traffic_direction: match l.direction {
            Direction::Inbound => core::TrafficDirection::Inbound,
            Direction::Outbound => core::TrafficDirection::Outbound,
        } as i32,
        filter_chains: vec![filter_chain(&l.filter_chain)],
        ..Default::default()
    }
}

fn filter_chain(chain: &FilterChain) -> listener::FilterChain {
    listener::FilterChain {
        filters: chain.filters.iter().map(network_filter).collect(),
        ..Default::default()
    }
}

fn network_filter(filter: &NetworkFilter) -> listener::Filter {
    let (name, config) = match filter {
        NetworkFilter::TcpProxy(t) => (TCP_PROXY, pack_any(tcp_proxy(t))),
        NetworkFilter::HttpConnectionManager(h) => (
            HTTP_CONNECTION_MANAGER,
            pack_any(http_connection_manager(h)),
        ),
    };
    listener::Filter {
        name: name.to_string(),
        config_type: Some(listener::filter::ConfigType::TypedConfig(config)),
    }
}

fn tcp_proxy(t: &TcpProxy) -> tcp::TcpProxy {
    use tcp::tcp_proxy::{weighted_cluster::ClusterWeight, ClusterSpecifier, WeightedCluster};
    let specifier = match &t.target {
        Target::Cluster(name) => ClusterSpecifier::Cluster(name.clone()),
        Target::Weighted(clusters) => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: clusters
                .iter()
                .map(|c| ClusterWeight {
                    name: c.name.clone(),
                    weight: c.weight,
                    ..Default::default()
                })
                .collect(),
        }),
    };
    tcp::TcpProxy {
        stat_prefix: t.stat_prefix.clone(),
        cluster_specifier: Some(specifier),
        ..Default::default()
    }
}

fn http_connection_manager(h: &HttpConnectionManager) -> hcm::HttpConnectionManager {
    use hcm::http_connection_manager::{CodecType, RouteSpecifier};
    let routes = match &h.routes {
        HttpRoutes::Inline(config) => RouteSpecifier::RouteConfig(route_configuration(config)),
        HttpRoutes::Rds(name) => RouteSpecifier::Rds(hcm::Rds {
            config_source: Some(ads()),
            route_config_name: name.clone(),
        }),
    };
    hcm::HttpConnectionManager {
        codec_type: CodecType::Auto as i32,
        stat_prefix: h.stat_prefix.clone(),
        http_filters: h.http_filters.iter().map(http_filter).collect(),
        route_specifier: Some(routes),
        ..Default::default()
    }
}

fn http_filter(filter: &HttpFilter) -> hcm::HttpFilter {
    let (name, config) = match filter {
        HttpFilter::Router => (ROUTER, pack_any(Router::default())),
    };
    hcm::HttpFilter {
        name: name.to_string(),
        config_type: Some(hcm::http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}

/// The v3 RouteConfiguration of `r`.
pub fn route_configuration(r: &RouteConfig) -> route::RouteConfiguration {
    route::RouteConfiguration {
        name: r.name.clone(),
        virtual_hosts: r
            .virtual_hosts
            .iter()
            .map(|vh| route::VirtualHost {
                name: vh.name.clone(),
                domains: vh.domains.clone(),
                routes: vh.routes.iter().map(route).collect(),
                ..Default::default()
            })
            .collect(),
        request_headers_to_add: r
            .request_headers_to_add
            .iter()
            .map(|h| core::HeaderValueOption {
                header: Some(core::HeaderValue {
                    key: h.name.clone(),
                    value: h.value.clone(),
                    ..Default::default()
                }),
                append_action: core::header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd
                    as i32,
                ..Default::default()
            })
            .collect(),
        request_headers_to_remove: r.request_headers_to_remove.clone(),
        validate_clusters: r.validate_clusters.then_some(pb::BoolValue { value: true }),
        ..Default::default()
    }
}

fn route(r: &model::Route) -> route::Route {
    use route::route_action::ClusterSpecifier;
    let specifier = match &r.target {
        Target::Cluster(name) => ClusterSpecifier::Cluster(name.clone()),
        Target::Weighted(clusters) => ClusterSpecifier::WeightedClusters(route::WeightedCluster {
            clusters: clusters
                .iter()
                .map(|c| route::weighted_cluster::ClusterWeight {
                    name: c.name.clone(),
                    weight: Some(pb::UInt32Value { value: c.weight }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    route::Route {
        r#match: Some(route::RouteMatch {
            path_specifier: Some(route::route_match::PathSpecifier::Prefix(r.prefix.clone())),
            ..Default::default()
        }),
        action: Some(route::route::Action::Route(route::RouteAction {
            cluster_specifier: Some(specifier),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The v3 Cluster of `c`.
pub fn cluster(c: &Cluster) -> cluster::Cluster {
    use cluster::cluster::{ClusterDiscoveryType, DiscoveryType, EdsClusterConfig};
    let mut out = cluster::Cluster {
        name: c.name.clone(),
        alt_stat_name: c.alt_stat_name.clone().unwrap_or_default(),
        connect_timeout: Some(duration(c.connect_timeout)),
        ..Default::default()
    };
    match &c.discovery {
        Discovery::Static(la) => {
            out.cluster_discovery_type =
                Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
            out.load_assignment = Some(load_assignment(la));
        }
        Discovery::Eds => {
            out.cluster_discovery_type =
                Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32));
            out.eds_cluster_config = Some(EdsClusterConfig {
                eds_config: Some(ads()),
                service_name: String::new(),
            });
        }
    }
    out
}

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

fn sorted_load_assignment(la: &LoadAssignment) -> SortedLoadAssignment {
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
struct SortedLoadAssignment {
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

fn socket_address(address: &str, port: u32) -> core::Address {
    core::Address {
        address: Some(core::address::Address::SocketAddress(core::SocketAddress {
            protocol: core::socket_address::Protocol::Tcp as i32,
            address: address.to_string(),
            port_specifier: Some(core::socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// `{ads: {}, resource_api_version: V3}`.
fn ads() -> core::ConfigSource {
    core::ConfigSource {
        config_source_specifier: Some(core::config_source::ConfigSourceSpecifier::Ads(
            core::AggregatedConfigSource {},
        )),
        resource_api_version: core::ApiVersion::V3 as i32,
        ..Default::default()
    }
}

fn duration(d: Duration) -> pb::Duration {
    pb::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Name;
    use ursa_actors::xds::model::Endpoint;

    #[test]
    fn type_urls_match_the_protos() {
        assert_eq!(CLUSTER, cluster::Cluster::type_url());
        assert_eq!(ENDPOINT, endpoint::ClusterLoadAssignment::type_url());
        assert_eq!(LISTENER, listener::Listener::type_url());
        assert_eq!(ROUTE, route::RouteConfiguration::type_url());
    }

    fn config_with_tags(n: usize) -> ProxyConfig {
        let tags = (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        ProxyConfig {
            load_assignments: vec![Arc::new(LoadAssignment {
                cluster_name: "svc".into(),
                endpoints: vec![Endpoint {
                    address: "10.0.0.1".into(),
                    port: 80,
                    tags,
                }],
            })],
            ..Default::default()
        }
    }

    #[test]
    fn versions_are_content_hashes_in_xds_order() {
        let empty = encode(&ProxyConfig::default());
        let urls: Vec<&str> = empty.iter().map(|e| e.type_url).collect();
        assert_eq!(urls, vec![CLUSTER, ENDPOINT, LISTENER, ROUTE]);
        assert!(empty
            .iter()
            .all(|e| e.version == "cbf29ce484222325" && e.resources.is_empty()));
        let a = encode(&config_with_tags(20));
        let b = encode(&config_with_tags(20));
        assert_eq!(a, b, "maps are encoded in a deterministic order");
        assert_ne!(a[1].version, empty[1].version);
        assert_eq!(a[0].version, empty[0].version);
        assert_ne!(encode(&config_with_tags(3))[1].version, a[1].version);
    }

    #[test]
    fn the_encoder_shares_endpoints_and_equals_encode() {
        let encoder = Encoder::new();
        let a = config_with_tags(3);
        let mut b = config_with_tags(3);
        let first = encoder.encode(&a);
        let plain: Vec<Encoded> = first.iter().map(|e| (**e).clone()).collect();
        assert_eq!(plain, encode(&a));
        // Same shared load assignments: the same bytes, not a copy.
        b.load_assignments = a.load_assignments.clone();
        assert!(Arc::ptr_eq(&encoder.encode(&b)[1], &first[1]));
        // Equal content in another allocation is encoded again, to the same result.
        let c = config_with_tags(3);
        let third = encoder.encode(&c);
        assert!(!Arc::ptr_eq(&third[1], &first[1]));
        assert_eq!(third[1], first[1]);
        assert_eq!(encoder.cached_sets(), 2);
        // Re-encoding keeps the types that did not change, and equals a fresh encoding.
        let mut d = config_with_tags(3);
        d.clusters.push(Cluster {
            name: "c".into(),
            alt_stat_name: None,
            connect_timeout: Duration::from_secs(5),
            discovery: model::Discovery::Eds,
        });
        let again = encoder.reencode(Some((&c, &third)), &d);
        assert!(Arc::ptr_eq(&again[2], &third[2]) && Arc::ptr_eq(&again[3], &third[3]));
        assert!(!Arc::ptr_eq(&again[0], &third[0]));
        let fresh: Vec<Encoded> = again.iter().map(|e| (**e).clone()).collect();
        assert_eq!(fresh, encode(&d));
    }

    #[test]
    fn the_encoder_forgets_sets_whose_load_assignments_are_gone() {
        let encoder = Encoder::new();
        for _ in 0..(MIN_SWEEP * 3) {
            let config = config_with_tags(1);
            encoder.encode(&config);
        }
        assert!(
            encoder.cached_sets() <= MIN_SWEEP,
            "{}",
            encoder.cached_sets()
        );
        let kept = config_with_tags(1);
        let first = encoder.encode(&kept);
        for _ in 0..(MIN_SWEEP * 3) {
            encoder.encode(&config_with_tags(1));
        }
        assert!(Arc::ptr_eq(&encoder.encode(&kept)[1], &first[1]));
    }

    #[test]
    fn sorted_load_assignment_decodes_as_the_real_message() {
        let config = config_with_tags(5);
        let bytes = &encode(&config)[1].resources[0].value;
        let decoded = endpoint::ClusterLoadAssignment::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, load_assignment(&config.load_assignments[0]));
        let empty = LoadAssignment {
            cluster_name: "none".into(),
            endpoints: vec![],
        };
        let bytes = sorted_load_assignment(&empty).encode_to_vec();
        let decoded = endpoint::ClusterLoadAssignment::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.endpoints.len(), 1, "one empty locality");
        assert_eq!(decoded, load_assignment(&empty));
    }
}
