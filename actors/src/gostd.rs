//! The few pieces of Go's standard library whose exact behaviour Kuma 0.5.0's validation rules
//! inherit: `net.ParseIP`, `net.SplitHostPort`, `strconv.ParseUint` for ports,
//! `url.ParseRequestURI` and `http.StatusText`. Ported closely so that the same inputs pass and
//! fail as in Kuma (Go 1.14).

use std::net::IpAddr;

/// `net.ParseIP(s) != nil`: an IPv4 or IPv6 literal. Unlike Rust's parser, Go 1.14 accepts
/// IPv4 parts with leading zeros (`010.0.0.1`), so those are accepted too.
pub fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok() || is_go_ipv4(s)
}

/// Go 1.14 `parseIPv4`: four dot-separated decimal parts, each at most 255, any number of
/// leading zeros.
fn is_go_ipv4(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.trim_start_matches('0').len() <= 3
                && p.trim_start_matches('0').parse::<u32>().unwrap_or(0) <= 255
        })
}

/// `net.SplitHostPort`: splits `host:port` or `[host]:port`; the error is Go's reason.
pub fn split_host_port(hostport: &str) -> Result<(&str, &str), &'static str> {
    const MISSING_PORT: &str = "missing port in address";
    const TOO_MANY_COLONS: &str = "too many colons in address";
    let i = hostport.rfind(':').ok_or(MISSING_PORT)?;
    let (host, j, k);
    if hostport.starts_with('[') {
        let end = hostport.find(']').ok_or("missing ']' in address")?;
        if end + 1 == hostport.len() {
            return Err(MISSING_PORT);
        } else if end + 1 != i {
            return Err(if hostport.as_bytes()[end + 1] == b':' {
                TOO_MANY_COLONS
            } else {
                MISSING_PORT
            });
        }
        host = &hostport[1..end];
        j = 1;
        k = end + 1;
    } else {
        host = &hostport[..i];
        if host.contains(':') {
            return Err(TOO_MANY_COLONS);
        }
        j = 0;
        k = 0;
    }
    if hostport[j..].contains('[') {
        return Err("unexpected '[' in address");
    }
    if hostport[k..].contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok((host, &hostport[i + 1..]))
}

/// Kuma's `ParsePort`: `strconv.ParseUint(s, 10, 32)` then the range 1–65535.
pub fn parse_port(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u32>().ok().filter(|p| (1..=65535).contains(p))
}

/// What `url.ParseRequestURI` yields that Kuma looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestUri {
    /// Lower-cased scheme, empty for an absolute path.
    pub scheme: String,
    /// `host[:port]` of the authority, empty when there is none.
    pub host: String,
}

impl RequestUri {
    /// `URL.Port()`: the digits after the host's last colon, if they form a valid port suffix.
    pub fn port(&self) -> &str {
        match self.host.rfind(':') {
            Some(colon) if valid_optional_port(&self.host[colon..]) => &self.host[colon + 1..],
            _ => "",
        }
    }
}

/// `url.ParseRequestURI` of Go 1.14: an absolute URI (`scheme:…`, including opaque ones such
/// as `host:9411`) or an absolute path; the error is Go's reason.
pub fn parse_request_uri(raw: &str) -> Result<RequestUri, String> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    if raw.is_empty() {
        return Err("empty url".into());
    }
    if raw == "*" {
        return Ok(RequestUri {
            scheme: String::new(),
            host: String::new(),
        });
    }
    let (scheme, rest) = get_scheme(raw)?;
    let scheme = scheme.to_ascii_lowercase();
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(before, _)| before)
    };
    if !rest.starts_with('/') {
        if !scheme.is_empty() {
            // Rootless paths are opaque (RFC 3986), e.g. `localhost:9411`.
            return Ok(RequestUri {
                scheme,
                host: String::new(),
            });
        }
        return Err("invalid URI for request".into());
    }
    let mut host = String::new();
    let mut path = rest;
    if !scheme.is_empty() && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, tail) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        host = parse_authority(authority)?;
        path = tail;
    }
    unescape(path, Mode::Path)?;
    Ok(RequestUri { scheme, host })
}

/// Go's `getscheme`.
fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' => {
                if i == 0 {
                    return Ok(("", raw));
                }
            }
            b':' => {
                if i == 0 {
                    return Err("missing protocol scheme".into());
                }
                return Ok((&raw[..i], &raw[i + 1..]));
            }
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority`: optional userinfo, then the host; returns the host as written.
fn parse_authority(authority: &str) -> Result<String, String> {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    let host = parse_host(host)?;
    if let Some(userinfo) = userinfo {
        let valid = userinfo.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(
                    c,
                    '-' | '.'
                        | '_'
                        | ':'
                        | '~'
                        | '!'
                        | '$'
                        | '&'
                        | '\''
                        | '('
                        | ')'
                        | '*'
                        | '+'
                        | ','
                        | ';'
                        | '='
                        | '%'
                        | '@'
                )
        });
        if !valid {
            return Err("net/url: invalid userinfo".into());
        }
        unescape(userinfo, Mode::UserPassword)?;
    }
    Ok(host)
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let i = host.rfind(']').ok_or("missing ']' in host")?;
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {colon_port:?} after host"));
        }
        if let Some(zone) = host[..i].find("%25") {
            unescape(&host[..zone], Mode::Host)?;
            unescape(&host[zone..i], Mode::Zone)?;
            unescape(&host[i..], Mode::Host)?;
            return Ok(host.to_string());
        }
    } else if let Some(i) = host.rfind(':') {
        let colon_port = &host[i..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {colon_port:?} after host"));
        }
    }
    unescape(host, Mode::Host)?;
    Ok(host.to_string())
}

/// Go's `validOptionalPort`: empty, or `:` followed by digits only.
fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|b| b.is_ascii_digit()))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Path,
    Host,
    Zone,
    UserPassword,
}

/// Go's `unescape`, for validation only: `%XX` escapes must be well formed, and hosts may
/// not contain characters that need escaping.
fn unescape(s: &str, mode: Mode) -> Result<(), String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {}", go_quote_bytes(&b[i..end])));
                }
                if mode == Mode::Host && hex(b[i + 1]) < 8 && &b[i..i + 3] != b"%25" {
                    return Err(format!(
                        "invalid URL escape {}",
                        go_quote_bytes(&b[i..i + 3])
                    ));
                }
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && host_should_escape(c) {
                    return Err(format!(
                        "invalid character {} in host name",
                        go_quote_bytes(&b[i..i + 1])
                    ));
                }
                i += 1;
            }
        }
    }
    Ok(())
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// Go's `shouldEscape(c, encodeHost)` for ASCII bytes.
fn host_should_escape(c: u8) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
                | b'-'
                | b'_'
                | b'.'
                | b'~'
        ))
}

fn go_quote_bytes(b: &[u8]) -> String {
    crate::validation::go_quote(&String::from_utf8_lossy(b))
}

/// `http.StatusText(code) != ""` for the IANA-registered codes with a canonical reason phrase
/// (Ursa's D16): 100–103, 200–208, 226, 300–308 except 306, 400–418, 421–426, 428, 429, 431,
/// 451, 500–508, 510, 511.
pub fn is_known_http_status(code: u32) -> bool {
    matches!(
        code,
        100..=103
            | 200..=208
            | 226
            | 300..=305
            | 307
            | 308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 451
            | 500..=508
            | 510
            | 511
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ip_like_go() {
        for ok in [
            "127.0.0.1",
            "::1",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "010.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_ip(ok), "{ok}");
        }
        for bad in [
            "",
            "invalid",
            "1.2.3",
            "1.2.3.256",
            "[::1]",
            "1.2.3.4:80",
            "fe80::1%eth0",
        ] {
            assert!(!is_ip(bad), "{bad}");
        }
    }

    #[test]
    fn split_host_port_like_go() {
        assert_eq!(split_host_port("a:1"), Ok(("a", "1")));
        assert_eq!(split_host_port("[::1]:80"), Ok(("::1", "80")));
        assert_eq!(split_host_port(":80"), Ok(("", "80")));
        assert_eq!(split_host_port("a:"), Ok(("a", "")));
        assert_eq!(split_host_port("a"), Err("missing port in address"));
        assert_eq!(split_host_port("a:1:2"), Err("too many colons in address"));
        assert_eq!(split_host_port("[::1]"), Err("missing port in address"));
        assert_eq!(
            split_host_port("[::1]:1:2"),
            Err("too many colons in address")
        );
        assert_eq!(split_host_port("[::1:80"), Err("missing ']' in address"));
        assert_eq!(split_host_port("a]:80"), Err("unexpected ']' in address"));
    }

    #[test]
    fn ports_like_kuma() {
        assert_eq!(parse_port("8080"), Some(8080));
        assert_eq!(parse_port("08080"), Some(8080));
        for bad in ["", "0", "65536", "+1", "-1", "1a", "99999999999"] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn request_uris_like_go() {
        let port = |s: &str| parse_request_uri(s).map(|u| u.port().to_string());
        assert_eq!(
            port("http://zipkin.local:9411/api/v1/spans"),
            Ok("9411".into())
        );
        assert_eq!(port("http://zipkin.local/api/v1/spans"), Ok("".into()));
        assert_eq!(port("http://[::1]:9411/x"), Ok("9411".into()));
        assert_eq!(port("http://user:pw@host:1/"), Ok("1".into()));
        assert_eq!(port("http://host:/x"), Ok("".into()));
        assert_eq!(port("/api/v1/spans"), Ok("".into()));
        assert_eq!(port("localhost:9411"), Ok("".into()));
        assert_eq!(port("http://host:9411?x=1"), Ok("9411".into()));
        for bad in [
            "",
            "invalid-url",
            ":9411",
            "http://host:abc/",
            "http://ho st:1/",
            "http://host:1/%zz",
            "http://[::1/",
            "http://a\nb",
        ] {
            assert!(parse_request_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn http_statuses() {
        for ok in [
            100, 103, 200, 226, 300, 305, 307, 308, 418, 421, 451, 500, 511,
        ] {
            assert!(is_known_http_status(ok), "{ok}");
        }
        for bad in [0, 99, 104, 209, 306, 309, 419, 420, 427, 430, 509, 512, 600] {
            assert!(!is_known_http_status(bad), "{bad}");
        }
    }
}
