//! The pure function from a mesh's state to one Dataplane's [`ProxyConfig`] (behaviour spec
//! §2.2–2.4, §3.1): inbound listeners with their local clusters, outbound listeners with EDS
//! clusters, endpoints and routes chosen by TrafficRoute.
//!
//! Work that does not depend on the requesting Dataplane (every service's endpoints, and the
//! load assignment of every cluster any TrafficRoute can name) is done once per mesh change by
//! [`EndpointIndex::build`]; [`generate`] then only looks things up, so generating thousands of
//! dataplanes does not rescan the mesh for each one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::kinds::dataplane::{
    parse_inbound_interface, parse_outbound_interface, DataplaneSpec, Inbound, Networking, Outbound,
};
use crate::kinds::selector::{PROTOCOL_TAG, SERVICE_TAG};
use crate::kinds::{Kind, Spec};
use crate::proto::Tags;
use crate::resource::Resource;

use super::model::{
    Cluster, Direction, Discovery, Endpoint, FilterChain, Header, HttpConnectionManager,
    HttpFilter, HttpRoutes, Listener, LoadAssignment, NetworkFilter, ProxyConfig, Route,
    RouteConfig, Target, TcpProxy, VirtualHost, WeightedCluster,
};
use super::policy;

/// Connect timeout of every generated cluster.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header carrying the calling Dataplane's tags from outbound to inbound.
pub const TAGS_HEADER: &str = "x-kuma-tags";

/// What generation reads of a mesh: the Mesh itself and its resources, one name-ordered map per
/// [`Kind::index`] (exactly what the mesh actor holds).
#[derive(Clone, Copy, Debug)]
pub struct MeshView<'a> {
    /// The Mesh resource.
    pub mesh: &'a Resource,
    /// The mesh's resources by kind index, each map ordered by name.
    pub resources: &'a [BTreeMap<String, Arc<Resource>>],
}

impl<'a> MeshView<'a> {
    /// The resources of `kind` in name order (none when the view has no map for it).
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &'a Arc<Resource>> + 'a {
        self.resources
            .get(kind.index())
            .into_iter()
            .flat_map(|m| m.values())
    }
}

/// An application protocol as Kuma infers it from `protocol` tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `protocol: http`.
    Http,
    /// `protocol: tcp`.
    Tcp,
    /// Absent or anything else; handled as TCP.
    Unknown,
}

impl Protocol {
    /// The protocol named by a tag set's `protocol` tag (case-insensitive).
    pub fn of(tags: &Tags) -> Protocol {
        match tags.get(PROTOCOL_TAG).map(|p| p.to_ascii_lowercase()) {
            Some(p) if p == "http" => Protocol::Http,
            Some(p) if p == "tcp" => Protocol::Tcp,
            _ => Protocol::Unknown,
        }
    }

    /// Kuma's fold: same → same, anything with unknown → unknown, http + tcp → tcp.
    pub fn combine(self, other: Protocol) -> Protocol {
        match (self, other) {
            (a, b) if a == b => a,
            (Protocol::Unknown, _) | (_, Protocol::Unknown) => Protocol::Unknown,
            _ => Protocol::Tcp,
        }
    }
}

/// A cluster's endpoints with the protocol they agree on (`None` when there are none).
#[derive(Clone, Debug)]
struct ClusterEndpoints {
    assignment: Arc<LoadAssignment>,
    protocol: Option<Protocol>,
}

impl ClusterEndpoints {
    fn new(cluster_name: String, endpoints: Vec<Endpoint>) -> ClusterEndpoints {
        let protocol = endpoints
            .iter()
            .map(|e| Protocol::of(&e.tags))
            .reduce(Protocol::combine);
        ClusterEndpoints {
            assignment: Arc::new(LoadAssignment {
                cluster_name,
                endpoints,
            }),
            protocol,
        }
    }
}

/// Every service's endpoints in a mesh, and the load assignment of every cluster a route can
/// name, computed once per mesh change.
#[derive(Clone, Debug, Default)]
pub struct EndpointIndex {
    /// Service → endpoints, in Dataplane name order then inbound order.
    by_service: HashMap<String, Vec<Endpoint>>,
    /// Cluster name → its endpoints (each service's own cluster and every TrafficRoute branch).
    clusters: HashMap<String, ClusterEndpoints>,
}

impl EndpointIndex {
    /// Indexes every Dataplane inbound of the mesh (the requesting Dataplane included, gateways
    /// never) and pre-computes the clusters of the services and of every TrafficRoute branch.
    pub fn build(view: &MeshView) -> EndpointIndex {
        let mut by_service: HashMap<String, Vec<Endpoint>> = HashMap::new();
        for dataplane in view.of(Kind::Dataplane) {
            let Spec::Dataplane(DataplaneSpec {
                networking: Some(networking),
                ..
            }) = &dataplane.spec
            else {
                continue;
            };
            for inbound in &networking.inbound {
                let (Some(service), Some(iface)) = (
                    inbound.tags.get(SERVICE_TAG),
                    InboundIface::resolve(networking, inbound),
                ) else {
                    continue;
                };
                by_service
                    .entry(service.clone())
                    .or_default()
                    .push(Endpoint {
                        address: iface.ip,
                        port: iface.dataplane_port,
                        tags: inbound.tags.clone(),
                    });
            }
        }
        let mut index = EndpointIndex {
            by_service,
            clusters: HashMap::new(),
        };
        let services: Vec<String> = index.by_service.keys().cloned().collect();
        for service in services {
            let selector = Tags::from([(SERVICE_TAG.to_string(), service)]);
            index.insert_cluster(&selector);
        }
        for route in view.of(Kind::TrafficRoute) {
            if let Spec::TrafficRoute(spec) = &route.spec {
                for branch in &spec.conf {
                    if branch.destination.contains_key(SERVICE_TAG) {
                        index.insert_cluster(&branch.destination);
                    }
                }
            }
        }
        index
    }

    /// [`EndpointIndex::build`], keeping `previous`'s shared [`LoadAssignment`] of every cluster
    /// whose endpoints did not change. Proxy configurations then compare equal by pointer where
    /// nothing changed (a cheap comparison before a push), and the xDS edge, which caches
    /// encodings by that identity, does not encode unchanged endpoints again.
    pub fn rebuild(view: &MeshView, previous: &EndpointIndex) -> EndpointIndex {
        let mut index = EndpointIndex::build(view);
        for (name, cluster) in index.clusters.iter_mut() {
            if let Some(old) = previous.clusters.get(name) {
                if old.assignment == cluster.assignment {
                    cluster.assignment = old.assignment.clone();
                }
            }
        }
        index
    }

    /// The endpoints of `service` (all its inbounds in the mesh).
    pub fn endpoints(&self, service: &str) -> &[Endpoint] {
        self.by_service.get(service).map_or(&[], Vec::as_slice)
    }

    fn insert_cluster(&mut self, destination: &Tags) {
        let name = cluster_name(destination);
        if !self.clusters.contains_key(&name) {
            let endpoints = self.compute(&name, destination);
            self.clusters.insert(name, endpoints);
        }
    }

    /// The endpoints of the service named by `destination` that match all its tags.
    fn compute(&self, name: &str, destination: &Tags) -> ClusterEndpoints {
        let service = destination.get(SERVICE_TAG).map_or("", String::as_str);
        let endpoints = self
            .endpoints(service)
            .iter()
            .filter(|e| policy::matches(destination, &e.tags))
            .cloned()
            .collect();
        ClusterEndpoints::new(name.to_string(), endpoints)
    }

    /// The cluster for `destination`, from the cache or computed now.
    fn cluster(&self, name: &str, destination: &Tags) -> ClusterEndpoints {
        match self.clusters.get(name) {
            Some(c) => c.clone(),
            None => self.compute(name, destination),
        }
    }
}

/// An inbound interface resolved from the legacy `interface` or the explicit fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundIface {
    /// IP the Dataplane listens on.
    pub ip: String,
    /// Port the Dataplane listens on.
    pub dataplane_port: u32,
    /// Port of the workload.
    pub workload_port: u32,
}

impl InboundIface {
    /// Kuma's `GetInboundInterfaceByIdx`; `None` when the interface cannot be resolved.
    pub fn resolve(networking: &Networking, inbound: &Inbound) -> Option<InboundIface> {
        let iface = if inbound.interface.is_empty() {
            let ip = if inbound.address.is_empty() {
                &networking.address
            } else {
                &inbound.address
            };
            InboundIface {
                ip: ip.clone(),
                dataplane_port: inbound.port,
                workload_port: if inbound.service_port == 0 {
                    inbound.port
                } else {
                    inbound.service_port
                },
            }
        } else {
            let legacy = parse_inbound_interface(&inbound.interface)?;
            InboundIface {
                ip: legacy.dataplane_ip,
                dataplane_port: legacy.dataplane_port,
                workload_port: legacy.workload_port,
            }
        };
        (!iface.ip.is_empty() && iface.dataplane_port != 0 && iface.workload_port != 0)
            .then_some(iface)
    }
}

/// Resolves an outbound: the legacy `interface` or `address` (default `127.0.0.1`) + `port`.
pub fn resolve_outbound(outbound: &Outbound) -> Option<(String, u32)> {
    let (ip, port) = if outbound.interface.is_empty() {
        let ip = if outbound.address.is_empty() {
            "127.0.0.1".to_string()
        } else {
            outbound.address.clone()
        };
        (ip, outbound.port)
    } else {
        let legacy = parse_outbound_interface(&outbound.interface)?;
        (legacy.dataplane_ip, legacy.dataplane_port)
    };
    (port != 0).then_some((ip, port))
}

/// Kuma's `SanitizeMetric`: every character outside `[a-zA-Z0-9_-]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Kuma's cluster name of a route destination: `<service>` alone, or
/// `<service>{k1=v1,k2=v2}` with the other tags as sorted `k=v` strings.
pub fn cluster_name(destination: &Tags) -> String {
    let service = destination.get(SERVICE_TAG).map_or("", String::as_str);
    let mut pairs: Vec<String> = destination
        .iter()
        .filter(|(k, _)| *k != SERVICE_TAG)
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if pairs.is_empty() {
        return service.to_string();
    }
    pairs.sort_unstable();
    format!("{service}{{{}}}", pairs.join(","))
}

/// Kuma's tag serialization for `x-kuma-tags`: `&key=v1,v2&` per key, keys and values sorted.
pub fn serialize_tags(dataplane: &DataplaneSpec) -> String {
    policy::dataplane_tags(dataplane)
        .into_iter()
        .map(|(k, vs)| format!("&{k}={}&", vs.join(",")))
        .collect()
}

/// Resources of one generator phase; a later resource with an existing name is dropped.
#[derive(Default)]
struct Resources {
    listeners: BTreeMap<String, Listener>,
    clusters: BTreeMap<String, Cluster>,
    load_assignments: BTreeMap<String, Arc<LoadAssignment>>,
    route_configs: BTreeMap<String, RouteConfig>,
}

impl Resources {
    fn listener(&mut self, l: Listener) {
        self.listeners.entry(l.name.clone()).or_insert(l);
    }

    fn cluster(&mut self, c: Cluster) {
        self.clusters.entry(c.name.clone()).or_insert(c);
    }

    fn load_assignment(&mut self, la: Arc<LoadAssignment>) {
        self.load_assignments
            .entry(la.cluster_name.clone())
            .or_insert(la);
    }

    fn route_config(&mut self, r: RouteConfig) {
        self.route_configs.entry(r.name.clone()).or_insert(r);
    }

    /// Merges a later phase: its resources replace same-named ones (Kuma's snapshot rule).
    fn overlay(mut self, later: Resources) -> Resources {
        self.listeners.extend(later.listeners);
        self.clusters.extend(later.clusters);
        self.load_assignments.extend(later.load_assignments);
        self.route_configs.extend(later.route_configs);
        self
    }

    fn into_config(self) -> ProxyConfig {
        ProxyConfig {
            listeners: self.listeners.into_values().collect(),
            clusters: self.clusters.into_values().collect(),
            load_assignments: self.load_assignments.into_values().collect(),
            route_configs: self.route_configs.into_values().collect(),
        }
    }
}

/// The configuration of `dataplane` in the mesh seen through `view`; `index` must have been
/// built from the same view. Anything but a Dataplane with `networking` yields an empty config.
pub fn generate(view: &MeshView, index: &EndpointIndex, dataplane: &Resource) -> ProxyConfig {
    let Spec::Dataplane(spec) = &dataplane.spec else {
        return ProxyConfig::default();
    };
    let Some(networking) = &spec.networking else {
        return ProxyConfig::default();
    };
    let inbound = inbound_resources(networking);
    let outbound = outbound_resources(view, index, spec, networking);
    inbound.overlay(outbound).into_config()
}

/// §2.2: one local STATIC cluster and one listener per inbound.
fn inbound_resources(networking: &Networking) -> Resources {
    let mut out = Resources::default();
    for inbound in &networking.inbound {
        let Some(iface) = InboundIface::resolve(networking, inbound) else {
            continue;
        };
        let local = format!("localhost:{}", iface.workload_port);
        out.cluster(Cluster {
            alt_stat_name: alt_stat_name(&local),
            connect_timeout: CONNECT_TIMEOUT,
            discovery: Discovery::Static(LoadAssignment {
                cluster_name: local.clone(),
                endpoints: vec![Endpoint {
                    address: "127.0.0.1".to_string(),
                    port: iface.workload_port,
                    tags: Tags::new(),
                }],
            }),
            name: local.clone(),
        });
        let stat_prefix = sanitize(&local);
        let filter = if Protocol::of(&inbound.tags) == Protocol::Http {
            let service = inbound.tags.get(SERVICE_TAG).map_or("", String::as_str);
            NetworkFilter::HttpConnectionManager(HttpConnectionManager {
                stat_prefix,
                http_filters: vec![HttpFilter::Router],
                routes: HttpRoutes::Inline(RouteConfig {
                    name: format!("inbound:{service}"),
                    validate_clusters: true,
                    request_headers_to_add: Vec::new(),
                    request_headers_to_remove: vec![TAGS_HEADER.to_string()],
                    virtual_hosts: vec![virtual_host(service, Target::Cluster(local))],
                }),
            })
        } else {
            NetworkFilter::TcpProxy(TcpProxy {
                stat_prefix,
                target: Target::Cluster(local),
            })
        };
        out.listener(Listener {
            name: format!("inbound:{}:{}", iface.ip, iface.dataplane_port),
            address: iface.ip,
            port: iface.dataplane_port,
            direction: Direction::Inbound,
            filter_chain: FilterChain {
                filters: vec![filter],
            },
        });
    }
    out
}

/// §2.3: per outbound, the route's EDS clusters and their endpoints, a listener, and for HTTP
/// the route configuration.
fn outbound_resources(
    view: &MeshView,
    index: &EndpointIndex,
    dataplane: &DataplaneSpec,
    networking: &Networking,
) -> Resources {
    let mut out = Resources::default();
    if networking.outbound.is_empty() {
        return out;
    }
    let services: Vec<&str> = networking
        .outbound
        .iter()
        .map(|o| o.service.as_str())
        .collect();
    let routes = policy::select_traffic_routes(view.of(Kind::TrafficRoute), dataplane, &services);
    let mut own_tags: Option<String> = None;
    for outbound in &networking.outbound {
        let Some((ip, port)) = resolve_outbound(outbound) else {
            continue;
        };
        let service = outbound.service.as_str();
        let Some(route) = routes.get(service) else {
            continue;
        };
        let mut branches = Vec::new();
        let mut protocol: Option<Protocol> = None;
        for branch in route.conf.iter() {
            if branch.weight == 0 || !branch.destination.contains_key(SERVICE_TAG) {
                continue;
            }
            let name = cluster_name(&branch.destination);
            let endpoints = index.cluster(&name, &branch.destination);
            protocol = match (protocol, endpoints.protocol) {
                (Some(a), Some(b)) => Some(a.combine(b)),
                (a, b) => a.or(b),
            };
            out.cluster(Cluster {
                alt_stat_name: alt_stat_name(&name),
                connect_timeout: CONNECT_TIMEOUT,
                discovery: Discovery::Eds,
                name: name.clone(),
            });
            out.load_assignment(endpoints.assignment);
            branches.push(WeightedCluster {
                name,
                weight: branch.weight,
            });
        }
        // A route whose every branch has weight 0 routes nowhere: Envoy would reject an empty
        // split, so the outbound gets no listener.
        let target = match branches.len() {
            0 => continue,
            1 => Target::Cluster(branches.remove(0).name),
            _ => Target::Weighted(branches),
        };
        let stat_prefix = sanitize(service);
        let filter = if protocol == Some(Protocol::Http) {
            let route_name = format!("outbound:{service}");
            let tags = own_tags.get_or_insert_with(|| serialize_tags(dataplane));
            out.route_config(RouteConfig {
                name: route_name.clone(),
                validate_clusters: true,
                request_headers_to_add: if tags.is_empty() {
                    Vec::new()
                } else {
                    vec![Header {
                        name: TAGS_HEADER.to_string(),
                        value: tags.clone(),
                    }]
                },
                request_headers_to_remove: Vec::new(),
                virtual_hosts: vec![virtual_host(service, target)],
            });
            NetworkFilter::HttpConnectionManager(HttpConnectionManager {
                stat_prefix,
                http_filters: vec![HttpFilter::Router],
                routes: HttpRoutes::Rds(route_name),
            })
        } else {
            NetworkFilter::TcpProxy(TcpProxy {
                stat_prefix,
                target,
            })
        };
        out.listener(Listener {
            name: format!("outbound:{ip}:{port}"),
            address: ip,
            port,
            direction: Direction::Outbound,
            filter_chain: FilterChain {
                filters: vec![filter],
            },
        });
    }
    out
}

fn alt_stat_name(name: &str) -> Option<String> {
    let sanitized = sanitize(name);
    (sanitized != name).then_some(sanitized)
}

fn virtual_host(service: &str, target: Target) -> VirtualHost {
    VirtualHost {
        name: service.to_string(),
        domains: vec!["*".to_string()],
        routes: vec![Route {
            prefix: "/".to_string(),
            target,
        }],
    }
}

#[cfg(test)]
mod tests;
