//! Convergence on changes made through other instances: the actor reads a changed key and
//! takes the store's state, unless a local write of it is pending (then it reads after it
//! settles) or a later read already landed (answers arriving out of order never roll back).

use super::*;
use crate::mesh_actor::{Refresh, RefreshAll};
use crate::testing::{Call, Hold};

fn refresh(addr: &Addr<MeshActor>, name: &str) {
    addr.do_send(Refresh {
        kind: Kind::Dataplane,
        name: name.to_owned(),
    });
}

async fn port_eventually(addr: &Addr<MeshActor>, name: &str, port: u32) {
    eventually(&format!("{name} on port {port}"), async || {
        get(addr, name)
            .await
            .ok()
            .filter(|r| port_of(r) == port)
            .map(|_| ())
    })
    .await;
}

#[actix::test]
async fn a_change_made_elsewhere_is_read_and_taken() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.remote_put("m", "x", dataplane(1));
    refresh(&addr, "x");
    port_eventually(&addr, "x", 1).await;
    store.remote_put("m", "x", dataplane(2));
    refresh(&addr, "x");
    port_eventually(&addr, "x", 2).await;
    store.remote_delete(Kind::Dataplane, "m", "x");
    refresh(&addr, "x");
    eventually("x gone", async || get(&addr, "x").await.err()).await;
    let probed = addr.send(Probe).await.unwrap();
    assert_eq!((probed.pending_writes, probed.reads), (0, 0), "{probed:?}");
}

#[actix::test]
async fn a_change_announced_while_a_local_write_is_pending_is_read_once_it_settles() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let local = put(&addr, "x", 1);
    store.wait_held(1).await;
    // Another instance creates x first and announces it.
    store.remote_put("m", "x", dataplane(2));
    refresh(&addr, "x");
    settle(&addr).await;
    assert!(
        !store.calls().iter().any(|c| matches!(c, Call::Get(..))),
        "read while the local write is pending: {:?}",
        store.calls()
    );
    store.unhold();
    assert_eq!(local.await.map_err(|e| e.error), Err(Error::Conflict));
    port_eventually(&addr, "x", 2).await;
}

#[actix::test]
async fn reads_answered_out_of_order_never_roll_back() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::ReadsOf(Kind::Dataplane));
    store.remote_put("m", "x", dataplane(1));
    refresh(&addr, "x");
    store.wait_held(1).await;
    store.remote_put("m", "x", dataplane(2));
    refresh(&addr, "x");
    store.wait_held(2).await;
    // The second read (port 2) lands first, then the first (port 1).
    store.release(1);
    port_eventually(&addr, "x", 2).await;
    store.release(0);
    settle(&addr).await;
    assert_eq!(port_of(&get(&addr, "x").await.unwrap()), 2);
}

#[actix::test]
async fn a_reload_that_lands_after_a_newer_single_read_keeps_the_newer_state() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.remote_put("m", "x", dataplane(1));
    store.hold(Hold::ReadsOf(Kind::Dataplane));
    addr.do_send(RefreshAll);
    // The reload's list of Dataplanes (x on port 1) is held.
    store.wait_held(1).await;
    assert!(matches!(store.held()[0], Call::List(Kind::Dataplane, _)));
    store.remote_put("m", "x", dataplane(2));
    refresh(&addr, "x");
    store.wait_held(2).await;
    store.release(1);
    port_eventually(&addr, "x", 2).await;
    store.unhold();
    eventually("the reload to finish", async || {
        (addr.send(Probe).await.unwrap().reads == 0).then_some(())
    })
    .await;
    assert_eq!(port_of(&get(&addr, "x").await.unwrap()), 2);
}

#[actix::test]
async fn a_reload_after_lost_notifications_converges_on_the_store() {
    let store = FakeStore::new();
    let addr = start(&store);
    for (name, port) in [("keep", 1), ("change", 1), ("gone", 1)] {
        store.remote_put("m", name, dataplane(port));
        refresh(&addr, name);
    }
    port_eventually(&addr, "gone", 1).await;
    // Changes whose notifications were lost.
    store.remote_put("m", "change", dataplane(2));
    store.remote_delete(Kind::Dataplane, "m", "gone");
    store.remote_put("m", "new", dataplane(3));
    addr.do_send(RefreshAll);
    port_eventually(&addr, "change", 2).await;
    port_eventually(&addr, "new", 3).await;
    assert!(get(&addr, "gone").await.is_err());
    assert_eq!(port_of(&get(&addr, "keep").await.unwrap()), 1);
}

#[actix::test]
async fn the_read_bookkeeping_does_not_grow_with_the_changes_read() {
    let store = FakeStore::new();
    let addr = start(&store);
    for i in 0..500 {
        let name = format!("dp-{i}");
        store.remote_put("m", &name, dataplane(1));
        refresh(&addr, &name);
    }
    addr.do_send(RefreshAll);
    port_eventually(&addr, "dp-499", 1).await;
    let probed = eventually("every read to land", async || {
        let p = addr.send(Probe).await.unwrap();
        (p.reads == 0).then_some(p)
    })
    .await;
    assert_eq!(
        probed,
        Probed {
            pending_writes: 0,
            reads: 0,
            applied: 0
        }
    );
}

/// A read after the mesh's delete may find it created again (through another instance,
/// before the read ran): that is another mesh, and nothing of the old one's is left.
#[actix::test]
async fn a_mesh_deleted_and_created_again_meanwhile_keeps_nothing_of_the_old_one() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.remote_put("m", "old", dataplane(1));
    refresh(&addr, "old");
    port_eventually(&addr, "old", 1).await;
    // Deleted and created again elsewhere (a new creation time), with a new resource.
    tokio::time::sleep(Duration::from_millis(2)).await;
    store.remote_delete(Kind::Mesh, "m", "m");
    store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.remote_put("m", "new", dataplane(2));
    // The delete's notification: the read finds the new mesh.
    addr.do_send(Refresh {
        kind: Kind::Mesh,
        name: "m".into(),
    });
    port_eventually(&addr, "new", 2).await;
    assert!(
        get(&addr, "old").await.is_err(),
        "a resource of the deleted mesh survived"
    );
}
