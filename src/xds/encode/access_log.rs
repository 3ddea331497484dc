//! [`AccessLog`] → `envoy.config.accesslog.v3.AccessLog` (xDS §3.6): a file logger, or Envoy's
//! gRPC access-log service on `access_log_sink` (HTTP entries from a connection manager, TCP
//! entries from a TCP proxy: the agent formats both).

use envoy_types::pb::envoy::config::accesslog::v3 as accesslog;
use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::extensions::access_loggers::file::v3 as file;
use envoy_types::pb::envoy::extensions::access_loggers::grpc::v3 as grpc;
use envoy_types::pb::google::protobuf::Any;
use envoy_types::util::pack_any;
use ursa_actors::xds::model::{AccessLog, ACCESS_LOG_SINK};

/// Canonical name of the file access logger.
pub const FILE: &str = "envoy.access_loggers.file";
/// Canonical name of the HTTP gRPC access logger.
pub const HTTP_GRPC: &str = "envoy.access_loggers.http_grpc";
/// Canonical name of the TCP gRPC access logger.
pub const TCP_GRPC: &str = "envoy.access_loggers.tcp_grpc";

/// Which entries a logger sees: a connection manager's requests or a TCP proxy's connections.
#[derive(Clone, Copy)]
pub enum Entries {
    /// HTTP requests.
    Http,
    /// TCP connections.
    Tcp,
}

/// The v3 access logs of `logs`, for entries of kind `entries`.
pub fn access_logs(logs: &[AccessLog], entries: Entries) -> Vec<accesslog::AccessLog> {
    logs.iter().map(|l| access_log(l, entries)).collect()
}

fn access_log(log: &AccessLog, entries: Entries) -> accesslog::AccessLog {
    let (name, config): (&str, Any) = match log {
        AccessLog::File { path, format } => (FILE, pack_any(file_log(path, format))),
        AccessLog::Grpc {
            log_name,
            request_headers,
            response_headers,
        } => {
            let common = Some(grpc::CommonGrpcAccessLogConfig {
                log_name: log_name.clone(),
                grpc_service: Some(core::GrpcService {
                    target_specifier: Some(core::grpc_service::TargetSpecifier::EnvoyGrpc(
                        core::grpc_service::EnvoyGrpc {
                            cluster_name: ACCESS_LOG_SINK.to_string(),
                            ..Default::default()
                        },
                    )),
                    ..Default::default()
                }),
                transport_api_version: core::ApiVersion::V3 as i32,
                ..Default::default()
            });
            match entries {
                Entries::Http => (
                    HTTP_GRPC,
                    pack_any(grpc::HttpGrpcAccessLogConfig {
                        common_config: common,
                        additional_request_headers_to_log: request_headers.clone(),
                        additional_response_headers_to_log: response_headers.clone(),
                        ..Default::default()
                    }),
                ),
                Entries::Tcp => (
                    TCP_GRPC,
                    pack_any(grpc::TcpGrpcAccessLogConfig {
                        common_config: common,
                    }),
                ),
            }
        }
    };
    accesslog::AccessLog {
        name: name.to_string(),
        filter: None,
        config_type: Some(accesslog::access_log::ConfigType::TypedConfig(config)),
    }
}

/// `log_format.text_format_source`, not the deprecated `format` (xDS §6.3).
fn file_log(path: &str, format: &str) -> file::FileAccessLog {
    use core::substitution_format_string::Format;
    file::FileAccessLog {
        path: path.to_string(),
        access_log_format: Some(file::file_access_log::AccessLogFormat::LogFormat(
            core::SubstitutionFormatString {
                format: Some(Format::TextFormatSource(core::DataSource {
                    specifier: Some(core::data_source::Specifier::InlineString(
                        format.to_string(),
                    )),
                    ..Default::default()
                })),
                ..Default::default()
            },
        )),
    }
}
