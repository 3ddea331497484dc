//! A lean HTTP/1.1 keep-alive client (one request in flight per connection, no pipelining) and
//! the closed-loop load generator built on it. Requests are pre-formatted bytes, responses are
//! parsed just enough to find the status and `Content-Length`, so the client spends a small
//! fraction of the CPU the server does per request (the bench reports both).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::process::{self_cpu, Server};
use crate::stats::Window;

/// One keep-alive connection.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
}

/// A parsed response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Conn {
    /// Connects with `TCP_NODELAY`.
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 64 * 1024],
            start: 0,
            end: 0,
        })
    }

    /// Sends one request and reads its response: the status, the body length, and the body
    /// itself when `keep_body`.
    pub async fn send(
        &mut self,
        request: &[u8],
        keep_body: bool,
    ) -> io::Result<(u16, usize, Vec<u8>)> {
        self.stream.write_all(request).await?;
        // Positions are relative to `start`, which `fill` may move (compaction).
        let header_len = loop {
            if let Some(i) = find(&self.buf[self.start..self.end], b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = &self.buf[self.start..self.start + header_len];
        let status = parse_status(head)?;
        let length = content_length(head)?;
        let need = header_len + length;
        while self.end - self.start < need {
            self.fill().await?;
        }
        let body = if keep_body {
            self.buf[self.start + header_len..self.start + need].to_vec()
        } else {
            Vec::new()
        };
        self.start += need;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok((status, length, body))
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.end += n;
        Ok(())
    }

    /// Sends a request and returns the whole response.
    pub async fn call(&mut self, request: &[u8]) -> io::Result<Response> {
        let (status, _, body) = self.send(request, true).await?;
        Ok(Response { status, body })
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

fn parse_status(head: &[u8]) -> io::Result<u16> {
    // "HTTP/1.1 200 OK"
    head.get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("bad status line"))
}

fn content_length(head: &[u8]) -> io::Result<usize> {
    for line in head.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        if line[..colon].eq_ignore_ascii_case(b"content-length") {
            return std::str::from_utf8(&line[colon + 1..])
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| bad("bad content-length"));
        }
        if line[..colon].eq_ignore_ascii_case(b"transfer-encoding") {
            return Err(bad(
                "chunked responses are not supported by the bench client",
            ));
        }
    }
    // No length: only valid for bodiless responses here (204/304 or an empty 200 from actix).
    Ok(0)
}

/// `GET path`.
pub fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n")
        .into_bytes()
}

/// `DELETE path`.
pub fn delete(path: &str) -> Vec<u8> {
    format!("DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").into_bytes()
}

/// `PUT path` with a JSON body.
pub fn put(path: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// How one window is loaded.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// Unmeasured time before the window (connections open, caches warm).
    pub warmup: Duration,
    /// The measured window.
    pub window: Duration,
    /// Hard cap on requests per window (bounds the loop whatever the speed).
    pub max_requests: u64,
}

/// Runs `load` against `server` at `addr`, cycling through `requests`; a request succeeds when
/// its status is `expect`.
pub async fn run_window(
    server: &Server,
    addr: SocketAddr,
    requests: Arc<Vec<Vec<u8>>>,
    expect: u16,
    load: Load,
) -> Window {
    let begin = Instant::now();
    let measure_from = begin + load.warmup;
    let until = measure_from + load.window;
    let issued = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..load.connections {
        let requests = requests.clone();
        let issued = issued.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            let mut errors = 0u64;
            let mut lat: Vec<u32> = Vec::with_capacity(64 * 1024);
            let mut body_bytes = 0;
            let mut conn: Option<Conn> = None;
            let mut i = c;
            loop {
                let started = Instant::now();
                if started >= until {
                    break;
                }
                let measured = started >= measure_from;
                if measured
                    && issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                        >= load.max_requests
                {
                    break;
                }
                if conn.is_none() {
                    match Conn::connect(addr).await {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let Some(cx) = conn.as_mut() else { continue };
                let request = &requests[i % requests.len()];
                i += load.connections;
                match cx.send(request, false).await {
                    Ok((status, len, _)) if status == expect => {
                        if measured {
                            ok += 1;
                            lat.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
                            body_bytes = len;
                        }
                    }
                    Ok(_) => {
                        if measured {
                            errors += 1;
                        }
                    }
                    Err(_) => {
                        conn = None;
                        if measured {
                            errors += 1;
                        }
                    }
                }
            }
            (ok, errors, lat, body_bytes)
        }));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let server_cpu0 = server.cpu();
    let client_cpu0 = self_cpu();
    let t0 = Instant::now();
    let mut window = Window::default();
    for task in tasks {
        if let Ok((ok, errors, lat, body)) = task.await {
            window.ok += ok;
            window.errors += errors;
            window.latencies_us.extend(lat);
            if body > 0 {
                window.body_bytes = body;
            }
        }
    }
    window.elapsed = t0.elapsed();
    window.server_cpu = server.cpu().saturating_sub(server_cpu0);
    window.client_cpu = self_cpu().saturating_sub(client_cpu0);
    window.latencies_us.sort_unstable();
    window
}

/// Sends every request over `connections` connections (each request once), for loading data.
/// Returns how many got `expect`.
pub async fn send_all(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    expect: &[u16],
    connections: usize,
) -> io::Result<usize> {
    let requests = Arc::new(requests);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let requests = requests.clone();
        let next = next.clone();
        let expect = expect.to_vec();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(addr).await?;
            let mut ok = 0;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(request) = requests.get(i) else {
                    break;
                };
                let (status, _, body) = conn.send(request, true).await?;
                if expect.contains(&status) {
                    ok += 1;
                } else if ok == 0 {
                    eprintln!(
                        "unexpected status {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            Ok::<usize, io::Error>(ok)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.map_err(io::Error::other)??;
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads() {
        let head =
            b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nContent-Length: 12\r\n\r\n";
        assert_eq!(parse_status(head).unwrap(), 201);
        assert_eq!(content_length(head).unwrap(), 12);
        assert_eq!(content_length(b"HTTP/1.1 200 OK\r\n\r\n").unwrap(), 0);
        assert!(content_length(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err());
    }
}
