//! A fleet of simulated Envoys on ADS (state of the world), many streams per HTTP/2 connection.
//!
//! Each client behaves like Envoy: it asks for clusters (CDS) with its `node.id`, ACKs each
//! response with its version and nonce, asks for the endpoints (EDS) of the EDS clusters by name,
//! then for listeners (LDS), then for the route configurations (RDS) the listeners name, and
//! ACKs everything; when a new cluster set arrives it re-asks EDS for the new names.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::RouteSpecifier;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use prost::Message;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};

/// Type URLs (as in `src/xds/encode.rs`).
pub const CDS: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
/// EDS.
pub const EDS: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
/// LDS.
pub const LDS: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
/// RDS.
pub const RDS: &str = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const HCM: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/// What the bench can observe of one client, updated by its task.
#[derive(Default)]
pub struct ClientState {
    /// µs since the fleet's epoch when CDS, EDS, LDS and (if named) RDS were all ACKed;
    /// 0 = not yet.
    pub full_at: AtomicU64,
    /// µs since the epoch of the last ACK sent.
    pub last_ack_at: AtomicU64,
    /// Distinct CDS versions received.
    pub cds_versions: AtomicU32,
    /// Responses received.
    pub responses: AtomicU64,
    /// ACKs sent (requests carrying a nonce).
    pub acks: AtomicU64,
    /// Set when the stream ended with an error.
    pub failed: AtomicU32,
}

/// A connected fleet; dropping it ends every stream.
pub struct Fleet {
    /// When the fleet started connecting.
    pub epoch: Instant,
    /// One state per client, in dataplane order.
    pub clients: Arc<Vec<ClientState>>,
    /// µs since the epoch of the last response any client received.
    pub last_response_at: Arc<AtomicU64>,
    stop: watch::Sender<bool>,
}

impl Fleet {
    /// Opens `names.len()` ADS streams to `addr`, `per_connection` streams per HTTP/2
    /// connection, client `i` identifying as `<mesh>.<names[i]>`.
    pub async fn connect(
        addr: std::net::SocketAddr,
        mesh: &str,
        names: &[String],
        per_connection: usize,
    ) -> Result<Fleet, String> {
        let epoch = Instant::now();
        let clients: Arc<Vec<ClientState>> =
            Arc::new((0..names.len()).map(|_| ClientState::default()).collect());
        let last_response_at = Arc::new(AtomicU64::new(0));
        let (stop, stop_rx) = watch::channel(false);
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            // One connection carries the streams of many Envoys: give it the windows Envoy gives
            // its own xDS connection, so flow control is not what is measured.
            .initial_connection_window_size(64 * 1024 * 1024)
            .initial_stream_window_size(4 * 1024 * 1024);
        let mut channels: Vec<Channel> = Vec::new();
        for _ in 0..names.len().div_ceil(per_connection.max(1)) {
            channels.push(
                endpoint
                    .connect()
                    .await
                    .map_err(|e| format!("connecting to {addr}: {e}"))?,
            );
        }
        for (i, name) in names.iter().enumerate() {
            let channel = channels[i / per_connection.max(1)].clone();
            let client = Client {
                index: i,
                node_id: format!("{mesh}.{name}"),
                clients: clients.clone(),
                last_response_at: last_response_at.clone(),
                epoch,
            };
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                if client.run(channel, stop).await.is_err() {
                    client.state().failed.store(1, Ordering::Relaxed);
                }
            });
        }
        Ok(Fleet {
            epoch,
            clients,
            last_response_at,
            stop,
        })
    }

    /// µs since the epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Clients with their full first configuration.
    pub fn full_count(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| c.full_at.load(Ordering::Relaxed) > 0)
            .count()
    }

    /// Clients whose stream failed.
    pub fn failed_count(&self) -> usize {
        self.clients
            .iter()
            .filter(|c| c.failed.load(Ordering::Relaxed) > 0)
            .count()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

struct Client {
    index: usize,
    node_id: String,
    clients: Arc<Vec<ClientState>>,
    last_response_at: Arc<AtomicU64>,
    epoch: Instant,
}

/// What the client holds of one type.
#[derive(Default)]
struct TypeState {
    version: String,
    nonce: String,
    names: Vec<String>,
    acked: bool,
    requested: bool,
}

const CDS_I: usize = 0;
const EDS_I: usize = 1;
const LDS_I: usize = 2;
const RDS_I: usize = 3;
const URLS: [&str; 4] = [CDS, EDS, LDS, RDS];

impl Client {
    fn state(&self) -> &ClientState {
        &self.clients[self.index]
    }

    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    async fn run(&self, channel: Channel, mut stop: watch::Receiver<bool>) -> Result<(), ()> {
        let (tx, rx) = mpsc::channel::<DiscoveryRequest>(16);
        let mut types: [TypeState; 4] = Default::default();
        let node = Node {
            id: self.node_id.clone(),
            ..Default::default()
        };
        tx.send(DiscoveryRequest {
            node: Some(node),
            type_url: CDS.into(),
            ..Default::default()
        })
        .await
        .map_err(|_| ())?;
        types[CDS_I].requested = true;
        let mut client = AggregatedDiscoveryServiceClient::new(channel)
            .max_decoding_message_size(256 * 1024 * 1024);
        let mut responses = client
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .map_err(|_| ())?
            .into_inner();
        loop {
            let response = tokio::select! {
                r = responses.message() => r,
                _ = stop.changed() => return Ok(()),
            };
            let response = match response {
                Ok(Some(r)) => r,
                Ok(None) => return Ok(()),
                Err(_) => return Err(()),
            };
            self.on_response(&tx, &mut types, response).await?;
        }
    }

    async fn on_response(
        &self,
        tx: &mpsc::Sender<DiscoveryRequest>,
        types: &mut [TypeState; 4],
        response: DiscoveryResponse,
    ) -> Result<(), ()> {
        let now = self.now_us();
        self.last_response_at.fetch_max(now, Ordering::Relaxed);
        let state = self.state();
        state.responses.fetch_add(1, Ordering::Relaxed);
        let Some(t) = URLS.iter().position(|u| *u == response.type_url) else {
            return Ok(());
        };
        if t == CDS_I && types[CDS_I].version != response.version_info {
            state.cds_versions.fetch_add(1, Ordering::Relaxed);
        }
        types[t].version = response.version_info.clone();
        types[t].nonce = response.nonce.clone();
        // Names this response makes Envoy watch next (EDS after CDS, RDS after LDS).
        let follow = match t {
            CDS_I => Some((EDS_I, eds_cluster_names(&response))),
            LDS_I => Some((RDS_I, route_names(&response))),
            _ => None,
        };
        // ACK.
        let ack = DiscoveryRequest {
            version_info: response.version_info,
            response_nonce: response.nonce,
            type_url: response.type_url,
            resource_names: types[t].names.clone(),
            ..Default::default()
        };
        tx.send(ack).await.map_err(|_| ())?;
        types[t].acked = true;
        state.acks.fetch_add(1, Ordering::Relaxed);
        state
            .last_ack_at
            .fetch_max(self.now_us(), Ordering::Relaxed);
        if let Some((next, names)) = follow {
            let changed = names != types[next].names;
            if changed || !types[next].requested {
                types[next].names = names;
                types[next].requested = true;
                tx.send(DiscoveryRequest {
                    version_info: types[next].version.clone(),
                    response_nonce: types[next].nonce.clone(),
                    type_url: URLS[next].into(),
                    resource_names: types[next].names.clone(),
                    ..Default::default()
                })
                .await
                .map_err(|_| ())?;
            }
        }
        // Listeners once the clusters are warm (their endpoints arrived), as Envoy does.
        if t == EDS_I && !types[LDS_I].requested {
            types[LDS_I].requested = true;
            tx.send(DiscoveryRequest {
                type_url: LDS.into(),
                ..Default::default()
            })
            .await
            .map_err(|_| ())?;
        }
        let complete = types[CDS_I].acked
            && types[EDS_I].acked
            && types[LDS_I].acked
            && (types[RDS_I].names.is_empty() || types[RDS_I].acked);
        if complete && state.full_at.load(Ordering::Relaxed) == 0 {
            state.full_at.store(self.now_us().max(1), Ordering::Relaxed);
        }
        Ok(())
    }
}

fn eds_cluster_names(response: &DiscoveryResponse) -> Vec<String> {
    let mut names: Vec<String> = response
        .resources
        .iter()
        .filter_map(|any| Cluster::decode(any.value.as_slice()).ok())
        .filter(|c| {
            c.cluster_discovery_type == Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32))
        })
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

fn route_names(response: &DiscoveryResponse) -> Vec<String> {
    let mut names = Vec::new();
    for any in &response.resources {
        let Ok(listener) = Listener::decode(any.value.as_slice()) else {
            continue;
        };
        for chain in &listener.filter_chains {
            for filter in &chain.filters {
                let Some(ConfigType::TypedConfig(config)) = &filter.config_type else {
                    continue;
                };
                if config.type_url != HCM {
                    continue;
                }
                if let Ok(hcm) = HttpConnectionManager::decode(config.value.as_slice()) {
                    if let Some(RouteSpecifier::Rds(rds)) = hcm.route_specifier {
                        names.push(rds.route_config_name);
                    }
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Waits until `done` holds or `timeout` passes, polling every 20 ms.
pub async fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
