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
    });
    assert_eq!(put.await.unwrap(), Ok(Op::Create));
    assert_eq!(names(&registry), ["default", "m"]);
    let delete = supervisor.send(DeleteMesh { name: "m".into() });
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
