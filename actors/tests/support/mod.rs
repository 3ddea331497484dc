//! Shared by the store tests: resources to store, and a fresh database per test on the
//! throwaway PostgreSQL that `scripts/postgres.sh start` runs (and `scripts/test.sh` starts).
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use ursa_actors::config::PostgresStoreConfig;
use ursa_actors::store::memory::MemoryStore;
use ursa_actors::store::postgres::PostgresStore;
use ursa_actors::store::Store;
use ursa_actors::{Kind, Resource, Spec};

/// Now, at the microsecond precision every store keeps.
pub fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A spec of `kind` with some content where the kind has any, else the empty spec.
pub fn spec(kind: Kind) -> Spec {
    let value = match kind {
        Kind::Mesh => json!({
            "mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]},
            "metrics": {"enabledBackend": "prom", "backends": [{"name": "prom", "type": "prometheus",
                        "conf": {"port": 1234, "path": "/metrics", "tags": {"a": "b"}}}]},
            "logging": {"backends": [{"name": "file", "type": "file", "conf": {"path": "/tmp/x\u{0}y"}}]},
        }),
        Kind::Dataplane => json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 10001, "servicePort": 8080, "tags": {"service": "web", "version": "v1"}}],
            "outbound": [{"port": 20001, "service": "backend"}]}}),
        Kind::DataplaneInsight => {
            json!({"subscriptions": [{"id": "s", "controlPlaneInstanceId": "cp-1",
            "connectTime": "2020-01-01T00:00:00.123456Z",
            "status": {"total": {"responsesSent": "3", "responsesAcknowledged": "2"}}}]})
        }
        Kind::TrafficRoute => json!({"sources": [{"match": {"service": "web"}}],
            "destinations": [{"match": {"service": "backend"}}],
            "conf": [{"weight": 1, "destination": {"service": "backend"}}]}),
        Kind::TrafficPermission | Kind::TrafficLog | Kind::HealthCheck | Kind::FaultInjection => {
            json!({"sources": [{"match": {"service": "web"}}],
            "destinations": [{"match": {"service": "backend"}}]})
        }
        Kind::TrafficTrace => json!({"selectors": [{"match": {"service": "web"}}]}),
        Kind::ProxyTemplate => json!({"selectors": [{"match": {"service": "web"}}],
            "conf": {"imports": ["default-proxy"]}}),
    };
    kind.decode(value)
        .unwrap_or_else(|v| panic!("test spec of {kind:?} does not decode: {v:?}"))
}

/// A new resource (version 1) of `kind`.
pub fn resource(kind: Kind, mesh: &str, name: &str) -> Arc<Resource> {
    Arc::new(Resource::new(mesh, name, spec(kind), now()))
}

/// A new mesh.
pub fn mesh(name: &str) -> Arc<Resource> {
    resource(Kind::Mesh, name, name)
}

/// `r` updated to its next version.
pub fn next(r: &Resource) -> Arc<Resource> {
    Arc::new(r.updated(r.spec.clone(), now()))
}

/// A store under test and what to clean up after it.
pub struct Harness {
    /// The store.
    pub store: Arc<dyn Store>,
    db: Option<TestDb>,
}

impl Harness {
    /// A fresh memory store.
    pub async fn memory() -> Harness {
        Harness {
            store: Arc::new(MemoryStore::new()),
            db: None,
        }
    }

    /// A PostgreSQL store on a fresh database.
    pub async fn postgres() -> Harness {
        let db = TestDb::create().await;
        let store = db.store().await;
        Harness {
            store: Arc::new(store),
            db: Some(db),
        }
    }

    /// Drops the test's database, if any.
    pub async fn finish(self) {
        drop(self.store);
        if let Some(db) = self.db {
            db.drop_db().await;
        }
    }
}

/// The throwaway server's settings, from `URSA_TEST_PG_*`.
pub struct Server {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// Directory of `ca.crt`, `other-ca.crt`, `client.crt`, `client.key`.
    pub certs: String,
}

impl Server {
    /// The settings; a test that needs PostgreSQL fails (never skips) without them.
    pub fn from_env() -> Server {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!(
                    "{name} is not set: the PostgreSQL store tests need the throwaway server. \
                     Run `bash scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` \
                     before `cargo test`"
                )
            })
        };
        Server {
            host: var("URSA_TEST_PG_HOST"),
            port: var("URSA_TEST_PG_PORT")
                .parse()
                .expect("URSA_TEST_PG_PORT is a port"),
            user: var("URSA_TEST_PG_USER"),
            password: var("URSA_TEST_PG_PASSWORD"),
            certs: std::env::var("URSA_TEST_PG_CERTS").unwrap_or_default(),
        }
    }

    /// The store configuration for database `db_name`.
    pub fn config(&self, db_name: &str) -> PostgresStoreConfig {
        PostgresStoreConfig {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            password: self.password.clone(),
            db_name: db_name.to_owned(),
            connection_timeout: 5,
            max_open_connections: 0,
            ..PostgresStoreConfig::default()
        }
    }

    /// A superuser session on `db_name`, without the store.
    pub async fn admin(&self, db_name: &str) -> tokio_postgres::Client {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.host)
            .port(self.port)
            .user(&self.user)
            .password(&self.password)
            .dbname(db_name)
            .application_name("ursa-test-admin");
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test server");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

/// A database of its own for one test.
pub struct TestDb {
    pub server: Server,
    pub name: String,
    pub config: PostgresStoreConfig,
}

static NEXT_DB: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates an empty database with a unique name.
    pub async fn create() -> TestDb {
        let server = Server::from_env();
        let name = format!(
            "ursa_test_{}_{}_{}",
            std::process::id(),
            NEXT_DB.fetch_add(1, Ordering::Relaxed),
            Utc::now().timestamp_micros() % 1_000_000_000
        );
        server
            .admin("postgres")
            .await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let config = server.config(&name);
        TestDb {
            server,
            name,
            config,
        }
    }

    /// A store on this database.
    pub async fn store(&self) -> PostgresStore {
        PostgresStore::connect(&self.config)
            .await
            .expect("connect the store to the test database")
    }

    /// A superuser session on this database.
    pub async fn admin(&self) -> tokio_postgres::Client {
        self.server.admin(&self.name).await
    }

    /// Terminates the sessions of this database whose application is `application_name`;
    /// returns how many.
    pub async fn terminate(&self, application_name: &str) -> i64 {
        self.admin()
            .await
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = $1",
                &[&application_name],
            )
            .await
            .expect("terminate sessions")
            .get(0)
    }

    /// Drops the database (and whatever sessions it still has).
    pub async fn drop_db(self) {
        let _ = self
            .server
            .admin("postgres")
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// A TCP forwarder to the test server that a test can cut, as if the server had stopped.
pub struct Proxy {
    pub port: u16,
    target: (String, u16),
    tasks: JoinSet<()>,
}

impl Proxy {
    /// Forwards a new loopback port to `host:port`.
    pub async fn start(host: &str, port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let mut proxy = Proxy {
            port: listener.local_addr().expect("proxy address").port(),
            target: (host.to_owned(), port),
            tasks: JoinSet::new(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: TcpListener) {
        let target = self.target.clone();
        self.tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) =
                        TcpStream::connect((target.0.as_str(), target.1)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
    }

    /// Closes the port and every forwarded connection: new connections are refused.
    pub async fn stop(&mut self) {
        self.tasks.shutdown().await;
    }

    /// Opens the same port again.
    pub async fn resume(&mut self) {
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("rebind proxy port {}: {e}", self.port),
            }
        };
        self.serve(listener);
    }
}
