//! Resources the tests create: a valid document of every kind.

use serde_json::{json, Value};
use ursa_actors::Kind;

/// A mesh with every backend section filled.
pub fn full_mesh(name: &str) -> Value {
    json!({
        "type": "Mesh", "name": name,
        "mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]},
        "logging": {"backends": [
            {"name": "file-1", "type": "file", "conf": {"path": "/tmp/access.log"}},
            {"name": "tcp-1", "type": "tcp", "conf": {"address": "127.0.0.1:5000"}}
        ]},
        "tracing": {"backends": [
            {"name": "zipkin-1", "type": "zipkin", "conf": {"url": "http://zipkin:9411/api/v2/spans"}}
        ]},
        "metrics": {"enabledBackend": "prom", "backends": [{"name": "prom", "type": "prometheus"}]}
    })
}

/// A dataplane with two inbounds (tags merged in tables).
pub fn dataplane(mesh: &str, name: &str, service: &str) -> Value {
    json!({
        "type": "Dataplane", "mesh": mesh, "name": name,
        "networking": {"address": "127.0.0.1", "inbound": [
            {"port": 10001, "servicePort": 8080, "tags": {"service": service, "version": "v1", "zone": "eu"}},
            {"port": 10002, "servicePort": 8081, "tags": {"service": format!("{service}-admin"), "version": "v2"}}
        ]}
    })
}

/// A gateway dataplane.
pub fn gateway(mesh: &str, name: &str) -> Value {
    json!({
        "type": "Dataplane", "mesh": mesh, "name": name,
        "networking": {"address": "127.0.0.2", "gateway": {"tags": {"service": "edge"}}}
    })
}

/// A valid spec of every policy kind.
pub fn policy(kind: Kind, mesh: &str, name: &str) -> Value {
    let web = json!([{"match": {"service": "web"}}]);
    let backend = json!([{"match": {"service": "backend"}}]);
    let mut v = match kind {
        Kind::HealthCheck => json!({"sources": web, "destinations": backend,
            "conf": {"activeChecks": {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1}}}),
        Kind::ProxyTemplate => json!({"selectors": web, "conf": {"imports": ["default-proxy"]}}),
        Kind::TrafficLog => {
            json!({"sources": web, "destinations": backend, "conf": {"backend": "file-1"}})
        }
        Kind::TrafficPermission => json!({"sources": web, "destinations": backend}),
        Kind::TrafficRoute => json!({"sources": web, "destinations": backend,
            "conf": [{"weight": 100, "destination": {"service": "backend"}}]}),
        Kind::TrafficTrace => json!({"selectors": web}),
        Kind::FaultInjection => json!({
            "sources": [{"match": {"service": "web", "protocol": "http"}}],
            "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
            "conf": {"abort": {"httpStatus": 500, "percentage": 50}}}),
        other => panic!("{other:?} is not a policy"),
    };
    v["type"] = json!(kind.type_name());
    v["mesh"] = json!(mesh);
    v["name"] = json!(name);
    v
}

/// Every policy kind.
pub fn policy_kinds() -> Vec<Kind> {
    Kind::mesh_scoped()
        .filter(|k| !matches!(k, Kind::Dataplane | Kind::DataplaneInsight))
        .collect()
}

/// The API path of a resource document.
pub fn path_of(doc: &Value) -> String {
    let kind = Kind::ALL
        .iter()
        .copied()
        .find(|k| k.type_name() == doc["type"])
        .expect("known type");
    let name = doc["name"].as_str().unwrap();
    if kind == Kind::Mesh {
        format!("/meshes/{name}")
    } else {
        format!(
            "/meshes/{}/{}/{name}",
            doc["mesh"].as_str().unwrap(),
            kind.segment()
        )
    }
}
