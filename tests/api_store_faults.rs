//! The API over a store that refuses or fails on purpose (`ursa_actors::testing::FakeStore`):
//! every store outcome reaches the client as its one status, whichever path it took (a
//! mesh create through the supervisor, a write through a mesh actor): a version conflict is
//! 412, a vanished resource 404, an unreachable store 503, anything else 500.

mod support;

use serde_json::json;
use support::TestServer;
use ursa_actors::store::StoreError;
use ursa_actors::testing::FakeStore;
use ursa_actors::Kind;

fn mesh(name: &str) -> serde_json::Value {
    json!({"type": "Mesh", "name": name})
}

fn dataplane(name: &str) -> serde_json::Value {
    json!({"type": "Dataplane", "mesh": "default", "name": name,
        "networking": {"address": "10.0.0.1", "inbound": [{"port": 1234, "tags": {"service": "web"}}]}})
}

#[test]
fn each_store_failure_has_its_status_on_every_write_path() {
    let store = FakeStore::new();
    let server = TestServer::start_on(store.dyn_store(), &[]);
    let cases = [
        (StoreError::Conflict, 412, "Precondition Failed"),
        (StoreError::AlreadyExists, 412, "Precondition Failed"),
        (StoreError::NotFound, 404, "Not found"),
        (
            StoreError::Unavailable("connection refused".into()),
            503,
            "Service Unavailable",
        ),
        (
            StoreError::Internal("disk full".into()),
            500,
            "Internal Server Error",
        ),
    ];
    for (i, (error, status, details)) in cases.into_iter().enumerate() {
        // A mesh create: the supervisor's path.
        let name = format!("mesh-{i}");
        store.fail_change(Kind::Mesh, &name, &name, error.clone());
        let r = server.put_json(&format!("/meshes/{name}"), &mesh(&name));
        assert_eq!(
            (r.status, r.json()["details"].clone()),
            (status, json!(details)),
            "mesh create, {error:?}: {}",
            r.text()
        );
        assert_eq!(r.json()["title"], "Could not create a resource");
        // A dataplane update: a mesh actor's path.
        let name = format!("dp-{i}");
        assert_eq!(
            server
                .put_json(
                    &format!("/meshes/default/dataplanes/{name}"),
                    &dataplane(&name)
                )
                .status,
            201
        );
        store.fail_change(Kind::Dataplane, "default", &name, error.clone());
        let r = server.put_json(
            &format!("/meshes/default/dataplanes/{name}"),
            &dataplane(&name),
        );
        assert_eq!(
            (r.status, r.json()["details"].clone()),
            (status, json!(details)),
            "dataplane update, {error:?}: {}",
            r.text()
        );
        assert_eq!(r.json()["title"], "Could not update a resource");
    }
    // Internals are never echoed.
    store.fail_change(
        Kind::Mesh,
        "secret",
        "secret",
        StoreError::Internal("password=hunter2".into()),
    );
    let r = server.put_json("/meshes/secret", &mesh("secret"));
    assert_eq!(r.status, 500);
    assert!(!r.text().contains("hunter2"), "{}", r.text());
}
