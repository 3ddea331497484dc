//! `TrafficLog`: which connections are access-logged, to which backend.

use serde::{Deserialize, Serialize};

use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `TrafficLog`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficLogSpec {
    /// Clients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Selector>,
    /// Services.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Selector>,
    /// Backend choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<BackendRef>,
}

/// A reference to a mesh backend by name (empty = the mesh's default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BackendRef {
    /// Backend name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub backend: String,
}

impl TrafficLogSpec {
    /// Validation of §6.6.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::SERVICE.check_list(&Path::root("sources"), &self.sources, &mut v);
        SelectorRules::ONLY_SERVICE.check_list(
            &Path::root("destinations"),
            &self.destinations,
            &mut v,
        );
        // `conf.backend` is free: empty means the mesh's default, and it is not checked
        // against the mesh.
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    #[test]
    fn traffic_logs() {
        let cases: Cases<'_> = vec![
            (
                "docs",
                json!({
                "type": "TrafficLog", "mesh": "mesh-1", "name": "tl-1",
                "sources": [{"match": {"service": "web", "version": "1.0"}}],
                "destinations": [{"match": {"service": "backend"}}],
                "conf": {"backend": "file"}}),
                vec![],
            ),
            (
                "no conf",
                json!({
                "sources": [{"match": {"service": "*"}}],
                "destinations": [{"match": {"service": "*"}}]}),
                vec![],
            ),
            (
                "empty",
                json!({}),
                vec![
                    ("sources", "must have at least one element"),
                    ("destinations", "must have at least one element"),
                ],
            ),
            (
                "selectors without tags",
                json!({"sources": [{"match": {}}], "destinations": [{"match": {}}]}),
                vec![
                    ("sources[0].match", "must have at least one tag"),
                    ("sources[0].match", "mandatory tag \"service\" is missing"),
                    (
                        "destinations[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "destinations[0].match",
                        "mandatory tag \"service\" is missing",
                    ),
                ],
            ),
            (
                "empty tag values",
                json!({
                "sources": [{"match": {"service": "", "region": ""}}],
                "destinations": [{"match": {"service": "", "region": ""}}]}),
                vec![
                    (
                        "sources[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "sources[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "destinations[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "destinations[0].match[\"region\"]",
                        "tag \"region\" is not allowed",
                    ),
                    (
                        "destinations[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "destinations[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                ],
            ),
            (
                "multiple selectors",
                json!({
                "sources": [{"match": {"service": "web"}}, {"match": {}}],
                "destinations": [{"match": {"service": "backend"}}, {"match": {}}]}),
                vec![
                    ("sources[1].match", "must have at least one tag"),
                    ("sources[1].match", "mandatory tag \"service\" is missing"),
                    (
                        "destinations[1].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "destinations[1].match",
                        "mandatory tag \"service\" is missing",
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            check(name, spec, TrafficLogSpec::validate, &want);
        }
    }
}
