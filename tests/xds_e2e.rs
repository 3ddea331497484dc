//! Real Envoy 1.40 sidecars configured by Ursa over ADS: traffic flows through two Envoys,
//! insights show ACKed configuration, a TrafficRoute moves traffic, deleting a Dataplane removes
//! its listeners, stopping a sidecar stamps `disconnectTime`. Plus an xDS test client that NACKs.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use envoy_types::pb::google::rpc::Status as RpcStatus;
use serde_json::{json, Value};
use support::envoy::{app, counter, envoy_available, eventually, free_port, get, Sidecar};
use support::TestServer;

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

fn insight(server: &TestServer, name: &str) -> Value {
    server
        .get(&format!("/meshes/default/dataplanes+insights/{name}"))
        .json()["dataplaneInsight"]
        .clone()
}

#[test]
fn envoys_carry_traffic_and_follow_the_mesh() {
    envoy_available();
    let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
    let dir = std::env::temp_dir().join(format!("ursa-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let (v1_app, v2_app, web_app) = (app("backend v1"), app("backend v2"), app("web"));
    let (v1_in, v2_in, web_in, web_out) = (free_port(), free_port(), free_port(), free_port());
    let backend = |version: &str, port: u16, app: u16| {
        json!({"networking": {"address": "127.0.0.1", "inbound": [
            {"port": port, "servicePort": app, "tags": {"service": "backend", "version": version, "protocol": "http"}}]}})
    };
    let web = json!({"networking": {"address": "127.0.0.1",
        "inbound": [{"port": web_in, "servicePort": web_app, "tags": {"service": "web", "protocol": "http"}}],
        "outbound": [{"port": web_out, "service": "backend"}]}});
    let cp = format!("http://{}", server.addr);
    let b1 = Sidecar::start(Some(&cp), "backend-v1", &backend("v1", v1_in, v1_app), &dir);
    let _b2 = Sidecar::start(Some(&cp), "backend-v2", &backend("v2", v2_in, v2_app), &dir);
    let mut web_dp = Sidecar::start(Some(&cp), "web", &web, &dir);

    // A request into web's outbound listener reaches a backend app through both Envoys.
    let first = eventually(
        "traffic through web's outbound listener",
        Duration::from_secs(60),
        || get(web_out),
    );
    assert!(first.starts_with("backend v"), "{first}");
    // Both versions answer before any TrafficRoute. The second backend's own Envoy may still be
    // taking its configuration when the first answers, so wait for it rather than count.
    let mut seen = std::collections::BTreeSet::new();
    eventually(
        "both versions to answer before any TrafficRoute",
        Duration::from_secs(30),
        || {
            seen.extend(get(web_out));
            (seen.len() == 2).then_some(())
        },
    );
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["backend v1", "backend v2"]
    );

    // web's insight: one subscription, every type sent and ACKed, nothing rejected.
    let sub = eventually("web's ACKed insight", Duration::from_secs(20), || {
        let i = insight(&server, "web");
        let sub = i["subscriptions"][0].clone();
        ["cds", "eds", "lds", "rds"]
            .iter()
            .all(|b| counter(&sub, b, "responsesAcknowledged") >= 1)
            .then_some(sub)
    });
    assert!(
        sub["connectTime"].is_string() && sub["disconnectTime"].is_null(),
        "{sub}"
    );
    assert_eq!(counter(&sub, "total", "responsesRejected"), 0, "{sub}");
    assert!(sub["controlPlaneInstanceId"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));

    // A TrafficRoute sending 100% to v2 moves all traffic promptly; measure PUT → last ACK.
    let before = insight(&server, "web")["subscriptions"][0].clone();
    let acked_before = counter(&before, "total", "responsesAcknowledged");
    let started = Instant::now();
    let r = server.put_json(
        "/meshes/default/traffic-routes/web-to-v2",
        &json!({"type": "TrafficRoute", "mesh": "default", "name": "web-to-v2",
            "sources": [{"match": {"service": "web"}}], "destinations": [{"match": {"service": "backend"}}],
            "conf": [{"weight": 100, "destination": {"service": "backend", "version": "v2"}}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    // Poll tightly (2 ms) so the figure is the propagation, not the polling interval.
    let deadline = Instant::now() + Duration::from_secs(20);
    let propagated = loop {
        let sub = insight(&server, "web")["subscriptions"][0].clone();
        let (sent, acked) = (
            counter(&sub, "total", "responsesSent"),
            counter(&sub, "total", "responsesAcknowledged"),
        );
        if acked > acked_before && acked == sent {
            break started.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for web to ACK: {sub}"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    println!("TrafficRoute PUT -> web's Envoy ACKed everything: {propagated:?}");
    eventually("traffic to move to v2", Duration::from_secs(10), || {
        (0..20)
            .all(|_| get(web_out).as_deref() == Some("backend v2"))
            .then_some(())
    });

    // Deleting a Dataplane removes its listeners from its Envoy.
    assert!(b1
        .admin_call("GET", "/listeners")
        .unwrap_or_default()
        .contains("inbound:127.0.0.1"));
    assert_eq!(
        server
            .delete("/meshes/default/dataplanes/backend-v1")
            .status,
        200
    );
    eventually(
        "backend-v1's Envoy to drop its inbound listener",
        Duration::from_secs(20),
        || {
            let listeners = b1.admin_call("GET", "/listeners")?;
            (!listeners.contains("inbound:")).then_some(())
        },
    );

    // Stopping a sidecar stamps disconnectTime on its subscription.
    let status = web_dp.stop().expect("ursa-dp did not stop on SIGTERM");
    assert!(
        status.code().is_some(),
        "ursa-dp exits with Envoy's status: {status:?}"
    );
    eventually(
        "web's subscription to get disconnectTime",
        Duration::from_secs(20),
        || {
            insight(&server, "web")["subscriptions"][0]["disconnectTime"]
                .as_str()
                .map(|_| ())
        },
    );
}

#[test]
fn ursa_dp_fails_in_one_line_without_dataplane_or_control_plane() {
    let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
    let out = Command::new(support::bin("ursa-dp"))
        .args([
            "run",
            "--cp-address",
            &format!("http://{}", server.addr),
            "--name",
            "ghost",
            "--binary-path",
            "/bin/false",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("ghost") && err.contains("not found"), "{err}");

    let port = free_port();
    let out = Command::new(support::bin("ursa-dp"))
        .args([
            "run",
            "--cp-address",
            &format!("http://127.0.0.1:{port}"),
            "--name",
            "x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("could not reach the control plane"), "{err}");
}

#[test]
fn bootstrap_server_answers_v3_bootstrap_or_kuma_errors() {
    let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
    let catalog = server.get("/catalog").json();
    let url = catalog["apis"]["bootstrap"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        url,
        format!("http://127.0.0.1:{}", server.addresses.bootstrap.port())
    );
    let post = |body: &str| {
        support::raw(
            server.addresses.bootstrap,
            "POST",
            "/bootstrap",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };
    let r = post(r#"{"mesh":"default","name":"nope"}"#);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["details"], "Not found");
    let r = post("{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["causes"][0]["field"], "body");
    server.put_json("/meshes/default/dataplanes/dp-1", &json!({"type": "Dataplane", "mesh": "default", "name": "dp-1",
        "networking": {"address": "127.0.0.1", "inbound": [{"port": 1234, "tags": {"service": "svc"}}]}}));
    let r = post(r#"{"mesh":"default","name":"dp-1","adminPort":9901}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let yaml: Value = serde_yaml::from_str(&r.text()).unwrap();
    assert_eq!(yaml["node"]["id"], "default.dp-1");
    assert_eq!(yaml["node"]["cluster"], "svc");
    assert_eq!(yaml["node"]["metadata"]["dataplane.admin.port"], "9901");
    let ads = &yaml["static_resources"]["clusters"][0]["load_assignment"]["endpoints"][0]
        ["lb_endpoints"][0]["endpoint"]["address"]["socket_address"];
    assert_eq!(ads["port_value"], server.addresses.xds.port());
    // The agent's access-log socket: Kuma's path unless the request names one (X19).
    let sink = |yaml: &Value| {
        let sink = &yaml["static_resources"]["clusters"][1];
        assert_eq!(sink["name"], "access_log_sink");
        assert_eq!(sink["type"], "STATIC");
        sink["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["pipe"]
            ["path"]
            .clone()
    };
    assert_eq!(sink(&yaml), "/tmp/kuma-access-logs-dp-1-default.sock");
    let named =
        post(r#"{"mesh":"default","name":"dp-1","accessLogSocketPath":"/run/dp-1/als.sock"}"#);
    assert_eq!(named.status, 200, "{}", named.text());
    assert_eq!(
        sink(&serde_yaml::from_str(&named.text()).unwrap()),
        "/run/dp-1/als.sock"
    );
    // The rendered bootstrap is valid for Envoy 1.40.
    envoy_available();
    let file = std::env::temp_dir().join(format!("ursa-bootstrap-{}.yaml", std::process::id()));
    std::fs::write(&file, r.text()).unwrap();
    let out = Command::new("envoy")
        .args(["--mode", "validate", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// X4: a rejected configuration is counted and never sent again, even when the NACK names
/// other resources than the request it answers (Envoy asks for the clusters it watches now,
/// which may have changed meanwhile): only a new version of the configuration is sent.
#[test]
fn a_nack_is_counted_and_not_resent() {
    let server = TestServer::start(&[]);
    // The inbound port is svc's endpoint: changing it changes the endpoints (EDS).
    let dataplane = |port: u32| {
        format!(
            r#"{{"type":"Dataplane","mesh":"default","name":"nacker","networking":{{"address":"127.0.0.1",
            "inbound":[{{"port":{port},"servicePort":4321,"tags":{{"service":"svc"}}}}],
            "outbound":[{{"port":20001,"service":"svc"}}]}}}}"#
        )
    };
    let put = |body: String| {
        support::raw(
            server.addr,
            "PUT",
            "/meshes/default/dataplanes/nacker",
            &[("content-type", "application/json")],
            body.as_bytes(),
        )
    };
    assert_eq!(put(dataplane(1234)).status, 201);
    let xds = server.addresses.xds;
    let addr = server.addr;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let node = Node {
            id: "default.nacker".into(),
            ..Default::default()
        };
        tx.send(DiscoveryRequest {
            node: Some(node.clone()),
            type_url: ENDPOINT.into(),
            resource_names: vec!["svc".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        let mut responses = client
            .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let first = responses.message().await.unwrap().unwrap();
        assert_eq!(first.type_url, ENDPOINT);
        assert_eq!(first.resources.len(), 1, "svc's endpoints");
        // Reject it, as Envoy does, keeping the previous (empty) version, while now watching
        // one more cluster.
        tx.send(DiscoveryRequest {
            node: Some(node.clone()),
            type_url: ENDPOINT.into(),
            response_nonce: first.nonce.clone(),
            resource_names: vec!["svc".into(), "svc-2".into()],
            error_detail: Some(RpcStatus {
                code: 3,
                message: "deliberately rejected".into(),
                details: vec![],
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        // Not resent: nothing arrives while the mesh is unchanged.
        let again = tokio::time::timeout(Duration::from_millis(700), responses.message()).await;
        assert!(
            again.is_err(),
            "a NACKed config must not be resent: {again:?}"
        );
        // The next change brings a new version.
        let r = tokio::task::spawn_blocking(move || {
            support::raw(
                addr,
                "PUT",
                "/meshes/default/dataplanes/nacker",
                &[("content-type", "application/json")],
                dataplane(4322).as_bytes(),
            )
        })
        .await
        .unwrap();
        assert_eq!(r.status, 200);
        let next = tokio::time::timeout(Duration::from_secs(5), responses.message())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(next.type_url, ENDPOINT);
        assert_ne!(next.version_info, first.version_info);
        assert_ne!(next.nonce, first.nonce);
    });
    // Streams report their counters at most every 250 ms: wait for the last report.
    let sub = eventually(
        "the nacker's final counters",
        Duration::from_secs(5),
        || {
            let sub = insight(&server, "nacker")["subscriptions"][0].clone();
            (counter(&sub, "eds", "responsesSent") == 2).then_some(sub)
        },
    );
    assert_eq!(counter(&sub, "eds", "responsesRejected"), 1, "{sub}");
    assert_eq!(counter(&sub, "total", "responsesRejected"), 1, "{sub}");
    assert_eq!(counter(&sub, "eds", "responsesSent"), 2, "{sub}");
    // Nothing more arrives later: exactly one rejection, two responses.
    std::thread::sleep(Duration::from_millis(400));
    let sub = insight(&server, "nacker")["subscriptions"][0].clone();
    assert_eq!(counter(&sub, "eds", "responsesSent"), 2, "{sub}");
    assert_eq!(counter(&sub, "total", "responsesRejected"), 1, "{sub}");
}

#[test]
fn a_bad_node_id_ends_the_stream_with_invalid_argument() {
    let server = TestServer::start(&[]);
    let xds = server.addresses.xds;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
            .await
            .unwrap();
        let req = DiscoveryRequest {
            node: Some(Node {
                id: "no-dot".into(),
                ..Default::default()
            }),
            type_url: CLUSTER.into(),
            ..Default::default()
        };
        let mut responses = client
            .stream_aggregated_resources(tokio_stream::iter(vec![req]))
            .await
            .unwrap()
            .into_inner();
        let err = responses.message().await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().contains("no-dot") && err.message().contains("<mesh>.<dataplane name>"),
            "{}",
            err.message()
        );
    });
}
