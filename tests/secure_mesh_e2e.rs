//! The secure mesh on real Envoy 1.40 through `ursa-dp` (issue 10): ADS over TLS with
//! dataplane tokens, a builtin mesh CA, workload certificates, mTLS between the Envoys and
//! TrafficPermission as an RBAC filter; and the xDS server refusing streams whose token is
//! missing, forged or another Dataplane's.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use serde_json::{json, Value};
use support::envoy::{app, envoy_available, eventually, free_port, get, Sidecar, Token};
use support::{pg, TestServer};
use tokio_stream::StreamExt;

const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";

/// Every security default on: TLS on ADS, dataplane tokens.
fn secure_server() -> TestServer {
    TestServer::start(&[
        ("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1"),
        ("KUMA_XDS_SERVER_TLS_ENABLED", "true"),
        ("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "true"),
    ])
}

/// A dataplane token from the admin server's `POST /tokens`.
fn token(server: &TestServer, mesh: &str, name: &str) -> String {
    let body = json!({"mesh": mesh, "name": name}).to_string();
    let r = support::raw(
        server.addresses.admin,
        "POST",
        "/tokens",
        &[("content-type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/plain"));
    r.text()
}

fn put(server: &TestServer, path: &str, body: Value) {
    let r = server.put_json(path, &body);
    assert!(
        r.status == 200 || r.status == 201,
        "PUT {path}: {} {}",
        r.status,
        r.text()
    );
}

fn permission(server: &TestServer, source: &str) {
    put(
        server,
        "/meshes/default/traffic-permissions/to-backend",
        json!({"type": "TrafficPermission", "mesh": "default", "name": "to-backend",
               "sources": [{"match": {"service": source}}],
               "destinations": [{"match": {"service": "backend"}}]}),
    );
}

/// The certificate (PEM) the TLS server on loopback `port` presents, read by `openssl
/// s_client` without a client certificate.
fn served_certificate(port: u16) -> String {
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-showcerts",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_client");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().ok().flatten().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut out = String::new();
    let _ = child.stdout.take().unwrap().read_to_string(&mut out);
    let _ = child.wait();
    let begin = out
        .find("-----BEGIN CERTIFICATE-----")
        .expect("a certificate from s_client");
    let end = out[begin..]
        .find("-----END CERTIFICATE-----")
        .expect("its end")
        + begin
        + 25;
    out[begin..end].to_string() + "\n"
}

/// Bytes a plain TCP client gets back from `port` after sending an HTTP request, within 5 s.
fn plaintext_answer(port: u16) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return Vec::new();
    };
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let _ = s.write_all(b"GET / HTTP/1.1\r\nhost: backend\r\nconnection: close\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// backend (HTTP, in front of an application answering `backend`) and web (HTTP, with an
/// outbound to backend) on free loopback ports.
struct TwoServices {
    backend: Value,
    web: Value,
    backend_in: u16,
    web_out: u16,
}

fn two_services() -> TwoServices {
    let (backend_app, web_app) = (app("backend"), app("web"));
    let (backend_in, web_in, web_out) = (free_port(), free_port(), free_port());
    TwoServices {
        backend: json!({"networking": {"address": "127.0.0.1", "inbound": [
            {"port": backend_in, "servicePort": backend_app,
             "tags": {"service": "backend", "protocol": "http"}}]}}),
        web: json!({"networking": {"address": "127.0.0.1",
            "inbound": [{"port": web_in, "servicePort": web_app,
                         "tags": {"service": "web", "protocol": "http"}}],
            "outbound": [{"port": web_out, "service": "backend"}]}}),
        backend_in,
        web_out,
    }
}

/// Opens a plaintext ADS stream on `xds` as node `node_id`, with `token` as its
/// `authorization` metadata, asking for clusters; the first response (or the refusal) and
/// the stream. With `keep_open` the request stream never ends, so the server keeps the stream.
async fn open_stream(
    xds: std::net::SocketAddr,
    node_id: &str,
    token: Option<&str>,
    keep_open: bool,
) -> Result<(DiscoveryResponse, tonic::Streaming<DiscoveryResponse>), tonic::Status> {
    let mut client = AggregatedDiscoveryServiceClient::connect(format!("http://{xds}"))
        .await
        .unwrap();
    let req = DiscoveryRequest {
        node: Some(Node {
            id: node_id.to_string(),
            ..Default::default()
        }),
        type_url: CLUSTER.into(),
        ..Default::default()
    };
    let requests = tokio_stream::iter(vec![req]);
    let requests: std::pin::Pin<Box<dyn tokio_stream::Stream<Item = DiscoveryRequest> + Send>> =
        if keep_open {
            Box::pin(requests.chain(tokio_stream::pending()))
        } else {
            Box::pin(requests)
        };
    let mut request = tonic::Request::new(requests);
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", token.parse().unwrap());
    }
    let mut responses = client
        .stream_aggregated_resources(request)
        .await?
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(20), responses.message())
        .await
        .expect("an answer within 20 s")?
        .unwrap_or_default();
    Ok((first, responses))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn mtls_and_traffic_permissions_between_real_envoys() {
    envoy_available();
    let server = secure_server();
    let dir = std::env::temp_dir().join(format!("ursa-secure-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let TwoServices {
        backend,
        web,
        backend_in,
        web_out,
    } = two_services();
    let cp = format!("http://{}", server.addr);
    let backend_token = token(&server, "default", "backend-1");
    let backend_dp = Sidecar::start_with(
        Some(&cp),
        "backend-1",
        &backend,
        &dir,
        Token::Given(&backend_token),
    );
    // The catalog advertises the token API, so the support fetches web's own token.
    let _web_dp = Sidecar::start(Some(&cp), "web", &web, &dir);

    // ADS over TLS with tokens works, and without mTLS traffic is plaintext and unchecked.
    let first = eventually("traffic without mTLS", Duration::from_secs(60), || {
        get(web_out)
    });
    assert_eq!(first, "backend");

    // mTLS on and no TrafficPermission: denied.
    put(
        &server,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1",
               "backends": [{"name": "ca-1", "type": "builtin"}]}}),
    );
    eventually(
        "mTLS without permission refuses",
        Duration::from_secs(60),
        || get(web_out).is_none().then_some(()),
    );
    // A permission for web: allowed.
    permission(&server, "web");
    eventually(
        "a permission for web allows",
        Duration::from_secs(60),
        || (get(web_out).as_deref() == Some("backend")).then_some(()),
    );

    // The certificate backend's Envoy serves has its SPIFFE id, and the mesh CA's.
    let certs = eventually(
        "backend's Envoy has certificates",
        Duration::from_secs(30),
        || {
            backend_dp
                .admin_call("GET", "/certs")
                .filter(|c| c.contains("spiffe://default/backend"))
        },
    );
    assert!(certs.contains("spiffe://default"), "{certs}");
    // The certificate on backend's inbound, as a TLS client sees it: its one URI SAN is
    // backend's SPIFFE id, and the mesh's builtin root issued it.
    let served = served_certificate(backend_in);
    let (_, pem) = x509_parser::pem::parse_x509_pem(served.as_bytes()).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("a certificate");
    let sans: Vec<String> = cert
        .subject_alternative_name()
        .expect("one SAN extension")
        .expect("a SAN extension")
        .value
        .general_names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect();
    assert_eq!(sans, [r#"URI("spiffe://default/backend")"#], "{sans:?}");
    assert_eq!(cert.issuer().to_string(), "O=Kuma, OU=Mesh, CN=default");
    // Without a client certificate nothing gets through backend's inbound.
    let answer = plaintext_answer(backend_in);
    assert!(
        !String::from_utf8_lossy(&answer).contains("backend"),
        "a plaintext client got an answer: {:?}",
        String::from_utf8_lossy(&answer)
    );

    // A permission for another service only: refused again. `*`: allowed.
    permission(&server, "other");
    eventually(
        "a permission for another service refuses",
        Duration::from_secs(60),
        || get(web_out).is_none().then_some(()),
    );
    permission(&server, "*");
    eventually("a permission for * allows", Duration::from_secs(60), || {
        (get(web_out).as_deref() == Some("backend")).then_some(())
    });
    // Removing it refuses again.
    let r = server.delete("/meshes/default/traffic-permissions/to-backend");
    assert_eq!(r.status, 200, "{}", r.text());
    eventually("no permission refuses", Duration::from_secs(60), || {
        get(web_out).is_none().then_some(())
    });

    // The insight shows the certificate (xDS §4.5).
    let insight = eventually("backend's mTLS insight", Duration::from_secs(30), || {
        let i = server
            .get("/meshes/default/dataplanes+insights/backend-1")
            .json()["dataplaneInsight"]["mTLS"]
            .clone();
        i.get("certificateExpirationTime").is_some().then_some(i)
    });
    assert!(
        insight["lastCertificateRegeneration"].is_string(),
        "{insight}"
    );
    assert!(
        insight["certificateRegenerations"].as_u64().unwrap_or(0) >= 1
            || insight["certificateRegenerations"].as_str().is_some(),
        "{insight}"
    );

    // mTLS off again: plaintext traffic flows without any permission (no RBAC, as Kuma).
    put(
        &server,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default"}),
    );
    eventually("traffic after mTLS is off", Duration::from_secs(60), || {
        (get(web_out).as_deref() == Some("backend")).then_some(())
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opens a plaintext ADS stream as dataplane `name` with `authorization` metadata `token`;
/// what the first response (or the refusal) is.
fn stream_as(server: &TestServer, name: &str, token: Option<&str>) -> Result<usize, tonic::Status> {
    let node = format!("default.{name}");
    runtime().block_on(async {
        let (first, _) = open_stream(server.addresses.xds, &node, token, false).await?;
        Ok(first.resources.len())
    })
}

#[test]
fn ads_streams_need_the_token_of_their_dataplane() {
    // Tokens on, ADS in plaintext so a bare gRPC client can speak it.
    let server = TestServer::start(&[("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "true")]);
    put(
        &server,
        "/meshes/default/dataplanes/dp-1",
        json!({"type": "Dataplane", "mesh": "default", "name": "dp-1",
               "networking": {"address": "127.0.0.1",
                   "inbound": [{"port": 1234, "servicePort": 1235, "tags": {"service": "svc"}}]}}),
    );
    let own = token(&server, "default", "dp-1");
    let other = token(&server, "default", "dp-2");

    let refused = stream_as(&server, "dp-1", None).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(!refused.message().contains("ey"), "{}", refused.message());

    // A token signed by another key (another control plane's).
    let foreign = TestServer::start(&[("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "true")]);
    let forged = token(&foreign, "default", "dp-1");
    let refused = stream_as(&server, "dp-1", Some(&forged)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    assert!(
        !refused.message().contains(&forged),
        "{}",
        refused.message()
    );
    let refused = stream_as(&server, "dp-1", Some("not-a-token")).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");

    let refused = stream_as(&server, "dp-1", Some(&other)).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");

    // Its own token: configuration (the inbound's local cluster).
    assert_eq!(stream_as(&server, "dp-1", Some(&own)).unwrap(), 1);

    // ursa-dp without a token file, against a control plane that checks tokens: one line
    // saying how to get one, and no Envoy.
    let out = std::process::Command::new(support::bin("ursa-dp"))
        .args([
            "run",
            "--cp-address",
            &format!("http://{}", server.addr),
            "--name",
            "dp-1",
        ])
        .args(["--binary-path", "/bin/false"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("--dataplane-token-file"), "{err}");
}

#[test]
fn tokens_off_serve_any_stream_and_hide_the_token_api() {
    let server = TestServer::start(&[]);
    let catalog = server.get("/catalog").json();
    assert_eq!(catalog["apis"]["dataplaneToken"]["localUrl"], "");
    let r = support::raw(
        server.addresses.admin,
        "POST",
        "/tokens",
        &[("content-type", "application/json")],
        br#"{"mesh":"default","name":"x"}"#,
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(stream_as(&server, "nobody", None).unwrap(), 0);
}

/// The value of counter `name` in Envoy's admin `/stats` (0 when absent).
fn stat(sidecar: &Sidecar, name: &str) -> u64 {
    let text = sidecar
        .admin_call("GET", &format!("/stats?filter=^{name}$"))
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The serial numbers of the certificates Envoy holds (its admin `/certs`).
fn serials(sidecar: &Sidecar) -> std::collections::BTreeSet<String> {
    let text = sidecar.admin_call("GET", "/certs").unwrap_or_default();
    // The body is chunked: the JSON document is from its first `{` to its last `}`.
    let body = match (text.find('{'), text.rfind('}')) {
        (Some(a), Some(b)) if a < b => &text[a..=b],
        _ => "",
    };
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    json["certificates"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["cert_chain"].as_array().cloned().unwrap_or_default())
        .filter_map(|c| c["serial_number"].as_str().map(str::to_string))
        .collect()
}

/// Requests through `port` every 20 ms until `done` holds (checked every 250 ms) and the last
/// 2 s had no failure, within `within`: how long the failures lasted (first to last failed
/// request, 0 without any) and how many there were.
fn failures_until(
    what: &str,
    port: u16,
    within: Duration,
    mut done: impl FnMut() -> bool,
) -> (Duration, usize) {
    use std::time::Instant;
    let start = Instant::now();
    let (mut first, mut last, mut count) = (None, None::<Instant>, 0);
    let mut finished = false;
    let mut checked = Instant::now();
    loop {
        let at = Instant::now();
        if get(port).as_deref() != Some("backend") {
            first.get_or_insert(at);
            last = Some(Instant::now());
            count += 1;
        }
        if at.duration_since(checked) > Duration::from_millis(250) {
            checked = at;
            finished = finished || done();
        }
        let quiet = last.is_none_or(|l| l.elapsed() > Duration::from_secs(2));
        if finished && quiet {
            break;
        }
        assert!(
            start.elapsed() < within,
            "{what}: not done within {within:?} ({count} failures, finished: {finished})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let window = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f),
        _ => Duration::ZERO,
    };
    (window, count)
}

#[test]
fn certificates_rotate_without_failed_requests_and_mtls_switches_live() {
    envoy_available();
    let server = secure_server();
    let dir = std::env::temp_dir().join(format!("ursa-rotation-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let TwoServices {
        backend,
        web,
        web_out,
        ..
    } = two_services();
    let cp = format!("http://{}", server.addr);
    let backend_dp = Sidecar::start(Some(&cp), "backend-1", &backend, &dir);
    let web_dp = Sidecar::start(Some(&cp), "web", &web, &dir);
    permission(&server, "*");
    eventually("traffic without mTLS", Duration::from_secs(60), || {
        get(web_out).filter(|b| b == "backend")
    });
    let regenerations = || {
        let i = server
            .get("/meshes/default/dataplanes+insights/backend-1")
            .json()["dataplaneInsight"]["mTLS"]["certificateRegenerations"]
            .clone();
        i.as_u64()
            .or_else(|| i.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    };

    // mTLS on, certificates valid 10 s (re-issued every 8 s).
    put(
        &server,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1",
               "backends": [{"name": "ca-1", "type": "builtin",
                             "dpCert": {"rotation": {"expiration": "10s"}}}]}}),
    );
    // Done once requests go through TLS handshakes from web to backend.
    let (on_window, on_failures) =
        failures_until("mTLS on", web_out, Duration::from_secs(60), || {
            stat(&web_dp, "cluster.backend.ssl.handshake") > 0
        });
    eprintln!("switching mTLS on: {on_failures} failed requests over {on_window:?}");

    // Two rotations in Envoy and in the insight, not one request failing.
    let before = serials(&backend_dp);
    let counted = regenerations();
    let (_, rotation_failures) =
        failures_until("rotation", web_out, Duration::from_secs(60), || {
            let now = serials(&backend_dp);
            !now.is_empty() && now.is_disjoint(&before) && regenerations() >= counted + 2
        });
    assert_eq!(rotation_failures, 0, "requests failed during rotation");

    // mTLS off: plaintext again, live.
    put(
        &server,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default"}),
    );
    let (off_window, off_failures) =
        failures_until("mTLS off", web_out, Duration::from_secs(60), || {
            serials(&backend_dp).is_empty() && serials(&web_dp).is_empty()
        });
    eprintln!("switching mTLS off: {off_failures} failed requests over {off_window:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn instances_on_one_postgres_share_the_root_and_a_restart_keeps_it() {
    envoy_available();
    let db = pg::Db::create();
    let env = db.env();
    let secure = [
        ("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1"),
        ("KUMA_XDS_SERVER_TLS_ENABLED", "true"),
        ("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "true"),
    ];
    let a = TestServer::start(&pg::with(&env, &secure));
    // B on fixed ports, so that its Envoy finds the restarted B where it left it.
    let ports: Vec<String> = (0..4).map(|_| free_port().to_string()).collect();
    let mut b_env = secure.to_vec();
    b_env.extend([
        ("KUMA_API_SERVER_PORT", ports[0].as_str()),
        ("KUMA_BOOTSTRAP_SERVER_PORT", ports[1].as_str()),
        ("KUMA_XDS_SERVER_GRPC_PORT", ports[2].as_str()),
        ("KUMA_ADMIN_SERVER_LOCAL_PORT", ports[3].as_str()),
    ]);
    let b = TestServer::start(&pg::with(&env, &b_env));
    let dir = std::env::temp_dir().join(format!("ursa-instances-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    put(
        &a,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca-1",
               "backends": [{"name": "ca-1", "type": "builtin"}]}}),
    );
    permission(&a, "web");
    let TwoServices {
        backend,
        web,
        web_out,
        ..
    } = two_services();
    // backend served by A, web by B: each trusts the other's certificate, signed by one root.
    let _backend_dp = Sidecar::start(
        Some(&format!("http://{}", a.addr)),
        "backend-1",
        &backend,
        &dir,
    );
    let web_dp = Sidecar::start(Some(&format!("http://{}", b.addr)), "web", &web, &dir);
    eventually("mTLS across two instances", Duration::from_secs(60), || {
        (get(web_out).as_deref() == Some("backend")
            && stat(&web_dp, "cluster.backend.ssl.handshake") > 0)
            .then_some(())
    });
    let before = serials(&web_dp);
    assert!(!before.is_empty());

    // B restarts: web's Envoy reconnects (the stored xDS certificate, its token still valid)
    // and gets a new certificate from the restarted B, signed by the same root.
    drop(b);
    let _b = TestServer::start(&pg::with(&env, &b_env));
    eventually(
        "a new certificate from the restarted instance",
        Duration::from_secs(60),
        || {
            let now = serials(&web_dp);
            (!now.is_empty() && now.is_disjoint(&before)).then_some(())
        },
    );
    let handshakes = stat(&web_dp, "cluster.backend.ssl.handshake");
    eventually("mTLS after the restart", Duration::from_secs(60), || {
        (get(web_out).as_deref() == Some("backend")
            && stat(&web_dp, "cluster.backend.ssl.handshake") > handshakes)
            .then_some(())
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_dataplane_token_from_the_command_line_works_on_every_instance() {
    let db = pg::Db::create();
    let env = db.env();
    let tokens = [("KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", "true")];
    let a = TestServer::start(&pg::with(&env, &tokens));
    let b = TestServer::start(&pg::with(&env, &tokens));
    put(
        &a,
        "/meshes/default/dataplanes/dp-1",
        json!({"type": "Dataplane", "mesh": "default", "name": "dp-1",
               "networking": {"address": "127.0.0.1",
                   "inbound": [{"port": 1234, "servicePort": 1235, "tags": {"service": "svc"}}]}}),
    );
    // `ursa-cp token --mesh --name` signs with the key in the database.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ursa-cp"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .args(["token", "--mesh", "default", "--name", "dp-1"])
        .output()
        .expect("run ursa-cp");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli_token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    // The Dataplane reaches B through the store; then both serve its stream.
    eventually("B knows dp-1", Duration::from_secs(15), || {
        (b.get("/meshes/default/dataplanes/dp-1").status == 200).then_some(())
    });
    for s in [&a, &b] {
        assert_eq!(stream_as(s, "dp-1", Some(&cli_token)).unwrap(), 1);
        let refused = stream_as(s, "dp-2", Some(&cli_token)).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    }
    // A token from A's admin server works on B.
    let from_a = token(&a, "default", "dp-1");
    assert_eq!(stream_as(&b, "dp-1", Some(&from_a)).unwrap(), 1);
}

#[test]
fn an_unreadable_provided_ca_is_shown_in_the_insight_and_issuance_resumes() {
    let server = TestServer::start(&[]);
    let dir = std::env::temp_dir().join(format!("ursa-provided-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("actors/tests/data");
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    std::fs::copy(data.join("ca-rsa.pem"), &cert).unwrap();
    std::fs::copy(data.join("ca-rsa.key"), &key).unwrap();
    put(
        &server,
        "/meshes/default",
        json!({"type": "Mesh", "name": "default", "mtls": {"enabledBackend": "ca",
               "backends": [{"name": "ca", "type": "provided",
                   "conf": {"cert": {"file": cert.to_str().unwrap()},
                            "key": {"file": key.to_str().unwrap()}}}]}}),
    );
    put(
        &server,
        "/meshes/default/dataplanes/dp-1",
        json!({"type": "Dataplane", "mesh": "default", "name": "dp-1",
               "networking": {"address": "127.0.0.1",
                   "inbound": [{"port": 1234, "servicePort": 1235, "tags": {"service": "svc"}}]}}),
    );
    // The file goes away after the Mesh was accepted: the stream still gets its
    // configuration (the actor carries on), the insight says why there is no certificate.
    std::fs::remove_file(&cert).unwrap();
    let rt = runtime();
    let mtls = |server: &TestServer| {
        server
            .get("/meshes/default/dataplanes+insights/dp-1")
            .json()["dataplaneInsight"]["mTLS"]
            .clone()
    };
    rt.block_on(async {
        // The stream stays open, so the retry can happen on it.
        let (first, _stream) = open_stream(server.addresses.xds, "default.dp-1", None, true)
            .await
            .unwrap();
        assert_eq!(first.resources.len(), 1);
        let error = eventually("the error in the insight", Duration::from_secs(20), || {
            mtls(&server)["lastCertificateError"]
                .as_str()
                .filter(|e| !e.is_empty())
                .map(str::to_string)
        });
        assert!(error.contains("ca.pem"), "{error}");
        assert_eq!(server.get("/meshes/default").status, 200);
        // Back again: the next retry (10 s) issues the certificate.
        std::fs::copy(data.join("ca-rsa.pem"), &cert).unwrap();
        let shown = eventually(
            "a certificate after the retry",
            Duration::from_secs(30),
            || {
                let m = mtls(&server);
                m.get("certificateExpirationTime").is_some().then_some(m)
            },
        );
        assert!(shown.get("lastCertificateError").is_none(), "{shown}");
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deleting_a_mesh_deletes_its_ca() {
    let store: std::sync::Arc<dyn ursa_actors::store::Store> =
        std::sync::Arc::new(ursa_actors::store::memory::MemoryStore::new());
    let server = TestServer::start_on(store.clone(), &[]);
    put(
        &server,
        "/meshes/m1",
        json!({"type": "Mesh", "name": "m1", "mtls": {"enabledBackend": "ca-1",
               "backends": [{"name": "ca-1", "type": "builtin"}]}}),
    );
    put(
        &server,
        "/meshes/m1/dataplanes/dp-1",
        json!({"type": "Dataplane", "mesh": "m1", "name": "dp-1",
               "networking": {"address": "127.0.0.1",
                   "inbound": [{"port": 1234, "servicePort": 1235, "tags": {"service": "svc"}}]}}),
    );
    let rt = runtime();
    let roots = |prefix: &str| rt.block_on(store.secrets(prefix)).unwrap().len();
    // The first proxy's certificate needs the root: it is made then, once.
    rt.block_on(open_stream(server.addresses.xds, "m1.dp-1", None, false))
        .unwrap();
    assert_eq!(roots("ca/m1/"), 1);
    let r = server.delete("/meshes/m1");
    assert_eq!(r.status, 200, "{}", r.text());
    eventually(
        "the CA deleted with its mesh",
        Duration::from_secs(10),
        || (roots("ca/m1/") == 0).then_some(()),
    );
}

#[test]
fn a_configured_xds_certificate_is_the_one_envoy_trusts() {
    envoy_available();
    let dir = std::env::temp_dir().join(format!("ursa-xds-cert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("xds.pem"), dir.join("xds.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = TestServer::start(&[
        ("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1"),
        ("KUMA_XDS_SERVER_TLS_ENABLED", "true"),
        ("KUMA_XDS_SERVER_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("KUMA_XDS_SERVER_TLS_KEY_FILE", key.to_str().unwrap()),
    ]);
    let backend = json!({"networking": {"address": "127.0.0.1", "inbound": [
        {"port": free_port(), "servicePort": app("backend"), "tags": {"service": "backend"}}]}});
    let _dp = Sidecar::start(
        Some(&format!("http://{}", server.addr)),
        "backend-1",
        &backend,
        &dir,
    );
    eventually(
        "ACKed configuration over TLS",
        Duration::from_secs(60),
        || {
            let subs = server
                .get("/meshes/default/dataplanes+insights/backend-1")
                .json()["dataplaneInsight"]["subscriptions"]
                .clone();
            subs.as_array()
                .and_then(|s| s.last().cloned())
                .filter(|s| support::envoy::acked(s, &["cds", "lds"]))
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}
