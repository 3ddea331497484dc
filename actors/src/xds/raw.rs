//! The raw Envoy resources of a ProxyTemplate (xDS §3.8, X18): YAML or JSON text of an `Any`,
//! decoded into the real v3 message by reflection over Envoy's own descriptors (compiled from
//! the `.proto` files by `build.rs`) and kept as the protobuf bytes the xDS edge sends.
//!
//! Kuma's checks come first, with Kuma's messages (the text is a mapping with a known `@type`
//! and a name); then the v2 type names Kuma 0.5.0 took (the API docs' example is a v2 Cluster)
//! are translated to their v3 names, at any depth, and the whole resource is decoded: an
//! unknown field, a value of the wrong type or a packed message Envoy does not know is
//! refused with the path to it.

use std::sync::{Arc, OnceLock};

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::model::RawResource;
use super::type_url::TypeUrl;
use crate::validation::go_quote;

/// The types a raw resource may be: Kuma's names (v2 and v3) and the v3 type each becomes,
/// with the name field a snapshot keys it by.
const TYPES: &[(&str, TypeUrl, NameRule)] = &[
    (
        "envoy.api.v2.Cluster",
        TypeUrl::Cluster,
        NameRule::V2_CLUSTER,
    ),
    (
        "envoy.api.v2.Listener",
        TypeUrl::Listener,
        NameRule::V2_LISTENER,
    ),
    (
        "envoy.api.v2.RouteConfiguration",
        TypeUrl::Route,
        NameRule::V2_ROUTE,
    ),
    (
        "envoy.api.v2.ClusterLoadAssignment",
        TypeUrl::Endpoint,
        NameRule::V2_CLA,
    ),
    (
        "envoy.api.v2.auth.Secret",
        TypeUrl::Secret,
        NameRule::V3_SECRET,
    ),
    (
        "envoy.config.cluster.v3.Cluster",
        TypeUrl::Cluster,
        NameRule::V3_CLUSTER,
    ),
    (
        "envoy.config.listener.v3.Listener",
        TypeUrl::Listener,
        NameRule::V3_LISTENER,
    ),
    (
        "envoy.config.route.v3.RouteConfiguration",
        TypeUrl::Route,
        NameRule::V3_ROUTE,
    ),
    (
        "envoy.config.endpoint.v3.ClusterLoadAssignment",
        TypeUrl::Endpoint,
        NameRule::V3_CLA,
    ),
    (
        "envoy.extensions.transport_sockets.tls.v3.Secret",
        TypeUrl::Secret,
        NameRule::V3_SECRET,
    ),
];

/// v2 message names (a prefix, or a whole name) and their v3 replacements (xDS §6.2). A
/// prefix ends with a dot; what follows it is kept.
const V2_TO_V3: &[(&str, &str)] = &[
    ("envoy.api.v2.Cluster", "envoy.config.cluster.v3.Cluster"),
    ("envoy.api.v2.Listener", "envoy.config.listener.v3.Listener"),
    (
        "envoy.api.v2.RouteConfiguration",
        "envoy.config.route.v3.RouteConfiguration",
    ),
    (
        "envoy.api.v2.ClusterLoadAssignment",
        "envoy.config.endpoint.v3.ClusterLoadAssignment",
    ),
    (
        "envoy.api.v2.auth.",
        "envoy.extensions.transport_sockets.tls.v3.",
    ),
    (
        "envoy.config.accesslog.v2.FileAccessLog",
        "envoy.extensions.access_loggers.file.v3.FileAccessLog",
    ),
    (
        "envoy.config.accesslog.v2.",
        "envoy.extensions.access_loggers.grpc.v3.",
    ),
    ("envoy.config.trace.v2.", "envoy.config.trace.v3."),
    (
        "envoy.config.grpc_credential.v2alpha.",
        "envoy.config.grpc_credential.v3.",
    ),
    (
        "envoy.service.discovery.v2.Runtime",
        "envoy.service.runtime.v3.Runtime",
    ),
];

/// v2 filter packages `envoy.config.filter.<area>.<name>.v2[alpha].M`, which became
/// `envoy.extensions.filters.<area>.<name>.v3.M`.
const V2_FILTERS: &str = "envoy.config.filter.";

/// A required non-empty name field, worded like protoc-gen-validate as Kuma reports it: v2
/// protos check `min_bytes` ("bytes"), v3 protos `min_len` ("runes").
#[derive(Clone, Copy)]
struct NameRule {
    message: &'static str,
    field: &'static str,
    json_names: &'static [&'static str],
    unit: &'static str,
}

impl NameRule {
    const fn new(message: &'static str, cla: bool, unit: &'static str) -> NameRule {
        let (field, json_names): (_, &'static [&'static str]) = if cla {
            ("ClusterName", &["clusterName", "cluster_name"])
        } else {
            ("Name", &["name"])
        };
        NameRule {
            message,
            field,
            json_names,
            unit,
        }
    }

    const V2_CLUSTER: NameRule = NameRule::new("Cluster", false, "bytes");
    const V2_LISTENER: NameRule = NameRule::new("Listener", false, "bytes");
    const V2_ROUTE: NameRule = NameRule::new("RouteConfiguration", false, "bytes");
    const V2_CLA: NameRule = NameRule::new("ClusterLoadAssignment", true, "bytes");
    const V3_CLUSTER: NameRule = NameRule::new("Cluster", false, "runes");
    const V3_LISTENER: NameRule = NameRule::new("Listener", false, "runes");
    const V3_ROUTE: NameRule = NameRule::new("RouteConfiguration", false, "runes");
    const V3_CLA: NameRule = NameRule::new("ClusterLoadAssignment", true, "runes");
    const V3_SECRET: NameRule = NameRule::new("Secret", false, "runes");

    fn missing(&self) -> String {
        format!(
            "invalid {}.{}: value length must be at least 1 {}",
            self.message, self.field, self.unit
        )
    }
}

/// Envoy's v3 descriptors, compiled by `build.rs`.
pub fn descriptors() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        DescriptorPool::decode(
            include_bytes!(concat!(env!("OUT_DIR"), "/envoy_descriptors.bin")).as_slice(),
        )
        .expect("the descriptors build.rs compiled decode")
    })
}

/// Decodes a raw resource's text; the error is what follows `native Envoy resource is not
/// valid: ` on `conf.resources[i].resource`.
pub fn parse(text: &str) -> Result<RawResource, String> {
    let yaml: Yaml = serde_yaml::from_str(text)
        .map_err(|e| format!("error converting YAML to JSON: yaml: {e}"))?;
    let map = match untag(&yaml) {
        Yaml::Mapping(map) => map,
        Yaml::Null => return Err("Any JSON doesn't have '@type'".into()),
        other => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type map[string]*json.RawMessage",
                json_kind(other)
            ))
        }
    };
    let type_name = match map.get("@type").map(untag) {
        None | Some(Yaml::Null) => return Err("Any JSON doesn't have '@type'".into()),
        Some(Yaml::String(s)) => s.rsplit('/').next().unwrap_or(s),
        Some(other) => {
            let raw = serde_yaml::to_string(other).unwrap_or_default();
            return Err(format!(
                "can't unmarshal Any's '@type': {}",
                go_quote(raw.trim_end())
            ));
        }
    };
    let Some(&(_, type_url, rule)) = TYPES.iter().find(|(name, ..)| *name == type_name) else {
        return Err(format!("unknown message type {}", go_quote(type_name)));
    };
    let name = match rule.json_names.iter().find_map(|k| map.get(*k)).map(untag) {
        None | Some(Yaml::Null) => "",
        Some(Yaml::String(s)) => s.as_str(),
        Some(other) => {
            return Err(format!(
                "json: cannot unmarshal {} into Go value of type string",
                json_kind(other)
            ))
        }
    };
    if name.is_empty() {
        return Err(rule.missing());
    }
    let mut json = to_json(&yaml)?;
    if let Json::Object(fields) = &mut json {
        fields.remove("@type");
    }
    translate_types(&mut json);
    let descriptor = message(type_url);
    let decoded = decode(descriptor, &json)?;
    Ok(RawResource {
        type_url,
        // The decoded message holds the same name: the proto3 JSON mapping reads only a
        // string there, and refuses the field given under both its names.
        name: name.to_string(),
        value: decoded.encode_to_vec().into(),
    })
}

/// The v3 message of a resource type.
fn message(t: TypeUrl) -> MessageDescriptor {
    let name = t.as_str().rsplit('/').next().unwrap_or_default();
    descriptors()
        .get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is among the compiled descriptors"))
}

/// `json` (the proto3 JSON mapping) as a `descriptor` message; the error names where it broke.
fn decode(descriptor: MessageDescriptor, json: &Json) -> Result<DynamicMessage, String> {
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(json, &mut track);
    DynamicMessage::deserialize(descriptor, de).map_err(|e| {
        let path = track.path().to_string();
        if path == "." || path.is_empty() {
            e.to_string()
        } else {
            format!("{path}: {e}")
        }
    })
}

/// The YAML as JSON (keys must be strings, as in Go's YAML-to-JSON conversion).
fn to_json(yaml: &Yaml) -> Result<Json, String> {
    Ok(match yaml {
        Yaml::Null => Json::Null,
        Yaml::Bool(b) => Json::Bool(*b),
        Yaml::Number(n) => serde_json::to_value(n).map_err(|e| e.to_string())?,
        Yaml::String(s) => Json::String(s.clone()),
        Yaml::Sequence(items) => Json::Array(items.iter().map(to_json).collect::<Result<_, _>>()?),
        Yaml::Mapping(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                let key = match untag(k) {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => {
                        return Err(format!(
                            "error converting YAML to JSON: unsupported map key of kind {}",
                            json_kind(other)
                        ))
                    }
                };
                out.insert(key, to_json(v)?);
            }
            Json::Object(out)
        }
        Yaml::Tagged(t) => to_json(&t.value)?,
    })
}

/// Every `@type` in `json` as a full v3 type URL.
fn translate_types(json: &mut Json) {
    match json {
        Json::Object(fields) => {
            if let Some(Json::String(url)) = fields.get_mut("@type") {
                let name = url.rsplit('/').next().unwrap_or(url);
                *url = format!("type.googleapis.com/{}", v3_name(name));
            }
            fields.values_mut().for_each(translate_types);
        }
        Json::Array(items) => items.iter_mut().for_each(translate_types),
        _ => {}
    }
}

/// The v3 name of a message Kuma 0.5.0 knew by its v2 name; other names are kept.
fn v3_name(name: &str) -> String {
    for (v2, v3) in V2_TO_V3 {
        if let Some(rest) = v2.ends_with('.').then(|| name.strip_prefix(v2)).flatten() {
            return format!("{v3}{rest}");
        }
        if name == *v2 {
            return v3.to_string();
        }
    }
    if let Some(rest) = name.strip_prefix(V2_FILTERS) {
        // `<area>.<filter>.v2[alpha].<Message>` → `<area>.<filter>.v3.<Message>`.
        let parts: Vec<&str> = rest.split('.').collect();
        if let [area, filter @ .., version, message] = parts.as_slice() {
            if version.starts_with("v2") && !filter.is_empty() {
                return format!(
                    "envoy.extensions.filters.{area}.{}.v3.{message}",
                    filter.join(".")
                );
            }
        }
    }
    name.to_string()
}

fn untag(value: &Yaml) -> &Yaml {
    match value {
        Yaml::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

/// How encoding/json names a JSON value's kind in its type errors.
fn json_kind(value: &Yaml) -> &'static str {
    match value {
        Yaml::Null => "null",
        Yaml::Bool(_) => "bool",
        Yaml::Number(_) => "number",
        Yaml::String(_) => "string",
        Yaml::Sequence(_) => "array",
        Yaml::Mapping(_) => "object",
        Yaml::Tagged(t) => json_kind(&t.value),
    }
}

/// A raw resource's decoding, worked out once and kept beside its text: a template validated
/// at PUT carries it to every generation; one read from the store decodes on first use.
#[derive(Clone, Default)]
pub struct Decoded(OnceLock<Result<Arc<RawResource>, String>>);

impl Decoded {
    /// The decoding of `text` (which must be the text this value sits beside).
    pub fn of(&self, text: &str) -> Result<&Arc<RawResource>, &str> {
        self.0
            .get_or_init(|| parse(text).map(Arc::new))
            .as_ref()
            .map_err(String::as_str)
    }
}

/// A function of the text beside it: equal whenever the texts are.
impl PartialEq for Decoded {
    fn eq(&self, _: &Decoded) -> bool {
        true
    }
}

impl std::fmt::Debug for Decoded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Decoded")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    const DOCS_CLUSTER: &str = "'@type': type.googleapis.com/envoy.api.v2.Cluster\nconnectTimeout: 5s\nloadAssignment:\n  clusterName: localhost:8443\n  endpoints:\n    - lbEndpoints:\n        - endpoint:\n            address:\n              socketAddress:\n                address: 127.0.0.1\n                portValue: 8443\nname: localhost:8443\ntype: STATIC\n";

    #[test]
    fn the_docs_v2_cluster_becomes_the_v3_message() {
        let raw = parse(DOCS_CLUSTER).unwrap();
        assert_eq!(
            (raw.type_url, raw.name.as_str()),
            (TypeUrl::Cluster, "localhost:8443")
        );
        let cluster = DynamicMessage::decode(message(TypeUrl::Cluster), &*raw.value).unwrap();
        let json = serde_json::to_value(&cluster).unwrap();
        assert_eq!(json["connectTimeout"], "5s");
        assert_eq!(json["type"], "STATIC");
        assert_eq!(
            json["loadAssignment"]["endpoints"][0]["lbEndpoints"][0]["endpoint"]["address"]
                ["socketAddress"]["portValue"],
            8443
        );
    }

    #[test]
    fn packed_v2_filters_are_translated_at_any_depth() {
        let listener = r#"
'@type': type.googleapis.com/envoy.api.v2.Listener
name: raw-listener
address: {socket_address: {address: 127.0.0.1, port_value: 9000}}
filter_chains:
- filters:
  - name: envoy.tcp_proxy
    typed_config:
      '@type': type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy
      stat_prefix: raw
      cluster: backend
"#;
        let raw = parse(listener).unwrap();
        assert_eq!(
            (raw.type_url, raw.name.as_str()),
            (TypeUrl::Listener, "raw-listener")
        );
        let decoded = DynamicMessage::decode(message(TypeUrl::Listener), &*raw.value).unwrap();
        let json = serde_json::to_value(&decoded).unwrap();
        let typed = &json["filterChains"][0]["filters"][0]["typedConfig"];
        assert_eq!(
            typed["@type"],
            "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy"
        );
        assert_eq!(typed["cluster"], "backend");
        assert_eq!(
            v3_name("envoy.config.filter.http.fault.v2.HTTPFault"),
            "envoy.extensions.filters.http.fault.v3.HTTPFault"
        );
        assert_eq!(
            v3_name("envoy.api.v2.auth.UpstreamTlsContext"),
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
        );
    }

    #[test]
    fn what_envoy_would_reject_is_refused_with_the_path_to_it() {
        let cases = [
            (
                "'@type': envoy.config.cluster.v3.Cluster\nname: c\nconnect_timeout: 5s\nno_such_field: 1",
                "no_such_field",
            ),
            (
                "'@type': envoy.config.cluster.v3.Cluster\nname: c\nconnect_timeout: five seconds",
                "connect_timeout",
            ),
            (
                "'@type': envoy.config.cluster.v3.Cluster\nname: c\ntype: NOT_A_TYPE",
                "type",
            ),
            (
                "'@type': envoy.config.listener.v3.Listener\nname: l\nfilter_chains:\n- filters:\n  - name: x\n    typed_config: {'@type': type.googleapis.com/envoy.no.Such}",
                "filter_chains[0].filters[0].typed_config",
            ),
        ];
        for (text, path) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(path), "{text}: {e}");
        }
    }

    #[test]
    fn a_resource_needs_its_name() {
        assert_eq!(
            parse("'@type': envoy.extensions.transport_sockets.tls.v3.Secret").unwrap_err(),
            "invalid Secret.Name: value length must be at least 1 runes"
        );
        let secret = parse("'@type': envoy.api.v2.auth.Secret\nname: s").unwrap();
        assert_eq!(
            (secret.type_url, secret.name.as_str()),
            (TypeUrl::Secret, "s")
        );
    }

    #[test]
    fn decoded_is_kept_and_equals_parse() {
        let d = Decoded::default();
        let first = d.of(DOCS_CLUSTER).unwrap().clone();
        assert!(Arc::ptr_eq(&first, d.of(DOCS_CLUSTER).unwrap()));
        assert_eq!(*first, parse(DOCS_CLUSTER).unwrap());
        let bytes = first.value.to_vec();
        assert_eq!(
            DynamicMessage::decode(message(TypeUrl::Cluster), bytes.as_slice())
                .unwrap()
                .encode_to_vec(),
            bytes
        );
    }
}
