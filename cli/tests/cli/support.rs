//! Test support: a real `ursa-cp` on a random loopback port (in-process), the real `ursactl`
//! binary run with its own HOME (so `~/.kumactl/config` is the test's), a tiny HTTP listener
//! that records what it is sent, and golden files for tables.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use ursa_actors::config::Config;
use ursa_cp::app::{self, Options};

/// A running control plane, stopped on drop.
pub struct Server {
    /// Where the API listens.
    pub addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts with the default configuration on 127.0.0.1 and free ports.
    pub fn start() -> Server {
        let vars: Vec<(String, String)> = [
            ("KUMA_API_SERVER_INTERFACE", "127.0.0.1"),
            ("KUMA_API_SERVER_PORT", "0"),
            ("KUMA_BOOTSTRAP_SERVER_PORT", "0"),
            ("KUMA_XDS_SERVER_GRPC_PORT", "0"),
            ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0"),
            ("KUMA_ADMIN_SERVER_LOCAL_PORT", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::load(None, vars).expect("test config");
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let options = Options {
                    workers: 1,
                    handle_signals: false,
                    ..Options::default()
                };
                match app::start(config, options).await {
                    Ok(running) => {
                        tx.send(Ok((running.api_addr, running.handle()))).ok();
                        running.wait().await.ok();
                    }
                    Err(e) => {
                        tx.send(Err(e.to_string())).ok();
                    }
                }
            });
        });
        let (addr, handle) = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server start timed out")
            .expect("server failed to start");
        Server {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    /// The API's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// PUT of a JSON document (test set-up that bypasses the CLI).
    pub fn put(&self, path: &str, body: &serde_json::Value) -> u16 {
        let body = body.to_string();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        raw(self.addr, &(head + &body)).0
    }

    /// GET of a path: status and body.
    pub fn get(&self, path: &str) -> (u16, String) {
        raw(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

fn raw(addr: SocketAddr, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    s.write_all(request.as_bytes()).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A fresh directory under the system's temp dir.
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ursactl-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    /// Writes a file below the directory (creating parents) and returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.0.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A path below the directory, as a string.
    pub fn path(&self, rel: &str) -> String {
        self.0.join(rel).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// What a run of the binary produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success: {self:#?}");
        &self.stdout
    }

    /// Asserts the exit code and returns stderr.
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "expected exit code {code}: {self:#?}");
        &self.stderr
    }
}

/// kumactl's configuration file, written by hand as kumactl writes it: one control plane.
pub fn kumactl_config(name: &str, url: &str) -> String {
    format!(
        "contexts:\n\
         - controlPlane: {name}\n  defaults:\n    mesh: default\n  name: {name}\n\
         controlPlanes:\n\
         - coordinates:\n    apiServer:\n      url: {url}\n  name: {name}\n\
         currentContext: {name}\n"
    )
}

/// The `ursactl` binary with its own HOME.
pub struct Ctl {
    /// HOME of the runs (holds `.kumactl/config`).
    pub home: TempDir,
    env: Vec<(String, String)>,
}

impl Ctl {
    /// HOME with a kumactl configuration pointing at `url`.
    pub fn new(url: &str) -> Ctl {
        let ctl = Ctl::bare();
        ctl.home
            .write(".kumactl/config", &kumactl_config("test", url));
        ctl
    }

    /// HOME without a configuration file.
    pub fn bare() -> Ctl {
        Ctl {
            home: TempDir::new(),
            env: Vec::new(),
        }
    }

    /// Sets an environment variable for every run.
    pub fn env(mut self, k: &str, v: &str) -> Ctl {
        self.env.push((k.into(), v.into()));
        self
    }

    /// The configuration file's path.
    pub fn config_path(&self) -> PathBuf {
        self.home.0.join(".kumactl").join("config")
    }

    /// Runs `ursactl ARGS`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs `ursactl ARGS` with `stdin` as its standard input.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ursactl"));
        cmd.args(args)
            .env("HOME", &self.home.0)
            .env_remove("KUMACTL_TOKEN")
            .env("NO_PROXY", "*")
            .env_remove("HTTP_PROXY")
            .env_remove("http_proxy")
            .env_remove("ALL_PROXY")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ursactl");
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
        let out = child.wait_with_output().expect("ursactl output");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// One request a [`Fake`] received.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `GET /meshes?size=1`.
    pub request_line: String,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: String,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a [`Fake`] answers: status, content type and body for a request line.
pub type Responder = dyn Fn(&str) -> (u16, &'static str, String) + Send + Sync;

/// A tiny HTTP/1.1 server on a loopback port that records every request.
pub struct Fake {
    /// Its address.
    pub addr: SocketAddr,
    /// What it received.
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Fake {
    /// Starts answering with `respond`.
    pub fn start(respond: Box<Responder>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                serve(stream, &respond, &log);
            }
        });
        Fake { addr, seen }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

// The request is recorded before the answer is written: a client that has its answer
// must find its request in `requests()`.
fn serve(stream: TcpStream, respond: &Responder, log: &Mutex<Vec<Seen>>) -> Option<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line).ok()?;
    let request_line = request_line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    let (status, content_type, answer) = respond(&request_line);
    log.lock().unwrap().push(Seen {
        request_line,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        answer.len()
    );
    stream.write_all(head.as_bytes()).ok();
    stream.write_all(answer.as_bytes()).ok();
    Some(())
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Checks kumactl's table layout — every column starts where its header starts, cells are
/// padded to the widest cell plus exactly three spaces — and returns the table with every
/// cell of the `age_columns` replaced by `<age>` and re-aligned the same way, for golden files.
pub fn normalise_table(text: &str, age_columns: &[&str]) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let footer = match lines.last() {
        Some(l) if l.starts_with("Rerun command") => lines.pop(),
        _ => None,
    };
    let header: Vec<char> = lines[0].chars().collect();
    // Column starts: the header's first character and every character after 3+ spaces.
    let mut starts = vec![0];
    let mut spaces = 0;
    for (i, c) in header.iter().enumerate() {
        if *c == ' ' {
            spaces += 1;
        } else {
            if spaces >= 3 {
                starts.push(i);
            }
            spaces = 0;
        }
    }
    let rows: Vec<Vec<String>> = lines
        .iter()
        .map(|line| {
            let chars: Vec<char> = line.chars().collect();
            starts
                .iter()
                .enumerate()
                .map(|(i, &start)| {
                    let end = starts
                        .get(i + 1)
                        .copied()
                        .unwrap_or(chars.len())
                        .min(chars.len());
                    assert!(
                        start <= chars.len(),
                        "line too short for its columns: {line:?}"
                    );
                    let cell: String = chars[start..end].iter().collect();
                    if i + 1 < starts.len() {
                        assert!(
                            cell.ends_with("   "),
                            "cell {cell:?} not padded by 3 spaces in {line:?}"
                        );
                        assert!(
                            start == 0 || chars[start - 1] == ' ',
                            "misaligned column in {line:?}"
                        );
                    }
                    cell.trim_end().to_string()
                })
                .collect()
        })
        .collect();
    // Each padded column's widest cell is followed by exactly three spaces.
    for col in 0..starts.len().saturating_sub(1) {
        let widest = rows.iter().map(|r| r[col].chars().count()).max().unwrap();
        assert_eq!(
            starts[col + 1] - starts[col],
            widest + 3,
            "column {col} is not its widest cell plus 3 spaces:\n{text}"
        );
    }
    let age_idx: Vec<usize> = age_columns
        .iter()
        .map(|h| {
            rows[0]
                .iter()
                .position(|c| c == h)
                .unwrap_or_else(|| panic!("no column {h}"))
        })
        .collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(n, mut r)| {
            if n > 0 {
                for &i in &age_idx {
                    let v = &r[i];
                    let is_age = v.len() > 1
                        && v[..v.len() - 1].chars().all(|c| c.is_ascii_digit())
                        && "smhdy".contains(&v[v.len() - 1..]);
                    assert!(is_age, "not an age: {v:?}");
                    r[i] = "<age>".into();
                }
            }
            r
        })
        .collect();
    let cols = starts.len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap() + 3)
        .collect();
    let mut out = String::new();
    for r in &rows {
        for (c, cell) in r.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < cols {
                out.push_str(&" ".repeat(widths[c] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    if let Some(f) = footer {
        out.push_str(f);
        out.push('\n');
    }
    out
}

/// Compares `actual` with `tests/golden/<name>`; `UPDATE_GOLDEN=1` rewrites the file.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("golden")
        .join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display()));
    assert_eq!(actual, expected, "golden file {name} differs");
}
