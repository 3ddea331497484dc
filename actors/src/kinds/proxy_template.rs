//! `ProxyTemplate`: which generation profile and which raw Envoy resources a dataplane gets.

use serde::{Deserialize, Serialize};

use crate::selector::{Selector, SelectorRules};
use crate::validation::{Path, Violations};
use crate::xds::raw::Decoded;

/// Spec of a `ProxyTemplate`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProxyTemplateSpec {
    /// Dataplanes the template applies to.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<Selector>,
    /// What to generate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<ProxyTemplateConf>,
}

/// What a ProxyTemplate generates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ProxyTemplateConf {
    /// Predefined profiles (`default-proxy`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<String>,
    /// Raw Envoy resources.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<RawResource>,
}

/// A raw Envoy resource in YAML or JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RawResource {
    /// Resource name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Resource version.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The resource itself, as YAML or JSON text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub resource: String,
    /// `resource` decoded (by validation, or by the first generation that reads it).
    #[serde(skip)]
    pub decoded: Decoded,
}

impl ProxyTemplateSpec {
    /// Validation of §6.5: selectors, then `conf.imports`, then `conf.resources`.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        SelectorRules::NONE
            .at_least_one_tag()
            .require_service()
            .check_list(&Path::root("selectors"), &self.selectors, &mut v);
        let Some(conf) = &self.conf else {
            return v;
        };
        let imports = Path::root("conf").field("imports");
        for (i, import) in conf.imports.iter().enumerate() {
            if import.is_empty() {
                v.add(imports.index(i), "cannot be empty");
            } else if !PROFILES.contains(&import.as_str()) {
                v.add(
                    imports.index(i),
                    format!(
                        "profile not found. Available profiles: {}",
                        PROFILES.join(",")
                    ),
                );
            }
        }
        let resources = Path::root("conf").field("resources");
        for (i, resource) in conf.resources.iter().enumerate() {
            let path = resources.index(i);
            if resource.name.is_empty() {
                v.add(path.field("name"), "cannot be empty");
            }
            if resource.version.is_empty() {
                v.add(path.field("version"), "cannot be empty");
            }
            if resource.resource.is_empty() {
                v.add(path.field("resource"), "cannot be empty");
            } else if let Err(e) = resource.decoded.of(&resource.resource) {
                v.add(
                    path.field("resource"),
                    format!("native Envoy resource is not valid: {e}"),
                );
            }
        }
        v
    }
}

/// The generation profiles a ProxyTemplate may import.
pub const PROFILES: &[&str] = &[DEFAULT_PROXY];

/// The profile of everything Ursa generates for a dataplane.
pub const DEFAULT_PROXY: &str = "default-proxy";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, Cases};
    use serde_json::json;

    const DOCS_CLUSTER: &str = "'@type': type.googleapis.com/envoy.api.v2.Cluster\nconnectTimeout: 5s\nloadAssignment:\n  clusterName: localhost:8443\n  endpoints:\n    - lbEndpoints:\n        - endpoint:\n            address:\n              socketAddress:\n                address: 127.0.0.1\n                portValue: 8443\nname: localhost:8443\ntype: STATIC\n";

    fn with_resource(resource: &str) -> serde_json::Value {
        json!({
            "selectors": [{"match": {"service": "backend"}}],
            "conf": {"resources": [{"name": "additional", "version": "v1", "resource": resource}]}
        })
    }

    fn invalid(message: &str) -> String {
        format!("native Envoy resource is not valid: {message}")
    }

    #[test]
    fn valid_proxy_templates() {
        let cases = [
            (
                "docs",
                json!({
                "type": "ProxyTemplate", "name": "pt-1", "mesh": "mesh-1",
                "selectors": [{"match": {"service": "backend"}}],
                "conf": {"imports": ["default-proxy"],
                         "resources": [{"name": "raw-name", "version": "raw-version", "resource": DOCS_CLUSTER}]}}),
            ),
            (
                "selectors only",
                json!({"selectors": [{"match": {"service": "backend"}}]}),
            ),
            ("nothing", json!({})),
            (
                "json resource",
                with_resource(
                    r#"{"@type": "type.googleapis.com/envoy.api.v2.Listener", "name": "l"}"#,
                ),
            ),
            (
                "v3 resources",
                json!({"conf": {"resources": [
                {"name": "a", "version": "1", "resource": "'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: c"},
                {"name": "b", "version": "1", "resource": "'@type': type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment\ncluster_name: c"},
                {"name": "c", "version": "1", "resource": "'@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret\nname: s"},
                {"name": "d", "version": "1", "resource": "'@type': type.googleapis.com/envoy.config.route.v3.RouteConfiguration\nname: r"},
                {"name": "e", "version": "1", "resource": "'@type': envoy.config.listener.v3.Listener\nname: l"}]}}),
            ),
        ];
        for (name, spec) in cases {
            check(name, spec, ProxyTemplateSpec::validate, &[]);
        }
    }

    #[test]
    fn invalid_proxy_templates() {
        let cluster_without_name = "'@type': type.googleapis.com/envoy.api.v2.Cluster\nloadAssignment:\n  clusterName: localhost:8443\n  endpoints:\n    - lbEndpoints:\n        - endpoint:\n            address:\n              socketAddress:\n                address: 127.0.0.1\n                portValue: 8443\n";
        let messages = [
            invalid("invalid Cluster.Name: value length must be at least 1 bytes"),
            invalid(
                "json: cannot unmarshal string into Go value of type map[string]*json.RawMessage",
            ),
            invalid(
                "invalid ClusterLoadAssignment.ClusterName: value length must be at least 1 bytes",
            ),
            invalid("invalid Listener.Name: value length must be at least 1 runes"),
            invalid("invalid RouteConfiguration.Name: value length must be at least 1 bytes"),
            invalid("unknown message type \"envoy.api.v2.Foo\""),
            invalid("Any JSON doesn't have '@type'"),
            invalid(
                "json: cannot unmarshal array into Go value of type map[string]*json.RawMessage",
            ),
            invalid("json: cannot unmarshal number into Go value of type string"),
        ];
        let cases: Cases<'_> = vec![
            (
                "empty import",
                json!({"selectors": [{"match": {"service": "backend"}}], "conf": {"imports": [""]}}),
                vec![("conf.imports[0]", "cannot be empty")],
            ),
            (
                "unknown import",
                json!({"selectors": [{"match": {"service": "backend"}}], "conf": {"imports": ["unknown-profile"]}}),
                vec![(
                    "conf.imports[0]",
                    "profile not found. Available profiles: default-proxy",
                )],
            ),
            (
                "empty resource fields",
                json!({"selectors": [{"match": {"service": "backend"}}], "conf": {"resources": [{}]}}),
                vec![
                    ("conf.resources[0].name", "cannot be empty"),
                    ("conf.resources[0].version", "cannot be empty"),
                    ("conf.resources[0].resource", "cannot be empty"),
                ],
            ),
            (
                "selector without tags",
                json!({"selectors": [{"match": {}}]}),
                vec![
                    ("selectors[0].match", "must have at least one tag"),
                    ("selectors[0].match", "mandatory tag \"service\" is missing"),
                ],
            ),
            (
                "empty tag name",
                json!({"selectors": [{"match": {"": "asdf"}}]}),
                vec![
                    ("selectors[0].match", "tag name must be non-empty"),
                    ("selectors[0].match", "mandatory tag \"service\" is missing"),
                ],
            ),
            (
                "empty service",
                json!({"selectors": [{"match": {"service": ""}}]}),
                vec![(
                    "selectors[0].match[\"service\"]",
                    "tag value must be non-empty",
                )],
            ),
            (
                "cluster without name",
                with_resource(cluster_without_name),
                vec![("conf.resources[0].resource", &messages[0])],
            ),
            (
                "not an envoy resource",
                with_resource("not-envoy-resource"),
                vec![("conf.resources[0].resource", &messages[1])],
            ),
            (
                "cla without cluster name",
                with_resource("'@type': type.googleapis.com/envoy.api.v2.ClusterLoadAssignment"),
                vec![("conf.resources[0].resource", &messages[2])],
            ),
            (
                "v3 listener without name",
                with_resource(
                    "'@type': type.googleapis.com/envoy.config.listener.v3.Listener\nname: ''",
                ),
                vec![("conf.resources[0].resource", &messages[3])],
            ),
            (
                "route configuration without name",
                with_resource(
                    r#"{"@type": "type.googleapis.com/envoy.api.v2.RouteConfiguration"}"#,
                ),
                vec![("conf.resources[0].resource", &messages[4])],
            ),
            (
                "unknown type",
                with_resource("'@type': type.googleapis.com/envoy.api.v2.Foo"),
                vec![("conf.resources[0].resource", &messages[5])],
            ),
            (
                "no type",
                with_resource("name: x"),
                vec![("conf.resources[0].resource", &messages[6])],
            ),
            (
                "a list",
                with_resource("- a"),
                vec![("conf.resources[0].resource", &messages[7])],
            ),
            (
                "name not a string",
                with_resource("'@type': envoy.api.v2.Cluster\nname: 12"),
                vec![("conf.resources[0].resource", &messages[8])],
            ),
        ];
        for (name, spec, want) in cases {
            check(name, spec, ProxyTemplateSpec::validate, &want);
        }
        let mut v = Violations::new();
        ProxyTemplateSpec::validate(&serde_json::from_value(with_resource("a: [")).unwrap())
            .causes
            .into_iter()
            .for_each(|c| v.add(c.field, c.message));
        assert_eq!(v.causes.len(), 1);
        assert!(v.causes[0].message.starts_with(
            "native Envoy resource is not valid: error converting YAML to JSON: yaml: "
        ));
    }
}
