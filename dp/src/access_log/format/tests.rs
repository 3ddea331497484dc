//! The renderer on entries built as Envoy sends them.

use super::*;
use envoy_types::pb::envoy::config::core::v3::{Pipe, SocketAddress};
use envoy_types::pb::envoy::data::accesslog::v3::tls_properties::certificate_properties::SubjectAltName;
use envoy_types::pb::envoy::data::accesslog::v3::{
    ConnectionProperties, HttpResponseProperties, TlsProperties,
};
use envoy_types::pb::google::protobuf::UInt32Value;

fn addr(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

fn ms(ms: i64) -> Option<Duration> {
    Some(Duration {
        seconds: ms / 1000,
        nanos: (ms % 1000) as i32 * 1_000_000,
    })
}

fn common() -> AccessLogCommon {
    AccessLogCommon {
        // 2021-03-04T05:06:07.089Z
        start_time: Some(Timestamp {
            seconds: 1_614_834_367,
            nanos: 89_123_456,
        }),
        downstream_remote_address: addr("10.0.0.1", 40000),
        downstream_local_address: addr("10.0.0.2", 10001),
        downstream_direct_remote_address: addr("::1", 40001),
        upstream_remote_address: addr("10.0.0.3", 8080),
        upstream_local_address: addr("10.0.0.2", 50000),
        upstream_cluster: "backend".into(),
        route_name: "".into(),
        time_to_last_rx_byte: ms(2),
        time_to_first_upstream_rx_byte: ms(30),
        time_to_last_downstream_tx_byte: ms(41),
        duration: ms(42),
        response_flags: Some(ResponseFlags {
            no_healthy_upstream: true,
            upstream_connection_failure: true,
            no_route_found: true,
            ..Default::default()
        }),
        upstream_request_attempt_count: 1,
        ..Default::default()
    }
}

fn http() -> HttpAccessLogEntry {
    HttpAccessLogEntry {
        common_properties: Some(common()),
        protocol_version: HttpVersion::Http11 as i32,
        request: Some(HttpRequestProperties {
            request_method: RequestMethod::Post as i32,
            scheme: "http".into(),
            authority: "backend".into(),
            path: "/orders?id=1".into(),
            user_agent: "curl/8".into(),
            request_id: "r-1".into(),
            request_body_bytes: 12,
            request_headers: [("x-probe".to_string(), "counted".to_string())].into(),
            ..Default::default()
        }),
        response: Some(HttpResponseProperties {
            response_code: Some(UInt32Value { value: 201 }),
            response_body_bytes: 345,
            response_headers: [("server".to_string(), "envoy".to_string())].into(),
            ..Default::default()
        }),
    }
}

fn tcp() -> TcpAccessLogEntry {
    TcpAccessLogEntry {
        common_properties: Some(AccessLogCommon {
            response_flags: Some(ResponseFlags::default()),
            ..common()
        }),
        connection_properties: Some(ConnectionProperties {
            received_bytes: 7,
            sent_bytes: 9,
        }),
    }
}

#[test]
fn an_http_entry_in_kumas_default_format() {
    let format = Format::parse(
        "[%START_TIME%] default \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" \"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"web\" \"backend\" \"10.0.0.2\" \"%UPSTREAM_HOST%\"\n",
    );
    assert_eq!(
        format.http(&http()),
        "[2021-03-04T05:06:07.089Z] default \"POST /orders?id=1 HTTP/1.1\" 201 UH,UF,NR 12 345 42 - \"-\" \"curl/8\" \"r-1\" \"backend\" \"web\" \"backend\" \"10.0.0.2\" \"10.0.0.3:8080\"\n"
    );
}

#[test]
fn a_tcp_entry_in_kumas_default_tcp_format() {
    let format = Format::parse(
        "[%START_TIME%] %RESPONSE_FLAGS% default 10.0.0.2(web)->%UPSTREAM_HOST%(backend) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes\n",
    );
    assert_eq!(
        format.tcp(&tcp()),
        "[2021-03-04T05:06:07.089Z] - default 10.0.0.2(web)->10.0.0.3:8080(backend) took 42ms, sent 9 bytes, received: 7 bytes\n"
    );
    // HTTP commands have no value in a TCP entry.
    assert_eq!(
        Format::parse("%REQ(:METHOD)% %PROTOCOL% %RESPONSE_CODE% %RESP(SERVER)%").tcp(&tcp()),
        "- - - -\n"
    );
}

#[test]
fn headers_alternatives_and_limits() {
    let line = Format::parse(
        "%REQ(X-Probe)% %REQ(X-MISSING?X-PROBE)% %REQ(X-MISSING)% %REQ(:PATH):7% %REQ(HOST)% %REQ(:SCHEME)% %RESP(SERVER):3% %RESP(X-A?X-B)% %TRAILER(GRPC-STATUS)%",
    )
    .http(&http());
    assert_eq!(line, "counted counted - /orders backend http env - -\n");
}

#[test]
fn addresses_durations_and_names() {
    let mut entry = http();
    let common = entry.common_properties.as_mut().unwrap();
    common.upstream_transport_failure_reason = "TLS error".into();
    common.route_name = "default".into();
    common.tls_properties = Some(TlsProperties {
        tls_version: TlsVersion::TlSv13 as i32,
        tls_sni_hostname: "backend.mesh".into(),
        peer_certificate_properties: Some(CertificateProperties {
            subject_alt_name: vec![
                SubjectAltName {
                    san: Some(San::Uri("spiffe://default/web".into())),
                },
                SubjectAltName {
                    san: Some(San::Dns("web.mesh".into())),
                },
            ],
            subject: "CN=web".into(),
            issuer: "CN=default".into(),
        }),
        local_certificate_properties: Some(CertificateProperties {
            subject_alt_name: vec![SubjectAltName {
                san: Some(San::Uri("spiffe://default/backend".into())),
            }],
            ..Default::default()
        }),
        ..Default::default()
    });
    let line = Format::parse(
        "%DOWNSTREAM_REMOTE_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS% %DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT% %UPSTREAM_LOCAL_ADDRESS% %UPSTREAM_CLUSTER%",
    )
    .http(&entry);
    assert_eq!(
        line,
        "10.0.0.1:40000 10.0.0.1 10.0.0.2:10001 10.0.0.2 [::1]:40001 ::1 10.0.0.2:50000 backend\n"
    );
    let line = Format::parse(
        "%DURATION% %REQUEST_DURATION% %RESPONSE_DURATION% %RESPONSE_TX_DURATION% %UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    )
    .http(&entry);
    assert_eq!(line, "42 2 30 11 1\n");
    let line = Format::parse(
        "%REQUESTED_SERVER_NAME% %ROUTE_NAME% %UPSTREAM_TRANSPORT_FAILURE_REASON% %DOWNSTREAM_TLS_VERSION% %DOWNSTREAM_PEER_URI_SAN% %DOWNSTREAM_PEER_DNS_SAN% %DOWNSTREAM_LOCAL_URI_SAN% %DOWNSTREAM_PEER_SUBJECT% %DOWNSTREAM_PEER_ISSUER% %DOWNSTREAM_LOCAL_SUBJECT%",
    )
    .http(&entry);
    assert_eq!(
        line,
        "backend.mesh default TLS error TLSv1.3 spiffe://default/web web.mesh spiffe://default/backend CN=web CN=default -\n"
    );
    // Without TLS, a Unix socket, no durations.
    let bare = HttpAccessLogEntry {
        common_properties: Some(AccessLogCommon {
            downstream_remote_address: Some(Address {
                address: Some(address::Address::Pipe(Pipe {
                    path: "/run/app.sock".into(),
                    mode: 0,
                })),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        Format::parse("%DOWNSTREAM_REMOTE_ADDRESS% %REQUESTED_SERVER_NAME% %DURATION% %DOWNSTREAM_PEER_URI_SAN% %RESPONSE_FLAGS% %START_TIME% %BYTES_SENT%")
            .http(&bare),
        "/run/app.sock - - - - - 0\n"
    );
}

#[test]
fn unknown_commands_and_stray_percents() {
    assert_eq!(
        Format::parse("%KUMA_MESH% %DYNAMIC_METADATA(a:b)% 100%").http(&http()),
        "- - 100%\n"
    );
    // No newline is doubled, none is missing.
    assert_eq!(Format::parse("a").http(&http()), "a\n");
    assert_eq!(Format::parse("a\n").http(&http()), "a\n");
    assert_eq!(Format::parse("").http(&http()), "\n");
}

#[test]
fn start_time_patterns() {
    let render = |pattern: &str| {
        Format::parse(&format!("%START_TIME({pattern})%"))
            .http(&http())
            .trim_end()
            .to_string()
    };
    assert_eq!(render("%Y/%m/%d %H:%M:%S"), "2021/03/04 05:06:07");
    assert_eq!(render("%s"), "1614834367");
    assert_eq!(
        render("%E3S|%E6S|%3f|%9f|%f"),
        "07.089|07.089123|089|089123456|089123456"
    );
    assert_eq!(render("100%% %d"), "100% 04");
    // chrono refuses it: no value rather than a broken line.
    assert_eq!(render("%Q"), "-");
}
