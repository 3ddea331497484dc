//! Ursa's own description of one proxy's configuration: close to Envoy's concepts (listeners,
//! clusters, load assignments, route configurations) but free of any wire format. The xDS edge
//! turns a [`ProxyConfig`] into v3 protos; two equal configs encode to the same bytes, so a caller
//! can compare configs to skip pushes.
//!
//! mTLS (xDS §3.3, X6): listeners and clusters name the secrets [`IDENTITY_CERT`] and
//! [`MESH_CA`], delivered over ADS; the [`Secret`]s themselves are filled in by the ADS stream,
//! which issues the identity the generation asked for (generation stays pure).

use std::sync::Arc;
use std::time::Duration;

use crate::proto::Tags;

use super::type_url::TypeUrl;

/// Everything one proxy receives over xDS; every list is sorted by name, names are unique.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// Listeners (LDS).
    pub listeners: Vec<Listener>,
    /// Clusters (CDS).
    pub clusters: Vec<Cluster>,
    /// Endpoints of the EDS clusters (EDS), shared between proxies that use the same cluster.
    pub load_assignments: Vec<Arc<LoadAssignment>>,
    /// Route configurations referenced by name from listeners (RDS).
    pub route_configs: Vec<RouteConfig>,
    /// Secrets referenced by name from listeners and clusters (SDS over ADS).
    pub secrets: Vec<Secret>,
    /// Resources a ProxyTemplate gives verbatim (xDS §3.8), sorted by type and name; each
    /// replaces the resource of its type and name the other lists may hold.
    pub raw: Vec<Arc<RawResource>>,
}

impl ProxyConfig {
    /// True when the configuration holds no resource at all.
    pub fn is_empty(&self) -> bool {
        self.listeners.is_empty()
            && self.clusters.is_empty()
            && self.load_assignments.is_empty()
            && self.route_configs.is_empty()
            && self.secrets.is_empty()
            && self.raw.is_empty()
    }

    /// The raw resources of type `t`, in name order.
    pub fn raw_of(&self, t: TypeUrl) -> impl Iterator<Item = &RawResource> {
        self.raw
            .iter()
            .map(|r| &**r)
            .filter(move |r| r.type_url == t)
    }
}

/// An Envoy resource given verbatim (a ProxyTemplate's, xDS §3.8), already encoded as the v3
/// message of its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawResource {
    /// Its type.
    pub type_url: TypeUrl,
    /// The name Envoy knows it by (a load assignment's cluster name).
    pub name: String,
    /// The message's protobuf encoding.
    pub value: Arc<[u8]>,
}

/// Which way traffic flows through a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Traffic coming to the workload.
    Inbound,
    /// Traffic leaving the workload.
    Outbound,
}

/// A listener on one socket address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Envoy name, e.g. `inbound:10.0.0.1:8080`.
    pub name: String,
    /// IP to listen on, as written (IPv6 without brackets).
    pub address: String,
    /// TCP port to listen on.
    pub port: u32,
    /// Traffic direction.
    pub direction: Direction,
    /// Whether Envoy binds the socket; false when traffic reaches the listener redirected by
    /// a transparent proxy (xDS §2.5).
    pub bind_to_port: bool,
    /// Whether connections are handed to the listener of their original destination (the
    /// transparent proxy's `catch_all`).
    pub use_original_dst: bool,
    /// The one filter chain of the listener.
    pub filter_chain: FilterChain,
}

impl Listener {
    /// A listener that binds `address:port`, with its one filter chain.
    pub fn new(
        name: String,
        address: String,
        port: u32,
        direction: Direction,
        filter_chain: FilterChain,
    ) -> Listener {
        Listener {
            name,
            address,
            port,
            direction,
            bind_to_port: true,
            use_original_dst: false,
            filter_chain,
        }
    }
}

/// A listener's filter chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterChain {
    /// Network filters in order; the last one is terminal.
    pub filters: Vec<NetworkFilter>,
    /// mTLS on accepted connections, when the mesh has it.
    pub tls: Option<DownstreamTls>,
}

/// TLS on a listener's connections: the proxy presents [`IDENTITY_CERT`] and, when
/// `require_client_certificate`, accepts only clients whose certificate [`MESH_CA`] signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownstreamTls {
    /// Refuse clients without a certificate.
    pub require_client_certificate: bool,
}

/// TLS on a cluster's connections: the proxy presents [`IDENTITY_CERT`] and accepts a server
/// whose certificate [`MESH_CA`] signed and whose URI SAN is `verify_san`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTls {
    /// The URI SAN the server must present (`spiffe://<mesh>/<service>`).
    pub verify_san: String,
}

/// Name of the secret holding the proxy's certificate and key.
pub const IDENTITY_CERT: &str = "identity_cert";
/// Name of the secret holding the mesh's CA certificate.
pub const MESH_CA: &str = "mesh_ca";

/// A secret (SDS over ADS).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret {
    /// Its name: [`IDENTITY_CERT`] or [`MESH_CA`].
    pub name: String,
    /// What it holds.
    pub content: SecretContent,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never a private key in a log or a test failure.
        f.debug_struct("Secret")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// What a secret holds.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretContent {
    /// A certificate chain and its private key (PEM).
    TlsCertificate {
        /// The chain, leaf first.
        certificate_chain: String,
        /// The key.
        private_key: String,
    },
    /// The CA certificates to trust (PEM).
    ValidationContext {
        /// The roots.
        trusted_ca: String,
    },
}

impl Secret {
    /// The two secrets of an issued identity, in name order.
    pub fn of_identity(identity: &crate::ca::Identity) -> Vec<Secret> {
        vec![
            Secret {
                name: IDENTITY_CERT.to_string(),
                content: SecretContent::TlsCertificate {
                    certificate_chain: identity.cert_pem.clone(),
                    private_key: identity.key_pem.clone(),
                },
            },
            Secret {
                name: MESH_CA.to_string(),
                content: SecretContent::ValidationContext {
                    trusted_ca: identity.ca_pem.clone(),
                },
            },
        ]
    }
}

/// `envoy.filters.network.rbac` (xDS §3.2): connections are allowed when one policy has a
/// principal matching the peer; no policy denies everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rbac {
    /// Stat prefix (the sanitized listener name and a dot).
    pub stat_prefix: String,
    /// Policies by name.
    pub policies: Vec<RbacPolicy>,
}

/// One RBAC policy: any of its principals, any permission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RbacPolicy {
    /// Its name (the TrafficPermission's).
    pub name: String,
    /// Who is allowed.
    pub principals: Vec<Principal>,
}

/// A peer an RBAC policy allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// Any peer (the mTLS handshake already checked it is of the mesh).
    Any,
    /// A peer whose certificate's URI SAN is exactly this.
    Authenticated(String),
}

/// A network filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetworkFilter {
    /// `envoy.filters.network.tcp_proxy`.
    TcpProxy(TcpProxy),
    /// `envoy.filters.network.http_connection_manager`.
    HttpConnectionManager(HttpConnectionManager),
    /// `envoy.filters.network.rbac`.
    Rbac(Rbac),
}

/// A TCP proxy to one cluster or a weighted set of clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TcpProxy {
    /// Sanitized stat prefix.
    pub stat_prefix: String,
    /// Where connections go.
    pub target: Target,
    /// Access logs of its connections (xDS §3.6).
    pub access_logs: Vec<AccessLog>,
}

/// Where one access log goes (xDS §3.6); the format has Kuma's placeholders substituted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AccessLog {
    /// `envoy.access_loggers.file`: one line per entry appended to `path`.
    File {
        /// The file.
        path: String,
        /// The line format.
        format: String,
    },
    /// Envoy's gRPC access-log service on the static cluster `access_log_sink` (the agent's
    /// Unix socket), which writes lines to a TCP address.
    Grpc {
        /// `<address>;<format>`: what the agent needs, in the only field Envoy passes on.
        log_name: String,
        /// Request headers the format reads (HTTP only).
        request_headers: Vec<String>,
        /// Response headers the format reads (HTTP only).
        response_headers: Vec<String>,
    },
}

/// The cluster Envoy's gRPC access logs go to: the agent's socket, from the bootstrap.
pub const ACCESS_LOG_SINK: &str = "access_log_sink";

/// Tracing on an HTTP connection manager (xDS §3.7, X8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tracing {
    /// Percentage of requests traced (`None`: Envoy's default, all).
    pub sampling: Option<Percent>,
    /// Where spans go.
    pub zipkin: Zipkin,
}

/// A Zipkin collector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zipkin {
    /// The cluster of the collector.
    pub collector_cluster: String,
    /// The path spans are posted to.
    pub collector_endpoint: String,
    /// 128-bit trace ids.
    pub trace_id_128bit: bool,
    /// How spans are encoded.
    pub version: ZipkinVersion,
}

/// The span encodings Envoy 1.40 speaks (X17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZipkinVersion {
    /// Zipkin v2 JSON.
    HttpJson,
    /// Zipkin v2 protobuf.
    HttpProto,
}

/// A percentage in [0, 100], compared by its bits so configurations stay `Eq`.
#[derive(Clone, Copy, Debug)]
pub struct Percent(pub f64);

impl PartialEq for Percent {
    fn eq(&self, other: &Percent) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Percent {}

/// The upstream of a TCP proxy or a route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One cluster, by name.
    Cluster(String),
    /// Several clusters with relative weights.
    Weighted(Vec<WeightedCluster>),
}

/// One branch of a weighted split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedCluster {
    /// Cluster name.
    pub name: String,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// An HTTP connection manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConnectionManager {
    /// Sanitized stat prefix.
    pub stat_prefix: String,
    /// HTTP filters in order; the last one is the router.
    pub http_filters: Vec<HttpFilter>,
    /// Where the routes come from.
    pub routes: HttpRoutes,
    /// Access logs of its requests (xDS §3.6).
    pub access_logs: Vec<AccessLog>,
    /// Tracing of its requests (xDS §3.7).
    pub tracing: Option<Tracing>,
}

/// An HTTP filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpFilter {
    /// `envoy.filters.http.fault` (xDS §3.5), before the router.
    Fault(Fault),
    /// `envoy.filters.http.router`.
    Router,
}

/// Faults injected into the requests of selected sources (xDS §3.5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// A regex the request's `x-kuma-tags` header must match in full; the filter applies to
    /// every request when `None`.
    pub tags_regex: Option<String>,
    /// A fixed delay.
    pub delay: Option<FaultDelay>,
    /// An abort with a status.
    pub abort: Option<FaultAbort>,
    /// A limit on the response's bandwidth.
    pub response_rate_limit: Option<FaultRateLimit>,
}

/// A fixed delay of some requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultDelay {
    /// How long.
    pub fixed: Duration,
    /// Of which requests.
    pub percentage: Fraction,
}

/// An abort of some requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultAbort {
    /// The HTTP status they get.
    pub http_status: u32,
    /// Of which requests.
    pub percentage: Fraction,
}

/// A bandwidth limit on some responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultRateLimit {
    /// KiB per second.
    pub limit_kbps: u64,
    /// Of which responses.
    pub percentage: Fraction,
}

/// Envoy's fractional percent: `numerator` out of `denominator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fraction {
    /// The part.
    pub numerator: u32,
    /// The whole.
    pub denominator: Denominator,
}

/// The wholes Envoy's fractional percent knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denominator {
    /// 100.
    Hundred,
    /// 10,000.
    TenThousand,
    /// 1,000,000.
    Million,
}

/// The route table of an HTTP connection manager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpRoutes {
    /// Inline route configuration (inbound).
    Inline(RouteConfig),
    /// Name of a route configuration delivered over RDS (outbound).
    Rds(String),
}

/// A cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// Envoy name, e.g. `localhost:8080` or `db{role=master}`.
    pub name: String,
    /// Sanitized stats name, present only when it differs from `name`.
    pub alt_stat_name: Option<String>,
    /// Connection timeout.
    pub connect_timeout: Duration,
    /// How the cluster finds its endpoints.
    pub discovery: Discovery,
    /// mTLS to the endpoints, when the mesh has it.
    pub tls: Option<UpstreamTls>,
    /// Health checking of its endpoints (xDS §3.4).
    pub health: Health,
}

/// How a cluster checks its endpoints' health (xDS §3.4); nothing by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Health {
    /// Active TCP checks.
    pub active: Option<ActiveHealthCheck>,
    /// Passive checks: outlier detection on consecutive 5xx.
    pub outlier_detection: Option<OutlierDetection>,
}

/// An active TCP health check (connect only, no payload).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActiveHealthCheck {
    /// Time between checks.
    pub interval: Duration,
    /// Time a check may take.
    pub timeout: Duration,
    /// Failed checks before an endpoint is unhealthy.
    pub unhealthy_threshold: u32,
    /// Passed checks before an endpoint is healthy again.
    pub healthy_threshold: u32,
}

/// Outlier detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutlierDetection {
    /// Time between ejection sweeps (Envoy's default when `None`).
    pub interval: Option<Duration>,
    /// Consecutive 5xx before an endpoint is ejected.
    pub consecutive_5xx: u32,
}

/// How a cluster finds its endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// `STATIC` with the endpoints inline.
    Static(LoadAssignment),
    /// `EDS` over ADS: the endpoints are the [`LoadAssignment`] of the same name.
    Eds,
    /// `STRICT_DNS` with host names inline (a tracing collector).
    StrictDns(LoadAssignment),
    /// `ORIGINAL_DST`: connections go where they were headed (the transparent proxy's
    /// `pass_through`).
    OriginalDst,
}

/// The endpoints of one cluster (Envoy: a ClusterLoadAssignment with exactly one locality).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadAssignment {
    /// Name of the cluster these endpoints belong to.
    pub cluster_name: String,
    /// Endpoints, possibly none.
    pub endpoints: Vec<Endpoint>,
}

/// One upstream address. Shared by every cluster and snapshot that holds it, so cloning
/// and comparing one is a pointer operation (`Arc`'s equality checks identity first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// IP, as written (IPv6 without brackets); a host name in a [`Discovery::StrictDns`].
    pub address: Arc<str>,
    /// TCP port.
    pub port: u32,
    /// Tags, published as `envoy.lb` filter metadata (none when empty).
    pub tags: Arc<Tags>,
}

/// A route configuration, inline or served over RDS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteConfig {
    /// Name, e.g. `outbound:backend`.
    pub name: String,
    /// Envoy rejects the configuration if a route names an unknown cluster.
    pub validate_clusters: bool,
    /// Headers set on every request (replacing any value sent by the client).
    pub request_headers_to_add: Vec<Header>,
    /// Headers removed from every request.
    pub request_headers_to_remove: Vec<String>,
    /// Virtual hosts.
    pub virtual_hosts: Vec<VirtualHost>,
}

/// A request header name and value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value.
    pub value: String,
}

/// A virtual host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualHost {
    /// Name (the service).
    pub name: String,
    /// Domains, `*` for all.
    pub domains: Vec<String>,
    /// Routes, first match wins.
    pub routes: Vec<Route>,
}

/// A route matching a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Path prefix to match.
    pub prefix: String,
    /// Where matching requests go.
    pub target: Target,
    /// What the matched prefix is replaced with upstream.
    pub prefix_rewrite: Option<String>,
}
