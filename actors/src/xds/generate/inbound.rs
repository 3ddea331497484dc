//! xDS §2.2: one local STATIC cluster and one listener per inbound; HTTP inbounds get an
//! HTTP connection manager that drops the caller's `x-kuma-tags`, others a TCP proxy.

use crate::selector::SERVICE_TAG;
use crate::xds::model::{
    Cluster, Direction, Discovery, Endpoint, FilterChain, HttpConnectionManager, HttpFilter,
    HttpRoutes, Listener, LoadAssignment, NetworkFilter, RouteConfig, Target, TcpProxy,
};
use crate::xds::names::{
    alt_stat_name, sanitize, InboundIface, Protocol, CONNECT_TIMEOUT, TAGS_HEADER,
};

use crate::kinds::{ConnectionPolicy, KindSpec};
use crate::xds::policy::{self, Typed};

use super::outbound::virtual_host;
use super::{Builder, Input, Resources};

/// Adds the inbound listeners and their local clusters.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let mut out = Resources::default();
    for inbound in &input.networking.inbound {
        let Some(iface) = InboundIface::resolve(input.networking, inbound) else {
            continue;
        };
        let local = format!("localhost:{}", iface.workload_port);
        out.cluster(Cluster {
            alt_stat_name: alt_stat_name(&local),
            connect_timeout: CONNECT_TIMEOUT,
            discovery: Discovery::Static(LoadAssignment {
                cluster_name: local.clone(),
                endpoints: vec![Endpoint {
                    address: "127.0.0.1".into(),
                    port: iface.workload_port,
                    tags: Default::default(),
                }],
            }),
            name: local.clone(),
            tls: None,
            health: Default::default(),
        });
        let stat_prefix = sanitize(&local);
        let filter = if Protocol::of(&inbound.tags) == Protocol::Http {
            let service = inbound.tags.get(SERVICE_TAG).map_or("", String::as_str);
            NetworkFilter::HttpConnectionManager(HttpConnectionManager {
                stat_prefix,
                http_filters: vec![HttpFilter::Router],
                access_logs: Vec::new(),
                tracing: None,
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
                access_logs: Vec::new(),
            })
        };
        out.listener(Listener::new(
            format!("inbound:{}:{}", iface.ip, iface.dataplane_port),
            iface.ip,
            iface.dataplane_port,
            Direction::Inbound,
            FilterChain {
                filters: vec![filter],
                tls: None,
            },
        ));
    }
    builder.resources.overlay(out);
}

/// The listener name of each resolvable inbound with the policy of kind `P` that selects it
/// best (matcher C), in inbound order.
pub fn with_inbound_policies<'a, P: ConnectionPolicy + KindSpec + 'static>(
    input: &Input<'a>,
) -> Vec<(String, Option<Typed<'a, P>>)> {
    let inbounds: Vec<_> = input
        .networking
        .inbound
        .iter()
        .filter_map(|i| InboundIface::resolve(input.networking, i).map(|iface| (i, iface)))
        .collect();
    let tags: Vec<_> = inbounds.iter().map(|(i, _)| &i.tags).collect();
    let selected = policy::select_inbound_policies(input.state.typed::<P>(), &tags);
    inbounds
        .into_iter()
        .zip(selected)
        .map(|((_, iface), chosen)| {
            (
                format!("inbound:{}:{}", iface.ip, iface.dataplane_port),
                chosen,
            )
        })
        .collect()
}
