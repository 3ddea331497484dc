//! The `ursa-cp` binary as an operator runs it: configuration errors stop start-up with a
//! message naming the variable or key, the start-up line names the address, SIGTERM and SIGINT
//! shut it down cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

/// Runs `ursa-cp` (on free ports) until it exits; killed, and the test failed, if it is still
/// running after 30 s (it should have refused to start).
fn run_to_exit(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(FREE_PORTS.iter().copied())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ursa-cp");
    if wait_exit(&mut child, Duration::from_secs(30)).is_none() {
        child.kill().ok();
    }
    let out = child.wait_with_output().expect("ursa-cp output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Loopback and OS-chosen ports for every server: no test here takes a default port.
const FREE_PORTS: [(&str, &str); 6] = [
    ("KUMA_API_SERVER_INTERFACE", "127.0.0.1"),
    ("KUMA_API_SERVER_PORT", "0"),
    ("KUMA_BOOTSTRAP_SERVER_PORT", "0"),
    ("KUMA_XDS_SERVER_GRPC_PORT", "0"),
    ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0"),
    ("KUMA_ADMIN_SERVER_LOCAL_PORT", "0"),
];

#[test]
fn bad_environment_values_stop_start_up_naming_the_variable() {
    for (var, value) in [
        ("KUMA_API_SERVER_PORT", "abc"),
        ("KUMA_API_SERVER_PORT", "70000"),
        ("KUMA_STORE_TYPE", "cassandra"),
        ("KUMA_API_SERVER_READ_ONLY", "maybe"),
        ("URSA_LOG_FORMAT", "xml"),
    ] {
        let (code, text) = run_to_exit(&[(var, value)], &[]);
        assert_ne!(code, 0, "{var}={value} must not start: {text}");
        assert!(
            text.contains(var),
            "{var}={value}: message must name the variable: {text}"
        );
    }
}

#[test]
fn bad_config_file_key_stops_start_up_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("ursa-process-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(&file, "apiServer:\n  prot: 1234\n").unwrap();
    let (code, text) = run_to_exit(&[], &["-c", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(text.contains("apiServer.prot"), "{text}");
    let (code, text) = run_to_exit(&[], &["--config-file", "/nonexistent/ursa.yaml"]);
    assert_ne!(code, 0);
    assert!(text.contains("/nonexistent/ursa.yaml"), "{text}");
}

/// Starts the binary on a free port and returns it with the API address from its start-up line.
#[allow(clippy::zombie_processes)] // the caller waits for the child
fn start(env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .envs(FREE_PORTS.iter().copied())
        .envs(env.iter().copied())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ursa-cp");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(pos) = line.find("api=http://") {
            let addr = line[pos + "api=http://".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
            // Keep draining stdout so the process never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return (child, addr);
        }
    }
    child.kill().ok();
    child.wait().ok();
    panic!("ursa-cp printed no start-up line with the API address");
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn serves_then_stops_cleanly_on_sigterm_and_sigint() {
    for signal in ["-TERM", "-INT"] {
        let (mut child, addr) = start(&[]);
        let answer = http_get(&addr, "/meshes/default");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        let status = wait_exit(&mut child, Duration::from_secs(30));
        if status.is_none() {
            child.kill().ok();
        }
        let status = status.expect("ursa-cp did not stop after the signal");
        assert!(status.success(), "{signal}: exit status {status}");
    }
}

/// The first lines `ursa-cp` writes to a pipe (not a terminal), up to its start-up line, with
/// `env` and without NO_COLOR; the process is stopped afterwards.
fn first_lines(env: &[(&str, &str)]) -> Vec<String> {
    let mut child = Command::new(BIN)
        .envs(FREE_PORTS.iter().copied())
        .envs(env.iter().copied())
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Killed while logging: its complaint about the closed pipe is not this test's output.
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ursa-cp");
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let done = line.contains("started");
        lines.push(line);
        if done || lines.len() > 100 {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    assert!(
        lines.iter().any(|l| l.contains("started")),
        "no start-up line: {lines:?}"
    );
    lines
}

#[test]
fn logs_have_no_colour_codes_unless_on_a_terminal() {
    let lines = first_lines(&[]);
    for line in &lines {
        assert!(
            !line.contains('\u{1b}'),
            "a colour code in piped output: {line:?}"
        );
    }
    let started = lines.last().unwrap();
    assert!(
        started.contains(" INFO ") && started.contains("api=http://127.0.0.1:"),
        "{started}"
    );
}

#[test]
fn ursa_log_format_json_writes_one_json_object_per_line() {
    let lines = first_lines(&[("URSA_LOG_FORMAT", "json")]);
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for e in &events {
        assert!(e["timestamp"].is_string() && e["level"].is_string(), "{e}");
    }
    let started = events.last().unwrap();
    assert_eq!(started["level"], "INFO", "{started}");
    assert!(
        started["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Ursa control plane")),
        "{started}"
    );
    assert!(
        started["api"]
            .as_str()
            .is_some_and(|a| a.starts_with("http://127.0.0.1:")),
        "{started}"
    );
}
