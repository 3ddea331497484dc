//! Tag selectors (`{"match": {...}}`) shared by most policies, and the rule sets Kuma checks
//! them with.

use serde::{Deserialize, Serialize};

use crate::proto::{self, Tags};
use crate::validation::{go_quote, Path, Violations};

/// A selector: every tag in `match` must be equal on the selected dataplane (`*` = any value).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Selector {
    /// Tags to match.
    #[serde(
        rename = "match",
        deserialize_with = "proto::tags",
        skip_serializing_if = "Tags::is_empty"
    )]
    pub match_: Tags,
}

/// The rules Kuma checks a list of selectors (or one tag map) with (§6.1). Each policy kind
/// picks a combination; the checks always run in Kuma's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SelectorRules {
    /// An empty list is a violation (`must have at least one element`).
    pub at_least_one_selector: bool,
    /// An empty tag map is a violation (`must have at least one tag`).
    pub at_least_one_tag: bool,
    /// Exactly one tag, `service`, is allowed.
    pub only_service: bool,
    /// A `protocol` tag equal to `http` is required (FaultInjection).
    pub protocol_http: bool,
    /// A `service` tag is required (`mandatory tag "service" is missing`).
    pub require_service: bool,
}

impl SelectorRules {
    /// No rule at all; combine with the builder methods.
    pub const NONE: SelectorRules = SelectorRules {
        at_least_one_selector: false,
        at_least_one_tag: false,
        only_service: false,
        protocol_http: false,
        require_service: false,
    };

    /// At least one selector, each with at least one tag, one of them `service`: the usual
    /// rules for the side of a policy that names dataplanes.
    pub const SERVICE: SelectorRules = SelectorRules::NONE
        .at_least_one_selector()
        .at_least_one_tag()
        .require_service();

    /// Kuma's "only service" rule set: at least one selector, each exactly `{service: …}`.
    pub const ONLY_SERVICE: SelectorRules = SelectorRules::NONE
        .at_least_one_selector()
        .only_service()
        .require_service();

    /// Adds `RequireAtLeastOneSelector`.
    pub const fn at_least_one_selector(mut self) -> SelectorRules {
        self.at_least_one_selector = true;
        self
    }

    /// Adds `RequireAtLeastOneTag`.
    pub const fn at_least_one_tag(mut self) -> SelectorRules {
        self.at_least_one_tag = true;
        self
    }

    /// Adds the "only service" rule.
    pub const fn only_service(mut self) -> SelectorRules {
        self.only_service = true;
        self
    }

    /// Adds the "protocol http" rule.
    pub const fn protocol_http(mut self) -> SelectorRules {
        self.protocol_http = true;
        self
    }

    /// Adds `RequireService`.
    pub const fn require_service(mut self) -> SelectorRules {
        self.require_service = true;
        self
    }

    /// Checks a selector list at `root` (`sources`), each selector's tags at `root[i].match`.
    pub fn check_list(&self, root: &Path, selectors: &[Selector], violations: &mut Violations) {
        if self.at_least_one_selector && selectors.is_empty() {
            violations.add(root, "must have at least one element");
        }
        for (i, selector) in selectors.iter().enumerate() {
            self.check_tags(&root.index(i).field("match"), &selector.match_, violations);
        }
    }

    /// Checks one tag map at `path` (rules 1–5 of §6.1, keys in ascending byte order).
    pub fn check_tags(&self, path: &Path, tags: &Tags, violations: &mut Violations) {
        if self.at_least_one_tag && tags.is_empty() {
            violations.add(path, "must have at least one tag");
        }
        if self.only_service && (tags.len() != 1 || !tags.contains_key(SERVICE_TAG)) {
            violations.add(path, "must consist of exactly one tag \"service\"");
        }
        if self.protocol_http {
            match tags.get(PROTOCOL_TAG) {
                None => violations.add(path, "protocol must be specified"),
                Some(p) if p != "http" => {
                    violations.add(path.key(PROTOCOL_TAG), "must be one of the [http]")
                }
                Some(_) => {}
            }
        }
        // `Tags` is a BTreeMap: iteration is already in ascending byte order of the keys.
        for (key, value) in tags {
            if key.is_empty() {
                violations.add(path, "tag name must be non-empty");
            }
            if !is_tag_name(key) {
                violations.add(
                    path.key(key),
                    "tag name must consist of alphanumeric characters, dots, dashes and underscores",
                );
            }
            if self.only_service && key != SERVICE_TAG {
                violations.add(
                    path.key(key),
                    format!("tag {} is not allowed", go_quote(key)),
                );
            }
            if value.is_empty() {
                violations.add(path.key(key), "tag value must be non-empty");
            }
            if !(is_tag_name(value) || value == MATCH_ALL) {
                violations.add(
                    path.key(key),
                    "tag value must consist of alphanumeric characters, dots, dashes and underscores or be \"*\"",
                );
            }
        }
        if self.require_service && !tags.contains_key(SERVICE_TAG) {
            violations.add(path, "mandatory tag \"service\" is missing");
        }
    }
}

/// The tag every dataplane inbound, gateway and most selectors must carry.
pub const SERVICE_TAG: &str = "service";

/// The tag naming an inbound's protocol.
pub const PROTOCOL_TAG: &str = "protocol";

/// The selector value matching any value.
pub const MATCH_ALL: &str = "*";

/// Kuma's `^[a-zA-Z0-9\.\-_:]*$`, the character set of tag names (and of dataplane tag values).
pub fn is_tag_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn check(rules: SelectorRules, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut v = Violations::new();
        rules.check_tags(&Path::root("p"), &tags(pairs), &mut v);
        v.causes.into_iter().map(|c| (c.field, c.message)).collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(f, m)| (f.to_string(), m.to_string()))
            .collect()
    }

    #[test]
    fn rules_run_in_kumas_order() {
        let all = SelectorRules::NONE
            .at_least_one_tag()
            .only_service()
            .protocol_http()
            .require_service();
        assert_eq!(
            check(all, &[]),
            pairs(&[
                ("p", "must have at least one tag"),
                ("p", "must consist of exactly one tag \"service\""),
                ("p", "protocol must be specified"),
                ("p", "mandatory tag \"service\" is missing"),
            ])
        );
        assert_eq!(
            check(all, &[("", "x"), ("b@d", ""), ("protocol", "tcp")]),
            pairs(&[
                ("p", "must consist of exactly one tag \"service\""),
                ("p[\"protocol\"]", "must be one of the [http]"),
                ("p", "tag name must be non-empty"),
                ("p[\"\"]", "tag \"\" is not allowed"),
                ("p[\"b@d\"]", "tag name must consist of alphanumeric characters, dots, dashes and underscores"),
                ("p[\"b@d\"]", "tag \"b@d\" is not allowed"),
                ("p[\"b@d\"]", "tag value must be non-empty"),
                ("p[\"protocol\"]", "tag \"protocol\" is not allowed"),
                ("p", "mandatory tag \"service\" is missing"),
            ])
        );
    }

    #[test]
    fn values_allow_star_and_keys_sort_by_bytes() {
        assert!(check(SelectorRules::SERVICE, &[("service", "*")]).is_empty());
        assert_eq!(
            check(SelectorRules::NONE, &[("b", "v@l"), ("B", "**"), ("a", "ok")]),
            pairs(&[
                ("p[\"B\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores or be \"*\""),
                ("p[\"b\"]", "tag value must consist of alphanumeric characters, dots, dashes and underscores or be \"*\""),
            ])
        );
    }

    #[test]
    fn lists_need_an_element_when_asked() {
        let mut v = Violations::new();
        SelectorRules::SERVICE.check_list(&Path::root("sources"), &[], &mut v);
        SelectorRules::NONE.check_list(&Path::root("selectors"), &[], &mut v);
        assert_eq!(
            v,
            Violations::single("sources", "must have at least one element")
        );
    }
}
