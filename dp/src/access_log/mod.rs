//! Envoy's gRPC access-log service (`envoy.service.accesslog.v3.AccessLogService`), served on a
//! Unix socket for the mesh's `tcp` logging backends (xDS §3.6, X19). The bootstrap's
//! `access_log_sink` cluster points Envoy at the socket; each of Envoy's streams names its
//! backend in its first message (`<address>;<format>`), and each entry becomes one line written
//! to that address over TCP.
//!
//! The agent is otherwise synchronous: the server runs on a one-thread tokio runtime of its
//! own, in a background thread, for as long as [`AccessLogServer`] lives.

mod format;
mod sink;

use std::io::ErrorKind;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use envoy_types::pb::envoy::service::accesslog::v3::access_log_service_server::{
    AccessLogService, AccessLogServiceServer,
};
use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::LogEntries;
use envoy_types::pb::envoy::service::accesslog::v3::{
    StreamAccessLogsMessage, StreamAccessLogsResponse,
};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status, Streaming};

use self::format::Format;
use self::sink::Sink;

/// The socket's name inside the agent's configuration folder.
const SOCKET_NAME: &str = "access-logs.sock";
/// A Unix socket's path must fit `sun_path` (108 bytes on Linux, 104 on some systems, the final
/// NUL included); longer ones are refused by `bind`.
const MAX_SOCKET_PATH: usize = 100;

/// Why the access-log server could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// Another file is where the socket goes, or the folder is not writable.
    #[error("could not listen on the access-log socket {}: {source}", path.display())]
    Listen {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A live agent listens there: two agents of the same mesh and name share a folder.
    #[error(
        "another agent serves access logs on {}: give each agent its own --config-dir",
        path.display()
    )]
    InUse {
        /// The socket's path.
        path: PathBuf,
    },
    /// The runtime or its thread could not be created.
    #[error("could not start the access-log server: {0}")]
    Start(std::io::Error),
}

/// Where the agent with configuration folder `config_dir` listens: inside that folder, or, when
/// that path would be too long for a socket, a short one under `/tmp` unique to this process.
pub fn socket_path(config_dir: &Path) -> PathBuf {
    let inside = std::path::absolute(config_dir)
        .unwrap_or_else(|_| config_dir.to_path_buf())
        .join(SOCKET_NAME);
    if inside.as_os_str().len() <= MAX_SOCKET_PATH {
        inside
    } else {
        PathBuf::from(format!("/tmp/ursa-dp-{}-{SOCKET_NAME}", std::process::id()))
    }
}

/// The running server; dropping it stops the server and removes the socket.
pub struct AccessLogServer {
    path: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
}

impl AccessLogServer {
    /// Listens on `path` and serves in a background thread. A socket already there is replaced
    /// when nobody answers on it (an agent that was killed left it), refused otherwise (a live
    /// agent with the same folder).
    pub fn start(path: PathBuf) -> Result<AccessLogServer, AccessLogError> {
        let listen = |source| AccessLogError::Listen {
            path: path.clone(),
            source,
        };
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_socket() => {
                if std::os::unix::net::UnixStream::connect(&path).is_ok() {
                    return Err(AccessLogError::InUse { path });
                }
                std::fs::remove_file(&path).map_err(listen)?
            }
            Ok(_) => return Err(listen(ErrorKind::AlreadyExists.into())),
            Err(_) => {}
        }
        // Bound here, before Envoy starts, so that a failure is reported at once.
        let listener = std::os::unix::net::UnixListener::bind(&path).map_err(listen)?;
        listener.set_nonblocking(true).map_err(listen)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(AccessLogError::Start)?;
        let (shutdown, stopped) = oneshot::channel();
        std::thread::Builder::new()
            .name("access-logs".into())
            .spawn(move || runtime.block_on(serve(listener, stopped)))
            .map_err(AccessLogError::Start)?;
        Ok(AccessLogServer {
            path,
            shutdown: Some(shutdown),
        })
    }
}

impl Drop for AccessLogServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The thread may have ended already; the process is exiting either way.
            let _ = shutdown.send(());
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(listener: std::os::unix::net::UnixListener, stopped: oneshot::Receiver<()>) {
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("ursa-dp: the access-log server could not start: {e}");
            return;
        }
    };
    let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
    let served = tonic::transport::Server::builder()
        .serve_with_incoming_shutdown(AccessLogServiceServer::new(Service), incoming, async {
            let _ = stopped.await;
        })
        .await;
    if let Err(e) = served {
        eprintln!("ursa-dp: the access-log server stopped: {e}");
    }
}

/// Envoy's access-log service: every stream is independent.
struct Service;

#[tonic::async_trait]
impl AccessLogService for Service {
    async fn stream_access_logs(
        &self,
        request: Request<Streaming<StreamAccessLogsMessage>>,
    ) -> Result<Response<StreamAccessLogsResponse>, Status> {
        let mut messages = request.into_inner();
        let mut stream = LogStream::default();
        while let Some(message) = messages.message().await? {
            stream.take(&message);
        }
        Ok(Response::new(StreamAccessLogsResponse {}))
    }
}

/// One of Envoy's streams: the backend its first message names, once it has.
#[derive(Default)]
struct LogStream {
    backend: Option<(Format, Sink)>,
    /// The stream named no usable backend (reported once).
    unnamed: bool,
}

impl LogStream {
    /// Queues the lines of `message`'s entries (on the current tokio runtime).
    fn take(&mut self, message: &StreamAccessLogsMessage) {
        if self.backend.is_none() {
            // Envoy names the log in the first message of a stream only.
            let log_name = message.identifier.as_ref().map(|i| i.log_name.as_str());
            match log_name.and_then(|n| n.split_once(';')) {
                Some((address, format)) if !address.is_empty() => {
                    self.backend = Some((Format::parse(format), Sink::open(address)));
                }
                _ if !self.unnamed => {
                    self.unnamed = true;
                    eprintln!(
                        "ursa-dp: an access-log stream names no `<address>;<format>` \
                         ({log_name:?}); its entries are dropped"
                    );
                }
                _ => {}
            }
        }
        // Without a backend the stream is still read to its end: Envoy must not stall.
        let Some((format, sink)) = &self.backend else {
            return;
        };
        match &message.log_entries {
            Some(LogEntries::HttpLogs(entries)) => {
                for entry in &entries.log_entry {
                    sink.send(format.http(entry));
                }
            }
            Some(LogEntries::TcpLogs(entries)) => {
                for entry in &entries.log_entry {
                    sink.send(format.tcp(entry));
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use envoy_types::pb::envoy::config::core::v3::RequestMethod;
    use envoy_types::pb::envoy::data::accesslog::v3::{
        HttpAccessLogEntry, HttpRequestProperties, TcpAccessLogEntry,
    };
    use envoy_types::pb::envoy::service::accesslog::v3::stream_access_logs_message::{
        HttpAccessLogEntries, Identifier, TcpAccessLogEntries,
    };
    use tokio::io::AsyncBufReadExt;

    fn named(log_name: &str, entries: LogEntries) -> StreamAccessLogsMessage {
        StreamAccessLogsMessage {
            identifier: Some(Identifier {
                node: None,
                log_name: log_name.to_string(),
            }),
            log_entries: Some(entries),
        }
    }

    fn http(methods: &[RequestMethod]) -> LogEntries {
        LogEntries::HttpLogs(HttpAccessLogEntries {
            log_entry: methods
                .iter()
                .map(|m| HttpAccessLogEntry {
                    request: Some(HttpRequestProperties {
                        request_method: *m as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .collect(),
        })
    }

    #[test]
    fn the_first_message_names_the_backend_of_the_whole_stream() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let mut stream = LogStream::default();
            stream.take(&named(
                &format!("{address};%REQ(:METHOD)% %BYTES_SENT%\n"),
                http(&[RequestMethod::Get, RequestMethod::Post]),
            ));
            // Later messages carry no identifier; a later name would not count anyway.
            stream.take(&StreamAccessLogsMessage {
                identifier: None,
                log_entries: Some(LogEntries::TcpLogs(TcpAccessLogEntries {
                    log_entry: vec![TcpAccessLogEntry::default()],
                })),
            });
            stream.take(&named("127.0.0.1:1;other", http(&[RequestMethod::Put])));
            let (connection, _) = listener.accept().await.unwrap();
            let mut lines = tokio::io::BufReader::new(connection).lines();
            for expected in ["GET 0", "POST 0", "- 0", "PUT 0"] {
                let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line());
                assert_eq!(line.await.unwrap().unwrap().unwrap(), expected);
            }
        });
    }

    #[test]
    fn a_stream_without_a_usable_name_is_read_and_dropped() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            for name in ["no separator", ";format only"] {
                let mut stream = LogStream::default();
                stream.take(&named(name, http(&[RequestMethod::Get])));
                stream.take(&named(name, http(&[RequestMethod::Get])));
                assert!(stream.backend.is_none() && stream.unnamed, "{name}");
            }
        });
    }

    #[test]
    fn the_socket_goes_in_the_config_folder_unless_too_long_for_one() {
        assert_eq!(
            socket_path(Path::new("/var/run/ursa-dp/web-1")),
            PathBuf::from("/var/run/ursa-dp/web-1/access-logs.sock")
        );
        let deep = PathBuf::from("/var").join("x".repeat(120));
        let short = socket_path(&deep);
        assert!(short.starts_with("/tmp"), "{}", short.display());
        assert!(short.as_os_str().len() <= MAX_SOCKET_PATH);
        assert!(short
            .to_string_lossy()
            .contains(&std::process::id().to_string()));
        assert!(socket_path(Path::new("relative")).is_absolute());
    }

    #[test]
    fn the_server_replaces_a_stale_socket_keeps_off_a_live_one_and_removes_its_own() {
        let dir = std::env::temp_dir().join(format!("ursa-dp-als-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(SOCKET_NAME);
        // What a killed agent leaves behind.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let server = AccessLogServer::start(path.clone()).unwrap();
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        // A live one is another agent's: left alone.
        assert!(matches!(
            AccessLogServer::start(path.clone()),
            Err(AccessLogError::InUse { .. })
        ));
        assert!(std::os::unix::net::UnixStream::connect(&path).is_ok());
        drop(server);
        assert!(!path.exists());
        // Anything else there is not ours to remove.
        std::fs::write(&path, "not a socket").unwrap();
        assert!(matches!(
            AccessLogServer::start(path.clone()),
            Err(AccessLogError::Listen { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
