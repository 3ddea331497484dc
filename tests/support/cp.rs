//! The real `ursa-cp` binary as a test runs it: started with exactly the environment the test
//! gives it (no `KUMA_*` or `URSA_LOG*` variable of the test's own environment leaks in), its
//! output kept line by line (colour codes stripped) so a test can search it or count lines by
//! level, `kill -9`ed, stopped with SIGTERM, killed on drop.
//!
//! Ports: [`Cp::start`] and [`Cp::launch`] put every server on 127.0.0.1 and an OS-chosen port
//! (the admin server too: a fixed 5679 held by one test failed every other one started at the
//! same time), with the test's variables on top. [`Cp::start_bare`] adds nothing, so whatever
//! the test does not set keeps its true default (every interface, the default ports): only the
//! tests of the defaults use it, and they give every port but the ones they test.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Request, Response};

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

/// Loopback and OS-chosen ports for every server; and, as `TestServer`, plaintext ADS without
/// dataplane tokens (most tests speak bare gRPC; the security tests turn both back on).
const FREE_PORTS: [(&str, &str); 8] = [
    ("KUMA_XDS_SERVER_TLS_ENABLED", "false"),
    ("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "false"),
    ("KUMA_API_SERVER_INTERFACE", "127.0.0.1"),
    ("KUMA_API_SERVER_PORT", "0"),
    ("KUMA_BOOTSTRAP_SERVER_PORT", "0"),
    ("KUMA_XDS_SERVER_GRPC_PORT", "0"),
    ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0"),
    ("KUMA_ADMIN_SERVER_LOCAL_PORT", "0"),
];

/// An `ursa-cp` started but not yet known to serve (two can be launched before either is
/// waited for, to race their start-up), or run to its exit (`ursa-cp migrate`).
pub struct Launch {
    process: Process,
}

/// The child and the threads reading its output; killed and reaped on drop.
struct Process {
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

/// A running `ursa-cp`, killed on drop.
pub struct Cp {
    process: Process,
    /// The API server (loopback when it listens on every interface).
    pub api: SocketAddr,
    /// The bootstrap server.
    pub bootstrap: SocketAddr,
    /// The xDS server.
    pub xds: SocketAddr,
}

/// The loopback address of the family of an unspecified (`[::]`, `0.0.0.0`) address.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The address after `key` in the start-up line.
fn address_in(line: &str, key: &str) -> Option<SocketAddr> {
    let at = line.find(key)? + key.len();
    line[at..].split_whitespace().next()?.parse().ok()
}

impl Launch {
    /// Spawns `ursa-cp args…` with `base`, then `env` on top (the test's values win).
    #[allow(clippy::zombie_processes)] // Launch and Cp reap the child, on drop too
    fn spawn(base: &[(&str, &str)], env: &[(&str, &str)], args: &[&str]) -> Launch {
        let mut command = Command::new(BIN);
        command.args(args);
        for (k, _) in std::env::vars() {
            if k.starts_with("KUMA_") || k.starts_with("URSA_LOG") {
                command.env_remove(k);
            }
        }
        command
            .env("NO_COLOR", "1")
            .envs(base.iter().copied())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn ursa-cp");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let readers = [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ]
        .into_iter()
        .map(|pipe| {
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(strip_ansi(&line));
                }
            })
        })
        .collect();
        Launch {
            process: Process {
                child,
                logs,
                readers,
            },
        }
    }

    /// Waits (30 s at most) for the start-up line; panics with the output if it exits first
    /// or never says where it listens.
    pub fn ready(self) -> Cp {
        self.try_ready()
            .unwrap_or_else(|out| panic!("ursa-cp did not start:\n{out}"))
    }

    /// [`Launch::ready`], with everything it printed as the `Err` when it did not start.
    pub fn try_ready(mut self) -> Result<Cp, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let started = self
                .process
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains("api=http://"))
                .cloned();
            if let Some(line) = started {
                let addr = |key: &str| {
                    address_in(&line, key)
                        .map(reachable)
                        .unwrap_or_else(|| panic!("no {key} in the start-up line: {line}"))
                };
                let (api, bootstrap, xds) = (
                    addr("api=http://"),
                    addr("bootstrap=http://"),
                    addr("xds=grpc://"),
                );
                return Ok(Cp {
                    process: self.process,
                    api,
                    bootstrap,
                    xds,
                });
            }
            if Instant::now() >= deadline || matches!(self.process.child.try_wait(), Ok(Some(_))) {
                return Err(self.process.finish());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the process to exit by itself (killed after `within`); its status (None when
    /// it had to be killed) and everything it printed.
    pub fn exit(mut self, within: Duration) -> (Option<ExitStatus>, String) {
        let status = wait_exit(&mut self.process.child, within);
        (status, self.process.finish())
    }
}

impl Process {
    /// Kills it if still running, reaps it, waits for its output to be read, returns it.
    fn finish(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        joined(&self.logs.lock().unwrap())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.finish();
    }
}

fn joined(lines: &[String]) -> String {
    lines.iter().map(|l| format!("{l}\n")).collect()
}

impl Cp {
    /// Starts the binary on 127.0.0.1 and free ports, with `env` on top; panics with its
    /// output if it does not start within 30 s.
    pub fn start(env: &[(&str, &str)]) -> Cp {
        Cp::launch(env, &[]).ready()
    }

    /// [`Cp::start`], with everything it printed as the `Err` when it did not start.
    pub fn try_start(env: &[(&str, &str)]) -> Result<Cp, String> {
        Cp::launch(env, &[]).try_ready()
    }

    /// Starts the binary with `env` only: every setting the test does not give keeps its true
    /// default, ports (5681, 5682, 5678, 5679, …) and interface (every one) included. Only for
    /// the tests of those defaults; every other test takes [`Cp::start`].
    pub fn start_bare(env: &[(&str, &str)]) -> Result<Cp, String> {
        Launch::spawn(&[], env, &[]).try_ready()
    }

    /// Runs `ursa-cp args…` on 127.0.0.1 and free ports with `env` on top, without waiting.
    pub fn launch(env: &[(&str, &str)], args: &[&str]) -> Launch {
        Launch::spawn(&FREE_PORTS, env, args)
    }

    /// Every log line so far.
    pub fn logs(&self) -> Vec<String> {
        self.process.logs.lock().unwrap().clone()
    }

    /// Everything it printed so far, one line after another.
    pub fn output(&self) -> String {
        joined(&self.process.logs.lock().unwrap())
    }

    /// Log lines at `level` (`ERROR`, `WARN`, …) so far.
    pub fn lines_at(&self, level: &str) -> Vec<String> {
        let tag = format!(" {level} ");
        self.logs()
            .into_iter()
            .filter(|l| l.contains(&tag))
            .collect()
    }

    /// The log lines at `level` that contain `needle`, once there is one (the output is read
    /// by another thread, so a line the process has written may not be here yet); panics
    /// after 10 s without one.
    pub fn logged(&self, level: &str, needle: &str) -> Vec<String> {
        let matching = || -> Result<Vec<String>, ()> {
            let lines: Vec<String> = self
                .lines_at(level)
                .into_iter()
                .filter(|l| l.contains(needle))
                .collect();
            if lines.is_empty() {
                Err(())
            } else {
                Ok(lines)
            }
        };
        super::wait::try_until(Duration::from_secs(10), matching)
            .unwrap_or_else(|()| panic!("no {level} line with {needle:?} in: {:?}", self.logs()))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// True while the process runs.
    pub fn running(&mut self) -> bool {
        matches!(self.process.child.try_wait(), Ok(None))
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

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        self.process.child.kill().expect("kill -9 ursa-cp");
        let _ = self.process.child.wait();
    }

    /// SIGTERM; waits for a clean exit (20 s at most) and returns everything it printed.
    pub fn terminate(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let status = wait_exit(&mut self.process.child, Duration::from_secs(20));
        let output = self.finish();
        let status = status.unwrap_or_else(|| panic!("ursa-cp did not stop on SIGTERM:\n{output}"));
        assert!(status.success(), "ursa-cp exit status {status}:\n{output}");
        output
    }

    /// Kills it if still running, reaps it, and returns everything it printed (all of it:
    /// its output is read to the end).
    pub fn finish(&mut self) -> String {
        self.process.finish()
    }

    /// A request to its API.
    pub fn req(&self, method: &str, path: &str) -> Request {
        super::request(self.api, method, path)
    }

    /// GET on its API.
    pub fn get(&self, path: &str) -> Response {
        self.req("GET", path).send()
    }

    /// PUT of JSON on its API.
    pub fn put(&self, path: &str, body: &serde_json::Value) -> Response {
        self.req("PUT", path).json(body).send()
    }

    /// DELETE on its API.
    pub fn delete(&self, path: &str) -> Response {
        self.req("DELETE", path).send()
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
