//! [`Tracing`] → the `tracing` of an HTTP connection manager, with its Zipkin provider on the
//! manager itself rather than in the bootstrap, so a change applies without restarting Envoy
//! (X8).

use envoy_types::pb::envoy::config::trace::v3 as trace;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::r#type::v3 as types;
use envoy_types::util::pack_any;
use ursa_actors::xds::model::{Tracing, ZipkinVersion};

/// Canonical name of the Zipkin tracer.
pub const ZIPKIN: &str = "envoy.tracers.zipkin";

/// The connection manager's tracing of `t`.
pub fn tracing(t: &Tracing) -> hcm::http_connection_manager::Tracing {
    let zipkin = trace::ZipkinConfig {
        collector_cluster: t.zipkin.collector_cluster.clone(),
        collector_endpoint: t.zipkin.collector_endpoint.clone(),
        trace_id_128bit: t.zipkin.trace_id_128bit,
        collector_endpoint_version: match t.zipkin.version {
            ZipkinVersion::HttpJson => trace::zipkin_config::CollectorEndpointVersion::HttpJson,
            ZipkinVersion::HttpProto => trace::zipkin_config::CollectorEndpointVersion::HttpProto,
        } as i32,
        ..Default::default()
    };
    hcm::http_connection_manager::Tracing {
        overall_sampling: t.sampling.map(|p| types::Percent { value: p.0 }),
        provider: Some(trace::tracing::Http {
            name: ZIPKIN.to_string(),
            config_type: Some(trace::tracing::http::ConfigType::TypedConfig(pack_any(
                zipkin,
            ))),
        }),
        ..Default::default()
    }
}
