//! xDS §2.6: when the Mesh enables a prometheus metrics backend and the proxy has an admin
//! port, a listener on the backend's port (the Dataplane may override port and path) serves
//! Envoy's `/stats/prometheus` through a cluster to the admin port on loopback. A port the
//! Dataplane already uses (an inbound, its workload or an outbound) generates nothing, as in
//! Kuma: the listener would not bind.

use crate::kinds::mesh::{DEFAULT_PROMETHEUS_PATH, DEFAULT_PROMETHEUS_PORT, PROMETHEUS};
use crate::kinds::Spec;
use crate::proto::Struct;
use crate::xds::model::{
    Cluster, Direction, Discovery, Endpoint, FilterChain, HttpConnectionManager, HttpFilter,
    HttpRoutes, Listener, LoadAssignment, NetworkFilter, Route, RouteConfig, Target, VirtualHost,
};
use crate::xds::names::{resolve_outbound, InboundIface, CONNECT_TIMEOUT};

use super::{Builder, Input, Resources};

/// The cluster of Envoy's own admin API.
pub const ADMIN_CLUSTER: &str = "kuma:envoy:admin";
/// The listener serving the metrics.
pub const LISTENER: &str = "kuma:metrics:prometheus";

/// Adds the metrics listener and the admin cluster.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    if input.node.admin_port == 0 {
        return;
    }
    let Some((port, path)) = endpoint(input) else {
        return;
    };
    if uses_port(input, port) {
        return;
    }
    let mut out = Resources::default();
    out.cluster(Cluster {
        name: ADMIN_CLUSTER.to_string(),
        alt_stat_name: Some("kuma_envoy_admin".to_string()),
        connect_timeout: CONNECT_TIMEOUT,
        // Loopback whatever address the node reports: the admin API is never reached remotely.
        discovery: Discovery::Static(LoadAssignment {
            cluster_name: ADMIN_CLUSTER.to_string(),
            endpoints: vec![Endpoint {
                address: "127.0.0.1".into(),
                port: input.node.admin_port,
                tags: Default::default(),
            }],
        }),
        tls: None,
        health: Default::default(),
    });
    let routes = RouteConfig {
        name: String::new(),
        validate_clusters: false,
        request_headers_to_add: Vec::new(),
        request_headers_to_remove: Vec::new(),
        virtual_hosts: vec![VirtualHost {
            name: "envoy_admin".to_string(),
            domains: vec!["*".to_string()],
            routes: vec![Route {
                prefix: path,
                target: Target::Cluster(ADMIN_CLUSTER.to_string()),
                prefix_rewrite: Some("/stats/prometheus".to_string()),
            }],
        }],
    };
    out.listener(Listener::new(
        LISTENER.to_string(),
        "0.0.0.0".to_string(),
        port,
        Direction::Inbound,
        FilterChain {
            filters: vec![NetworkFilter::HttpConnectionManager(
                HttpConnectionManager {
                    stat_prefix: "kuma_metrics_prometheus".to_string(),
                    http_filters: vec![HttpFilter::Router],
                    routes: HttpRoutes::Inline(routes),
                    access_logs: Vec::new(),
                    tracing: None,
                },
            )],
            tls: None,
        },
    ));
    builder.resources.overlay(out);
}

/// Port and path of the enabled prometheus backend, each overridden by the Dataplane's own
/// prometheus `metrics.conf` when it sets them.
fn endpoint(input: &Input<'_>) -> Option<(u32, String)> {
    let Spec::Mesh(mesh) = &input.state.mesh.spec else {
        return None;
    };
    let metrics = mesh.metrics.as_ref()?;
    let backend = metrics
        .backends
        .iter()
        .find(|b| b.name == metrics.enabled_backend && b.type_ == PROMETHEUS)?;
    let (mut port, mut path) = conf(backend.conf.as_ref());
    if let Some(own) = &input.spec.metrics {
        if own.type_.is_empty() || own.type_ == PROMETHEUS {
            let (p, q) = conf(own.conf.as_ref());
            port = p.or(port);
            path = q.or(path);
        }
    }
    Some((
        port.unwrap_or(DEFAULT_PROMETHEUS_PORT),
        path.unwrap_or_else(|| DEFAULT_PROMETHEUS_PATH.to_string()),
    ))
}

/// The non-zero port and non-empty path of a prometheus `conf` (validated at PUT).
fn conf(conf: Option<&Struct>) -> (Option<u32>, Option<String>) {
    let Some(conf) = conf else {
        return (None, None);
    };
    let port = conf
        .get("port")
        .and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        })
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p != 0);
    let path = conf
        .get("path")
        .and_then(|v| v.as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    (port, path)
}

/// Whether the Dataplane listens on or forwards to `port` anywhere (Kuma's `UsesInterface`,
/// with the metrics listener on every address).
fn uses_port(input: &Input<'_>, port: u32) -> bool {
    let inbound = input.networking.inbound.iter().any(|i| {
        InboundIface::resolve(input.networking, i)
            .is_some_and(|iface| iface.dataplane_port == port || iface.workload_port == port)
    });
    inbound
        || input
            .networking
            .outbound
            .iter()
            .filter_map(resolve_outbound)
            .any(|(_, p)| p == port)
}
