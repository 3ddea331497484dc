//! Ursa with every default, as a new user runs it (the README's two-service example): the
//! `ursa-cp` binary with no configuration and no `KUMA_*` variable at all, so on its default
//! interface (every interface, IPv6 and IPv4) and default ports, and two `ursa-dp` sidecars
//! without `--cp-address` (`http://localhost:5681`), whose Envoys reach the xDS server at the
//! bootstrap's default host, `localhost`. Traffic flows and the insights show ACKs.
//!
//! The default ports (5681, 5682, 5678) are real: this is the only test of the suite that uses
//! them (every other one takes port 0 or a free port), so a `cargo test` run never competes
//! with itself for them. Another process may hold them (this test of another checkout, a
//! developer's `ursa-cp`): the test waits up to 5 minutes for them to be free, tries again if
//! `ursa-cp` lost a race for them, and otherwise fails naming the port.
//!
//! `ipv6_loopback_reaches_every_server` is the same flow with Envoy dialing the xDS server at
//! `::1`, as it does on a machine whose `localhost` resolves to `::1` first (the failure this
//! guards against: every server bound `0.0.0.0` only and Envoy was refused forever).

mod support;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cp::Cp;
use support::envoy::{acked, app, envoy_available, eventually, free_port, get, Sidecar};

const DEFAULT_PORTS: [u16; 3] = [5681, 5682, 5678];

fn in_use(port: u16) -> bool {
    ["127.0.0.1", "::1"].iter().any(|ip| {
        let addr = SocketAddr::new(ip.parse().unwrap(), port);
        TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
    })
}

/// `ursa-cp` with every default, once the default ports are free.
fn start_with_every_default() -> Cp {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let busy: Vec<u16> = DEFAULT_PORTS.into_iter().filter(|p| in_use(*p)).collect();
        if busy.is_empty() {
            match Cp::start(&[]) {
                Ok(cp) => return cp,
                Err(out) if out.contains("could not listen") && Instant::now() < deadline => {}
                Err(out) => panic!("ursa-cp did not start with every default:\n{out}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "the default ports {busy:?} stayed in use for 5 minutes: stop what listens there"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Two services as in the README: `backend` (one app) and `web`, which reaches it through
/// its outbound; returns the sidecars and web's outbound port.
fn two_services(cp: Option<&str>, dir: &std::path::Path) -> (Sidecar, Sidecar, u16) {
    let backend_app = app("backend");
    let (backend_in, web_in, web_out) = (free_port(), free_port(), free_port());
    let backend = json!({"networking": {"address": "127.0.0.1",
        "inbound": [{"port": backend_in, "servicePort": backend_app, "tags": {"service": "backend", "protocol": "http"}}]}});
    let web = json!({"networking": {"address": "127.0.0.1",
        "inbound": [{"port": web_in, "servicePort": free_port(), "tags": {"service": "web", "protocol": "http"}}],
        "outbound": [{"port": web_out, "service": "backend"}]}});
    let b = Sidecar::start(cp, "backend", &backend, dir);
    let w = Sidecar::start(cp, "web", &web, dir);
    (b, w, web_out)
}

fn subscription(cp: &Cp, name: &str) -> Value {
    cp.get(&format!("/meshes/default/dataplanes+insights/{name}"))
        .json()["dataplaneInsight"]["subscriptions"][0]
        .clone()
}

fn traffic_flows_and_insights_show_acks(cp: &Cp, web_out: u16) {
    let body = eventually(
        "traffic through web's outbound listener",
        Duration::from_secs(60),
        || get(web_out),
    );
    assert_eq!(body, "backend");
    // web gets every type; backend, without outbounds, only clusters and listeners.
    let types: [(&str, &[&str]); 2] = [
        ("backend", &["cds", "lds"]),
        ("web", &["cds", "eds", "lds", "rds"]),
    ];
    for (name, types) in types {
        let sub = eventually(
            &format!("{name}'s ACKed insight"),
            Duration::from_secs(20),
            || Some(subscription(cp, name)).filter(|s| acked(s, types)),
        );
        assert!(sub["disconnectTime"].is_null(), "{sub}");
    }
}

#[test]
fn every_default_two_sidecars_carry_traffic() {
    envoy_available();
    let cp = start_with_every_default();
    // Through `localhost`, as the user's curl does: on every address it resolves to here.
    for addr in ("localhost", 5681).to_socket_addrs().unwrap() {
        let index = support::raw(addr, "GET", "/", &[], b"");
        assert_eq!(index.json()["version"], "0.5.0", "GET / on {addr}");
    }
    let catalog = cp.get("/catalog").json();
    assert_eq!(catalog["apis"]["bootstrap"]["url"], "http://localhost:5682");
    let dir = std::env::temp_dir().join(format!("ursa-defaults-e2e-{}", std::process::id()));
    let (backend, web, web_out) = two_services(None, &dir);
    traffic_flows_and_insights_show_acks(&cp, web_out);
    drop((backend, web));
    cp.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ipv6_loopback_reaches_every_server() {
    envoy_available();
    // Every default but the ports (free ones: only the test above takes the defaults), and
    // Envoy told to dial the xDS server at ::1.
    let (api, bootstrap, xds, diagnostics) = (free_port(), free_port(), free_port(), free_port());
    let admin = free_port();
    let cp = Cp::start(&[
        ("KUMA_ADMIN_SERVER_LOCAL_PORT", &admin.to_string()),
        ("KUMA_API_SERVER_PORT", &api.to_string()),
        ("KUMA_BOOTSTRAP_SERVER_PORT", &bootstrap.to_string()),
        ("KUMA_XDS_SERVER_GRPC_PORT", &xds.to_string()),
        ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", &diagnostics.to_string()),
        (
            "KUMA_API_SERVER_CATALOG_BOOTSTRAP_URL",
            &format!("http://[::1]:{bootstrap}"),
        ),
        ("KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST", "::1"),
    ])
    .unwrap_or_else(|out| panic!("ursa-cp did not start:\n{out}"));
    let dir = std::env::temp_dir().join(format!("ursa-ipv6-e2e-{}", std::process::id()));
    let cp_url = format!("http://[::1]:{api}");
    let (backend, web, web_out) = two_services(Some(&cp_url), &dir);
    traffic_flows_and_insights_show_acks(&cp, web_out);
    drop((backend, web));
    cp.terminate();
    let _ = std::fs::remove_dir_all(&dir);
}
