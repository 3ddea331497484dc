//! The HTTP client of the control plane's API (and of its admin server): blocking requests with
//! an optional bearer token, answers of any status returned as they are, transport failures
//! told apart from refusals so that they get their own exit code.

use std::time::Duration;

/// Largest answer read (a page of 10,000 dataplanes with insights fits).
const MAX_BODY: u64 = 512 * 1024 * 1024;

/// A transport-level failure or an error answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL cannot be used.
    #[error("invalid URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Nothing answered at the URL.
    #[error("{url} is not reachable: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// An answer with an error status.
    #[error("({status}): {}", String::from_utf8_lossy(body))]
    Status {
        /// The status code.
        status: u16,
        /// The answer's body.
        body: Vec<u8>,
    },
}

/// An answer, of any status.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The reply if its status is below 400, else it as an error.
    pub fn success(self) -> Result<Reply, ClientError> {
        if self.status >= 400 {
            Err(ClientError::Status {
                status: self.status,
                body: self.body,
            })
        } else {
            Ok(self)
        }
    }

    /// The body as JSON (a successful answer that is not JSON is a refusal of sorts).
    pub fn json(&self) -> Result<serde_json::Value, ClientError> {
        serde_json::from_slice(&self.body).map_err(|_| ClientError::Status {
            status: self.status,
            body: self.body.clone(),
        })
    }
}

/// A client of one control plane.
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    debug: bool,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the API at `base` (e.g. `http://localhost:5681`), sending `token` as a
    /// bearer token when given, logging every request to stderr when `debug`. An `https` API
    /// is verified against Mozilla's roots, or only against the PEM certificates of `ca`.
    pub fn new(
        base: &str,
        token: Option<String>,
        debug: bool,
        ca: Option<&[u8]>,
    ) -> Result<Client, ClientError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(pem) = ca {
            let certs = ureq::tls::parse_pem(pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(Ok(c)),
                    Ok(_) => None,
                    Err(e) => Some(Err(e)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ClientError::BadUrl {
                    url: base.to_string(),
                    reason: format!("the CA certificate is not valid PEM: {e}"),
                })?;
            if certs.is_empty() {
                return Err(ClientError::BadUrl {
                    url: base.to_string(),
                    reason: "the CA certificate file holds no certificate".into(),
                });
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            // kumactl's client timeout.
            .timeout_global(Some(Duration::from_secs(60)))
            .user_agent(concat!("ursactl/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            debug,
            agent: config.into(),
        })
    }

    /// The API's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `path` (with its query) below the base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `GET` of a path below the base URL.
    pub fn get(&self, path: &str) -> Result<Reply, ClientError> {
        self.get_url(&self.url(path))
    }

    /// `GET` of an absolute URL.
    pub fn get_url(&self, url: &str) -> Result<Reply, ClientError> {
        self.log("GET", url);
        let req = self.agent.get(url).header("Accept", "application/json");
        let req = match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        };
        self.finish(url, req.call())
    }

    /// `PUT` of a JSON body to a path below the base URL.
    pub fn put_json(&self, path: &str, body: &[u8]) -> Result<Reply, ClientError> {
        let url = self.url(path);
        self.send_json("PUT", &url, body)
    }

    /// `POST` of a JSON body to an absolute URL.
    pub fn post_json(&self, url: &str, body: &[u8]) -> Result<Reply, ClientError> {
        self.send_json("POST", url, body)
    }

    fn send_json(&self, method: &str, url: &str, body: &[u8]) -> Result<Reply, ClientError> {
        self.log(method, url);
        let req = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        };
        let req = req
            .header("Content-Type", "application/json")
            .header("Accept", "application/json");
        let req = match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        };
        self.finish(url, req.send(body))
    }

    /// `DELETE` of a path below the base URL.
    pub fn delete(&self, path: &str) -> Result<Reply, ClientError> {
        let url = self.url(path);
        self.log("DELETE", &url);
        let req = self.agent.delete(&url).header("Accept", "application/json");
        let req = match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        };
        self.finish(&url, req.call())
    }

    fn log(&self, method: &str, url: &str) {
        if self.debug {
            eprintln!("> {method} {url}");
        }
    }

    fn finish(
        &self,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Reply, ClientError> {
        let mut resp = result.map_err(|e| transport_error(url, e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| transport_error(url, e))?;
        if self.debug {
            eprintln!("< {status} ({} bytes)", body.len());
        }
        Ok(Reply { status, body })
    }
}

fn transport_error(url: &str, e: ureq::Error) -> ClientError {
    let url = url.to_string();
    match e {
        ureq::Error::BadUri(reason) => ClientError::BadUrl { url, reason },
        ureq::Error::Http(e) => ClientError::BadUrl {
            url,
            reason: e.to_string(),
        },
        other => ClientError::Unreachable {
            url,
            reason: other.to_string(),
        },
    }
}

/// Percent-encodes one path segment (names are plain in practice; anything else stays one
/// segment).
pub fn segment(s: &str) -> String {
    escape(s, false)
}

/// A query string as Go's `url.Values.Encode` writes it (kumactl's requests): keys sorted,
/// repeated keys in their order, values form-encoded. Empty when there are no pairs.
pub fn query(pairs: &[(&str, String)]) -> String {
    let mut pairs: Vec<&(&str, String)> = pairs.iter().collect();
    pairs.sort_by_key(|(k, _)| *k);
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k, true), escape(v, true)))
        .collect();
    if encoded.is_empty() {
        String::new()
    } else {
        format!("?{}", encoded.join("&"))
    }
}

fn escape(s: &str, form: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' if form => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The value of `key` in the query of `url`, decoded.
pub fn query_value(url: &str, key: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or("");
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (unescape(k) == key).then(|| unescape(v))
    })
}

fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(b)) => {
                out.push(b);
                i += 2;
            }
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_encoded_like_go() {
        assert_eq!(query(&[]), "");
        assert_eq!(
            query(&[("size", "2".into()), ("offset", "10".into())]),
            "?offset=10&size=2"
        );
        assert_eq!(
            query(&[
                ("tag", "service:mobile".into()),
                ("gateway", "true".into()),
                ("tag", "version:v 1".into())
            ]),
            "?gateway=true&tag=service%3Amobile&tag=version%3Av+1"
        );
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn next_offsets_are_read_from_links() {
        let next = "http://localhost:5681/meshes/default/dataplanes+insights?offset=2&size=2&tag=service%3Aweb";
        assert_eq!(query_value(next, "offset").as_deref(), Some("2"));
        assert_eq!(query_value(next, "tag").as_deref(), Some("service:web"));
        assert_eq!(query_value(next, "nope"), None);
        assert_eq!(query_value("http://x/meshes", "offset"), None);
        assert_eq!(
            query_value("http://x/?offset=%zz", "offset").as_deref(),
            Some("%zz")
        );
    }
}
