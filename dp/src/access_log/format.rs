//! Renders the entries of Envoy's gRPC access-log service (an HTTP request, a TCP connection)
//! in an Envoy format string, one line each, as kuma-dp does for a `tcp` logging backend
//! (xDS §3.6): the same commands Envoy's own text logger knows, read from the entry's fields
//! instead of Envoy's memory. A value that is empty or absent renders as `-`.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::format::{Item, StrftimeItems};
use chrono::DateTime;
use envoy_types::pb::envoy::config::core::v3::{address, socket_address, Address, RequestMethod};
use envoy_types::pb::envoy::data::accesslog::v3::http_access_log_entry::HttpVersion;
use envoy_types::pb::envoy::data::accesslog::v3::tls_properties::certificate_properties::subject_alt_name::San;
use envoy_types::pb::envoy::data::accesslog::v3::tls_properties::{
    CertificateProperties, TlsVersion,
};
use envoy_types::pb::envoy::data::accesslog::v3::{
    AccessLogCommon, HttpAccessLogEntry, HttpRequestProperties, ResponseFlags, TcpAccessLogEntry,
};
use envoy_types::pb::google::protobuf::{Duration, Timestamp};
use ursa_wire::log_format::{tokenize, Token};

/// Envoy's default `%START_TIME%` rendering (UTC, milliseconds).
const DEFAULT_START_TIME: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";

/// A format string, tokenized once for all the entries of a stream.
#[derive(Debug)]
pub struct Format {
    pieces: Vec<Piece>,
}

#[derive(Debug)]
enum Piece {
    Text(String),
    Operator {
        command: Command,
        /// At most this many characters of the value (`:Z`).
        limit: Option<usize>,
    },
}

/// The commands rendered; any other renders `-`.
#[derive(Debug)]
enum Command {
    /// The strftime pattern, in Envoy's dialect (see [`with_fractions`]).
    StartTime(String),
    /// A request header, then its alternative (lower-case).
    Request(String, Option<String>),
    /// A response header, then its alternative.
    Response(String, Option<String>),
    /// A response trailer, then its alternative.
    Trailer(String, Option<String>),
    Protocol,
    ResponseCode,
    ResponseCodeDetails,
    ResponseFlags,
    BytesReceived,
    BytesSent,
    Duration,
    RequestDuration,
    ResponseDuration,
    ResponseTxDuration,
    UpstreamHost,
    UpstreamCluster,
    UpstreamLocalAddress,
    UpstreamTransportFailureReason,
    UpstreamRequestAttemptCount,
    DownstreamRemoteAddress {
        port: bool,
    },
    DownstreamLocalAddress {
        port: bool,
    },
    DownstreamDirectRemoteAddress {
        port: bool,
    },
    RequestedServerName,
    RouteName,
    ConnectionTerminationDetails,
    StreamId,
    DownstreamTlsVersion,
    DownstreamTlsSessionId,
    Certificate {
        peer: bool,
        field: CertificateField,
    },
    Unknown,
}

#[derive(Clone, Copy, Debug)]
enum CertificateField {
    UriSan,
    DnsSan,
    Subject,
    Issuer,
}

/// The entry being rendered.
#[derive(Clone, Copy)]
enum Entry<'e> {
    Http(&'e HttpAccessLogEntry),
    Tcp(&'e TcpAccessLogEntry),
}

impl Format {
    /// Tokenizes `format`; one trailing newline is dropped, since every line gets exactly one.
    /// A `%` that starts no operator, which the control plane never sends, is kept as text.
    pub fn parse(format: &str) -> Format {
        let format = format.strip_suffix('\n').unwrap_or(format);
        let pieces = tokenize(format)
            .map(|token| match token {
                Ok(Token::Text(text)) => Piece::Text(text.to_string()),
                Ok(Token::Operator(op)) => {
                    let args = op.args.unwrap_or("");
                    Piece::Operator {
                        command: Command::parse(op.command, args),
                        limit: op.limit.and_then(|l| l.parse().ok()),
                    }
                }
                Err(stray) => Piece::Text(stray.rest.to_string()),
            })
            .collect();
        Format { pieces }
    }

    /// The line of an HTTP request, `\n` included.
    pub fn http(&self, entry: &HttpAccessLogEntry) -> String {
        self.render(Entry::Http(entry))
    }

    /// The line of a TCP connection, `\n` included.
    pub fn tcp(&self, entry: &TcpAccessLogEntry) -> String {
        self.render(Entry::Tcp(entry))
    }

    fn render(&self, entry: Entry<'_>) -> String {
        let mut line = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => line.push_str(text),
                Piece::Operator { command, limit } => match command.value(entry) {
                    Some(value) if !value.is_empty() => match limit {
                        Some(limit) => line.extend(value.chars().take(*limit)),
                        None => line.push_str(&value),
                    },
                    _ => line.push('-'),
                },
            }
        }
        line.push('\n');
        line
    }
}

/// Splits `X?Y` header arguments, lower-cased as Envoy's header maps are.
fn headers(args: &str) -> (String, Option<String>) {
    let mut names = args.split('?').map(str::to_ascii_lowercase);
    (names.next().unwrap_or_default(), names.next())
}

impl Command {
    fn parse(command: &str, args: &str) -> Command {
        use CertificateField::*;
        match command {
            "START_TIME" if args.is_empty() => Command::StartTime(DEFAULT_START_TIME.to_string()),
            "START_TIME" => Command::StartTime(args.to_string()),
            "REQ" => {
                let (h, alt) = headers(args);
                Command::Request(h, alt)
            }
            "RESP" => {
                let (h, alt) = headers(args);
                Command::Response(h, alt)
            }
            "TRAILER" => {
                let (h, alt) = headers(args);
                Command::Trailer(h, alt)
            }
            "PROTOCOL" => Command::Protocol,
            "RESPONSE_CODE" => Command::ResponseCode,
            "RESPONSE_CODE_DETAILS" => Command::ResponseCodeDetails,
            "RESPONSE_FLAGS" => Command::ResponseFlags,
            "BYTES_RECEIVED" => Command::BytesReceived,
            "BYTES_SENT" => Command::BytesSent,
            "DURATION" => Command::Duration,
            "REQUEST_DURATION" => Command::RequestDuration,
            "RESPONSE_DURATION" => Command::ResponseDuration,
            "RESPONSE_TX_DURATION" => Command::ResponseTxDuration,
            "UPSTREAM_HOST" | "UPSTREAM_REMOTE_ADDRESS" => Command::UpstreamHost,
            "UPSTREAM_CLUSTER" => Command::UpstreamCluster,
            "UPSTREAM_LOCAL_ADDRESS" => Command::UpstreamLocalAddress,
            "UPSTREAM_TRANSPORT_FAILURE_REASON" => Command::UpstreamTransportFailureReason,
            "UPSTREAM_REQUEST_ATTEMPT_COUNT" => Command::UpstreamRequestAttemptCount,
            "DOWNSTREAM_REMOTE_ADDRESS" => Command::DownstreamRemoteAddress { port: true },
            "DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT" => {
                Command::DownstreamRemoteAddress { port: false }
            }
            "DOWNSTREAM_LOCAL_ADDRESS" => Command::DownstreamLocalAddress { port: true },
            "DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT" => {
                Command::DownstreamLocalAddress { port: false }
            }
            "DOWNSTREAM_DIRECT_REMOTE_ADDRESS" => {
                Command::DownstreamDirectRemoteAddress { port: true }
            }
            "DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT" => {
                Command::DownstreamDirectRemoteAddress { port: false }
            }
            "REQUESTED_SERVER_NAME" => Command::RequestedServerName,
            "ROUTE_NAME" => Command::RouteName,
            "CONNECTION_TERMINATION_DETAILS" => Command::ConnectionTerminationDetails,
            "STREAM_ID" => Command::StreamId,
            "DOWNSTREAM_TLS_VERSION" => Command::DownstreamTlsVersion,
            "DOWNSTREAM_TLS_SESSION_ID" => Command::DownstreamTlsSessionId,
            "DOWNSTREAM_PEER_URI_SAN" => Command::Certificate {
                peer: true,
                field: UriSan,
            },
            "DOWNSTREAM_LOCAL_URI_SAN" => Command::Certificate {
                peer: false,
                field: UriSan,
            },
            "DOWNSTREAM_PEER_DNS_SAN" => Command::Certificate {
                peer: true,
                field: DnsSan,
            },
            "DOWNSTREAM_LOCAL_DNS_SAN" => Command::Certificate {
                peer: false,
                field: DnsSan,
            },
            "DOWNSTREAM_PEER_SUBJECT" => Command::Certificate {
                peer: true,
                field: Subject,
            },
            "DOWNSTREAM_LOCAL_SUBJECT" => Command::Certificate {
                peer: false,
                field: Subject,
            },
            "DOWNSTREAM_PEER_ISSUER" => Command::Certificate {
                peer: true,
                field: Issuer,
            },
            _ => Command::Unknown,
        }
    }

    /// The value in `entry`; `None` (or empty) renders as `-`.
    fn value<'e>(&self, entry: Entry<'e>) -> Option<Cow<'e, str>> {
        let common = entry.common();
        let http = match entry {
            Entry::Http(h) => Some(h),
            Entry::Tcp(_) => None,
        };
        let request = http.and_then(|h| h.request.as_ref());
        let response = http.and_then(|h| h.response.as_ref());
        let text = |s: &'e String| Some(Cow::Borrowed(s.as_str()));
        match self {
            Command::StartTime(pattern) => start_time(common?.start_time.as_ref()?, pattern),
            Command::Request(h, alt) => {
                let request = request?;
                request_header(request, h).or_else(|| request_header(request, alt.as_ref()?))
            }
            Command::Response(h, alt) => header(&response?.response_headers, h, alt.as_deref()),
            Command::Trailer(h, alt) => header(&response?.response_trailers, h, alt.as_deref()),
            Command::Protocol => match HttpVersion::try_from(http?.protocol_version).ok()? {
                HttpVersion::Http10 => Some("HTTP/1.0".into()),
                HttpVersion::Http11 => Some("HTTP/1.1".into()),
                HttpVersion::Http2 => Some("HTTP/2".into()),
                HttpVersion::Http3 => Some("HTTP/3".into()),
                HttpVersion::ProtocolUnspecified => None,
            },
            Command::ResponseCode => Some(response?.response_code?.value.to_string().into()),
            Command::ResponseCodeDetails => text(&response?.response_code_details),
            Command::ResponseFlags => common?.response_flags.as_ref().map(flags),
            Command::BytesReceived => Some(
                match entry {
                    Entry::Http(h) => h.request.as_ref().map_or(0, |r| r.request_body_bytes),
                    Entry::Tcp(t) => t.connection_properties.map_or(0, |c| c.received_bytes),
                }
                .to_string()
                .into(),
            ),
            Command::BytesSent => Some(
                match entry {
                    Entry::Http(h) => h.response.as_ref().map_or(0, |r| r.response_body_bytes),
                    Entry::Tcp(t) => t.connection_properties.map_or(0, |c| c.sent_bytes),
                }
                .to_string()
                .into(),
            ),
            Command::Duration => {
                let common = common?;
                let total = common
                    .duration
                    .as_ref()
                    .or(common.time_to_last_downstream_tx_byte.as_ref());
                millis(total?)
            }
            Command::RequestDuration => millis(common?.time_to_last_rx_byte.as_ref()?),
            Command::ResponseDuration => millis(common?.time_to_first_upstream_rx_byte.as_ref()?),
            Command::ResponseTxDuration => {
                let common = common?;
                let first = nanos(common.time_to_first_upstream_rx_byte.as_ref()?);
                let last = nanos(common.time_to_last_downstream_tx_byte.as_ref()?);
                Some(((last - first).max(0) / 1_000_000).to_string().into())
            }
            Command::UpstreamHost => socket(common?.upstream_remote_address.as_ref()?, true),
            Command::UpstreamCluster => text(&common?.upstream_cluster),
            Command::UpstreamLocalAddress => socket(common?.upstream_local_address.as_ref()?, true),
            Command::UpstreamTransportFailureReason => {
                text(&common?.upstream_transport_failure_reason)
            }
            Command::UpstreamRequestAttemptCount => {
                Some(common?.upstream_request_attempt_count.to_string().into())
            }
            Command::DownstreamRemoteAddress { port } => {
                socket(common?.downstream_remote_address.as_ref()?, *port)
            }
            Command::DownstreamLocalAddress { port } => {
                socket(common?.downstream_local_address.as_ref()?, *port)
            }
            Command::DownstreamDirectRemoteAddress { port } => {
                socket(common?.downstream_direct_remote_address.as_ref()?, *port)
            }
            Command::RequestedServerName => {
                text(&common?.tls_properties.as_ref()?.tls_sni_hostname)
            }
            Command::RouteName => text(&common?.route_name),
            Command::ConnectionTerminationDetails => text(&common?.connection_termination_details),
            Command::StreamId => text(&common?.stream_id),
            Command::DownstreamTlsVersion => {
                let version = common?.tls_properties.as_ref()?.tls_version;
                match TlsVersion::try_from(version).ok()? {
                    TlsVersion::TlSv1 => Some("TLSv1".into()),
                    TlsVersion::TlSv11 => Some("TLSv1.1".into()),
                    TlsVersion::TlSv12 => Some("TLSv1.2".into()),
                    TlsVersion::TlSv13 => Some("TLSv1.3".into()),
                    TlsVersion::VersionUnspecified => None,
                }
            }
            Command::DownstreamTlsSessionId => {
                text(&common?.tls_properties.as_ref()?.tls_session_id)
            }
            Command::Certificate { peer, field } => {
                let tls = common?.tls_properties.as_ref()?;
                let certificate = if *peer {
                    tls.peer_certificate_properties.as_ref()
                } else {
                    tls.local_certificate_properties.as_ref()
                };
                certificate_field(certificate?, *field)
            }
            Command::Unknown => None,
        }
    }
}

impl<'e> Entry<'e> {
    fn common(self) -> Option<&'e AccessLogCommon> {
        match self {
            Entry::Http(h) => h.common_properties.as_ref(),
            Entry::Tcp(t) => t.common_properties.as_ref(),
        }
    }
}

/// A request header: the request properties Envoy always sends stand for the headers they come
/// from (`:method`, `:path`, `host`…); other headers are in the map Envoy was told to fill.
fn request_header<'e>(request: &'e HttpRequestProperties, name: &str) -> Option<Cow<'e, str>> {
    let property = match name {
        ":method" => RequestMethod::try_from(request.request_method)
            .ok()
            .filter(|m| *m != RequestMethod::MethodUnspecified)
            .map(|m| m.as_str_name()),
        ":path" => Some(request.path.as_str()),
        ":authority" | "host" => Some(request.authority.as_str()),
        ":scheme" => Some(request.scheme.as_str()),
        "user-agent" => Some(request.user_agent.as_str()),
        "referer" => Some(request.referer.as_str()),
        "x-forwarded-for" => Some(request.forwarded_for.as_str()),
        "x-request-id" => Some(request.request_id.as_str()),
        "x-envoy-original-path" => Some(request.original_path.as_str()),
        _ => None,
    };
    property
        .filter(|p| !p.is_empty())
        .or_else(|| present(request.request_headers.get(name)))
        .map(Cow::Borrowed)
}

/// Header `name` of `map`, else its alternative.
fn header<'e>(
    map: &'e HashMap<String, String>,
    name: &str,
    alternative: Option<&str>,
) -> Option<Cow<'e, str>> {
    present(map.get(name))
        .or_else(|| present(map.get(alternative?)))
        .map(Cow::Borrowed)
}

fn present(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|v| !v.is_empty())
}

/// `ip:port` (`[ip]:port` for IPv6), or the IP alone; a Unix socket's path.
fn socket(address: &Address, with_port: bool) -> Option<Cow<'_, str>> {
    match address.address.as_ref()? {
        address::Address::SocketAddress(s) => {
            if !with_port {
                return Some(Cow::Borrowed(s.address.as_str()));
            }
            let port = match &s.port_specifier {
                Some(socket_address::PortSpecifier::PortValue(p)) => p.to_string(),
                Some(socket_address::PortSpecifier::NamedPort(p)) => p.clone(),
                None => "0".to_string(),
            };
            Some(if s.address.contains(':') {
                format!("[{}]:{port}", s.address).into()
            } else {
                format!("{}:{port}", s.address).into()
            })
        }
        address::Address::Pipe(p) => Some(Cow::Borrowed(p.path.as_str())),
        address::Address::EnvoyInternalAddress(_) => None,
    }
}

fn nanos(d: &Duration) -> i64 {
    d.seconds
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(d.nanos))
}

/// Whole milliseconds, as Envoy renders durations.
fn millis(d: &Duration) -> Option<Cow<'static, str>> {
    Some((nanos(d) / 1_000_000).to_string().into())
}

/// Envoy's short codes of the flags set, comma-separated, in Envoy's order.
fn flags(f: &ResponseFlags) -> Cow<'static, str> {
    let codes = [
        (f.failed_local_healthcheck, "LH"),
        (f.no_healthy_upstream, "UH"),
        (f.upstream_request_timeout, "UT"),
        (f.local_reset, "LR"),
        (f.upstream_remote_reset, "UR"),
        (f.upstream_connection_failure, "UF"),
        (f.upstream_connection_termination, "UC"),
        (f.upstream_overflow, "UO"),
        (f.no_route_found, "NR"),
        (f.delay_injected, "DI"),
        (f.fault_injected, "FI"),
        (f.rate_limited, "RL"),
        (f.unauthorized_details.is_some(), "UAEX"),
        (f.rate_limit_service_error, "RLSE"),
        (f.downstream_connection_termination, "DC"),
        (f.upstream_retry_limit_exceeded, "URX"),
        (f.stream_idle_timeout, "SI"),
        (f.invalid_envoy_request_headers, "IH"),
        (f.downstream_protocol_error, "DPE"),
        (f.upstream_max_stream_duration_reached, "UMSDR"),
        (f.response_from_cache_filter, "RFCF"),
        (f.no_filter_config_found, "NFCF"),
        (f.duration_timeout, "DT"),
        (f.upstream_protocol_error, "UPE"),
        (f.no_cluster_found, "NC"),
        (f.overload_manager, "OM"),
        (f.dns_resolution_failure, "DF"),
        (f.downstream_remote_reset, "DR"),
    ];
    let set: Vec<&str> = codes
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, code)| *code)
        .collect();
    set.join(",").into()
}

fn certificate_field(c: &CertificateProperties, field: CertificateField) -> Option<Cow<'_, str>> {
    let sans = |uri: bool| -> Cow<'_, str> {
        let names: Vec<&str> = c
            .subject_alt_name
            .iter()
            .filter_map(|san| match (&san.san, uri) {
                (Some(San::Uri(u)), true) | (Some(San::Dns(u)), false) => Some(u.as_str()),
                _ => None,
            })
            .collect();
        names.join(",").into()
    };
    Some(match field {
        CertificateField::UriSan => sans(true),
        CertificateField::DnsSan => sans(false),
        CertificateField::Subject => Cow::Borrowed(c.subject.as_str()),
        CertificateField::Issuer => Cow::Borrowed(c.issuer.as_str()),
    })
}

/// `%START_TIME(pattern)%` in UTC; an unusable pattern renders `-`.
fn start_time(at: &Timestamp, pattern: &str) -> Option<Cow<'static, str>> {
    use std::fmt::Write;
    let nanos = u32::try_from(at.nanos).ok()?;
    let time = DateTime::from_timestamp(at.seconds, nanos)?;
    // Envoy's fraction specifiers become digits before chrono sees the pattern.
    let pattern = with_fractions(pattern, nanos);
    let items: Vec<Item<'_>> = StrftimeItems::new(&pattern).parse().ok()?;
    let mut out = String::new();
    write!(out, "{}", time.format_with_items(items.iter())).ok()?;
    Some(out.into())
}

/// `pattern` in chrono's dialect: where Envoy's differs, `%E<n>S` (seconds with `n` digits of
/// fraction) and `%<n>f` (`n` digits of fraction), for `n` in 1..=9, are replaced by the digits
/// they stand for; the rest means the same in both (`%f` is nine digits in both).
fn with_fractions(pattern: &str, nanos: u32) -> String {
    let fraction = format!("{:09}", nanos % 1_000_000_000);
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            let next = pattern[i..].find('%').map_or(b.len(), |n| i + n);
            out.push_str(&pattern[i..next]);
            i = next;
            continue;
        }
        let digit = |at: usize| b.get(at).filter(|d| (b'1'..=b'9').contains(d));
        match (b.get(i + 1), b.get(i + 2), b.get(i + 3)) {
            (Some(b'%'), _, _) => {
                out.push_str("%%");
                i += 2;
            }
            (Some(b'E'), Some(_), Some(b'S')) if digit(i + 2).is_some() => {
                let n = usize::from(b[i + 2] - b'0');
                out.push_str("%S.");
                out.push_str(&fraction[..n]);
                i += 4;
            }
            (Some(_), Some(b'f'), _) if digit(i + 1).is_some() => {
                let n = usize::from(b[i + 1] - b'0');
                out.push_str(&fraction[..n]);
                i += 3;
            }
            _ => {
                out.push('%');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
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
}
