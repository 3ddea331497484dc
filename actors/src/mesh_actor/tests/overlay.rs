//! The write overlay: a write builds on the writes still pending before it (two PUTs of one
//! name in one batch are a create and an update, D22), while reads show committed state only.

use super::*;
use crate::mesh_actor::DeleteResource;
use crate::testing::{Hold, Write};

#[actix::test]
async fn two_puts_of_one_name_in_a_batch_are_a_create_and_an_update() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let first = put(&addr, "x", 1);
    store.wait_held(1).await;
    let (one, two) = (put(&addr, "y", 1), put(&addr, "y", 2));
    settle(&addr).await;
    assert_eq!(get(&addr, "y").await, Err(Error::NotFound));
    store.unhold();
    first.await.unwrap();
    assert_eq!(one.await, Ok(Op::Create));
    assert_eq!(two.await, Ok(Op::Update));
    let batch = store.commits()[1].clone().into_changes();
    assert_eq!(
        batch,
        [
            (Kind::Dataplane, "m".into(), "y".into(), Write::Create),
            (
                Kind::Dataplane,
                "m".into(),
                "y".into(),
                Write::Update { expected: 1 }
            ),
        ]
    );
    let y = get(&addr, "y").await.unwrap();
    assert_eq!((port_of(&y), y.meta.version), (2, 2));
    assert_eq!(
        store.stored(Kind::Dataplane, "m", "y").as_deref(),
        Some(&*y)
    );
    assert_eq!(addr.send(Probe).await.unwrap().pending_writes, 0);
}

#[actix::test]
async fn a_delete_of_a_pending_create_follows_it_in_the_batch() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let first = put(&addr, "x", 1);
    store.wait_held(1).await;
    let create = put(&addr, "z", 1);
    let delete = addr.send(DeleteResource {
        kind: Kind::Dataplane,
        name: "z".into(),
        write: Default::default(),
    });
    settle(&addr).await;
    store.unhold();
    first.await.unwrap();
    assert_eq!(create.await, Ok(Op::Create));
    assert_eq!(bounded("the delete", delete).await.unwrap(), Ok(()));
    assert_eq!(get(&addr, "z").await, Err(Error::NotFound));
    assert!(store.stored(Kind::Dataplane, "m", "z").is_none());
    // A delete of what is neither stored nor pending is a 404 at once.
    let again = addr.send(DeleteResource {
        kind: Kind::Dataplane,
        name: "z".into(),
        write: Default::default(),
    });
    assert_eq!(
        bounded("the delete", again).await.unwrap(),
        Err(Error::NotFound)
    );
}

/// Once the mesh's delete is under way, a write answers as it would after the delete: an
/// insight 404 (its Dataplane goes with the mesh, even if committed state still shows it),
/// another kind "mesh not found". A client racing the delete sees a sequential answer.
#[actix::test]
async fn writes_into_a_closing_mesh_answer_as_after_its_delete() {
    let store = FakeStore::new();
    let addr = start(&store);
    put(&addr, "dp", 1).await.unwrap();
    store.hold(Hold::Commits);
    let deleting = addr.send(crate::mesh_actor::DeleteMeshContents {
        write: Default::default(),
    });
    store.wait_held(1).await;
    let insight = Kind::DataplaneInsight
        .decode(json!({"subscriptions": [{"id": "s", "controlPlaneInstanceId": "cp"}]}))
        .expect("valid insight");
    let send = |spec: Spec| {
        addr.send(PutResource {
            name: "dp".into(),
            spec: crate::kinds::MeshScopedSpec::new(spec).expect("mesh scoped"),
            write: Default::default(),
        })
    };
    assert_eq!(
        bounded("insight", send(insight)).await.unwrap(),
        Err(OpError {
            op: Op::Create,
            error: Error::NotFound
        })
    );
    assert_eq!(
        bounded("dataplane", send(dataplane(2))).await.unwrap(),
        Err(OpError {
            op: Op::Update,
            error: Error::MeshNotFound("m".into())
        })
    );
    store.unhold();
    assert_eq!(bounded("delete", deleting).await.unwrap(), Ok(()));
}
