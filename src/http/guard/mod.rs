//! The read side of every HTTP connection passes through [`Guarded`] before actix-http sees it.
//!
//! actix-http answers a request head it cannot parse (a space in the path, a NUL in a header,
//! `HTTP/2.0`, too many headers, a 64 KB URI) with an empty 400/431 and logs it at ERROR, and a
//! slow head with an empty 408: none of that can be given Kuma's error JSON from inside actix.
//! So the guard reads each request head itself, holds it back until it is complete, and checks
//! it with `httparse` (what actix-http parses with) plus Ursa's stricter rules. A good head is
//! handed on untouched; a bad one is replaced by a small synthetic request carrying
//! [`REJECTED_HEADER`], which the server's middleware answers with the error JSON, so ordering
//! with earlier pipelined responses and connection shutdown stay actix's business.
//!
//! To find the next head the guard follows each request's body framing (`Content-Length` or
//! chunked), and it bounds time: a head must complete within the header timeout once it has
//! begun (from the connection's start for the first request), and a body within the body
//! timeout of its head; a body that does not arrive in time ends the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;

use actix_web::web::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{sleep, sleep_until, Instant, Sleep};

use super::limits::Permit;

mod framing;

use framing::{body_framing, Framing};

/// The header of a synthetic request that stands for a rejected one. A client sending it is
/// itself rejected, so only the guard can produce it.
pub const REJECTED_HEADER: &str = "x-ursa-rejected";

/// Longest request line (method, target, version).
pub const MAX_REQUEST_LINE: usize = 16 * 1024;
/// Longest request head (request line and headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers in one request (actix-http's own limit).
pub const MAX_HEADERS: usize = 96;

/// Why a request head was refused; its [`Rejection::code`] travels in [`REJECTED_HEADER`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The request line is not `METHOD target HTTP/1.x`.
    RequestLine,
    /// The request target is neither an absolute path, `*` (OPTIONS) nor an absolute URI.
    Target,
    /// The version is not HTTP/1.0 or HTTP/1.1.
    Version,
    /// A header name or value is malformed (a NUL, a space in the name, …).
    Header,
    /// The request line is longer than [`MAX_REQUEST_LINE`].
    UriTooLong,
    /// The head is longer than [`MAX_HEAD`].
    HeadTooLarge,
    /// More than [`MAX_HEADERS`] headers.
    TooManyHeaders,
    /// `Content-Length` is not a number, or several disagree, or it comes with chunked coding.
    Length,
    /// A transfer coding other than `chunked`.
    TransferEncoding,
    /// The client sent [`REJECTED_HEADER`].
    ReservedHeader,
    /// The head did not complete within the header timeout.
    HeadTimeout,
    /// The client holds its share of connections already (`maxConnectionsPerClient`).
    TooManyConnections,
}

impl Rejection {
    const ALL: [Rejection; 12] = [
        Rejection::RequestLine,
        Rejection::Target,
        Rejection::Version,
        Rejection::Header,
        Rejection::UriTooLong,
        Rejection::HeadTooLarge,
        Rejection::TooManyHeaders,
        Rejection::Length,
        Rejection::TransferEncoding,
        Rejection::ReservedHeader,
        Rejection::HeadTimeout,
        Rejection::TooManyConnections,
    ];

    /// The token carried by the synthetic request.
    pub fn code(self) -> &'static str {
        match self {
            Rejection::RequestLine => "request-line",
            Rejection::Target => "target",
            Rejection::Version => "version",
            Rejection::Header => "header",
            Rejection::UriTooLong => "uri-too-long",
            Rejection::HeadTooLarge => "head-too-large",
            Rejection::TooManyHeaders => "too-many-headers",
            Rejection::Length => "length",
            Rejection::TransferEncoding => "transfer-encoding",
            Rejection::ReservedHeader => "reserved-header",
            Rejection::HeadTimeout => "head-timeout",
            Rejection::TooManyConnections => "too-many-connections",
        }
    }

    /// The rejection a synthetic request carries.
    pub fn from_code(code: &str) -> Option<Rejection> {
        Rejection::ALL.into_iter().find(|r| r.code() == code)
    }
}

/// Time limits of one connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// A begun head must complete within this.
    pub header: Duration,
    /// A body must complete within this of its head.
    pub body: Duration,
}

/// Ends a connection from outside its I/O: a handler streaming a response whose client does
/// not read it (a slow watch) cuts the connection, and the next read or write fails, waking
/// the connection's task if it waits for a socket that will never drain.
#[derive(Clone, Debug, Default)]
pub struct Cutoff(Arc<CutoffState>);

#[derive(Debug, Default)]
struct CutoffState {
    cut: AtomicBool,
    waker: AtomicWaker,
}

impl Cutoff {
    /// Cuts the connection.
    pub fn cut(&self) {
        self.0.cut.store(true, Ordering::SeqCst);
        self.0.waker.wake();
    }

    fn check(&self) -> io::Result<()> {
        if self.0.cut.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection cut by the server",
            ))
        } else {
            Ok(())
        }
    }

    /// Called with what a poll returned: a pending one is woken by [`Cutoff::cut`].
    fn pending<T>(&self, cx: &Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_pending() {
            self.0.waker.register(cx.waker());
            // Cut between the check and the registration: do not sleep through it.
            self.check()?;
        }
        poll
    }
}

/// A connection whose request heads are checked before actix-http reads them.
pub struct Guarded<T> {
    io: T,
    framing: Framing,
    /// Bytes of the current head, not yet handed on.
    head: BytesMut,
    /// Checked bytes waiting to be handed to actix-http.
    ready: BytesMut,
    timeouts: Timeouts,
    /// The head or body deadline in force, if any.
    deadline: Option<Pin<Box<Sleep>>>,
    /// No request has completed yet (the first head is timed from the connection's start).
    first: bool,
    _permit: Option<Permit>,
    cutoff: Cutoff,
}

impl<T> Guarded<T> {
    /// Guards `io`; `permit` is held for the connection's life (the per-client count).
    pub fn new(io: T, timeouts: Timeouts, permit: Option<Permit>) -> Guarded<T> {
        Guarded {
            io,
            framing: Framing::Head,
            head: BytesMut::new(),
            ready: BytesMut::new(),
            timeouts,
            deadline: Some(Box::pin(sleep(timeouts.header))),
            first: true,
            _permit: permit,
            cutoff: Cutoff::default(),
        }
    }

    /// What cuts this connection.
    pub fn cutoff(&self) -> Cutoff {
        self.cutoff.clone()
    }

    /// A connection refused before anything is read: it is answered `why` and closed.
    pub fn refused(io: T, why: Rejection) -> Guarded<T> {
        let mut guarded = Guarded::new(io, Timeouts::default(), None);
        guarded.reject(why);
        guarded
    }

    /// The underlying connection.
    pub fn get_ref(&self) -> &T {
        &self.io
    }

    fn arm(&mut self, after: Duration) {
        let at = Instant::now() + after;
        match &mut self.deadline {
            Some(d) => d.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(sleep_until(at))),
        }
    }

    /// Classifies bytes just read from the client.
    fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            match &mut self.framing {
                Framing::Head => {
                    if self.head.is_empty() && !self.first {
                        // A new head begins on a kept-alive connection.
                        self.arm(self.timeouts.header);
                    }
                    self.head.extend_from_slice(bytes);
                    // Several pipelined heads may have arrived at once.
                    while self.check_head() {
                        if !matches!(self.framing, Framing::Head) {
                            // What followed the head is fed again in its body framing.
                            let rest = std::mem::take(&mut self.head);
                            self.feed_rest(rest);
                            return;
                        }
                        if self.head.is_empty() {
                            return;
                        }
                        self.arm(self.timeouts.header);
                    }
                    return;
                }
                Framing::Body(remaining) => {
                    let n = (*remaining).min(bytes.len() as u64) as usize;
                    self.ready.extend_from_slice(&bytes[..n]);
                    *remaining -= n as u64;
                    bytes = &bytes[n..];
                    if *remaining == 0 {
                        self.request_done();
                    }
                }
                Framing::Chunked(chunk) => {
                    let used = match chunk.advance(bytes) {
                        Some((used, done)) => {
                            self.ready.extend_from_slice(&bytes[..used]);
                            if done {
                                self.request_done();
                            }
                            used
                        }
                        None => {
                            self.framing = Framing::Passthrough;
                            self.deadline = None;
                            0
                        }
                    };
                    bytes = &bytes[used..];
                }
                Framing::Passthrough => {
                    self.ready.extend_from_slice(bytes);
                    return;
                }
                Framing::Rejected => return,
            }
        }
    }

    fn feed_rest(&mut self, rest: BytesMut) {
        if !rest.is_empty() {
            self.feed(&rest);
        }
    }

    /// Checks `head` once it may be complete: hands it on and enters its body framing (true),
    /// or rejects it or waits for more (false).
    fn check_head(&mut self) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let status = request.parse(&self.head);
        let line_end = self.head.iter().position(|b| *b == b'\n');
        if line_end.map_or(self.head.len(), |e| e) > MAX_REQUEST_LINE {
            self.reject(Rejection::UriTooLong);
            return false;
        }
        let len = match status {
            Ok(httparse::Status::Partial) => {
                if self.head.len() > MAX_HEAD {
                    self.reject(Rejection::HeadTooLarge);
                }
                return false;
            }
            Ok(httparse::Status::Complete(len)) => len,
            Err(httparse::Error::TooManyHeaders) => {
                self.reject(Rejection::TooManyHeaders);
                return false;
            }
            Err(httparse::Error::Version) => {
                // `GET /x HTTP/2.0` is a version Ursa does not speak; anything else there (a
                // space in the path shifts a word into the version) is a malformed line.
                let line = &self.head[..line_end.unwrap_or(self.head.len())];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let words: Vec<&[u8]> = line.split(|b| *b == b' ').collect();
                let other_version = words.len() == 3 && words[2].starts_with(b"HTTP/");
                self.reject(if other_version {
                    Rejection::Version
                } else {
                    Rejection::RequestLine
                });
                return false;
            }
            Err(httparse::Error::HeaderName | httparse::Error::HeaderValue) => {
                self.reject(Rejection::Header);
                return false;
            }
            Err(_) => {
                self.reject(Rejection::RequestLine);
                return false;
            }
        };
        if len > MAX_HEAD {
            self.reject(Rejection::HeadTooLarge);
            return false;
        }
        let target = request.path.unwrap_or("");
        let method = request.method.unwrap_or("");
        let target_ok = target.starts_with('/')
            || (target == "*" && method == "OPTIONS")
            || target.starts_with("http://")
            || target.starts_with("https://");
        if !target_ok {
            self.reject(Rejection::Target);
            return false;
        }
        let framing = match body_framing(request.headers) {
            Ok(f) => f,
            Err(r) => {
                self.reject(r);
                return false;
            }
        };
        let rest = self.head.split_off(len);
        self.ready.extend_from_slice(&self.head);
        self.head = rest;
        self.framing = framing;
        match self.framing {
            Framing::Body(0) => self.request_done(),
            _ => self.arm(self.timeouts.body),
        }
        true
    }

    fn request_done(&mut self) {
        self.framing = Framing::Head;
        self.first = false;
        // Idle time until the next head is actix-http's keep-alive to judge.
        self.deadline = None;
    }

    fn reject(&mut self, why: Rejection) {
        tracing::debug!(reason = why.code(), "request refused before parsing");
        self.head.clear();
        self.deadline = None;
        self.framing = Framing::Rejected;
        self.ready.extend_from_slice(
            format!(
                "GET / HTTP/1.1\r\nhost: ursa\r\nconnection: close\r\n{REJECTED_HEADER}: {}\r\n\r\n",
                why.code()
            )
            .as_bytes(),
        );
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.cutoff.check()?;
        let poll = this.read_guarded(cx, buf);
        this.cutoff.pending(cx, poll)
    }
}

impl<T: AsyncRead + Unpin> Guarded<T> {
    fn read_guarded(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self;
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready.split_to(n));
                return Poll::Ready(Ok(()));
            }
            if let Framing::Rejected = this.framing {
                // The synthetic request asked for `connection: close`: actix-http answers it
                // and closes. Until then what the client still sends is read and dropped, so
                // that the close is a FIN after the answer, not a reset that loses it.
                let mut scratch = [0u8; 8192];
                loop {
                    let mut read = ReadBuf::new(&mut scratch);
                    match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                        Poll::Ready(Ok(())) if !read.filled().is_empty() => continue,
                        Poll::Ready(Ok(())) => return Poll::Ready(Ok(())),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            }
            if let Some(deadline) = &mut this.deadline {
                if deadline.as_mut().poll(cx).is_ready() {
                    this.deadline = None;
                    match this.framing {
                        Framing::Head => {
                            this.reject(Rejection::HeadTimeout);
                            continue;
                        }
                        _ => {
                            tracing::debug!("request body did not arrive in time; closing");
                            return Poll::Ready(Err(io::Error::new(
                                io::ErrorKind::TimedOut,
                                "request body timed out",
                            )));
                        }
                    }
                }
            }
            let mut scratch = [0u8; 8192];
            let mut read = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(())) => {
                    let filled = read.filled();
                    if filled.is_empty() {
                        // End of stream; a partial head is dropped with the connection.
                        return Poll::Ready(Ok(()));
                    }
                    this.feed(filled);
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.cutoff.check()?;
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.cutoff.pending(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.cutoff.check()?;
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.cutoff.pending(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.cutoff.check()?;
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.cutoff.pending(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guarded<()> {
        Guarded {
            io: (),
            framing: Framing::Head,
            head: BytesMut::new(),
            ready: BytesMut::new(),
            timeouts: Timeouts {
                header: Duration::from_secs(5),
                body: Duration::from_secs(10),
            },
            deadline: None,
            first: false,
            _permit: None,
            cutoff: Cutoff::default(),
        }
    }

    /// Feeds `input` in pieces of `step` bytes; returns what actix would read.
    fn run(input: &[u8], step: usize) -> Vec<u8> {
        let mut g = guard();
        for piece in input.chunks(step) {
            g.feed(piece);
        }
        g.ready.to_vec()
    }

    fn rejected(code: Rejection) -> Vec<u8> {
        let mut g = guard();
        g.reject(code);
        g.ready.to_vec()
    }

    #[tokio::test]
    async fn good_requests_pass_untouched_in_any_split() {
        let input = b"PUT /meshes/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /c HTTP/1.0\r\n\r\n";
        for step in [1, 2, 3, 7, 64, 4096] {
            assert_eq!(run(input, step), input.to_vec(), "step {step}");
        }
    }

    #[tokio::test]
    async fn bad_heads_become_synthetic_rejections() {
        let cases: &[(&[u8], Rejection)] = &[
            (
                b"GET /me shes HTTP/1.1\r\nHost: x\r\n\r\n",
                Rejection::RequestLine,
            ),
            (
                b"GET /meshes HTTP/2.0\r\nHost: x\r\n\r\n",
                Rejection::Version,
            ),
            (
                b"GET /meshes HTTP/1.1\r\nX: a\x00b\r\n\r\n",
                Rejection::Header,
            ),
            (b"GET meshes HTTP/1.1\r\nHost: x\r\n\r\n", Rejection::Target),
            (b"GET * HTTP/1.1\r\n\r\n", Rejection::Target),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                Rejection::Length,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Rejection::Length,
            ),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Rejection::Length,
            ),
            (
                b"GET / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                Rejection::TransferEncoding,
            ),
            (
                b"GET / HTTP/1.1\r\nX-Ursa-Rejected: version\r\n\r\n",
                Rejection::ReservedHeader,
            ),
        ];
        for (input, why) in cases {
            assert_eq!(
                run(input, 3),
                rejected(*why),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let many: Vec<u8> = [
            b"GET / HTTP/1.1\r\n".to_vec(),
            (0..200)
                .flat_map(|i| format!("X{i}: y\r\n").into_bytes())
                .collect(),
            b"\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(run(&many, 100), rejected(Rejection::TooManyHeaders));
        let long: Vec<u8> = [
            b"GET /".to_vec(),
            vec![b'a'; 70_000],
            b" HTTP/1.1\r\n\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(run(&long, 1000), rejected(Rejection::UriTooLong));
        let big: Vec<u8> = [
            b"GET / HTTP/1.1\r\n".to_vec(),
            (0..20)
                .flat_map(|i| format!("X{i}: {}\r\n", "v".repeat(4000)).into_bytes())
                .collect(),
            b"\r\n".to_vec(),
        ]
        .concat();
        assert_eq!(run(&big, 1000), rejected(Rejection::HeadTooLarge));
    }

    #[tokio::test]
    async fn a_bad_head_after_a_good_one_keeps_the_good_one() {
        let good = b"GET /a HTTP/1.1\r\n\r\n".to_vec();
        let input = [good.clone(), b"GET b HTTP/1.1\r\n\r\n".to_vec()].concat();
        let mut want = good;
        want.extend(rejected(Rejection::Target));
        assert_eq!(run(&input, 5), want);
    }

    #[tokio::test]
    async fn a_malformed_chunked_body_is_left_to_actix() {
        let input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET x\r\n";
        assert_eq!(run(input, 4), input.to_vec());
    }

    #[test]
    fn codes_round_trip() {
        for r in Rejection::ALL {
            assert_eq!(Rejection::from_code(r.code()), Some(r));
        }
        assert_eq!(Rejection::from_code("nope"), None);
    }
}
