//! What the mesh's observability policies change in real Envoys (through `ursa-dp`): a file
//! TrafficLog writes one line per request in the mesh's format, a tcp one reaches its address
//! through `ursa-dp`'s access-log service (and comes back after an outage), a TrafficTrace
//! sends spans to a Zipkin collector without restarting Envoy, and a prometheus metrics backend
//! makes each dataplane serve Envoy's stats as Prometheus text.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::envoy::{app, envoy_available, eventually, free_port, get, Sidecar};
use support::TestServer;

/// A control plane, a `backend` service and a `web` dataplane calling it through its outbound.
struct Mesh {
    server: TestServer,
    dir: PathBuf,
    web_out: u16,
    web: Sidecar,
    _backend: Sidecar,
}

impl Mesh {
    fn start(test: &str) -> Mesh {
        envoy_available();
        let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
        let dir = std::env::temp_dir().join(format!("ursa-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cp = format!("http://{}", server.addr);
        let (backend_app, backend_in) = (app("backend"), free_port());
        let (web_app, web_in, web_out) = (app("web"), free_port(), free_port());
        let backend = Sidecar::start(
            Some(&cp),
            "backend-1",
            &json!({"networking": {"address": "127.0.0.1", "inbound": [{"port": backend_in,
                "servicePort": backend_app, "tags": {"service": "backend", "protocol": "http"}}]}}),
            &dir,
        );
        let web = Sidecar::start(
            Some(&cp),
            "web-1",
            &json!({"networking": {"address": "127.0.0.1",
                "inbound": [{"port": web_in, "servicePort": web_app, "tags": {"service": "web", "protocol": "http"}}],
                "outbound": [{"port": web_out, "service": "backend"}]}}),
            &dir,
        );
        eventually("traffic through web", Duration::from_secs(60), || {
            get(web_out).filter(|b| b == "backend")
        });
        Mesh {
            server,
            dir,
            web_out,
            web,
            _backend: backend,
        }
    }

    fn put(&self, path: &str, body: Value) {
        let r = self.server.put_json(path, &body);
        assert!(
            r.status == 200 || r.status == 201,
            "PUT {path}: {}",
            r.text()
        );
    }

    /// Puts the default Mesh with `sections` (logging, tracing, metrics).
    fn mesh(&self, sections: Value) {
        let mut body = json!({"type": "Mesh", "name": "default"});
        for (k, v) in sections.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.put("/meshes/default", body);
    }

    /// `n` requests through web's outbound, each answered by the backend.
    fn requests(&self, n: usize) {
        for _ in 0..n {
            eventually("a request through web", Duration::from_secs(10), || {
                get(self.web_out).filter(|b| b == "backend")
            });
        }
    }
}

#[test]
fn a_file_traffic_log_gets_one_line_per_request_in_the_mesh_format() {
    let mesh = Mesh::start("file-log");
    let log = mesh.dir.join("access.log");
    mesh.mesh(json!({"logging": {"backends": [{"name": "file", "type": "file",
        "format": "%KUMA_MESH% %KUMA_SOURCE_SERVICE%->%KUMA_DESTINATION_SERVICE% %RESPONSE_CODE% %REQ(HOST)% %REQ(X-Probe)%",
        "conf": {"path": log.to_str().unwrap()}}]}}));
    mesh.put(
        "/meshes/default/traffic-logs/web-to-backend",
        json!({"type": "TrafficLog", "mesh": "default", "name": "web-to-backend",
            "sources": [{"match": {"service": "web"}}], "destinations": [{"match": {"service": "backend"}}],
            "conf": {"backend": "file"}}),
    );
    // Requests before the log was configured, or while it was being, are not counted: the
    // counted ones carry a header the format prints.
    eventually("the access log file", Duration::from_secs(30), || {
        get(mesh.web_out);
        log.exists().then_some(())
    });
    for _ in 0..5 {
        eventually("a counted request", Duration::from_secs(10), || {
            get_with(mesh.web_out, "x-probe: counted").filter(|b| b == "backend")
        });
    }
    // Envoy flushes file logs every few seconds.
    let counted = |lines: &[String]| lines.iter().filter(|l| l.ends_with(" counted")).count();
    let lines = eventually("five counted lines", Duration::from_secs(30), || {
        let lines = read_lines(&log);
        (counted(&lines) >= 5).then_some(lines)
    });
    for line in &lines {
        assert!(
            line == "default web->backend 200 backend counted"
                || line == "default web->backend 200 backend -",
            "{lines:?}"
        );
    }
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(counted(&read_lines(&log)), 5, "one line per request");
}

/// Every line received on `listener`, from any number of connections.
fn log_collector(listener: TcpListener) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let received = lines.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let received = received.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    received.lock().unwrap().push(line);
                }
            });
        }
    });
    lines
}

/// The lines of `lines` whose probe field (the second-to-last) is `probe`.
fn probed(lines: &Mutex<Vec<String>>, probe: &str) -> Vec<String> {
    let lines = lines.lock().unwrap();
    lines
        .iter()
        .filter(|l| l.split(' ').rev().nth(1) == Some(probe))
        .cloned()
        .collect()
}

/// A request through web's outbound that must succeed, carrying `x-probe: probe`.
fn probe(mesh: &Mesh, probe: &str) {
    assert_eq!(
        get_with(mesh.web_out, &format!("x-probe: {probe}")).as_deref(),
        Some("backend"),
        "request {probe}"
    );
}

/// The format of the tcp log: the probe header is second-to-last, an absent header last.
const TCP_LOG_FORMAT: &str = "%START_TIME% %KUMA_SOURCE_SERVICE%->%KUMA_DESTINATION_SERVICE% \
    %REQ(:METHOD)% %REQ(:PATH)% %PROTOCOL% %RESPONSE_CODE% %BYTES_SENT% %UPSTREAM_CLUSTER% \
    %REQ(X-Probe)% %RESP(X-ABSENT)%";

#[test]
fn a_tcp_traffic_log_reaches_its_address_through_ursa_dp_and_comes_back_after_an_outage() {
    let mut mesh = Mesh::start("tcp-log");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let lines = log_collector(listener);
    let backend = |address: &str| {
        json!({"logging": {"backends": [{"name": "tcp", "type": "tcp",
            "format": TCP_LOG_FORMAT, "conf": {"address": address}}]}})
    };
    mesh.mesh(backend(&address));
    mesh.put(
        "/meshes/default/traffic-logs/web-to-backend",
        json!({"type": "TrafficLog", "mesh": "default", "name": "web-to-backend",
            "sources": [{"match": {"service": "web"}}], "destinations": [{"match": {"service": "backend"}}],
            "conf": {"backend": "tcp"}}),
    );
    let within = Duration::from_secs(60);

    // 1. Once Envoy logs (its gRPC logger flushes every second), each request is one line in
    // the mesh's format, an absent header is `-`.
    eventually("a first line at the collector", within, || {
        get_with(mesh.web_out, "x-probe: first");
        std::thread::sleep(Duration::from_millis(200));
        (!lines.lock().unwrap().is_empty()).then_some(())
    });
    for i in 0..5 {
        probe(&mesh, &format!("counted-{i}"));
    }
    eventually("five counted lines", within, || {
        (0..5)
            .all(|i| !probed(&lines, &format!("counted-{i}")).is_empty())
            .then_some(())
    });
    for i in 0..5 {
        let line = probed(&lines, &format!("counted-{i}"));
        assert_eq!(line.len(), 1, "one line per request: {line:?}");
        let (time, rest) = line[0].split_once(' ').unwrap();
        assert_eq!(
            rest,
            format!("web->backend GET / HTTP/1.1 200 7 backend counted-{i} -")
        );
        // Envoy's default START_TIME: 2024-01-02T03:04:05.678Z
        assert!(
            time.len() == 24 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
            "{time}"
        );
    }

    // 2. The address goes away (a new one nobody listens on yet): requests still succeed,
    // and once something listens there the lines flow again.
    let gone = free_port();
    mesh.mesh(backend(&format!("127.0.0.1:{gone}")));
    eventually("web's Envoy logging to the new address", within, || {
        let dump = mesh
            .web
            .admin_call("GET", "/config_dump")
            .unwrap_or_default();
        dump.contains(&format!("127.0.0.1:{gone};")).then_some(())
    });
    // Its listener is replaced: wait for it to serve, then every request must succeed.
    eventually("a request through the new listener", within, || {
        get(mesh.web_out).filter(|b| b == "backend")
    });
    for i in 0..10 {
        probe(&mesh, &format!("down-{i}"));
    }
    // ursa-dp has the stream and found nobody at the address (it says so once per outage).
    let down = format!("ursa-dp: access log to 127.0.0.1:{gone}: cannot connect");
    let up = format!("ursa-dp: access log to 127.0.0.1:{gone} is back (");
    let says = |prefix: &str| {
        read_lines(&mesh.web.stderr)
            .into_iter()
            .filter(|l| l.starts_with(prefix))
            .collect::<Vec<_>>()
    };
    eventually("ursa-dp's outage message", within, || {
        (!says(&down).is_empty()).then_some(())
    });
    for i in 0..5 {
        probe(&mesh, &format!("still-{i}"));
    }
    let back = log_collector(TcpListener::bind(("127.0.0.1", gone)).unwrap());
    let mut n = 0;
    // Retries back off up to 30 s.
    let line = eventually("lines at the address once it listens", within, || {
        n += 1;
        probe(&mesh, &format!("back-{n}"));
        std::thread::sleep(Duration::from_millis(200));
        let lines = back.lock().unwrap();
        lines.iter().find(|l| l.contains(" back-")).cloned()
    });
    assert!(
        line.contains(" web->backend GET / HTTP/1.1 200 7 backend back-"),
        "{line}"
    );
    // Each stream that lost its connection says it is back, and what the outage cost.
    let dropped = eventually("ursa-dp's recovery messages", within, || {
        let recoveries: Vec<u64> = says(&up)
            .iter()
            .filter_map(|l| l.strip_prefix(&up)?.split(' ').next()?.parse().ok())
            .collect();
        (recoveries.len() == says(&down).len()).then(|| recoveries.iter().sum::<u64>())
    });
    assert!(dropped >= 1, "lines sent while nobody listened are dropped");

    // 3. A TCP service: each connection is one TCP entry (no HTTP values, bytes counted).
    let mut backend_dp = mesh
        .server
        .get("/meshes/default/dataplanes/backend-1")
        .json();
    backend_dp["networking"]["inbound"][0]["tags"]["protocol"] = json!("tcp");
    mesh.put("/meshes/default/dataplanes/backend-1", backend_dp);
    let line = eventually("a TCP entry", within, || {
        get(mesh.web_out);
        std::thread::sleep(Duration::from_millis(200));
        let lines = back.lock().unwrap();
        lines
            .iter()
            .find(|l| l.contains(" web->backend - - - - "))
            .cloned()
    });
    let fields: Vec<&str> = line.split(' ').collect();
    assert_eq!(fields[1..6], ["web->backend", "-", "-", "-", "-"], "{line}");
    // The whole HTTP response went back through the TCP proxy: more than its 7-byte body.
    let sent: u64 = fields[6].parse().unwrap();
    assert!(sent > 7, "{line}");
    assert_eq!(fields[7..], ["backend", "-", "-"], "{line}");

    // 4. The socket is in the agent's configuration folder, and leaves with the agent.
    let socket = mesh.dir.join("web-1").join("access-logs.sock");
    assert!(socket.exists(), "{}", socket.display());
    assert!(mesh.web.stop().is_some(), "ursa-dp stops on SIGTERM");
    assert!(!socket.exists(), "{}", socket.display());
}

/// [`get`] with one more request header.
fn get_with(port: u16, header: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET / HTTP/1.1\r\nhost: backend\r\n{header}\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200")
        .then(|| out.split("\r\n\r\n").nth(1).map(str::to_string))
        .flatten()
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// A Zipkin collector: records the body of every `POST /api/v2/spans`.
fn zipkin() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let posts = Arc::new(Mutex::new(Vec::new()));
    let recorded = posts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let recorded = recorded.clone();
            std::thread::spawn(move || {
                let _ = serve_collector(stream, &recorded);
            });
        }
    });
    (port, posts)
}

fn serve_collector(stream: TcpStream, posts: &Mutex<Vec<String>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let (mut length, mut chunked) = (0, false);
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.trim().eq_ignore_ascii_case("chunked");
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        while chunked {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk)?;
            body.extend_from_slice(&chunk[..size]);
            chunked = size != 0;
        }
        if request_line.starts_with("POST /api/v2/spans ") {
            posts
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&body).into_owned());
        }
        stream.write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")?;
    }
}

/// Envoy's `uptime_current_epoch` in seconds, from its admin API.
fn envoy_uptime(sidecar: &Sidecar) -> u64 {
    let info = sidecar
        .admin_call("GET", "/server_info")
        .unwrap_or_default();
    let body = info.split("\r\n\r\n").nth(1).unwrap_or_default();
    let info: Value = serde_json::from_str(body).unwrap_or_default();
    info["command_line_options"]["restart_epoch"]
        .as_u64()
        .filter(|epoch| *epoch == 0)
        .and_then(|_| info["uptime_current_epoch"].as_str())
        .and_then(|s| s.trim_end_matches('s').parse::<f64>().ok())
        .map_or(0, |s| s as u64)
}

#[test]
fn a_zipkin_collector_receives_spans_after_a_traffic_trace_without_an_envoy_restart() {
    let mesh = Mesh::start("zipkin");
    let (collector, posts) = zipkin();
    mesh.requests(5);
    let started = Instant::now();
    let uptime_before = envoy_uptime(&mesh.web);
    assert!(posts.lock().unwrap().is_empty(), "no tracing yet");
    mesh.mesh(
        json!({"tracing": {"defaultBackend": "zipkin", "backends": [{"name": "zipkin",
        "type": "zipkin", "sampling": 100.0,
        "conf": {"url": format!("http://127.0.0.1:{collector}/api/v2/spans")}}]}}),
    );
    mesh.put(
        "/meshes/default/traffic-traces/everything",
        json!({"type": "TrafficTrace", "mesh": "default", "name": "everything",
            "selectors": [{"match": {"service": "*"}}]}),
    );
    // Envoy batches spans (5 by default) and flushes them every few seconds.
    let spans = eventually("spans at the collector", Duration::from_secs(60), || {
        mesh.requests(5);
        let posts = posts.lock().unwrap();
        (!posts.is_empty()).then(|| posts.join("\n"))
    });
    let spans: Vec<Value> = spans
        .lines()
        .flat_map(|l| serde_json::from_str::<Vec<Value>>(l).unwrap_or_default())
        .collect();
    assert!(!spans.is_empty(), "v2 JSON spans");
    assert!(
        spans
            .iter()
            .all(|s| s["traceId"].is_string() && s["id"].is_string()),
        "{spans:?}"
    );
    // The same Envoy process, never restarted: its uptime kept counting.
    let uptime_after = envoy_uptime(&mesh.web);
    assert!(
        uptime_after >= uptime_before + started.elapsed().as_secs().saturating_sub(1),
        "Envoy restarted: uptime {uptime_before} s, then {uptime_after} s"
    );
}

/// `GET /metrics` on loopback `port`: the whole response once it is a 200.
fn scrape(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.starts_with("HTTP/1.1 200").then_some(out)
}

#[test]
fn the_metrics_port_serves_envoys_counters_as_prometheus_text() {
    let mesh = Mesh::start("prometheus");
    let (shared, own) = (free_port(), free_port());
    mesh.mesh(
        json!({"metrics": {"enabledBackend": "prom", "backends": [{"name": "prom",
        "type": "prometheus", "conf": {"port": shared, "path": "/metrics"}}]}}),
    );
    // The backend's Envoy serves on the mesh's port.
    let text = eventually(
        "Prometheus text on the mesh's port",
        Duration::from_secs(30),
        || scrape(shared),
    );
    assert!(
        text.contains("# TYPE envoy_"),
        "{}",
        &text[..text.len().min(500)]
    );
    // web overrides the port (both Envoys share this machine, as they would not in production).
    let mut web = mesh.server.get("/meshes/default/dataplanes/web-1").json();
    web["metrics"] = json!({"type": "prometheus", "conf": {"port": own}});
    mesh.put("/meshes/default/dataplanes/web-1", web);
    mesh.requests(3);
    let text = eventually(
        "Prometheus text on web's own port",
        Duration::from_secs(30),
        || scrape(own).filter(|t| t.contains("envoy_cluster_name=\"backend\"")),
    );
    // Envoy's counters, with the requests made through web's outbound among them.
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("envoy_cluster_upstream_rq_total{")
                && l.contains("envoy_cluster_name=\"backend\"")
        })
        .unwrap_or_else(|| panic!("backend's request counter in:\n{text}"));
    let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(count >= 3.0, "{line}");
}
