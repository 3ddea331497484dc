//! Delivery of one gRPC stream's lines to its `tcp` backend's address: one TCP connection,
//! fed through a bounded queue so that neither a slow nor an absent listener reaches back to
//! Envoy. While the address is down, lines are dropped and counted, and the connection is
//! tried again with a growing delay; one message marks the start of an outage, one its end. A
//! listener that accepts but stops reading is an outage too, once a write has waited
//! [`WRITE_TIMEOUT`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};

/// Lines waiting for the connection, per stream; beyond this they are dropped.
pub const QUEUE: usize = 1024;
/// As kuma-dp.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Delay before the second attempt after an outage begins; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long one line may wait for the listener to take it before the connection is given up.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The sending end of one stream's delivery; the delivery ends when it is dropped and the
/// queue is written out.
pub struct Sink {
    address: Arc<str>,
    lines: mpsc::Sender<String>,
    counts: Arc<Counts>,
}

/// What the reader and the writer of one stream share.
#[derive(Default)]
struct Counts {
    /// Lines lost since the last report.
    dropped: AtomicU64,
    /// The queue overflowed once already (reported once per stream).
    overflowed: AtomicBool,
}

impl Sink {
    /// Starts delivering to `address` (`host:port`) on the current tokio runtime.
    pub fn open(address: &str) -> Sink {
        Sink::open_with(address, WRITE_TIMEOUT)
    }

    /// [`Sink::open`] giving up a connection whose writes wait longer than `write_timeout`.
    fn open_with(address: &str, write_timeout: Duration) -> Sink {
        let address: Arc<str> = address.into();
        let (lines, queue) = mpsc::channel(QUEUE);
        let counts = Arc::new(Counts::default());
        tokio::spawn(deliver(
            address.clone(),
            queue,
            counts.clone(),
            write_timeout,
        ));
        Sink {
            address,
            lines,
            counts,
        }
    }

    /// Queues `line`, or drops it when the queue is full: Envoy's stream is never held up.
    pub fn send(&self, line: String) {
        if self.lines.try_send(line).is_err() {
            self.counts.dropped.fetch_add(1, Ordering::Relaxed);
            if !self.counts.overflowed.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "ursa-dp: access log to {}: more lines than the connection takes; dropping \
                     the excess",
                    self.address
                );
            }
        }
    }
}

/// Writes the queue to `address` until the [`Sink`] is dropped.
async fn deliver(
    address: Arc<str>,
    mut queue: mpsc::Receiver<String>,
    counts: Arc<Counts>,
    write_timeout: Duration,
) {
    let mut backoff = FIRST_BACKOFF;
    let mut down = false;
    let outage = |down: &mut bool, why: &dyn std::fmt::Display| {
        if !std::mem::replace(down, true) {
            eprintln!(
                "ursa-dp: access log to {address}: {why}; dropping its lines until it is back"
            );
        }
    };
    loop {
        let failure = match connect(&address).await {
            Ok(mut connection) => {
                if std::mem::replace(&mut down, false) {
                    let dropped = counts.dropped.swap(0, Ordering::Relaxed);
                    eprintln!("ursa-dp: access log to {address} is back ({dropped} lines dropped)");
                }
                backoff = FIRST_BACKOFF;
                let failure = loop {
                    let Some(line) = queue.recv().await else {
                        return;
                    };
                    let failure =
                        match timeout(write_timeout, connection.write_all(line.as_bytes())).await {
                            Ok(Ok(())) => continue,
                            Ok(Err(e)) => format!("writing failed ({e})"),
                            Err(_) => format!(
                                "writing failed (not read for {} s)",
                                write_timeout.as_secs_f64()
                            ),
                        };
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                    break failure;
                };
                // The listener went away or stalled: try again at once, it may be restarting.
                outage(&mut down, &failure);
                continue;
            }
            Err(e) => e,
        };
        outage(&mut down, &failure);
        let retry = Instant::now() + backoff;
        loop {
            match timeout_at(retry, queue.recv()).await {
                Ok(Some(_dropped)) => {
                    counts.dropped.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => return,
                Err(_time_to_retry) => break,
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn connect(address: &str) -> Result<TcpStream, String> {
    match timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(e)) => Err(format!("cannot connect ({e})")),
        Err(_) => Err(format!(
            "cannot connect (no answer in {} s)",
            CONNECT_TIMEOUT.as_secs()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncBufReadExt;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn lines_reach_the_listener_in_order() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let sink = Sink::open(&listener.local_addr().unwrap().to_string());
            for i in 0..3 {
                sink.send(format!("line {i}\n"));
            }
            let (connection, _) = listener.accept().await.unwrap();
            let mut lines = tokio::io::BufReader::new(connection).lines();
            for i in 0..3 {
                let line = timeout(Duration::from_secs(10), lines.next_line()).await;
                assert_eq!(line.unwrap().unwrap().unwrap(), format!("line {i}"));
            }
        });
    }

    #[test]
    fn a_listener_that_stops_reading_is_given_up_and_dialled_again() {
        runtime().block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let sink = Sink::open_with(
                &listener.local_addr().unwrap().to_string(),
                Duration::from_millis(200),
            );
            let (stalled, _) = listener.accept().await.unwrap();
            // Lines of 64 KiB until the socket buffers are full and a write waits: the writer
            // gives the connection up and dials again.
            let big = "x".repeat(64 * 1024) + "\n";
            let again = async {
                loop {
                    sink.send(big.clone());
                    if let Ok(accepted) =
                        timeout(Duration::from_millis(20), listener.accept()).await
                    {
                        break accepted.unwrap().0;
                    }
                }
            };
            let fresh = timeout(Duration::from_secs(20), again).await.unwrap();
            drop(stalled);
            sink.send("fresh\n".to_string());
            let mut lines = tokio::io::BufReader::new(fresh).lines();
            let line = loop {
                let line = timeout(Duration::from_secs(10), lines.next_line()).await;
                let line = line.unwrap().unwrap().unwrap();
                if !line.starts_with('x') {
                    break line;
                }
            };
            assert_eq!(line, "fresh");
        });
    }

    #[test]
    fn an_absent_listener_costs_lines_not_the_sender_and_is_retried() {
        runtime().block_on(async {
            // A port nothing listens on, taken back later.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let sink = Sink::open(&format!("127.0.0.1:{port}"));
            // Far more than the queue holds: none of it blocks.
            for i in 0..QUEUE * 3 {
                sink.send(format!("lost {i}\n"));
            }
            assert!(sink.counts.dropped.load(Ordering::Relaxed) >= QUEUE as u64);
            // The writer found nobody there and emptied the queue.
            timeout(Duration::from_secs(10), async {
                while sink.lines.capacity() < QUEUE {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .unwrap();
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            // Lines keep coming until the retry connects; what arrives then is fresh, not the backlog.
            let accept = async {
                loop {
                    sink.send("fresh\n".to_string());
                    if let Ok(accepted) =
                        timeout(Duration::from_millis(50), listener.accept()).await
                    {
                        break accepted.unwrap().0;
                    }
                }
            };
            let connection = timeout(Duration::from_secs(20), accept).await.unwrap();
            sink.send("fresh\n".to_string());
            let mut lines = tokio::io::BufReader::new(connection).lines();
            let line = timeout(Duration::from_secs(10), lines.next_line()).await;
            assert_eq!(line.unwrap().unwrap().unwrap(), "fresh");
        });
    }
}
