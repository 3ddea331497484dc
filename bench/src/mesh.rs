//! The synthetic mesh: `n` Dataplanes over `services` services in mesh `default`.
//!
//! Dataplane `i` (named `dp-00042`) belongs to service `svc-<i % services>`, has one inbound
//! tagged `service`, `version` (`v1` or `v2`, half of each service each) and, for even services,
//! `protocol: http`, and three outbounds: the next two services and `svc-0` (the third next
//! service when one of those is already `svc-0`, or for `svc-0` itself). So a TrafficRoute for
//! `svc-0` changes the configuration of every dataplane but `svc-0`'s own.

use serde_json::{json, Value};

/// The mesh everything lives in.
pub const MESH: &str = "default";

/// Name of dataplane `i`.
pub fn name(i: usize) -> String {
    format!("dp-{i:05}")
}

/// Service index of dataplane `i`.
pub fn service_of(i: usize, services: usize) -> usize {
    i % services
}

/// Outbound service indexes of a dataplane of service `s`.
pub fn outbounds(s: usize, services: usize) -> [usize; 3] {
    let (a, b) = ((s + 1) % services, (s + 2) % services);
    let third = if s == 0 || a == 0 || b == 0 {
        (s + 3) % services
    } else {
        0
    };
    [a, b, third]
}

/// Whether dataplane `i` has an outbound to `svc-0` (its configuration depends on it).
pub fn uses_svc0(i: usize, services: usize) -> bool {
    outbounds(service_of(i, services), services).contains(&0)
}

/// The Dataplane resource `i`, as PUT to the API.
pub fn dataplane(i: usize, services: usize) -> Value {
    dataplane_in(MESH, i, services)
}

/// Whether dataplane `i` has an outbound to `svc-<target>`.
pub fn reaches(i: usize, services: usize, target: usize) -> bool {
    outbounds(service_of(i, services), services).contains(&target)
}

/// The Dataplane resource `i` of `mesh`.
pub fn dataplane_in(mesh: &str, i: usize, services: usize) -> Value {
    let s = service_of(i, services);
    let version = 1 + (i / services) % 2;
    let mut tags = json!({"service": format!("svc-{s}"), "version": format!("v{version}")});
    if s % 2 == 0 {
        tags["protocol"] = json!("http");
    }
    let outbound: Vec<Value> = outbounds(s, services)
        .iter()
        .enumerate()
        .map(|(k, o)| json!({"port": 20001 + k, "service": format!("svc-{o}")}))
        .collect();
    json!({
        "type": "Dataplane",
        "mesh": mesh,
        "name": name(i),
        "networking": {
            "address": format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256),
            "inbound": [{"port": 10001, "servicePort": 8080, "tags": tags}],
            "outbound": outbound,
        }
    })
}

/// A DataplaneInsight for dataplane `i` with one subscription, as an xDS stream would leave it.
pub fn insight(i: usize) -> Value {
    let stats =
        |n: u32| json!({"responsesSent": n.to_string(), "responsesAcknowledged": n.to_string()});
    json!({
        "type": "DataplaneInsight",
        "mesh": MESH,
        "name": name(i),
        "subscriptions": [{
            "id": format!("0a8c9ff0-2b0c-4d6e-9c51-{:012x}", i),
            "controlPlaneInstanceId": "ursa-bench",
            "connectTime": "2024-05-01T10:00:00.123456Z",
            "status": {
                "lastUpdateTime": "2024-05-01T10:00:01.5Z",
                "total": stats(4),
                "cds": stats(1),
                "eds": stats(1),
                "lds": stats(1),
                "rds": stats(1),
            }
        }]
    })
}

/// The TrafficRoute of the fan-out scenario: `svc-0` split 90/10 between its versions, for
/// every source.
pub fn split_route() -> Value {
    split_route_in(MESH, 0, 90)
}

/// A TrafficRoute `split-svc-<svc>` of `mesh`: `svc-<svc>` split `v1_weight`/rest between its
/// versions, for every source.
pub fn split_route_in(mesh: &str, svc: usize, v1_weight: u32) -> Value {
    let service = format!("svc-{svc}");
    json!({
        "type": "TrafficRoute",
        "mesh": mesh,
        "name": format!("split-{service}"),
        "sources": [{"match": {"service": "*"}}],
        "destinations": [{"match": {"service": service}}],
        "conf": [
            {"weight": v1_weight, "destination": {"service": service, "version": "v1"}},
            {"weight": 100 - v1_weight, "destination": {"service": service, "version": "v2"}},
        ]
    })
}

/// API path of a resource of mesh [`MESH`].
pub fn path(collection: &str, name: &str) -> String {
    path_in(MESH, collection, name)
}

/// API path of a resource of `mesh`.
pub fn path_in(mesh: &str, collection: &str, name: &str) -> String {
    format!("/meshes/{mesh}/{collection}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dataplane_but_svc0_uses_svc0() {
        let users = (0..1000).filter(|i| uses_svc0(*i, 100)).count();
        assert_eq!(users, 990);
        assert_eq!(outbounds(0, 100), [1, 2, 3]);
        assert_eq!(outbounds(99, 100), [0, 1, 2]);
        assert_eq!(outbounds(98, 100), [99, 0, 1]);
        assert_eq!(outbounds(5, 100), [6, 7, 0]);
        assert_eq!(name(42), "dp-00042");
    }
}
