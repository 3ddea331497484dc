//! Subscriptions of control-plane instances in stored insights: a dead instance's open ones
//! are stamped through the write path; this instance's own are never dropped or rolled back
//! by a state read from the store; an insight keeps its history when an instance restarts.

use super::*;
use crate::kinds::insight::{DataplaneInsightSpec, Subscription};
use crate::mesh_actor::{DisconnectInstance, Refresh, SubscribeProxy, MAX_SUBSCRIPTIONS};
use crate::proto::Timestamp;
use crate::testing::{Hold, Write};

fn sub(id: &str, instance: &str, disconnected: bool) -> Subscription {
    Subscription {
        id: id.to_owned(),
        control_plane_instance_id: instance.to_owned(),
        connect_time: Some(Timestamp::now()),
        disconnect_time: disconnected.then(Timestamp::now),
        status: None,
    }
}

fn insight(subscriptions: Vec<Subscription>) -> Spec {
    Spec::DataplaneInsight(DataplaneInsightSpec {
        subscriptions,
        mtls: None,
    })
}

fn subs_of(r: &Resource) -> Vec<(String, bool)> {
    match &r.spec {
        Spec::DataplaneInsight(s) => s
            .subscriptions
            .iter()
            .map(|s| (s.id.clone(), s.disconnect_time.is_some()))
            .collect(),
        _ => Vec::new(),
    }
}

fn stored_subs(store: &FakeStore) -> Vec<(String, bool)> {
    store
        .stored(Kind::DataplaneInsight, "m", "dp")
        .map(|r| subs_of(&r))
        .unwrap_or_default()
}

/// Mesh `m` with Dataplane `dp` (and whatever else `store` holds of it), served by an actor
/// of instance `me` flushing insights every 10 ms.
fn start_as(store: &FakeStore, me: &str) -> Addr<MeshActor> {
    let mesh = store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.remote_put("m", "dp", dataplane(1));
    let resources = futures_util::FutureExt::now_or_never(store.dyn_store().load_all())
        .unwrap()
        .unwrap()
        .into_iter()
        .filter(|r| r.kind() != Kind::Mesh)
        .collect();
    store.clear_calls();
    let settings = MeshSettings {
        insight_flush_interval: Duration::from_millis(10),
        instance_id: me.into(),
    };
    MeshActor::new(mesh, resources, store.dyn_store(), settings).start()
}

#[actix::test]
async fn the_open_subscriptions_of_a_dead_instance_are_stamped_in_the_store() {
    let store = FakeStore::new();
    store.remote_put(
        "m",
        "dp",
        insight(vec![
            sub("old", "dead", true),
            sub("open", "dead", false),
            sub("other", "alive", false),
        ]),
    );
    let addr = start_as(&store, "me");
    let stamped = addr.send(DisconnectInstance {
        instance: "dead".into(),
    });
    assert!(bounded("the stamp", stamped).await.unwrap());
    assert_eq!(
        stored_subs(&store),
        [
            ("old".into(), true),
            ("open".into(), true),
            ("other".into(), false)
        ]
    );
    // Through the mesh actor's write path: one update from the version it held.
    assert_eq!(
        store.commits()[0].clone().into_changes(),
        [(
            Kind::DataplaneInsight,
            "m".into(),
            "dp".into(),
            Write::Update { expected: 1 }
        )]
    );
    // Nothing left to do the second time.
    let again = addr.send(DisconnectInstance {
        instance: "dead".into(),
    });
    assert!(bounded("the stamp", again).await.unwrap());
    assert_eq!(store.commits().len(), 1);
}

#[actix::test]
async fn a_stamp_behind_a_pending_write_is_not_settled_until_stored() {
    let store = FakeStore::new();
    store.remote_put("m", "dp", insight(vec![sub("open", "dead", false)]));
    let addr = start_as(&store, "me");
    // A write of the insight is pending (its commit held).
    store.hold(Hold::Commits);
    let write = addr.send(PutResource {
        name: "dp".into(),
        spec: crate::kinds::MeshScopedSpec::new(insight(vec![
            sub("open", "dead", false),
            sub("api", "", false),
        ]))
        .expect("a valid insight"),
        write: Default::default(),
    });
    store.wait_held(1).await;
    let first = addr.send(DisconnectInstance {
        instance: "dead".into(),
    });
    assert!(
        !bounded("the stamp", first).await.unwrap(),
        "settled before stored"
    );
    store.unhold();
    assert_eq!(bounded("the PUT", write).await.unwrap(), Ok(Op::Update));
    eventually("the stamp stored", async || {
        let stamped = addr.send(DisconnectInstance {
            instance: "dead".into(),
        });
        bounded("the stamp", stamped).await.unwrap().then_some(())
    })
    .await;
    assert_eq!(
        stored_subs(&store),
        [("open".into(), true), ("api".into(), false)]
    );
}

#[actix::test]
async fn a_stored_insight_never_drops_this_instances_subscriptions() {
    let store = FakeStore::new();
    // A dead instance's subscription, stored open.
    store.remote_put("m", "dp", insight(vec![sub("old", "dead", false)]));
    let addr = start_as(&store, "me");
    let _config = addr
        .send(SubscribeProxy {
            dataplane: "dp".into(),
            subscription: sub("mine", "me", false),
        })
        .await
        .unwrap();
    eventually("this instance's subscription stored", async || {
        (stored_subs(&store).len() == 2).then_some(())
    })
    .await;
    // Another instance stamps the dead one's subscription, from a state that predates ours.
    store.remote_put("m", "dp", insight(vec![sub("old", "dead", true)]));
    addr.do_send(Refresh {
        kind: Kind::DataplaneInsight,
        name: "dp".into(),
    });
    let both = [("old".to_string(), true), ("mine".to_string(), false)];
    eventually("both stored", async || {
        (stored_subs(&store) == both).then_some(())
    })
    .await;
    let shown = addr
        .send(GetResource {
            kind: Kind::DataplaneInsight,
            name: "dp".into(),
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(subs_of(&shown), both);
    // Even when it stamped ours too (it took this instance for dead): ours is connected.
    store.remote_put(
        "m",
        "dp",
        insight(vec![sub("old", "dead", true), sub("mine", "me", true)]),
    );
    addr.do_send(Refresh {
        kind: Kind::DataplaneInsight,
        name: "dp".into(),
    });
    eventually("ours open again", async || {
        (stored_subs(&store) == both).then_some(())
    })
    .await;
}

#[actix::test]
async fn a_restarted_instance_keeps_the_subscription_history() {
    let store = FakeStore::new();
    let history: Vec<Subscription> = (0..MAX_SUBSCRIPTIONS)
        .map(|i| sub(&format!("old-{i}"), "before-restart", true))
        .collect();
    store.remote_put("m", "dp", insight(history));
    let addr = start_as(&store, "after-restart");
    let _config = addr
        .send(SubscribeProxy {
            dataplane: "dp".into(),
            subscription: sub("new", "after-restart", false),
        })
        .await
        .unwrap();
    let want: Vec<(String, bool)> = (1..MAX_SUBSCRIPTIONS)
        .map(|i| (format!("old-{i}"), true))
        .chain([("new".to_string(), false)])
        .collect();
    eventually("the new subscription after the history", async || {
        (stored_subs(&store) == want).then_some(())
    })
    .await;
}
