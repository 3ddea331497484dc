//! ADS over TLS (X11): the xDS server's certificate, configured (`xdsServer.tlsCertFile`,
//! `tlsKeyFile`) or, when none is, a self-signed one generated at start for the host Envoy
//! dials (`bootstrapServer.params.xdsHost`) and `localhost`, as Kuma does for its SDS server.
//! The bootstrap tells Envoy to trust it ([`XdsTls::trusted_ca_pem`]), so the mTLS private keys
//! on the stream never cross the network in plaintext.
//!
//! Handshakes run one task each, bounded in time and in number, so a slow or hostile client
//! never holds up another's connection.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use ursa_actors::config::Config;
use ursa_actors::store::secrets::XDS_SELF_SIGNED;
use ursa_actors::store::Store;

use crate::http::server::{read_pem_pair, server_config, TlsError};

/// A handshake must complete within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes in progress at once; further connections wait in the listen backlog.
const MAX_HANDSHAKES: usize = 1024;

/// The xDS server's TLS.
pub struct XdsTls {
    /// What the server presents (ALPN `h2`).
    pub server_config: Arc<rustls::ServerConfig>,
    /// The certificates Envoy must trust (PEM): the configured chain, or the self-signed one.
    pub trusted_ca_pem: String,
}

impl XdsTls {
    /// From the effective configuration (after `auto_configure`, which sets the xDS host); a
    /// self-signed certificate is kept in `store`, so that instances sharing it and restarts
    /// present the one certificate the bootstraps already handed out trust.
    pub async fn load(config: &Config, store: &dyn Store) -> Result<XdsTls, TlsError> {
        let x = &config.xds_server;
        if !x.tls_cert_file.is_empty() || !x.tls_key_file.is_empty() {
            let (certs, key) = read_pem_pair(
                &x.tls_cert_file,
                &x.tls_key_file,
                "xdsServer.tlsCertFile",
                "xdsServer.tlsKeyFile",
            )?;
            let trusted_ca_pem =
                std::fs::read_to_string(&x.tls_cert_file).map_err(|e| TlsError::File {
                    key: "xdsServer.tlsCertFile",
                    path: x.tls_cert_file.clone(),
                    message: e.to_string(),
                })?;
            return Ok(XdsTls {
                server_config: server_config(certs, key, b"h2")?,
                trusted_ca_pem,
            });
        }
        let host = config.bootstrap_server.params.xds_host.clone();
        let (cert_pem, key_pem) = stored_self_signed(store, &host).await?;
        let certs = vec![rustls::pki_types::CertificateDer::from(
            ursa_actors::pki::pem_blocks(cert_pem.as_bytes())
                .remove(0)
                .der,
        )];
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            ursa_actors::pki::pem_blocks(key_pem.as_bytes())
                .remove(0)
                .der
                .into(),
        );
        tracing::info!(%host, "xDS server: generated a self-signed TLS certificate (xdsServer.tlsCertFile is empty)");
        Ok(XdsTls {
            server_config: server_config(certs, key, b"h2")?,
            trusted_ca_pem: cert_pem,
        })
    }
}

/// The self-signed certificate and key (PEM) for `host` kept in `store`, made the first time.
async fn stored_self_signed(store: &dyn Store, host: &str) -> Result<(String, String), TlsError> {
    // Made before asking (an ECDSA key takes microseconds), so a failure is reported rather
    // than stored; the store keeps the first one made, and this one is dropped if it has one.
    let fresh = self_signed(host).map_err(TlsError::Config)?;
    let fresh = serde_json::to_vec(&fresh).unwrap_or_default();
    let bytes = store
        .get_or_create_secret(&format!("{XDS_SELF_SIGNED}{host}"), Box::new(move || fresh))
        .await
        .map_err(|e| TlsError::Config(format!("the self-signed certificate's store: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TlsError::Config(format!("the stored self-signed certificate: {e}")))
}

/// A self-signed certificate and its key (PEM) for `host`, `localhost`, 127.0.0.1 and ::1.
pub fn self_signed(host: &str) -> Result<(String, String), String> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, host);
    params.distinguished_name = name;
    let mut sans = Vec::new();
    let mut add = |san: SanType| {
        if !sans.contains(&san) {
            sans.push(san);
        }
    };
    for h in [host, "localhost"] {
        match h.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => add(SanType::IpAddress(ip)),
            Err(_) => add(SanType::DnsName(
                h.try_into()
                    .map_err(|e| format!("{h:?} is no DNS name: {e}"))?,
            )),
        }
    }
    add(SanType::IpAddress(IpAddr::from([127, 0, 0, 1])));
    add(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = chrono::Utc::now();
    params.not_before = time::OffsetDateTime::from_unix_timestamp(now.timestamp() - 60)
        .map_err(|e| e.to_string())?;
    params.not_after =
        time::OffsetDateTime::from_unix_timestamp(now.timestamp() + 10 * 365 * 24 * 3600)
            .map_err(|e| e.to_string())?;
    let cert = params.self_signed(&key).map_err(|e| e.to_string())?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// One accepted TLS connection, as tonic serves it.
pub struct TlsConnection(TlsStream<TcpStream>);

impl Connected for TlsConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.0.get_ref().0.connect_info()
    }
}

impl AsyncRead for TlsConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The TLS connections of `listener`: accepted here, each handshake on its own task.
pub fn incoming(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> tokio_stream::wrappers::ReceiverStream<Result<TlsConnection, std::io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let Ok(permit) = handshakes.clone().acquire_owned().await else {
                return;
            };
            let (tcp, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::debug!(error = %e, "xDS server: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, sender) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Ok(TlsConnection(tls))).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "xDS server: TLS handshake failed")
                    }
                    Err(_) => tracing::debug!(%peer, "xDS server: TLS handshake timed out"),
                }
            });
            if tx.is_closed() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_self_signed_certificate_names_the_host_and_loopback() {
        use x509_parser::extensions::GeneralName;
        use x509_parser::prelude::{FromDer, X509Certificate};
        let (cert, key) = self_signed("cp.example").unwrap();
        assert!(key.contains("PRIVATE KEY"));
        let der = ursa_actors::pki::pem_blocks(cert.as_bytes()).remove(0).der;
        let (_, parsed) = X509Certificate::from_der(&der).unwrap();
        let names: Vec<String> = parsed
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("ip:{}", ip.len()),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(names, ["cp.example", "localhost", "ip:4", "ip:16"]);
        let (ip_cert, _) = self_signed("127.0.0.1").unwrap();
        assert!(!ip_cert.is_empty());
    }
}
