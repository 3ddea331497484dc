//! `TrafficPermission`: which services may talk to which when mTLS is on.

use serde::{Deserialize, Serialize};

use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `TrafficPermission`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficPermissionSpec {
    /// Allowed clients.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Selector>,
    /// Services they may reach.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Selector>,
}

impl TrafficPermissionSpec {
    /// Validation of §6.7.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::ONLY_SERVICE.check_list(&Path::root("sources"), &self.sources, &mut v);
        SelectorRules::SERVICE.check_list(&Path::root("destinations"), &self.destinations, &mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    #[test]
    fn traffic_permissions() {
        let cases: Cases<'_> = vec![
            (
                "docs",
                json!({
                "type": "TrafficPermission", "name": "tp-1", "mesh": "mesh-1",
                "sources": [{"match": {"service": "backend"}}],
                "destinations": [{"match": {"service": "redis"}}]}),
                vec![],
            ),
            (
                "wildcards",
                json!({
                "sources": [{"match": {"service": "*"}}],
                "destinations": [{"match": {"service": "*", "version": "*"}}]}),
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
                    (
                        "sources[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    ("sources[0].match", "mandatory tag \"service\" is missing"),
                    ("destinations[0].match", "must have at least one tag"),
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
                        "sources[0].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    (
                        "sources[0].match[\"region\"]",
                        "tag \"region\" is not allowed",
                    ),
                    (
                        "sources[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "sources[0].match[\"service\"]",
                        "tag value must be non-empty",
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
                    (
                        "sources[1].match",
                        "must consist of exactly one tag \"service\"",
                    ),
                    ("sources[1].match", "mandatory tag \"service\" is missing"),
                    ("destinations[1].match", "must have at least one tag"),
                    (
                        "destinations[1].match",
                        "mandatory tag \"service\" is missing",
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            check(name, spec, TrafficPermissionSpec::validate, &want);
        }
    }
}
