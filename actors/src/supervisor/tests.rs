//! The supervisor on the actix runtime over a [`FakeStore`]: meshes created, deleted and lost
//! track through other instances, with the change feed delayed, reordered or dropped.

use std::time::Duration;

use super::*;
use crate::store::StoreEvent;
use crate::testing::{FakeStore, Hold};

async fn boot(store: &FakeStore) -> (Addr<Supervisor>, MeshRegistry) {
    let registry = MeshRegistry::new();
    let supervisor = Supervisor::boot(
        store.dyn_store(),
        registry.clone(),
        Some("type: Mesh\nname: default\n"),
        MeshSettings::default(),
        Placement::current(),
    )
    .await
    .expect("boot");
    eventually("the supervisor to subscribe", || store.subscribed()).await;
    (supervisor, registry)
}

/// Polls `check` until it holds (panics naming `what` after 10 s).
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn names(registry: &MeshRegistry) -> Vec<String> {
    registry.sorted().into_iter().map(|(n, _)| n).collect()
}

#[actix::test]
async fn meshes_created_and_deleted_elsewhere_are_adopted_and_dropped() {
    let store = FakeStore::new();
    let (_supervisor, registry) = boot(&store).await;
    assert_eq!(names(&registry), ["default"]);
    store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.emit_changed(Kind::Mesh, "m", "m");
    eventually("m adopted", || registry.get("m").is_some()).await;
    store.remote_delete(Kind::Mesh, "m", "m");
    store.emit_changed(Kind::Mesh, "m", "m");
    eventually("m dropped", || registry.get("m").is_none()).await;
    assert_eq!(names(&registry), ["default"]);
}

#[actix::test]
async fn after_lost_notifications_a_resync_adopts_and_drops_meshes() {
    let store = FakeStore::new();
    store.remote_put("gone", "gone", Spec::empty(Kind::Mesh));
    let (_supervisor, registry) = boot(&store).await;
    assert_eq!(names(&registry), ["default", "gone"]);
    // Changes whose notifications were lost.
    store.remote_delete(Kind::Mesh, "gone", "gone");
    store.remote_put("new", "new", Spec::empty(Kind::Mesh));
    store.emit(StoreEvent::Resync);
    eventually("the resync", || names(&registry) == ["default", "new"]).await;
}

#[actix::test]
async fn without_a_change_feed_the_supervisor_keeps_serving() {
    let store = FakeStore::new();
    let (supervisor, registry) = boot(&store).await;
    store.drop_feed();
    let put = supervisor.send(PutMesh {
        name: "m".into(),
        spec: MeshSpec::default(),
        files: CaFiles::none(),
        write: Default::default(),
    });
    assert_eq!(put.await.unwrap(), Ok(Op::Create));
    assert_eq!(names(&registry), ["default", "m"]);
    let delete = supervisor.send(DeleteMesh {
        name: "m".into(),
        write: Default::default(),
    });
    assert_eq!(delete.await.unwrap(), Ok(()));
    assert_eq!(names(&registry), ["default"]);
}

/// A mesh actor whose mesh was deleted through another instance leaves through the
/// supervisor, which then knows that any read of the meshes issued before is stale: a resync
/// whose list predates the delete must not bring the mesh back.
#[actix::test]
async fn a_mesh_deleted_elsewhere_is_not_brought_back_by_an_older_read() {
    let store = FakeStore::new();
    store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    let (_supervisor, registry) = boot(&store).await;
    store.hold(Hold::ListsOf(Kind::Mesh));
    store.emit(StoreEvent::Resync);
    // The resync's list of meshes, taken while m exists, is held.
    store.wait_held(1).await;
    store.remote_delete(Kind::Mesh, "m", "m");
    store.emit_changed(Kind::Mesh, "m", "m");
    eventually("m dropped", || registry.get("m").is_none()).await;
    // The old list lands; whatever the supervisor reads next is held, so a mesh adopted
    // from the old list would stay in the registry.
    store.hold(Hold::ReadsOf(Kind::Mesh));
    store.release(0);
    store.wait_held(1).await;
    assert_eq!(
        names(&registry),
        ["default"],
        "m came back from a stale read"
    );
    store.unhold();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(names(&registry), ["default"]);
}

/// A mesh deleted and created again through another instance while this one's actor of it is
/// reading: the announcement of the new mesh can reach that actor as it leaves (its read found
/// the mesh gone) and be lost with it; the supervisor, told the actor left, reads the mesh
/// again and serves the new one, with only the new one's resources.
#[actix::test]
async fn a_mesh_created_again_while_its_old_actor_leaves_is_served() {
    let dp = |port: u32| {
        Kind::Dataplane
            .decode(serde_json::json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": port, "tags": {"service": "web"}}]}}))
            .unwrap()
    };
    let store = FakeStore::new();
    store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.remote_put("m", "old", dp(1));
    let (_supervisor, registry) = boot(&store).await;
    store.hold(Hold::ReadsOf(Kind::Mesh));
    store.remote_delete(Kind::Mesh, "m", "m");
    store.emit_changed(Kind::Mesh, "m", "m");
    // The actor's read (the mesh gone) is held while the mesh is created again.
    store.wait_held(1).await;
    tokio::time::sleep(Duration::from_millis(2)).await;
    store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.remote_put("m", "new", dp(2));
    store.emit_changed(Kind::Mesh, "m", "m");
    tokio::time::sleep(Duration::from_millis(5)).await;
    store.release(0);
    store.unhold();
    let names_in_m = || async {
        let addr = registry.get("m")?;
        let page = addr
            .send(crate::mesh_actor::ListResources {
                kind: Kind::Dataplane,
                page: PageRequest::ALL,
            })
            .await
            .ok()?;
        Some(
            page.items
                .iter()
                .map(|r| r.meta.name.clone())
                .collect::<Vec<_>>(),
        )
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let names = names_in_m().await;
        if names.as_deref() == Some(&["new".to_string()][..]) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new mesh m is not served as it is: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
