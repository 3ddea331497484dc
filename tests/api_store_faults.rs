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

/// A mesh being deleted (its delete waits on the store) refuses writes as if it were gone: a
/// Dataplane "mesh not found" (400), and once deleted an insight 404 (its Dataplane went with
/// it). The actor answers the same while the delete is under way (its own test, in
/// `mesh_actor::tests::overlay`); this is what reaches the client.
#[test]
fn writes_into_a_mesh_being_deleted_answer_as_after_the_delete() {
    let store = FakeStore::new();
    let server = std::sync::Arc::new(TestServer::start_on(store.dyn_store(), &[]));
    assert_eq!(server.put_json("/meshes/m", &mesh("m")).status, 201);
    let mut dp = dataplane("dp");
    dp["mesh"] = json!("m");
    assert_eq!(server.put_json("/meshes/m/dataplanes/dp", &dp).status, 201);
    store.hold(ursa_actors::testing::Hold::Commits);
    let deleting = {
        let server = server.clone();
        std::thread::spawn(move || server.delete("/meshes/m").status)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while store.held().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the mesh delete never reached the store"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = server.put_json("/meshes/m/dataplanes/dp", &dp);
    assert_eq!(
        (r.status, r.json()["details"].clone()),
        (400, json!("Mesh is not found")),
        "{}",
        r.text()
    );
    store.unhold();
    assert_eq!(deleting.join().expect("delete thread"), 200);
    let insight = json!({"type": "DataplaneInsight", "mesh": "m", "name": "dp",
        "subscriptions": [{"id": "s", "controlPlaneInstanceId": "cp"}]});
    let r = server.put_json("/meshes/m/dataplane-insights/dp", &insight);
    assert_eq!(r.status, 404, "after the delete: {}", r.text());
}
