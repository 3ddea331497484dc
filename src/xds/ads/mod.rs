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

mod proxy;
mod report;
mod stream;

use proxy::Proxy;
use stream::AdsStream;

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
