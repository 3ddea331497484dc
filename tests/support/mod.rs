//! Test support: a real `ursa-cp` API server on a random loopback port, in-process, and a tiny
//! HTTP/1.1 client that can send anything (odd methods, invalid UTF-8, no Content-Type).
#![allow(dead_code)]

pub mod cp;
pub mod envoy;
pub mod lists;
pub mod pg;
pub mod resources;
pub mod wait;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use ursa_actors::config::Config;
use ursa_actors::store::Store;
use ursa_cp::app::{self, Options};

/// A binary of the workspace other than this package's (`ursa-dp`), next to the test's own
/// build output. `cargo test` alone does not build other packages' binaries:
/// `bash scripts/test.sh` builds them first.
pub fn bin(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `bash scripts/test.sh` (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

/// A running control plane, stopped on drop.
pub struct TestServer {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where every server listens.
    pub addresses: app::Addresses,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestServer {
    /// Starts with default config plus `KUMA_*` overrides, on 127.0.0.1 and a free port.
    pub fn start(env: &[(&str, &str)]) -> TestServer {
        TestServer::launch(test_config(env), None)
    }

    /// Starts with a full config.
    pub fn start_with(config: Config) -> TestServer {
        TestServer::launch(config, None)
    }

    /// Starts like [`TestServer::start`], on `store` instead of the configured one.
    pub fn start_on(store: Arc<dyn Store>, env: &[(&str, &str)]) -> TestServer {
        TestServer::launch(test_config(env), Some(store))
    }

    fn launch(config: Config, store: Option<Arc<dyn Store>>) -> TestServer {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let options = Options {
                    workers: 1,
                    handle_signals: false,
                    ..Options::default()
                };
                let started = match store {
                    Some(store) => app::start_with_store(config, options, store).await,
                    None => app::start(config, options).await,
                };
                match started {
                    Ok(running) => {
                        tx.send(Ok((running.addresses, running.handle()))).ok();
                        running.wait().await.ok();
                    }
                    Err(e) => {
                        tx.send(Err(e.to_string())).ok();
                    }
                }
            });
        });
        let (addresses, handle) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server start timed out")
            .expect("server failed to start");
        TestServer {
            addr: addresses.api,
            addresses,
            handle,
            thread: Some(thread),
        }
    }

    /// A request builder.
    pub fn req(&self, method: &str, path: &str) -> Request {
        request(self.addr, method, path)
    }

    /// GET.
    pub fn get(&self, path: &str) -> Response {
        self.req("GET", path).send()
    }

    /// PUT of a JSON value with `content-type: application/json`.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.req("PUT", path).json(body).send()
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> Response {
        self.req("DELETE", path).send()
    }
}

/// The default config plus `KUMA_*` overrides, on 127.0.0.1 and free ports.
fn test_config(env: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("KUMA_API_SERVER_INTERFACE".into(), "127.0.0.1".into()),
        ("KUMA_API_SERVER_PORT".into(), "0".into()),
        ("KUMA_BOOTSTRAP_SERVER_PORT".into(), "0".into()),
        ("KUMA_XDS_SERVER_GRPC_PORT".into(), "0".into()),
        ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT".into(), "0".into()),
        ("KUMA_ADMIN_SERVER_LOCAL_PORT".into(), "0".into()),
        // Plaintext ADS without dataplane tokens, the explicit test setting (X11): most
        // tests speak xDS with a bare gRPC client. The security tests turn both back on.
        ("KUMA_XDS_SERVER_TLS_ENABLED".into(), "false".into()),
        ("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED".into(), "false".into()),
    ];
    // The test's own values replace these.
    vars.retain(|(k, _)| !env.iter().any(|(name, _)| name == k));
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::load(None, vars).expect("test config")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let stop = self.handle.stop(false);
        drop(stop);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// A request to `addr`, to build on.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Request {
    Request {
        addr,
        method: method.to_string(),
        path: path.to_string(),
        headers: Vec::new(),
        body: None,
    }
}

/// What became of a request ([`Request::deliver`]).
#[derive(Debug)]
pub enum Delivery {
    /// A whole response came back.
    Answered(Response),
    /// No connection: the server cannot have seen the request.
    NotSent(String),
    /// The connection failed after the request may have been sent: the outcome is unknown.
    Lost(String),
}

/// An HTTP request under construction.
pub struct Request {
    addr: SocketAddr,
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl Request {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body (sent with Content-Length).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = Some(body.into());
        self
    }

    /// A JSON body, with `content-type: application/json`.
    pub fn json(self, body: &serde_json::Value) -> Request {
        self.header("content-type", "application/json")
            .body(serde_json::to_vec(body).expect("encode the body"))
    }

    /// Sends the request on a fresh connection and reads the whole response; panics when no
    /// whole response comes back.
    pub fn send(self) -> Response {
        let what = format!("{} {}", self.method, self.path);
        match self.deliver() {
            Delivery::Answered(r) => r,
            Delivery::NotSent(e) => panic!("{what}: could not connect: {e}"),
            Delivery::Lost(e) => panic!("{what}: no answer: {e}"),
        }
    }

    /// Sends the request on a fresh connection; tells a refused connection (the server never
    /// saw the request) from one lost after sending (the outcome is unknown), as a test of
    /// a crash needs to.
    pub fn deliver(self) -> Delivery {
        let mut stream = match TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => return Delivery::NotSent(e.to_string()),
        };
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
        stream.set_write_timeout(Some(Duration::from_secs(30))).ok();
        let mut head = format!(
            "{} {} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.method, self.path, self.addr
        );
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(body) = &self.body {
            head.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut bytes = head.into_bytes();
        if let Some(body) = &self.body {
            bytes.extend_from_slice(body);
        }
        if let Err(e) = stream.write_all(&bytes) {
            return Delivery::Lost(format!("write: {e}"));
        }
        let mut raw = Vec::new();
        // Bytes read before an error stay in `raw`: a whole response followed by a reset counts.
        let read = stream.read_to_end(&mut raw);
        match Response::parse_complete(&raw, &self.method) {
            Some(r) => Delivery::Answered(r),
            None => Delivery::Lost(match read {
                Err(e) => format!("read: {e}"),
                Ok(n) => format!("incomplete response ({n} bytes)"),
            }),
        }
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased (last value wins).
    pub headers: BTreeMap<String, String>,
    /// Body bytes (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// Parses a response as read from the connection, whole or not (the body is what came).
    pub fn parse(raw: &[u8]) -> Response {
        Response::split(raw)
            .expect("response has no header end (connection dropped?)")
            .0
    }

    /// A response to `method` only if it is complete: its whole head, and all of its body by
    /// its Content-Length or chunked encoding (none after HEAD, 204 or 304, whatever the
    /// head says).
    pub fn parse_complete(raw: &[u8], method: &str) -> Option<Response> {
        let (mut response, complete) = Response::split(raw)?;
        if method.eq_ignore_ascii_case("HEAD") || [204, 304].contains(&response.status) {
            return Some(response);
        }
        if let Some(n) = response.content_length() {
            response.body.truncate(n);
        }
        complete.then_some(response)
    }

    /// The response in `raw`, and whether its body is all there; None without a whole head.
    fn split(raw: &[u8]) -> Option<(Response, bool)> {
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let rest = &raw[split + 4..];
        let (body, complete) = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            dechunk(rest)
        } else {
            let length = headers.get("content-length").and_then(|n| n.parse().ok());
            (rest.to_vec(), length.is_none_or(|n: usize| rest.len() >= n))
        };
        let response = Response {
            status,
            headers,
            body,
        };
        Some((response, complete))
    }

    fn content_length(&self) -> Option<usize> {
        self.header("content-length").and_then(|n| n.parse().ok())
    }

    /// The body as JSON (panics with the body if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// The body of a chunked response, and whether its last chunk came.
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_str = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            return (out, true);
        }
        if rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    (out, false)
}

/// One raw request to any address (the bootstrap server, say).
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut r = request(addr, method, path).body(body);
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.send()
}
