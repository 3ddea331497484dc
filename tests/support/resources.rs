//! Valid resources of several mesh-scoped kinds, each carrying a marker a test can read back
//! to tell which write a stored resource came from (the PostgreSQL store tests).

use serde_json::{json, Value};

/// Mesh-scoped kinds written by the tests (path segment), besides dataplane insights.
pub const KINDS: [&str; 5] = [
    "dataplanes",
    "traffic-permissions",
    "traffic-routes",
    "traffic-traces",
    "proxytemplates",
];

/// A valid resource of the kind whose path segment is `segment`, carrying `marker`.
pub fn body(segment: &str, mesh: &str, name: &str, marker: &str) -> Value {
    let meta = |kind: &str| json!({"type": kind, "mesh": mesh, "name": name});
    match segment {
        "dataplanes" => {
            let mut v = meta("Dataplane");
            v["networking"] = json!({"address": "10.0.0.1",
                "inbound": [{"port": 10001, "servicePort": 8080,
                             "tags": {"service": "web", "writer": marker}}],
                "outbound": [{"port": 20001, "service": "backend"}]});
            v
        }
        "traffic-permissions" => {
            let mut v = meta("TrafficPermission");
            v["sources"] = json!([{"match": {"service": "web"}}]);
            v["destinations"] = json!([{"match": {"service": "backend", "writer": marker}}]);
            v
        }
        "traffic-routes" => {
            let mut v = meta("TrafficRoute");
            v["sources"] = json!([{"match": {"service": "web"}}]);
            v["destinations"] = json!([{"match": {"service": "backend"}}]);
            v["conf"] =
                json!([{"weight": 1, "destination": {"service": "backend", "writer": marker}}]);
            v
        }
        "traffic-traces" => {
            let mut v = meta("TrafficTrace");
            v["selectors"] = json!([{"match": {"service": "web", "writer": marker}}]);
            v
        }
        "proxytemplates" => {
            let mut v = meta("ProxyTemplate");
            v["selectors"] = json!([{"match": {"service": "web", "writer": marker}}]);
            v["conf"] = json!({"imports": ["default-proxy"]});
            v
        }
        "dataplane-insights" => {
            let mut v = meta("DataplaneInsight");
            v["subscriptions"] = json!([{"id": marker}]);
            v
        }
        other => panic!("no test body for {other}"),
    }
}

/// The marker a resource of `segment` carries (see [`body`]).
pub fn marker_of(segment: &str, item: &Value) -> Option<String> {
    let m = match segment {
        "dataplanes" => &item["networking"]["inbound"][0]["tags"]["writer"],
        "traffic-permissions" => &item["destinations"][0]["match"]["writer"],
        "traffic-routes" => &item["conf"][0]["destination"]["writer"],
        "traffic-traces" | "proxytemplates" => &item["selectors"][0]["match"]["writer"],
        "dataplane-insights" => &item["subscriptions"][0]["id"],
        _ => return None,
    };
    m.as_str().map(str::to_string)
}
