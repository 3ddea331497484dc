//! The lease keeper and sweeper on the actix runtime over a [`FakeStore`], whose leases
//! expire when the test says so.

use std::time::Duration;

use super::*;
use crate::kinds::insight::{DataplaneInsightSpec, Subscription};
use crate::kinds::{Kind, Spec};
use crate::mesh_actor::MeshSettings;
use crate::proto::Timestamp;
use crate::store::memory::MemoryStore;
use crate::supervisor::Supervisor;
use crate::testing::{Call, FakeStore};

const FAST: LeaseSettings = LeaseSettings {
    renew_interval: Duration::from_millis(10),
    timeout: Duration::from_millis(50),
};

fn sub(id: &str, instance: &str) -> Subscription {
    Subscription {
        id: id.to_owned(),
        control_plane_instance_id: instance.to_owned(),
        connect_time: Some(Timestamp::now()),
        ..Subscription::default()
    }
}

fn open_subscriptions(store: &FakeStore, mesh: &str) -> Vec<String> {
    match store
        .stored(Kind::DataplaneInsight, mesh, "dp")
        .map(|r| r.spec.clone())
    {
        Some(Spec::DataplaneInsight(s)) => s
            .subscriptions
            .iter()
            .filter(|s| s.disconnect_time.is_none())
            .map(|s| s.id.clone())
            .collect(),
        _ => Vec::new(),
    }
}

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[actix::test]
async fn an_expired_instance_is_disconnected_in_every_mesh_then_forgotten() {
    let store = FakeStore::new();
    for mesh in ["a", "b"] {
        store.remote_put(mesh, mesh, Spec::empty(Kind::Mesh));
        let dp = Kind::Dataplane
            .decode(serde_json::json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 1, "tags": {"service": "web"}}]}}))
            .unwrap();
        store.remote_put(mesh, "dp", dp);
        let insight = DataplaneInsightSpec {
            subscriptions: vec![
                sub("theirs", "dead"),
                sub("ours", "me"),
                sub("others", "alive"),
            ],
            mtls: None,
        };
        store.remote_put(mesh, "dp", Spec::DataplaneInsight(insight));
    }
    let registry = MeshRegistry::new();
    let settings = MeshSettings {
        instance_id: "me".into(),
        ..MeshSettings::default()
    };
    Supervisor::boot(
        store.dyn_store(),
        registry.clone(),
        None,
        settings,
        crate::supervisor::Placement::current(),
    )
    .await
    .unwrap();
    store.renew_as("alive");
    store.expire("dead");
    let _liveness = Liveness::start(store.dyn_store(), registry, "me", FAST)
        .await
        .expect("the fake store has leases");
    assert_eq!(store.lease("me"), Some(false), "taken at start");
    eventually("the dead instance's lease forgotten", || {
        store.lease("dead").is_none()
    })
    .await;
    for mesh in ["a", "b"] {
        assert_eq!(
            open_subscriptions(&store, mesh),
            ["ours", "others"],
            "mesh {mesh}"
        );
    }
    assert_eq!(store.lease("alive"), Some(false));
    // It keeps renewing its own lease.
    let renewals = || {
        store
            .calls()
            .iter()
            .filter(|c| **c == Call::Renew("me".into()))
            .count()
    };
    let before = renewals();
    eventually("another renewal", || renewals() > before).await;
}

#[actix::test]
async fn a_store_no_other_instance_sees_has_no_leases() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    assert!(Liveness::start(store, MeshRegistry::new(), "me", FAST)
        .await
        .is_none());
}

/// After the store was unreachable, every lease looks expired until its instance renews it:
/// an instance judges the others only once it has held its own lease again for a timeout.
#[actix::test]
async fn nobody_is_judged_while_this_instance_cannot_renew_its_own_lease() {
    let store = FakeStore::new();
    let registry = MeshRegistry::new();
    Supervisor::boot(
        store.dyn_store(),
        registry.clone(),
        None,
        MeshSettings::default(),
        crate::supervisor::Placement::current(),
    )
    .await
    .unwrap();
    store.expire("other");
    store.fail_renewals(true);
    let _liveness = Liveness::start(store.dyn_store(), registry, "me", FAST)
        .await
        .expect("the fake store has leases");
    let count = |call: Call| store.calls().iter().filter(|c| **c == call).count();
    eventually("failed renewals", || count(Call::Renew("me".into())) >= 5).await;
    assert_eq!(count(Call::Expired), 0, "swept without a lease of its own");
    store.fail_renewals(false);
    eventually("the other instance forgotten", || {
        store.lease("other").is_none()
    })
    .await;
}
