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

use super::guard::{Guarded, Rejection, Timeouts, REJECTED_HEADER};
use super::limits::{ClientConnections, Throttle};
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
}

/// The total connection cap `limits.http.maxConnections` means (0: a quarter of the file
/// descriptors the process may open, at least 64).
pub fn connection_cap(limits: &HttpLimits) -> usize {
    match limits.max_connections {
        0 => (super::fd_limit() / 4).max(64) as usize,
        n => n as usize,
    }
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
        builder = builder.listen(format!("{name}-{addr}"), listener, move || {
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
                .configure(configure.clone());
            let factory = app
                .into_factory()
                .map_err(|err: actix_web::Error| err.error_response().map_into_boxed_body());
            let h1 = HttpService::build()
                .keep_alive(KeepAlive::Timeout(idle))
                // The guard times request heads (and answers in Kuma's error JSON).
                .client_request_timeout(Duration::ZERO)
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                // Handlers that stream (watches) may cut their connection.
                .on_connect_ext(
                    |io: &Guarded<TcpStream>, ext: &mut actix_http::Extensions| {
                        ext.insert(io.cutoff());
                    },
                )
                .h1(map_config(factory, move |_| {
                    // Only URL generation reads the host, and the API builds its own links.
                    AppConfig::__priv_test_new(false, addr.to_string(), addr)
                }));
            let clients = clients.clone();
            let refused = refused.clone();
            fn_service(move |stream: TcpStream| {
                let peer = stream.peer_addr().ok();
                ready(admit(stream, peer, &clients, &refused, name, timeouts))
            })
            .and_then(h1)
        })?;
    }
    Ok(builder.run())
}

fn admit(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    clients: &Arc<ClientConnections>,
    refused: &Throttle,
    name: &str,
    timeouts: Timeouts,
) -> Result<(Guarded<TcpStream>, Option<SocketAddr>), actix_http::error::DispatchError> {
    // Never an error: a refused connection is still answered, in Kuma's error JSON.
    let permit = match peer {
        Some(peer) => clients.acquire(peer.ip()),
        None => Ok(None),
    };
    match permit {
        Ok(permit) => {
            let _ = stream.set_nodelay(true);
            Ok((Guarded::new(stream, timeouts, permit), peer))
        }
        Err(_) => {
            if let Some(suppressed) = refused.allow() {
                tracing::warn!(
                    server = name,
                    client = %peer.map(|p| p.ip().to_string()).unwrap_or_default(),
                    suppressed,
                    "refused a connection: the client holds limits.http.maxConnectionsPerClient connections already"
                );
            }
            // Answered 503 in the error JSON and closed, through actix like any refusal.
            Ok((
                Guarded::refused(stream, Rejection::TooManyConnections),
                peer,
            ))
        }
    }
}
