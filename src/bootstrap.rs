//! The bootstrap server on `bootstrapServer.port`: `POST /bootstrap` with a dataplane's mesh
//! and name answers the Envoy v3 bootstrap (YAML) that points it at the ADS server (xDS §5.2,
//! with the v3 shapes Envoy 1.40 requires, xDS §6.3).

use actix_web::web;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::{json, Value};
use ursa_actors::config::Config;
use ursa_actors::kinds::dataplane::DataplaneSpec;
use ursa_actors::kinds::Kind;
use ursa_actors::registry::MeshRegistry;
use ursa_actors::validation::Violations;
use ursa_actors::{Error, Spec};

use crate::api::error::{ApiError, Title};

pub use ursa_actors::xds::names::identifying_service;
pub use ursa_wire::BootstrapRequest;

/// Settings the bootstrap is rendered from.
#[derive(Clone, Debug)]
pub struct BootstrapParams {
    /// Host Envoy dials for ADS.
    pub xds_host: String,
    /// Port Envoy dials for ADS.
    pub xds_port: u16,
    /// Connect timeout of the ADS cluster, e.g. `1s`.
    pub xds_connect_timeout: String,
    /// Envoy admin address.
    pub admin_address: String,
    /// Default admin port (0 = no admin).
    pub admin_port: u16,
    /// Envoy admin access log.
    pub admin_access_log_path: String,
    /// The certificates Envoy trusts for the xDS server (PEM); `None`: ADS in plaintext.
    pub xds_ca: Option<String>,
}

impl BootstrapParams {
    /// From the effective configuration.
    pub fn from_config(config: &Config) -> BootstrapParams {
        let p = &config.bootstrap_server.params;
        BootstrapParams {
            xds_host: p.xds_host.clone(),
            xds_port: p.xds_port,
            xds_connect_timeout: format!("{}s", p.xds_connect_timeout.0.as_secs_f64()),
            admin_address: p.admin_address.clone(),
            admin_port: p.admin_port,
            admin_access_log_path: p.admin_access_log_path.clone(),
            xds_ca: None,
        }
    }

    /// ADS over TLS, the server's certificate verified against `ca` (X11).
    pub fn with_xds_ca(mut self, ca: Option<String>) -> BootstrapParams {
        self.xds_ca = ca;
        self
    }
}

/// Largest bootstrap request accepted (a real one is about a hundred bytes).
pub const MAX_BODY: usize = 64 * 1024;

/// Shared state of the bootstrap server.
pub struct BootstrapState {
    /// Mesh name → actor.
    pub registry: MeshRegistry,
    /// Rendering settings.
    pub params: BootstrapParams,
    /// `limits.http.readBodyTimeout`.
    pub body_timeout: std::time::Duration,
}

/// Registers the bootstrap route on an actix-web app.
pub fn configure(state: web::Data<BootstrapState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state)
            .route("/bootstrap", web::post().to(bootstrap))
            .default_service(web::to(|req: HttpRequest| async move {
                ApiError::NoRoute(req.path().to_string()).error_response()
            }));
    }
}

async fn bootstrap(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<BootstrapState>,
) -> HttpResponse {
    let rendered = match crate::api::read_body(&req, payload, MAX_BODY, state.body_timeout).await {
        Ok(body) => render_for(&body, &state).await,
        Err(e) => Err(e),
    };
    match rendered {
        Ok(yaml) => HttpResponse::Ok().content_type("text/x-yaml").body(yaml),
        Err(e) => e.error_response(),
    }
}

async fn render_for(body: &[u8], state: &BootstrapState) -> Result<String, ApiError> {
    let req: BootstrapRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::domain(
            Title::Bootstrap,
            Error::Malformed(Violations::single("body", e.to_string())),
        )
    })?;
    if req.admin_port.is_some_and(|p| !(1..=65535).contains(&p)) {
        return Err(ApiError::domain(
            Title::Bootstrap,
            Error::Invalid(Violations::single(
                "adminPort",
                "has to be in range of [1, 65535]; leave it out for the control plane's default (bootstrapServer.params.adminPort)",
            )),
        ));
    }
    let not_found = || ApiError::domain(Title::Bootstrap, Error::NotFound);
    let mesh = state.registry.state(&req.mesh).ok_or_else(not_found)?;
    let dataplane = mesh.get(Kind::Dataplane, &req.name).ok_or_else(not_found)?;
    let Spec::Dataplane(spec) = &dataplane.spec else {
        return Err(not_found());
    };
    let bootstrap = render(&req, spec, &state.params);
    serde_yaml::to_string(&bootstrap)
        .map_err(|e| ApiError::Internal(format!("rendering a bootstrap: {e}")))
}

/// The v3 bootstrap of one dataplane.
pub fn render(req: &BootstrapRequest, spec: &DataplaneSpec, params: &BootstrapParams) -> Value {
    let admin_port = req.admin_port.unwrap_or(params.admin_port as u32);
    let mut metadata = serde_json::Map::new();
    if !req.dataplane_token_path.is_empty() {
        metadata.insert("dataplaneTokenPath".into(), json!(req.dataplane_token_path));
    }
    if admin_port != 0 {
        metadata.insert("dataplane.admin.port".into(), json!(admin_port.to_string()));
    }
    let http2 = json!({
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": { "http2_protocol_options": {} }
        }
    });
    let mut bootstrap = json!({
        "node": {
            "id": format!("{}.{}", req.mesh, req.name),
            "cluster": identifying_service(spec),
            "metadata": metadata,
        },
        "stats_config": { "stats_tags": [
            { "tag_name": "name", "regex": "^grpc\\.((.+)\\.)" },
            { "tag_name": "status", "regex": "^grpc.*streams_closed(_([0-9]+))" },
            { "tag_name": "worker", "regex": "(worker_([0-9]+)\\.)" },
            { "tag_name": "listener", "regex": "((.+?)\\.)rbac\\." },
        ]},
        "dynamic_resources": {
            "lds_config": { "ads": {}, "resource_api_version": "V3" },
            "cds_config": { "ads": {}, "resource_api_version": "V3" },
            "ads_config": {
                "api_type": "GRPC",
                "transport_api_version": "V3",
                "grpc_services": [ { "envoy_grpc": { "cluster_name": "ads_cluster" } } ],
            },
        },
        "static_resources": { "clusters": [ {
            "name": "ads_cluster",
            "connect_timeout": params.xds_connect_timeout,
            "type": "STRICT_DNS",
            "lb_policy": "ROUND_ROBIN",
            "typed_extension_protocol_options": http2.clone(),
            "upstream_connection_options": { "tcp_keepalive": {} },
            "load_assignment": {
                "cluster_name": "ads_cluster",
                "endpoints": [ { "lb_endpoints": [ { "endpoint": { "address": { "socket_address": {
                    "address": params.xds_host, "port_value": params.xds_port,
                } } } } ] } ],
            },
        }, {
            // Envoy's gRPC access loggers stream to the agent on this socket (xDS §3.6, X19).
            "name": ursa_actors::xds::model::ACCESS_LOG_SINK,
            "connect_timeout": params.xds_connect_timeout,
            "type": "STATIC",
            "lb_policy": "ROUND_ROBIN",
            "typed_extension_protocol_options": http2,
            "load_assignment": {
                "cluster_name": ursa_actors::xds::model::ACCESS_LOG_SINK,
                "endpoints": [ { "lb_endpoints": [ { "endpoint": { "address": {
                    "pipe": { "path": access_log_socket_path(req) },
                } } } ] } ],
            },
        } ] },
    });
    if let Some(ca) = &params.xds_ca {
        bootstrap["static_resources"]["clusters"][0]["transport_socket"] =
            xds_transport_socket(&params.xds_host, ca);
    }
    if admin_port != 0 {
        bootstrap["admin"] = json!({
            "access_log": [ {
                "name": "envoy.access_loggers.file",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
                    "path": params.admin_access_log_path,
                },
            } ],
            "address": { "socket_address": {
                "protocol": "TCP", "address": params.admin_address, "port_value": admin_port,
            } },
        });
    }
    bootstrap
}

/// The agent's access-log socket: the one the request names (X19), else Kuma's.
pub fn access_log_socket_path(req: &BootstrapRequest) -> String {
    if req.access_log_socket_path.is_empty() {
        format!("/tmp/kuma-access-logs-{}-{}.sock", req.name, req.mesh)
    } else {
        req.access_log_socket_path.clone()
    }
}

/// TLS to the xDS server (X11): trust `ca`, and require the certificate to name `host` (its
/// DNS name, or its IP address when `host` is one), with SNI for a DNS name.
fn xds_transport_socket(host: &str, ca: &str) -> Value {
    let bare = host.trim_matches(['[', ']']);
    let is_ip = bare.parse::<std::net::IpAddr>().is_ok();
    let san_type = if is_ip { "IP_ADDRESS" } else { "DNS" };
    let mut context = json!({
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        "common_tls_context": {
            "tls_params": { "tls_minimum_protocol_version": "TLSv1_2" },
            "alpn_protocols": ["h2"],
            "validation_context": {
                "trusted_ca": { "inline_string": ca },
                "match_typed_subject_alt_names": [
                    { "san_type": san_type, "matcher": { "exact": bare } }
                ],
            },
        },
    });
    if !is_ip {
        context["sni"] = json!(bare);
    }
    json!({ "name": "envoy.transport_sockets.tls", "typed_config": context })
}
