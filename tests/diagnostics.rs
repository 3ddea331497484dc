//! The diagnostics server: `/metrics` in the Prometheus text format, whose xDS counters move
//! as streams generate and skip, plus `/ready` and `/healthy`.

mod support;

use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use serde_json::json;
use support::TestServer;

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// The value of one sample (`name` exactly, no labels) in the exposition text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

fn metrics(server: &TestServer) -> String {
    let r = support::raw(server.addresses.diagnostics, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .contains("openmetrics-text"));
    r.text()
}

#[test]
fn metrics_count_generations_and_skips_and_probes_answer() {
    let server = TestServer::start(&[]);
    for path in ["/ready", "/healthy"] {
        assert_eq!(
            support::raw(server.addresses.diagnostics, "GET", path, &[], b"").status,
            200,
            "{path}"
        );
    }
    let nope = support::raw(server.addresses.diagnostics, "GET", "/nope", &[], b"");
    assert_eq!(nope.status, 404);
    assert_eq!(nope.json()["title"], "Page Not Found");
    let before = metrics(&server);
    assert_eq!(sample(&before, "ursa_xds_generations_total"), Some(0.0));
    assert_eq!(sample(&before, "ursa_xds_streams"), Some(0.0));
    for name in ["a", "b"] {
        let r = server.put_json(
            &format!("/meshes/default/dataplanes/{name}"),
            &json!({"type": "Dataplane", "mesh": "default", "name": name,
                    "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": name}}]}}),
        );
        assert_eq!(r.status, 201);
    }
    let xds = server.addresses.xds;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}")).await.unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(DiscoveryRequest {
            node: Some(Node { id: "default.a".into(), ..Default::default() }),
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
        let text = tokio::task::spawn_blocking({
            let addr = server.addresses.diagnostics;
            move || support::raw(addr, "GET", "/metrics", &[], b"").text()
        })
        .await
        .unwrap();
        assert_eq!(sample(&text, "ursa_xds_streams"), Some(1.0), "{text}");
        assert_eq!(sample(&text, "ursa_xds_generations_total"), Some(1.0), "{text}");
        assert!(sample(&text, "ursa_xds_responses_total").unwrap() >= 1.0, "{text}");
        // A change to b concerns a's proxy not at all: the stream skips it.
        let addr = server.addr;
        tokio::task::spawn_blocking(move || {
            let r = support::raw(addr, "PUT", "/meshes/default/dataplanes/b", &[("content-type", "application/json")],
                br#"{"type":"Dataplane","mesh":"default","name":"b","networking":{"address":"127.0.0.1","inbound":[{"port":2,"tags":{"service":"b"}}]}}"#);
            assert_eq!(r.status, 200);
        })
        .await
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = tokio::task::spawn_blocking({
                let addr = server.addresses.diagnostics;
                move || support::raw(addr, "GET", "/metrics", &[], b"").text()
            })
            .await
            .unwrap();
            if sample(&text, "ursa_xds_snapshots_skipped_total") == Some(1.0) {
                assert_eq!(sample(&text, "ursa_xds_generations_total"), Some(1.0), "nothing regenerated: {text}");
                break;
            }
            assert!(Instant::now() < deadline, "the skip was not counted: {text}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
}
