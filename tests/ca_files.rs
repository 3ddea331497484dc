//! The certificate and key files of a `provided` CA are read off the actors' thread: a file
//! that takes long to read (here a FIFO nobody has written yet) holds up only the PUT that
//! names it, never the requests of other meshes or resources.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use support::TestServer;

/// Linux's `O_NONBLOCK`: opening a FIFO for writing without blocking fails until a reader has
/// it open, which tells the test that the server is reading.
const O_NONBLOCK: i32 = 0o4000;

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("actors/tests/data")
            .join(name),
    )
    .unwrap()
}

/// A GET that must be answered within `within` (else None).
fn get_within(addr: std::net::SocketAddr, path: &str, within: Duration) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(within)).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn a_ca_file_slow_to_read_holds_up_only_its_own_request() {
    let server = TestServer::start(&[]);
    let dir = std::env::temp_dir().join(format!("ursa-ca-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("ca.pem");
    let _ = std::fs::remove_file(&fifo);
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success(), "mkfifo");
    let key = Path::new(env!("CARGO_MANIFEST_DIR")).join("actors/tests/data/ca-rsa.key");
    let body = json!({"type": "Mesh", "name": "slow", "mtls": {"enabledBackend": "ca",
        "backends": [{"name": "ca", "type": "provided",
            "conf": {"cert": {"file": fifo.to_str().unwrap()}, "key": {"file": key.to_str().unwrap()}}}]}});
    let addr = server.addr;
    let put = std::thread::spawn(move || {
        support::raw(
            addr,
            "PUT",
            "/meshes/slow",
            &[("content-type", "application/json")],
            &serde_json::to_vec(&body).unwrap(),
        )
    });
    // Wait until the server has the FIFO open: from then on its read waits for the writer.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut writer = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo)
        {
            Ok(w) => break w,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "the server never opened the CA file: {e}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    // The server now waits for the file's content; the rest of the API must not.
    let meanwhile = get_within(addr, "/meshes/default", Duration::from_secs(10));
    writer.write_all(&data("ca-rsa.pem")).unwrap();
    drop(writer);
    let put = put.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let meanwhile =
        meanwhile.expect("GET /meshes/default was not answered while a CA file was being read");
    assert!(meanwhile.starts_with("HTTP/1.1 200"), "{meanwhile}");
    assert_eq!(put.status, 201, "{}", put.text());
    assert_eq!(
        server.get("/meshes/slow").json()["mtls"]["enabledBackend"],
        "ca"
    );
}
