//! xDS §2.3: per outbound, the EDS clusters of its route's branches with their shared
//! endpoints, a listener, and for HTTP the route configuration carrying the caller's
//! `x-kuma-tags`.

use crate::selector::SERVICE_TAG;
use crate::xds::model::{
    Cluster, Direction, Discovery, FilterChain, Header, HttpConnectionManager, HttpFilter,
    HttpRoutes, Listener, NetworkFilter, Route, RouteConfig, Target, TcpProxy, VirtualHost,
    WeightedCluster,
};
use crate::xds::names::{
    alt_stat_name, cluster_name, resolve_outbound, sanitize, serialize_tags, Protocol,
    CONNECT_TIMEOUT, TAGS_HEADER,
};

use super::{Builder, Input, Resources};

/// Adds the outbound listeners, their clusters, endpoints and routes.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let mut out = Resources::default();
    let mut own_tags: Option<String> = None;
    for outbound in &input.networking.outbound {
        let Some((ip, port)) = resolve_outbound(outbound) else {
            continue;
        };
        let service = outbound.service.as_str();
        let Some(route) = builder.routes.get(service) else {
            continue;
        };
        let mut branches = Vec::new();
        let mut protocol: Option<Protocol> = None;
        for branch in route.conf.iter() {
            if branch.weight == 0 || !branch.destination.contains_key(SERVICE_TAG) {
                continue;
            }
            let name = cluster_name(&branch.destination);
            let endpoints = input.endpoints.cluster(&name, &branch.destination);
            protocol = match (protocol, endpoints.protocol) {
                (Some(a), Some(b)) => Some(a.combine(b)),
                (a, b) => a.or(b),
            };
            out.cluster(Cluster {
                alt_stat_name: alt_stat_name(&name),
                connect_timeout: CONNECT_TIMEOUT,
                discovery: Discovery::Eds,
                name: name.clone(),
                tls: None,
                health: Default::default(),
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
            let tags = own_tags.get_or_insert_with(|| serialize_tags(input.spec));
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
                access_logs: Vec::new(),
                tracing: None,
            })
        } else {
            NetworkFilter::TcpProxy(TcpProxy {
                stat_prefix,
                target,
                access_logs: Vec::new(),
            })
        };
        out.listener(Listener::new(
            format!("outbound:{ip}:{port}"),
            ip,
            port,
            Direction::Outbound,
            FilterChain {
                filters: vec![filter],
                tls: None,
            },
        ));
    }
    builder.resources.overlay(out);
}

/// A virtual host of `service` sending everything (`/`) to `target`.
pub fn virtual_host(service: &str, target: Target) -> VirtualHost {
    VirtualHost {
        name: service.to_string(),
        domains: vec!["*".to_string()],
        routes: vec![Route {
            prefix: "/".to_string(),
            target,
            prefix_rewrite: None,
        }],
    }
}
