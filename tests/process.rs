//! The `ursa-cp` binary as an operator runs it: configuration errors stop start-up with a
//! message naming the variable or key, the start-up line names the address, SIGTERM and SIGINT
//! shut it down cleanly.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ursa-cp");

fn run_to_exit(env: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let out = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("run ursa-cp");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn bad_environment_values_stop_start_up_naming_the_variable() {
    for (var, value) in [
        ("KUMA_API_SERVER_PORT", "abc"),
        ("KUMA_API_SERVER_PORT", "70000"),
        ("KUMA_STORE_TYPE", "cassandra"),
        ("KUMA_API_SERVER_READ_ONLY", "maybe"),
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
        .envs(env.iter().copied())
        .env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
        .env("KUMA_API_SERVER_PORT", "0")
        .env("KUMA_BOOTSTRAP_SERVER_PORT", "0")
        .env("KUMA_XDS_SERVER_GRPC_PORT", "0")
        .env("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0")
        .env("KUMA_ADMIN_SERVER_LOCAL_PORT", "0")
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
