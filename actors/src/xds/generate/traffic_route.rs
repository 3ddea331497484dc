//! xDS §3.1: the TrafficRoute of each outbound service (matcher B), or the implicit default
//! route; the `outbound` phase builds listeners and clusters from these decisions.

use crate::kinds::traffic_route::TrafficRouteSpec;
use crate::kinds::Kind;
use crate::selector::SERVICE_TAG;
use crate::xds::policy;

use super::{Builder, Input};

/// Decides the route of every outbound service.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    if input.networking.outbound.is_empty() {
        return;
    }
    let services: Vec<&str> = input
        .networking
        .outbound
        .iter()
        .map(|o| o.service.as_str())
        .collect();
    let routes = policy::select_traffic_routes(
        input.state.typed::<TrafficRouteSpec>(),
        input.spec,
        &services,
    );
    for route in routes.values() {
        if let Some(p) = route.policy {
            builder
                .deps
                .policies
                .insert((Kind::TrafficRoute, p.meta.name.clone()));
        }
        for branch in route.conf.iter() {
            if let Some(service) = branch.destination.get(SERVICE_TAG) {
                builder.deps.services.insert(service.clone());
            }
        }
    }
    builder.routes = routes;
}
