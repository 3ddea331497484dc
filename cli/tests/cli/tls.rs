//! An `https` control plane: trusted through `--ca-cert-file`, refused without it.
//! `tests/tls/` holds a test CA (its key was thrown away) and a certificate for 127.0.0.1.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::Ctl;

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// An https listener answering `GET /` as a Kuma API and `GET /meshes` with an empty list.
fn https_api() -> String {
    let certs = CertificateDer::pem_file_iter(tls_file("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let Ok(conn) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            let mut reader = BufReader::new(&mut tls);
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue; // a client that refused our certificate
            }
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let body = if line.starts_with("GET / ") {
                r#"{"hostname":"h","tagline":"Kuma","version":"0.5.0"}"#
            } else {
                r#"{"total":1,"items":[{"type":"Mesh","name":"secure","creationTime":"2020-01-01T00:00:00Z","modificationTime":"2020-01-01T00:00:00Z"}],"next":null}"#
            };
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(resp.as_bytes()).ok();
            tls.flush().ok();
            tls.conn.send_close_notify();
            tls.flush().ok();
        }
    });
    url
}

#[test]
fn https_with_a_private_ca() {
    let url = https_api();
    let ctl = Ctl::bare();
    // Not signed by a public CA: refused, nothing saved.
    let untrusted = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "s",
        "--address",
        &url,
    ]);
    assert!(
        untrusted
            .fails(3)
            .contains("Control Plane API Server is not responding"),
        "{}",
        untrusted.stderr
    );
    assert!(!ctl.config_path().exists());

    let ca = tls_file("ca.pem").display().to_string();
    let add = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "s",
        "--address",
        &url,
        "--ca-cert-file",
        &ca,
    ]);
    assert_eq!(
        add.ok(),
        "added Control Plane \"s\"\nswitched context to \"s\"\n"
    );
    let file = std::fs::read_to_string(ctl.config_path()).unwrap();
    assert!(
        file.contains(&format!("      caCertFile: {ca}\n      url: {url}\n")),
        "{file}"
    );
    let meshes = ctl.run(&["get", "meshes"]);
    assert!(meshes.ok().contains("\nsecure   off"), "{}", meshes.stdout);

    let missing = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "t",
        "--address",
        &url,
        "--ca-cert-file",
        "/nonexistent.pem",
    ]);
    assert!(
        missing
            .fails(2)
            .contains("could not read the CA certificate"),
        "{}",
        missing.stderr
    );
    let not_pem = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "t",
        "--address",
        &url,
        "--ca-cert-file",
        &tls_file("../golden/get-mesh.txt").display().to_string(),
    ]);
    assert!(
        not_pem.fails(2).contains("holds no certificate"),
        "{}",
        not_pem.stderr
    );
}
