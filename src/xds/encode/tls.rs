//! mTLS transport sockets (xDS §3.3, X6): a listener's `DownstreamTlsContext` and a cluster's
//! `UpstreamTlsContext`, both presenting `identity_cert` and trusting `mesh_ca`, delivered
//! over ADS; a cluster also requires the server's URI SAN.

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use envoy_types::pb::envoy::r#type::matcher::v3::{string_matcher::MatchPattern, StringMatcher};
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::util::pack_any;
use ursa_actors::xds::model::{DownstreamTls, UpstreamTls, IDENTITY_CERT, MESH_CA};

use super::ads;

/// Canonical name of the TLS transport socket.
pub const TLS: &str = "envoy.transport_sockets.tls";

/// A listener's transport socket.
pub fn downstream(t: &DownstreamTls) -> core::TransportSocket {
    socket(pack_any(tls::DownstreamTlsContext {
        common_tls_context: Some(common(None)),
        require_client_certificate: Some(BoolValue {
            value: t.require_client_certificate,
        }),
        ..Default::default()
    }))
}

/// A cluster's transport socket.
pub fn upstream(t: &UpstreamTls) -> core::TransportSocket {
    socket(pack_any(tls::UpstreamTlsContext {
        common_tls_context: Some(common(Some(&t.verify_san))),
        ..Default::default()
    }))
}

fn socket(config: envoy_types::pb::google::protobuf::Any) -> core::TransportSocket {
    core::TransportSocket {
        name: TLS.to_string(),
        config_type: Some(core::transport_socket::ConfigType::TypedConfig(config)),
    }
}

fn sds(name: &str) -> tls::SdsSecretConfig {
    tls::SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ads()),
    }
}

/// The identity and the mesh CA by SDS; with `verify_san`, the peer must also present that
/// URI SAN (the SDS validation context combined with the matcher).
fn common(verify_san: Option<&str>) -> tls::CommonTlsContext {
    use tls::common_tls_context::{CombinedCertificateValidationContext, ValidationContextType};
    let validation = match verify_san {
        None => ValidationContextType::ValidationContextSdsSecretConfig(sds(MESH_CA)),
        Some(san) => {
            ValidationContextType::CombinedValidationContext(CombinedCertificateValidationContext {
                default_validation_context: Some(tls::CertificateValidationContext {
                    match_typed_subject_alt_names: vec![tls::SubjectAltNameMatcher {
                        san_type: tls::subject_alt_name_matcher::SanType::Uri as i32,
                        matcher: Some(StringMatcher {
                            match_pattern: Some(MatchPattern::Exact(san.to_string())),
                            ignore_case: false,
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                validation_context_sds_secret_config: Some(sds(MESH_CA)),
                ..Default::default()
            })
        }
    };
    tls::CommonTlsContext {
        tls_certificate_sds_secret_configs: vec![sds(IDENTITY_CERT)],
        validation_context_type: Some(validation),
        ..Default::default()
    }
}
