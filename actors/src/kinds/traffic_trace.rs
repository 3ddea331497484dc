//! `TrafficTrace`: which dataplanes report traces, to which backend.

use serde::{Deserialize, Serialize};

use super::traffic_log::BackendRef;
use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `TrafficTrace`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficTraceSpec {
    /// Dataplanes that trace.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<Selector>,
    /// Backend choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<BackendRef>,
}

impl TrafficTraceSpec {
    /// Validation of §6.9.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::NONE
            .at_least_one_selector()
            .at_least_one_tag()
            .check_list(&Path::root("selectors"), &self.selectors, &mut v);
        // `conf.backend` is free (empty = the mesh's default backend).
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    #[test]
    fn traffic_traces() {
        let cases: Cases<'_> = vec![
            (
                "docs",
                json!({
                "type": "TrafficTrace", "mesh": "mesh-1", "name": "tt-1",
                "conf": {"backend": "my-zipkin"},
                "selectors": [{"match": {"service": "*"}}]}),
                vec![],
            ),
            (
                "backend",
                json!({"selectors": [{"match": {"region": "eu"}}], "conf": {"backend": "zipkin-eu"}}),
                vec![],
            ),
            (
                "empty backend",
                json!({"selectors": [{"match": {"region": "eu"}}], "conf": {"backend": ""}}),
                vec![],
            ),
            (
                "no conf",
                json!({"selectors": [{"match": {"region": "eu"}}]}),
                vec![],
            ),
            (
                "empty",
                json!({}),
                vec![("selectors", "must have at least one element")],
            ),
            (
                "selector without tags",
                json!({"selectors": [{"match": {}}]}),
                vec![("selectors[0].match", "must have at least one tag")],
            ),
            (
                "empty tag values",
                json!({"selectors": [{"match": {"service": "", "region": ""}}]}),
                vec![
                    (
                        "selectors[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "selectors[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                ],
            ),
            (
                "multiple selectors",
                json!({"selectors": [{"match": {"service": "", "region": ""}}, {"match": {}}]}),
                vec![
                    (
                        "selectors[0].match[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "selectors[0].match[\"service\"]",
                        "tag value must be non-empty",
                    ),
                    ("selectors[1].match", "must have at least one tag"),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            check(name, spec, TrafficTraceSpec::validate, &want);
        }
    }
}
