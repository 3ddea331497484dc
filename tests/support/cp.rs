//! `ursa-cp` as a process: started with exactly the environment a test gives it (no `KUMA_*`
//! variable of the test's own environment leaks in), its output captured, `kill -9`ed or
//! stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::Response;

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

/// A running `ursa-cp`, killed on drop.
pub struct Cp {
    child: Child,
    /// Where its API answers (loopback when it listens on every interface).
    pub api: SocketAddr,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
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

impl Cp {
    /// Starts `ursa-cp` with `env` only (plus `NO_COLOR`), and waits (30 s at most) for its
    /// start-up line. `Err` carries everything it printed when it exited or never started.
    pub fn start(env: &[(&str, &str)]) -> Result<Cp, String> {
        let mut command = Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("KUMA_") || k.starts_with("URSA_LOG") {
                command.env_remove(k);
            }
        }
        command
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("spawn ursa-cp");
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, started) = mpsc::channel();
        let mut readers = Vec::new();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let out = output.clone();
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if let (Some(tx), Some(pos)) = (&tx, line.find("api=http://")) {
                        let addr = line[pos + "api=http://".len()..]
                            .split_whitespace()
                            .next()
                            .and_then(|a| a.parse::<SocketAddr>().ok());
                        if let Some(addr) = addr {
                            let _ = tx.send(addr);
                        }
                    }
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            }));
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut cp = Cp {
            child,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            output,
            readers,
        };
        loop {
            match started.recv_timeout(Duration::from_millis(50)) {
                Ok(addr) => {
                    cp.api = reachable(addr);
                    return Ok(cp);
                }
                Err(_) if Instant::now() >= deadline => return Err(cp.finish()),
                Err(_) => {
                    if let Ok(Some(_)) = cp.child.try_wait() {
                        return Err(cp.finish());
                    }
                }
            }
        }
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// `kill -9`, and reaps it.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM; waits for a clean exit (20 s at most) and returns what it printed.
    pub fn terminate(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = wait_exit(&mut self.child, Duration::from_secs(20));
        let output = self.finish();
        let status = status.unwrap_or_else(|| panic!("ursa-cp did not stop on SIGTERM:\n{output}"));
        assert!(status.success(), "ursa-cp exit status {status}:\n{output}");
        output
    }

    /// Kills it if still running, reaps it and returns its output.
    fn finish(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        self.output()
    }

    /// GET on its API.
    pub fn get(&self, path: &str) -> Response {
        super::raw(self.api, "GET", path, &[], b"")
    }

    /// PUT of JSON on its API.
    pub fn put(&self, path: &str, body: &serde_json::Value) -> Response {
        super::raw(
            self.api,
            "PUT",
            path,
            &[("content-type", "application/json")],
            &serde_json::to_vec(body).unwrap(),
        )
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.finish();
    }
}
