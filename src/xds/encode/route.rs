//! [`RouteConfig`] → `envoy.config.route.v3.RouteConfiguration`.

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::config::route::v3 as route;
use envoy_types::pb::google::protobuf as pb;
use ursa_actors::xds::model::{self, RouteConfig, Target};

/// The v3 RouteConfiguration of `r`.
pub fn route_configuration(r: &RouteConfig) -> route::RouteConfiguration {
    route::RouteConfiguration {
        name: r.name.clone(),
        virtual_hosts: r
            .virtual_hosts
            .iter()
            .map(|vh| route::VirtualHost {
                name: vh.name.clone(),
                domains: vh.domains.clone(),
                routes: vh.routes.iter().map(route).collect(),
                ..Default::default()
            })
            .collect(),
        request_headers_to_add: r
            .request_headers_to_add
            .iter()
            .map(|h| core::HeaderValueOption {
                header: Some(core::HeaderValue {
                    key: h.name.clone(),
                    value: h.value.clone(),
                    ..Default::default()
                }),
                append_action: core::header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd
                    as i32,
                ..Default::default()
            })
            .collect(),
        request_headers_to_remove: r.request_headers_to_remove.clone(),
        validate_clusters: r.validate_clusters.then_some(pb::BoolValue { value: true }),
        ..Default::default()
    }
}

fn route(r: &model::Route) -> route::Route {
    use route::route_action::ClusterSpecifier;
    let specifier = match &r.target {
        Target::Cluster(name) => ClusterSpecifier::Cluster(name.clone()),
        Target::Weighted(clusters) => ClusterSpecifier::WeightedClusters(route::WeightedCluster {
            clusters: clusters
                .iter()
                .map(|c| route::weighted_cluster::ClusterWeight {
                    name: c.name.clone(),
                    weight: Some(pb::UInt32Value { value: c.weight }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    route::Route {
        r#match: Some(route::RouteMatch {
            path_specifier: Some(route::route_match::PathSpecifier::Prefix(r.prefix.clone())),
            ..Default::default()
        }),
        action: Some(route::route::Action::Route(route::RouteAction {
            cluster_specifier: Some(specifier),
            prefix_rewrite: r.prefix_rewrite.clone().unwrap_or_default(),
            ..Default::default()
        })),
        ..Default::default()
    }
}
