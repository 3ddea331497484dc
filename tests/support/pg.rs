//! PostgreSQL for tests: a fresh database on the shared throwaway server of
//! `scripts/postgres.sh` ([`Db`]), or a private server a test can stop and start ([`PrivatePg`]);
//! SQL on either through [`Server`], and a transaction held open ([`HeldTransaction`]).
//!
//! Without `URSA_TEST_PG_*` (a plain `cargo test`), every test that needs PostgreSQL fails
//! with one line naming `bash scripts/test.sh`, before any connection is tried.

use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a change made through one instance may take to show on another (LISTEN/NOTIFY,
/// then a read of the row): well under a second on an idle machine; the margin is for a
/// loaded CI machine.
pub const PROPAGATION: Duration = Duration::from_secs(3);

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the throwaway PostgreSQL server. Run `bash \
             scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` before `cargo test`"
        )
    })
}

/// A name no other test, process or earlier run uses.
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Where a PostgreSQL server listens, and a superuser.
#[derive(Clone, Debug)]
pub struct Server {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// A superuser.
    pub user: String,
    /// The superuser's password (empty: trust authentication).
    pub password: String,
}

impl Server {
    /// The throwaway server every test shares (`URSA_TEST_PG_*`).
    pub fn shared() -> Server {
        Server {
            host: var("URSA_TEST_PG_HOST"),
            port: var("URSA_TEST_PG_PORT")
                .parse()
                .expect("URSA_TEST_PG_PORT is a port"),
            user: var("URSA_TEST_PG_USER"),
            password: var("URSA_TEST_PG_PASSWORD"),
        }
    }

    /// Runs `f` with a superuser session on `db` (bounded in time).
    pub fn with_client<T, F>(
        &self,
        db: &str,
        f: impl FnOnce(tokio_postgres::Client) -> F,
    ) -> Result<T, String>
    where
        F: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let mut config = tokio_postgres::Config::new();
            config
                .host(&self.host)
                .port(self.port)
                .user(&self.user)
                .dbname(db)
                .application_name("ursa-test-admin")
                .connect_timeout(Duration::from_secs(10));
            if !self.password.is_empty() {
                config.password(&self.password);
            }
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("connect to {}:{}/{db}: {e}", self.host, self.port))?;
            let driver = tokio::spawn(connection);
            let result = tokio::time::timeout(Duration::from_secs(30), f(client))
                .await
                .map_err(|_| "timed out".to_string())
                .and_then(|r| r.map_err(|e| format!("{e:?}")));
            let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
            result
        })
    }

    /// Runs SQL statements on `db`.
    pub fn execute(&self, db: &str, sql: &str) -> Result<(), String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move { c.batch_execute(&sql).await })
    }

    /// The first column of the one row of `sql`, as text (NULL: "NULL"; no row: "no row").
    pub fn query_text(&self, db: &str, sql: &str) -> Result<String, String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move {
            Ok(match c.query_opt(sql.as_str(), &[]).await? {
                Some(row) => row
                    .try_get::<_, Option<String>>(0)?
                    .unwrap_or_else(|| "NULL".into()),
                None => "no row".into(),
            })
        })
    }

    /// The first column of the one row of `sql`, an integer.
    pub fn query_i64(&self, db: &str, sql: &str) -> Result<i64, String> {
        let sql = sql.to_string();
        self.with_client(db, |c| async move {
            c.query_one(sql.as_str(), &[]).await?.try_get::<_, i64>(0)
        })
    }

    /// `KUMA_STORE_*` for a control plane on database `db` as `user`.
    pub fn store_env(&self, user: &str, password: &str, db: &str) -> Vec<(&'static str, String)> {
        vec![
            ("KUMA_STORE_TYPE", "postgres".into()),
            ("KUMA_STORE_POSTGRES_HOST", self.host.clone()),
            ("KUMA_STORE_POSTGRES_PORT", self.port.to_string()),
            ("KUMA_STORE_POSTGRES_USER", user.into()),
            ("KUMA_STORE_POSTGRES_PASSWORD", password.into()),
            ("KUMA_STORE_POSTGRES_DB_NAME", db.into()),
        ]
    }
}

/// A database of one test on the shared server, dropped (with its owner role, if any) at the
/// end.
pub struct Db {
    /// The server, and its superuser.
    pub server: Server,
    /// Its name.
    pub name: String,
    /// The login `ursa-cp` uses: the server's superuser, or a role of the test.
    pub user: String,
    password: String,
    owner_role: Option<String>,
}

impl Db {
    /// Creates a database with a name no other test uses.
    pub fn create() -> Db {
        let server = Server::shared();
        let name = unique("ursa_test");
        server
            .execute("postgres", &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("create the test database: {e}"));
        Db {
            name,
            user: server.user.clone(),
            password: server.password.clone(),
            owner_role: None,
            server,
        }
    }

    /// A database owned by a login role of its own, with `password`.
    pub fn create_owned(password: &str) -> Db {
        let mut db = Db::create();
        let role = unique("ursa_test_role");
        db.server
            .execute(
                "postgres",
                &format!(
                    "CREATE ROLE {role} LOGIN PASSWORD '{}'; ALTER DATABASE {} OWNER TO {role}",
                    password.replace('\'', "''"),
                    db.name
                ),
            )
            .unwrap_or_else(|e| panic!("create the test role: {e}"));
        db.user = role.clone();
        db.password = password.to_string();
        db.owner_role = Some(role);
        db
    }

    /// `KUMA_STORE_*` for a control plane on this database.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        self.env_with_password(&self.password)
    }

    /// [`Db::env`] with another password.
    pub fn env_with_password(&self, password: &str) -> Vec<(&'static str, String)> {
        self.server.store_env(&self.user, password, &self.name)
    }

    /// Runs SQL statements on this database, as the superuser.
    pub fn execute(&self, sql: &str) -> Result<(), String> {
        self.server.execute(&self.name, sql)
    }

    /// [`Server::query_i64`] on this database.
    pub fn query_i64(&self, sql: &str) -> Result<i64, String> {
        self.server.query_i64(&self.name, sql)
    }

    /// [`Server::query_text`] on this database.
    pub fn query_text(&self, sql: &str) -> Result<String, String> {
        self.server.query_text(&self.name, sql)
    }

    /// Begins a transaction on this database running `sql`, held open until released.
    pub fn hold(&self, sql: &str) -> HeldTransaction {
        HeldTransaction::begin(&self.server, &self.name, sql)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = self.server.execute(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
        if let Some(role) = &self.owner_role {
            let _ = self
                .server
                .execute("postgres", &format!("DROP ROLE IF EXISTS {role}"));
        }
    }
}

/// `env` as the `&str` pairs [`super::TestServer::start`] and [`super::cp::Cp::start`] take,
/// plus `extra`.
pub fn with<'a>(
    env: &'a [(&'static str, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    env.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// A transaction held open on its own connection (in its own thread) until released or dropped:
/// it keeps the row locks `sql` took.
pub struct HeldTransaction {
    release: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl HeldTransaction {
    fn begin(server: &Server, db: &str, sql: &str) -> HeldTransaction {
        let (server, db, sql) = (server.clone(), db.to_string(), sql.to_string());
        let (locked_tx, locked_rx) = mpsc::channel();
        let (release, release_rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            server.with_client(&db, |c| async move {
                c.batch_execute("BEGIN").await?;
                c.batch_execute(&sql).await?;
                let _ = locked_tx.send(());
                let _ = tokio::task::spawn_blocking(move || {
                    release_rx.recv_timeout(Duration::from_secs(25))
                })
                .await;
                c.batch_execute("ROLLBACK").await
            })
        });
        if locked_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            let error = thread
                .join()
                .map_or_else(|_| "panicked".into(), |r| format!("{r:?}"));
            panic!("could not take the row lock: {error}");
        }
        HeldTransaction {
            release: Some(release),
            thread: Some(thread),
        }
    }

    /// Rolls it back.
    pub fn release(mut self) {
        self.end();
    }

    fn end(&mut self) {
        drop(self.release.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for HeldTransaction {
    fn drop(&mut self) {
        self.end();
    }
}

/// A private PostgreSQL server, trust authentication for the user `ursa`.
pub struct PrivatePg {
    root: PathBuf,
    data: PathBuf,
    bin: PathBuf,
    /// Its loopback port.
    pub port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl PrivatePg {
    /// initdb (as the `postgres` user when root, as `scripts/postgres.sh` does) and start.
    pub fn start() -> PrivatePg {
        let bin = PathBuf::from(std::env::var("URSA_TEST_PG_BIN").unwrap_or_else(|_| {
            panic!(
                "URSA_TEST_PG_BIN is not set: this test needs PostgreSQL's binaries. Run \
                 `bash scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` first"
            )
        }));
        let root = std::env::temp_dir().join(unique("ursa-pg"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("create the server's directory");
        let as_postgres = is_root();
        let mut pg = PrivatePg {
            data: root.join("data"),
            root,
            bin,
            port: 0,
            as_postgres,
        };
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&pg.root)
                .status()
                .expect("run chown");
            assert!(status.success(), "chown of {} failed", pg.root.display());
        }
        let out = pg
            .tool("initdb")
            .arg("-D")
            .arg(&pg.data)
            .args([
                "-U",
                "ursa",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
                "--auth=trust",
            ])
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        for _ in 0..5 {
            pg.port = super::envoy::free_port();
            // The last setting of a key wins: a retry appends another port.
            let conf = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
                 max_connections = 100\nfsync = off\n",
                pg.port,
                pg.root.display()
            );
            std::fs::OpenOptions::new()
                .append(true)
                .open(pg.data.join("postgresql.conf"))
                .and_then(|mut f| f.write_all(conf.as_bytes()))
                .expect("write postgresql.conf");
            match pg.pg_ctl_start() {
                Ok(()) => return pg,
                Err(e) => last = e,
            }
        }
        panic!("could not start a private PostgreSQL: {last}");
    }

    /// A PostgreSQL program, run as the owner of the data directory.
    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl_start(&self) -> Result<(), String> {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.root.join("server.log"))
            .args(["-w", "-t", "30", "start"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "pg_ctl start: {}{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.root.join("server.log")).unwrap_or_default()
            ))
        }
    }

    /// Starts it again on the same port.
    pub fn start_again(&self) {
        self.pg_ctl_start()
            .unwrap_or_else(|e| panic!("restart PostgreSQL: {e}"));
    }

    /// `pg_ctl stop -m <mode>` (`fast`: sessions are ended; `immediate`: as a crash).
    pub fn stop(&self, mode: &str) {
        let out = self
            .tool("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", mode, "-w", "-t", "30", "stop"])
            .stdin(Stdio::null())
            .output()
            .expect("run pg_ctl stop");
        assert!(
            out.status.success(),
            "pg_ctl stop: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Where it listens, and its superuser `ursa` (trust authentication).
    pub fn server(&self) -> Server {
        Server {
            host: "127.0.0.1".into(),
            port: self.port,
            user: "ursa".into(),
            password: String::new(),
        }
    }

    /// Runs `sql` on database `db` (bounded in time).
    pub fn execute(&self, db: &str, sql: &str) {
        self.server()
            .execute(db, sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// `KUMA_STORE_*` for a control plane on database `db` of this server.
    pub fn env(&self, db: &str) -> Vec<(&'static str, String)> {
        self.server().store_env("ursa", "", db)
    }

    /// A new database, and the `KUMA_STORE_*` settings of `ursa-cp` for it.
    pub fn database(&self, name: &str) -> Vec<(&'static str, String)> {
        self.execute("postgres", &format!("CREATE DATABASE {name}"));
        self.env(name)
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.data.join("postmaster.pid").exists() {
            let _ = self
                .tool("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .stdin(Stdio::null())
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
