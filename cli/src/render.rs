//! What `get` and `inspect` print: kumactl's tables for each kind, or the API's JSON as YAML or
//! JSON (keys in the order the API sent them).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde_json::Value;
use ursa_actors::Kind;

use crate::age;
use crate::error::CliError;
use crate::table::Table;

/// `-o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// kumactl's table.
    Table,
    /// The table plus the dataplanes' insight columns.
    Wide,
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// An API answer printed as YAML or JSON, keys in the API's order.
pub fn document(format: Format, body: &[u8]) -> Result<String, CliError> {
    let value: serde_yaml::Value = serde_json::from_slice(body)
        .map_err(|e| CliError::Refused(format!("the control plane sent no JSON: {e}")))?;
    Ok(match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&value).unwrap_or_default();
            s.push('\n');
            s
        }
        _ => serde_yaml::to_string(&value).unwrap_or_default(),
    })
}

/// kumactl's pagination hint for a list's `next` link.
pub fn pagination_footer(next: Option<&str>) -> Option<String> {
    let offset = crate::client::query_value(next?, "offset")?;
    Some(format!(
        "Rerun command with --offset={offset} argument to retrieve more resources"
    ))
}

/// The table of a list of resources of one kind.
pub fn resources(kind: Kind, items: &[Value], now: DateTime<Utc>) -> Table {
    match kind {
        Kind::Mesh => {
            let mut t = Table::new(&["NAME", "mTLS", "METRICS", "LOGGING", "TRACING", "AGE"]);
            for m in items {
                t.row(vec![
                    str_at(m, &["name"]),
                    enabled_backend(m, "mtls"),
                    enabled_backend(m, "metrics"),
                    backend_names(m, "logging"),
                    backend_names(m, "tracing"),
                    resource_age(m, now),
                ]);
            }
            t
        }
        Kind::Dataplane => {
            let mut t = Table::new(&["MESH", "NAME", "TAGS", "AGE"]);
            for dp in items {
                t.row(vec![
                    str_at(dp, &["mesh"]),
                    str_at(dp, &["name"]),
                    tags(dp),
                    resource_age(dp, now),
                ]);
            }
            t
        }
        _ => {
            let mut t = Table::new(&["MESH", "NAME", "AGE"]);
            for p in items {
                t.row(vec![
                    str_at(p, &["mesh"]),
                    str_at(p, &["name"]),
                    resource_age(p, now),
                ]);
            }
            t
        }
    }
}

/// Headers of `inspect dataplanes`.
const INSPECT: [&str; 11] = [
    "MESH",
    "NAME",
    "TAGS",
    "STATUS",
    "LAST CONNECTED AGO",
    "LAST UPDATED AGO",
    "TOTAL UPDATES",
    "TOTAL ERRORS",
    "CERT REGENERATED AGO",
    "CERT EXPIRATION",
    "CERT REGENERATIONS",
];

/// The table of dataplane overviews: `inspect dataplanes`, or with an AGE column, `get
/// dataplanes -o wide`.
pub fn overviews(items: &[Value], now: DateTime<Utc>, with_age: bool) -> Table {
    let mut headers = INSPECT.to_vec();
    if with_age {
        headers.push("AGE");
    }
    let mut t = Table::new(&headers);
    for o in items {
        let dataplane = o.get("dataplane").unwrap_or(&Value::Null);
        let insight = Insight(o.get("dataplaneInsight").unwrap_or(&Value::Null));
        let (last_connected, last_updated) = insight.latest();
        let mtls = &insight.0["mTLS"];
        let mut row = vec![
            str_at(o, &["mesh"]),
            str_at(o, &["name"]),
            tags(dataplane),
            if insight.online() {
                "Online"
            } else {
                "Offline"
            }
            .to_string(),
            age::ago(last_connected, now),
            age::ago(last_updated, now),
            insight.total("responsesSent").to_string(),
            insight.total("responsesRejected").to_string(),
            age::ago(time_at(mtls, "lastCertificateRegeneration"), now),
            age::date(time_at(mtls, "certificateExpirationTime")),
            number(&mtls["certificateRegenerations"]).to_string(),
        ];
        if with_age {
            row.push(resource_age(o, now));
        }
        t.row(row);
    }
    t
}

/// A dataplane's insight, as the API sends it.
pub struct Insight<'a>(pub &'a Value);

impl Insight<'_> {
    fn subscriptions(&self) -> impl Iterator<Item = &Value> {
        self.0["subscriptions"].as_array().into_iter().flatten()
    }

    /// kumactl 0.5's rule: online when some subscription has connected and not disconnected.
    pub fn online(&self) -> bool {
        self.subscriptions()
            .any(|s| time_at(s, "connectTime").is_some() && time_at(s, "disconnectTime").is_none())
    }

    /// The latest subscription's connect time and its status's last update time.
    fn latest(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let latest = self
            .subscriptions()
            .filter_map(|s| time_at(s, "connectTime").map(|t| (t, s)))
            .max_by_key(|(t, _)| *t);
        match latest {
            Some((connected, s)) => (Some(connected), time_at(&s["status"], "lastUpdateTime")),
            None => (None, None),
        }
    }

    /// A counter of `status.total`, summed over subscriptions.
    fn total(&self, counter: &str) -> u64 {
        self.subscriptions()
            .map(|s| number(&s["status"]["total"][counter]))
            .sum()
    }
}

/// A proto3 JSON integer: a number, or a string for 64-bit values; absent is 0.
fn number(v: &Value) -> u64 {
    match v {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn str_at(v: &Value, path: &[&str]) -> String {
    let mut v = v;
    for key in path {
        v = &v[*key];
    }
    v.as_str().unwrap_or("").to_string()
}

fn time_at(v: &Value, key: &str) -> Option<DateTime<Utc>> {
    v[key].as_str().and_then(age::parse)
}

/// AGE: time since the last modification, as kumactl shows it.
fn resource_age(v: &Value, now: DateTime<Utc>) -> String {
    age::ago(time_at(v, "modificationTime"), now)
}

/// `type/name` of the enabled backend of a Mesh section, or `off`.
fn enabled_backend(mesh: &Value, section: &str) -> String {
    let enabled = mesh[section]["enabledBackend"].as_str().unwrap_or("");
    if enabled.is_empty() {
        return "off".into();
    }
    let backend_type = mesh[section]["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|b| b["name"].as_str() == Some(enabled))
        .and_then(|b| b["type"].as_str())
        .unwrap_or("");
    format!("{backend_type}/{enabled}")
}

/// The backend names of a Mesh section, comma-separated, or `off`.
fn backend_names(mesh: &Value, section: &str) -> String {
    let names: Vec<&str> = mesh[section]["backends"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|b| b["name"].as_str())
        .collect();
    if names.is_empty() {
        "off".into()
    } else {
        names.join(", ")
    }
}

/// The tags of a Dataplane (resource or spec: the same `networking`) inbounds and gateway: `k=v` sorted by key, joined by spaces,
/// several values of one key sorted and joined by commas.
fn tags(spec: &Value) -> String {
    let networking = &spec["networking"];
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let inbound_tags = networking["inbound"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| &i["tags"]);
    for t in inbound_tags.chain(std::iter::once(&networking["gateway"]["tags"])) {
        for (k, v) in t.as_object().into_iter().flatten() {
            tags.entry(k.clone())
                .or_default()
                .insert(v.as_str().unwrap_or("").to_string());
        }
    }
    tags.iter()
        .map(|(k, vs)| format!("{k}={}", vs.iter().cloned().collect::<Vec<_>>().join(",")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tags_sorted_and_merged() {
        let dp = json!({"networking": {"inbound": [
            {"tags": {"service": "web", "version": "v2", "zone": "a"}},
            {"tags": {"service": "web-admin", "version": "v1"}}
        ]}});
        assert_eq!(tags(&dp), "service=web,web-admin version=v1,v2 zone=a");
        let gw = json!({"networking": {"gateway": {"tags": {"service": "edge"}}}});
        assert_eq!(tags(&gw), "service=edge");
        assert_eq!(tags(&json!({})), "");
    }

    #[test]
    fn online_needs_a_connected_subscription_without_disconnect() {
        let online = json!({"subscriptions": [
            {"connectTime": "2020-01-01T00:00:00Z", "disconnectTime": "2020-01-01T00:01:00Z"},
            {"connectTime": "2020-01-01T00:02:00Z"}
        ]});
        assert!(Insight(&online).online());
        let offline = json!({"subscriptions": [
            {"connectTime": "2020-01-01T00:00:00Z", "disconnectTime": "2020-01-01T00:01:00Z"}
        ]});
        assert!(!Insight(&offline).online());
        assert!(!Insight(&json!({})).online());
        assert_eq!(
            Insight(&json!({"subscriptions": [
                {"connectTime": "2020-01-01T00:00:00Z", "status": {"total": {"responsesSent": "3"}}},
                {"connectTime": "2020-01-01T00:02:00Z", "status": {"total": {"responsesSent": "4", "responsesRejected": 1}}}
            ]}))
            .total("responsesSent"),
            7
        );
    }

    #[test]
    fn mesh_backends() {
        let m = json!({
            "mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]},
            "logging": {"backends": [{"name": "file-1", "type": "file"}, {"name": "tcp-1", "type": "tcp"}]},
            "tracing": {"backends": [{"name": "zipkin", "type": "zipkin"}]},
            "metrics": {"backends": [{"name": "prom", "type": "prometheus"}]}
        });
        assert_eq!(enabled_backend(&m, "mtls"), "builtin/ca-1");
        assert_eq!(enabled_backend(&m, "metrics"), "off");
        assert_eq!(backend_names(&m, "logging"), "file-1, tcp-1");
        assert_eq!(backend_names(&m, "tracing"), "zipkin");
        assert_eq!(backend_names(&json!({}), "tracing"), "off");
    }

    #[test]
    fn footer_from_next_link() {
        assert_eq!(
            pagination_footer(Some("http://localhost:5681/meshes?offset=2&size=2")).as_deref(),
            Some("Rerun command with --offset=2 argument to retrieve more resources")
        );
        assert_eq!(pagination_footer(None), None);
    }
}
