//! Test support: a real `ursa-cp` API server on a random loopback port, in-process, and a tiny
//! HTTP/1.1 client that can send anything (odd methods, invalid UTF-8, no Content-Type).
#![allow(dead_code)]

pub mod cp;
pub mod envoy;
pub mod pg;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use ursa_actors::config::Config;
use ursa_actors::store::Store;
use ursa_cp::app::{self, Options};

pub mod process;

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
        Request {
            addr: self.addr,
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Response {
        self.req("GET", path).send()
    }

    /// PUT of a JSON value with `content-type: application/json`.
    pub fn put_json(&self, path: &str, body: &serde_json::Value) -> Response {
        self.req("PUT", path)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
            .send()
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

    /// Sends the request on a fresh connection and reads the whole response.
    pub fn send(self) -> Response {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
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
        stream.write_all(&bytes).expect("write request");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read response");
        Response::parse(&raw)
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
    /// Parses a whole response as read from the connection.
    pub fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("response has no header end (connection dropped?)");
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status code");
        let headers: BTreeMap<String, String> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let rest = &raw[split + 4..];
        let body = if headers
            .get("transfer-encoding")
            .is_some_and(|v| v.contains("chunked"))
        {
            dechunk(rest)
        } else {
            rest.to_vec()
        };
        Response {
            status,
            headers,
            body,
        }
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

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size_str = String::from_utf8_lossy(&rest[..eol]);
        let size =
            usize::from_str_radix(size_str.split(';').next().unwrap_or("").trim(), 16).unwrap_or(0);
        rest = &rest[eol + 2..];
        if size == 0 || rest.len() < size {
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[(size + 2).min(rest.len())..];
    }
    out
}

/// One raw request to any address (the bootstrap server, say).
pub fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut r = Request {
        addr,
        method: method.to_string(),
        path: path.to_string(),
        headers: Vec::new(),
        body: Some(body.to_vec()),
    };
    for (k, v) in headers {
        r = r.header(k, v);
    }
    r.send()
}
