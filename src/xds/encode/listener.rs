//! [`Listener`] → `envoy.config.listener.v3.Listener`, with canonical filter names and
//! `typed_config` (X9).

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::config::listener::v3 as listener;
use envoy_types::pb::envoy::config::rbac::v3 as rbac;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3 as network_rbac;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3 as tcp;
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::util::pack_any;
use ursa_actors::xds::model::{
    Direction, FilterChain, HttpConnectionManager, HttpFilter, HttpRoutes, Listener, NetworkFilter,
    Principal, Rbac, Target, TcpProxy,
};

use super::access_log::{access_logs, Entries};
use super::route::route_configuration;
use super::{ads, socket_address};

/// Canonical name of the TCP proxy network filter.
pub const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";
/// Canonical name of the HTTP connection manager network filter.
pub const HTTP_CONNECTION_MANAGER: &str = "envoy.filters.network.http_connection_manager";
/// Canonical name of the network RBAC filter.
pub const RBAC: &str = "envoy.filters.network.rbac";
/// Canonical name of the router HTTP filter.
pub const ROUTER: &str = "envoy.filters.http.router";

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
        // Unset is Envoy's default, true: only a listener that must not bind says so.
        bind_to_port: (!l.bind_to_port).then_some(BoolValue { value: false }),
        use_original_dst: l.use_original_dst.then_some(BoolValue { value: true }),
        ..Default::default()
    }
}

fn filter_chain(chain: &FilterChain) -> listener::FilterChain {
    listener::FilterChain {
        filters: chain.filters.iter().map(network_filter).collect(),
        transport_socket: chain.tls.as_ref().map(super::tls::downstream),
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
        NetworkFilter::Rbac(r) => (RBAC, pack_any(network_rbac_filter(r))),
    };
    listener::Filter {
        name: name.to_string(),
        config_type: Some(listener::filter::ConfigType::TypedConfig(config)),
    }
}

/// xDS §3.2: ALLOW with at most one policy (Kuma selects one TrafficPermission), granting any
/// permission to its principals; no policy denies every connection. (One policy at most also
/// keeps the encoding deterministic: prost writes a map in its iteration order.)
fn network_rbac_filter(r: &Rbac) -> network_rbac::Rbac {
    use envoy_types::pb::envoy::r#type::matcher::v3::{
        string_matcher::MatchPattern, StringMatcher,
    };
    use rbac::{permission, principal};
    let policies = r
        .policies
        .iter()
        .map(|p| {
            let principals = p
                .principals
                .iter()
                .map(|who| rbac::Principal {
                    identifier: Some(match who {
                        Principal::Any => principal::Identifier::Any(true),
                        Principal::Authenticated(name) => {
                            principal::Identifier::Authenticated(principal::Authenticated {
                                principal_name: Some(StringMatcher {
                                    match_pattern: Some(MatchPattern::Exact(name.clone())),
                                    ignore_case: false,
                                }),
                            })
                        }
                    }),
                })
                .collect();
            let policy = rbac::Policy {
                permissions: vec![rbac::Permission {
                    rule: Some(permission::Rule::Any(true)),
                }],
                principals,
                ..Default::default()
            };
            (p.name.clone(), policy)
        })
        .collect();
    network_rbac::Rbac {
        rules: Some(rbac::Rbac {
            action: rbac::rbac::Action::Allow as i32,
            policies,
            ..Default::default()
        }),
        stat_prefix: r.stat_prefix.clone(),
        ..Default::default()
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
        access_log: access_logs(&t.access_logs, Entries::Tcp),
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
        access_log: access_logs(&h.access_logs, Entries::Http),
        tracing: h.tracing.as_ref().map(super::trace::tracing),
        ..Default::default()
    }
}

fn http_filter(filter: &HttpFilter) -> hcm::HttpFilter {
    let (name, config) = match filter {
        HttpFilter::Fault(f) => (super::fault::FAULT, pack_any(super::fault::http_fault(f))),
        HttpFilter::Router => (ROUTER, pack_any(Router::default())),
    };
    hcm::HttpFilter {
        name: name.to_string(),
        config_type: Some(hcm::http_filter::ConfigType::TypedConfig(config)),
        ..Default::default()
    }
}
