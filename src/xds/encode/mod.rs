//! [`ProxyConfig`] → Envoy v3 resources (the v3 shapes of xDS §6.3): canonical extension names
//! with `typed_config`, EDS and RDS over ADS with `resource_api_version: V3`, one locality per
//! load assignment. The proto mapping is one module per resource type; type URLs live in
//! [`super::type_url`].
//!
//! Versions are content hashes, so an unchanged configuration keeps its version across pushes
//! and restarts (decision X3).

mod access_log;
mod cluster;
mod endpoint;
mod fault;
mod listener;
mod route;
mod secret;
mod tls;
mod trace;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::google::protobuf::{self as pb, Any};
use prost::Message;
use ursa_actors::xds::model::{LoadAssignment, ProxyConfig};

pub use self::cluster::cluster;
pub use self::endpoint::load_assignment;
pub use self::listener::{listener, HTTP_CONNECTION_MANAGER, RBAC, ROUTER, TCP_PROXY};
pub use self::route::route_configuration;
pub use self::secret::secret;
pub use self::tls::TLS;
use super::type_url::{PerType, TypeUrl};

/// The resources of one type, ready for a DiscoveryResponse.
#[derive(Clone, Debug, PartialEq)]
pub struct Encoded {
    /// Their type.
    pub type_url: TypeUrl,
    /// Content hash of the resources: 16 hex digits of FNV-1a 64.
    pub version: String,
    /// The resources, each packed with `type_url`, in name order.
    pub resources: Vec<Any>,
}

impl Encoded {
    /// Bytes of the resources (what a response of them carries, give or take framing).
    pub fn size(&self) -> usize {
        self.resources.iter().map(|r| r.value.len()).sum()
    }
}

/// Encodes the resources of `config` of type `t`: the generated ones, each replaced by the
/// raw resource of its name if there is one, and the other raw ones, in name order.
fn encode_type(config: &ProxyConfig, t: TypeUrl) -> Encoded {
    let generated = generated(config, t);
    if config.raw_of(t).next().is_none() {
        return encoded(t, generated.into_iter().map(|(_, value)| value));
    }
    let mut by_name: BTreeMap<&str, Vec<u8>> = generated.into_iter().collect();
    for raw in config.raw_of(t) {
        by_name.insert(&raw.name, raw.value.to_vec());
    }
    encoded(t, by_name.into_values())
}

/// The generated resources of type `t`, with their names, in name order.
fn generated(config: &ProxyConfig, t: TypeUrl) -> Vec<(&str, Vec<u8>)> {
    match t {
        TypeUrl::Secret => config
            .secrets
            .iter()
            .map(|s| (s.name.as_str(), secret(s).encode_to_vec()))
            .collect(),
        TypeUrl::Cluster => config
            .clusters
            .iter()
            .map(|c| (c.name.as_str(), cluster(c).encode_to_vec()))
            .collect(),
        TypeUrl::Endpoint => config
            .load_assignments
            .iter()
            .map(|la| {
                let value = endpoint::sorted_load_assignment(la).encode_to_vec();
                (la.cluster_name.as_str(), value)
            })
            .collect(),
        TypeUrl::Listener => config
            .listeners
            .iter()
            .map(|l| (l.name.as_str(), listener(l).encode_to_vec()))
            .collect(),
        TypeUrl::Route => config
            .route_configs
            .iter()
            .map(|r| (r.name.as_str(), route_configuration(r).encode_to_vec()))
            .collect(),
    }
}

/// True when `a` and `b` hold the same resources of type `t` (the one deep comparison a
/// regenerated configuration goes through).
fn same(a: &ProxyConfig, b: &ProxyConfig, t: TypeUrl) -> bool {
    (match t {
        TypeUrl::Secret => a.secrets == b.secrets,
        TypeUrl::Cluster => a.clusters == b.clusters,
        TypeUrl::Endpoint => a.load_assignments == b.load_assignments,
        TypeUrl::Listener => a.listeners == b.listeners,
        TypeUrl::Route => a.route_configs == b.route_configs,
    }) && a.raw_of(t).eq(b.raw_of(t))
}

/// Encodes `config` as the five v3 resource types. Equal configurations give byte-identical
/// resources and equal versions.
pub fn encode(config: &ProxyConfig) -> PerType<Encoded> {
    PerType::from_fn(|t| encode_type(config, t))
}

fn encode_endpoints(load_assignments: &[Arc<LoadAssignment>]) -> Encoded {
    encoded(
        TypeUrl::Endpoint,
        load_assignments
            .iter()
            .map(|la| endpoint::sorted_load_assignment(la).encode_to_vec()),
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

    /// `config` encoded; equal to [`encode`]`(config)`.
    pub fn encode(&self, config: &ProxyConfig) -> PerType<Arc<Encoded>> {
        self.reencode(None, config)
    }

    /// [`Encoder::encode`] of `config`, reusing the encoding of each type whose resources are
    /// the same in `previous` (a configuration and its encoding): a change usually touches
    /// some types of a proxy, not all five.
    pub fn reencode(
        &self,
        previous: Option<(&ProxyConfig, &PerType<Arc<Encoded>>)>,
        config: &ProxyConfig,
    ) -> PerType<Arc<Encoded>> {
        PerType::from_fn(|t| match previous {
            Some((old, encoded)) if same(old, config, t) => encoded[t].clone(),
            // Raw load assignments are a template's, not shared: no cache for them.
            _ if t == TypeUrl::Endpoint && config.raw_of(t).next().is_none() => {
                self.endpoints(&config.load_assignments)
            }
            _ => Arc::new(encode_type(config, t)),
        })
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

fn encoded(type_url: TypeUrl, values: impl Iterator<Item = Vec<u8>>) -> Encoded {
    let resources: Vec<Any> = values
        .map(|value| Any {
            type_url: type_url.as_str().to_string(),
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

/// A TCP socket address.
pub(crate) fn socket_address(address: &str, port: u32) -> core::Address {
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
pub(crate) fn ads() -> core::ConfigSource {
    core::ConfigSource {
        config_source_specifier: Some(core::config_source::ConfigSourceSpecifier::Ads(
            core::AggregatedConfigSource {},
        )),
        resource_api_version: core::ApiVersion::V3 as i32,
        ..Default::default()
    }
}

pub(crate) fn duration(d: Duration) -> pb::Duration {
    pb::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::endpoint::v3 as endpoint_pb;
    use ursa_actors::xds::model::{Cluster, Discovery, Endpoint};

    const EDS: TypeUrl = TypeUrl::Endpoint;

    fn config_with_tags(n: usize) -> ProxyConfig {
        let tags: ursa_actors::proto::Tags =
            (0..n).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        ProxyConfig {
            load_assignments: vec![Arc::new(LoadAssignment {
                cluster_name: "svc".into(),
                endpoints: vec![Endpoint {
                    address: "10.0.0.1".into(),
                    port: 80,
                    tags: Arc::new(tags),
                }],
            })],
            ..Default::default()
        }
    }

    #[test]
    fn versions_are_content_hashes_in_xds_order() {
        let empty = encode(&ProxyConfig::default());
        let urls: Vec<TypeUrl> = empty.iter().map(|(_, e)| e.type_url).collect();
        assert_eq!(urls, TypeUrl::ALL);
        assert!(empty
            .iter()
            .all(|(_, e)| e.version == "cbf29ce484222325" && e.resources.is_empty()));
        let a = encode(&config_with_tags(20));
        let b = encode(&config_with_tags(20));
        assert_eq!(a, b, "maps are encoded in a deterministic order");
        assert_ne!(a[EDS].version, empty[EDS].version);
        assert_eq!(a[TypeUrl::Cluster].version, empty[TypeUrl::Cluster].version);
        assert_ne!(encode(&config_with_tags(3))[EDS].version, a[EDS].version);
    }

    #[test]
    fn the_encoder_shares_endpoints_and_equals_encode() {
        let encoder = Encoder::new();
        let a = config_with_tags(3);
        let mut b = config_with_tags(3);
        let first = encoder.encode(&a);
        let plain = PerType::from_fn(|t| (*first[t]).clone());
        assert_eq!(plain, encode(&a));
        // Same shared load assignments: the same bytes, not a copy.
        b.load_assignments = a.load_assignments.clone();
        assert!(Arc::ptr_eq(&encoder.encode(&b)[EDS], &first[EDS]));
        // Equal content in another allocation is encoded again, to the same result.
        let c = config_with_tags(3);
        let third = encoder.encode(&c);
        assert!(!Arc::ptr_eq(&third[EDS], &first[EDS]));
        assert_eq!(third[EDS], first[EDS]);
        assert_eq!(encoder.cached_sets(), 2);
        // Re-encoding keeps the types that did not change, and equals a fresh encoding.
        let mut d = config_with_tags(3);
        d.clusters.push(Cluster {
            name: "c".into(),
            alt_stat_name: None,
            connect_timeout: Duration::from_secs(5),
            discovery: Discovery::Eds,
            tls: None,
            health: Default::default(),
        });
        let again = encoder.reencode(Some((&c, &third)), &d);
        assert!(
            Arc::ptr_eq(&again[TypeUrl::Listener], &third[TypeUrl::Listener])
                && Arc::ptr_eq(&again[TypeUrl::Route], &third[TypeUrl::Route])
        );
        assert!(!Arc::ptr_eq(
            &again[TypeUrl::Cluster],
            &third[TypeUrl::Cluster]
        ));
        let fresh = PerType::from_fn(|t| (*again[t]).clone());
        assert_eq!(fresh, encode(&d));
    }

    #[test]
    fn raw_resources_replace_generated_ones_of_their_type_and_name() {
        use envoy_types::pb::envoy::config::cluster::v3 as cluster_pb;
        use ursa_actors::xds::model::RawResource;
        let raw = |t: TypeUrl, name: &str, value: Vec<u8>| {
            Arc::new(RawResource {
                type_url: t,
                name: name.into(),
                value: value.into(),
            })
        };
        let generated = |name: &str| Cluster {
            name: name.into(),
            alt_stat_name: None,
            connect_timeout: Duration::from_secs(5),
            discovery: Discovery::Eds,
            tls: None,
            health: Default::default(),
        };
        let raw_cluster = cluster_pb::Cluster {
            name: "b".into(),
            alt_stat_name: "from-the-template".into(),
            ..Default::default()
        };
        let mut config = config_with_tags(2);
        config.clusters = vec![generated("a"), generated("b"), generated("c")];
        let plain = encode(&config);
        config.raw = vec![
            raw(TypeUrl::Cluster, "b", raw_cluster.encode_to_vec()),
            raw(TypeUrl::Cluster, "bb", raw_cluster.encode_to_vec()),
            raw(TypeUrl::Endpoint, "svc", vec![]),
        ];
        let with_raw = encode(&config);
        let clusters: Vec<cluster_pb::Cluster> = with_raw[TypeUrl::Cluster]
            .resources
            .iter()
            .map(|any| cluster_pb::Cluster::decode(any.value.as_slice()).unwrap())
            .collect();
        let names: Vec<(&str, &str)> = clusters
            .iter()
            .map(|c| (c.name.as_str(), c.alt_stat_name.as_str()))
            .collect();
        // The raw "bb" was named "b" inside: the resource is kept by the name it was given.
        assert_eq!(
            names,
            [
                ("a", ""),
                ("b", "from-the-template"),
                ("b", "from-the-template"),
                ("c", "")
            ]
        );
        assert_eq!(with_raw[EDS].resources.len(), 1);
        assert!(
            with_raw[EDS].resources[0].value.is_empty(),
            "the raw load assignment"
        );
        assert_ne!(with_raw[EDS].version, plain[EDS].version);
        assert_eq!(with_raw[TypeUrl::Listener], plain[TypeUrl::Listener]);
        // The encoder agrees, afresh and re-encoding from the configuration without them.
        let encoder = Encoder::new();
        let before = encoder.encode(&config_with_tags(2));
        let again = encoder.reencode(Some((&config_with_tags(2), &before)), &config);
        assert_eq!(PerType::from_fn(|t| (*again[t]).clone()), with_raw);
        assert_eq!(
            PerType::from_fn(|t| (*encoder.encode(&config)[t]).clone()),
            with_raw
        );
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
        assert!(Arc::ptr_eq(&encoder.encode(&kept)[EDS], &first[EDS]));
    }

    #[test]
    fn sorted_load_assignment_decodes_as_the_real_message() {
        let config = config_with_tags(5);
        let bytes = &encode(&config)[EDS].resources[0].value;
        let decoded = endpoint_pb::ClusterLoadAssignment::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded, load_assignment(&config.load_assignments[0]));
        let empty = LoadAssignment {
            cluster_name: "none".into(),
            endpoints: vec![],
        };
        let bytes = endpoint::sorted_load_assignment(&empty).encode_to_vec();
        let decoded = endpoint_pb::ClusterLoadAssignment::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.endpoints.len(), 1, "one empty locality");
        assert_eq!(decoded, load_assignment(&empty));
    }
}
