//! The mesh actor on the actix runtime over a [`FakeStore`]: group commit, the write overlay,
//! and convergence on changes made through other instances, each with the store failing,
//! stalling or answering out of order on purpose.

mod group_commit;
mod liveness;
mod overlay;
mod remote;
mod xds;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use serde_json::json;

use super::{GetResource, MeshActor, MeshSettings, PutResource};
use crate::error::{Error, Op, OpError};
use crate::kinds::{Kind, Spec};
use crate::resource::Resource;
use crate::testing::FakeStore;

/// A Dataplane spec whose inbound port tells versions apart.
pub(super) fn dataplane(port: u32) -> Spec {
    Kind::Dataplane
        .decode(json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": port, "tags": {"service": "web"}}]}}))
        .expect("valid dataplane")
}

/// The inbound port of a Dataplane made by [`dataplane`].
pub(super) fn port_of(r: &Resource) -> u32 {
    match &r.spec {
        Spec::Dataplane(dp) => dp.networking.as_ref().map_or(0, |n| n.inbound[0].port),
        _ => 0,
    }
}

/// Mesh `m` stored in `store`, and its actor.
pub(super) fn start(store: &FakeStore) -> Addr<MeshActor> {
    let mesh = store.remote_put("m", "m", Spec::empty(Kind::Mesh));
    store.clear_calls();
    MeshActor::new(mesh, Vec::new(), store.dyn_store(), MeshSettings::default()).start()
}

/// A PUT of a Dataplane; the message is in the actor's mailbox when this returns.
pub(super) fn put(
    addr: &Addr<MeshActor>,
    name: &str,
    port: u32,
) -> impl Future<Output = Result<Op, OpError>> {
    let request = addr.send(PutResource {
        name: name.to_owned(),
        spec: crate::kinds::MeshScopedSpec::new(dataplane(port)).expect("a valid Dataplane"),
        write: Default::default(),
    });
    async move {
        bounded("a PUT's reply", request)
            .await
            .expect("mesh actor alive")
    }
}

/// `f`'s output; panics naming `what` when it takes more than 10 s (a broken actor must fail
/// its test, not hang it).
pub(super) async fn bounded<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// What a GET of a Dataplane answers now.
pub(super) async fn get(addr: &Addr<MeshActor>, name: &str) -> Result<Arc<Resource>, Error> {
    let request = addr.send(GetResource {
        kind: Kind::Dataplane,
        name: name.to_owned(),
    });
    bounded("a GET's reply", request)
        .await
        .expect("mesh actor alive")
}

/// Waits for every message sent to the actor so far to be handled (its mailbox is FIFO).
pub(super) async fn settle(addr: &Addr<MeshActor>) {
    let _ = get(addr, "").await;
}

/// Polls `check` until it gives a value (panics naming `what` after 10 s).
pub(super) async fn eventually<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Polls a future once: its output if it is ready now.
pub(super) async fn ready_now<F: Future + Unpin>(f: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match std::pin::Pin::new(&mut *f).poll(cx) {
        std::task::Poll::Ready(v) => std::task::Poll::Ready(Some(v)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

/// Sizes of the actor's bookkeeping, which must shrink back once everything settled.
#[derive(Message)]
#[rtype(result = "Probed")]
pub(super) struct Probe;

/// What [`Probe`] answers.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Probed {
    /// Keys with writes waiting for the store.
    pub pending_writes: usize,
    /// Reads of the store in flight or deferred.
    pub reads: usize,
    /// Keys whose applied read generation is remembered.
    pub applied: usize,
}

impl Handler<Probe> for MeshActor {
    type Result = MessageResult<Probe>;

    fn handle(&mut self, _: Probe, _: &mut Self::Context) -> Self::Result {
        MessageResult(Probed {
            pending_writes: self.pending_writes(),
            reads: self.reads_in_flight(),
            applied: self.applied_reads(),
        })
    }
}
