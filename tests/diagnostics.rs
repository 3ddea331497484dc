//! The diagnostics server: `/metrics` in the Prometheus text format, read with a Prometheus
//! text-format parser, whose counters move as requests, store writes, generations and ACKs
//! happen; plus `/ready` (the store answers) and `/healthy`.

mod support;

use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use prometheus_parse::{Scrape, Value};
use serde_json::json;
use support::TestServer;

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// `/metrics`, parsed.
fn scrape(addr: std::net::SocketAddr) -> Scrape {
    let r = support::raw(addr, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .contains("openmetrics-text"));
    let text = r.text();
    Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).expect("the Prometheus text format")
}

/// The value of the sample `name` whose labels include `labels` (`None`: no such sample).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(_) | Value::Summary(_) => panic!("{name} is not a scalar"),
        })
}

fn value_or_0(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    value(scrape, name, labels).unwrap_or(0.0)
}

fn dataplane(name: &str, port: u32) -> serde_json::Value {
    json!({"type": "Dataplane", "mesh": "default", "name": name,
           "networking": {"address": "127.0.0.1", "inbound": [{"port": port, "tags": {"service": name}}]}})
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Blocking HTTP from inside the runtime.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[test]
fn metrics_count_generations_and_skips_and_probes_answer() {
    let server = TestServer::start(&[]);
    let diag = server.addresses.diagnostics;
    for path in ["/ready", "/healthy"] {
        assert_eq!(
            support::raw(diag, "GET", path, &[], b"").status,
            200,
            "{path}"
        );
    }
    let nope = support::raw(diag, "GET", "/nope", &[], b"");
    assert_eq!(nope.status, 404);
    assert_eq!(nope.json()["title"], "Page Not Found");
    let before = scrape(diag);
    assert_eq!(value(&before, "ursa_xds_generations_total", &[]), Some(0.0));
    assert_eq!(value(&before, "ursa_xds_streams", &[]), Some(0.0));
    for (name, port) in [("a", 1), ("b", 2)] {
        let r = server.put_json(
            &format!("/meshes/default/dataplanes/{name}"),
            &dataplane(name, port),
        );
        assert_eq!(r.status, 201);
    }
    let xds = server.addresses.xds;
    runtime().block_on(async {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(DiscoveryRequest {
            node: Some(Node {
                id: "default.a".into(),
                ..Default::default()
            }),
            type_url: CLUSTER.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut stream = client
            .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        stream.message().await.unwrap().unwrap();
        let s = blocking(move || scrape(diag)).await;
        assert_eq!(value(&s, "ursa_xds_streams", &[]), Some(1.0));
        assert_eq!(value(&s, "ursa_xds_generations_total", &[]), Some(1.0));
        assert!(value_or_0(&s, "ursa_xds_responses_total", &[("type", "cds")]) >= 1.0);
        // A change to b concerns a's proxy not at all: the stream skips it.
        let addr = server.addr;
        blocking(move || {
            let r = support::raw(
                addr,
                "PUT",
                "/meshes/default/dataplanes/b",
                &[("content-type", "application/json")],
                &serde_json::to_vec(&dataplane("b", 3)).unwrap(),
            );
            assert_eq!(r.status, 200);
        })
        .await;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = blocking(move || scrape(diag)).await;
            if value(&s, "ursa_xds_snapshots_skipped_total", &[]) == Some(1.0) {
                assert_eq!(
                    value(&s, "ursa_xds_generations_total", &[]),
                    Some(1.0),
                    "nothing regenerated"
                );
                break;
            }
            assert!(Instant::now() < deadline, "the skip was not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// The next response of `stream` within 10 s.
async fn next(stream: &mut tonic::Streaming<DiscoveryResponse>) -> DiscoveryResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a response in time")
        .expect("the stream is open")
        .expect("a response")
}

fn ack(r: &DiscoveryResponse, node: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(Node {
            id: node.into(),
            ..Default::default()
        }),
        type_url: r.type_url.clone(),
        version_info: r.version_info.clone(),
        response_nonce: r.nonce.clone(),
        ..Default::default()
    }
}

#[test]
fn metrics_move_with_requests_resources_store_writes_and_acks() {
    let server = TestServer::start(&[]);
    let diag = server.addresses.diagnostics;
    let requests = |s: &Scrape, route: &str, method: &str, status: &str| {
        value_or_0(
            s,
            "ursa_api_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
    };
    let before = scrape(diag);
    for _ in 0..3 {
        assert_eq!(server.get("/meshes/default").status, 200);
    }
    assert_eq!(
        server.get("/meshes/default/traffic-routes/nope").status,
        404
    );
    assert_eq!(server.get("/nowhere/at/all/x/y").status, 404);
    let r = server.put_json("/meshes/default/dataplanes/web", &dataplane("web", 1));
    assert_eq!(r.status, 201);
    let r = server.put_json("/meshes/default/dataplanes/api", &dataplane("api", 2));
    assert_eq!(r.status, 201);
    let s = scrape(diag);
    // Requests by route template (the names in the path do not make labels), method, status.
    assert_eq!(
        requests(&s, "/meshes/:name", "GET", "200")
            - requests(&before, "/meshes/:name", "GET", "200"),
        3.0
    );
    assert_eq!(
        requests(&s, "/meshes/:mesh/traffic-routes/:name", "GET", "404"),
        1.0
    );
    assert_eq!(requests(&s, "unmatched", "GET", "404"), 1.0);
    assert_eq!(
        requests(&s, "/meshes/:mesh/dataplanes/:name", "PUT", "201"),
        2.0
    );
    assert!(
        value_or_0(
            &s,
            "ursa_api_request_duration_seconds_count",
            &[("route", "/meshes/:name"), ("method", "GET")]
        ) >= 3.0
    );
    // Resources by kind and mesh.
    assert_eq!(
        value(
            &s,
            "ursa_resources",
            &[("kind", "Dataplane"), ("mesh", "default")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &s,
            "ursa_resources",
            &[("kind", "Mesh"), ("mesh", "default")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &s,
            "ursa_resources",
            &[("kind", "TrafficRoute"), ("mesh", "default")]
        ),
        Some(0.0)
    );
    // Store latency and group-commit batch sizes (at least the two PUTs, as batches of one or two).
    assert!(
        value_or_0(
            &s,
            "ursa_store_operation_duration_seconds_count",
            &[("op", "commit")]
        ) >= 1.0
    );
    let batches = value_or_0(&s, "ursa_store_commit_batch_size_count", &[]);
    let changes = value_or_0(&s, "ursa_store_commit_batch_size_sum", &[]);
    assert!(
        batches >= 1.0 && changes >= 2.0,
        "{batches} batches of {changes} changes"
    );
    assert_eq!(value_or_0(&s, "ursa_store_errors_total", &[]), 0.0);

    // xDS: a proxy connects, ACKs; a change reaches it and its ACK is a delivery.
    let xds = server.addresses.xds;
    let addr = server.addr;
    runtime().block_on(async move {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}")).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let node = "default.web";
        tx.send(DiscoveryRequest {
            node: Some(Node { id: node.into(), ..Default::default() }),
            type_url: CLUSTER.into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut stream = client
            .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let first = next(&mut stream).await;
        tx.send(ack(&first, node)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = blocking(move || scrape(diag)).await;
            if value_or_0(&s, "ursa_xds_acks_total", &[("type", "cds")]) == 1.0 {
                assert_eq!(value(&s, "ursa_dataplanes_connected", &[("mesh", "default")]), Some(1.0));
                assert!(value_or_0(&s, "ursa_xds_generation_seconds_count", &[]) >= 1.0);
                assert_eq!(value_or_0(&s, "ursa_xds_nacks_total", &[("type", "cds")]), 0.0);
                assert_eq!(value_or_0(&s, "ursa_xds_delivery_seconds_count", &[]), 0.0, "no change yet");
                break;
            }
            assert!(Instant::now() < deadline, "the ACK was not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // web reaches a new service: its clusters change.
        blocking(move || {
            let body = json!({"type": "Dataplane", "mesh": "default", "name": "web",
                "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": "web"}}],
                               "outbound": [{"port": 20001, "service": "api"}]}});
            let r = support::raw(addr, "PUT", "/meshes/default/dataplanes/web", &[("content-type", "application/json")],
                &serde_json::to_vec(&body).unwrap());
            assert_eq!(r.status, 200);
        })
        .await;
        let pushed = next(&mut stream).await;
        assert_ne!(pushed.version_info, first.version_info);
        // A NACK first, then (a new version) nothing; the delivery is counted on an ACK only.
        let mut nack = ack(&pushed, node);
        nack.version_info = first.version_info.clone();
        nack.error_detail = Some(Default::default());
        tx.send(nack).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = blocking(move || scrape(diag)).await;
            if value_or_0(&s, "ursa_xds_nacks_total", &[("type", "cds")]) == 1.0 {
                assert_eq!(value_or_0(&s, "ursa_xds_delivery_seconds_count", &[]), 0.0);
                break;
            }
            assert!(Instant::now() < deadline, "the NACK was not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        blocking(move || {
            let body = json!({"type": "Dataplane", "mesh": "default", "name": "web",
                "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": "web"}}]}});
            let r = support::raw(addr, "PUT", "/meshes/default/dataplanes/web", &[("content-type", "application/json")],
                &serde_json::to_vec(&body).unwrap());
            assert_eq!(r.status, 200);
        })
        .await;
        let again = next(&mut stream).await;
        tx.send(ack(&again, node)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = blocking(move || scrape(diag)).await;
            if value_or_0(&s, "ursa_xds_delivery_seconds_count", &[]) == 1.0 {
                assert_eq!(value_or_0(&s, "ursa_xds_acks_total", &[("type", "cds")]), 2.0);
                let sum = value_or_0(&s, "ursa_xds_delivery_seconds_sum", &[]);
                assert!(sum > 0.0 && sum < 10.0, "a delivery time in seconds: {sum}");
                break;
            }
            assert!(Instant::now() < deadline, "the delivery was not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        drop(tx);
        drop(stream);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = blocking(move || scrape(diag)).await;
            if value(&s, "ursa_dataplanes_connected", &[("mesh", "default")]) == Some(0.0) {
                break;
            }
            assert!(Instant::now() < deadline, "the disconnect was not counted");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}

/// A TCP relay to `upstream` that can be cut (every connection closed, new ones dropped) and
/// restored, standing for a database that goes away.
struct Relay {
    addr: std::net::SocketAddr,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Relay {
    fn start(upstream: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                if flag.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        use std::io::{Read, Write};
                        from.set_read_timeout(Some(Duration::from_millis(100))).ok();
                        let mut buf = [0u8; 16384];
                        loop {
                            if flag.load(Ordering::SeqCst) {
                                break;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => break,
                            }
                        }
                        let _ = from.shutdown(std::net::Shutdown::Both);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { addr, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.store(cut, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn ready_means_the_store_answers() {
    let db = support::pg::Db::create();
    let env = db.env();
    let host = &env
        .iter()
        .find(|(k, _)| *k == "KUMA_STORE_POSTGRES_HOST")
        .unwrap()
        .1;
    let port = &env
        .iter()
        .find(|(k, _)| *k == "KUMA_STORE_POSTGRES_PORT")
        .unwrap()
        .1;
    let relay = Relay::start(format!("{host}:{port}").parse().unwrap());
    let relay_port = relay.addr.port().to_string();
    let server = TestServer::start(&support::pg::with(
        &env,
        &[
            ("KUMA_STORE_POSTGRES_PORT", &relay_port),
            ("KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT", "1"),
        ],
    ));
    let diag = server.addresses.diagnostics;
    let ready = || support::raw(diag, "GET", "/ready", &[], b"");
    assert_eq!(ready().status, 200);
    relay.set_cut(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    let down = loop {
        let r = ready();
        if r.status == 503 {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "/ready never noticed the store is gone"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(down.text().contains("store"), "{}", down.text());
    assert_eq!(
        support::raw(diag, "GET", "/healthy", &[], b"").status,
        200,
        "alive all the same"
    );
    let s = scrape(diag);
    assert!(
        value_or_0(
            &s,
            "ursa_store_errors_total",
            &[("op", "get"), ("error", "unavailable")]
        ) >= 1.0,
        "the failed probe is a store error"
    );
    relay.set_cut(false);
    let deadline = Instant::now() + Duration::from_secs(15);
    while ready().status != 200 {
        assert!(Instant::now() < deadline, "/ready never recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
}
