//! The real `ursa-cp` binary as a test runs it: started on free loopback ports, its log kept
//! (colour codes stripped) so a test can count lines by level, stopped on drop.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

/// A running `ursa-cp` process.
pub struct Cp {
    child: Child,
    /// The API server.
    pub api: SocketAddr,
    /// The bootstrap server.
    pub bootstrap: SocketAddr,
    /// The xDS server.
    pub xds: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Cp {
    /// Starts the binary on 127.0.0.1 and free ports, with `env` on top.
    pub fn start(env: &[(&str, &str)]) -> Cp {
        let mut child = Command::new(BIN)
            .env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
            .env("KUMA_API_SERVER_PORT", "0")
            .env("KUMA_BOOTSTRAP_SERVER_PORT", "0")
            .env("KUMA_XDS_SERVER_GRPC_PORT", "0")
            .env("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0")
            .env("KUMA_ADMIN_SERVER_LOCAL_PORT", "0")
            // As TestServer: plaintext ADS, no dataplane tokens (the explicit test setting).
            .env("KUMA_XDS_SERVER_TLS_ENABLED", "false")
            .env("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "false")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ursa-cp");
        let logs = Arc::new(Mutex::new(Vec::new()));
        for pipe in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(strip_ansi(&line));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let started = logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("api=http://"))
                .cloned();
            if let Some(line) = started {
                let addr = |key: &str| -> SocketAddr {
                    let at = line.find(key).expect(key) + key.len();
                    line[at..]
                        .split_whitespace()
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap()
                };
                return Cp {
                    api: addr("api=http://"),
                    bootstrap: addr("bootstrap=http://"),
                    xds: addr("xds=grpc://"),
                    child,
                    logs,
                };
            }
            if Instant::now() > deadline || child.try_wait().ok().flatten().is_some() {
                let text = logs.lock().unwrap().join("\n");
                child.kill().ok();
                child.wait().ok();
                panic!("ursa-cp did not start:\n{text}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// Log lines at `level` (`ERROR`, `WARN`, …) so far.
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let tag = format!(" {level} ");
        self.logs()
            .into_iter()
            .filter(|l| l.contains(&tag))
            .collect()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the process, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Open file descriptors of the process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// `text` without ANSI escape sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
