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
use ursa_wire::log_format::{tokenize, Operator, Token};

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
                Ok(Token::Operator(op)) => Piece::Operator {
                    command: Command::parse(&op),
                    limit: op.limit.and_then(|l| l.parse().ok()),
                },
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

/// A header operator's name and alternative (`X?Y`), lower-cased as Envoy's header maps are.
fn headers(op: &Operator<'_>) -> (String, Option<String>) {
    let mut names = op.headers().map(str::to_ascii_lowercase);
    (names.next().unwrap_or_default(), names.next())
}

impl Command {
    fn parse(op: &Operator<'_>) -> Command {
        let args = op.args.unwrap_or("");
        use CertificateField::*;
        let certificate = |peer, field| Command::Certificate { peer, field };
        match op.command {
            "START_TIME" if args.is_empty() => Command::StartTime(DEFAULT_START_TIME.to_string()),
            "START_TIME" => Command::StartTime(args.to_string()),
            "REQ" => {
                let (h, alt) = headers(op);
                Command::Request(h, alt)
            }
            "RESP" => {
                let (h, alt) = headers(op);
                Command::Response(h, alt)
            }
            "TRAILER" => {
                let (h, alt) = headers(op);
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
            "DOWNSTREAM_PEER_URI_SAN" => certificate(true, UriSan),
            "DOWNSTREAM_LOCAL_URI_SAN" => certificate(false, UriSan),
            "DOWNSTREAM_PEER_DNS_SAN" => certificate(true, DnsSan),
            "DOWNSTREAM_LOCAL_DNS_SAN" => certificate(false, DnsSan),
            "DOWNSTREAM_PEER_SUBJECT" => certificate(true, Subject),
            "DOWNSTREAM_LOCAL_SUBJECT" => certificate(false, Subject),
            "DOWNSTREAM_PEER_ISSUER" => certificate(true, Issuer),
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
mod tests;
