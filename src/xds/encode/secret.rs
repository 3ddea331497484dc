//! [`Secret`] → `envoy.extensions.transport_sockets.tls.v3.Secret` (SDS over ADS, X6):
//! `identity_cert` as a TLS certificate, `mesh_ca` as a validation context, both inline.

use envoy_types::pb::envoy::config::core::v3 as core;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use ursa_actors::xds::model::{Secret, SecretContent};

/// The v3 Secret of `s`.
pub fn secret(s: &Secret) -> tls::Secret {
    let content = match &s.content {
        SecretContent::TlsCertificate {
            certificate_chain,
            private_key,
        } => tls::secret::Type::TlsCertificate(tls::TlsCertificate {
            certificate_chain: Some(inline(certificate_chain)),
            private_key: Some(inline(private_key)),
            ..Default::default()
        }),
        SecretContent::ValidationContext { trusted_ca } => {
            tls::secret::Type::ValidationContext(tls::CertificateValidationContext {
                trusted_ca: Some(inline(trusted_ca)),
                ..Default::default()
            })
        }
    };
    tls::Secret {
        name: s.name.clone(),
        r#type: Some(content),
    }
}

/// Text carried in the configuration itself.
pub(crate) fn inline(text: &str) -> core::DataSource {
    core::DataSource {
        specifier: Some(core::data_source::Specifier::InlineString(text.to_string())),
        ..Default::default()
    }
}
