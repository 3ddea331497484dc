//! The diagnostics server on `xdsServer.diagnosticsPort`: `GET /metrics` (Prometheus text),
//! `GET /ready` and `GET /healthy`, for load balancers, orchestrators and alerting.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::api::error::ApiError;

/// Counters of the xDS server, shared by every stream.
#[derive(Debug, Default)]
pub struct XdsMetrics {
    /// Configurations generated.
    pub generations: Counter,
    /// Snapshots a stream skipped because none of their changes concerned its proxy.
    pub skipped: Counter,
    /// Discovery responses sent.
    pub responses: Counter,
    /// ADS streams open.
    pub streams: Gauge,
}

/// Every metric of the control plane, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    /// The xDS server's.
    pub xds: Arc<XdsMetrics>,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("ursa");
        let xds = Arc::new(XdsMetrics::default());
        let x = registry.sub_registry_with_prefix("xds");
        x.register(
            "generations",
            "Proxy configurations generated",
            xds.generations.clone(),
        );
        x.register(
            "snapshots_skipped",
            "Mesh snapshots an ADS stream skipped because no change concerned its proxy",
            xds.skipped.clone(),
        );
        x.register(
            "responses",
            "Discovery responses sent",
            xds.responses.clone(),
        );
        x.register("streams", "ADS streams open", xds.streams.clone());
        Metrics { registry, xds }
    }

    /// The exposition text.
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Registers the diagnostics routes on an actix-web app.
pub fn configure(metrics: Arc<Metrics>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        cfg.app_data(web::Data::from(metrics.clone()))
            .route("/metrics", web::get().to(render))
            .route("/ready", web::get().to(ok))
            .route("/healthy", web::get().to(ok))
            .default_service(web::to(|req: HttpRequest| async move {
                ApiError::NoRoute(req.path().to_string()).error_response()
            }));
    }
}

async fn render(metrics: web::Data<Metrics>) -> HttpResponse {
    match metrics.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(text),
        Err(e) => ApiError::Internal(format!("rendering metrics: {e}")).error_response(),
    }
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}
