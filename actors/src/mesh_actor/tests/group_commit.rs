//! Group commit: writes arriving while a batch commits go together into the next one; each is
//! acknowledged only once its batch committed, and fails alone or with its batch.

use super::*;
use crate::store::StoreError;
use crate::testing::{Call, Hold, Write};

#[actix::test]
async fn writes_arriving_while_a_batch_commits_share_the_next_batch() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let first = put(&addr, "a", 1);
    store.wait_held(1).await;
    let rest: Vec<_> = ["b", "c", "d"].iter().map(|n| put(&addr, n, 1)).collect();
    settle(&addr).await;
    // Nothing reached the store but the first batch.
    assert_eq!(store.commits().len(), 1);
    store.release(0);
    assert_eq!(first.await, Ok(Op::Create));
    store.wait_held(1).await;
    assert_eq!(store.held()[0].changes(), 3, "{:?}", store.held());
    store.release(0);
    for r in futures_util::future::join_all(rest).await {
        assert_eq!(r, Ok(Op::Create));
    }
    let sizes: Vec<usize> = store.commits().iter().map(Call::changes).collect();
    assert_eq!(sizes, [1, 3]);
    for name in ["a", "b", "c", "d"] {
        assert!(get(&addr, name).await.is_ok(), "{name}");
    }
}

#[actix::test]
async fn a_write_is_acknowledged_and_shown_only_after_its_batch_commits() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let mut write = Box::pin(put(&addr, "a", 1));
    store.wait_held(1).await;
    // The GET is answered after the PUT was handled: the commit is in flight.
    assert_eq!(get(&addr, "a").await, Err(Error::NotFound));
    assert!(
        ready_now(&mut write).await.is_none(),
        "acknowledged before the commit"
    );
    store.release(0);
    assert_eq!(write.await, Ok(Op::Create));
    assert_eq!(port_of(&get(&addr, "a").await.unwrap()), 1);
}

#[actix::test]
async fn a_failed_batch_fails_each_of_its_writes_and_changes_nothing() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let first = put(&addr, "x", 1);
    store.wait_held(1).await;
    let (a, b) = (put(&addr, "a", 1), put(&addr, "b", 1));
    settle(&addr).await;
    store.release(0);
    assert_eq!(first.await, Ok(Op::Create));
    store.wait_held(1).await;
    store.fail_next_commit(StoreError::Unavailable("connection refused".into()));
    store.release(0);
    for r in [a.await, b.await] {
        let e = r.expect_err("the batch failed");
        assert_eq!(e.op, Op::Create);
        assert!(
            matches!(e.error, Error::Store(StoreError::Unavailable(_))),
            "{e:?}"
        );
    }
    assert_eq!(get(&addr, "a").await, Err(Error::NotFound));
    assert!(store.stored(Kind::Dataplane, "m", "a").is_none());
    // The queue goes on: the next write commits.
    store.unhold();
    assert_eq!(put(&addr, "a", 2).await, Ok(Op::Create));
    assert_eq!(port_of(&get(&addr, "a").await.unwrap()), 2);
}

#[actix::test]
async fn a_refused_change_fails_alone_and_is_read_back() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.hold(Hold::Commits);
    let first = put(&addr, "x", 1);
    store.wait_held(1).await;
    let batch = [put(&addr, "a", 1), put(&addr, "b", 1), put(&addr, "c", 1)];
    settle(&addr).await;
    store.release(0);
    first.await.unwrap();
    store.wait_held(1).await;
    // Another instance created b meanwhile.
    store.remote_put("m", "b", dataplane(7));
    store.unhold();
    let [a, b, c] = batch;
    assert_eq!(a.await, Ok(Op::Create));
    assert_eq!(c.await, Ok(Op::Create));
    let e = b.await.expect_err("b exists in the store");
    assert_eq!(e.error, Error::Conflict, "{e:?}");
    // The actor reads back what the store holds instead.
    let b = eventually("b read back", async || get(&addr, "b").await.ok()).await;
    assert_eq!(port_of(&b), 7);
    assert!(store
        .calls()
        .contains(&Call::Get(Kind::Dataplane, "m".into(), "b".into())));
    let writes: Vec<_> = store.commits()[1].clone().into_changes();
    assert_eq!(
        writes,
        [
            (Kind::Dataplane, "m".into(), "a".into(), Write::Create),
            (Kind::Dataplane, "m".into(), "b".into(), Write::Create),
            (Kind::Dataplane, "m".into(), "c".into(), Write::Create),
        ]
    );
}

/// A commit whose answer was lost (the connection broke during COMMIT) may have applied:
/// the actor reads the keys back instead of keeping its old state.
#[actix::test]
async fn a_commit_whose_answer_was_lost_is_read_back() {
    let store = FakeStore::new();
    let addr = start(&store);
    store.lose_next_commit_answer(StoreError::Unavailable("connection reset".into()));
    let e = put(&addr, "a", 1).await.expect_err("the answer was lost");
    assert!(
        matches!(e.error, Error::Store(StoreError::Unavailable(_))),
        "{e:?}"
    );
    // The store has it; so does the actor once it read it back.
    assert!(store.stored(Kind::Dataplane, "m", "a").is_some());
    let a = eventually("a read back", async || get(&addr, "a").await.ok()).await;
    assert_eq!(port_of(&a), 1);
}
