//! Optimistic concurrency and dry runs on the wire (beyond Kuma, opt-in): a resource's `ETag`
//! is its store version (`"7"`); `If-Match` and `If-None-Match` on `PUT`/`DELETE` become a
//! [`Precondition`], `?dryRun=true` a dry run. A client sending none of them sees Kuma's API.

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use ursa_actors::precondition::{Precondition, Versions};
use ursa_actors::WriteOptions;

use super::error::ApiError;
use super::pagination::Query;

/// The `ETag` of a resource at `version`.
pub fn etag(version: u64) -> HeaderValue {
    // Digits and quotes only: always a valid header value.
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The precondition and dry-run flag of a write request.
pub fn write_options(headers: &HeaderMap, query: &Query) -> Result<WriteOptions, ApiError> {
    Ok(WriteOptions {
        precondition: Precondition {
            if_match: tags(headers, &header::IF_MATCH, false),
            if_none_match: tags(headers, &header::IF_NONE_MATCH, true),
        },
        dry_run: dry_run(query)?,
    })
}

/// `?dryRun=`: `true`/`1` or `false`/`0` (any case); absent is `false`.
pub fn dry_run(query: &Query) -> Result<bool, ApiError> {
    flag(query, "dryRun")
}

/// A boolean query parameter; absent is `false`, an empty value `true` (`?watch`).
pub fn flag(query: &Query, name: &'static str) -> Result<bool, ApiError> {
    match query.first(name).map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("" | "true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(_) => Err(ApiError::InvalidParameter {
            name,
            message: "must be true or false".into(),
        }),
    }
}

/// The versions named by every `name` header: `*`, or entity tags of which those that are
/// versions of ours count (`W/` tags only under weak comparison, i.e. for `If-None-Match`).
/// A tag that is no version of ours matches nothing, as RFC 9110 wants of an unknown tag.
fn tags(headers: &HeaderMap, name: &header::HeaderName, weak: bool) -> Option<Versions> {
    let mut values = headers.get_all(name).peekable();
    values.peek()?;
    let mut versions = Vec::new();
    for value in values {
        let text = String::from_utf8_lossy(value.as_bytes());
        for tag in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                return Some(Versions::Any);
            }
            let (is_weak, opaque) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            if is_weak && !weak {
                continue;
            }
            let version = opaque
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|t| t.parse::<u64>().ok());
            if let Some(v) = version {
                versions.push(v);
            }
        }
    }
    Some(Versions::Of(versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                header::HeaderName::from_static(k),
                HeaderValue::from_static(v),
            );
        }
        map
    }

    fn pre(pairs: &[(&'static str, &'static str)]) -> Precondition {
        write_options(&headers(pairs), &Query::default())
            .unwrap()
            .precondition
    }

    #[test]
    fn entity_tags() {
        assert!(pre(&[]).is_none());
        assert_eq!(
            pre(&[("if-match", "\"3\"")]).if_match,
            Some(Versions::Of(vec![3]))
        );
        assert_eq!(
            pre(&[("if-match", "\"3\", \"x\""), ("if-match", "W/\"4\",\"5\"")]).if_match,
            Some(Versions::Of(vec![3, 5])),
            "weak tags never match If-Match; unknown tags match nothing"
        );
        assert_eq!(pre(&[("if-match", "*")]).if_match, Some(Versions::Any));
        assert_eq!(
            pre(&[("if-match", "3")]).if_match,
            Some(Versions::Of(vec![])),
            "an unquoted tag is not a tag"
        );
        assert_eq!(
            pre(&[("if-none-match", "*")]).if_none_match,
            Some(Versions::Any)
        );
        assert_eq!(
            pre(&[("if-none-match", "W/\"2\"")]).if_none_match,
            Some(Versions::Of(vec![2]))
        );
        assert_eq!(etag(12), HeaderValue::from_static("\"12\""));
    }

    #[test]
    fn flags() {
        let q = |s: &str| dry_run(&Query::parse(s));
        assert!(!q("").unwrap());
        assert!(q("dryRun=true").unwrap());
        assert!(q("dryRun=TRUE").unwrap());
        assert!(q("dryRun").unwrap());
        assert!(!q("dryRun=0").unwrap());
        assert!(q("dryRun=yes").is_err());
    }
}
