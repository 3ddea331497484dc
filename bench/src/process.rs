//! The servers under test as child processes: a release `ursa-cp` and the ceiling server, their
//! addresses (read from their start-up lines), memory (VmRSS) and CPU time.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A child server, killed when dropped.
pub struct Server {
    child: Child,
    /// Addresses named by the start-up line, by key (`api`, `xds`, `bootstrap`, `ceiling`).
    pub addrs: Vec<(String, SocketAddr)>,
}

impl Server {
    /// Starts `ursa-cp` on loopback with OS-chosen ports and the in-memory store, or the store
    /// `KUMA_STORE_TYPE` names (with `KUMA_STORE_POSTGRES_*` from the environment).
    pub fn start_cp(binary: &Path) -> Result<Server, String> {
        let store = std::env::var("KUMA_STORE_TYPE").unwrap_or_else(|_| "memory".into());
        let mut cmd = Command::new(binary);
        cmd.env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
            .env("KUMA_API_SERVER_PORT", "0")
            .env("KUMA_XDS_SERVER_GRPC_PORT", "0")
            .env("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0")
            .env("KUMA_ADMIN_SERVER_LOCAL_PORT", "0")
            // The fleet speaks plaintext ADS without tokens (X11's explicit bench setting).
            .env("KUMA_XDS_SERVER_TLS_ENABLED", "false")
            .env("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "false")
            .env("KUMA_BOOTSTRAP_SERVER_PORT", "0")
            .env("KUMA_STORE_TYPE", store)
            .env("KUMA_REPORTS_ENABLED", "false")
            .env("NO_COLOR", "1");
        Server::spawn(cmd, "Ursa control plane")
    }

    /// Starts the ceiling server (this binary's `ceiling` subcommand) serving `body_file`.
    pub fn start_ceiling(body_file: &Path, workers: usize) -> Result<Server, String> {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("ceiling")
            .arg("--body-file")
            .arg(body_file)
            .arg("--workers")
            .arg(workers.to_string());
        Server::spawn(cmd, "ceiling")
    }

    fn spawn(mut cmd: Command, marker: &str) -> Result<Server, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("could not start {cmd:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = mpsc::channel();
        let marker = marker.to_string();
        // Reads the start-up line, then keeps draining the log so the server never blocks on a
        // full pipe (10,000 streams log 10,000 "connected" lines).
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.is_some() && strip_ansi(&line).contains(&marker) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(parse_addrs(&strip_ansi(&line)));
                    }
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addrs) if !addrs.is_empty() => Ok(Server { child, addrs }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "{cmd:?} did not print its start-up line with addresses"
                ))
            }
        }
    }

    /// The address named `key` in the start-up line.
    pub fn addr(&self, key: &str) -> SocketAddr {
        self.try_addr(key)
            .unwrap_or_else(|| panic!("the server did not name a {key} address"))
    }

    /// The address named `key`, if the server named one.
    pub fn try_addr(&self, key: &str) -> Option<SocketAddr> {
        self.addrs.iter().find(|(k, _)| k == key).map(|(_, a)| *a)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory, bytes (`VmRSS`).
    pub fn rss(&self) -> u64 {
        rss_of(self.pid())
    }

    /// CPU time used so far (user + system, all threads).
    pub fn cpu(&self) -> Duration {
        cpu_of(&format!("/proc/{}/stat", self.pid()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of a process, bytes (0 when unreadable).
pub fn rss_of(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time of this process (the load generator).
pub fn self_cpu() -> Duration {
    cpu_of("/proc/self/stat")
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100)
    })
}

/// utime + stime of `/proc/<pid>/stat`.
fn cpu_of(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start at ") ".
    let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime is field 14, stime field 15.
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks() as f64)
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `key=scheme://host:port` pairs of a log line.
fn parse_addrs(line: &str) -> Vec<(String, SocketAddr)> {
    line.split_whitespace()
        .filter_map(|word| {
            let (key, value) = word.split_once('=')?;
            let hostport = value.split_once("://").map_or(value, |(_, hp)| hp);
            let addr: SocketAddr = hostport.trim_end_matches('/').parse().ok()?;
            Some((key.to_string(), addr))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_start_up_line() {
        let line = "\u{1b}[2m2024\u{1b}[0m INFO ursa_cp::app: Ursa control plane 0.1.0 started api=http://127.0.0.1:5681 bootstrap=http://127.0.0.1:5682 xds=grpc://127.0.0.1:5678 store=memory";
        let addrs = parse_addrs(&strip_ansi(line));
        assert_eq!(addrs.len(), 3);
        assert_eq!(addrs[2].0, "xds");
        assert_eq!(addrs[2].1.port(), 5678);
        assert!(cpu_of("/proc/self/stat") < Duration::from_secs(3600));
    }
}
