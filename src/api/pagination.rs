//! `size`/`offset` parsing (D1, D2) and `next` links (§5.3): the request's path and query with
//! `offset` replaced, keys sorted, values escaped as Go's `url.Values.Encode` does.

use ursa_actors::page::PageRequest;

use super::error::{ApiError, Title};

/// Page size when the request names none (D1).
pub const DEFAULT_SIZE: usize = 1000;
/// Largest page size (D1).
pub const MAX_SIZE: usize = 10_000;

/// A request's query: its pairs in order, repeated keys kept.
#[derive(Clone, Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (form-encoded).
    pub fn parse(raw: &str) -> Query {
        Query {
            pairs: serde_urlencoded::from_str(raw).unwrap_or_default(),
        }
    }

    /// The first value of `key`.
    pub fn first(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The page the query asks for; errors carry `title`.
    pub fn page(&self, title: Title) -> Result<PageRequest, ApiError> {
        let size = match self.first("size").filter(|s| !s.is_empty()) {
            None => DEFAULT_SIZE,
            Some(raw) => {
                let n: i64 = parse_int(raw).ok_or_else(|| ApiError::InvalidPageSize {
                    title,
                    message: "Invalid format".into(),
                })?;
                if n > MAX_SIZE as i64 {
                    return Err(ApiError::InvalidPageSize {
                        title,
                        message: format!(
                            "Invalid page size of {n}. Maximum page size is {MAX_SIZE}"
                        ),
                    });
                }
                if n < 1 {
                    return Err(ApiError::InvalidPageSize {
                        title,
                        message: format!("Invalid page size of {n}. Minimum page size is 1"),
                    });
                }
                n as usize
            }
        };
        let offset = match self.first("offset").filter(|s| !s.is_empty()) {
            None => 0,
            Some(raw) if raw.bytes().all(|b| b.is_ascii_digit()) => raw
                .parse::<usize>()
                .map_err(|_| ApiError::InvalidOffset { title })?,
            Some(_) => return Err(ApiError::InvalidOffset { title }),
        };
        Ok(PageRequest { offset, size })
    }

    /// The `next` link: `base` + `path` + this query with `offset` set to `offset`.
    pub fn next_url(&self, base: &str, path: &str, offset: usize) -> String {
        let mut pairs: Vec<(&str, String)> = self
            .pairs
            .iter()
            .filter(|(k, _)| k != "offset")
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        pairs.push(("offset", offset.to_string()));
        // Stable: repeated keys keep their order, as in Go.
        pairs.sort_by(|a, b| a.0.cmp(b.0));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
            .collect();
        format!("{base}{path}?{}", query.join("&"))
    }
}

/// Go's `strconv.Atoi` accepts an optional sign then digits.
fn parse_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_rules() {
        let q = |s: &str| Query::parse(s).page(Title::RetrieveList);
        assert_eq!(
            q("").unwrap(),
            PageRequest {
                offset: 0,
                size: 1000
            }
        );
        assert_eq!(
            q("size=2&offset=4").unwrap(),
            PageRequest { offset: 4, size: 2 }
        );
        assert_eq!(q("size=%2B3").unwrap().size, 3);
        for bad in [
            "size=abc",
            "size=0",
            "size=-1",
            "size=10001",
            "size=1.5",
            "size=99999999999999999999",
        ] {
            assert!(
                matches!(q(bad), Err(ApiError::InvalidPageSize { .. })),
                "{bad}"
            );
        }
        for bad in ["offset=-1", "offset=x", "offset=+1", "offset=1e3"] {
            assert!(
                matches!(q(bad), Err(ApiError::InvalidOffset { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn next_links_sort_keys_and_escape() {
        let q = Query::parse("size=2&tag=service%3Aweb&gateway=true&offset=0");
        assert_eq!(
            q.next_url("http://kuma.internal:1234", "/dataplanes+insights", 2),
            "http://kuma.internal:1234/dataplanes+insights?gateway=true&offset=2&size=2&tag=service%3Aweb"
        );
        let q = Query::parse("tag=b:1&size=1&tag=a:2");
        assert_eq!(
            q.next_url("http://h:1", "/x", 1),
            "http://h:1/x?offset=1&size=1&tag=b%3A1&tag=a%3A2"
        );
    }
}
