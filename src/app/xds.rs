//! The xDS server's thread: ADS over gRPC, with or without TLS.

use std::net::TcpListener;
use std::sync::Arc;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use tokio::sync::watch;

use super::StartError;
use crate::xds::ads::Ads;

/// Runs the ADS server on its own multi-threaded tokio runtime, so encoding and streaming for
/// many proxies never competes with the actors' thread.
pub(super) fn start_xds(
    listener: TcpListener,
    ads: Ads,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Result<(watch::Sender<bool>, std::thread::JoinHandle<()>), StartError> {
    let (shutdown_tx, mut shutdown_rx) = watch::channel(false);
    listener.set_nonblocking(true).map_err(StartError::Xds)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("ursa-xds")
        .enable_all()
        .build()
        .map_err(StartError::Xds)?;
    let ads = ads.with_shutdown(shutdown_rx.clone());
    let thread = std::thread::Builder::new()
        .name("ursa-xds".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!(error = %e, "xDS server could not listen");
                        return;
                    }
                };
                let shutdown = async move {
                    while !*shutdown_rx.borrow_and_update() {
                        if shutdown_rx.changed().await.is_err() {
                            break;
                        }
                    }
                };
                let service = AggregatedDiscoveryServiceServer::new(ads);
                let served = match tls {
                    Some(tls) => {
                        let incoming = crate::xds::tls::incoming(listener, tls);
                        tonic::transport::Server::builder()
                            .serve_with_incoming_shutdown(service, incoming, shutdown)
                            .await
                    }
                    None => {
                        let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                        tonic::transport::Server::builder()
                            .serve_with_incoming_shutdown(service, incoming, shutdown)
                            .await
                    }
                };
                if let Err(e) = served {
                    tracing::error!(error = %e, "xDS server failed");
                }
            });
        })
        .map_err(StartError::Xds)?;
    Ok((shutdown_tx, thread))
}
