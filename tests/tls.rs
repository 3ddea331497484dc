//! The API over HTTPS (`apiServer.https.*`, Kuma 1.x's names) beside plain HTTP: the same API,
//! under the same connection guard (which reads the decrypted bytes), so malformed heads still
//! get Kuma's error JSON and a client that never completes its handshake is cut off at the
//! header timeout. `tests/tls/` holds a test CA (its key was thrown away) and a certificate for
//! 127.0.0.1.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use support::{Response, TestServer};

fn tls_file(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn https_server(extra: &[(&str, &str)]) -> TestServer {
    let (cert, key) = (tls_file("server.pem"), tls_file("server.key"));
    let mut env = vec![
        ("KUMA_API_SERVER_HTTPS_ENABLED", "true"),
        ("KUMA_API_SERVER_HTTPS_PORT", "0"),
        ("KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", cert.as_str()),
        ("KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", key.as_str()),
    ];
    env.extend_from_slice(extra);
    TestServer::start(&env)
}

/// A TLS connection trusting only the test CA.
fn connect(server: &TestServer) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls_file("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let addr = server.addresses.https.expect("an https listener");
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn exchange(server: &TestServer, request: &[u8]) -> Response {
    let mut tls = connect(server);
    tls.write_all(request).unwrap();
    let mut out = Vec::new();
    // The server may end without close_notify after `connection: close`.
    let _ = tls.read_to_end(&mut out);
    Response::parse(&out)
}

#[test]
fn the_api_over_https_beside_plain_http() {
    let s = https_server(&[]);
    let r = exchange(
        &s,
        b"GET /meshes/default HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "default");
    assert!(r.header("etag").is_some());
    let body = br#"{"type":"Mesh","name":"secure"}"#;
    let mut put = format!(
        "PUT /meshes/secure HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    put.extend_from_slice(body);
    assert_eq!(exchange(&s, &put).status, 201);
    // Plain HTTP still serves the same API, for loopback and Kuma 0.5 clients.
    assert_eq!(s.get("/meshes/secure").status, 200);
    // The effective config shows the port in use.
    let config = s.get("/config").json();
    assert_eq!(config["apiServer"]["https"]["enabled"], true);
    assert_eq!(
        config["apiServer"]["https"]["port"],
        s.addresses.https.unwrap().port()
    );
}

#[test]
fn the_guard_reads_the_decrypted_stream() {
    let s = https_server(&[("KUMA_LIMITS_HTTP_READ_HEADER_TIMEOUT", "1s")]);
    // A malformed head inside TLS: Kuma's error JSON, as on plain HTTP.
    let r = exchange(&s, b"GET /me shes HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["title"], "Bad Request");
    // A head that never ends inside TLS: 408 at the header timeout.
    let r = exchange(&s, b"GET /meshes HTTP/1.1\r\nhost: x\r\n");
    assert_eq!(r.status, 408, "{}", r.text());
    // A client that connects and never starts its handshake is cut off at the header timeout.
    let mut idle = TcpStream::connect(s.addresses.https.unwrap()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Plain HTTP on the TLS port is refused, and the server goes on.
    let mut plain = TcpStream::connect(s.addresses.https.unwrap()).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = plain.read_to_end(&mut out);
    assert!(!String::from_utf8_lossy(&out).contains("200 OK"));
    let r = exchange(
        &s,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn https_without_a_usable_certificate_does_not_start() {
    let key = tls_file("server.key");
    for (env, says) in [
        (
            vec![("KUMA_API_SERVER_HTTPS_ENABLED", "true")],
            "apiServer.https.tlsCertFile",
        ),
        (
            vec![
                ("KUMA_API_SERVER_HTTPS_ENABLED", "true"),
                ("KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", "/nonexistent.pem"),
                ("KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", key.as_str()),
            ],
            "/nonexistent.pem",
        ),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ursa-cp"))
            .env("KUMA_API_SERVER_INTERFACE", "127.0.0.1")
            .env("KUMA_API_SERVER_PORT", "0")
            .env("KUMA_BOOTSTRAP_SERVER_PORT", "0")
            .env("KUMA_XDS_SERVER_GRPC_PORT", "0")
            .env("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "0")
            .env("KUMA_ADMIN_SERVER_LOCAL_PORT", "0")
            .env("KUMA_API_SERVER_HTTPS_PORT", "0")
            .envs(env)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{err}");
    }
}
