//! What the actor publishes to ADS streams: with no stream listening, writes cost no index
//! upkeep, and the first subscriber still starts from a snapshot holding every change.

use super::*;
use crate::kinds::insight::Subscription;
use crate::mesh_actor::SubscribeProxy;

fn subscription(id: &str) -> Subscription {
    Subscription {
        id: id.to_owned(),
        ..Subscription::default()
    }
}

#[actix::test]
async fn the_first_subscriber_sees_writes_made_while_nobody_listened() {
    let store = FakeStore::new();
    let addr = start(&store);
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        assert_eq!(put(&addr, name, 8000 + i as u32).await, Ok(Op::Create));
    }
    // Past the coalescing interval: the actor had its chance to publish, with nobody listening.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let first = bounded(
        "a subscription",
        addr.send(SubscribeProxy {
            dataplane: "a".into(),
            subscription: subscription("s1"),
        }),
    )
    .await
    .unwrap();
    let snapshot = first.borrow().clone();
    let addresses = snapshot.endpoints.endpoints("web").len();
    assert_eq!(addresses, 3, "every write reached the subscriber's index");
    assert_eq!(snapshot.state.of(Kind::Dataplane).len(), 3);

    // With a listener, a write is published as a change the stream can follow.
    let mut watching = first.clone();
    watching.mark_unchanged();
    assert_eq!(put(&addr, "d", 8003).await, Ok(Op::Create));
    bounded("the next snapshot", watching.changed())
        .await
        .unwrap();
    let next = watching.borrow().clone();
    assert_eq!(next.endpoints.endpoints("web").len(), 4);
    let followed: Vec<_> = next
        .changes_since(snapshot.version)
        .expect("the stream can follow from its version")
        .flat_map(|s| s.changes.iter().map(|c| c.name.clone()))
        .collect();
    assert_eq!(followed, ["d"]);
}
