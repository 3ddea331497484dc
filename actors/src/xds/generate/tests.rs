use std::sync::Arc;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::*;
use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::Kind;
use crate::proto::Tags;
use std::time::Duration;

use crate::xds::model::*;
use crate::xds::names::{cluster_name, sanitize, serialize_tags, Protocol};

/// A mesh built in code: resources decoded from JSON specs, created `secs` after a fixed epoch.
struct TestMesh {
    state: MeshState,
}

impl TestMesh {
    fn new() -> TestMesh {
        TestMesh {
            state: MeshState::new(Arc::new(resource(Kind::Mesh, "default", 0, json!({}))), []),
        }
    }

    fn add(mut self, kind: Kind, name: &str, secs: i64, spec: Value) -> TestMesh {
        self.state
            .insert(Arc::new(resource(kind, name, secs, spec)));
        self
    }

    fn dp(self, name: &str, spec: Value) -> TestMesh {
        self.add(Kind::Dataplane, name, 0, spec)
    }

    fn route(self, name: &str, secs: i64, spec: Value) -> TestMesh {
        self.add(Kind::TrafficRoute, name, secs, spec)
    }

    fn generated(&self, dataplane: &str) -> Generated {
        self.generated_for(dataplane, &Node::default())
    }

    fn generated_for(&self, dataplane: &str, node: &Node) -> Generated {
        let index = EndpointIndex::build(&self.state);
        let dp = self
            .state
            .get(Kind::Dataplane, dataplane)
            .expect("a dataplane");
        generate_for(&self.state, &index, dp, node)
    }

    fn with_mesh(mut self, spec: Value) -> TestMesh {
        self.state.mesh = Arc::new(resource(Kind::Mesh, "default", 0, spec));
        self
    }

    fn generate(&self, dataplane: &str) -> ProxyConfig {
        self.generated(dataplane).config
    }
}

fn resource(kind: Kind, name: &str, secs: i64, spec: Value) -> Resource {
    let spec = kind.decode(spec).expect("valid spec");
    let at = Utc.timestamp_opt(1_600_000_000 + secs, 0).unwrap();
    Resource::new("default", name, spec, at)
}

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn listener<'a>(config: &'a ProxyConfig, name: &str) -> &'a Listener {
    config
        .listeners
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("no listener {name} in {config:#?}"))
}

fn filter<'a>(config: &'a ProxyConfig, name: &str) -> &'a NetworkFilter {
    &listener(config, name).filter_chain.filters[0]
}

fn names<T>(items: &[T], name: impl Fn(&T) -> &str) -> Vec<&str> {
    items.iter().map(name).collect()
}

fn cluster_names(config: &ProxyConfig) -> Vec<&str> {
    names(&config.clusters, |c| &c.name)
}

fn endpoints(config: &ProxyConfig, cluster: &str) -> Vec<(String, u32)> {
    config
        .load_assignments
        .iter()
        .find(|la| la.cluster_name == cluster)
        .unwrap_or_else(|| panic!("no load assignment {cluster}"))
        .endpoints
        .iter()
        .map(|e| (e.address.to_string(), e.port))
        .collect()
}

fn route_config<'a>(config: &'a ProxyConfig, name: &str) -> &'a RouteConfig {
    config
        .route_configs
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no route config {name}"))
}

fn weighted(pairs: &[(&str, u32)]) -> Target {
    Target::Weighted(
        pairs
            .iter()
            .map(|(name, weight)| WeightedCluster {
                name: name.to_string(),
                weight: *weight,
            })
            .collect(),
    )
}

/// web (10.0.0.1, inbound 8080→8081) calling backend on 127.0.0.1:10001; two backend
/// dataplanes with versions v1/v2, `protocol` as given.
fn web_and_backend(protocol: &str) -> TestMesh {
    TestMesh::new()
        .dp(
            "web-01",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 8080, "servicePort": 8081,
                             "tags": {"service": "web", "protocol": protocol}}],
                "outbound": [{"port": 10001, "service": "backend"}]}}),
        )
        .dp(
            "backend-01",
            json!({"networking": {"address": "10.0.0.2",
                "inbound": [{"port": 9000, "tags": {"service": "backend", "version": "v1",
                                                    "protocol": protocol}}]}}),
        )
        .dp(
            "backend-02",
            json!({"networking": {"address": "10.0.0.3",
                "inbound": [{"port": 9000, "servicePort": 9001,
                             "tags": {"service": "backend", "version": "v2",
                                      "protocol": protocol}}]}}),
        )
}

#[test]
fn tcp_inbound_and_outbound() {
    let config = web_and_backend("tcp").generate("web-01");
    assert_eq!(
        names(&config.listeners, |l| &l.name),
        vec!["inbound:10.0.0.1:8080", "outbound:127.0.0.1:10001"]
    );
    assert_eq!(cluster_names(&config), vec!["backend", "localhost:8081"]);
    let inbound = listener(&config, "inbound:10.0.0.1:8080");
    assert_eq!(
        (inbound.address.as_str(), inbound.port, inbound.direction),
        ("10.0.0.1", 8080, Direction::Inbound)
    );
    assert_eq!(
        filter(&config, "inbound:10.0.0.1:8080"),
        &NetworkFilter::TcpProxy(TcpProxy {
            stat_prefix: "localhost_8081".into(),
            target: Target::Cluster("localhost:8081".into()),
            access_logs: vec![],
        })
    );
    let local = &config.clusters[1];
    assert_eq!(local.alt_stat_name.as_deref(), Some("localhost_8081"));
    assert_eq!(local.connect_timeout, Duration::from_secs(5));
    let Discovery::Static(la) = &local.discovery else {
        panic!("local cluster is static")
    };
    assert_eq!(la.cluster_name, "localhost:8081");
    assert_eq!(
        la.endpoints,
        vec![Endpoint {
            address: "127.0.0.1".into(),
            port: 8081,
            tags: Default::default()
        }]
    );
    let backend = &config.clusters[0];
    assert_eq!(
        (backend.alt_stat_name.as_ref(), &backend.discovery),
        (None, &Discovery::Eds)
    );
    let outbound = listener(&config, "outbound:127.0.0.1:10001");
    assert_eq!(outbound.direction, Direction::Outbound);
    assert_eq!(
        filter(&config, "outbound:127.0.0.1:10001"),
        &NetworkFilter::TcpProxy(TcpProxy {
            stat_prefix: "backend".into(),
            target: Target::Cluster("backend".into()),
            access_logs: vec![],
        })
    );
    // Implicit default route: every backend endpoint, at the dataplane port.
    assert_eq!(
        endpoints(&config, "backend"),
        vec![("10.0.0.2".into(), 9000), ("10.0.0.3".into(), 9000)]
    );
    assert_eq!(
        *config.load_assignments[0].endpoints[0].tags,
        tags(&[
            ("protocol", "tcp"),
            ("service", "backend"),
            ("version", "v1")
        ])
    );
    assert!(config.route_configs.is_empty());
}

#[test]
fn http_inbound_and_outbound() {
    let config = web_and_backend("http").generate("web-01");
    let NetworkFilter::HttpConnectionManager(inbound) = filter(&config, "inbound:10.0.0.1:8080")
    else {
        panic!("http inbound")
    };
    assert_eq!(inbound.stat_prefix, "localhost_8081");
    assert_eq!(inbound.http_filters, vec![HttpFilter::Router]);
    assert_eq!(
        inbound.routes,
        HttpRoutes::Inline(RouteConfig {
            name: "inbound:web".into(),
            validate_clusters: true,
            request_headers_to_add: vec![],
            request_headers_to_remove: vec!["x-kuma-tags".into()],
            virtual_hosts: vec![VirtualHost {
                name: "web".into(),
                domains: vec!["*".into()],
                routes: vec![Route {
                    prefix: "/".into(),
                    target: Target::Cluster("localhost:8081".into()),
                    prefix_rewrite: None,
                }],
            }],
        })
    );
    let NetworkFilter::HttpConnectionManager(outbound) =
        filter(&config, "outbound:127.0.0.1:10001")
    else {
        panic!("http outbound")
    };
    assert_eq!(outbound.stat_prefix, "backend");
    assert_eq!(outbound.routes, HttpRoutes::Rds("outbound:backend".into()));
    let rds = route_config(&config, "outbound:backend");
    assert!(rds.validate_clusters);
    assert_eq!(
        rds.request_headers_to_add,
        vec![Header {
            name: "x-kuma-tags".into(),
            value: "&protocol=http&&service=web&".into()
        }]
    );
    assert!(rds.request_headers_to_remove.is_empty());
    assert_eq!(
        rds.virtual_hosts[0].routes[0].target,
        Target::Cluster("backend".into())
    );
}

#[test]
fn inbound_protocol_tag_is_case_insensitive() {
    let config = TestMesh::new()
        .dp(
            "a",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 80, "tags": {"service": "a", "protocol": "HTTP"}},
                            {"port": 81, "tags": {"service": "b"}}]}}),
        )
        .generate("a");
    assert!(matches!(
        filter(&config, "inbound:10.0.0.1:80"),
        NetworkFilter::HttpConnectionManager(_)
    ));
    assert!(matches!(
        filter(&config, "inbound:10.0.0.1:81"),
        NetworkFilter::TcpProxy(_)
    ));
}

fn split_90_10(mesh: TestMesh) -> TestMesh {
    mesh.route(
        "split",
        0,
        json!({"sources": [{"match": {"service": "web"}}],
               "destinations": [{"match": {"service": "backend"}}],
               "conf": [{"weight": 90, "destination": {"service": "backend", "version": "v1"}},
                        {"weight": 10, "destination": {"service": "backend", "version": "v2"}},
                        {"weight": 0, "destination": {"service": "backend", "version": "v3"}}]}),
    )
}

#[test]
fn weighted_split_by_version_http() {
    let config = split_90_10(web_and_backend("http")).generate("web-01");
    assert_eq!(
        cluster_names(&config),
        vec![
            "backend{version=v1}",
            "backend{version=v2}",
            "localhost:8081"
        ]
    );
    assert_eq!(
        config.clusters[0].alt_stat_name.as_deref(),
        Some("backend_version_v1_")
    );
    assert_eq!(
        endpoints(&config, "backend{version=v1}"),
        vec![("10.0.0.2".into(), 9000)]
    );
    assert_eq!(
        endpoints(&config, "backend{version=v2}"),
        vec![("10.0.0.3".into(), 9000)]
    );
    assert_eq!(
        config.load_assignments.len(),
        2,
        "weight 0 makes no cluster"
    );
    let rds = route_config(&config, "outbound:backend");
    assert_eq!(
        rds.virtual_hosts[0].routes[0].target,
        weighted(&[("backend{version=v1}", 90), ("backend{version=v2}", 10)])
    );
}

#[test]
fn weighted_split_by_version_tcp() {
    let config = split_90_10(web_and_backend("tcp")).generate("web-01");
    assert_eq!(
        filter(&config, "outbound:127.0.0.1:10001"),
        &NetworkFilter::TcpProxy(TcpProxy {
            stat_prefix: "backend".into(),
            target: weighted(&[("backend{version=v1}", 90), ("backend{version=v2}", 10)]),
            access_logs: vec![],
        })
    );
    assert!(config.route_configs.is_empty());
}

#[test]
fn route_selection_by_rank_then_time_then_name() {
    let route = |to: &str, src: Value| {
        json!({"sources": [{"match": src}], "destinations": [{"match": {"service": "backend"}}],
               "conf": [{"weight": 1, "destination": {"service": "backend", "version": to}}]})
    };
    let base = || web_and_backend("tcp");
    let target = |mesh: TestMesh| match filter(&mesh.generate("web-01"), "outbound:127.0.0.1:10001")
    {
        NetworkFilter::TcpProxy(t) => t.target.clone(),
        other => panic!("{other:?}"),
    };
    let single = |name: &str| Target::Cluster(name.to_string());
    // More source tags outrank fewer.
    let mesh = base()
        .route("a", 0, route("v1", json!({"service": "*"})))
        .route(
            "b",
            0,
            route("v2", json!({"service": "web", "protocol": "*"})),
        );
    assert_eq!(target(mesh), single("backend{version=v2}"));
    // A source that does not select the dataplane is out.
    let mesh = base()
        .route("a", 0, route("v1", json!({"service": "*"})))
        .route(
            "b",
            0,
            route("v2", json!({"service": "web", "protocol": "http"})),
        );
    assert_eq!(target(mesh), single("backend{version=v1}"));
    // Equal rank: the strictly later creation time wins, else the first name.
    let mesh = base()
        .route("a", 0, route("v1", json!({"service": "web"})))
        .route("b", 5, route("v2", json!({"service": "web"})))
        .route("c", 5, route("v3", json!({"service": "web"})));
    assert_eq!(target(mesh), single("backend{version=v2}"));
}

#[test]
fn endpoints_filtered_by_all_destination_tags() {
    let config = web_and_backend("tcp")
        .route(
            "r",
            0,
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": [{"weight": 1, "destination": {"service": "backend", "version": "*"}},
                            {"weight": 1, "destination": {"service": "backend", "zone": "eu"}}]}),
        )
        .generate("web-01");
    assert_eq!(endpoints(&config, "backend{version=*}").len(), 2);
    assert_eq!(endpoints(&config, "backend{zone=eu}"), vec![]);
}

#[test]
fn protocol_is_http_only_when_every_endpoint_is_http() {
    let mesh = web_and_backend("http").dp(
        "backend-03",
        json!({"networking": {"address": "10.0.0.4",
            "inbound": [{"port": 9000, "tags": {"service": "backend", "version": "v3"}}]}}),
    );
    let config = mesh.generate("web-01");
    assert!(matches!(
        filter(&config, "outbound:127.0.0.1:10001"),
        NetworkFilter::TcpProxy(_)
    ));
    assert!(config.route_configs.is_empty());
    // A split where only the v1 branch has endpoints: its http decides.
    let config = split_90_10(mesh).generate("web-01");
    assert!(matches!(
        filter(&config, "outbound:127.0.0.1:10001"),
        NetworkFilter::HttpConnectionManager(_)
    ));
}

#[test]
fn no_endpoints_means_tcp_and_an_empty_assignment() {
    let config = TestMesh::new()
        .dp(
            "web-01",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 80, "tags": {"service": "web", "protocol": "http"}}],
                "outbound": [{"port": 5432, "service": "db"}]}}),
        )
        .generate("web-01");
    assert_eq!(endpoints(&config, "db"), vec![]);
    assert!(matches!(
        filter(&config, "outbound:127.0.0.1:5432"),
        NetworkFilter::TcpProxy(_)
    ));
}

#[test]
fn own_inbound_is_an_endpoint() {
    let config = TestMesh::new()
        .dp(
            "web-01",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 80, "tags": {"service": "web", "protocol": "http"}}],
                "outbound": [{"port": 8000, "address": "127.0.0.2", "service": "web"}]}}),
        )
        .generate("web-01");
    assert_eq!(endpoints(&config, "web"), vec![("10.0.0.1".into(), 80)]);
    assert_eq!(
        names(&config.listeners, |l| &l.name),
        vec!["inbound:10.0.0.1:80", "outbound:127.0.0.2:8000"]
    );
    assert_eq!(
        names(&config.route_configs, |r| &r.name),
        vec!["outbound:web"]
    );
}

#[test]
fn legacy_interfaces() {
    let config = TestMesh::new()
        .dp(
            "legacy",
            json!({"networking": {
                "inbound": [{"interface": "192.168.0.1:9090:8080", "tags": {"service": "web"}},
                            {"interface": "[fd00::1]:7070:6060", "tags": {"service": "v6"}}],
                "outbound": [{"interface": ":5000", "service": "v6"},
                             {"interface": "10.1.1.1:5001", "service": "web"}]}}),
        )
        .generate("legacy");
    assert_eq!(
        names(&config.listeners, |l| &l.name),
        vec![
            "inbound:192.168.0.1:9090",
            "inbound:fd00::1:7070",
            "outbound:10.1.1.1:5001",
            "outbound:127.0.0.1:5000",
        ]
    );
    assert_eq!(listener(&config, "inbound:fd00::1:7070").address, "fd00::1");
    assert_eq!(
        cluster_names(&config),
        vec!["localhost:6060", "localhost:8080", "v6", "web"]
    );
    assert_eq!(endpoints(&config, "v6"), vec![("fd00::1".into(), 7070)]);
    assert_eq!(
        endpoints(&config, "web"),
        vec![("192.168.0.1".into(), 9090)]
    );
}

#[test]
fn gateway_has_outbounds_only_and_is_never_an_endpoint() {
    let mesh = web_and_backend("http").dp(
        "edge",
        json!({"networking": {"address": "10.0.0.9",
            "gateway": {"tags": {"service": "edge"}},
            "outbound": [{"port": 10001, "service": "backend"}, {"port": 10002, "service": "edge"}]}}),
    );
    let config = mesh.generate("edge");
    assert_eq!(
        names(&config.listeners, |l| &l.name),
        vec!["outbound:127.0.0.1:10001", "outbound:127.0.0.1:10002"]
    );
    assert_eq!(cluster_names(&config), vec!["backend", "edge"]);
    assert_eq!(endpoints(&config, "edge"), vec![]);
    assert_eq!(
        route_config(&config, "outbound:backend").request_headers_to_add[0].value,
        "&service=edge&"
    );
}

#[test]
fn inbounds_with_the_same_workload_port_share_a_cluster() {
    let config = TestMesh::new()
        .dp(
            "a",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 80, "servicePort": 8080, "tags": {"service": "a"}},
                            {"port": 8080, "tags": {"service": "b"}}]}}),
        )
        .generate("a");
    assert_eq!(config.listeners.len(), 2);
    assert_eq!(cluster_names(&config), vec!["localhost:8080"]);
}

#[test]
fn nothing_for_dataplanes_without_networking_or_routes_without_weight() {
    let mesh = TestMesh::new()
        .dp("bare", json!({}))
        .dp(
            "w",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 80, "tags": {"service": "w"}}],
                "outbound": [{"port": 1000, "service": "x"}]}}),
        )
        .route(
            "zero",
            0,
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "x"}}],
                   "conf": [{"weight": 0, "destination": {"service": "x"}}]}),
        );
    assert!(mesh.generate("bare").is_empty());
    let config = mesh.generate("w");
    assert_eq!(
        names(&config.listeners, |l| &l.name),
        vec!["inbound:10.0.0.1:80"]
    );
    let index = EndpointIndex::build(&mesh.state);
    assert!(generate(&mesh.state, &index, &mesh.state.mesh)
        .config
        .is_empty());
}

#[test]
fn generation_is_deterministic_and_shares_assignments() {
    let mesh = split_90_10(web_and_backend("http"));
    let a = mesh.generated("web-01");
    let b = mesh.generated("web-01");
    assert_eq!(a, b);
    let index = EndpointIndex::build(&mesh.state);
    let dp = mesh.state.get(Kind::Dataplane, "web-01").unwrap();
    let (c, d) = (
        generate(&mesh.state, &index, dp).config,
        generate(&mesh.state, &index, dp).config,
    );
    assert!(Arc::ptr_eq(&c.load_assignments[0], &d.load_assignments[0]));
}

#[test]
fn names_and_serialization() {
    assert_eq!(sanitize("localhost:8080"), "localhost_8080");
    assert_eq!(sanitize("db{role=master}"), "db_role_master_");
    assert_eq!(sanitize("backend.kuma-system"), "backend_kuma-system");
    assert_eq!(sanitize("ü_x"), "__x");
    assert_eq!(cluster_name(&tags(&[("service", "db")])), "db");
    assert_eq!(
        cluster_name(&tags(&[("service", "db"), ("role", "master"), ("a", "1")])),
        "db{a=1,role=master}"
    );
    // Sorted as `k=v` strings, not by key: "a.b=x" < "a=y".
    assert_eq!(
        cluster_name(&tags(&[("service", "s"), ("a", "y"), ("a.b", "x")])),
        "s{a.b=x,a=y}"
    );
    let dp: DataplaneSpec = serde_json::from_value(json!({"networking": {"address": "1.1.1.1",
        "inbound": [{"port": 1, "tags": {"service": "web", "version": "v2"}},
                    {"port": 2, "tags": {"service": "api", "version": "v1"}}]}}))
    .unwrap();
    assert_eq!(serialize_tags(&dp), "&service=api,web&&version=v1,v2&");
    assert_eq!(serialize_tags(&DataplaneSpec::default()), "");
    assert_eq!(Protocol::Http.combine(Protocol::Tcp), Protocol::Tcp);
    assert_eq!(Protocol::Tcp.combine(Protocol::Unknown), Protocol::Unknown);
    assert_eq!(Protocol::Http.combine(Protocol::Http), Protocol::Http);
}

#[test]
fn thousands_of_dataplanes_use_the_index() {
    // 2,000 dataplanes of 20 services, each calling 5 services; one route splitting svc-0.
    let mut mesh = TestMesh::new().route(
        "split",
        0,
        json!({"sources": [{"match": {"service": "*"}}],
               "destinations": [{"match": {"service": "svc-0"}}],
               "conf": [{"weight": 50, "destination": {"service": "svc-0", "version": "v0"}},
                        {"weight": 50, "destination": {"service": "svc-0", "version": "v1"}}]}),
    );
    for i in 0..2000u32 {
        let outbound: Vec<Value> = (1..=5)
            .map(|k| json!({"port": 10000 + k, "service": format!("svc-{}", (i + k) % 20)}))
            .collect();
        mesh = mesh.dp(
            &format!("dp-{i:04}"),
            json!({"networking": {"address": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                "inbound": [{"port": 8080, "tags": {"service": format!("svc-{}", i % 20),
                    "version": format!("v{}", i % 3), "protocol": "http"}}],
                "outbound": outbound}}),
        );
    }
    let started = std::time::Instant::now();
    let index = EndpointIndex::build(&mesh.state);
    let built = started.elapsed();
    let mut listeners = 0;
    for dp in mesh.state.of(Kind::Dataplane).values() {
        let config = generate(&mesh.state, &index, dp).config;
        listeners += config.listeners.len();
        for la in &config.load_assignments {
            assert!(!la.endpoints.is_empty());
            // Taken from the index, not computed again for this dataplane: every proxy holds
            // the index's one copy of a cluster's endpoints.
            let indexed = &index
                .indexed(&la.cluster_name)
                .expect("an indexed cluster")
                .assignment;
            assert!(
                Arc::ptr_eq(la, indexed),
                "{}: {} was not taken from the index",
                dp.meta.name,
                la.cluster_name
            );
        }
    }
    assert_eq!(listeners, 2000 * 6);
    // Both branches of the split are indexed once, with the right endpoints.
    for v in 0..2u32 {
        let version = format!("v{v}");
        let split = &index
            .indexed(&format!("svc-0{{version={version}}}"))
            .expect("an indexed branch")
            .assignment;
        let want = (0..2000u32).filter(|i| i % 20 == 0 && i % 3 == v).count();
        assert_eq!(split.endpoints.len(), want, "svc-0 {version}");
        assert!(split.endpoints.iter().all(|e| e.tags["version"] == version));
    }
    assert_eq!(index.endpoints("svc-3").len(), 100);
    eprintln!(
        "index built in {built:?}, 2000 dataplanes generated in {:?}",
        started.elapsed() - built
    );
}

#[test]
fn an_updated_index_keeps_the_load_assignments_that_did_not_change() {
    let before = web_and_backend("http").dp(
        "db-01",
        json!({"networking": {"address": "10.0.0.9",
            "inbound": [{"port": 5432, "tags": {"service": "db"}}]}}),
    );
    let old = EndpointIndex::build(&before.state);
    // A new backend endpoint changes backend's cluster, not db's.
    let after = before.dp(
        "backend-03",
        json!({"networking": {"address": "10.0.0.4",
            "inbound": [{"port": 9000, "tags": {"service": "backend", "protocol": "http"}}]}}),
    );
    let mut summary = crate::xds::ChangeSummary::default();
    summary.record(
        Kind::Dataplane,
        "backend-03",
        None,
        after.state.get(Kind::Dataplane, "backend-03").cloned(),
    );
    let new = old.update(&after.state, &summary);
    let db = |i: &EndpointIndex| i.indexed("db").unwrap().assignment.clone();
    let backend = |i: &EndpointIndex| i.indexed("backend").unwrap().assignment.clone();
    assert!(Arc::ptr_eq(&db(&new), &db(&old)));
    assert!(!Arc::ptr_eq(&backend(&new), &backend(&old)));
    assert_eq!(backend(&new).endpoints.len(), 3);
    // Same content as a fresh build.
    let fresh = EndpointIndex::build(&after.state);
    for name in ["db", "backend"] {
        assert_eq!(
            fresh.indexed(name).unwrap().assignment,
            new.indexed(name).unwrap().assignment,
            "{name}"
        );
    }
    // Deleting the Dataplane gives back the old content.
    let mut gone = after.state.clone();
    gone.remove(Kind::Dataplane, "backend-03");
    let mut summary = crate::xds::ChangeSummary::default();
    summary.record(
        Kind::Dataplane,
        "backend-03",
        after.state.get(Kind::Dataplane, "backend-03").cloned(),
        None,
    );
    let back = new.update(&gone, &summary);
    assert_eq!(back.indexed("backend").unwrap().assignment, backend(&old));
    assert_eq!(back.endpoints("backend").len(), 2);
}

/// The incremental index must always equal one built from scratch: steps that move a Dataplane
/// within and across services, empty a service, add one, and change a route's branches.
#[test]
fn an_index_updated_step_by_step_equals_a_fresh_build() {
    let dp = |address: &str, service: &str, version: &str| {
        json!({"networking": {"address": address, "inbound": [
            {"port": 80, "tags": {"service": service, "version": version}}]}})
    };
    let route = |version: &str| {
        json!({"sources": [{"match": {"service": "*"}}], "destinations": [{"match": {"service": "api"}}],
            "conf": [{"weight": 100, "destination": {"service": "api", "version": version}}]})
    };
    let steps: Vec<(Kind, &str, Option<Value>)> = vec![
        (Kind::Dataplane, "a1", Some(dp("10.0.0.1", "api", "v1"))),
        (Kind::Dataplane, "a2", Some(dp("10.0.0.2", "api", "v2"))),
        (Kind::TrafficRoute, "r", Some(route("v2"))),
        (Kind::Dataplane, "a2", Some(dp("10.0.0.3", "api", "v2"))),
        (Kind::Dataplane, "w1", Some(dp("10.0.0.4", "web", "v1"))),
        (Kind::Dataplane, "a1", Some(dp("10.0.0.1", "web", "v1"))),
        (Kind::TrafficRoute, "r", Some(route("v1"))),
        (Kind::Dataplane, "a2", None),
        (Kind::Dataplane, "d1", Some(dp("10.0.0.5", "db", "v1"))),
        (Kind::TrafficRoute, "r", None),
        (Kind::Dataplane, "d1", None),
    ];
    let mut mesh = TestMesh::new();
    let mut index = EndpointIndex::build(&mesh.state);
    for (i, (kind, name, spec)) in steps.into_iter().enumerate() {
        let before = mesh.state.get(kind, name).cloned();
        let after = spec.map(|spec| Arc::new(resource(kind, name, i as i64, spec)));
        match &after {
            Some(r) => mesh.state.insert(r.clone()),
            None => mesh.state.remove(kind, name),
        }
        let mut summary = crate::xds::ChangeSummary::default();
        summary.record(kind, name, before, after);
        index = index.update(&mesh.state, &summary);
        assert_eq!(
            index.clusters(),
            EndpointIndex::build(&mesh.state).clusters(),
            "after step {i} ({kind:?} {name})"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// mTLS and TrafficPermission (xDS §3.2, §3.3)

impl TestMesh {
    /// The Mesh with the builtin backend `ca-1` enabled.
    fn with_mtls(mut self) -> TestMesh {
        self.state.mesh = Arc::new(resource(
            Kind::Mesh,
            "default",
            0,
            json!({"mtls": {"enabledBackend": "ca-1", "backends": [
                {"name": "ca-1", "type": "builtin",
                 "dpCert": {"rotation": {"expiration": "10s"}}}]}}),
        ));
        self
    }

    fn permission(self, name: &str, secs: i64, sources: &[&str], destination: Value) -> TestMesh {
        let sources: Vec<Value> = sources
            .iter()
            .map(|s| json!({"match": {"service": s}}))
            .collect();
        self.add(
            Kind::TrafficPermission,
            name,
            secs,
            json!({"sources": sources, "destinations": [{"match": destination}]}),
        )
    }
}

fn rbac<'a>(config: &'a ProxyConfig, listener_name: &str) -> &'a Rbac {
    match filter(config, listener_name) {
        NetworkFilter::Rbac(r) => r,
        other => panic!("{listener_name} starts with {other:?}, not RBAC"),
    }
}

#[test]
fn without_mtls_there_is_no_tls_rbac_or_identity() {
    let mesh = web_and_backend("http").permission("all", 0, &["*"], json!({"service": "*"}));
    let generated = mesh.generated("web-01");
    assert_eq!(generated.identity, None);
    for l in &generated.config.listeners {
        assert_eq!(l.filter_chain.tls, None);
        assert!(!matches!(l.filter_chain.filters[0], NetworkFilter::Rbac(_)));
    }
    assert!(generated.config.clusters.iter().all(|c| c.tls.is_none()));
}

#[test]
fn mtls_puts_tls_on_inbounds_and_outbound_clusters_and_asks_for_the_identity() {
    let generated = web_and_backend("http").with_mtls().generated("web-01");
    assert_eq!(
        generated.identity,
        Some(crate::ca::IdentityRequest {
            mesh: "default".into(),
            backend: "ca-1".into(),
            service: "web".into(),
            validity: Duration::from_secs(10),
        })
    );
    let config = &generated.config;
    let inbound = listener(config, "inbound:10.0.0.1:8080");
    assert_eq!(
        inbound.filter_chain.tls,
        Some(DownstreamTls {
            require_client_certificate: true
        })
    );
    let outbound = listener(config, "outbound:127.0.0.1:10001");
    assert_eq!(outbound.filter_chain.tls, None);
    let backend = config
        .clusters
        .iter()
        .find(|c| c.name == "backend")
        .expect("backend cluster");
    assert_eq!(
        backend.tls,
        Some(UpstreamTls {
            verify_san: "spiffe://default/backend".into()
        })
    );
    // The local (inbound) cluster talks plaintext to the application.
    assert!(config
        .clusters
        .iter()
        .filter(|c| c.name.starts_with("localhost:"))
        .all(|c| c.tls.is_none()));
}

#[test]
fn no_permission_denies_everything() {
    let config = web_and_backend("tcp").with_mtls().generate("backend-01");
    let r = rbac(&config, "inbound:10.0.0.2:9000");
    assert_eq!(r.policies, vec![]);
    assert_eq!(r.stat_prefix, "inbound_10_0_0_2_9000.");
}

#[test]
fn the_most_specific_permission_applies_with_its_principals() {
    let config = web_and_backend("http")
        .with_mtls()
        .permission("any-to-all", 0, &["*"], json!({"service": "*"}))
        .permission(
            "web-to-backend",
            5,
            &["web", "admin"],
            json!({"service": "backend"}),
        )
        .generate("backend-01");
    let r = rbac(&config, "inbound:10.0.0.2:9000");
    assert_eq!(
        r.policies,
        vec![RbacPolicy {
            name: "web-to-backend".into(),
            principals: vec![
                Principal::Authenticated("spiffe://default/web".into()),
                Principal::Authenticated("spiffe://default/admin".into()),
            ],
        }]
    );
    // web's inbound is matched by the wildcard only.
    let config = web_and_backend("http")
        .with_mtls()
        .permission("any-to-all", 0, &["*"], json!({"service": "*"}))
        .generate("web-01");
    let r = rbac(&config, "inbound:10.0.0.1:8080");
    assert_eq!(
        r.policies,
        vec![RbacPolicy {
            name: "any-to-all".into(),
            principals: vec![Principal::Any],
        }]
    );
    // The RBAC filter comes before the terminal filter.
    assert!(matches!(
        listener(&config, "inbound:10.0.0.1:8080")
            .filter_chain
            .filters[1],
        NetworkFilter::HttpConnectionManager(_)
    ));
}

#[test]
fn a_permission_is_a_dependency_of_the_inbounds_it_selects() {
    let generated = web_and_backend("http")
        .with_mtls()
        .permission("web-to-backend", 0, &["web"], json!({"service": "backend"}))
        .generated("backend-01");
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::TrafficPermission, "web-to-backend".to_string())));
}

// ---------------------------------------------------------------------------------------------
// Transparent proxying, Prometheus, TrafficLog, TrafficTrace

fn observed_mesh(mesh: Value, web_extra: Value) -> TestMesh {
    let mut web = json!({"networking": {"address": "10.0.0.1",
        "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"service": "web", "protocol": "http"}}],
        "outbound": [{"port": 10001, "service": "backend"}, {"port": 10002, "service": "db"}]}});
    if let (Some(web), Some(extra)) = (web.as_object_mut(), web_extra.as_object()) {
        for (k, v) in extra {
            if k == "networking" {
                for (nk, nv) in v.as_object().unwrap() {
                    web["networking"][nk] = nv.clone();
                }
            } else {
                web.insert(k.clone(), v.clone());
            }
        }
    }
    TestMesh::new()
        .with_mesh(mesh)
        .dp("web-01", web)
        .dp(
            "backend-01",
            json!({"networking": {"address": "10.0.0.2", "inbound": [{"port": 9000,
                "tags": {"service": "backend", "protocol": "http"}}]}}),
        )
        .dp(
            "db-01",
            json!({"networking": {"address": "10.0.0.3", "inbound": [{"port": 5432,
                "tags": {"service": "db", "protocol": "tcp"}}]}}),
        )
}

fn prometheus_mesh() -> Value {
    json!({"metrics": {"enabledBackend": "prom", "backends": [
        {"name": "prom", "type": "prometheus", "conf": {"port": 5670, "path": "/metrics"}}]}})
}

fn metrics_route(config: &ProxyConfig) -> Option<(u32, Route)> {
    let l = config
        .listeners
        .iter()
        .find(|l| l.name == "kuma:metrics:prometheus")?;
    let NetworkFilter::HttpConnectionManager(h) = &l.filter_chain.filters[0] else {
        panic!("an HTTP connection manager")
    };
    let HttpRoutes::Inline(rc) = &h.routes else {
        panic!("inline routes")
    };
    Some((l.port, rc.virtual_hosts[0].routes[0].clone()))
}

#[test]
fn transparent_proxying_unbinds_listeners_and_adds_the_catch_all() {
    let mesh = observed_mesh(
        prometheus_mesh(),
        json!({"networking": {"transparentProxying": {"redirectPort": 15001}}}),
    );
    let config = mesh
        .generated_for("web-01", &Node { admin_port: 9901 })
        .config;
    for l in &config.listeners {
        let redirected = l.name.starts_with("inbound:") || l.name.starts_with("outbound:");
        assert_eq!(l.bind_to_port, !redirected, "{}", l.name);
    }
    let catch_all = listener(&config, "catch_all");
    assert_eq!(
        (catch_all.address.as_str(), catch_all.port),
        ("0.0.0.0", 15001)
    );
    assert!(catch_all.use_original_dst && catch_all.bind_to_port);
    assert_eq!(
        catch_all.filter_chain.filters,
        vec![NetworkFilter::TcpProxy(TcpProxy {
            stat_prefix: "pass_through".into(),
            target: Target::Cluster("pass_through".into()),
            access_logs: vec![],
        })]
    );
    let pass_through = config.clusters.iter().find(|c| c.name == "pass_through");
    assert_eq!(
        pass_through.map(|c| &c.discovery),
        Some(&Discovery::OriginalDst)
    );
    // Without a redirect port nothing changes.
    let plain = observed_mesh(json!({}), json!({})).generate("web-01");
    assert!(plain
        .listeners
        .iter()
        .all(|l| l.bind_to_port && !l.use_original_dst));
    assert!(plain.listeners.iter().all(|l| l.name != "catch_all"));
}

#[test]
fn the_prometheus_endpoint_needs_the_backend_an_admin_port_and_a_free_port() {
    let node = Node { admin_port: 9901 };
    let config = observed_mesh(prometheus_mesh(), json!({}))
        .generated_for("web-01", &node)
        .config;
    let (port, route) = metrics_route(&config).expect("a metrics listener");
    assert_eq!(port, 5670);
    assert_eq!(route.prefix, "/metrics");
    assert_eq!(route.prefix_rewrite.as_deref(), Some("/stats/prometheus"));
    assert_eq!(route.target, Target::Cluster("kuma:envoy:admin".into()));
    let admin = config
        .clusters
        .iter()
        .find(|c| c.name == "kuma:envoy:admin")
        .expect("the admin cluster");
    let Discovery::Static(la) = &admin.discovery else {
        panic!("static")
    };
    assert_eq!(
        (&*la.endpoints[0].address, la.endpoints[0].port),
        ("127.0.0.1", 9901)
    );
    // No admin port, no enabled backend: nothing.
    let none = observed_mesh(prometheus_mesh(), json!({})).generate("web-01");
    assert!(metrics_route(&none).is_none());
    let disabled = json!({"metrics": {"backends": [{"name": "prom", "type": "prometheus"}]}});
    let none = observed_mesh(disabled, json!({}))
        .generated_for("web-01", &node)
        .config;
    assert!(metrics_route(&none).is_none());
    // The Dataplane overrides port and path, field by field.
    let own = observed_mesh(
        prometheus_mesh(),
        json!({"metrics": {"type": "prometheus", "conf": {"port": 7777}}}),
    )
    .generated_for("web-01", &node)
    .config;
    let (port, route) = metrics_route(&own).expect("a metrics listener");
    assert_eq!((port, route.prefix.as_str()), (7777, "/metrics"));
    // A port the Dataplane uses (its outbound 10001, its workload 8081) generates nothing.
    for taken in [10001, 8081, 8080] {
        let collides = observed_mesh(
            prometheus_mesh(),
            json!({"metrics": {"type": "prometheus", "conf": {"port": taken}}}),
        )
        .generated_for("web-01", &node)
        .config;
        assert!(metrics_route(&collides).is_none(), "port {taken}");
    }
}

#[test]
fn the_metrics_listener_has_no_tls_and_no_rbac_in_an_mtls_mesh() {
    let mut mesh = prometheus_mesh();
    mesh["mtls"] = json!({"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]});
    let config = observed_mesh(mesh, json!({}))
        .generated_for("web-01", &Node { admin_port: 9901 })
        .config;
    let metrics = listener(&config, "kuma:metrics:prometheus");
    assert_eq!(metrics.filter_chain.tls, None);
    assert_eq!(metrics.filter_chain.filters.len(), 1);
    assert!(listener(&config, "inbound:10.0.0.1:8080")
        .filter_chain
        .tls
        .is_some());
}

fn logging_mesh() -> Value {
    json!({"logging": {"defaultBackend": "file", "backends": [
        {"name": "file", "type": "file", "conf": {"path": "/var/log/access.log"}},
        {"name": "tcp", "type": "tcp", "format": "%KUMA_MESH% %REQ(X-Trace)% %KUMA_SOURCE_ADDRESS%",
         "conf": {"address": "logs:5000"}}]}})
}

fn access_logs_of<'a>(config: &'a ProxyConfig, name: &str) -> &'a [AccessLog] {
    match &listener(config, name).filter_chain.filters[0] {
        NetworkFilter::HttpConnectionManager(h) => &h.access_logs,
        NetworkFilter::TcpProxy(t) => &t.access_logs,
        NetworkFilter::Rbac(_) => panic!("no RBAC without mTLS"),
    }
}

#[test]
fn traffic_logs_go_on_the_outbounds_they_select_with_kumas_placeholders_substituted() {
    let mesh = observed_mesh(logging_mesh(), json!({}))
        .add(
            Kind::TrafficLog,
            "to-backend",
            0,
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "backend"}}]}),
        )
        .add(
            Kind::TrafficLog,
            "to-db",
            0,
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "db"}}], "conf": {"backend": "tcp"}}),
        );
    let generated = mesh.generated("web-01");
    let config = &generated.config;
    let [AccessLog::File { path, format }] = access_logs_of(config, "outbound:127.0.0.1:10001")
    else {
        panic!("one file log on the backend outbound")
    };
    assert_eq!(path, "/var/log/access.log");
    assert!(format
        .starts_with("[%START_TIME%] default \"%REQ(:method)% %REQ(x-envoy-original-path?:path)%"));
    assert!(format.ends_with("\"web\" \"backend\" \"10.0.0.1\" \"%UPSTREAM_HOST%\"\n"));
    assert_eq!(
        access_logs_of(config, "outbound:127.0.0.1:10002"),
        [AccessLog::Grpc {
            log_name: "logs:5000;default %REQ(x-trace)% 10.0.0.1:0\n".into(),
            request_headers: vec!["x-trace".into()],
            response_headers: vec![],
        }]
    );
    assert!(access_logs_of(config, "inbound:10.0.0.1:8080").is_empty());
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::TrafficLog, "to-db".to_string())));
    // A backend that does not exist logs nothing.
    let unknown = observed_mesh(logging_mesh(), json!({})).add(
        Kind::TrafficLog,
        "nowhere",
        0,
        json!({"sources": [{"match": {"service": "*"}}],
               "destinations": [{"match": {"service": "*"}}], "conf": {"backend": "nope"}}),
    );
    let config = unknown.generate("web-01");
    assert!(access_logs_of(&config, "outbound:127.0.0.1:10001").is_empty());
}

#[test]
fn the_pass_through_log_uses_the_tcp_default_and_names_the_destination_external() {
    let mesh = observed_mesh(
        logging_mesh(),
        json!({"networking": {"transparentProxying": {"redirectPort": 15001}}}),
    )
    .add(
        Kind::TrafficLog,
        "outside",
        0,
        json!({"sources": [{"match": {"service": "*"}}],
               "destinations": [{"match": {"service": "pass_through"}}]}),
    );
    let config = mesh.generate("web-01");
    let [AccessLog::File { format, .. }] = access_logs_of(&config, "catch_all") else {
        panic!("one log on catch_all")
    };
    assert!(format.contains("default 10.0.0.1(web)->%UPSTREAM_HOST%(external) took"));
    assert!(access_logs_of(&config, "outbound:127.0.0.1:10001").is_empty());
}

fn tracing_mesh(url: &str) -> Value {
    json!({"tracing": {"defaultBackend": "zipkin", "backends": [
        {"name": "zipkin", "type": "zipkin", "sampling": 12.5, "conf": {"url": url}}]}})
}

fn tracing_of(config: &ProxyConfig, name: &str) -> Option<Tracing> {
    match &listener(config, name).filter_chain.filters[0] {
        NetworkFilter::HttpConnectionManager(h) => h.tracing.clone(),
        _ => None,
    }
}

#[test]
fn a_traffic_trace_puts_zipkin_on_every_http_connection_manager() {
    let mesh = observed_mesh(
        tracing_mesh("http://127.0.0.1:9411/api/v2/spans"),
        json!({}),
    )
    .add(
        Kind::TrafficTrace,
        "all",
        0,
        json!({"selectors": [{"match": {"service": "*"}}]}),
    );
    let generated = mesh.generated("web-01");
    let expected = Tracing {
        sampling: Some(Percent(12.5)),
        zipkin: Zipkin {
            collector_cluster: "zipkin".into(),
            collector_endpoint: "/api/v2/spans".into(),
            trace_id_128bit: false,
            version: ZipkinVersion::HttpJson,
        },
    };
    assert_eq!(
        tracing_of(&generated.config, "inbound:10.0.0.1:8080"),
        Some(expected.clone())
    );
    assert_eq!(
        tracing_of(&generated.config, "outbound:127.0.0.1:10001"),
        Some(expected)
    );
    let collector = generated
        .config
        .clusters
        .iter()
        .find(|c| c.name == "zipkin")
        .expect("the collector's cluster");
    let Discovery::StrictDns(la) = &collector.discovery else {
        panic!("strict DNS")
    };
    assert_eq!(
        (&*la.endpoints[0].address, la.endpoints[0].port),
        ("127.0.0.1", 9411)
    );
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::TrafficTrace, "all".to_string())));
    // Zipkin's v1 path becomes v2's (X17); a dataplane the trace does not select: nothing.
    let v1 = observed_mesh(tracing_mesh("http://z:9411/api/v1/spans"), json!({})).add(
        Kind::TrafficTrace,
        "only-db",
        0,
        json!({"selectors": [{"match": {"service": "db"}}]}),
    );
    assert_eq!(
        tracing_of(&v1.generate("web-01"), "inbound:10.0.0.1:8080"),
        None
    );
    let v1 = v1.add(
        Kind::TrafficTrace,
        "web",
        0,
        json!({"selectors": [{"match": {"service": "web"}}]}),
    );
    let traced = tracing_of(&v1.generate("web-01"), "inbound:10.0.0.1:8080").expect("traced");
    assert_eq!(traced.zipkin.collector_endpoint, "/api/v2/spans");
}

fn http_filters_of(config: &ProxyConfig, name: &str) -> Vec<HttpFilter> {
    match filter(config, name) {
        NetworkFilter::HttpConnectionManager(h) => h.http_filters.clone(),
        _ => Vec::new(),
    }
}

fn fault_mesh(protocol: &str, conf: Value) -> TestMesh {
    web_and_backend(protocol).add(
        Kind::FaultInjection,
        "slow-web",
        0,
        json!({"sources": [{"match": {"service": "web", "protocol": "http"}}],
               "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
               "conf": conf}),
    )
}

#[test]
fn a_fault_injection_goes_before_the_router_of_the_http_inbounds_it_selects() {
    let mesh = fault_mesh(
        "http",
        json!({"delay": {"percentage": 50.5, "value": "300ms"},
               "abort": {"percentage": 100, "httpStatus": 503},
               "responseBandwidth": {"percentage": 0.001, "limit": "2mbps"}}),
    );
    let generated = mesh.generated("backend-01");
    let filters = http_filters_of(&generated.config, "inbound:10.0.0.2:9000");
    let [HttpFilter::Fault(fault), HttpFilter::Router] = filters.as_slice() else {
        panic!("fault then router: {filters:?}")
    };
    assert_eq!(
        fault.tags_regex.as_deref(),
        Some(r".*&protocol=[^&]*http[,&].*&service=[^&]*web[,&].*")
    );
    assert_eq!(
        fault.delay,
        Some(FaultDelay {
            fixed: Duration::from_millis(300),
            percentage: Fraction {
                numerator: 5050,
                denominator: Denominator::TenThousand
            },
        })
    );
    assert_eq!(
        fault.abort,
        Some(FaultAbort {
            http_status: 503,
            percentage: Fraction {
                numerator: 100,
                denominator: Denominator::Hundred
            },
        })
    );
    assert_eq!(
        fault.response_rate_limit,
        Some(FaultRateLimit {
            limit_kbps: 2000,
            percentage: Fraction {
                numerator: 10,
                denominator: Denominator::Million
            },
        })
    );
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::FaultInjection, "slow-web".to_string())));
    // The caller's side and its outbound are untouched.
    let web = mesh.generate("web-01");
    assert_eq!(
        http_filters_of(&web, "inbound:10.0.0.1:8080"),
        [HttpFilter::Router]
    );
    assert_eq!(
        http_filters_of(&web, "outbound:127.0.0.1:10001"),
        [HttpFilter::Router]
    );
}

#[test]
fn a_tcp_inbound_never_gets_the_fault_filter() {
    let mesh = fault_mesh(
        "tcp",
        json!({"abort": {"percentage": 100, "httpStatus": 503}}),
    );
    let config = mesh.generate("backend-01");
    assert!(matches!(
        filter(&config, "inbound:10.0.0.2:9000"),
        NetworkFilter::TcpProxy(_)
    ));
}

#[test]
fn a_health_check_goes_on_every_cluster_of_its_destination_service() {
    let mesh = split_90_10(web_and_backend("http")).add(
        Kind::HealthCheck,
        "backend-hc",
        0,
        json!({"sources": [{"match": {"service": "web"}}],
               "destinations": [{"match": {"service": "backend"}}],
               "conf": {"activeChecks": {"interval": "2s", "timeout": "500ms",
                                         "unhealthyThreshold": 3, "healthyThreshold": 1},
                        "passiveChecks": {"unhealthyThreshold": 5, "penaltyInterval": "10s"}}}),
    );
    let generated = mesh.generated("web-01");
    let expected = Health {
        active: Some(ActiveHealthCheck {
            interval: Duration::from_secs(2),
            timeout: Duration::from_millis(500),
            unhealthy_threshold: 3,
            healthy_threshold: 1,
        }),
        outlier_detection: Some(OutlierDetection {
            interval: Some(Duration::from_secs(10)),
            consecutive_5xx: 5,
        }),
    };
    let backend_clusters: Vec<_> = generated
        .config
        .clusters
        .iter()
        .filter(|c| c.name.starts_with("backend"))
        .collect();
    assert_eq!(backend_clusters.len(), 2, "{backend_clusters:?}");
    for cluster in backend_clusters {
        assert_eq!(cluster.health, expected, "{}", cluster.name);
    }
    let local = generated
        .config
        .clusters
        .iter()
        .find(|c| c.name == "localhost:8081")
        .expect("the local cluster");
    assert_eq!(local.health, Health::default());
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::HealthCheck, "backend-hc".to_string())));
    // Sources that do not select the caller: no health checks.
    let other = web_and_backend("http").add(
        Kind::HealthCheck,
        "from-db",
        0,
        json!({"sources": [{"match": {"service": "db"}}],
               "destinations": [{"match": {"service": "backend"}}],
               "conf": {"passiveChecks": {"unhealthyThreshold": 5, "penaltyInterval": "10s"}}}),
    );
    let config = other.generate("web-01");
    assert!(config
        .clusters
        .iter()
        .all(|c| c.health == Health::default()));
}

fn template_mesh() -> TestMesh {
    TestMesh::new()
        .dp(
            "web-01",
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 8080, "servicePort": 8081, "tags": {"service": "web", "version": "v1"}}],
                "outbound": [{"port": 10001, "service": "backend"}]}}),
        )
        .dp(
            "backend-01",
            json!({"networking": {"address": "10.0.0.2",
                "inbound": [{"port": 9000, "tags": {"service": "backend"}}]}}),
        )
}

fn raw_cluster(name: &str) -> Value {
    json!({"name": name, "version": "v1",
        "resource": format!("'@type': envoy.config.cluster.v3.Cluster\nname: {name}\nconnect_timeout: 2s")})
}

fn raw_names(config: &ProxyConfig) -> Vec<(TypeUrl, &str)> {
    config
        .raw
        .iter()
        .map(|r| (r.type_url, r.name.as_str()))
        .collect()
}

#[test]
fn the_best_selecting_proxy_template_alone_applies() {
    let mesh = template_mesh()
        .add(
            Kind::ProxyTemplate,
            "for-web",
            0,
            json!({"selectors": [{"match": {"service": "web"}}],
                   "conf": {"imports": ["default-proxy"], "resources": [raw_cluster("from-web")]}}),
        )
        .add(
            Kind::ProxyTemplate,
            "for-web-v1",
            1,
            json!({"selectors": [{"match": {"service": "web", "version": "v1"}}],
                   "conf": {"imports": ["default-proxy"], "resources": [raw_cluster("from-web-v1")]}}),
        );
    let generated = mesh.generated("web-01");
    // Templates never merge: the more specific one wins (xDS §3.0, rule A).
    assert_eq!(
        raw_names(&generated.config),
        [(TypeUrl::Cluster, "from-web-v1")]
    );
    assert!(generated
        .deps
        .policies
        .contains(&(Kind::ProxyTemplate, "for-web-v1".to_string())));
    // With the default profile the generated resources stay.
    assert!(cluster_names(&generated.config).contains(&"backend"));
    assert_eq!(
        listener(&generated.config, "inbound:10.0.0.1:8080").port,
        8080
    );
    // backend-01 is selected by none: the default profile, no raw resource.
    let backend = mesh.generate("backend-01");
    assert!(backend.raw.is_empty());
    assert_eq!(backend, template_mesh().generate("backend-01"));
}

#[test]
fn a_template_without_the_default_profile_keeps_only_its_raw_resources() {
    let mesh = template_mesh().add(
        Kind::ProxyTemplate,
        "raw-only",
        0,
        json!({"selectors": [{"match": {"service": "web"}}],
               "conf": {"resources": [raw_cluster("b"), raw_cluster("a"), raw_cluster("a")]}}),
    );
    let config = mesh.generate("web-01");
    assert!(config.listeners.is_empty() && config.clusters.is_empty());
    assert!(config.load_assignments.is_empty() && config.route_configs.is_empty());
    // Sorted by type and name, one of each name.
    assert_eq!(
        raw_names(&config),
        [(TypeUrl::Cluster, "a"), (TypeUrl::Cluster, "b")]
    );
    // A template that gives nothing at all leaves nothing (Kuma's rule).
    let empty = template_mesh().add(
        Kind::ProxyTemplate,
        "nothing",
        0,
        json!({"selectors": [{"match": {"service": "web"}}]}),
    );
    assert!(empty.generate("web-01").is_empty());
}
