//! Two `ursa-cp` instances on one PostgreSQL (a private server, so the test can stop it), the
//! Envoys of two real sidecars connected to instance A, through faults (X13, U9):
//! 1. a change made through B reaches A's Envoys;
//! 2. `kill -9` of A: traffic keeps flowing on Envoy's last configuration, and B shows A's
//!    subscriptions disconnected once A's lease expired (shortened here to a 1 s timeout
//!    renewed every 250 ms; the printed figure is the time from the kill to B showing it);
//! 3. A restarted on the same ports, a new instance, gets the Envoys back: each insight has
//!    a new subscription, the old one kept in its history, disconnected;
//! 4. PostgreSQL stopped: traffic flows and writes get 503; started again, a change reaches
//!    the Envoys.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cp::Cp;
use support::envoy::{acked, app, envoy_available, eventually, free_port, get, Sidecar};
use support::pg::{self, PrivatePg};

/// Lease settings of this test: A counts as dead 1 s after its last renewal.
const LEASE: [(&str, &str); 2] = [
    ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL", "250ms"),
    ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT", "1s"),
];

/// Starts an instance on `store` with the given ports and the test's lease settings.
fn instance(store: &[(&'static str, String)], ports: [u16; 3]) -> Cp {
    let ports = ports.map(|p| p.to_string());
    let mut env = pg::with(store, &LEASE);
    env.extend([
        ("KUMA_API_SERVER_PORT", ports[0].as_str()),
        ("KUMA_BOOTSTRAP_SERVER_PORT", ports[1].as_str()),
        ("KUMA_XDS_SERVER_GRPC_PORT", ports[2].as_str()),
        ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0"),
        // Two instances run at once, and other tests may hold the default admin port.
        ("KUMA_ADMIN_SERVER_LOCAL_PORT", "0"),
        // Liveness is the subject; TLS and tokens across instances are secure_mesh_e2e's.
        ("KUMA_XDS_SERVER_TLS_ENABLED", "false"),
        ("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "false"),
        ("KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL", "200ms"),
    ]);
    // On every interface, as by default: the bootstrap's xDS host is `localhost`, which may
    // resolve to ::1 first.
    Cp::start_bare(&env).unwrap_or_else(|out| panic!("ursa-cp did not start:\n{out}"))
}

fn subscriptions(cp: &Cp, name: &str) -> Vec<Value> {
    let r = cp.get(&format!("/meshes/default/dataplanes+insights/{name}"));
    if r.status != 200 {
        return Vec::new();
    }
    r.json()["dataplaneInsight"]["subscriptions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn served_by<'a>(subs: &'a [Value], instance: &str) -> Vec<&'a Value> {
    subs.iter()
        .filter(|s| s["controlPlaneInstanceId"] == instance)
        .collect()
}

fn dataplane(name: &str, port: u16, app_port: u16, version: &str) -> Value {
    json!({"type": "Dataplane", "mesh": "default", "name": name,
        "networking": {"address": "127.0.0.1", "inbound": [{"port": port, "servicePort": app_port,
            "tags": {"service": "backend", "version": version, "protocol": "http"}}]}})
}

fn route_to(version: &str) -> Value {
    json!({"type": "TrafficRoute", "mesh": "default", "name": "backend",
        "sources": [{"match": {"service": "web"}}], "destinations": [{"match": {"service": "backend"}}],
        "conf": [{"weight": 100, "destination": {"service": "backend", "version": version}}]})
}

/// Every one of 10 requests through `port` answers `body`.
fn all_answer(port: u16, body: &str) -> Option<()> {
    (0..10)
        .all(|_| get(port).as_deref() == Some(body))
        .then_some(())
}

#[test]
fn instances_survive_kill_9_restart_and_a_database_outage() {
    envoy_available();
    let pg = PrivatePg::start();
    let store = pg.database("ursa");
    let a_ports = [free_port(), free_port(), free_port()];
    let mut a = instance(&store, a_ports);
    let b = instance(&store, [free_port(), free_port(), free_port()]);

    // Two sidecars whose Envoys get their configuration from A.
    let dir = std::env::temp_dir().join(format!("ursa-instances-e2e-{}", std::process::id()));
    let (v1_app, v2_app) = (app("backend v1"), app("backend v2"));
    let (backend_in, web_in, web_out) = (free_port(), free_port(), free_port());
    let backend = dataplane("backend", backend_in, v1_app, "v1");
    let web = json!({"networking": {"address": "127.0.0.1",
        "inbound": [{"port": web_in, "servicePort": free_port(), "tags": {"service": "web", "protocol": "http"}}],
        "outbound": [{"port": web_out, "service": "backend"}]}});
    let cp_a = format!("http://127.0.0.1:{}", a_ports[0]);
    let _backend = Sidecar::start(Some(&cp_a), "backend", &backend, &dir);
    let _web = Sidecar::start(Some(&cp_a), "web", &web, &dir);
    eventually(
        "traffic through web's outbound",
        Duration::from_secs(60),
        || all_answer(web_out, "backend v1"),
    );
    // B sees the insights A writes: one subscription each, served by A, connected.
    let a_id = eventually("web's subscription on B", Duration::from_secs(20), || {
        let subs = subscriptions(&b, "web");
        let sub = subs
            .first()
            .filter(|s| acked(s, &["cds", "eds", "lds", "rds"]))?;
        sub["controlPlaneInstanceId"].as_str().map(str::to_string)
    });

    // 1. A change through B reaches A's Envoys: a second backend endpoint (version v2,
    //    the application itself) and a route to it.
    let r = b.put(
        "/meshes/default/dataplanes/backend-v2",
        &dataplane("backend-v2", v2_app, v2_app, "v2"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = b.put("/meshes/default/traffic-routes/backend", &route_to("v2"));
    assert_eq!(r.status, 201, "{}", r.text());
    eventually(
        "B's route applied by A's Envoys",
        Duration::from_secs(20),
        || all_answer(web_out, "backend v2"),
    );

    // 2. kill -9 of A: traffic flows on the last configuration; B disconnects A's
    //    subscriptions once A's lease expired.
    a.kill9();
    let killed = Instant::now();
    assert_eq!(
        all_answer(web_out, "backend v2"),
        Some(()),
        "traffic after A died"
    );
    let stamped = eventually(
        "A's subscriptions disconnected on B",
        Duration::from_secs(30),
        || {
            ["web", "backend"]
                .iter()
                .all(|name| {
                    let subs = subscriptions(&b, name);
                    let by_a = served_by(&subs, &a_id);
                    !by_a.is_empty() && by_a.iter().all(|s| s["disconnectTime"].is_string())
                })
                .then(|| killed.elapsed())
        },
    );
    println!("kill -9 of A -> B shows its subscriptions disconnected: {stamped:?} (lease timeout 1s, renewed every 250ms)");
    assert_eq!(
        all_answer(web_out, "backend v2"),
        Some(()),
        "traffic while A is down"
    );

    // 3. A again, on the same ports: a new instance. The Envoys reconnect to it, and each
    //    insight has a new subscription after the old one, which stays disconnected.
    let a2 = instance(&store, a_ports);
    for name in ["web", "backend"] {
        let subs = eventually(
            &format!("{name} back on the restarted A"),
            Duration::from_secs(90),
            || {
                let subs = subscriptions(&a2, name);
                let new = subs.last()?;
                // Envoy reconnects holding the same content: nothing need be sent (X3), so
                // the new subscription may count no ACK.
                let fresh = new["controlPlaneInstanceId"] != a_id.as_str()
                    && new["connectTime"].is_string()
                    && new["disconnectTime"].is_null();
                fresh.then_some(subs)
            },
        );
        let old = served_by(&subs, &a_id);
        assert_eq!(
            old.len(),
            1,
            "{name}: the old subscription is kept: {subs:?}"
        );
        assert!(old[0]["disconnectTime"].is_string(), "{name}: {subs:?}");
        // B agrees.
        eventually(
            &format!("B to show {name}'s new subscription"),
            Duration::from_secs(20),
            || (subscriptions(&b, name) == subs).then_some(()),
        );
    }

    // 4. PostgreSQL stops: traffic flows, reads are served, writes get 503.
    pg.stop("fast");
    assert_eq!(
        all_answer(web_out, "backend v2"),
        Some(()),
        "traffic while PostgreSQL is down"
    );
    for cp in [&a2, &b] {
        assert_eq!(cp.get("/meshes/default/traffic-routes/backend").status, 200);
        let r = cp.put("/meshes/default/traffic-routes/backend", &route_to("v1"));
        assert_eq!(
            r.status,
            503,
            "a write while PostgreSQL is down: {}",
            r.text()
        );
    }
    // Started again: a change (through B) reaches the Envoys (through A).
    pg.start_again();
    eventually(
        "a write once PostgreSQL is back",
        Duration::from_secs(30),
        || {
            (b.put("/meshes/default/traffic-routes/backend", &route_to("v1"))
                .status
                == 200)
                .then_some(())
        },
    );
    eventually(
        "the route back to v1 applied by the Envoys",
        Duration::from_secs(30),
        || all_answer(web_out, "backend v1"),
    );
    drop((_backend, _web));
    a2.terminate();
    b.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
