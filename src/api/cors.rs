//! CORS as Kuma does it (§1.6) with D14: an origin is allowed when it equals a configured entry
//! or a configured entry, as a regular expression, matches anywhere in it.

use regex::Regex;

/// The allowed origins.
#[derive(Clone, Debug)]
pub struct Cors {
    exact: Vec<String>,
    /// `None` when some entry is not a valid regex: then only exact matches count (as in Kuma).
    patterns: Option<Vec<Regex>>,
}

impl Cors {
    /// From `apiServer.corsAllowedDomains`; an empty list allows every origin.
    pub fn new(domains: &[String]) -> Cors {
        let patterns = domains
            .iter()
            .map(|d| Regex::new(d))
            .collect::<Result<Vec<_>, _>>()
            .ok();
        Cors {
            exact: domains.to_vec(),
            patterns,
        }
    }

    /// Whether `origin` may read responses.
    pub fn allows(&self, origin: &str) -> bool {
        self.exact.is_empty()
            || self.exact.iter().any(|d| d == origin)
            || self
                .patterns
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p.is_match(origin)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_unanchored_regex() {
        let c = Cors::new(&["https://a.example".into(), r"\.internal$".into()]);
        assert!(c.allows("https://a.example"));
        assert!(c.allows("http://ui.internal"));
        assert!(!c.allows("https://b.example"));
        let broken = Cors::new(&["(".into(), "x".into()]);
        assert!(broken.allows("x") && !broken.allows("xx"));
        assert!(Cors::new(&[]).allows("anything"));
        assert!(Cors::new(&[".*".into()]).allows("test"));
    }
}
