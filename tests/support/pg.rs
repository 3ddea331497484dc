//! PostgreSQL for tests: a fresh database on the shared throwaway server of
//! `scripts/postgres.sh` ([`Db`]), or a private server a test can stop and start ([`PrivatePg`]).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: this test needs the throwaway PostgreSQL server. Run `bash \
             scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` before `cargo test`"
        )
    })
}

/// A database of one test.
pub struct Db {
    host: String,
    port: String,
    user: String,
    password: String,
    /// Its name.
    pub name: String,
}

impl Db {
    /// Creates a database with a name no other test uses.
    pub fn create() -> Db {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let db = Db {
            host: var("URSA_TEST_PG_HOST"),
            port: var("URSA_TEST_PG_PORT"),
            user: var("URSA_TEST_PG_USER"),
            password: var("URSA_TEST_PG_PASSWORD"),
            name: format!(
                "ursa_api_{}_{}_{nanos}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
        };
        db.admin(&format!("CREATE DATABASE {}", db.name));
        db
    }

    /// `KUMA_STORE_*` for a control plane on this database.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KUMA_STORE_TYPE", "postgres".into()),
            ("KUMA_STORE_POSTGRES_HOST", self.host.clone()),
            ("KUMA_STORE_POSTGRES_PORT", self.port.clone()),
            ("KUMA_STORE_POSTGRES_USER", self.user.clone()),
            ("KUMA_STORE_POSTGRES_PASSWORD", self.password.clone()),
            ("KUMA_STORE_POSTGRES_DB_NAME", self.name.clone()),
        ]
    }

    /// Runs `sql` as the superuser on the `postgres` database.
    fn admin(&self, sql: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut config = tokio_postgres::Config::new();
            config
                .host(&self.host)
                .port(self.port.parse().expect("a port"))
                .user(&self.user)
                .password(&self.password)
                .dbname("postgres")
                .connect_timeout(Duration::from_secs(10));
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect to the test server");
            let driver = tokio::spawn(connection);
            client.batch_execute(sql).await.expect(sql);
            drop(client);
            let _ = tokio::time::timeout(Duration::from_secs(5), driver).await;
        });
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.admin(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// `env` as the `&str` pairs [`super::TestServer::start`] takes, plus `extra`.
pub fn with<'a>(
    env: &'a [(&'static str, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    env.iter()
        .map(|(k, v)| (*k, v.as_str()))
        .chain(extra.iter().copied())
        .collect()
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
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let bin = PathBuf::from(std::env::var("URSA_TEST_PG_BIN").unwrap_or_else(|_| {
            panic!(
                "URSA_TEST_PG_BIN is not set: this test needs PostgreSQL's binaries. Run \
                 `bash scripts/test.sh`, or `eval \"$(bash scripts/postgres.sh start)\"` first"
            )
        }));
        let root = std::env::temp_dir().join(format!(
            "ursa-pg-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
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

    /// Runs `sql` on database `db` (bounded in time).
    pub fn execute(&self, db: &str, sql: &str) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut config = tokio_postgres::Config::new();
            config
                .host("127.0.0.1")
                .port(self.port)
                .user("ursa")
                .dbname(db)
                .connect_timeout(Duration::from_secs(10));
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect to the private PostgreSQL");
            let driver = tokio::spawn(connection);
            tokio::time::timeout(Duration::from_secs(30), client.batch_execute(sql))
                .await
                .expect("in time")
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
            drop(client);
            let _ = driver.await;
        });
    }

    /// A new database, and the `KUMA_STORE_*` settings of `ursa-cp` for it.
    pub fn database(&self, name: &str) -> Vec<(String, String)> {
        self.execute("postgres", &format!("CREATE DATABASE {name}"));
        [
            ("KUMA_STORE_TYPE", "postgres"),
            ("KUMA_STORE_POSTGRES_HOST", "127.0.0.1"),
            ("KUMA_STORE_POSTGRES_PORT", &self.port.to_string()),
            ("KUMA_STORE_POSTGRES_USER", "ursa"),
            ("KUMA_STORE_POSTGRES_PASSWORD", ""),
            ("KUMA_STORE_POSTGRES_DB_NAME", name),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
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
