//! The Aggregated Discovery Service (xDS v3, state of the world): one task per Envoy stream,
//! on the xDS runtime's worker threads. A stream learns its Dataplane from `node.id`,
//! subscribes to its mesh's snapshots, and generates its own configuration from each snapshot
//! whose changes reach one of its dependency keys, so proxies are generated in parallel and a
//! change costs what it touches. Each resource type is sent whenever its content version
//! changes (X2, X3). ACKs and NACKs are counted into the stream's subscription, which the mesh
//! actor turns into the Dataplane's insight; a NACKed version is not resent (X4).
//!
//! With dataplane tokens on (X11), a stream whose `authorization` metadata is missing, forged
//! or names another Dataplane is refused at its first request, before anything is sent. With
//! mTLS on, the stream issues its proxy's identity and renews it ([`super::identity`]).

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::ControlPlane;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryService;
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;
use ursa_actors::kinds::insight::{Stats, Subscription, SubscriptionStatus};
use ursa_actors::kinds::Kind;
use ursa_actors::mesh_actor::{
    MeshActor, ReportCertificate, ReportSubscription, SubscribeProxy, UnsubscribeProxy,
};
use ursa_actors::proto::Timestamp;
use ursa_actors::registry::MeshRegistry;
use ursa_actors::resource::Resource;
use ursa_actors::xds::{generate_for, Generated, Node, XdsSnapshot};

use super::encode::{Encoded, Encoder};
use super::identity::{Issuer, StreamIdentity};
use super::type_url::{PerType, TypeUrl};
use crate::dataplane_token::{DataplaneTokenError, DataplaneTokens};
use crate::diagnostics::{MeshLabel, TypeLabel, XdsMetrics};
use crate::http::limits::Throttle;

/// Largest DiscoveryResponse sent (D24, as Kuma 2.14): a proxy whose configuration of one type
/// is larger keeps its last one, and the control plane logs why.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Longest client-sent text echoed back in an error (a node id, say).
const MAX_ECHO: usize = 128;

/// Responses buffered per stream before the stream task waits for Envoy to read.
const OUTBOUND_BUFFER: usize = 16;

/// A stream reports its subscription to the mesh actor at most once per this interval: the
/// first change after a quiet interval at once, later ones together at the interval's end. A
/// connecting Envoy sends and ACKs four types within milliseconds; that is one or two insight
/// updates for the actor, not eight. Short enough that an insight read a moment after an
/// isolated event (a NACK, a push) shows it; Kuma itself flushes stream counters once per
/// `dataplaneStatusFlushInterval` (1 s).
const REPORT_INTERVAL: Duration = Duration::from_millis(250);

/// The ADS service shared by all streams.
pub struct Ads {
    registry: MeshRegistry,
    instance_id: Arc<str>,
    streams: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// Shared by every stream, so proxies with the same endpoints share their encoding.
    encoder: Arc<Encoder>,
    stats: Arc<XdsMetrics>,
    /// Streams open now, and the most allowed (`limits.xds.maxStreams`; 0: no cap).
    open: Arc<AtomicUsize>,
    max_streams: usize,
    /// Warnings about refused streams, at most one per interval.
    refused: Throttle,
    /// Issues the proxies' identities.
    issuer: Arc<Issuer>,
    /// Checks dataplane tokens; `None` when they are off (`dataplaneTokenServer.enabled`).
    tokens: Option<Arc<DataplaneTokens>>,
}

/// One open stream's place under `limits.xds.maxStreams`, given back when the stream ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ads {
    /// An ADS service answering for the meshes of `registry`; `instance_id` identifies this
    /// control-plane process in subscriptions; `issuer` signs the proxies' identities.
    pub fn new(
        registry: MeshRegistry,
        instance_id: String,
        stats: Arc<XdsMetrics>,
        issuer: Arc<Issuer>,
    ) -> Ads {
        Ads {
            registry,
            instance_id: instance_id.into(),
            streams: AtomicU64::new(0),
            shutdown: watch::channel(false).1,
            encoder: Arc::new(Encoder::new()),
            stats,
            open: Arc::new(AtomicUsize::new(0)),
            max_streams: 0,
            refused: Throttle::new(Duration::from_secs(10)),
            issuer,
            tokens: None,
        }
    }

    /// Every stream must carry a dataplane token of its Dataplane (X11).
    pub fn with_dataplane_tokens(mut self, tokens: Arc<DataplaneTokens>) -> Ads {
        self.tokens = Some(tokens);
        self
    }

    /// At most `n` streams open at once (0: no cap); a stream beyond it is refused with
    /// `RESOURCE_EXHAUSTED`.
    pub fn with_max_streams(mut self, n: usize) -> Ads {
        self.max_streams = n;
        self
    }

    /// A place for one more stream, or the status that refuses it.
    fn admit(&self) -> Result<Slot, Status> {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        let slot = Slot(self.open.clone());
        if self.max_streams == 0 || open <= self.max_streams {
            return Ok(slot);
        }
        drop(slot);
        self.stats.refused_streams.inc();
        if let Some(suppressed) = self.refused.allow() {
            tracing::warn!(
                max = self.max_streams,
                suppressed,
                "refused an ADS stream: limits.xds.maxStreams streams are open"
            );
        }
        Err(Status::resource_exhausted(format!(
            "this control plane serves at most {} ADS streams at once (limits.xds.maxStreams); \
             retry later or connect to another instance",
            self.max_streams
        )))
    }

    /// Streams end (with `UNAVAILABLE`, so Envoy reconnects elsewhere) when `shutdown` turns true.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Ads {
        self.shutdown = shutdown;
        self
    }
}

/// A stream's outgoing responses. They are boxed while queued, so the channel of an idle
/// stream (one block of slots, kept for the stream's life) holds pointers, not responses.
pub struct ResponseStream {
    rx: mpsc::Receiver<Result<Box<DiscoveryResponse>, Status>>,
}

impl tokio_stream::Stream for ResponseStream {
    type Item = Result<DiscoveryResponse, Status>;

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(|response| *response)))
    }
}

type Outbound = mpsc::Sender<Result<Box<DiscoveryResponse>, Status>>;
type DeltaStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream;
    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<ResponseStream>, Status> {
        let slot = self.admit()?;
        let number = self.streams.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = mpsc::channel(OUTBOUND_BUFFER);
        // The token is checked against the node the first request names; only the claims (or
        // why there are none) are kept, never the token.
        let token = self.tokens.as_ref().map(|tokens| {
            let value = request
                .metadata()
                .get("authorization")
                .and_then(|v| v.to_str().ok());
            tokens.verify(value)
        });
        let mut stream = AdsStream::new(
            slot,
            self.registry.clone(),
            self.instance_id.clone(),
            tx,
            self.shutdown.clone(),
            self.encoder.clone(),
            self.stats.clone(),
        );
        stream.token = token;
        stream.identity = Some(StreamIdentity::new(self.issuer.clone()));
        let span = tracing::info_span!("ads_stream", stream = number);
        tokio::spawn(stream.run(request.into_inner()).instrument(span));
        Ok(Response::new(ResponseStream { rx }))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<DeltaStream>, Status> {
        Err(Status::unimplemented(
            "Ursa serves state-of-the-world ADS only; use api_type: GRPC",
        ))
    }
}

/// Resolves once `shutdown` is true (never, if its sender is gone without saying so).
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow_and_update() {
            return;
        }
        if shutdown.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Parses `node.id` = `<mesh>.<dataplane>` (split at the first dot).
pub fn parse_node_id(id: &str) -> Result<(String, String), String> {
    match id.split_once('.') {
        Some((mesh, name)) if !mesh.is_empty() && !name.is_empty() => {
            Ok((mesh.to_string(), name.to_string()))
        }
        _ => Err(format!(
            "node.id {} is not of the form <mesh>.<dataplane name>",
            echo(id)
        )),
    }
}

/// `text` quoted for an error message, cut to [`MAX_ECHO`] characters so a client cannot make
/// the control plane send (and log) its megabytes back.
fn echo(text: &str) -> String {
    let mut chars = text.chars();
    let shown: String = chars.by_ref().take(MAX_ECHO).collect();
    match chars.next() {
        None => format!("{shown:?}"),
        Some(_) => format!("{shown:?}… ({} bytes in all)", text.len()),
    }
}

/// The status a stream whose request could not be read ends with, or `None` when the
/// connection simply broke (nothing can be told to the client then).
fn unreadable(status: &Status) -> Option<Status> {
    match status.code() {
        // tonic's "decoded message length too large": gRPC calls that RESOURCE_EXHAUSTED.
        tonic::Code::OutOfRange => Some(Status::resource_exhausted(format!(
            "a DiscoveryRequest exceeded the control plane's size limit: {}",
            status.message()
        ))),
        tonic::Code::Internal | tonic::Code::InvalidArgument => {
            Some(Status::invalid_argument(format!(
                "the DiscoveryRequest could not be decoded: {}",
                status.message()
            )))
        }
        _ => None,
    }
}

/// What one type has seen on this stream.
#[derive(Default)]
struct TypeState {
    /// Envoy asked for this type.
    subscribed: bool,
    /// Version last sent.
    sent_version: Option<String>,
    /// Nonce of the last response of this type.
    nonce: String,
    /// Resource names of Envoy's last request (EDS/RDS ask by name).
    names: Vec<String>,
    /// Nonces sent and not yet answered: each response is counted ACKed or rejected once,
    /// however often Envoy repeats a nonce (it does while warming clusters). With each, when
    /// the change it delivers was committed (for the delivery time).
    unanswered: Vec<(String, Option<std::time::Instant>)>,
    /// A version not sent for being over [`MAX_RESPONSE_BYTES`] (logged once).
    oversized: Option<String>,
}

/// Unanswered nonces remembered per type; older ones are forgotten (Envoy answers in order).
const UNANSWERED_KEPT: usize = 16;

struct AdsStream {
    _slot: Slot,
    registry: MeshRegistry,
    instance_id: Arc<str>,
    out: Outbound,
    /// Set once `node.id` is known.
    proxy: Option<Proxy>,
    subscription: Subscription,
    types: PerType<TypeState>,
    nonces: u64,
    shutdown: watch::Receiver<bool>,
    encoder: Arc<Encoder>,
    stats: Arc<XdsMetrics>,
    /// When the pending (coalesced) report of the subscription is due.
    report_due: Option<Instant>,
    /// Until when a change is coalesced instead of reported at once.
    quiet_until: Instant,
    /// The dataplane token's claims, or why there are none; `None` when tokens are off.
    token: Option<Result<crate::dataplane_token::DataplaneClaims, DataplaneTokenError>>,
    /// The proxy's identity (mTLS).
    identity: Option<StreamIdentity>,
    /// Clusters were sent and no endpoints since: Envoy warms an updated EDS cluster (a TLS
    /// context added, say) until an EDS response arrives, even an unchanged one, so its next
    /// EDS request is answered whatever its version (without, the old cluster serves on for
    /// Envoy's 15 s initial fetch timeout).
    eds_after_cds: bool,
}

struct Proxy {
    mesh: String,
    dataplane: String,
    /// What the proxy told of itself on its first request.
    node: Node,
    actor: actix::Addr<MeshActor>,
    snapshots: watch::Receiver<Arc<XdsSnapshot>>,
    /// The snapshot the configuration reflects.
    seen: u64,
    /// The Dataplane the configuration was generated from (`None`: it did not exist).
    source: Option<Arc<Resource>>,
    /// The configuration `encoded` was made from, and its dependency keys.
    generated: Generated,
    /// EDS is shared with every stream that has the same endpoints.
    encoded: PerType<Arc<Encoded>>,
}

impl Proxy {
    /// Takes `generated` as the configuration, re-encoding only the types that differ from
    /// the one it replaces (unchanged types keep their encoding, and so their version).
    fn replace(&mut self, encoder: &Encoder, generated: Generated) {
        self.encoded = encoder.reencode(
            Some((&self.generated.config, &self.encoded)),
            &generated.config,
        );
        self.generated = generated;
    }

    /// Whether the changes from the snapshot this configuration reflects to `snapshot` can
    /// change it.
    fn affected_by(&self, snapshot: &XdsSnapshot) -> bool {
        let Some(mut changes) = snapshot.changes_since(self.seen) else {
            // Too far behind to tell: regenerate and let the comparison decide.
            return true;
        };
        match self.source.as_deref().map(|r| &r.spec) {
            Some(ursa_actors::Spec::Dataplane(spec)) => {
                changes.any(|c| self.generated.deps.affected_by(spec, c))
            }
            // No Dataplane yet (X5): only its creation (or the Mesh) changes an empty config.
            _ => changes.any(|c| c.mesh || c.dataplane_changed(&self.dataplane)),
        }
    }
}

/// The configuration of `dataplane` in `snapshot`, and the Dataplane it came from. A missing
/// Dataplane gets an empty configuration, so a deleted one loses its listeners and a new one
/// gets them the moment it is created (X5).
fn generate_in(
    snapshot: &XdsSnapshot,
    dataplane: &str,
    node: &Node,
) -> (Option<Arc<Resource>>, Generated) {
    match snapshot.state.get(Kind::Dataplane, dataplane) {
        Some(dp) => (
            Some(dp.clone()),
            generate_for(&snapshot.state, &snapshot.endpoints, dp, node),
        ),
        None => (None, Generated::default()),
    }
}

/// What generation reads of the node's metadata: the admin port the bootstrap put there
/// (`dataplane.admin.port`, a string), 0 when absent or not a port.
fn node_of(req: &DiscoveryRequest) -> Node {
    use envoy_types::pb::google::protobuf::value::Kind as V;
    let admin_port = req
        .node
        .as_ref()
        .and_then(|n| n.metadata.as_ref())
        .and_then(|m| m.fields.get("dataplane.admin.port"))
        .and_then(|v| match &v.kind {
            Some(V::StringValue(s)) => s.parse::<u16>().ok(),
            Some(V::NumberValue(n)) if n.fract() == 0.0 => u16::try_from(*n as i64).ok(),
            _ => None,
        })
        .map_or(0, u32::from);
    Node { admin_port }
}

/// Why a stream stops.
enum End {
    /// Envoy closed it or the connection broke.
    Closed,
    /// Ursa ends it with this status.
    Refused(Status),
}

/// The insight's counters of type `t`; secrets have none (Kuma's insight has no `sds`), they
/// count in `total` only.
fn bucket(status: &mut SubscriptionStatus, t: TypeUrl) -> Option<&mut Stats> {
    let slot = match t {
        TypeUrl::Secret => return None,
        TypeUrl::Cluster => &mut status.cds,
        TypeUrl::Endpoint => &mut status.eds,
        TypeUrl::Listener => &mut status.lds,
        TypeUrl::Route => &mut status.rds,
    };
    Some(slot.get_or_insert_with(Stats::default))
}

impl AdsStream {
    fn new(
        slot: Slot,
        registry: MeshRegistry,
        instance_id: Arc<str>,
        out: Outbound,
        shutdown: watch::Receiver<bool>,
        encoder: Arc<Encoder>,
        stats: Arc<XdsMetrics>,
    ) -> AdsStream {
        let subscription = Subscription {
            id: uuid::Uuid::new_v4().to_string(),
            control_plane_instance_id: instance_id.to_string(),
            connect_time: Some(Timestamp::now()),
            disconnect_time: None,
            status: Some(SubscriptionStatus {
                last_update_time: None,
                total: Some(Stats::default()),
                cds: Some(Stats::default()),
                eds: Some(Stats::default()),
                lds: Some(Stats::default()),
                rds: Some(Stats::default()),
            }),
        };
        AdsStream {
            _slot: slot,
            registry,
            instance_id,
            out,
            proxy: None,
            subscription,
            types: Default::default(),
            nonces: 0,
            shutdown,
            encoder,
            stats,
            report_due: None,
            quiet_until: Instant::now(),
            token: None,
            identity: None,
            eds_after_cds: false,
        }
    }

    async fn run(mut self, mut requests: Streaming<DiscoveryRequest>) {
        self.stats.streams.inc();
        let end = loop {
            let changed = async {
                match &mut self.proxy {
                    Some(p) => p.snapshots.changed().await.is_ok(),
                    None => std::future::pending().await,
                }
            };
            let shutdown = stopped(self.shutdown.clone());
            let report_due = self.report_due;
            let report = async move {
                match report_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let renew_due = self.identity.as_ref().and_then(|i| i.due);
            let renew = async move {
                match renew_due {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown => {
                    break End::Refused(Status::unavailable("the control plane is shutting down"));
                }
                _ = report => self.report_now(),
                _ = renew => {
                    if let Err(end) = self.on_renew().await {
                        break end;
                    }
                }
                request = requests.message() => match request {
                    Ok(Some(req)) => {
                        if let Err(end) = self.on_request(req).await {
                            break end;
                        }
                    }
                    Ok(None) => break End::Closed,
                    Err(status) => match unreadable(&status) {
                        Some(refusal) => {
                            tracing::warn!(error = %status.message(), "refusing an unreadable DiscoveryRequest");
                            break End::Refused(refusal);
                        }
                        None => {
                            tracing::debug!(%status, "stream broke");
                            break End::Closed;
                        }
                    },
                },
                alive = changed => {
                    if !alive {
                        // The mesh actor is gone: the mesh was deleted.
                        break End::Refused(Status::unavailable("the mesh of this dataplane was deleted"));
                    }
                    if let Err(end) = self.on_config().await {
                        break end;
                    }
                }
            }
        };
        self.stats.streams.dec();
        if let Some(proxy) = &self.proxy {
            self.stats
                .connected
                .get_or_create(&MeshLabel {
                    mesh: proxy.mesh.clone(),
                })
                .dec();
        }
        if let End::Refused(status) = end {
            tracing::info!(message = status.message(), "ending stream");
            let _ = self.out.send(Err(status)).await;
        }
        if let Some(proxy) = &self.proxy {
            self.subscription.disconnect_time = Some(Timestamp::now());
            proxy.actor.do_send(UnsubscribeProxy {
                dataplane: proxy.dataplane.clone(),
                subscription: self.subscription.clone(),
            });
            tracing::info!(mesh = %proxy.mesh, dataplane = %proxy.dataplane, "dataplane disconnected");
        }
    }

    /// Learns the node on the first request that carries one.
    async fn identify(&mut self, req: &DiscoveryRequest) -> Result<(), End> {
        if self.proxy.is_some() {
            return Ok(());
        }
        let id = req.node.as_ref().map(|n| n.id.as_str()).unwrap_or("");
        let (mesh, dataplane) =
            parse_node_id(id).map_err(|m| End::Refused(Status::invalid_argument(m)))?;
        self.authenticate(&mesh, &dataplane)?;
        let actor = self.registry.get(&mesh).ok_or_else(|| {
            End::Refused(Status::not_found(format!("mesh {mesh:?} does not exist")))
        })?;
        let mut snapshots = actor
            .send(SubscribeProxy {
                dataplane: dataplane.clone(),
                subscription: self.subscription.clone(),
            })
            .await
            .map_err(|_| {
                End::Refused(Status::unavailable(format!(
                    "mesh {mesh:?} is being deleted"
                )))
            })?;
        // Generate from a clone of the Arc: holding the channel's read lock while generating
        // would block the mesh actor's next publication.
        let snapshot = snapshots.borrow_and_update().clone();
        let started = std::time::Instant::now();
        let node = node_of(req);
        let (source, mut generated) = generate_in(&snapshot, &dataplane, &node);
        self.stats
            .generation_seconds
            .observe(started.elapsed().as_secs_f64());
        self.stats.generations.inc();
        fill_secrets(
            self.identity.as_mut(),
            &snapshot.state.mesh,
            &actor,
            &dataplane,
            &mut generated,
        )
        .await;
        let encoded = self.encoder.encode(&generated.config);
        tracing::info!(%mesh, %dataplane, subscription = %self.subscription.id, "dataplane connected");
        self.stats
            .connected
            .get_or_create(&MeshLabel { mesh: mesh.clone() })
            .inc();
        self.proxy = Some(Proxy {
            mesh,
            dataplane,
            node,
            actor,
            snapshots,
            seen: snapshot.version,
            source,
            generated,
            encoded,
        });
        Ok(())
    }

    async fn on_request(&mut self, req: DiscoveryRequest) -> Result<(), End> {
        if req.type_url.is_empty() {
            return Err(End::Refused(Status::invalid_argument(
                "type_url is required on an ADS stream",
            )));
        }
        self.identify(&req).await?;
        let Some(t) = TypeUrl::parse(&req.type_url) else {
            tracing::debug!(type_url = %req.type_url, "request for a type Ursa does not serve");
            return Ok(());
        };
        let nack = req.error_detail.as_ref();
        let unanswered = &mut self.types[t].unanswered;
        if let Some(i) = unanswered.iter().position(|n| n.0 == req.response_nonce) {
            let (_, since) = unanswered.remove(i);
            let label = TypeLabel { r#type: t.short() };
            if nack.is_some() {
                self.stats.nacks.get_or_create(&label).inc();
            } else {
                self.stats.acks.get_or_create(&label).inc();
                if let Some(since) = since {
                    self.stats
                        .delivery_seconds
                        .observe(since.elapsed().as_secs_f64());
                }
            }
            self.count_reply(t, nack.is_some());
            if let Some(detail) = nack {
                tracing::warn!(
                    type_url = %req.type_url,
                    version = %req.version_info,
                    error = %detail.message,
                    "Envoy rejected a configuration"
                );
            }
        }
        let state = &mut self.types[t];
        let mut names = req.resource_names.clone();
        names.sort();
        // A reply to an older response: the newer one is on its way or answered already.
        if !req.response_nonce.is_empty() && req.response_nonce != state.nonce {
            // Its names are what Envoy watches now, and the newer response (every resource of
            // the type) reaches those watches: an ACK of it naming them needs no resend. This is
            // Envoy asking EDS for the clusters of a CDS update whose EDS update is in flight.
            state.names = names;
            return Ok(());
        }
        state.subscribed = true;
        let names_changed = names != state.names;
        state.names = names;
        if nack.is_some() {
            // X4: never resend what Envoy rejected; the next change brings a new version.
            return Ok(());
        }
        let current = self.proxy.as_ref().map(|p| p.encoded[t].version.clone());
        let state = &mut self.types[t];
        if req.response_nonce.is_empty()
            && state.sent_version.is_none()
            && current.as_deref() == Some(req.version_info.as_str())
        {
            // Envoy reconnected already holding exactly this content (versions are content hashes).
            state.sent_version = current;
            return Ok(());
        }
        // Envoy asking for other names (a new EDS cluster warming, a new RDS route) must be
        // answered even when the version did not change.
        let warming = t == TypeUrl::Endpoint && self.eds_after_cds;
        let due = state.sent_version != current
            || ((names_changed || warming) && !req.response_nonce.is_empty());
        if due || req.response_nonce.is_empty() {
            self.send(t, None).await?;
        }
        Ok(())
    }

    /// A new snapshot: regenerate if its changes reach this proxy, then send what changed.
    async fn on_config(&mut self) -> Result<(), End> {
        let mut since = None;
        if let Some(proxy) = &mut self.proxy {
            let snapshot = proxy.snapshots.borrow_and_update().clone();
            if !proxy.affected_by(&snapshot) {
                proxy.seen = snapshot.version;
                self.stats.skipped.inc();
                return Ok(());
            }
            // Delivery counts from the oldest change this configuration brings.
            since = snapshot
                .changes_since(proxy.seen)
                .and_then(|changes| changes.filter_map(|c| c.since).min());
            let started = std::time::Instant::now();
            let (source, mut generated) = generate_in(&snapshot, &proxy.dataplane, &proxy.node);
            self.stats
                .generation_seconds
                .observe(started.elapsed().as_secs_f64());
            self.stats.generations.inc();
            fill_secrets(
                self.identity.as_mut(),
                &snapshot.state.mesh,
                &proxy.actor,
                &proxy.dataplane,
                &mut generated,
            )
            .await;
            proxy.replace(&self.encoder, generated);
            proxy.seen = snapshot.version;
            proxy.source = source;
        }
        self.send_changed(since).await
    }

    /// Sends each subscribed type whose version differs from the one sent, in push order.
    async fn send_changed(&mut self, since: Option<std::time::Instant>) -> Result<(), End> {
        for t in TypeUrl::ALL {
            let current = self.proxy.as_ref().map(|p| p.encoded[t].version.clone());
            if self.types[t].subscribed && self.types[t].sent_version != current {
                self.send(t, since).await?;
            }
        }
        Ok(())
    }

    /// The identity is due for renewal (or a failed issuance for a retry): issue it and send
    /// the secrets that changed.
    async fn on_renew(&mut self) -> Result<(), End> {
        let (Some(proxy), Some(identity)) = (&mut self.proxy, &mut self.identity) else {
            return Ok(());
        };
        let snapshot = proxy.snapshots.borrow().clone();
        let mut generated = proxy.generated.clone();
        fill_secrets(
            Some(identity),
            &snapshot.state.mesh,
            &proxy.actor,
            &proxy.dataplane,
            &mut generated,
        )
        .await;
        proxy.replace(&self.encoder, generated);
        self.send_changed(None).await
    }

    /// Checks the stream's dataplane token against the node it names (X11): nothing is sent
    /// to a refused stream, and the log names the node, never the token.
    fn authenticate(&self, mesh: &str, dataplane: &str) -> Result<(), End> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let refusal = match token {
            Ok(claims) if claims.mesh == mesh && claims.name == dataplane => return Ok(()),
            Ok(claims) => {
                let e = DataplaneTokenError::OtherDataplane {
                    mesh: claims.mesh.clone(),
                    name: claims.name.clone(),
                };
                Status::permission_denied(e.to_string())
            }
            Err(e) => Status::unauthenticated(e.to_string()),
        };
        self.stats.refused_streams.inc();
        tracing::warn!(node = %format!("{mesh}.{dataplane}"), reason = %refusal.message(), "refused an ADS stream: bad dataplane token");
        Err(End::Refused(refusal))
    }

    /// Sends the current configuration of type `t`; `since`: when the change it delivers was
    /// committed.
    async fn send(&mut self, t: TypeUrl, since: Option<std::time::Instant>) -> Result<(), End> {
        let Some(proxy) = &self.proxy else {
            return Ok(());
        };
        let encoded = &proxy.encoded[t];
        let bytes = encoded.size();
        if bytes > MAX_RESPONSE_BYTES {
            let state = &mut self.types[t];
            if state.oversized.as_ref() != Some(&encoded.version) {
                tracing::error!(
                    mesh = %proxy.mesh,
                    dataplane = %proxy.dataplane,
                    type_url = encoded.type_url.as_str(),
                    bytes,
                    limit = MAX_RESPONSE_BYTES,
                    "configuration too large to send; the proxy keeps its last one"
                );
                state.oversized = Some(encoded.version.clone());
            }
            return Ok(());
        }
        self.nonces += 1;
        let nonce = self.nonces.to_string();
        let response = Box::new(DiscoveryResponse {
            version_info: encoded.version.clone(),
            resources: encoded.resources.clone(),
            type_url: encoded.type_url.as_str().to_string(),
            nonce: nonce.clone(),
            control_plane: Some(ControlPlane {
                identifier: self.instance_id.to_string(),
            }),
            ..Default::default()
        });
        let version = encoded.version.clone();
        self.out.send(Ok(response)).await.map_err(|_| End::Closed)?;
        self.stats
            .responses
            .get_or_create(&TypeLabel { r#type: t.short() })
            .inc();
        let state = &mut self.types[t];
        state.unanswered.push((nonce.clone(), since));
        if state.unanswered.len() > UNANSWERED_KEPT {
            state.unanswered.remove(0);
        }
        state.nonce = nonce;
        state.sent_version = Some(version);
        match t {
            TypeUrl::Cluster => self.eds_after_cds = true,
            TypeUrl::Endpoint => self.eds_after_cds = false,
            _ => {}
        }
        self.count_sent(t);
        Ok(())
    }

    fn count_sent(&mut self, t: TypeUrl) {
        let status = self
            .subscription
            .status
            .get_or_insert_with(Default::default);
        status.last_update_time = Some(Timestamp::now());
        status
            .total
            .get_or_insert_with(Stats::default)
            .responses_sent += 1;
        if let Some(stats) = bucket(status, t) {
            stats.responses_sent += 1;
        }
        self.report();
    }

    fn count_reply(&mut self, t: TypeUrl, rejected: bool) {
        let status = self
            .subscription
            .status
            .get_or_insert_with(Default::default);
        status.last_update_time = Some(Timestamp::now());
        let bump = |s: &mut Stats| {
            if rejected {
                s.responses_rejected += 1;
            } else {
                s.responses_acknowledged += 1;
            }
        };
        bump(status.total.get_or_insert_with(Stats::default));
        if let Some(stats) = bucket(status, t) {
            bump(stats);
        }
        self.report();
    }

    /// The subscription changed: report it now, or with the next report if one is pending or
    /// the last was less than [`REPORT_INTERVAL`] ago.
    fn report(&mut self) {
        if self.report_due.is_some() {
            return;
        }
        if Instant::now() >= self.quiet_until {
            self.report_now();
        } else {
            self.report_due = Some(self.quiet_until);
        }
    }

    fn report_now(&mut self) {
        self.report_due = None;
        self.quiet_until = Instant::now() + REPORT_INTERVAL;
        if let Some(proxy) = &self.proxy {
            proxy.actor.do_send(ReportSubscription {
                dataplane: proxy.dataplane.clone(),
                subscription: self.subscription.clone(),
            });
        }
    }
}

/// Fills the secrets `generated` needs from the stream's `identity` (issuing or renewing it),
/// and tells the mesh actor what became of the certificate (the insight's mTLS section,
/// xDS §4.5).
async fn fill_secrets(
    identity: Option<&mut StreamIdentity>,
    mesh: &Resource,
    actor: &actix::Addr<MeshActor>,
    dataplane: &str,
    generated: &mut Generated,
) {
    let Some(identity) = identity else {
        return;
    };
    if let Some(report) = identity.fulfil(mesh, dataplane, generated).await {
        actor.do_send(ReportCertificate {
            dataplane: dataplane.to_string(),
            report,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids() {
        assert_eq!(
            parse_node_id("default.web-1").unwrap(),
            ("default".into(), "web-1".into())
        );
        assert_eq!(
            parse_node_id("m.pod.ns").unwrap(),
            ("m".into(), "pod.ns".into())
        );
        for bad in ["", "nodot", ".x", "x."] {
            assert!(parse_node_id(bad).is_err(), "{bad}");
        }
    }
}
