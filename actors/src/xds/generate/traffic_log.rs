//! xDS §3.6: the TrafficLog of each outbound service, and of `pass_through` for the
//! transparent proxy's `catch_all` (matcher B), names a mesh logging backend (or the default
//! one); the outbound's connection manager or TCP proxy logs to it. Kuma's placeholders are
//! substituted here, so the agent and Envoy see a plain Envoy format. Inbounds never log.

use crate::backend_conf::TypedConf;
use crate::kinds::mesh::LoggingBackend;
use crate::kinds::traffic_log::TrafficLogSpec;
use crate::kinds::{Kind, Spec};
use crate::xds::model::{AccessLog, NetworkFilter};
use crate::xds::names::{identifying_service, resolve_outbound, InboundIface};
use crate::xds::policy;

use super::transparent_proxy::{CATCH_ALL, PASS_THROUGH};
use super::{Builder, Input};

/// Kuma's default format of HTTP access logs.
pub const DEFAULT_HTTP_FORMAT: &str = "[%START_TIME%] %KUMA_MESH% \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%KUMA_SOURCE_SERVICE%\" \"%KUMA_DESTINATION_SERVICE%\" \"%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%\" \"%UPSTREAM_HOST%\"\n";
/// Kuma's default format of TCP access logs.
pub const DEFAULT_TCP_FORMAT: &str = "[%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->%UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes\n";

/// Adds the access logs of the outbound listeners and `catch_all`.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let mut targets: Vec<(String, &str)> = input
        .networking
        .outbound
        .iter()
        .filter_map(|o| {
            let (ip, port) = resolve_outbound(o)?;
            Some((format!("outbound:{ip}:{port}"), o.service.as_str()))
        })
        .collect();
    targets.push((CATCH_ALL.to_string(), PASS_THROUGH));
    let services: Vec<&str> = targets.iter().map(|(_, s)| *s).collect();
    let selected = policy::select_connection_policies(
        input.state.typed::<TrafficLogSpec>(),
        input.spec,
        &services,
    );
    if selected.is_empty() {
        return;
    }
    let context = Context::of(input);
    for (listener, service) in &targets {
        let Some(&(log, spec)) = selected.get(*service) else {
            continue;
        };
        let Some(listener) = builder.resources.listeners.get_mut(listener) else {
            continue;
        };
        builder
            .deps
            .policies
            .insert((Kind::TrafficLog, log.meta.name.clone()));
        let Some(backend) = backend(input, spec) else {
            continue;
        };
        let pass_through = *service == PASS_THROUGH;
        for filter in &mut listener.filter_chain.filters {
            let (logs, default) = match filter {
                NetworkFilter::HttpConnectionManager(h) => {
                    (&mut h.access_logs, DEFAULT_HTTP_FORMAT)
                }
                NetworkFilter::TcpProxy(t) => (&mut t.access_logs, DEFAULT_TCP_FORMAT),
                NetworkFilter::Rbac(_) => continue,
            };
            let format = if backend.format.is_empty() {
                default
            } else {
                backend.format.as_str()
            };
            let format = context.interpolate(format, service, pass_through);
            if let Some(log) = access_log(backend, format) {
                logs.push(log);
            }
        }
    }
}

/// The backend a TrafficLog names, or the mesh's default when it names none; `None` when
/// that backend does not exist (Kuma logs nothing then).
fn backend<'a>(input: &Input<'a>, spec: &TrafficLogSpec) -> Option<&'a LoggingBackend> {
    let Spec::Mesh(mesh) = &input.state.mesh.spec else {
        return None;
    };
    let logging = mesh.logging.as_ref()?;
    let wanted = match spec.conf.as_ref().map(|c| c.backend.as_str()) {
        Some(name) if !name.is_empty() => name,
        _ => logging.default_backend.as_str(),
    };
    logging.backends.iter().find(|b| b.name == wanted)
}

/// The access log of `backend` with the (interpolated) `format`.
fn access_log(backend: &LoggingBackend, format: String) -> Option<AccessLog> {
    // Envoy ends no text-format line by itself: one entry, one line, as Kuma's defaults do.
    let format = if format.ends_with('\n') {
        format
    } else {
        format + "\n"
    };
    match backend.type_.as_str() {
        "file" => {
            let mut conf =
                TypedConf::new(backend.conf.as_ref(), "v1alpha1.FileLoggingBackendConfig");
            let path = conf.string(&["path"]).ok().filter(|p| !p.is_empty())?;
            Some(AccessLog::File { path, format })
        }
        "tcp" => {
            let mut conf =
                TypedConf::new(backend.conf.as_ref(), "v1alpha1.TcpLoggingBackendConfig");
            let address = conf.string(&["address"]).ok().filter(|a| !a.is_empty())?;
            let (request_headers, response_headers) =
                ursa_wire::log_format::headers_to_log(&format);
            Some(AccessLog::Grpc {
                log_name: format!("{address};{format}"),
                request_headers,
                response_headers,
            })
        }
        _ => None,
    }
}

/// What Kuma's placeholders stand for in one proxy's logs.
struct Context {
    mesh: String,
    source_service: String,
    source_ip: String,
}

impl Context {
    fn of(input: &Input<'_>) -> Context {
        let source_ip = if input.networking.address.is_empty() {
            input
                .networking
                .inbound
                .iter()
                .find_map(|i| InboundIface::resolve(input.networking, i))
                .map(|iface| iface.ip)
                .unwrap_or_default()
        } else {
            input.networking.address.clone()
        };
        Context {
            mesh: input.state.mesh.meta.name.clone(),
            source_service: identifying_service(input.spec),
            source_ip,
        }
    }

    /// `format` with Kuma's placeholders substituted and header names lower-cased.
    fn interpolate(&self, format: &str, service: &str, pass_through: bool) -> String {
        let (destination, direction) = if pass_through {
            ("external", "UNSPECIFIED")
        } else {
            (service, "OUTBOUND")
        };
        let format = ursa_wire::log_format::normalize(format);
        format
            .replace("%KUMA_MESH%", &self.mesh)
            .replace("%KUMA_SOURCE_SERVICE%", &self.source_service)
            .replace("%KUMA_DESTINATION_SERVICE%", destination)
            .replace("%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%", &self.source_ip)
            .replace("%KUMA_SOURCE_ADDRESS%", &format!("{}:0", self.source_ip))
            .replace("%KUMA_TRAFFIC_DIRECTION%", direction)
    }
}
