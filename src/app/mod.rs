//! The composition root: builds the store, boots the supervisor and its mesh actors, and
//! starts the API server, the bootstrap server and the xDS server, all from one [`Config`].

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web::{self, Bytes};
use serde_json::json;
use tokio::sync::watch;
use ursa_actors::config::{Config, StoreType};
use ursa_actors::liveness::{LeaseSettings, Liveness};
use ursa_actors::mesh_actor::MeshSettings;
use ursa_actors::registry::MeshRegistry;
use ursa_actors::store::memory::MemoryStore;
use ursa_actors::store::postgres::PostgresStore;
use ursa_actors::store::Store;
use ursa_actors::supervisor::{BootError, Placement, Supervisor};

use crate::admin::{self, AdminState};
use crate::api::{self, cors::Cors, ApiState};
use crate::auth::Tokens;
use crate::bootstrap::{self, BootstrapParams, BootstrapState};
use crate::dataplane_token::DataplaneTokens;
use crate::diagnostics::{self, Metrics, Readiness};
use crate::http::server::{serve, ServeOptions};
use crate::metered::Metered;
use crate::xds::ads::Ads;
use crate::xds::identity::Issuer;
use crate::xds::tls::XdsTls;

mod index;
mod xds;

use index::{catalog, hostname, json_bytes};
use xds::start_xds;

/// The Kuma version whose API Ursa serves, shown as `version` by `GET /` (D20): Kuma's GUI
/// builds its documentation links from it. Ursa's own version is `ursaVersion`.
pub const KUMA_VERSION: &str = "0.5.0";

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The PostgreSQL store could not be opened (unreachable, refused, schema too new).
    #[error("could not open the PostgreSQL store at {target} (store.postgres.*): {source}")]
    Store {
        /// host:port/database.
        target: String,
        /// Why.
        source: ursa_actors::store::StoreError,
    },
    /// Loading the store or creating the default mesh failed.
    #[error(transparent)]
    Boot(#[from] BootError),
    /// A port could not be bound.
    #[error("could not listen on {addr} ({key}): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The configuration key of the port.
        key: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The xDS server's runtime could not be built.
    #[error("could not start the xDS server: {0}")]
    Xds(std::io::Error),
    /// The user-token signing key could not be read from, or stored in, the store.
    #[error("could not load the user-token signing key from the store: {0}")]
    Tokens(ursa_actors::store::StoreError),
    /// The HTTPS listener's certificate or key is missing or unusable.
    #[error("apiServer.https: {0}")]
    Tls(#[from] crate::http::server::TlsError),
    /// The xDS server's certificate or key is missing or unusable.
    #[error("xdsServer: {0}")]
    XdsTls(crate::http::server::TlsError),
}

/// How to run the servers (not part of Kuma's configuration).
#[derive(Clone, Debug)]
pub struct Options {
    /// HTTP worker threads of the API server.
    pub workers: usize,
    /// Whether the servers stop themselves on SIGINT/SIGTERM.
    pub handle_signals: bool,
    /// This control-plane instance, in subscriptions, store notifications and its lease: a
    /// new one per process (a restarted instance is a new instance).
    pub instance_id: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            handle_signals: true,
            instance_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Where the servers listen.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    /// HTTP API.
    pub api: SocketAddr,
    /// Bootstrap server.
    pub bootstrap: SocketAddr,
    /// xDS (ADS) gRPC server.
    pub xds: SocketAddr,
    /// Diagnostics server (metrics, readiness).
    pub diagnostics: SocketAddr,
    /// Admin server (user tokens), on loopback.
    pub admin: SocketAddr,
    /// The API over HTTPS, when enabled.
    pub https: Option<SocketAddr>,
}

/// A started control plane.
pub struct Running {
    /// Where the API listens.
    pub api_addr: SocketAddr,
    /// Where every server listens.
    pub addresses: Addresses,
    /// The effective configuration (with the bound ports).
    pub config: Config,
    api: Server,
    /// The bootstrap server runs as its own task; this stops it.
    bootstrap: ServerHandle,
    /// The diagnostics server, likewise.
    diagnostics: ServerHandle,
    /// The admin server, likewise.
    admin: ServerHandle,
    /// The HTTPS API server, likewise.
    https: Option<ServerHandle>,
    xds_shutdown: watch::Sender<bool>,
    xds_thread: std::thread::JoinHandle<()>,
    /// The threads the mesh actors run on.
    mesh_threads: Vec<actix::Arbiter>,
    /// Renews this instance's lease while it runs (none on the memory store).
    _liveness: Option<actix::Addr<Liveness>>,
}

impl Running {
    /// A handle that stops the control plane (stopping the API server stops them all).
    pub fn handle(&self) -> ServerHandle {
        self.api.handle()
    }

    /// Runs until the API server stops (signal or handle), then stops the other servers.
    pub async fn wait(self) -> std::io::Result<()> {
        let result = self.api.await;
        tracing::info!("shutting down");
        self.bootstrap.stop(true).await;
        self.diagnostics.stop(true).await;
        self.admin.stop(true).await;
        if let Some(https) = &self.https {
            https.stop(true).await;
        }
        let _ = self.xds_shutdown.send(true);
        let xds_thread = self.xds_thread;
        let mesh_threads = self.mesh_threads;
        // The xDS runtime ends its streams and joins here, and the mesh actors' threads stop;
        // do not block the actix thread on them.
        let _ = tokio::task::spawn_blocking(move || {
            let _ = xds_thread.join();
            for arbiter in mesh_threads {
                arbiter.stop();
                let _ = arbiter.join();
            }
        })
        .await;
        result
    }
}

fn bind(
    interface: &str,
    port: u16,
    key: &'static str,
) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_err = |source| StartError::Bind {
        addr: match interface {
            "" => format!("every interface, port {port}"),
            i => format!("{i} port {port}"),
        },
        key,
        source,
    };
    let listener = crate::listener::listen(interface, port).map_err(bind_err)?;
    let local = listener.local_addr().map_err(bind_err)?;
    Ok((listener, local))
}

/// Starts everything; must run inside an actix system.
pub async fn start(config: Config, options: Options) -> Result<Running, StartError> {
    let store: Arc<dyn Store> = match config.store.kind {
        StoreType::Memory => Arc::new(MemoryStore::new()),
        StoreType::Postgres => {
            let pg = &config.store.postgres;
            let store = PostgresStore::connect(pg)
                .await
                .map_err(|source| StartError::Store {
                    target: format!("{}:{}/{}", pg.host, pg.port, pg.db_name),
                    source,
                })?;
            Arc::new(store.with_instance_id(&options.instance_id))
        }
    };
    start_with_store(config, options, store).await
}

/// [`start`] on a store built by the caller (`config.store` is then only shown, not used).
pub async fn start_with_store(
    mut config: Config,
    options: Options,
    store: Arc<dyn Store>,
) -> Result<Running, StartError> {
    let metrics = Metrics::new();
    let store: Arc<dyn Store> = Arc::new(Metered::new(store, metrics.store.clone()));
    // Every server binds the API interface (`apiServer.interface`): empty, every interface of
    // both families.
    let interface = config.api_server.interface.clone();
    let (api_listener, api_addr) = bind(&interface, config.api_server.port, "apiServer.port")?;
    let (bootstrap_listener, bootstrap_addr) = bind(
        &interface,
        config.bootstrap_server.port,
        "bootstrapServer.port",
    )?;
    let (xds_listener, xds_addr) = bind(
        &interface,
        config.xds_server.grpc_port,
        "xdsServer.grpcPort",
    )?;
    let (diagnostics_listener, diagnostics_addr) = bind(
        &interface,
        config.xds_server.diagnostics_port,
        "xdsServer.diagnosticsPort",
    )?;
    // Only an operator on this machine may issue tokens: loopback, whatever the interface.
    let (admin_listener, admin_addr) = bind(
        "127.0.0.1",
        config.admin_server.local.port,
        "adminServer.local.port",
    )?;
    let https = if config.api_server.https.enabled {
        let h = &config.api_server.https;
        let tls = crate::http::server::tls_config(
            &h.tls_cert_file,
            &h.tls_key_file,
            "apiServer.https.tlsCertFile",
            "apiServer.https.tlsKeyFile",
        )?;
        let (listener, addr) = bind(&interface, h.port, "apiServer.https.port")?;
        config.api_server.https.port = addr.port();
        Some((listener, addr, tls))
    } else {
        None
    };
    config.admin_server.local.port = admin_addr.port();
    // With port 0 the OS picked one: the effective config, links and bootstraps show the real one.
    config.api_server.port = api_addr.port();
    config.bootstrap_server.port = bootstrap_addr.port();
    config.xds_server.grpc_port = xds_addr.port();
    config.xds_server.diagnostics_port = diagnostics_addr.port();
    config.auto_configure();

    let registry = MeshRegistry::new();
    let settings = MeshSettings {
        insight_flush_interval: config.xds_server.dataplane_status_flush_interval.0,
        instance_id: options.instance_id.as_str().into(),
    };
    let mesh_threads: Vec<actix::Arbiter> = (0..config.general.mesh_threads())
        .map(|_| actix::Arbiter::new())
        .collect();
    let placement = Placement::new(mesh_threads.iter().map(|a| a.handle()).collect());
    let supervisor = Supervisor::boot(
        store.clone(),
        registry.clone(),
        Some(&config.defaults.mesh),
        settings,
        placement,
    )
    .await?;
    let tokens = Arc::new(
        Tokens::load(store.clone())
            .await
            .map_err(StartError::Tokens)?,
    );
    let dataplane_tokens = Arc::new(
        DataplaneTokens::load(&*store)
            .await
            .map_err(StartError::Tokens)?,
    );
    // Certificates are signed on the blocking threads, half the cores at most (X14).
    let issuer = Arc::new(Issuer::new(
        Arc::new(ursa_actors::ca::Authorities::new(store.clone())),
        std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
    ));
    let xds_tls = if config.xds_server.tls_enabled {
        Some(
            XdsTls::load(&config, &*store)
                .await
                .map_err(StartError::XdsTls)?,
        )
    } else {
        None
    };
    if config.api_server.auth.enabled {
        // Revocations made through other instances.
        actix_web::rt::spawn(tokens.clone().refresh_forever());
    }
    let metrics = Arc::new(metrics.observe_meshes(registry.clone()));

    // Before any stream connects: a subscription of this instance always has a lease to expire.
    let liveness = Liveness::start(
        store.clone(),
        registry.clone(),
        &options.instance_id,
        LeaseSettings::from(&config.store.postgres.instance_lease),
    )
    .await;
    let mut ads = Ads::new(
        registry.clone(),
        options.instance_id.clone(),
        metrics.xds.clone(),
        issuer,
    )
    .with_max_streams(config.limits.xds.max_streams as usize);
    if config.dataplane_token_server.enabled {
        ads = ads.with_dataplane_tokens(dataplane_tokens.clone());
    }
    let (xds_shutdown, xds_thread) = start_xds(
        xds_listener,
        ads,
        xds_tls.as_ref().map(|t| t.server_config.clone()),
    )?;

    let limits = config.limits.http.clone();
    let bootstrap_state = web::Data::new(BootstrapState {
        registry: registry.clone(),
        params: BootstrapParams::from_config(&config)
            .with_xds_ca(xds_tls.as_ref().map(|t| t.trusted_ca_pem.clone())),
        body_timeout: limits.read_body_timeout.0,
    });
    let bootstrap = serve_on(
        (bootstrap_listener, bootstrap_addr, "bootstrapServer.port"),
        ServeOptions::internal("bootstrap", &limits),
        move |cfg| bootstrap::configure(bootstrap_state.clone())(cfg),
    )?;

    let diagnostics = serve_on(
        (
            diagnostics_listener,
            diagnostics_addr,
            "xdsServer.diagnosticsPort",
        ),
        ServeOptions::internal("diagnostics", &limits),
        diagnostics::configure(metrics.clone(), Arc::new(Readiness::new(store))),
    )?;

    let state = web::Data::new(ApiState {
        registry,
        supervisor,
        read_only: config.api_server.read_only,
        cors: Cors::new(&config.api_server.cors_allowed_domains),
        body_timeout: limits.read_body_timeout.0,
        public_url: format!(
            "http://{}:{}",
            config.general.advertised_hostname,
            api_addr.port()
        ),
        index: json_bytes(&json!({
            "hostname": hostname(),
            "tagline": "Kuma",
            "version": KUMA_VERSION,
            "product": "Ursa",
            "ursaVersion": env!("CARGO_PKG_VERSION"),
        })),
        config: json_bytes(&config.to_public_json()),
        catalog: json_bytes(&catalog(&config)),
        openapi: Bytes::from(api::openapi::document_text()),
        auth: config.api_server.auth.enabled.then(|| tokens.clone()),
        reads_require_token: config.api_server.auth.reads_require_token,
        metrics: metrics.api.clone(),
    });
    let admin_state = web::Data::new(AdminState {
        tokens,
        dataplane_tokens: config
            .admin_server
            .apis
            .dataplane_token
            .enabled
            .then_some(dataplane_tokens),
        body_timeout: limits.read_body_timeout.0,
    });
    let admin = serve_on(
        (admin_listener, admin_addr, "adminServer.local.port"),
        ServeOptions::internal("admin", &limits),
        admin::configure(admin_state),
    )?;
    let mut https_addr = None;
    let https = match https {
        None => None,
        Some((listener, addr, tls)) => {
            https_addr = Some(addr);
            let state = state.clone();
            let server = serve(
                vec![listener],
                &ServeOptions {
                    name: "api-https",
                    workers: options.workers,
                    limits: limits.clone(),
                    handle_signals: false,
                    tls: Some(tls),
                },
                move |cfg| api::configure(state.clone())(cfg),
            )
            .map_err(|source| StartError::Bind {
                addr: addr.to_string(),
                key: "apiServer.https.port",
                source,
            })?;
            Some(spawn_server(server))
        }
    };
    let api = serve(
        vec![api_listener],
        &ServeOptions {
            name: "api",
            workers: options.workers,
            limits,
            handle_signals: options.handle_signals,
            tls: None,
        },
        move |cfg| api::configure(state.clone())(cfg),
    )
    .map_err(|source| StartError::Bind {
        addr: api_addr.to_string(),
        key: "apiServer.port",
        source,
    })?;
    tracing::info!(
        api = %format!("http://{api_addr}"),
        bootstrap = %format!("http://{bootstrap_addr}"),
        xds = %format!("grpc://{xds_addr}"),
        diagnostics = %format!("http://{diagnostics_addr}"),
        admin = %format!("http://{admin_addr}"),
        https = %https_addr.map(|a| format!("https://{a}")).unwrap_or_default(),
        store = %config.store.kind,
        "Ursa control plane {} started", env!("CARGO_PKG_VERSION")
    );
    Ok(Running {
        api_addr,
        addresses: Addresses {
            api: api_addr,
            bootstrap: bootstrap_addr,
            xds: xds_addr,
            diagnostics: diagnostics_addr,
            admin: admin_addr,
            https: https_addr,
        },
        config,
        api,
        // An actix server only processes commands while polled: run these as tasks.
        bootstrap: spawn_server(bootstrap),
        diagnostics: spawn_server(diagnostics),
        admin: spawn_server(admin),
        https,
        xds_shutdown,
        xds_thread,
        mesh_threads,
        _liveness: liveness,
    })
}

/// Serves `configure` on a bound socket; a failure names the socket's config key.
fn serve_on<F>(
    (listener, addr, key): (TcpListener, SocketAddr, &'static str),
    options: ServeOptions,
    configure: F,
) -> Result<Server, StartError>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    serve(vec![listener], &options, configure).map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        key,
        source,
    })
}

fn spawn_server(server: Server) -> ServerHandle {
    let handle = server.handle();
    actix_web::rt::spawn(server);
    handle
}
