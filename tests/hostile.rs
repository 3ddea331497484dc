//! One client must not be able to hurt everyone (D24, D23): each attack of the adversarial
//! campaign, reproduced against the real binary, with its bounded outcome.
//!
//! Connections that flood come from 127.0.0.2; the well-behaved client is 127.0.0.1, so a
//! per-client cap can tell them apart as it would two machines.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use serde_json::{json, Value};
use support::cp::Cp;
use support::Response;

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const ENDPOINT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";

const STALLED_PUT: &[u8] = b"PUT /meshes/sb HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"";

/// A connection to `to` from the loopback address `from`.
fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    let local: SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).expect("bind the source address");
    socket.connect(&to.into()).expect("connect");
    socket.into()
}

/// Everything the server sends until it closes (or `wait` passes): `None` on a timeout.
fn read_all(stream: &mut TcpStream, wait: Duration) -> Option<Vec<u8>> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => Some(out),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        // A reset after the answer still counts as closed.
        Err(_) => Some(out),
    }
}

/// Sends raw bytes on a fresh connection and parses the answer.
fn raw(to: SocketAddr, bytes: &[u8]) -> Response {
    let mut s = TcpStream::connect(to).unwrap();
    s.write_all(bytes).unwrap();
    let out = read_all(&mut s, Duration::from_secs(15)).expect("an answer");
    Response::parse(&out)
}

fn get(to: SocketAddr, path: &str) -> Response {
    raw(
        to,
        format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

fn put(to: SocketAddr, path: &str, body: &[u8]) -> Response {
    let mut req = format!(
        "PUT {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(to, &req)
}

fn delete(to: SocketAddr, path: &str) -> Response {
    raw(
        to,
        format!("DELETE {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
}

/// The answer is Kuma's error JSON with this status and title.
fn assert_error(r: &Response, status: u16, title: &str) -> Value {
    assert_eq!(r.status, status, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    let body = r.json();
    assert_eq!(body["title"], title, "{body}");
    assert!(
        body["details"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Sends `STALLED_PUT` on `n` connections from 127.0.0.2.
fn stall(n: usize, to: SocketAddr) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut s = connect_from("127.0.0.2", to);
            s.write_all(STALLED_PUT).unwrap();
            s
        })
        .collect()
}

fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn stalled_bodies_are_cut_off_while_others_are_served() {
    let cp = Cp::start(&[
        ("KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", "2s"),
        // Every stalled connection is let in, to show the timeout alone frees them.
        ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", "0"),
    ]);
    let started = Instant::now();
    let mut stalled = stall(2000, cp.api);
    let held = eventually(
        "the server to hold the stalled connections",
        Duration::from_secs(10),
        || {
            let fds = cp.open_fds();
            (fds >= 2000).then_some(fds)
        },
    );
    let t = Instant::now();
    let r = get(cp.api, "/meshes/default");
    let served_in = t.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    println!("2000 stalled bodies held ({held} fds): GET /meshes/default served in {served_in:?}");
    // The issue's 1 s, with room for a loaded CI machine; the figure above is what counts.
    assert!(served_in < Duration::from_secs(3), "{served_in:?}");
    for s in &mut stalled {
        let out = read_all(s, Duration::from_secs(10)).expect("the stalled connection is closed");
        assert_error(&Response::parse(&out), 408, "Request Timeout");
    }
    let all_closed = started.elapsed();
    println!(
        "every stalled connection answered 408 and closed {all_closed:?} after the flood began"
    );
    assert!(all_closed < Duration::from_secs(12), "{all_closed:?}");
    assert_eq!(
        get(cp.api, "/meshes/sb").status,
        404,
        "no stalled write was applied"
    );
    eventually(
        "the descriptors to be released",
        Duration::from_secs(10),
        || (cp.open_fds() < 200).then_some(()),
    );
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
}

#[test]
fn a_client_over_its_share_of_connections_is_refused_at_once() {
    let cp = Cp::start(&[
        ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", "50"),
        ("KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", "60s"),
    ]);
    let baseline = cp.open_fds();
    let _held = stall(50, cp.api);
    eventually(
        "the 50 connections to be counted",
        Duration::from_secs(10),
        || (cp.open_fds() >= baseline + 50).then_some(()),
    );
    for _ in 0..10 {
        let mut s = connect_from("127.0.0.2", cp.api);
        let _ = s.write_all(STALLED_PUT);
        let out = read_all(&mut s, Duration::from_secs(5)).expect("refused at once, not held");
        assert_error(&Response::parse(&out), 503, "Service Unavailable");
    }
    // Another client is unaffected.
    assert_eq!(get(cp.api, "/meshes/default").status, 200);
    let warnings = cp.logged("WARN", "refused a connection");
    assert!(
        (1..=2).contains(&warnings.len()),
        "refusals are logged, throttled: {warnings:?}"
    );
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
}

#[test]
fn the_total_connection_cap_holds_further_connections_back() {
    let cp = Cp::start(&[
        ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS", "20"),
        ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", "0"),
        ("KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", "3s"),
    ]);
    let _held = stall(20, cp.api);
    std::thread::sleep(Duration::from_millis(300));
    let mut waiting = TcpStream::connect(cp.api).unwrap();
    waiting
        .write_all(b"GET /meshes/default HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    assert!(
        read_all(&mut waiting, Duration::from_millis(800)).is_none(),
        "at the cap, a new connection waits in the backlog"
    );
    let out = read_all(&mut waiting, Duration::from_secs(15))
        .expect("served once the stalled ones are cut off");
    assert_eq!(Response::parse(&out).status, 200);
}

#[test]
fn oversized_and_stalled_bodies_are_refused_on_every_server() {
    let cp = Cp::start(&[("KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", "1s")]);
    // A declared length over the limit is refused before a byte of the body is sent.
    let mut s = TcpStream::connect(cp.api).unwrap();
    s.write_all(b"PUT /meshes/big HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 5000000\r\n\r\n").unwrap();
    let out = read_all(&mut s, Duration::from_secs(5)).expect("413 at once");
    let body = assert_error(&Response::parse(&out), 413, "Could not process a resource");
    assert_eq!(body["causes"][0]["field"], "body");
    // The bootstrap server: the same limits, in the same error JSON.
    let mut s = TcpStream::connect(cp.bootstrap).unwrap();
    s.write_all(b"POST /bootstrap HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n").unwrap();
    let out = read_all(&mut s, Duration::from_secs(5)).expect("413 at once");
    assert_error(&Response::parse(&out), 413, "Could not process a resource");
    let mut s = TcpStream::connect(cp.bootstrap).unwrap();
    s.write_all(b"POST /bootstrap HTTP/1.1\r\nhost: x\r\ncontent-length: 50\r\n\r\n{\"mesh\"")
        .unwrap();
    let out = read_all(&mut s, Duration::from_secs(5)).expect("408 after the body timeout");
    assert_error(&Response::parse(&out), 408, "Request Timeout");
    let r = raw(cp.bootstrap, b"GET /boot strap HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_error(&r, 400, "Bad Request");
    // A GET whose announced body never comes is cut off too, though nothing reads it.
    let mut s = TcpStream::connect(cp.api).unwrap();
    s.write_all(b"GET /meshes HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let out = read_all(&mut s, Duration::from_secs(10)).expect("the connection is closed");
    assert!(
        Response::parse(&out).status == 200,
        "the GET itself is answered"
    );
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
}

#[test]
fn malformed_requests_get_error_json_and_stay_out_of_the_error_log() {
    let cp = Cp::start(&[("KUMA_LIMITS_HTTP_READ_HEADER_TIMEOUT", "1s")]);
    let long_uri = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(70_000));
    let many_headers = format!(
        "GET / HTTP/1.1\r\n{}\r\n",
        (0..200)
            .map(|i| format!("x-h{i}: y\r\n"))
            .collect::<String>()
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("URI over 64 KB", long_uri.into_bytes(), 414, "URI Too Long"),
        ("a space in the path", b"GET /me shes HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), 400, "Bad Request"),
        ("NUL in a header", b"GET /meshes HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\r\n".to_vec(), 400, "Bad Request"),
        ("HTTP/2.0 request line", b"GET /meshes HTTP/2.0\r\nhost: x\r\n\r\n".to_vec(), 505, "HTTP Version Not Supported"),
        ("too many headers", many_headers.into_bytes(), 431, "Request Header Fields Too Large"),
        ("no leading slash", b"GET meshes HTTP/1.1\r\nhost: x\r\n\r\n".to_vec(), 400, "Bad Request"),
        ("a gzip body", b"PUT /meshes/gz HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 2\r\n\r\n{}".to_vec(), 415, "Unsupported Media Type"),
        ("conflicting lengths", b"PUT /meshes/x HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n{}".to_vec(), 400, "Bad Request"),
        ("a head that never ends", b"GET /meshes HTTP/1.1\r\nhost: x\r\n".to_vec(), 408, "Request Timeout"),
    ];
    for (what, bytes, status, title) in &cases {
        let r = raw(cp.api, bytes);
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        assert_error(&r, *status, title);
    }
    // The server is fine, and a kept-alive connection still works after a good request.
    let mut s = TcpStream::connect(cp.api).unwrap();
    s.write_all(b"GET /meshes/default HTTP/1.1\r\nhost: x\r\n\r\nGET /meshes HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
    let out = read_all(&mut s, Duration::from_secs(5)).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out)
            .matches("HTTP/1.1 200")
            .count(),
        2
    );
    assert_eq!(
        put(cp.api, "/meshes/gz", b"{\"type\":\"Mesh\",\"name\":\"gz\"}").status,
        201
    );
    // A client's mistakes are DEBUG: nothing reached the log at WARN or ERROR.
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
    assert_eq!(cp.lines_at("WARN"), Vec::<String>::new());
}

#[test]
fn range_checks_of_the_bootstrap_request() {
    let cp = Cp::start(&[]);
    let dp = br#"{"type":"Dataplane","mesh":"default","name":"dp","networking":{"address":"127.0.0.1","inbound":[{"port":1,"tags":{"service":"a"}}]}}"#;
    assert_eq!(put(cp.api, "/meshes/default/dataplanes/dp", dp).status, 201);
    let post = |body: &str| {
        raw(
            cp.bootstrap,
            format!("POST /bootstrap HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes(),
        )
    };
    for port in ["65536", "0"] {
        let r = post(&format!(
            r#"{{"mesh":"default","name":"dp","adminPort":{port}}}"#
        ));
        let body = assert_error(&r, 400, "Could not generate a bootstrap configuration");
        assert_eq!(body["causes"][0]["field"], "adminPort", "{body}");
    }
    let r = post(r#"{"mesh":"default","name":"dp","adminPort":9901}"#);
    assert_eq!(r.status, 200);
    assert!(r.text().contains("port_value: 9901"), "{}", r.text());
    // Without a port the control plane's default (0: no admin section) applies, as in Kuma.
    let r = post(r#"{"mesh":"default","name":"dp"}"#);
    assert_eq!(r.status, 200);
    assert!(!r.text().contains("admin:"), "{}", r.text());
}

fn inbounds(n: usize) -> String {
    (0..n)
        .map(|i| format!(r#"{{"port":{},"tags":{{"service":"s"}}}}"#, i % 65535 + 1))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn client_controlled_sizes_are_bounded() {
    let cp = Cp::start(&[]);
    let before = cp.rss_kib();
    // The campaign's 100,000-inbound Dataplane (3.5 MB) and one just over the cap.
    for (n, name) in [(100_000, "huge"), (1001, "over")] {
        let body = format!(
            r#"{{"type":"Dataplane","mesh":"default","name":"{name}","networking":{{"address":"127.0.0.1","inbound":[{}]}}}}"#,
            inbounds(n)
        );
        for _ in 0..4 {
            let r = put(
                cp.api,
                &format!("/meshes/default/dataplanes/{name}"),
                body.as_bytes(),
            );
            let err = assert_error(&r, 400, "Could not create a resource");
            assert_eq!(
                err["causes"],
                json!([{"field": "networking.inbound",
                "message": format!("has {n} inbound interfaces; at most 1000 are allowed")}])
            );
        }
    }
    let outbounds = (0..1001)
        .map(|i| format!(r#"{{"port":{},"service":"b"}}"#, i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        r#"{{"type":"Dataplane","mesh":"default","name":"out","networking":{{"address":"127.0.0.1","inbound":[{}],"outbound":[{outbounds}]}}}}"#,
        inbounds(1)
    );
    let err = assert_error(
        &put(cp.api, "/meshes/default/dataplanes/out", body.as_bytes()),
        400,
        "Could not create a resource",
    );
    assert_eq!(err["causes"][0]["field"], "networking.outbound");
    let body = format!(
        r#"{{"type":"Dataplane","mesh":"default","name":"max","networking":{{"address":"127.0.0.1","inbound":[{}]}}}}"#,
        (0..1000)
            .map(|i| format!(r#"{{"port":{},"tags":{{"service":"s"}}}}"#, i + 1))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(
        put(cp.api, "/meshes/default/dataplanes/max", body.as_bytes()).status,
        201,
        "1000 is allowed"
    );
    let after = cp.rss_kib();
    println!("RSS before the oversized Dataplanes {before} KiB, after {after} KiB");

    // An insight with 50,000 subscriptions keeps the 10 most recent.
    let subs = (0..50_000)
        .map(|i| format!(r#"{{"id":"s{i}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        r#"{{"type":"DataplaneInsight","mesh":"default","name":"max","subscriptions":[{subs}]}}"#
    );
    assert_eq!(
        put(
            cp.api,
            "/meshes/default/dataplane-insights/max",
            body.as_bytes()
        )
        .status,
        201
    );
    let stored = get(cp.api, "/meshes/default/dataplane-insights/max").json();
    let ids: Vec<&str> = stored["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        (49_990..50_000)
            .map(|i| format!("s{i}"))
            .collect::<Vec<_>>()
    );

    // 100,000 bad selector keys in one 1.5 MB body: the error lists 100 and counts the rest.
    let keys = (0..100_000)
        .map(|i| format!(r#""bad key {i}":"v""#))
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        r#"{{"type":"TrafficPermission","mesh":"default","name":"tp","sources":[{{"match":{{{keys}}}}}],"destinations":[{{"match":{{"service":"*"}}}}]}}"#
    );
    assert!(body.len() > 1_400_000);
    let r = put(
        cp.api,
        "/meshes/default/traffic-permissions/tp",
        body.as_bytes(),
    );
    let err = assert_error(&r, 400, "Could not create a resource");
    let causes = err["causes"].as_array().unwrap();
    assert_eq!(causes.len(), 101, "100 causes and a count");
    assert_eq!(causes[100]["field"], "causes");
    assert!(
        causes[100]["message"]
            .as_str()
            .unwrap()
            .contains("more violations"),
        "{}",
        causes[100]
    );
    println!(
        "largest error body: {} bytes (for a {} byte request)",
        r.body.len(),
        body.len()
    );
    assert!(r.body.len() < 32 * 1024, "{}", r.body.len());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Requests = tokio::sync::mpsc::Sender<DiscoveryRequest>;

async fn open_stream(
    xds: SocketAddr,
    first: DiscoveryRequest,
) -> (Requests, tonic::Result<tonic::Streaming<DiscoveryResponse>>) {
    let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
        .await
        .unwrap()
        .max_encoding_message_size(64 * 1024 * 1024)
        .max_decoding_message_size(64 * 1024 * 1024);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(first).await.unwrap();
    let responses = client
        .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .map(|r| r.into_inner());
    (tx, responses)
}

fn request(node: &str, type_url: &str) -> DiscoveryRequest {
    DiscoveryRequest {
        node: Some(Node {
            id: node.into(),
            ..Default::default()
        }),
        type_url: type_url.into(),
        ..Default::default()
    }
}

#[test]
fn xds_requests_and_responses_are_bounded() {
    let cp = Cp::start(&[]);
    runtime().block_on(async {
        // A request over gRPC's 4 MB limit: RESOURCE_EXHAUSTED, not a silent OK.
        let mut big = request("default.x", CLUSTER);
        big.resource_names = (0..500_000).map(|i| format!("cluster-{i}")).collect();
        let (_tx, responses) = open_stream(cp.xds, big).await;
        let err = match responses {
            Err(status) => status,
            Ok(mut stream) => stream.message().await.expect_err("the stream must fail"),
        };
        assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
        // A 10 KB node id is not echoed whole.
        let id = "x".repeat(10_000);
        let (_tx, responses) = open_stream(cp.xds, request(&id, CLUSTER)).await;
        let err = match responses {
            Err(status) => status,
            Ok(mut stream) => stream.message().await.expect_err("the stream must fail"),
        };
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
        assert!(
            err.message().len() < 400,
            "{} bytes echoed",
            err.message().len()
        );
        assert!(err.message().contains("10000 bytes"), "{}", err.message());
    });
    let exhausted = cp.logged("WARN", "unreadable DiscoveryRequest").len();
    assert_eq!(exhausted, 1, "logged once: {:?}", cp.logs());
    assert!(
        cp.logs().iter().all(|l| !l.contains(&"x".repeat(200))),
        "the long node id stays out of the log"
    );
}

/// A Dataplane `name` with `n` inbounds of service `big`, each endpoint carrying a long tag.
fn big_dataplane(name: &str, octet: u8, n: usize) -> Vec<u8> {
    let pad = "p".repeat(700);
    let inbound = (0..n)
        .map(|i| {
            format!(
                r#"{{"port":{},"tags":{{"service":"big","pad":"{pad}"}}}}"#,
                i + 1
            )
        })
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"type":"Dataplane","mesh":"default","name":"{name}","networking":{{"address":"127.0.1.{octet}","inbound":[{inbound}]}}}}"#
    )
    .into_bytes()
}

/// Endpoints in an EDS response.
fn endpoints(r: &DiscoveryResponse) -> usize {
    use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
    use prost::Message;
    r.resources
        .iter()
        .map(|any| {
            let cla = ClusterLoadAssignment::decode(any.value.as_slice()).unwrap();
            cla.endpoints
                .iter()
                .map(|l| l.lb_endpoints.len())
                .sum::<usize>()
        })
        .sum()
}

/// The next response of `type_url`, skipping others; `None` when none comes within `wait`.
async fn next_of(
    stream: &mut tonic::Streaming<DiscoveryResponse>,
    type_url: &str,
    wait: Duration,
) -> Option<DiscoveryResponse> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, stream.message()).await {
            Err(_) => return None,
            Ok(Ok(Some(r))) if r.type_url == type_url => return Some(r),
            Ok(Ok(Some(_))) => continue,
            Ok(other) => panic!("stream ended: {other:?}"),
        }
    }
}

#[test]
fn a_proxy_over_the_response_cap_keeps_its_last_configuration() {
    let cp = Cp::start(&[]);
    let api = cp.api;
    let web = br#"{"type":"Dataplane","mesh":"default","name":"web","networking":{"address":"127.0.0.1","inbound":[{"port":1,"tags":{"service":"web"}}],"outbound":[{"port":2,"service":"big"}]}}"#;
    assert_eq!(put(api, "/meshes/default/dataplanes/web", web).status, 201);
    assert_eq!(
        put(
            api,
            "/meshes/default/dataplanes/big-0",
            &big_dataplane("big-0", 0, 1000)
        )
        .status,
        201
    );
    runtime().block_on(async {
        let (tx, responses) = open_stream(cp.xds, request("default.web", ENDPOINT)).await;
        let mut stream = responses.unwrap();
        let first = next_of(&mut stream, ENDPOINT, Duration::from_secs(10))
            .await
            .expect("EDS under the cap");
        let size: usize = first.resources.iter().map(|r| r.value.len()).sum();
        assert!(size > 600_000 && size < 4 * 1024 * 1024, "{size}");
        let mut ack = request("default.web", ENDPOINT);
        ack.version_info = first.version_info.clone();
        ack.response_nonce = first.nonce.clone();
        tx.send(ack).await.unwrap();
        // Five more such Dataplanes: ~4.7 MB of endpoints, over the 4 MB cap. The states on the
        // way there (two, three, … Dataplanes) are under it and may be pushed.
        tokio::task::spawn_blocking(move || {
            for i in 1..=5 {
                let name = format!("big-{i}");
                assert_eq!(
                    put(
                        api,
                        &format!("/meshes/default/dataplanes/{name}"),
                        &big_dataplane(&name, i, 1000)
                    )
                    .status,
                    201
                );
            }
        })
        .await
        .unwrap();
        let mut most = endpoints(&first);
        while let Some(r) = next_of(&mut stream, ENDPOINT, Duration::from_secs(3)).await {
            let size: usize = r.resources.iter().map(|r| r.value.len()).sum();
            assert!(size <= 4 * 1024 * 1024, "{size} bytes were sent");
            most = most.max(endpoints(&r));
        }
        assert!(
            most < 6000,
            "the 6000-endpoint configuration was never sent ({most} at most)"
        );
        // Back under the cap with other content: a new version reaches the proxy.
        tokio::task::spawn_blocking(move || {
            for i in 0..=5 {
                assert_eq!(
                    delete(api, &format!("/meshes/default/dataplanes/big-{i}")).status,
                    200
                );
            }
            assert_eq!(
                put(
                    api,
                    "/meshes/default/dataplanes/big-9",
                    &big_dataplane("big-9", 9, 10)
                )
                .status,
                201
            );
        })
        .await
        .unwrap();
        let next = next_of(&mut stream, ENDPOINT, Duration::from_secs(10))
            .await
            .expect("EDS under the cap again");
        assert_ne!(next.version_info, first.version_info);
    });
    let too_large: Vec<String> = cp
        .lines_at("ERROR")
        .into_iter()
        .filter(|l| l.contains("too large to send"))
        .collect();
    assert_eq!(
        too_large.len(),
        1,
        "one logged error per refused version: {too_large:?}"
    );
}

#[test]
fn a_slowloris_client_holds_no_worker_and_is_cut_off_at_the_header_timeout() {
    // Two workers (one per core) serve everything: if trickling heads held them, the GET below
    // would wait for the trickle to end.
    let cp = Cp::start(&[
        ("KUMA_LIMITS_HTTP_READ_HEADER_TIMEOUT", "2s"),
        ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", "0"),
    ]);
    let head = b"GET /meshes/default HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut slow: Vec<TcpStream> = (0..200)
        .map(|_| connect_from("127.0.0.2", cp.api))
        .collect();
    for s in &slow {
        s.set_nonblocking(true).unwrap();
    }
    let started = Instant::now();
    // One byte per connection every 100 ms: each head would take 11 s to complete.
    let trickle = std::thread::spawn(move || {
        let mut answered = vec![None; slow.len()];
        for i in 0..head.len() {
            for (n, s) in slow.iter_mut().enumerate() {
                if answered[n].is_none() {
                    let _ = s.write_all(&head[i..i + 1]);
                    let mut buf = [0u8; 4096];
                    if let Ok(len) = s.read(&mut buf) {
                        if len > 0 {
                            answered[n] = Some((started.elapsed(), buf[..len].to_vec()));
                        }
                    }
                }
            }
            if answered.iter().all(Option::is_some) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        answered
    });
    std::thread::sleep(Duration::from_millis(500));
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(get(cp.api, "/meshes/default").status, 200);
        let served_in = t.elapsed();
        println!("with 200 trickling heads open, a GET was served in {served_in:?}");
        assert!(served_in < Duration::from_secs(2), "{served_in:?}");
    }
    let answered = trickle.join().unwrap();
    for (n, answer) in answered.into_iter().enumerate() {
        let (at, bytes) = answer.unwrap_or_else(|| panic!("connection {n} was never answered"));
        // The timeout runs from the head's first byte: trickling does not extend it.
        assert!(
            at < Duration::from_secs(8),
            "connection {n} answered after {at:?}"
        );
        let r = Response::parse(&bytes);
        assert_error(&r, 408, "Request Timeout");
    }
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
}

#[test]
fn an_idle_kept_alive_connection_is_closed_at_the_idle_timeout() {
    let cp = Cp::start(&[("KUMA_LIMITS_HTTP_IDLE_TIMEOUT", "1s")]);
    let mut s = TcpStream::connect(cp.api).unwrap();
    s.write_all(b"GET /meshes/default HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let t = Instant::now();
    // Kept alive, then idle: the server closes it (EOF or reset), without another answer.
    let rest = read_all(&mut s, Duration::from_secs(10)).expect("closed by the server");
    let idle_for = t.elapsed();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
    assert!(
        idle_for >= Duration::from_millis(800) && idle_for < Duration::from_secs(6),
        "{idle_for:?}"
    );
}

#[test]
fn the_ads_stream_cap_refuses_further_streams_with_a_clear_error() {
    let cp = Cp::start(&[("KUMA_LIMITS_XDS_MAX_STREAMS", "3")]);
    runtime().block_on(async {
        let mut open = Vec::new();
        for i in 0..3 {
            let (tx, responses) =
                open_stream(cp.xds, request(&format!("default.dp-{i}"), CLUSTER)).await;
            let mut stream = responses.expect("under the cap");
            // An answer proves the stream is being served.
            tokio::time::timeout(Duration::from_secs(10), stream.message())
                .await
                .expect("an answer in time")
                .expect("no error")
                .expect("a response");
            open.push((tx, stream));
        }
        for _ in 0..5 {
            let (_tx, responses) = open_stream(cp.xds, request("default.extra", CLUSTER)).await;
            let err = match responses {
                Err(status) => status,
                Ok(mut stream) => stream.message().await.expect_err("refused"),
            };
            assert_eq!(err.code(), tonic::Code::ResourceExhausted, "{err:?}");
            assert!(
                err.message().contains("limits.xds.maxStreams"),
                "{}",
                err.message()
            );
        }
        // A stream that ends gives its place back.
        drop(open.pop());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_tx, responses) = open_stream(cp.xds, request("default.later", CLUSTER)).await;
            let admitted = match responses {
                Ok(mut stream) => matches!(
                    tokio::time::timeout(Duration::from_secs(5), stream.message()).await,
                    Ok(Ok(Some(_)))
                ),
                Err(_) => false,
            };
            if admitted {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the freed place was never given back"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let warnings = cp.logged("WARN", "refused an ADS stream");
    assert_eq!(warnings.len(), 1, "logged, throttled: {warnings:?}");
    assert!(warnings[0].contains("limits.xds.maxStreams"));
}
