//! The store contract: one suite of behaviours every [`Store`] must have, run against the
//! memory store and the PostgreSQL store (each PostgreSQL test on a fresh database of the
//! throwaway server that `scripts/test.sh` starts; without it those tests fail, naming the
//! command to run).

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;

use support::{mesh, next, now, resource, spec, Harness};
use ursa_actors::page::PageRequest;
use ursa_actors::store::{Change, Store, StoreError};
use ursa_actors::{Kind, Resource};

type Dyn = Arc<dyn Store>;

fn page(offset: usize, size: usize) -> PageRequest {
    PageRequest { offset, size }
}

fn keys(items: &[Arc<Resource>]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|r| (r.meta.name.clone(), r.meta.mesh.clone()))
        .collect()
}

fn outcome(results: &[Result<(), StoreError>]) -> Vec<&'static str> {
    results
        .iter()
        .map(|r| match r {
            Ok(()) => "ok",
            Err(StoreError::AlreadyExists) => "exists",
            Err(StoreError::NotFound) => "not found",
            Err(StoreError::Conflict) => "conflict",
            Err(StoreError::Unavailable(_)) => "unavailable",
            Err(StoreError::Internal(_)) => "internal",
        })
        .collect()
}

async fn get(store: &Dyn, kind: Kind, mesh: &str, name: &str) -> Option<Arc<Resource>> {
    store.get(kind, mesh, name).await.expect("get")
}

async fn create_then_get(store: Dyn) {
    assert!(get(&store, Kind::Mesh, "m", "m").await.is_none());
    let m = mesh("m");
    store.create(m.clone()).await.expect("create mesh");
    let dp = resource(Kind::Dataplane, "m", "dp-1");
    store.create(dp.clone()).await.expect("create dataplane");
    assert_eq!(
        get(&store, Kind::Mesh, "m", "m").await.as_deref(),
        Some(&*m)
    );
    assert_eq!(
        get(&store, Kind::Dataplane, "m", "dp-1").await.as_deref(),
        Some(&*dp)
    );
    assert!(get(&store, Kind::Dataplane, "m", "dp-2").await.is_none());
    assert!(get(&store, Kind::Dataplane, "other", "dp-1")
        .await
        .is_none());
    assert!(get(&store, Kind::DataplaneInsight, "m", "dp-1")
        .await
        .is_none());
}

async fn every_kind_round_trips(store: Dyn) {
    let name = "n".repeat(253);
    let mut written = Vec::new();
    for &kind in Kind::ALL {
        let r = if kind == Kind::Mesh {
            mesh("rt")
        } else {
            resource(kind, "rt", &name)
        };
        assert_ne!(
            r.spec,
            ursa_actors::Spec::empty(kind),
            "{kind:?} has content"
        );
        store.create(r.clone()).await.expect("create");
        written.push(r);
    }
    for r in &written {
        let back = get(&store, r.kind(), &r.meta.mesh, &r.meta.name).await;
        assert_eq!(back.as_deref(), Some(&**r), "{:?}", r.kind());
    }
    let updated: Vec<Arc<Resource>> = written.iter().map(|r| next(r)).collect();
    for r in &updated {
        store.update(r.clone()).await.expect("update");
        let back = get(&store, r.kind(), &r.meta.mesh, &r.meta.name).await;
        assert_eq!(back.as_deref(), Some(&**r), "{:?}", r.kind());
    }
}

async fn create_taken_is_already_exists(store: Dyn) {
    let first = resource(Kind::TrafficRoute, "m", "r");
    store.create(first.clone()).await.expect("create");
    let again = resource(Kind::TrafficRoute, "m", "r");
    assert!(matches!(
        store.create(again).await,
        Err(StoreError::AlreadyExists)
    ));
    assert_eq!(
        get(&store, Kind::TrafficRoute, "m", "r").await.as_deref(),
        Some(&*first)
    );
    // The key is (kind, mesh, name): the same name in another mesh or kind is free.
    store
        .create(resource(Kind::TrafficRoute, "m2", "r"))
        .await
        .expect("other mesh");
    store
        .create(resource(Kind::TrafficLog, "m", "r"))
        .await
        .expect("other kind");
}

async fn update_checks_the_version(store: Dyn) {
    let v1 = resource(Kind::HealthCheck, "m", "hc");
    store.create(v1.clone()).await.expect("create");
    let v2 = next(&v1);
    store.update(v2.clone()).await.expect("update to 2");
    assert_eq!(
        get(&store, Kind::HealthCheck, "m", "hc").await.as_deref(),
        Some(&*v2)
    );
    // Another writer that also read version 1 loses.
    assert!(matches!(
        store.update(next(&v1)).await,
        Err(StoreError::Conflict)
    ));
    // So does one that skips a version.
    assert!(matches!(
        store.update(next(&next(&v2))).await,
        Err(StoreError::Conflict)
    ));
    let v3 = next(&v2);
    store.update(v3.clone()).await.expect("update to 3");
    let back = get(&store, Kind::HealthCheck, "m", "hc")
        .await
        .expect("stored");
    assert_eq!(back.meta.version, 3);
    assert_eq!(back.meta.creation_time, v1.meta.creation_time);
    assert_eq!(back.meta.modification_time, v3.meta.modification_time);
    // Nothing to update.
    let absent = next(&resource(Kind::HealthCheck, "m", "absent"));
    assert!(matches!(
        store.update(absent).await,
        Err(StoreError::NotFound)
    ));
}

async fn delete_then_not_found(store: Dyn) {
    store
        .create(resource(Kind::TrafficLog, "m", "l"))
        .await
        .expect("create");
    store
        .delete(Kind::TrafficLog, "m", "l")
        .await
        .expect("delete");
    assert!(get(&store, Kind::TrafficLog, "m", "l").await.is_none());
    assert!(matches!(
        store.delete(Kind::TrafficLog, "m", "l").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete(Kind::Mesh, "none", "none").await,
        Err(StoreError::NotFound)
    ));
    // Deleted, the key can be created again from version 1.
    store
        .create(resource(Kind::TrafficLog, "m", "l"))
        .await
        .expect("create again");
}

async fn mesh_delete_cascades(store: Dyn) {
    for m in ["m1", "m2"] {
        store.create(mesh(m)).await.expect("mesh");
        for &kind in Kind::ALL {
            if kind != Kind::Mesh {
                store
                    .create(resource(kind, m, "x"))
                    .await
                    .expect("resource");
            }
        }
    }
    store
        .delete(Kind::Mesh, "m1", "m1")
        .await
        .expect("delete mesh");
    for &kind in Kind::ALL {
        let m1 = store
            .list(kind, Some("m1"), PageRequest::ALL)
            .await
            .expect("list");
        assert_eq!(m1.total, 0, "{kind:?} left in m1");
        let m2 = store
            .list(kind, Some("m2"), PageRequest::ALL)
            .await
            .expect("list");
        assert_eq!(m2.total, 1, "{kind:?} in m2");
    }
    assert_eq!(store.load_all().await.expect("load").len(), Kind::ALL.len());
}

async fn dataplane_delete_removes_its_insight(store: Dyn) {
    for name in ["a", "b"] {
        store
            .create(resource(Kind::Dataplane, "m", name))
            .await
            .expect("dataplane");
        store
            .create(resource(Kind::DataplaneInsight, "m", name))
            .await
            .expect("insight");
    }
    store
        .create(resource(Kind::DataplaneInsight, "other", "a"))
        .await
        .expect("insight elsewhere");
    store
        .delete(Kind::Dataplane, "m", "a")
        .await
        .expect("delete");
    assert!(get(&store, Kind::DataplaneInsight, "m", "a")
        .await
        .is_none());
    assert!(get(&store, Kind::DataplaneInsight, "m", "b")
        .await
        .is_some());
    assert!(get(&store, Kind::DataplaneInsight, "other", "a")
        .await
        .is_some());
    // An insight alone can be deleted, and its dataplane stays.
    store
        .delete(Kind::DataplaneInsight, "m", "b")
        .await
        .expect("delete insight");
    assert!(get(&store, Kind::Dataplane, "m", "b").await.is_some());
}

async fn list_orders_by_name_then_mesh_and_pages(store: Dyn) {
    // Byte order: '-' < '1' < '_' < 'b'.
    let names = ["b", "a_b", "a1", "a-b", "ab"];
    for m in ["m2", "m1"] {
        for n in names {
            store
                .create(resource(Kind::TrafficPermission, m, n))
                .await
                .expect("create");
        }
    }
    store
        .create(resource(Kind::TrafficRoute, "m1", "a"))
        .await
        .expect("other kind");
    let all = store
        .list(Kind::TrafficPermission, None, PageRequest::ALL)
        .await
        .expect("list");
    let want: Vec<(String, String)> = ["a-b", "a1", "a_b", "ab", "b"]
        .iter()
        .flat_map(|n| {
            [
                (n.to_string(), "m1".to_owned()),
                (n.to_string(), "m2".to_owned()),
            ]
        })
        .collect();
    assert_eq!(all.total, 10);
    assert_eq!(keys(&all.items), want);

    let p = store
        .list(Kind::TrafficPermission, None, page(3, 4))
        .await
        .expect("page");
    assert_eq!(p.total, 10);
    assert_eq!(keys(&p.items), want[3..7].to_vec());
    let last = store
        .list(Kind::TrafficPermission, None, page(8, 4))
        .await
        .expect("last page");
    assert_eq!(keys(&last.items), want[8..].to_vec());
    let beyond = store
        .list(Kind::TrafficPermission, None, page(20, 4))
        .await
        .expect("beyond");
    assert_eq!((beyond.total, beyond.items.len()), (10, 0));

    let m2 = store
        .list(Kind::TrafficPermission, Some("m2"), page(1, 2))
        .await
        .expect("one mesh");
    assert_eq!(m2.total, 5);
    assert_eq!(
        keys(&m2.items),
        vec![("a1".into(), "m2".into()), ("a_b".into(), "m2".into())]
    );
    let none = store
        .list(Kind::TrafficPermission, Some("m3"), PageRequest::ALL)
        .await
        .expect("empty mesh");
    assert_eq!((none.total, none.items.len()), (0, 0));
    let empty = store
        .list(Kind::FaultInjection, None, PageRequest::ALL)
        .await
        .expect("empty kind");
    assert_eq!((empty.total, empty.items.len()), (0, 0));
    // Items are whole resources.
    assert_eq!(all.items[0].spec, spec(Kind::TrafficPermission));
}

async fn load_all_returns_everything(store: Dyn) {
    assert!(store.load_all().await.expect("empty").is_empty());
    let mut written = Vec::new();
    for m in ["b", "a"] {
        written.push(mesh(m));
        written.push(resource(Kind::Dataplane, m, "dp"));
        written.push(resource(Kind::DataplaneInsight, m, "dp"));
        written.push(resource(Kind::TrafficRoute, m, "r"));
    }
    for r in &written {
        store.create(r.clone()).await.expect("create");
    }
    let updated = next(&written[3]);
    store.update(updated.clone()).await.expect("update");
    written[3] = updated;
    let loaded = store.load_all().await.expect("load");
    let mut want: Vec<Resource> = written.iter().map(|r| (**r).clone()).collect();
    let mut got: Vec<Resource> = loaded.iter().map(|r| (**r).clone()).collect();
    let key = |r: &Resource| (r.kind(), r.meta.name.clone(), r.meta.mesh.clone());
    want.sort_by_key(key);
    got.sort_by_key(key);
    assert_eq!(got, want);
}

async fn commit_reports_each_change(store: Dyn) {
    let existing = resource(Kind::TrafficTrace, "m", "exists");
    let stale = resource(Kind::TrafficTrace, "m", "stale");
    let doomed = resource(Kind::TrafficTrace, "m", "doomed");
    for r in [&existing, &stale, &doomed] {
        store.create(r.clone()).await.expect("setup");
    }
    let stale_v2 = next(&stale);
    store
        .update(stale_v2.clone())
        .await
        .expect("someone else updates");
    let fresh = resource(Kind::TrafficTrace, "m", "fresh");
    let results = store
        .commit(vec![
            Change::Create(fresh.clone()),
            Change::Create(resource(Kind::TrafficTrace, "m", "exists")),
            Change::Update {
                resource: next(&stale),
                expected: 1,
            },
            Change::Update {
                resource: next(&existing),
                expected: 1,
            },
            Change::Delete {
                kind: Kind::TrafficTrace,
                mesh: "m".into(),
                name: "absent".into(),
                expected: None,
            },
            Change::Delete {
                kind: Kind::TrafficTrace,
                mesh: "m".into(),
                name: "doomed".into(),
                expected: None,
            },
            Change::Update {
                resource: next(&resource(Kind::TrafficTrace, "m", "absent")),
                expected: 1,
            },
        ])
        .await
        .expect("commit");
    assert_eq!(
        outcome(&results),
        [
            "ok",
            "exists",
            "conflict",
            "ok",
            "not found",
            "ok",
            "not found"
        ]
    );
    // The failures undid nothing.
    assert_eq!(
        get(&store, Kind::TrafficTrace, "m", "fresh")
            .await
            .as_deref(),
        Some(&*fresh)
    );
    assert_eq!(
        get(&store, Kind::TrafficTrace, "m", "exists")
            .await
            .map(|r| r.meta.version),
        Some(2)
    );
    assert_eq!(
        get(&store, Kind::TrafficTrace, "m", "stale")
            .await
            .as_deref(),
        Some(&*stale_v2)
    );
    assert!(get(&store, Kind::TrafficTrace, "m", "doomed")
        .await
        .is_none());
    assert!(store.commit(Vec::new()).await.expect("empty").is_empty());
}

async fn commit_applies_changes_in_order(store: Dyn) {
    let v1 = resource(Kind::ProxyTemplate, "m", "pt");
    let v2 = next(&v1);
    let v3 = next(&v2);
    let reborn = resource(Kind::ProxyTemplate, "m", "pt");
    let del = || Change::Delete {
        kind: Kind::ProxyTemplate,
        mesh: "m".into(),
        name: "pt".into(),
        expected: None,
    };
    let results = store
        .commit(vec![
            Change::Update {
                resource: v2.clone(),
                expected: 1,
            },
            Change::Create(v1.clone()),
            Change::Update {
                resource: v2.clone(),
                expected: 1,
            },
            Change::Update {
                resource: v3.clone(),
                expected: 2,
            },
            del(),
            del(),
            Change::Create(reborn.clone()),
            Change::Create(reborn.clone()),
        ])
        .await
        .expect("commit");
    assert_eq!(
        outcome(&results),
        [
            "not found",
            "ok",
            "ok",
            "ok",
            "ok",
            "not found",
            "ok",
            "exists"
        ]
    );
    assert_eq!(
        get(&store, Kind::ProxyTemplate, "m", "pt").await.as_deref(),
        Some(&*reborn)
    );

    // A mesh created, filled and deleted in one batch leaves nothing; what follows the delete
    // in the batch stays.
    let results = store
        .commit(vec![
            Change::Create(mesh("tmp")),
            Change::Create(resource(Kind::Dataplane, "tmp", "dp")),
            Change::Create(resource(Kind::DataplaneInsight, "tmp", "dp")),
            Change::Delete {
                kind: Kind::Mesh,
                mesh: "tmp".into(),
                name: "tmp".into(),
                expected: None,
            },
            Change::Create(resource(Kind::TrafficRoute, "tmp", "after")),
        ])
        .await
        .expect("commit");
    assert_eq!(outcome(&results), ["ok", "ok", "ok", "ok", "ok"]);
    let left: Vec<(Kind, String)> = store
        .load_all()
        .await
        .expect("load")
        .iter()
        .filter(|r| r.meta.mesh == "tmp")
        .map(|r| (r.kind(), r.meta.name.clone()))
        .collect();
    assert_eq!(left, vec![(Kind::TrafficRoute, "after".to_owned())]);
}

async fn versions_follow_updates(store: Dyn) {
    let mut current = resource(Kind::TrafficRoute, "m", "r");
    store.create(current.clone()).await.expect("create");
    for version in 2..=20 {
        let n = next(&current);
        let results = store
            .commit(vec![Change::Update {
                resource: n.clone(),
                expected: current.meta.version,
            }])
            .await
            .expect("commit");
        assert_eq!(outcome(&results), ["ok"]);
        current = n;
        let stored = get(&store, Kind::TrafficRoute, "m", "r")
            .await
            .expect("stored");
        assert_eq!(stored.meta.version, version);
    }
    // An update whose new version is not expected + 1 is a conflict, whatever is stored.
    let mut skip = (*next(&current)).clone();
    skip.meta.version += 1;
    let results = store
        .commit(vec![Change::Update {
            resource: Arc::new(skip),
            expected: current.meta.version,
        }])
        .await
        .expect("commit");
    assert_eq!(outcome(&results), ["conflict"]);
}

async fn concurrent_writers_stay_consistent(store: Dyn) {
    const TASKS: usize = 8;
    const KEYS: usize = 20;
    // Every task creates every key (each in a different order), in batches of 5.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut order: Vec<usize> = (0..KEYS).collect();
            order.rotate_left(t * 3 % KEYS);
            if t % 2 == 1 {
                order.reverse();
            }
            let mut won = Vec::new();
            for chunk in order.chunks(5) {
                let changes = chunk
                    .iter()
                    .map(|k| Change::Create(resource(Kind::Dataplane, "m", &format!("k{k}"))))
                    .collect();
                let results = store.commit(changes).await.expect("commit");
                for (k, r) in chunk.iter().zip(results) {
                    match r {
                        Ok(()) => won.push(*k),
                        Err(StoreError::AlreadyExists) => {}
                        Err(e) => panic!("create k{k}: {e}"),
                    }
                }
            }
            won
        });
    }
    let mut winners = Vec::new();
    while let Some(won) = tasks.join_next().await {
        winners.extend(won.expect("task"));
    }
    winners.sort_unstable();
    assert_eq!(
        winners,
        (0..KEYS).collect::<Vec<_>>(),
        "exactly one create wins per key"
    );

    // Every task updates every key from the version it reads, retrying on conflict: each
    // update lands exactly once.
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let store = store.clone();
        tasks.spawn(async move {
            let mut applied = 0;
            for k in (0..KEYS).map(|k| (k + t) % KEYS) {
                let name = format!("k{k}");
                loop {
                    let current = store
                        .get(Kind::Dataplane, "m", &name)
                        .await
                        .expect("get")
                        .expect("exists");
                    let results = store
                        .commit(vec![Change::Update {
                            resource: next(&current),
                            expected: current.meta.version,
                        }])
                        .await
                        .expect("commit");
                    match &results[..] {
                        [Ok(())] => {
                            applied += 1;
                            break;
                        }
                        [Err(StoreError::Conflict)] => continue,
                        other => panic!("update {name}: {other:?}"),
                    }
                }
            }
            applied
        });
    }
    let mut applied = 0;
    while let Some(n) = tasks.join_next().await {
        applied += n.expect("task");
    }
    assert_eq!(applied, TASKS * KEYS);
    let page = store
        .list(Kind::Dataplane, Some("m"), PageRequest::ALL)
        .await
        .expect("list");
    assert_eq!(page.total, KEYS);
    let versions: BTreeSet<u64> = page.items.iter().map(|r| r.meta.version).collect();
    assert_eq!(versions, BTreeSet::from([1 + TASKS as u64]));
}

async fn times_are_kept(store: Dyn) {
    let mut r = (*resource(Kind::TrafficLog, "m", "t")).clone();
    r.meta.creation_time = now() - chrono::Duration::days(400);
    store.create(Arc::new(r.clone())).await.expect("create");
    let back = get(&store, Kind::TrafficLog, "m", "t")
        .await
        .expect("stored");
    assert_eq!(back.meta.creation_time, r.meta.creation_time);
    assert_eq!(back.meta.modification_time, r.meta.modification_time);
    assert!(back.meta.creation_time < back.meta.modification_time);
}

async fn a_delete_at_a_version_checks_it(store: Dyn) {
    let v1 = resource(Kind::TrafficRoute, "m", "r");
    store.create(v1.clone()).await.expect("create");
    let v2 = next(&v1);
    store.update(v2.clone()).await.expect("update");
    assert!(matches!(
        store.delete_at(Kind::TrafficRoute, "m", "r", 1).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        get(&store, Kind::TrafficRoute, "m", "r").await.as_deref(),
        Some(&*v2),
        "a conflicting delete deletes nothing"
    );
    store
        .delete_at(Kind::TrafficRoute, "m", "r", 2)
        .await
        .expect("delete at the stored version");
    assert!(get(&store, Kind::TrafficRoute, "m", "r").await.is_none());
    assert!(matches!(
        store.delete_at(Kind::TrafficRoute, "m", "r", 2).await,
        Err(StoreError::NotFound)
    ));
    // In a batch, and with what the resource owns: a Dataplane's insight goes with it.
    store.create(mesh("m")).await.expect("mesh");
    store
        .create(resource(Kind::Dataplane, "m", "dp"))
        .await
        .expect("dataplane");
    store
        .create(resource(Kind::DataplaneInsight, "m", "dp"))
        .await
        .expect("insight");
    let at = |kind: Kind, name: &str, v: u64| Change::Delete {
        kind,
        mesh: "m".into(),
        name: name.into(),
        expected: Some(v),
    };
    let results = store
        .commit(vec![
            at(Kind::Dataplane, "dp", 7),
            at(Kind::Dataplane, "dp", 1),
            at(Kind::Mesh, "m", 9),
        ])
        .await
        .expect("commit");
    assert_eq!(outcome(&results), ["conflict", "ok", "conflict"]);
    assert!(get(&store, Kind::DataplaneInsight, "m", "dp")
        .await
        .is_none());
    assert!(get(&store, Kind::Mesh, "m", "m").await.is_some());
    store
        .delete_at(Kind::Mesh, "m", "m", 1)
        .await
        .expect("mesh at its version");
    assert!(store.load_all().await.expect("load").is_empty());
}

async fn a_secret_is_created_once(store: Dyn) {
    let first = store
        .get_or_create_secret("test/key", Box::new(|| b"one".to_vec()))
        .await
        .expect("create");
    assert_eq!(first, b"one");
    let again = store
        .get_or_create_secret("test/key", Box::new(|| panic!("not generated twice")))
        .await
        .expect("read back");
    assert_eq!(again, b"one");
    // Arbitrary bytes survive, and names are independent.
    let binary: Vec<u8> = (0..=255).collect();
    let other = binary.clone();
    let got = store
        .get_or_create_secret("test/other", Box::new(move || other))
        .await
        .expect("binary");
    assert_eq!(got, binary);
    assert!(store
        .get_or_create_secret("bad name", Box::new(Vec::new))
        .await
        .is_err());
}

async fn racing_creators_end_with_one_secret(store: Dyn) {
    // Many creators at once, each with its own value: all of them get the same one.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..16u8 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .get_or_create_secret("race/key", Box::new(move || vec![i; 32]))
                .await
                .expect("get or create")
        });
    }
    let mut seen = BTreeSet::new();
    while let Some(value) = tasks.join_next().await {
        seen.insert(value.expect("task"));
    }
    assert_eq!(seen.len(), 1, "{seen:?}");
    let stored = seen.into_iter().next().unwrap();
    assert_eq!(
        store.secrets("race/").await.expect("list"),
        vec![("race/key".to_string(), stored)]
    );
}

async fn secrets_are_listed_by_prefix_in_name_order(store: Dyn) {
    for name in ["revoked/b", "revoked/a", "revokedx", "key", "revoked/c"] {
        store
            .get_or_create_secret(name, Box::new(move || name.as_bytes().to_vec()))
            .await
            .expect("create");
    }
    let names = |list: Vec<(String, Vec<u8>)>| -> Vec<String> {
        list.into_iter()
            .map(|(n, v)| {
                assert_eq!(n.as_bytes(), &v[..]);
                n
            })
            .collect()
    };
    assert_eq!(
        names(store.secrets("revoked/").await.expect("list")),
        ["revoked/a", "revoked/b", "revoked/c"]
    );
    assert_eq!(names(store.secrets("").await.expect("list")).len(), 5);
    assert!(store.secrets("none/").await.expect("list").is_empty());
    // Secrets are not resources: nothing of them shows in the resource tables.
    assert!(store.load_all().await.expect("load").is_empty());
}

async fn secrets_are_deleted_by_prefix(store: Dyn) {
    for name in ["ca/m1/1/a", "ca/m1/2/b", "ca/m10/1/a", "key"] {
        store
            .get_or_create_secret(name, Box::new(move || name.as_bytes().to_vec()))
            .await
            .expect("create");
    }
    store.delete_secrets("ca/m1/").await.expect("delete");
    let left: Vec<String> = store
        .secrets("")
        .await
        .expect("list")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(left, ["ca/m10/1/a", "key"]);
    // Nothing under the prefix: nothing happens.
    store.delete_secrets("ca/m1/").await.expect("delete again");
    // Deleted, a secret is created afresh.
    let fresh = store
        .get_or_create_secret("ca/m1/1/a", Box::new(|| b"new".to_vec()))
        .await
        .expect("create again");
    assert_eq!(fresh, b"new");
}

macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        /// The contract on the memory store.
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let harness = crate::Harness::memory().await;
                    super::$test(harness.store.clone()).await;
                    harness.finish().await;
                }
            )*
        }

        /// The contract on the PostgreSQL store, a fresh database per test.
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let harness = crate::Harness::postgres().await;
                    super::$test(harness.store.clone()).await;
                    harness.finish().await;
                }
            )*
        }
    };
}

contract!(
    create_then_get,
    every_kind_round_trips,
    create_taken_is_already_exists,
    update_checks_the_version,
    delete_then_not_found,
    mesh_delete_cascades,
    dataplane_delete_removes_its_insight,
    list_orders_by_name_then_mesh_and_pages,
    load_all_returns_everything,
    commit_reports_each_change,
    commit_applies_changes_in_order,
    versions_follow_updates,
    concurrent_writers_stay_consistent,
    times_are_kept,
    a_delete_at_a_version_checks_it,
    a_secret_is_created_once,
    racing_creators_end_with_one_secret,
    secrets_are_listed_by_prefix_in_name_order,
    secrets_are_deleted_by_prefix,
);
