//! What the mesh's observability policies change in real Envoys (through `ursa-dp`): a file
//! TrafficLog writes one line per request in the mesh's format, a TrafficTrace sends spans to
//! a Zipkin collector without restarting Envoy, and a prometheus metrics backend makes each
//! dataplane serve Envoy's stats as Prometheus text.

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
