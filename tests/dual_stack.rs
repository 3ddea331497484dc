//! X12: by default every server (API, bootstrap, xDS) listens on both families, so `localhost`
//! reaches it whether it resolves to `127.0.0.1` or `::1`; an explicit `apiServer.interface`
//! is exactly that address.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use support::TestServer;
use ursa_actors::config::Config;

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

fn at(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(5)).is_ok()
}

/// A gRPC exchange with the ADS server at `addr`: a bad node id is refused by name.
fn ads_answers(addr: SocketAddr) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Ok(mut client) =
            AggregatedDiscoveryServiceClient::connect(format!("http://{addr}")).await
        else {
            return false;
        };
        let req = DiscoveryRequest {
            node: Some(Node {
                id: "no-dot".into(),
                ..Default::default()
            }),
            type_url: "type.googleapis.com/envoy.config.cluster.v3.Cluster".into(),
            ..Default::default()
        };
        let Ok(response) = client
            .stream_aggregated_resources(tokio_stream::iter(vec![req]))
            .await
        else {
            return false;
        };
        let mut responses = response.into_inner();
        matches!(responses.message().await, Err(s) if s.code() == tonic::Code::InvalidArgument)
    })
}

#[test]
fn by_default_every_server_listens_on_ipv6_and_ipv4() {
    // Every default but the ports.
    let ports = [
        "KUMA_API_SERVER_PORT",
        "KUMA_BOOTSTRAP_SERVER_PORT",
        "KUMA_XDS_SERVER_GRPC_PORT",
    ];
    // The probe below is a plaintext gRPC client, so ADS runs without TLS and tokens here;
    // the TLS listener binds through the same code (defaults_e2e runs it with every default).
    let env = ports
        .map(|p| (p.to_string(), "0".to_string()))
        .into_iter()
        .chain([
            (
                "KUMA_XDS_SERVER_TLS_ENABLED".to_string(),
                "false".to_string(),
            ),
            (
                "KUMA_DATAPLANE_TOKEN_SERVER_ENABLED".to_string(),
                "false".to_string(),
            ),
        ]);
    let config = Config::load(None, env).unwrap();
    let server = TestServer::start_with(config);
    let a = server.addresses;
    for ip in [V4, V6] {
        let api = support::raw(at(ip, a.api.port()), "GET", "/", &[], b"");
        assert_eq!(api.status, 200, "API on {ip}");
        assert_eq!(api.json()["tagline"], "Kuma");
        let bootstrap = support::raw(
            at(ip, a.bootstrap.port()),
            "POST",
            "/bootstrap",
            &[("content-type", "application/json")],
            br#"{"mesh":"default","name":"nope"}"#,
        );
        assert_eq!(bootstrap.status, 404, "bootstrap server on {ip}");
        assert!(ads_answers(at(ip, a.xds.port())), "xDS server on {ip}");
    }
}

#[test]
fn an_explicit_interface_is_exactly_that_address() {
    for (interface, serves, refuses) in [("127.0.0.1", V4, V6), ("::1", V6, V4), ("::", V6, V4)] {
        let server = TestServer::start(&[("KUMA_API_SERVER_INTERFACE", interface)]);
        let a = server.addresses;
        for port in [a.api.port(), a.bootstrap.port(), a.xds.port()] {
            assert!(
                accepts(at(serves, port)),
                "{interface}: port {port} on {serves}"
            );
            assert!(
                !accepts(at(refuses, port)),
                "{interface}: port {port} on {refuses}"
            );
        }
        assert_eq!(
            support::raw(at(serves, a.api.port()), "GET", "/", &[], b"").status,
            200
        );
    }
}
