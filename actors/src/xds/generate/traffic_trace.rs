//! xDS §3.7 with X8: the one TrafficTrace that selects the Dataplane (matcher A) names a mesh
//! tracing backend (or the default one); every HTTP connection manager of its inbounds and
//! outbounds traces with that backend's sampling, and reports to a Zipkin collector whose
//! cluster is served over CDS. Kuma configures the tracer in the bootstrap only; here it sits
//! on each connection manager, so a change applies without restarting Envoy.

use std::time::Duration;

use crate::backend_conf::TypedConf;
use crate::gostd;
use crate::kinds::mesh::TracingBackend;
use crate::kinds::traffic_trace::TrafficTraceSpec;
use crate::kinds::{Kind, Spec};
use crate::xds::model::{
    Cluster, Discovery, Endpoint, LoadAssignment, NetworkFilter, Percent, Tracing, Zipkin,
    ZipkinVersion,
};
use crate::xds::policy;

use super::{Builder, Input, Resources};

/// Kuma's connect timeout of a collector cluster.
const COLLECTOR_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Puts tracing on the proxy's connection managers and adds the collector's cluster.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let Some((trace, _)) =
        policy::select_dataplane_policy(input.state.typed::<TrafficTraceSpec>(), input.spec)
    else {
        return;
    };
    builder
        .deps
        .policies
        .insert((Kind::TrafficTrace, trace.meta.name.clone()));
    let Some(backend) = backend(input, trace) else {
        return;
    };
    let Some(collector) = zipkin(backend) else {
        tracing::debug!(backend = %backend.name, "tracing backend not usable; no tracing");
        return;
    };
    let tracing = Tracing {
        sampling: backend.sampling.map(Percent),
        zipkin: collector.zipkin,
    };
    for listener in builder.resources.listeners.values_mut() {
        if !(listener.name.starts_with("inbound:") || listener.name.starts_with("outbound:")) {
            continue;
        }
        for filter in &mut listener.filter_chain.filters {
            if let NetworkFilter::HttpConnectionManager(hcm) = filter {
                hcm.tracing = Some(tracing.clone());
            }
        }
    }
    let mut out = Resources::default();
    out.cluster(collector.cluster);
    builder.resources.overlay(out);
}

/// The tracing backend the TrafficTrace names, or the mesh's default when it names none.
fn backend<'a>(input: &Input<'a>, trace: &crate::Resource) -> Option<&'a TracingBackend> {
    let Spec::Mesh(mesh) = &input.state.mesh.spec else {
        return None;
    };
    let Spec::TrafficTrace(spec) = &trace.spec else {
        return None;
    };
    let tracing = mesh.tracing.as_ref()?;
    let wanted = match spec.conf.as_ref().map(|c| c.backend.as_str()) {
        Some(name) if !name.is_empty() => name,
        _ => tracing.default_backend.as_str(),
    };
    tracing.backends.iter().find(|b| b.name == wanted)
}

/// A Zipkin collector: the provider and the cluster it reports to.
struct Collector {
    zipkin: Zipkin,
    cluster: Cluster,
}

/// The collector of a `zipkin` backend, `None` when its conf cannot be used (validated at
/// PUT, so only a backend of another type).
fn zipkin(backend: &TracingBackend) -> Option<Collector> {
    if backend.type_ != "zipkin" {
        return None;
    }
    let mut conf = TypedConf::new(backend.conf.as_ref(), "v1alpha1.ZipkinTracingBackendConfig");
    let url = conf.string(&["url"]).ok()?;
    let trace_id_128bit = conf.bool(&["traceId128bit"]).ok()?;
    let api_version = conf.string(&["apiVersion"]).ok()?;
    let (host, port, path) = split_url(&url)?;
    // X17: Envoy 1.40 speaks no v1 JSON; v2 JSON goes to v2's path, which collectors that
    // speak v1 serve too.
    let (version, path) = match api_version.as_str() {
        "httpProto" => (ZipkinVersion::HttpProto, path),
        "httpJsonV1" => (ZipkinVersion::HttpJson, v2_path(path)),
        "" if path == V1_SPANS => (ZipkinVersion::HttpJson, v2_path(path)),
        _ => (ZipkinVersion::HttpJson, path),
    };
    Some(Collector {
        zipkin: Zipkin {
            collector_cluster: backend.name.clone(),
            collector_endpoint: path,
            trace_id_128bit,
            version,
        },
        cluster: Cluster {
            name: backend.name.clone(),
            alt_stat_name: crate::xds::names::alt_stat_name(&backend.name),
            connect_timeout: COLLECTOR_CONNECT_TIMEOUT,
            discovery: Discovery::StrictDns(LoadAssignment {
                cluster_name: backend.name.clone(),
                endpoints: vec![Endpoint {
                    address: host.into(),
                    port,
                    tags: Default::default(),
                }],
            }),
            tls: None,
            health: Default::default(),
        },
    })
}

/// Zipkin's v1 span path.
const V1_SPANS: &str = "/api/v1/spans";

fn v2_path(path: String) -> String {
    if path == V1_SPANS {
        "/api/v2/spans".to_string()
    } else {
        path
    }
}

/// Host, port and path of `scheme://host:port/path` (the port is mandatory, as at PUT).
fn split_url(url: &str) -> Option<(String, u32, String)> {
    let (_, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let path = path
        .split('?')
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let authority = authority.rsplit('@').next()?;
    let (host, port) = gostd::split_host_port(authority).ok()?;
    let port = gostd::parse_port(port).filter(|p| *p != 0)?;
    (!host.is_empty()).then(|| (host.to_string(), port, path.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_collector_url_splits_into_host_port_and_path() {
        assert_eq!(
            split_url("http://zipkin.local:9411/api/v2/spans"),
            Some(("zipkin.local".into(), 9411, "/api/v2/spans".into()))
        );
        assert_eq!(
            split_url("http://[::1]:9411"),
            Some(("::1".into(), 9411, "/".into()))
        );
        assert_eq!(split_url("http://zipkin.local/api/v2/spans"), None);
        assert_eq!(split_url("zipkin:9411"), None);
    }
}
