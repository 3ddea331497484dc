//! A fresh database on the throwaway PostgreSQL server of `scripts/postgres.sh`
//! (`URSA_TEST_PG_*`, which `scripts/test.sh` sets), and the `KUMA_STORE_*` settings that point
//! a control plane at it. Dropped with the value.

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
