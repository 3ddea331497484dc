//! The composition root: builds the store, boots the supervisor and its mesh actors, and
//! starts the API server, all from one [`Config`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpServer};
use serde_json::json;
use ursa_actors::config::{Config, StoreType};
use ursa_actors::registry::MeshRegistry;
use ursa_actors::store::memory::MemoryStore;
use ursa_actors::store::Store;
use ursa_actors::supervisor::{BootError, Supervisor};

use crate::api::{self, cors::Cors, ApiState};

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configured store type is not available in this build.
    #[error("store.type {0} is not supported yet; use memory")]
    UnsupportedStore(String),
    /// Loading the store or creating the default mesh failed.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// The API port could not be bound.
    #[error("could not listen on {addr} (apiServer.interface/apiServer.port): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// How to run the servers (not part of Kuma's configuration).
#[derive(Clone, Debug)]
pub struct Options {
    /// HTTP worker threads.
    pub workers: usize,
    /// Whether the servers stop themselves on SIGINT/SIGTERM.
    pub handle_signals: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            handle_signals: true,
        }
    }
}

/// A started control plane.
pub struct Running {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// The effective configuration (with the bound port).
    pub config: Config,
    server: Server,
}

impl Running {
    /// A handle that stops the servers.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs until the servers stop (signal or handle).
    pub async fn wait(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Starts everything; must run inside an actix system.
pub async fn start(mut config: Config, options: Options) -> Result<Running, StartError> {
    let store: Arc<dyn Store> = match config.store.kind {
        StoreType::Memory => Arc::new(MemoryStore::new()),
        other => return Err(StartError::UnsupportedStore(other.to_string())),
    };
    let registry = MeshRegistry::new();
    let supervisor = Supervisor::boot(store, registry.clone(), Some(&config.defaults.mesh)).await?;

    let addr = format!("{}:{}", config.api_server.interface, config.api_server.port);
    let listener = TcpListener::bind(addr.as_str()).map_err(|source| StartError::Bind {
        addr: addr.clone(),
        source,
    })?;
    let api_addr = listener
        .local_addr()
        .map_err(|source| StartError::Bind { addr, source })?;
    // With port 0 the OS picked one: the effective config and `next` links show the real port.
    config.api_server.port = api_addr.port();

    let state = web::Data::new(ApiState {
        registry,
        supervisor,
        read_only: config.api_server.read_only,
        cors: Cors::new(&config.api_server.cors_allowed_domains),
        public_url: format!(
            "http://{}:{}",
            config.general.advertised_hostname,
            api_addr.port()
        ),
        index: json_bytes(&json!({
            "hostname": hostname(),
            "tagline": "Kuma",
            "version": env!("CARGO_PKG_VERSION"),
            "product": "Ursa",
        })),
        config: json_bytes(&config.to_public_json()),
        catalog: json_bytes(&catalog(&config)),
    });
    let mut server = HttpServer::new(move || App::new().configure(api::configure(state.clone())))
        .workers(options.workers)
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: api_addr.to_string(),
            source,
        })?;
    if !options.handle_signals {
        server = server.disable_signals();
    }
    tracing::info!(
        api = %format!("http://{api_addr}"),
        store = %config.store.kind,
        "Ursa control plane {} started", env!("CARGO_PKG_VERSION")
    );
    Ok(Running {
        api_addr,
        config,
        server: server.run(),
    })
}

fn json_bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// `GET /catalog` (§3.3). Ursa has no admin server yet, so its URLs are empty.
fn catalog(config: &Config) -> serde_json::Value {
    json!({
        "apis": {
            "bootstrap": { "url": config.api_server.catalog.bootstrap.url },
            "dataplaneToken": { "localUrl": "", "publicUrl": "" },
            "admin": { "localUrl": "", "publicUrl": "" },
            "monitoringAssignment": { "url": config.api_server.catalog.monitoring_assignment.url },
        }
    })
}

/// The machine's hostname, read once at start-up.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
