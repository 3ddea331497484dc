//! `TrafficRoute`: how traffic to a service is split across its versions.

use serde::{Deserialize, Serialize};

use crate::proto::{self, is_default, Tags};
use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};

/// Spec of a `TrafficRoute`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficRouteSpec {
    /// Clients the route applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<Selector>,
    /// Service being routed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Selector>,
    /// Weighted split.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conf: Vec<WeightedDestination>,
}

/// One branch of a split.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct WeightedDestination {
    /// Relative weight.
    #[serde(deserialize_with = "proto::u32", skip_serializing_if = "is_default")]
    pub weight: u32,
    /// Tags selecting the endpoints of this branch.
    #[serde(
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub destination: Tags,
}

impl TrafficRouteSpec {
    /// Validation of §6.8.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::SERVICE.check_list(&Path::root("sources"), &self.sources, &mut v);
        SelectorRules::ONLY_SERVICE.check_list(
            &Path::root("destinations"),
            &self.destinations,
            &mut v,
        );
        let conf = Path::root("conf");
        if self.conf.is_empty() {
            v.add(&conf, "must have at least one element");
        }
        // Weights are not validated: 0 is allowed and there is no check on their sum.
        let rules = SelectorRules::NONE.at_least_one_tag().require_service();
        for (i, split) in self.conf.iter().enumerate() {
            rules.check_tags(
                &conf.index(i).field("destination"),
                &split.destination,
                &mut v,
            );
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    #[test]
    fn traffic_routes() {
        let cases: Cases<'_> = vec![
            (
                "docs",
                json!({
                "type": "TrafficRoute", "name": "web-to-backend", "mesh": "mesh-1",
                "sources": [{"match": {"region": "us-east-1", "service": "web", "version": "v10"}}],
                "destinations": [{"match": {"service": "backend"}}],
                "conf": [
                    {"weight": 90, "destination": {"region": "us-east-1", "service": "backend", "version": "v2"}},
                    {"weight": 10, "destination": {"service": "backend", "version": "v3"}}]}),
                vec![],
            ),
            (
                "zero weight",
                json!({
                "sources": [{"match": {"service": "*"}}],
                "destinations": [{"match": {"service": "*"}}],
                "conf": [{"weight": 0, "destination": {"service": "backend"}}]}),
                vec![],
            ),
            (
                "empty",
                json!({}),
                vec![
                    ("sources", "must have at least one element"),
                    ("destinations", "must have at least one element"),
                    ("conf", "must have at least one element"),
                ],
            ),
            (
                "selectors without tags",
                json!({
                "sources": [{"match": {}}], "destinations": [{"match": {}}],
                "conf": [{"weight": 100, "destination": {}}]}),
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
                    ("conf[0].destination", "must have at least one tag"),
                    (
                        "conf[0].destination",
                        "mandatory tag \"service\" is missing",
                    ),
                ],
            ),
            (
                "empty tag values",
                json!({
                "sources": [{"match": {"service": "", "region": ""}}],
                "destinations": [{"match": {"service": "", "region": ""}}],
                "conf": [{"weight": 100, "destination": {"service": "", "region": ""}}]}),
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
                    (
                        "conf[0].destination[\"region\"]",
                        "tag value must be non-empty",
                    ),
                    (
                        "conf[0].destination[\"service\"]",
                        "tag value must be non-empty",
                    ),
                ],
            ),
            (
                "multiple selectors",
                json!({
                "sources": [{"match": {"service": "web"}}, {"match": {}}],
                "destinations": [{"match": {"service": "backend"}}, {"match": {}}],
                "conf": [{"weight": 1, "destination": {"service": "backend"}}, {"weight": 1, "destination": {}}]}),
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
                    ("conf[1].destination", "must have at least one tag"),
                    (
                        "conf[1].destination",
                        "mandatory tag \"service\" is missing",
                    ),
                ],
            ),
        ];
        for (name, spec, want) in cases {
            check(name, spec, TrafficRouteSpec::validate, &want);
        }
    }
}
