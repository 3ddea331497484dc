//! TLS to PostgreSQL through rustls and its `ring` provider, per `store.postgres.tls.mode`:
//! `disable` (plain TCP), `verifyNone` (encrypted, any certificate accepted), `verifyCa` (the
//! chain must lead to `caPath`, the host name is not checked) and `verifyFull` (chain and host
//! name). A client certificate is presented when `certPath` and `keyPath` are set.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{PostgresTlsConfig, TlsMode};
use crate::store::StoreError;

/// The connector for every connection of a store, and whether the driver uses it at all.
pub(super) fn connector(
    tls: &PostgresTlsConfig,
) -> Result<(SslMode, MakeRustlsConnect), StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS: {e}")))?;
    let (mode, builder) = match tls.mode {
        // Never used for a handshake: the driver is told not to negotiate TLS.
        TlsMode::Disable => (
            SslMode::Disable,
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostCheck {
                    roots: None,
                    provider,
                })),
        ),
        TlsMode::VerifyNone => (
            SslMode::Require,
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostCheck {
                    roots: None,
                    provider,
                })),
        ),
        TlsMode::VerifyCa => (
            SslMode::Require,
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoHostCheck {
                    roots: Some(Arc::new(roots(tls)?)),
                    provider,
                })),
        ),
        TlsMode::VerifyFull => (
            SslMode::Require,
            builder.with_root_certificates(roots(tls)?),
        ),
    };
    let config = match (tls.cert_path.is_empty(), tls.key_path.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => {
            let certs = CertificateDer::pem_file_iter(&tls.cert_path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    config_error(format!(
                        "store.postgres.tls.certPath {}: {e}",
                        tls.cert_path
                    ))
                })?;
            let key = PrivateKeyDer::from_pem_file(&tls.key_path).map_err(|e| {
                config_error(format!("store.postgres.tls.keyPath {}: {e}", tls.key_path))
            })?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| config_error(format!("store.postgres.tls client certificate: {e}")))?
        }
        _ => {
            return Err(config_error(
                "store.postgres.tls.certPath and keyPath must be set together".to_owned(),
            ))
        }
    };
    Ok((mode, MakeRustlsConnect::new(config)))
}

fn config_error(message: String) -> StoreError {
    StoreError::Internal(message)
}

/// The trust anchors of `caPath` (required to verify).
fn roots(tls: &PostgresTlsConfig) -> Result<RootCertStore, StoreError> {
    if tls.ca_path.is_empty() {
        return Err(config_error(
            "store.postgres.tls.caPath is required for TLS modes verifyCa and verifyFull"
                .to_owned(),
        ));
    }
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(&tls.ca_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| config_error(format!("store.postgres.tls.caPath {}: {e}", tls.ca_path)))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| config_error(format!("store.postgres.tls.caPath {}: {e}", tls.ca_path)))?;
    }
    if roots.is_empty() {
        return Err(config_error(format!(
            "store.postgres.tls.caPath {}: no certificate found",
            tls.ca_path
        )));
    }
    Ok(roots)
}

/// `verifyNone` (`roots: None`): any server certificate; `verifyCa` (`roots: Some`): the
/// certificate must chain to a trust anchor of `caPath` and be valid now. Neither checks the
/// host name; both still check the handshake signatures, so the session is encrypted to
/// whoever holds the presented key.
#[derive(Debug)]
struct NoHostCheck {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoHostCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = rustls::server::ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.provider.signature_verification_algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
