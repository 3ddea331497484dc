//! The PostgreSQL store (`store.type: postgres`): durable state that several control-plane
//! instances share. Every SQL statement of Ursa lives in this module (`sql.rs` and the embedded
//! migrations).
//!
//! # Schema
//!
//! One table, `resources`, holds every resource of every kind:
//!
//! | column | type | |
//! |---|---|---|
//! | `kind` | `text` | the `type` string, e.g. `Dataplane` |
//! | `mesh` | `text` | the mesh (a Mesh: its own name) |
//! | `name` | `text` | no length limit in the schema (the API allows 253, D17) |
//! | `version` | `bigint` | 1 at creation, +1 per update: the optimistic-concurrency check |
//! | `creation_time`, `modification_time` | `timestamptz` | **microsecond precision**: a time with nanoseconds comes back truncated to microseconds |
//! | `spec` | `json` | the spec's proto3 JSON (`serde_json::to_value(&spec)`), decoded back with [`Kind::decode`] |
//!
//! The key is (kind, mesh, name): the primary key is ordered (kind, name, mesh), so a list of
//! one kind across meshes is an index scan in list order (name then mesh), and the index
//! `(mesh, kind, name)` serves a list of one kind in one mesh and the cascade of a mesh delete.
//! Text columns use the `"C"` collation: the order is byte order, the memory store's. `json`
//! rather than `jsonb` keeps the text as written (jsonb rejects the `\u0000` escape that a
//! spec string may contain, and costs a parse per write). `secrets` holds control-plane secrets
//! (name, `bytea` value, creation time; see [`crate::store::secrets`]). `schema_migrations` records the
//! migrations applied; they are embedded in the binary, applied by [`PostgresStore::connect`]
//! (or [`migrate`]) in one transaction under `pg_advisory_xact_lock`, so instances starting
//! together apply each once; a database whose schema is newer than the binary is refused.
//!
//! # Writes
//!
//! [`Store::commit`] runs a batch as one transaction, its statements pipelined on one
//! connection (sent together, answered in order). No statement fails for an expected outcome,
//! so one change cannot abort the others: an insert is `ON CONFLICT DO NOTHING` (no row →
//! `AlreadyExists`), an update is `WHERE version = expected` (no row → `Conflict`, or
//! `NotFound` when the key was absent), a delete removes what the resource owns in the same
//! statement (a Mesh: everything in the mesh; a Dataplane: its insight; no row → `NotFound`;
//! given a version, only a row at that version, else `Conflict`).
//! As in the memory store, an update whose new version is not `expected + 1` is a `Conflict`.
//! A transaction aborted by a deadlock with a concurrent writer is run again, and so is one
//! whose pooled connection turned out to be dead before COMMIT was sent (a server restart):
//! either applied nothing. Reads are likewise run again on another connection. Create,
//! update and delete are a commit of one change.
//!
//! **Durability**: a write returns only after `COMMIT` succeeded, and the store leaves
//! `synchronous_commit` at the server's setting (on by default), so an acknowledged write is on
//! the server's disk. When the connection fails during `COMMIT` itself the outcome is unknown
//! to the caller (`Unavailable`); the change feed's `Resync` and a reload settle it.
//!
//! # Change notifications
//!
//! Each applied change also runs
//! `pg_notify('ursa_changes', '{"kind":…,"mesh":…,"name":…,"instance":…}')` in the same
//! statement, so notifications are sent when, and only if, the transaction commits
//! (PostgreSQL delivers them after COMMIT; identical payloads of one transaction are
//! delivered once). `instance` is the writing control-plane instance
//! ([`PostgresStore::with_instance_id`]). [`Store::subscribe`] opens a dedicated connection
//! that `LISTEN`s and turns the notifications of *other* instances' writes into
//! [`StoreEvent::Changed`]: an instance applied its own writes when they committed, so reading
//! them back would cost a query per write for nothing. A
//! Mesh's event stands for everything in it, a Dataplane's for its insight too. Each time
//! listening starts (the first time, and after the connection dropped and was re-established
//! with a backoff of 100 ms doubling to 5 s) a [`StoreEvent::Resync`] is sent: changes made
//! while nobody listened are lost, so the subscriber reloads. The first event of a
//! subscription is therefore always `Resync`, once `LISTEN` is in effect: a subscriber that
//! loads after it has missed nothing. A subscriber that falls 1024 events behind gets a
//! `Resync` instead of the dropped events.
//!
//! # Instance leases
//!
//! `control_plane_instances(id, started_at, renewed_at)` holds one lease per control-plane
//! instance ([`super::lease::Leases`]): renewed with the server's `now()`, found expired by
//! comparing with the server's `now()`, so the instances' clocks never matter.
//!
//! # Failures
//!
//! Connection-level failures (refused, reset, timed out after `connectionTimeout`, the server
//! shutting down or starting, a read-only standby, out of resources) are
//! [`StoreError::Unavailable`]; anything else is `Internal`. Errors never contain the
//! password: the driver does not echo it and the configuration is never formatted.

mod error;
mod lease;
mod listen;
mod migrations;
mod read;
mod secrets;
mod sql;
mod tls;
mod write;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio::sync::mpsc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::Instrument;

pub use migrations::{Migrated, LATEST as SCHEMA_VERSION};

use self::error::{describe, pool_error};
use self::write::commit;
use super::{Change, Store, StoreError, StoreEvent, StoreFuture};
use crate::config::PostgresStoreConfig;
use crate::kinds::Kind;
use crate::page::{Page, PageRequest};
use crate::resource::Resource;

/// Connections of the pool when `maxOpenConnections` is 0.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

/// `application_name` of the pooled connections, visible in `pg_stat_activity`.
const APPLICATION_NAME: &str = "ursa-cp";

/// `application_name` of the connection that listens for changes.
const LISTEN_APPLICATION_NAME: &str = "ursa-cp-listen";

/// A [`Store`] in a PostgreSQL database, shared by every control-plane instance that connects
/// to it. See the [module documentation](self) for the schema and guarantees.
pub struct PostgresStore {
    pool: Pool,
    listen_config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    connect_timeout: Option<Duration>,
    runtime: Option<tokio::runtime::Handle>,
    /// The control-plane instance writing through this store, named in its notifications.
    instance: Arc<str>,
}

impl PostgresStore {
    /// Connects (bounded by `connectionTimeout` seconds; 0 waits indefinitely), brings the
    /// schema up to date and returns the store. A pool of at most `maxOpenConnections`
    /// connections (0 = [`DEFAULT_MAX_CONNECTIONS`]) is opened on demand; the change feed
    /// uses one more connection per [`Store::subscribe`]. Fails with `Unavailable` when the
    /// server cannot be reached or refuses the login, `Internal` for a bad TLS setting or a
    /// schema newer than this binary.
    pub async fn connect(config: &PostgresStoreConfig) -> Result<PostgresStore, StoreError> {
        let (mode, tls) = tls::connector(&config.tls)?;
        let connect_timeout = timeout(config);
        let manager = Manager::from_config(
            pg_config(config, mode, APPLICATION_NAME),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_size = match config.max_open_connections {
            0 => DEFAULT_MAX_CONNECTIONS,
            n => n as usize,
        };
        let pool = Pool::builder(manager)
            .max_size(max_size)
            .runtime(Runtime::Tokio1)
            .create_timeout(connect_timeout)
            .recycle_timeout(connect_timeout)
            .build()
            .map_err(|e| StoreError::Internal(format!("connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
        migrations::run(&mut client).await?;
        drop(client);
        Ok(PostgresStore {
            pool,
            listen_config: pg_config(config, mode, LISTEN_APPLICATION_NAME),
            tls,
            connect_timeout,
            runtime: tokio::runtime::Handle::try_current().ok(),
            instance: uuid::Uuid::new_v4().to_string().into(),
        })
    }

    /// This store writes for control-plane instance `id` (by default a random one): its
    /// notifications name it, and its change feed leaves them out.
    pub fn with_instance_id(mut self, id: &str) -> PostgresStore {
        self.instance = id.into();
        self
    }

    /// The control-plane instance this store writes for.
    pub fn instance_id(&self) -> &str {
        &self.instance
    }
}

/// Brings the database's schema up to date on one connection and closes it (`ursa-cp migrate`;
/// [`PostgresStore::connect`] does the same). Fails when the database's schema is newer than
/// this binary knows.
pub async fn migrate(config: &PostgresStoreConfig) -> Result<Migrated, StoreError> {
    let (mode, tls) = tls::connector(&config.tls)?;
    let (mut client, connection) = pg_config(config, mode, APPLICATION_NAME)
        .connect(tls)
        .await
        .map_err(|e| StoreError::Unavailable(describe(&e)))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %describe(&e), "migration connection ended");
        }
    });
    let result = migrations::run(&mut client).await;
    drop(client);
    let _ = driver.await;
    result
}

fn timeout(config: &PostgresStoreConfig) -> Option<Duration> {
    (config.connection_timeout > 0).then(|| Duration::from_secs(config.connection_timeout))
}

/// The driver's settings. Built field by field: the password is set here and never formatted
/// (the driver's own `Debug` redacts it).
fn pg_config(
    config: &PostgresStoreConfig,
    mode: SslMode,
    application_name: &str,
) -> tokio_postgres::Config {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&config.host)
        .port(config.port)
        .user(&config.user)
        .dbname(&config.db_name)
        .application_name(application_name)
        .ssl_mode(mode)
        // Notice a dead peer (a listener waits silently) within about a minute.
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3);
    if !config.password.is_empty() {
        pg.password(&config.password);
    }
    if let Some(t) = timeout(config) {
        pg.connect_timeout(t);
    }
    pg
}

fn single(results: Result<Vec<Result<(), StoreError>>, StoreError>) -> Result<(), StoreError> {
    results?.pop().unwrap_or_else(|| {
        Err(StoreError::Internal(
            "a commit returned no result".to_owned(),
        ))
    })
}

impl Store for PostgresStore {
    fn create(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let (pool, instance) = (self.pool.clone(), self.instance.clone());
        Box::pin(
            async move { single(commit(pool, instance, vec![Change::Create(resource)]).await) },
        )
    }

    fn update(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let (pool, instance) = (self.pool.clone(), self.instance.clone());
        let expected = resource.meta.version.wrapping_sub(1);
        let change = Change::Update { resource, expected };
        Box::pin(async move { single(commit(pool, instance, vec![change]).await) })
    }

    fn delete(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<()> {
        let (pool, instance) = (self.pool.clone(), self.instance.clone());
        let change = Change::Delete {
            kind,
            mesh: mesh.to_owned(),
            name: name.to_owned(),
            expected: None,
        };
        Box::pin(async move { single(commit(pool, instance, vec![change]).await) })
    }

    fn delete_at(&self, kind: Kind, mesh: &str, name: &str, expected: u64) -> StoreFuture<()> {
        let (pool, instance) = (self.pool.clone(), self.instance.clone());
        let change = Change::Delete {
            kind,
            mesh: mesh.to_owned(),
            name: name.to_owned(),
            expected: Some(expected),
        };
        Box::pin(async move { single(commit(pool, instance, vec![change]).await) })
    }

    fn get(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<Option<Arc<Resource>>> {
        let pool = self.pool.clone();
        let (mesh, name) = (mesh.to_owned(), name.to_owned());
        Box::pin(async move { read::get(&pool, kind, &mesh, &name).await })
    }

    fn list(
        &self,
        kind: Kind,
        mesh: Option<&str>,
        page: PageRequest,
    ) -> StoreFuture<Page<Arc<Resource>>> {
        let pool = self.pool.clone();
        let mesh = mesh.map(str::to_owned);
        Box::pin(async move { read::list(&pool, kind, mesh.as_deref(), page).await })
    }

    fn load_all(&self) -> StoreFuture<Vec<Arc<Resource>>> {
        let pool = self.pool.clone();
        Box::pin(async move { read::load_all(&pool).await })
    }

    fn commit(&self, changes: Vec<Change>) -> StoreFuture<Vec<Result<(), StoreError>>> {
        Box::pin(commit(self.pool.clone(), self.instance.clone(), changes))
    }

    fn leases(&self) -> Option<&dyn super::lease::Leases> {
        Some(self)
    }

    fn get_or_create_secret(
        &self,
        name: &str,
        generate: crate::store::secrets::Generate,
    ) -> StoreFuture<Vec<u8>> {
        let pool = self.pool.clone();
        let name = name.to_owned();
        Box::pin(async move { secrets::get_or_create(&pool, &name, generate).await })
    }

    fn secrets(&self, prefix: &str) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        let pool = self.pool.clone();
        let prefix = prefix.to_owned();
        Box::pin(async move { secrets::list(&pool, &prefix).await })
    }

    fn delete_secrets(&self, prefix: &str) -> StoreFuture<()> {
        let pool = self.pool.clone();
        let prefix = prefix.to_owned();
        Box::pin(async move { secrets::delete(&pool, &prefix).await })
    }

    fn subscribe(&self) -> Option<mpsc::Receiver<StoreEvent>> {
        let (tx, rx) = mpsc::channel(listen::BUFFER);
        let listener = listen::Listener {
            config: self.listen_config.clone(),
            tls: self.tls.clone(),
            connect_timeout: self.connect_timeout,
            tx,
            instance: self.instance.clone(),
        };
        let task = listener
            .run()
            .instrument(tracing::info_span!("postgres_change_feed"));
        match tokio::runtime::Handle::try_current()
            .ok()
            .or_else(|| self.runtime.clone())
        {
            Some(runtime) => {
                runtime.spawn(task);
                Some(rx)
            }
            None => {
                tracing::error!("no tokio runtime to run the change feed on");
                None
            }
        }
    }
}
