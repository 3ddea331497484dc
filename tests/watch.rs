//! `?watch=true` on any list (beyond Kuma, opt-in): Server-Sent Events. A client sees the add,
//! update and delete of a resource in order; resumes after a disconnect without missing an
//! event; gets the current items first; sees insight changes (its dataplane coming online);
//! and a consumer that stops reading is cut off while the server's memory stays flat.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::cp::Cp;
use support::TestServer;

/// One Server-Sent Event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<String>,
    data: Value,
}

/// A raw watch connection: the response head, then events as they arrive.
struct Watch {
    stream: TcpStream,
    status: u16,
    head: String,
    raw: Vec<u8>,
    body: Vec<u8>,
    closed: bool,
}

impl Watch {
    fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Watch {
        let mut stream = TcpStream::connect(addr).unwrap();
        let mut req = format!("GET {path} HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).unwrap();
        let mut w = Watch {
            stream,
            status: 0,
            head: String::new(),
            raw: Vec::new(),
            body: Vec::new(),
            closed: false,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !w.raw.windows(4).any(|x| x == b"\r\n\r\n") {
            assert!(Instant::now() < deadline, "no response head");
            assert!(w.fill(Duration::from_secs(10)), "closed before the head");
        }
        let end = w.raw.windows(4).position(|x| x == b"\r\n\r\n").unwrap();
        w.head = String::from_utf8_lossy(&w.raw[..end]).into_owned();
        w.status = w.head.split(' ').nth(1).unwrap().parse().unwrap();
        w.raw.drain(..end + 4);
        w
    }

    /// Reads what arrives within `wait`; false once the server closed.
    fn fill(&mut self, wait: Duration) -> bool {
        if self.closed {
            return false;
        }
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 65536];
        match self.stream.read(&mut buf) {
            Ok(0) => {
                self.closed = true;
                false
            }
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                true
            }
            Err(_) => {
                self.closed = true;
                false
            }
        }
    }

    /// Moves complete chunks of the chunked body into `body`.
    fn dechunk(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.raw[..eol]).to_string();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            if size == 0 {
                self.closed = true;
                return;
            }
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.body
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
        }
    }

    /// The next event (comments skipped) within `wait`.
    fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = Instant::now() + wait;
        loop {
            self.dechunk();
            while let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let frame = String::from_utf8_lossy(&self.body[..end]).to_string();
                self.body.drain(..end + 2);
                let mut event = Sse {
                    event: String::new(),
                    id: None,
                    data: Value::Null,
                };
                let mut any = false;
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_string();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_string());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(v).unwrap();
                    }
                }
                if any {
                    return Some(event);
                }
            }
            let now = Instant::now();
            if now >= deadline || !self.fill(deadline - now) {
                return None;
            }
        }
    }

    /// Events up to and including `synced`.
    fn initial(&mut self) -> (Vec<Sse>, Sse) {
        let mut items = Vec::new();
        loop {
            let e = self
                .next(Duration::from_secs(10))
                .expect("the initial events");
            if e.event == "synced" {
                return (items, e);
            }
            items.push(e);
        }
    }
}

fn route(name: &str, weight: u32) -> Value {
    json!({"type": "TrafficRoute", "mesh": "default", "name": name,
           "sources": [{"match": {"service": "*"}}],
           "destinations": [{"match": {"service": "backend"}}],
           "conf": [{"weight": weight, "destination": {"service": "backend"}}]})
}

const ROUTES: &str = "/meshes/default/traffic-routes";

#[test]
fn a_watch_sees_add_update_delete_in_order_and_resumes_without_missing_any() {
    let s = TestServer::start(&[]);
    assert_eq!(
        s.put_json(&format!("{ROUTES}/before"), &route("before", 1))
            .status,
        201
    );
    let mut w = Watch::open(s.addr, &format!("{ROUTES}?watch=true"), &[]);
    assert_eq!(w.status, 200, "{}", w.head);
    assert!(
        w.head
            .to_ascii_lowercase()
            .contains("content-type: text/event-stream"),
        "{}",
        w.head
    );
    // The current items first, then the position reached.
    let (items, synced) = w.initial();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].event, "added");
    assert_eq!(items[0].data["resource"]["name"], "before");
    assert!(items[0].id.is_none());
    assert!(synced.id.is_some());
    // Add, update, delete: in order, each with the resource and its version.
    assert_eq!(
        s.put_json(&format!("{ROUTES}/r"), &route("r", 1)).status,
        201
    );
    assert_eq!(
        s.put_json(&format!("{ROUTES}/r"), &route("r", 2)).status,
        200
    );
    // Another kind's change is no event of this list.
    let dp = json!({"type": "Dataplane", "mesh": "default", "name": "dp",
        "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": "dp"}}]}});
    assert_eq!(s.put_json("/meshes/default/dataplanes/dp", &dp).status, 201);
    assert_eq!(s.delete(&format!("{ROUTES}/r")).status, 200);
    let got: Vec<Sse> = (0..3)
        .map(|_| w.next(Duration::from_secs(10)).expect("an event"))
        .collect();
    let summary: Vec<(String, String, String)> = got
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.data["resource"]["name"].as_str().unwrap().to_string(),
                e.data["version"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("added".into(), "r".into(), "1".into()),
            ("updated".into(), "r".into(), "2".into()),
            ("deleted".into(), "r".into(), "2".into())
        ]
    );
    assert_eq!(got[1].data["resource"]["conf"][0]["weight"], 2);
    for e in &got {
        assert_eq!(e.data["type"], e.event);
        assert_eq!(e.data["resourceVersion"].as_str(), e.id.as_deref());
    }
    let ids: Vec<u64> = got
        .iter()
        .map(|e| {
            e.id.as_ref()
                .unwrap()
                .rsplit('-')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert!(ids.windows(2).all(|p| p[0] < p[1]), "{ids:?}");
    // The client goes away after the update; two more changes happen meanwhile.
    let stopped_at = got[1].id.clone().unwrap();
    drop(w);
    assert_eq!(
        s.put_json(&format!("{ROUTES}/r2"), &route("r2", 5)).status,
        201
    );
    assert_eq!(
        s.put_json(&format!("{ROUTES}/r2"), &route("r2", 6)).status,
        200
    );
    let mut w = Watch::open(
        s.addr,
        &format!("{ROUTES}?watch=true&resourceVersion={stopped_at}"),
        &[],
    );
    assert_eq!(w.status, 200);
    let (missed, _) = w.initial();
    let summary: Vec<(String, String)> = missed
        .iter()
        .map(|e| {
            (
                e.event.clone(),
                e.data["resource"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("deleted".into(), "r".into()),
            ("added".into(), "r2".into()),
            ("updated".into(), "r2".into())
        ],
        "exactly the events after the resumption point"
    );
    // Live again.
    assert_eq!(s.delete(&format!("{ROUTES}/r2")).status, 200);
    let e = w.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["resource"]["name"]),
        ("deleted", &json!("r2"))
    );
    // Last-Event-ID (what an EventSource sends on reconnecting) resumes the same way.
    let last = e.id.clone().unwrap();
    drop(w);
    assert_eq!(
        s.put_json(&format!("{ROUTES}/r3"), &route("r3", 1)).status,
        201
    );
    let mut w = Watch::open(
        s.addr,
        &format!("{ROUTES}?watch=true"),
        &[("last-event-id", &last)],
    );
    let (missed, _) = w.initial();
    assert_eq!(missed.len(), 1);
    assert_eq!(missed[0].data["resource"]["name"], "r3");
    // A position from another process (or an earlier run) is 410 in Kuma's error JSON.
    let r = s.get(&format!("{ROUTES}?watch=true&resourceVersion=00000000-1"));
    assert_eq!(r.status, 410, "{}", r.text());
    assert_eq!(r.json()["causes"][0]["field"], "resourceVersion");
    let r = s.get(&format!("{ROUTES}?watch=maybe"));
    assert_eq!(r.status, 400);
    // Without watch the list is Kuma's, as ever.
    assert_eq!(s.get(ROUTES).json()["total"], 2);
}

#[test]
fn every_list_can_be_watched_and_meshes_and_cross_mesh_lists_too() {
    let s = TestServer::start(&[]);
    let mut meshes = Watch::open(s.addr, "/meshes?watch=true", &[]);
    let (items, _) = meshes.initial();
    assert_eq!(
        items
            .iter()
            .map(|e| e.data["resource"]["name"].clone())
            .collect::<Vec<_>>(),
        [json!("default")]
    );
    let mut all_routes = Watch::open(s.addr, "/traffic-routes?watch=true", &[]);
    all_routes.initial();
    assert_eq!(
        s.put_json("/meshes/other", &json!({"type": "Mesh", "name": "other"}))
            .status,
        201
    );
    let mut r = route("x", 1);
    r["mesh"] = json!("other");
    assert_eq!(s.put_json("/meshes/other/traffic-routes/x", &r).status, 201);
    let e = meshes.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["resource"]["name"]),
        ("added", &json!("other"))
    );
    let e = all_routes.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["resource"]["mesh"]),
        ("added", &json!("other"))
    );
    // Deleting a mesh deletes what is in it: each is an event.
    assert_eq!(s.delete("/meshes/other").status, 200);
    let e = all_routes.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["resource"]["name"]),
        ("deleted", &json!("x"))
    );
    let e = meshes.next(Duration::from_secs(10)).unwrap();
    assert_eq!(
        (e.event.as_str(), &e.data["resource"]["name"]),
        ("deleted", &json!("other"))
    );
}

#[test]
fn insight_changes_are_events_so_a_job_can_wait_for_its_dataplane_to_come_online() {
    use envoy_types::pb::envoy::config::core::v3::Node;
    use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
    use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;

    let s = TestServer::start(&[]);
    let dp = json!({"type": "Dataplane", "mesh": "default", "name": "web",
        "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": "web"}}]}});
    assert_eq!(
        s.put_json("/meshes/default/dataplanes/web", &dp).status,
        201
    );
    let mut w = Watch::open(
        s.addr,
        "/meshes/default/dataplanes+insights?watch=true&tag=service:web",
        &[],
    );
    let (items, _) = w.initial();
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0].data["resource"]["dataplaneInsight"],
        json!({}),
        "not connected yet"
    );
    let xds = s.addresses.xds;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, _stream) = rt.block_on(async {
        let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
            .await
            .unwrap();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tx.send(DiscoveryRequest {
            node: Some(Node {
                id: "default.web".into(),
                ..Default::default()
            }),
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let stream = client
            .stream_aggregated_resources(tokio_stream::wrappers::ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        (tx, stream)
    });
    // What a CI job does: wait for an event showing a connected subscription.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let e = w
            .next(deadline.saturating_duration_since(Instant::now()))
            .expect("the dataplane came online");
        assert_eq!(e.data["resource"]["name"], "web");
        let subs = e.data["resource"]["dataplaneInsight"]["subscriptions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if subs
            .iter()
            .any(|s| s["connectTime"].is_string() && s["disconnectTime"].is_null())
        {
            assert_eq!(e.event, "updated");
            break;
        }
    }
    // The insight list sees it too.
    let mut insights = Watch::open(s.addr, "/meshes/default/dataplane-insights?watch=true", &[]);
    let (items, _) = insights.initial();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].data["resource"]["type"], "DataplaneInsight");
}

/// A watch connection that is never read from, with a small receive buffer.
fn stalled_watch(addr: SocketAddr, path: &str) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    stream
}

/// Runs `updates` updates of a 100 KB Dataplane with `stalled` watchers that never read and
/// one that keeps up; returns the growth of the server's RSS in KiB and the stalled streams.
fn flood(stalled: usize, updates: usize) -> (u64, Vec<TcpStream>, Cp) {
    let cp = Cp::start(&[]);
    let api = cp.api;
    let client = move |method: &str, path: &str, body: &[u8]| {
        let mut s = TcpStream::connect(api).unwrap();
        let head = format!("{method} {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        support::Response::parse(&out).status
    };
    let big = |version: usize| {
        let inbound: Vec<Value> = (0..800)
            .map(|i| json!({"port": i + 1, "tags": {"service": "big", "pad": format!("{:0>90}", version)}}))
            .collect();
        serde_json::to_vec(
            &json!({"type": "Dataplane", "mesh": "default", "name": "big",
            "networking": {"address": "127.0.0.1", "inbound": inbound}}),
        )
        .unwrap()
    };
    assert_eq!(
        client("PUT", "/meshes/default/dataplanes/big", &big(0)),
        201
    );
    let before = cp.rss_kib();
    let stalled: Vec<TcpStream> = (0..stalled)
        .map(|_| stalled_watch(cp.api, "/meshes/default/dataplanes?watch=true"))
        .collect();
    // A watcher that keeps up sees every change meanwhile.
    let mut reader = Watch::open(cp.api, "/meshes/default/dataplanes?watch=true", &[]);
    reader.initial();
    let mut seen = 0;
    for v in 1..=updates {
        assert_eq!(
            client("PUT", "/meshes/default/dataplanes/big", &big(v)),
            200
        );
        while let Some(e) = reader.next(Duration::from_millis(1)) {
            assert_eq!(e.event, "updated");
            seen += 1;
        }
    }
    while seen < updates {
        let e = reader
            .next(Duration::from_secs(10))
            .expect("every update reaches a reader that keeps up");
        assert_eq!(e.event, "updated");
        seen += 1;
    }
    (cp.rss_kib().saturating_sub(before), stalled, cp)
}

#[test]
fn a_consumer_that_stops_reading_is_cut_off_and_memory_stays_flat() {
    let updates = 150;
    let (baseline, _, _) = flood(0, updates);
    let (with_stalled, stalled, cp) = flood(20, updates);
    println!(
        "{updates} updates of a 100 KB Dataplane ({} MB of events per watcher): RSS grew {} MiB with no stalled watcher, {} MiB with 20",
        updates / 10,
        baseline / 1024,
        with_stalled / 1024
    );
    // Unbounded buffering would hold 20 x 30 MB more; a cut-off watcher holds at most its
    // bounded queue until it is cut.
    let extra_mib = with_stalled.saturating_sub(baseline) / 1024;
    assert!(extra_mib < 64, "20 stalled watchers cost {extra_mib} MiB");
    // Every stalled watcher was cut off: what it can still read ends (EOF or reset), far short
    // of every update.
    for (i, mut s) in stalled.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut got = Vec::new();
        let ended = loop {
            let mut buf = [0u8; 65536];
            match s.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break false
                }
                Err(_) => break true,
            }
        };
        assert!(ended, "stalled watcher {i} was not cut off");
        let events = String::from_utf8_lossy(&got)
            .matches("event: updated")
            .count();
        assert!(events < updates, "watcher {i} got {events} events");
    }
    assert_eq!(cp.lines_at("ERROR"), Vec::<String>::new());
}
