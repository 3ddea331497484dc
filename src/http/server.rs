//! Every HTTP server of the control plane is built here, on actix-server and actix-http with an
//! actix-web app on top, so that each connection passes through the [`Guarded`] reader and the
//! per-client cap before actix-http parses anything (actix-web's `HttpServer` has no hook for
//! wrapping the connection).

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_http::{HttpService, KeepAlive};
use actix_server::Server;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Service};
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, ResponseError};
use futures_util::future::{ready, Either};
use ursa_actors::config::HttpLimits;

use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::guard::{Guarded, Rejection, Timeouts, REJECTED_HEADER};
use super::limits::{ClientConnections, Permit, Throttle};
use crate::api::error::ApiError;

/// Grace after `readBodyTimeout` before the guard cuts a connection whose body never came (a
/// handler that reads the body answers 408 at the timeout itself; this covers the rest).
const BODY_GRACE: Duration = Duration::from_secs(1);

/// Warnings about refused connections, at most one per this interval and server.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// How one server runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Name in logs, e.g. `api`.
    pub name: &'static str,
    /// Worker threads.
    pub workers: usize,
    /// Limits from `limits.http`.
    pub limits: HttpLimits,
    /// Whether SIGINT/SIGTERM stop the server.
    pub handle_signals: bool,
    /// TLS for every listener (`None`: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServeOptions {
    /// A one-worker plain-HTTP server that ignores signals (bootstrap, diagnostics, admin).
    pub fn internal(name: &'static str, limits: &HttpLimits) -> ServeOptions {
        ServeOptions {
            name,
            workers: 1,
            limits: limits.clone(),
            handle_signals: false,
            tls: None,
        }
    }
}

/// The total connection cap `limits.http.maxConnections` means (0: a quarter of the file
/// descriptors the process may open, at least 64).
pub fn connection_cap(limits: &HttpLimits) -> usize {
    match limits.max_connections {
        0 => (super::fd_limit() / 4).max(64) as usize,
        n => n as usize,
    }
}

/// The actix-web app of `configure` on HTTP/1 over guarded connections of type `$io`.
macro_rules! h1 {
    ($io:ty, $configure:expr, $idle:expr, $addr:expr) => {{
        let configure = $configure.clone();
        let addr = $addr;
        let app = App::new()
            .wrap_fn(|req, srv| {
                let rejected = req
                    .headers()
                    .get(REJECTED_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(Rejection::from_code);
                match rejected {
                    Some(why) => {
                        let resp = ApiError::Rejected(why).error_response();
                        Either::Left(ready(Ok(req.into_response(resp))))
                    }
                    None => Either::Right(srv.call(req)),
                }
            })
            .configure(configure);
        let factory = app
            .into_factory()
            .map_err(|err: actix_web::Error| err.error_response().map_into_boxed_body());
        HttpService::build()
            .keep_alive(KeepAlive::Timeout($idle))
            // The guard times request heads (and answers in Kuma's error JSON).
            .client_request_timeout(Duration::ZERO)
            .client_disconnect_timeout(Duration::from_secs(1))
            .local_addr(addr)
            // Handlers that stream (watches) may cut their connection.
            .on_connect_ext(|io: &Guarded<$io>, ext: &mut actix_http::Extensions| {
                ext.insert(io.cutoff());
            })
            .h1(map_config(factory, move |_| {
                // Only URL generation reads the host, and the API builds its own links.
                AppConfig::__priv_test_new(false, addr.to_string(), addr)
            }))
    }};
}

/// Serves the app that `configure` builds on `listeners`, every connection guarded.
pub fn serve<F>(
    listeners: Vec<TcpListener>,
    options: &ServeOptions,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let limits = &options.limits;
    let workers = options.workers.max(1);
    let per_worker = connection_cap(limits).div_ceil(workers);
    let timeouts = Timeouts {
        header: limits.read_header_timeout.0,
        body: limits.read_body_timeout.0 + BODY_GRACE,
    };
    let idle = limits.idle_timeout.0;
    let clients = ClientConnections::new(limits.max_connections_per_client as usize);
    let refused = Arc::new(Throttle::new(WARN_EVERY));
    let name = options.name;
    let mut builder = Server::build()
        .workers(workers)
        .max_concurrent_connections(per_worker);
    if !options.handle_signals {
        builder = builder.disable_signals();
    }
    for listener in listeners {
        let addr = listener.local_addr()?;
        let configure = configure.clone();
        let clients = clients.clone();
        let refused = refused.clone();
        let listener_name = format!("{name}-{addr}");
        builder = match options.tls.clone() {
            None => builder.listen(listener_name, listener, move || {
                let h1 = h1!(TcpStream, configure, idle, addr);
                let clients = clients.clone();
                let refused = refused.clone();
                fn_service(move |stream: TcpStream| {
                    let peer = stream.peer_addr().ok();
                    let admitted = admission(peer, &clients, &refused, name);
                    let _ = stream.set_nodelay(true);
                    ready(Ok::<_, actix_http::error::DispatchError>((
                        guard(stream, admitted, timeouts),
                        peer,
                    )))
                })
                .and_then(h1)
            })?,
            Some(tls) => builder.listen(listener_name, listener, move || {
                let h1 = h1!(TlsStream<TcpStream>, configure, idle, addr);
                let clients = clients.clone();
                let refused = refused.clone();
                let acceptor = TlsAcceptor::from(tls.clone());
                fn_service(move |stream: TcpStream| {
                    let peer = stream.peer_addr().ok();
                    // Counted before the handshake: a flood of handshakes is a flood too.
                    let admitted = admission(peer, &clients, &refused, name);
                    let _ = stream.set_nodelay(true);
                    let accept = acceptor.accept(stream);
                    async move {
                        // The handshake is part of the head: it gets the header timeout.
                        match tokio::time::timeout(timeouts.header, accept).await {
                            Ok(Ok(tls)) => Ok((guard(tls, admitted, timeouts), peer)),
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "TLS handshake failed");
                                Err(actix_http::error::DispatchError::Io(e))
                            }
                            Err(_) => {
                                tracing::debug!("TLS handshake timed out");
                                Err(actix_http::error::DispatchError::SlowRequestTimeout)
                            }
                        }
                    }
                })
                .and_then(h1)
            })?,
        };
    }
    Ok(builder.run())
}

/// A connection's place under the per-client cap, or its refusal.
enum Admission {
    /// Admitted, holding this slot (none when nothing is counted).
    Admitted(Option<Permit>),
    /// The client holds its share already.
    Refused,
}

fn admission(
    peer: Option<SocketAddr>,
    clients: &Arc<ClientConnections>,
    refused: &Throttle,
    name: &str,
) -> Admission {
    let permit = match peer {
        Some(peer) => clients.acquire(peer.ip()),
        None => Ok(None),
    };
    match permit {
        Ok(permit) => Admission::Admitted(permit),
        Err(_) => {
            if let Some(suppressed) = refused.allow() {
                tracing::warn!(
                    server = name,
                    client = %peer.map(|p| p.ip().to_string()).unwrap_or_default(),
                    suppressed,
                    "refused a connection: the client holds limits.http.maxConnectionsPerClient connections already"
                );
            }
            Admission::Refused
        }
    }
}

/// The guarded connection: a refused one is answered 503 in the error JSON and closed, through
/// actix like any refusal.
fn guard<T>(io: T, admitted: Admission, timeouts: Timeouts) -> Guarded<T> {
    match admitted {
        Admission::Admitted(permit) => Guarded::new(io, timeouts, permit),
        Admission::Refused => Guarded::refused(io, Rejection::TooManyConnections),
    }
}

/// Why a TLS configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or holds no PEM of the right kind.
    #[error("{key}: {path}: {message}")]
    File {
        /// The configuration key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// rustls refused the pair (the key does not match the certificate, …).
    #[error("{0}")]
    Config(String),
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1 by ALPN) from PEM
/// files named by `cert_key` and `key_key`.
pub fn tls_config(
    cert: &str,
    key: &str,
    cert_key: &'static str,
    key_key: &'static str,
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (certs, private) = read_pem_pair(cert, key, cert_key, key_key)?;
    server_config(certs, private, b"http/1.1")
}

/// The certificate chain and private key of PEM files named by `cert_key` and `key_key`.
pub fn read_pem_pair(
    cert: &str,
    key: &str,
    cert_key: &'static str,
    key_key: &'static str,
) -> Result<
    (
        Vec<rustls::pki_types::CertificateDer<'static>>,
        rustls::pki_types::PrivateKeyDer<'static>,
    ),
    TlsError,
> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let file_error = |k: &'static str, path: &str, message: String| TlsError::File {
        key: k,
        path: path.to_string(),
        message,
    };
    if cert.is_empty() {
        return Err(file_error(cert_key, cert, "is required".into()));
    }
    if key.is_empty() {
        return Err(file_error(key_key, key, "is required".into()));
    }
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert_key, cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_key, cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(file_error(
            cert_key,
            cert,
            "holds no PEM certificate".into(),
        ));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key_key, key, e.to_string()))?;
    Ok((certs, private))
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, `alpn` by ALPN) presenting
/// `certs` with `key`.
pub fn server_config(
    certs: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
    alpn: &[u8],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![alpn.to_vec()];
    Ok(Arc::new(config))
}
