//! What only the PostgreSQL store does: change events across instances, resync after the
//! listening connection is lost, `Unavailable` when the server goes away, migrations, TLS and
//! the password staying secret. Each test has a fresh database on the throwaway server that
//! `scripts/test.sh` starts; without it these tests fail, naming the command to run.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::{mesh, next, resource, Proxy, Server, TestDb};
use tokio::sync::mpsc::Receiver;
use ursa_actors::config::{PostgresStoreConfig, PostgresTlsConfig, TlsMode};
use ursa_actors::store::postgres::{self, PostgresStore, SCHEMA_VERSION};
use ursa_actors::store::{Change, Store, StoreError, StoreEvent};
use ursa_actors::Kind;

const WAIT: Duration = Duration::from_secs(15);

async fn recv(events: &mut Receiver<StoreEvent>) -> StoreEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the feed is open")
}

fn changed(kind: Kind, mesh: &str, name: &str) -> StoreEvent {
    StoreEvent::Changed {
        kind,
        mesh: mesh.to_owned(),
        name: name.to_owned(),
    }
}

/// Nothing more arrives for a moment.
async fn quiet(events: &mut Receiver<StoreEvent>) {
    if let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await {
        panic!("unexpected event {e:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_changes_arrive_as_events() {
    let db = TestDb::create().await;
    let a = db.store().await;
    let b = db.store().await;
    let mut events = a.subscribe().expect("postgres has a feed");
    assert_eq!(
        recv(&mut events).await,
        StoreEvent::Resync,
        "listening starts with a resync"
    );

    let m = mesh("m");
    b.create(m.clone()).await.expect("create mesh");
    let dp = resource(Kind::Dataplane, "m", "dp");
    b.create(dp.clone()).await.expect("create dataplane");
    b.update(next(&dp)).await.expect("update");
    b.delete(Kind::Dataplane, "m", "dp").await.expect("delete");
    assert_eq!(recv(&mut events).await, changed(Kind::Mesh, "m", "m"));
    assert_eq!(recv(&mut events).await, changed(Kind::Dataplane, "m", "dp"));
    assert_eq!(recv(&mut events).await, changed(Kind::Dataplane, "m", "dp"));
    assert_eq!(recv(&mut events).await, changed(Kind::Dataplane, "m", "dp"));

    // Only applied changes are announced, once each per batch, after COMMIT.
    let results = b
        .commit(vec![
            Change::Create(resource(Kind::TrafficRoute, "m", "r1")),
            Change::Create(m.clone()),
            Change::Update {
                resource: next(&resource(Kind::TrafficRoute, "m", "absent")),
                expected: 1,
            },
            Change::Delete {
                kind: Kind::TrafficLog,
                mesh: "m".into(),
                name: "absent".into(),
                expected: None,
            },
            Change::Create(resource(Kind::TrafficRoute, "m", "r2")),
        ])
        .await
        .expect("commit");
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 2);
    assert_eq!(
        recv(&mut events).await,
        changed(Kind::TrafficRoute, "m", "r1")
    );
    assert_eq!(
        recv(&mut events).await,
        changed(Kind::TrafficRoute, "m", "r2")
    );
    quiet(&mut events).await;

    // An instance is not told of its own writes (it applied them), only of the others';
    // a mesh delete is one event for everything.
    let mut b_events = b.subscribe().expect("feed");
    assert_eq!(recv(&mut b_events).await, StoreEvent::Resync);
    a.delete(Kind::Mesh, "m", "m").await.expect("delete mesh");
    a.create(mesh("n")).await.expect("create mesh");
    assert_eq!(recv(&mut b_events).await, changed(Kind::Mesh, "m", "m"));
    assert_eq!(recv(&mut b_events).await, changed(Kind::Mesh, "n", "n"));
    quiet(&mut events).await;
    quiet(&mut b_events).await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_name_the_writing_instance() {
    let db = TestDb::create().await;
    let a = db.store().await.with_instance_id("instance-a");
    let b = db.store().await.with_instance_id("instance-b");
    assert_eq!(a.instance_id(), "instance-a");
    // A plain session listening on the channel, to read the payloads themselves.
    let (client, mut connection) = {
        let mut config = tokio_postgres::Config::new();
        config
            .host(&db.server.host)
            .port(db.server.port)
            .user(&db.server.user)
            .password(&db.server.password)
            .dbname(&db.name);
        config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect")
    };
    let (tx, mut notes) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(m)) = futures_util::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notification(n) = m {
                let _ = tx.send(n.payload().to_owned());
            }
        }
    });
    client
        .batch_execute("LISTEN ursa_changes")
        .await
        .expect("listen");
    a.create(mesh("m")).await.expect("create");
    b.create(resource(Kind::Dataplane, "m", "dp"))
        .await
        .expect("create");
    let mut payloads = Vec::new();
    for _ in 0..2 {
        let p = tokio::time::timeout(WAIT, notes.recv())
            .await
            .expect("a notification")
            .unwrap();
        payloads.push(serde_json::from_str::<serde_json::Value>(&p).expect("JSON payload"));
    }
    assert_eq!(
        payloads,
        [
            serde_json::json!({"kind": "Mesh", "mesh": "m", "name": "m", "instance": "instance-a"}),
            serde_json::json!({"kind": "Dataplane", "mesh": "m", "name": "dp", "instance": "instance-b"}),
        ]
    );
    drop(client);
    driver.abort();
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_listen_connection_means_resync() {
    let db = TestDb::create().await;
    let a = db.store().await;
    let b = db.store().await;
    let mut events = a.subscribe().expect("feed");
    assert_eq!(recv(&mut events).await, StoreEvent::Resync);

    assert_eq!(
        db.terminate("ursa-cp-listen").await,
        1,
        "one listening session"
    );
    assert_eq!(
        recv(&mut events).await,
        StoreEvent::Resync,
        "resync after reconnecting"
    );
    b.create(mesh("after")).await.expect("create");
    assert_eq!(
        recv(&mut events).await,
        changed(Kind::Mesh, "after", "after")
    );

    // Twice more: the backoff starts again after a successful reconnect.
    for _ in 0..2 {
        let started = Instant::now();
        while db.terminate("ursa-cp-listen").await == 0 {
            assert!(started.elapsed() < WAIT, "the listener reconnects");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(recv(&mut events).await, StoreEvent::Resync);
    }
    b.delete(Kind::Mesh, "after", "after")
        .await
        .expect("delete");
    assert_eq!(
        recv(&mut events).await,
        changed(Kind::Mesh, "after", "after")
    );

    // Dropping the receiver ends the listener and closes its connection.
    drop(events);
    let started = Instant::now();
    loop {
        let listening: i64 = db
            .admin()
            .await
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = 'ursa-cp-listen'",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        if listening == 0 {
            break;
        }
        assert!(started.elapsed() < WAIT, "the listener stops");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_gets_a_resync_instead_of_lost_events() {
    let db = TestDb::create().await;
    let subscriber = db.store().await;
    // Another instance writes: the subscriber is not told of its own writes.
    let store = db.store().await;
    let mut events = subscriber.subscribe().expect("feed");
    assert_eq!(recv(&mut events).await, StoreEvent::Resync);
    // More changes than the feed buffers (1024), while the subscriber reads nothing.
    let changes = (0..1500)
        .map(|n| Change::Create(resource(Kind::Dataplane, "m", &format!("dp-{n:04}"))))
        .collect();
    for r in store.commit(changes).await.expect("commit") {
        r.expect("create");
    }
    // The feed fills up while nobody reads.
    let started = Instant::now();
    while events.len() < 1024 {
        assert!(started.elapsed() < WAIT, "the feed fills: {}", events.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut delivered = 0;
    while let StoreEvent::Changed { .. } = recv(&mut events).await {
        delivered += 1;
    }
    assert_eq!(
        delivered, 1024,
        "the buffered events, then a resync for the rest"
    );
    // Notifications still arriving after the resync are delivered again.
    store.create(mesh("after")).await.expect("create");
    loop {
        match recv(&mut events).await {
            StoreEvent::Changed {
                kind: Kind::Dataplane,
                ..
            } => {}
            other => {
                assert_eq!(other, changed(Kind::Mesh, "after", "after"));
                break;
            }
        }
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_pooled_connections_are_replaced_without_errors() {
    let db = TestDb::create().await;
    let store = Arc::new(db.store().await);
    // Open several pooled connections.
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.spawn(async move { store.create(mesh(&format!("m{n}"))).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("create");
    }
    // As after a server restart: every pooled session is gone.
    for round in 0..3 {
        assert!(db.terminate("ursa-cp").await > 0);
        // Right away (the first use may find a dead connection) and after a pause (the pool
        // may notice first).
        if round == 2 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let m = format!("m{round}");
        store
            .get(Kind::Mesh, &m, &m)
            .await
            .expect("get")
            .expect("stored");
        store
            .create(resource(Kind::TrafficRoute, &m, "r"))
            .await
            .expect("create");
        let all = store.load_all().await.expect("load");
        assert_eq!(all.len(), 8 + round + 1);
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_is_unavailable_and_recovery_is_automatic() {
    let db = TestDb::create().await;
    let mut proxy = Proxy::start(&db.server.host, db.server.port).await;
    let mut config = db.config.clone();
    config.port = proxy.port;
    config.connection_timeout = 2;
    let store = PostgresStore::connect(&config).await.expect("connect");
    store.create(mesh("m")).await.expect("create");
    let mut events = store.subscribe().expect("feed");
    assert_eq!(recv(&mut events).await, StoreEvent::Resync);

    // The server goes away: its sessions end (as at shutdown) and connecting is refused.
    proxy.stop().await;
    db.terminate("ursa-cp").await;
    let unavailable = |r: Result<(), StoreError>| match r {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    };
    unavailable(store.create(mesh("n")).await);
    unavailable(store.get(Kind::Mesh, "m", "m").await.map(|_| ()));
    unavailable(
        store
            .list(Kind::Mesh, None, ursa_actors::page::PageRequest::ALL)
            .await
            .map(|_| ()),
    );
    unavailable(store.load_all().await.map(|_| ()));
    unavailable(
        store
            .commit(vec![Change::Create(mesh("o"))])
            .await
            .map(|_| ()),
    );
    unavailable(PostgresStore::connect(&config).await.map(|_| ()));
    unavailable(postgres::migrate(&config).await.map(|_| ()));

    // It comes back: the next operations reconnect, and the feed resyncs.
    proxy.resume().await;
    store
        .create(mesh("n"))
        .await
        .expect("create after recovery");
    assert_eq!(
        store.load_all().await.expect("load").len(),
        2,
        "the failed writes applied nothing"
    );
    assert_eq!(recv(&mut events).await, StoreEvent::Resync);
    // Another instance's change is announced again.
    db.store().await.create(mesh("p")).await.expect("create");
    assert_eq!(recv(&mut events).await, changed(Kind::Mesh, "p", "p"));
    drop(events);
    proxy.stop().await;
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_is_bounded_by_the_connection_timeout() {
    let server = Server::from_env();
    // A port that accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let mut config = server.config("postgres");
    config.port = port;
    config.connection_timeout = 1;
    let started = Instant::now();
    let result = PostgresStore::connect(&config).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{:?}",
        result.err()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    hold.abort();

    // Nothing listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    config.port = closed;
    assert!(matches!(
        PostgresStore::connect(&config).await,
        Err(StoreError::Unavailable(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_never_appears_in_errors() {
    let db = TestDb::create().await;
    let mut config = db.config.clone();
    config.password = "Sup3r-Secret-Passw0rd".to_owned();
    let err = match PostgresStore::connect(&config).await {
        Ok(_) => panic!("a wrong password is refused"),
        Err(e) => e,
    };
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("Sup3r-Secret"), "{text}");
        assert!(text.contains("password authentication failed"), "{text}");
    }
    // Nor the real one, in any error of a working store.
    let store = db.store().await;
    let err = store
        .delete(Kind::Mesh, "x", "x")
        .await
        .expect_err("absent");
    assert!(!format!("{err:?}").contains(&db.config.password));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_outlives_the_store() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let m = mesh("m");
    let dp1 = resource(Kind::Dataplane, "m", "dp");
    let dp = next(&dp1);
    store.create(m.clone()).await.expect("create");
    store
        .commit(vec![Change::Create(dp1)])
        .await
        .expect("commit");
    store.update(dp.clone()).await.expect("update");
    drop(store);
    let again = db.store().await;
    let loaded = again.load_all().await.expect("load");
    assert_eq!(loaded.len(), 2);
    assert_eq!(*loaded[0], *m);
    assert_eq!(*loaded[1], *dp);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_racing_to_create_a_secret_end_with_one() {
    let db = TestDb::create().await;
    let stores: Vec<Arc<PostgresStore>> =
        vec![Arc::new(db.store().await), Arc::new(db.store().await)];
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u8 {
        let store = stores[usize::from(i % 2)].clone();
        tasks.spawn(async move {
            store
                .get_or_create_secret("ca/m/root", Box::new(move || vec![i; 64]))
                .await
                .expect("get or create")
        });
    }
    let mut values = std::collections::BTreeSet::new();
    while let Some(v) = tasks.join_next().await {
        values.insert(v.expect("task"));
    }
    assert_eq!(values.len(), 1, "one value for every instance: {values:?}");
    // And it outlives both stores.
    drop(stores);
    let again = db.store().await;
    let kept = again
        .get_or_create_secret("ca/m/root", Box::new(|| panic!("kept, not regenerated")))
        .await
        .expect("read");
    assert_eq!(values.into_iter().next(), Some(kept));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_once_and_refuse_a_newer_schema() {
    let db = TestDb::create().await;
    // Instances starting together: all succeed, each migration is applied once.
    let mut starting = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let config = db.config.clone();
        starting.spawn(async move { PostgresStore::connect(&config).await.map(|_| ()) });
    }
    while let Some(r) = starting.join_next().await {
        r.expect("task").expect("connect");
    }
    let admin = db.admin().await;
    let applied: Vec<i64> = admin
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .expect("query")
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(applied, (1..=SCHEMA_VERSION).collect::<Vec<_>>());
    let again = postgres::migrate(&db.config).await.expect("migrate");
    assert_eq!((again.from, again.to), (SCHEMA_VERSION, SCHEMA_VERSION));

    // A database migrated by a newer ursa-cp.
    let newer = SCHEMA_VERSION + 1;
    admin
        .execute(
            "INSERT INTO schema_migrations (version, description) VALUES ($1, 'from the future')",
            &[&newer],
        )
        .await
        .expect("insert");
    let want = format!(
        "database schema version {newer} is newer than this ursa-cp (knows up to \
         {SCHEMA_VERSION}); upgrade ursa-cp"
    );
    for err in [
        PostgresStore::connect(&db.config).await.err(),
        postgres::migrate(&db.config).await.err(),
    ] {
        match err {
            Some(StoreError::Internal(message)) => assert_eq!(message, want),
            other => panic!("expected the version guard, got {other:?}"),
        }
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_creates_the_schema_of_an_empty_database() {
    let db = TestDb::create().await;
    let done = postgres::migrate(&db.config).await.expect("migrate");
    assert_eq!((done.from, done.to), (0, SCHEMA_VERSION));
    let store = db.store().await;
    store.create(mesh("m")).await.expect("create");
    db.drop_db().await;
}

fn tls_config(db: &TestDb, host: &str, mode: TlsMode, ca: &str) -> PostgresStoreConfig {
    let mut config = db.config.clone();
    config.host = host.to_owned();
    config.tls = PostgresTlsConfig {
        mode,
        ca_path: if ca.is_empty() {
            String::new()
        } else {
            format!("{}/{ca}", db.server.certs)
        },
        ..PostgresTlsConfig::default()
    };
    config
}

/// Sessions of this database's pool that use TLS.
async fn tls_sessions(db: &TestDb) -> i64 {
    db.admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE ssl AND datname = current_database() AND application_name = 'ursa-cp'",
            &[],
        )
        .await
        .expect("query")
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_verify_what_they_promise() {
    let db = TestDb::create().await;
    assert!(
        !db.server.certs.is_empty(),
        "URSA_TEST_PG_CERTS is set by scripts/postgres.sh"
    );
    // The server's certificate names `localhost`, not 127.0.0.1, and is signed by ca.crt.
    let ok = [
        (TlsMode::VerifyNone, "127.0.0.1", ""),
        (TlsMode::VerifyCa, "127.0.0.1", "ca.crt"),
        (TlsMode::VerifyFull, "localhost", "ca.crt"),
    ];
    for (mode, host, ca) in ok {
        let store = PostgresStore::connect(&tls_config(&db, host, mode, ca))
            .await
            .unwrap_or_else(|e| panic!("{mode:?} to {host}: {e}"));
        let name = format!("{mode:?}").to_lowercase();
        store.create(mesh(&name)).await.expect("create");
        let mut events = store.subscribe().expect("feed");
        assert_eq!(
            recv(&mut events).await,
            StoreEvent::Resync,
            "{mode:?} listener"
        );
        assert!(tls_sessions(&db).await > 0, "{mode:?} encrypts");
        drop(events);
        drop(store);
        db.terminate("ursa-cp").await;
    }
    let refused = [
        // The host name does not match.
        (TlsMode::VerifyFull, "127.0.0.1", "ca.crt"),
        // Another CA.
        (TlsMode::VerifyCa, "127.0.0.1", "other-ca.crt"),
        (TlsMode::VerifyFull, "localhost", "other-ca.crt"),
    ];
    for (mode, host, ca) in refused {
        match PostgresStore::connect(&tls_config(&db, host, mode, ca)).await {
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{mode:?} to {host} with {ca}: {e:?}"),
            Ok(_) => panic!("{mode:?} to {host} with {ca} must be refused"),
        }
    }
    // Verifying needs a CA.
    match PostgresStore::connect(&tls_config(&db, "localhost", TlsMode::VerifyFull, "")).await {
        Err(StoreError::Internal(m)) => assert!(m.contains("caPath"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    // Plain TCP when disabled.
    let store = PostgresStore::connect(&tls_config(&db, "127.0.0.1", TlsMode::Disable, ""))
        .await
        .expect("disable");
    store.create(mesh("plain")).await.expect("create");
    let started = Instant::now();
    while tls_sessions(&db).await > 0 {
        assert!(started.elapsed() < WAIT, "no TLS session once disabled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_logs_in() {
    let db = TestDb::create().await;
    // The role `ursa_cert` logs in with its certificate only (pg_hba `cert`); it owns a
    // database of its own.
    let name = format!("{}_cert", db.name);
    db.server
        .admin("postgres")
        .await
        .batch_execute(&format!("CREATE DATABASE {name} OWNER ursa_cert"))
        .await
        .expect("create database");
    let mut config = tls_config(&db, "localhost", TlsMode::VerifyFull, "ca.crt");
    config.db_name = name.clone();
    config.user = "ursa_cert".to_owned();
    config.password = String::new();
    config.tls.cert_path = format!("{}/client.crt", db.server.certs);
    config.tls.key_path = format!("{}/client.key", db.server.certs);
    let store = PostgresStore::connect(&config)
        .await
        .expect("certificate login");
    store.create(mesh("m")).await.expect("create");
    drop(store);
    // Without the certificate the role cannot log in.
    config.tls.cert_path.clear();
    config.tls.key_path.clear();
    assert!(matches!(
        PostgresStore::connect(&config).await,
        Err(StoreError::Unavailable(_))
    ));
    // A certificate without its key is a configuration error.
    config.tls.cert_path = format!("{}/client.crt", db.server.certs);
    assert!(matches!(
        PostgresStore::connect(&config).await,
        Err(StoreError::Internal(_))
    ));
    let _ = db
        .server
        .admin("postgres")
        .await
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    db.drop_db().await;
}

/// Commit throughput: 10,000 single-row creates from 32 concurrent tasks, in batches of 10, 50
/// and 100 (each on a fresh mesh), through one store (a pool of 16 connections).
/// `cargo test -p ursa-actors --test postgres_store -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn commit_throughput() {
    const TOTAL: usize = 10_000;
    const TASKS: usize = 32;
    let db = TestDb::create().await;
    let store = Arc::new(db.store().await);
    for batch in [10, 50, 100] {
        let mesh_name = format!("m{batch}");
        store.create(mesh(&mesh_name)).await.expect("mesh");
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for t in 0..TASKS {
            let store = store.clone();
            let mesh_name = mesh_name.clone();
            tasks.spawn(async move {
                let mut i = t * batch;
                while i < TOTAL {
                    let changes = (i..(i + batch).min(TOTAL))
                        .map(|n| {
                            Change::Create(resource(
                                Kind::Dataplane,
                                &mesh_name,
                                &format!("dp-{n}"),
                            ))
                        })
                        .collect();
                    for r in store.commit(changes).await.expect("commit") {
                        r.expect("create");
                    }
                    i += TASKS * batch;
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("task");
        }
        let elapsed = started.elapsed();
        let page = store
            .list(
                Kind::Dataplane,
                Some(&mesh_name),
                ursa_actors::page::PageRequest::ALL,
            )
            .await
            .expect("list");
        assert_eq!(page.total, TOTAL);
        println!(
            "commit throughput: {TOTAL} creates in batches of {batch} from {TASKS} tasks in \
             {elapsed:.2?}: {:.0}/s",
            TOTAL as f64 / elapsed.as_secs_f64()
        );
    }
    drop(store);
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_leases_expire_by_the_servers_clock() {
    let db = TestDb::create().await;
    let store = db.store().await;
    let leases = store.leases().expect("postgres has leases");
    let hour = Duration::from_secs(3600);
    leases.renew("a").await.expect("renew a");
    leases.renew("b").await.expect("renew b");
    assert_eq!(
        leases.expired(hour).await.expect("expired"),
        Vec::<String>::new()
    );
    // The rows carry the server's clock: older than "now() - 0" in a later transaction.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        leases.expired(Duration::ZERO).await.expect("expired"),
        ["a", "b"]
    );
    assert!(
        !leases.forget("a", hour).await.expect("forget"),
        "a is not expired by an hour"
    );
    assert!(leases.forget("a", Duration::ZERO).await.expect("forget"));
    assert!(
        !leases.forget("a", Duration::ZERO).await.expect("forget"),
        "already gone"
    );
    // A renewal brings an instance back.
    leases.renew("b").await.expect("renew b");
    assert_eq!(
        leases.expired(hour).await.expect("expired"),
        Vec::<String>::new()
    );
    let renewed: i64 = db
        .admin()
        .await
        .query_one(
            "SELECT count(*) FROM control_plane_instances WHERE renewed_at > started_at",
            &[],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(renewed, 1, "b renewed its row");
    db.drop_db().await;
}
