//! The diagnostics server on `xdsServer.diagnosticsPort`: `GET /metrics` (Prometheus text),
//! `GET /ready` and `GET /healthy`, for load balancers, orchestrators and alerting.
//!
//! Metrics come from `prometheus-client`, the Prometheus project's own Rust client: typed
//! metrics and label sets, no global registry, and the OpenMetrics text format. Names follow
//! Prometheus' conventions (`ursa_` prefix, `_total` counters, `_seconds` durations).

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use ursa_actors::kinds::insight::Subscription;
use ursa_actors::registry::MeshRegistry;
use ursa_actors::store::Store;
use ursa_actors::{Kind, Spec};

use crate::api::error::ApiError;

/// A histogram family (each label set gets the same buckets).
pub type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// Seconds from 100 µs to ~50 s: request, store and generation latencies.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 20))
}

/// Seconds from 1 ms to ~2 min: change-to-ACK delivery.
fn delivery() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 18))
}

/// Changes per group commit: 1 to 4096.
fn batch() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 13))
}

/// An xDS resource type, as a label (`cds`, `eds`, `lds`, `rds`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// The type's short name.
    pub r#type: &'static str,
}

/// A mesh, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MeshLabel {
    /// The mesh.
    pub mesh: String,
}

/// Counters of the xDS server, shared by every stream.
#[derive(Debug)]
pub struct XdsMetrics {
    /// Configurations generated.
    pub generations: Counter,
    /// Snapshots a stream skipped because none of their changes concerned its proxy.
    pub skipped: Counter,
    /// Discovery responses sent, by type.
    pub responses: Family<TypeLabel, Counter>,
    /// Responses Envoy acknowledged, by type.
    pub acks: Family<TypeLabel, Counter>,
    /// Responses Envoy rejected, by type.
    pub nacks: Family<TypeLabel, Counter>,
    /// ADS streams open.
    pub streams: Gauge,
    /// Streams refused at `limits.xds.maxStreams`.
    pub refused_streams: Counter,
    /// Identified streams (connected dataplanes) by mesh.
    pub connected: Family<MeshLabel, Gauge>,
    /// Time to generate one proxy's configuration.
    pub generation_seconds: Histogram,
    /// From a committed change to the ACK of the response that carried it (Kuma's
    /// `xds_delivery`), per proxy and type.
    pub delivery_seconds: Histogram,
}

impl Default for XdsMetrics {
    fn default() -> Self {
        XdsMetrics {
            generations: Counter::default(),
            skipped: Counter::default(),
            responses: Family::default(),
            acks: Family::default(),
            nacks: Family::default(),
            streams: Gauge::default(),
            refused_streams: Counter::default(),
            connected: Family::default(),
            generation_seconds: latency(),
            delivery_seconds: delivery(),
        }
    }
}

/// An API request's route template and method.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route template, e.g. `/meshes/:mesh/dataplanes/:name`.
    pub route: String,
    /// The method.
    pub method: String,
}

/// An API request's route template, method and status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// The API server's metrics.
#[derive(Debug)]
pub struct ApiMetrics {
    /// Requests answered.
    pub requests: Family<RequestLabels, Counter>,
    /// Time from the request's head to its response's head.
    pub duration: Histograms<RouteLabels>,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            requests: Family::default(),
            duration: Family::new_with_constructor(latency),
        }
    }
}

impl ApiMetrics {
    /// Counts one answered request.
    pub fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(elapsed.as_secs_f64());
    }
}

/// A store operation, as a label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OpLabel {
    /// `commit`, `get`, `list`, …
    pub op: &'static str,
}

/// A failed store operation and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// The operation.
    pub op: &'static str,
    /// `unavailable` or `internal` (refusals such as a version conflict are outcomes, not
    /// errors).
    pub error: &'static str,
}

/// The store's metrics (see [`crate::metered`]).
#[derive(Debug)]
pub struct StoreMetrics {
    /// Latency of each operation.
    pub duration: Histograms<OpLabel>,
    /// Failed operations.
    pub errors: Family<ErrorLabels, Counter>,
    /// Changes per group commit.
    pub batch_size: Histogram,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            duration: Family::new_with_constructor(latency),
            errors: Family::default(),
            batch_size: batch(),
        }
    }
}

/// Resources by kind and mesh, read from the published mesh states at each scrape.
#[derive(Debug)]
struct Resources(MeshRegistryRef);

/// The registry, shown without its contents in `Debug`.
struct MeshRegistryRef(MeshRegistry);

impl std::fmt::Debug for MeshRegistryRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeshRegistry")
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
    mesh: String,
}

fn online(subscription: &Subscription) -> bool {
    subscription.connect_time.is_some() && subscription.disconnect_time.is_none()
}

impl Collector for Resources {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let states = self.0 .0.states();
        let gauge = ConstGauge::new(0i64);
        let mut family = encoder.encode_descriptor(
            "resources",
            "Resources by kind and mesh (Meshes count under their own name)",
            None,
            gauge.metric_type(),
        )?;
        for state in &states {
            let mesh = state.name().to_string();
            ConstGauge::new(1i64).encode(family.encode_family(&KindLabels {
                kind: Kind::Mesh.type_name(),
                mesh: mesh.clone(),
            })?)?;
            for kind in Kind::mesh_scoped() {
                let n = state.of(kind).len() as i64;
                ConstGauge::new(n).encode(family.encode_family(&KindLabels {
                    kind: kind.type_name(),
                    mesh: mesh.clone(),
                })?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "dataplanes_online",
            "Dataplanes whose insight shows a connected subscription (to any instance), by mesh",
            None,
            gauge.metric_type(),
        )?;
        for state in &states {
            let n = state
                .of(Kind::DataplaneInsight)
                .values()
                .filter(|r| match &r.spec {
                    Spec::DataplaneInsight(i) => i.subscriptions.iter().any(online),
                    _ => false,
                })
                .count() as i64;
            ConstGauge::new(n).encode(family.encode_family(&MeshLabel {
                mesh: state.name().to_string(),
            })?)?;
        }
        Ok(())
    }
}

/// Every metric of the control plane, and the registry that names them.
pub struct Metrics {
    registry: Registry,
    /// The xDS server's.
    pub xds: Arc<XdsMetrics>,
    /// The API server's.
    pub api: Arc<ApiMetrics>,
    /// The store's.
    pub store: Arc<StoreMetrics>,
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
            "Discovery responses sent, by type",
            xds.responses.clone(),
        );
        x.register(
            "acks",
            "Discovery responses Envoy acknowledged, by type",
            xds.acks.clone(),
        );
        x.register(
            "nacks",
            "Discovery responses Envoy rejected, by type",
            xds.nacks.clone(),
        );
        x.register("streams", "ADS streams open", xds.streams.clone());
        x.register(
            "streams_refused",
            "ADS streams refused at limits.xds.maxStreams",
            xds.refused_streams.clone(),
        );
        x.register(
            "generation_seconds",
            "Time to generate one proxy's configuration",
            xds.generation_seconds.clone(),
        );
        x.register(
            "delivery_seconds",
            "From a committed change to the proxy's ACK of the response carrying it",
            xds.delivery_seconds.clone(),
        );
        registry.register(
            "dataplanes_connected",
            "Dataplanes with an ADS stream open to this instance, by mesh",
            xds.connected.clone(),
        );
        let api = Arc::new(ApiMetrics::default());
        let a = registry.sub_registry_with_prefix("api");
        a.register(
            "requests",
            "API requests by route template, method and status",
            api.requests.clone(),
        );
        a.register(
            "request_duration_seconds",
            "API request latency by route template and method",
            api.duration.clone(),
        );
        let store = Arc::new(StoreMetrics::default());
        let s = registry.sub_registry_with_prefix("store");
        s.register(
            "operation_duration_seconds",
            "Store operation latency",
            store.duration.clone(),
        );
        s.register(
            "errors",
            "Store operations that failed (unavailable or internal)",
            store.errors.clone(),
        );
        s.register(
            "commit_batch_size",
            "Changes per group commit",
            store.batch_size.clone(),
        );
        Metrics {
            registry,
            xds,
            api,
            store,
        }
    }

    /// Adds the gauges read from the meshes at each scrape.
    pub fn observe_meshes(mut self, meshes: MeshRegistry) -> Metrics {
        self.registry
            .register_collector(Box::new(Resources(MeshRegistryRef(meshes))));
        self
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

/// What `/ready` checks: the meshes are loaded (the server starts after they are) and the
/// store answers.
pub struct Readiness {
    store: Arc<dyn Store>,
}

impl Readiness {
    /// Readiness of a control plane on `store`.
    pub fn new(store: Arc<dyn Store>) -> Readiness {
        Readiness { store }
    }
}

/// How long `/ready` waits for the store.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// Registers the diagnostics routes on an actix-web app.
pub fn configure(
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        cfg.app_data(web::Data::from(metrics.clone()))
            .app_data(web::Data::from(readiness.clone()))
            .route("/metrics", web::get().to(render))
            .route("/ready", web::get().to(ready))
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

async fn ready(readiness: web::Data<Readiness>) -> HttpResponse {
    // A read of a key no resource has: one round trip, nothing transferred.
    let probe = readiness.store.get(Kind::Mesh, "", "");
    match actix_web::rt::time::timeout(READY_TIMEOUT, probe).await {
        Ok(Ok(_)) => ok().await,
        Ok(Err(e)) => not_ready(&format!("the store is not reachable: {e}")),
        Err(_) => not_ready("the store did not answer within 2s"),
    }
}

fn not_ready(why: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body(format!("not ready: {why}\n"))
}

async fn ok() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}
