//! Request body framing, followed so that the guard knows where the next request head begins.

use super::{Rejection, REJECTED_HEADER};

/// Longest chunk-size line or trailer section of a chunked body.
const MAX_CHUNK_LINE: usize = 4 * 1024;

/// Where the next bytes from the client belong.
#[derive(Debug)]
pub(super) enum Framing {
    /// A request head, held back in `head` until complete.
    Head,
    /// This many body bytes remain.
    Body(u64),
    /// A chunked body.
    Chunked(Chunk),
    /// A rejected request was replaced; nothing more is read from the client.
    Rejected,
    /// The guard lost track of framing (a malformed chunked body): hand everything through and
    /// let actix-http refuse it.
    Passthrough,
}

#[derive(Debug)]
pub(super) enum Chunk {
    /// Reading a chunk-size line.
    Size { line: Vec<u8> },
    /// This many chunk-data bytes remain.
    Data(u64),
    /// The CRLF after chunk data (`seen_cr` once the CR went by).
    DataEnd { seen_cr: bool },
    /// Trailer lines after the last chunk; `line` is the current one, `total` all so far.
    Trailers { line: Vec<u8>, total: usize },
}

/// How the body of a request with these headers is framed.
pub(super) fn body_framing(headers: &[httparse::Header<'_>]) -> Result<Framing, Rejection> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in headers {
        if h.name.eq_ignore_ascii_case(REJECTED_HEADER) {
            return Err(Rejection::ReservedHeader);
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(h.value).map_err(|_| Rejection::Length)?;
            let text = text.trim();
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Rejection::Length);
            }
            let n: u64 = text.parse().map_err(|_| Rejection::Length)?;
            if length.is_some_and(|l| l != n) {
                return Err(Rejection::Length);
            }
            length = Some(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let text = std::str::from_utf8(h.value).map_err(|_| Rejection::TransferEncoding)?;
            for coding in text.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if coding.eq_ignore_ascii_case("chunked") && !chunked {
                    chunked = true;
                } else {
                    return Err(Rejection::TransferEncoding);
                }
            }
        }
    }
    match (chunked, length) {
        // Both at once is how requests are smuggled past proxies.
        (true, Some(_)) => Err(Rejection::Length),
        (true, None) => Ok(Framing::Chunked(Chunk::Size { line: Vec::new() })),
        (false, n) => Ok(Framing::Body(n.unwrap_or(0))),
    }
}

impl Chunk {
    /// Consumes a prefix of `bytes`: how many, and whether the body ended there. `None` when
    /// the coding is malformed.
    pub(super) fn advance(&mut self, bytes: &[u8]) -> Option<(usize, bool)> {
        let mut used = 0;
        while used < bytes.len() {
            let b = bytes[used];
            match self {
                Chunk::Size { line } => {
                    used += 1;
                    if b != b'\n' {
                        line.push(b);
                        if line.len() > MAX_CHUNK_LINE {
                            return None;
                        }
                        continue;
                    }
                    let text = std::str::from_utf8(line).ok()?;
                    let text = text.strip_suffix('\r').unwrap_or(text);
                    let size = text.split(';').next()?.trim();
                    let size = u64::from_str_radix(size, 16).ok()?;
                    *self = if size == 0 {
                        Chunk::Trailers {
                            line: Vec::new(),
                            total: 0,
                        }
                    } else {
                        Chunk::Data(size)
                    };
                }
                Chunk::Data(remaining) => {
                    let n = (*remaining).min((bytes.len() - used) as u64) as usize;
                    used += n;
                    *remaining -= n as u64;
                    if *remaining == 0 {
                        *self = Chunk::DataEnd { seen_cr: false };
                    }
                }
                Chunk::DataEnd { seen_cr } => {
                    used += 1;
                    match b {
                        b'\r' if !*seen_cr => *seen_cr = true,
                        b'\n' => *self = Chunk::Size { line: Vec::new() },
                        _ => return None,
                    }
                }
                Chunk::Trailers { line, total } => {
                    used += 1;
                    *total += 1;
                    if *total > MAX_CHUNK_LINE {
                        return None;
                    }
                    if b != b'\n' {
                        line.push(b);
                        continue;
                    }
                    if line.is_empty() || line.as_slice() == b"\r" {
                        return Some((used, true));
                    }
                    line.clear();
                }
            }
        }
        Some((used, false))
    }
}
