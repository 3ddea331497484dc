//! Every write of a mesh goes through one queue and reaches the store in batches: while one
//! batch commits, new writes gather into the next (group commit), so a slow store costs one
//! round trip per batch, not per write. A write is acknowledged only after its batch commits;
//! the actor's state (what GETs read) changes only then. Writers see pending writes through an
//! overlay, so two PUTs of one name in the same batch are a create and an update (D22).

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::MeshActor;
use crate::error::{Error, Op, OpError};
use crate::kinds::mesh::{self as mesh_kind};
use crate::kinds::{Kind, MeshScopedSpec, Spec};
use crate::precondition::WriteOptions;
use crate::resource::Resource;
use crate::store::{Change, StoreError};

/// What to do once the store answered for one change.
type Done = Box<dyn FnOnce(&mut MeshActor, &mut Context<MeshActor>, Result<(), StoreError>) + Send>;

/// What to do once an insight write settled.
pub(super) type InsightWritten = Box<dyn FnOnce(&mut MeshActor, Result<(), StoreError>) + Send>;

/// One key's pending writes: the state after the latest, and how many are pending.
type Pending = (Option<Arc<Resource>>, usize);

/// Pending writes of one mesh.
#[derive(Default)]
pub(super) struct WriteQueue {
    queued: Vec<(Change, Done)>,
    committing: bool,
    overlay: HashMap<(Kind, String), Pending>,
    /// A mesh delete is queued: no further write is accepted.
    closing: bool,
}

impl MeshActor {
    /// The state a new write builds on: the latest pending write, else the committed state.
    pub(super) fn effective(&self, kind: Kind, name: &str) -> Option<Arc<Resource>> {
        if self.writes.overlay.is_empty() {
            // The common case: no write in flight, no key to allocate.
            return self.of(kind).get(name).cloned();
        }
        match self.writes.overlay.get(&(kind, name.to_string())) {
            Some((state, _)) => state.clone(),
            None => self.of(kind).get(name).cloned(),
        }
    }

    /// True when a write of this key is waiting for the store.
    pub(super) fn has_pending(&self, kind: Kind, name: &str) -> bool {
        !self.writes.overlay.is_empty()
            && self.writes.overlay.contains_key(&(kind, name.to_string()))
    }

    fn mark(&mut self, kind: Kind, name: &str, state: Option<Arc<Resource>>) {
        let entry = self
            .writes
            .overlay
            .entry((kind, name.to_string()))
            .or_insert((None, 0));
        entry.0 = state;
        entry.1 += 1;
    }

    /// One pending write of the key settled; true when none is left.
    fn unmark(&mut self, kind: Kind, name: &str) -> bool {
        let key = (kind, name.to_string());
        if let Some(entry) = self.writes.overlay.get_mut(&key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                self.writes.overlay.remove(&key);
                return true;
            }
        }
        false
    }

    /// Keys with writes waiting for the store.
    #[cfg(test)]
    pub(super) fn pending_writes(&self) -> usize {
        self.writes.overlay.len()
    }

    /// No write is accepted any more: the mesh is being deleted.
    pub(super) fn writes_closing(&mut self) {
        self.writes.closing = true;
    }

    /// Queues `change` (whose key will hold `state` once committed) and starts a commit if
    /// none is running.
    fn enqueue(
        &mut self,
        ctx: &mut Context<Self>,
        (kind, name): (Kind, &str),
        state: Option<Arc<Resource>>,
        change: Change,
        done: Done,
    ) {
        self.mark(kind, name, state.clone());
        // A delete takes what the resource owns with it (the store cascades the same way).
        let owned: Vec<Kind> = match state {
            None => kind.owned().collect(),
            Some(_) => Vec::new(),
        };
        for &k in &owned {
            self.mark(k, name, None);
        }
        let name = name.to_string();
        let unmark: Done = Box::new(move |act, ctx, result| {
            // The store holds something else than this write assumed (a refusal), or its
            // answer was lost (the connection broke during COMMIT: it may have applied, and
            // this instance's own notification of it is not delivered to it): read it back.
            let refused = result.is_err();
            let settled = act.unmark(kind, &name);
            let settled_owned: Vec<Kind> = owned
                .into_iter()
                .filter(|&k| act.unmark(k, &name))
                .collect();
            act.local_write_done(kind, &name);
            done(act, ctx, result);
            if refused {
                act.refresh(ctx, kind, &name);
            }
            if settled {
                act.writes_settled(ctx, kind, &name);
            }
            for k in settled_owned {
                act.writes_settled(ctx, k, &name);
            }
        });
        self.writes.queued.push((change, unmark));
        self.flush(ctx);
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if self.writes.committing || self.writes.queued.is_empty() {
            return;
        }
        self.writes.committing = true;
        let (changes, dones): (Vec<Change>, Vec<Done>) =
            std::mem::take(&mut self.writes.queued).into_iter().unzip();
        let commit = self.store.commit(changes);
        ctx.spawn(commit.into_actor(self).map(move |result, act, ctx| {
            act.writes.committing = false;
            match result {
                Ok(results) => {
                    let mut results = results.into_iter();
                    for done in dones {
                        let r = results.next().unwrap_or_else(|| {
                            Err(StoreError::Internal(
                                "the store answered fewer changes than it was given".into(),
                            ))
                        });
                        done(act, ctx, r);
                    }
                }
                Err(e) => {
                    tracing::warn!(mesh = %act.name(), error = %e, "a batch of writes failed");
                    for done in dones {
                        done(act, ctx, Err(e.clone()));
                    }
                }
            }
            act.flush(ctx);
        }));
    }

    /// A committed change of a resource (not the Mesh itself) takes effect.
    pub(super) fn applied(
        &mut self,
        ctx: &mut Context<Self>,
        kind: Kind,
        name: &str,
        state: Option<Arc<Resource>>,
    ) {
        let created_dataplane =
            kind == Kind::Dataplane && !self.of(kind).contains_key(name) && state.is_some();
        if state.is_none() && kind.owned().any(|k| k == Kind::DataplaneInsight) {
            // Its insight went with it: nothing is left to flush.
            self.dirty_insights.remove(name);
        }
        self.change(ctx, kind, name, state);
        if kind == Kind::DataplaneInsight {
            // What the API wrote is stored; nothing of the proxies' is left to flush.
            self.dirty_insights.remove(name);
        }
        if created_dataplane {
            self.dataplane_created(name);
        }
    }

    /// Writes the insights proxies changed since the last flush (at most once per interval
    /// per dataplane, and only when changed).
    pub(super) fn flush_insights(&mut self, ctx: &mut Context<Self>) {
        let names: Vec<String> = std::mem::take(&mut self.dirty_insights)
            .into_iter()
            .collect();
        for name in names {
            if self.has_pending(Kind::DataplaneInsight, &name) {
                // Something is on its way for this insight: try again next time.
                self.dirty_insights.insert(name);
                continue;
            }
            self.write_insight(ctx, &name, Box::new(|_, _| {}));
        }
    }

    /// Writes the insight of `name` as the actor holds it now (nothing when there is none),
    /// then calls `then` with the outcome; a failed write leaves the insight to the next flush.
    /// The caller checked that no write of it is pending.
    pub(super) fn write_insight(
        &mut self,
        ctx: &mut Context<Self>,
        name: &str,
        then: InsightWritten,
    ) {
        self.dirty_insights.remove(name);
        let Some(current) = self.of(Kind::DataplaneInsight).get(name).cloned() else {
            return then(self, Ok(()));
        };
        let mut stored = (*current).clone();
        stored.meta.version = current.meta.version + 1;
        let stored = Arc::new(stored);
        let change = if current.meta.version == 0 {
            Change::Create(stored.clone())
        } else {
            Change::Update {
                resource: stored.clone(),
                expected: current.meta.version,
            }
        };
        let version = stored.meta.version;
        let done_name = name.to_string();
        self.enqueue(
            ctx,
            (Kind::DataplaneInsight, name),
            Some(stored),
            change,
            Box::new(move |act, _, r| {
                match &r {
                    Ok(()) => act.insight_stored(&done_name, version),
                    Err(e) => {
                        tracing::warn!(mesh = %act.name(), dataplane = %done_name, error = %e, "could not store a dataplane insight");
                        act.dirty_insights.insert(done_name);
                    }
                }
                then(act, r);
            }),
        );
    }

    /// The store now holds `version` of the insight: later proxy updates build on it.
    fn insight_stored(&mut self, name: &str, version: u64) {
        if let Some(current) = self.state.insight_mut(name) {
            if current.meta.version < version {
                Arc::make_mut(current).meta.version = version;
            }
        }
    }
}

/// A store refusal of a write; one that required the resource to exist (`If-Match`) and found
/// it deleted through another instance failed its precondition.
fn conditional_error(e: StoreError, if_match: bool) -> Error {
    match e {
        StoreError::NotFound if if_match => {
            Error::PreconditionFailed(crate::precondition::Failed {
                clause: crate::precondition::Clause::Match,
                current: None,
            })
        }
        e => e.into(),
    }
}

fn reply<T: 'static>(rx: oneshot::Receiver<T>, gone: T) -> ResponseFuture<T> {
    Box::pin(async move { rx.await.unwrap_or(gone) })
}

/// Create or replace a resource of the mesh.
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct PutResource {
    /// Its name.
    pub name: String,
    /// Its spec (the kind comes with it), validated by the sender.
    pub spec: MeshScopedSpec,
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<PutResource> for MeshActor {
    type Result = ResponseFuture<Result<Op, OpError>>;

    fn handle(&mut self, msg: PutResource, ctx: &mut Self::Context) -> Self::Result {
        let kind = msg.spec.kind();
        let mut spec = msg.spec.into_inner();
        if let Spec::DataplaneInsight(insight) = &mut spec {
            insight.keep_recent();
        }
        let existing = self.effective(kind, &msg.name);
        let op = if existing.is_some() {
            Op::Update
        } else {
            Op::Create
        };
        let fail = |error: Error| -> Self::Result {
            Box::pin(std::future::ready(Err(OpError { op, error })))
        };
        if self.writes.closing {
            return fail(Error::mesh_gone(kind, self.name()));
        }
        if kind
            .owner()
            .is_some_and(|owner| self.effective(owner, &msg.name).is_none())
        {
            return fail(Error::NotFound);
        }
        // Against the latest pending write, so two writers holding one version race fairly
        // here; the store checks the same version again (other instances).
        if let Err(e) = msg
            .write
            .precondition
            .check(existing.as_ref().map(|r| r.meta.version))
        {
            return fail(e);
        }
        if msg.write.dry_run {
            return Box::pin(std::future::ready(Ok(op)));
        }
        let now = crate::resource::now();
        let (resource, change) = match &existing {
            // Version 0: an insight a proxy reported that is not stored yet.
            Some(old) if old.meta.version > 0 => {
                let r = Arc::new(old.updated(spec, now));
                let change = Change::Update {
                    resource: r.clone(),
                    expected: old.meta.version,
                };
                (r, change)
            }
            _ => {
                let mut r = Resource::new(self.name(), &msg.name, spec, now);
                if let Some(old) = &existing {
                    r.meta.creation_time = old.meta.creation_time;
                }
                let r = Arc::new(r);
                (r.clone(), Change::Create(r))
            }
        };
        let (tx, rx) = oneshot::channel();
        let name = msg.name.clone();
        let conditional = msg.write.precondition.if_match.is_some();
        self.enqueue(
            ctx,
            (kind, &msg.name),
            Some(resource.clone()),
            change,
            Box::new(move |act, ctx, r| {
                let outcome = match r {
                    Ok(()) => {
                        act.applied(ctx, kind, &name, Some(resource));
                        Ok(op)
                    }
                    Err(e) => Err(OpError {
                        op,
                        error: conditional_error(e, conditional),
                    }),
                };
                let _ = tx.send(outcome);
            }),
        );
        reply(
            rx,
            Err(OpError {
                op,
                error: Error::ActorGone,
            }),
        )
    }
}

/// Delete a resource (a Dataplane takes its insight with it).
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteResource {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<DeleteResource> for MeshActor {
    type Result = ResponseFuture<Result<(), Error>>;

    fn handle(&mut self, msg: DeleteResource, ctx: &mut Self::Context) -> Self::Result {
        let Some(existing) = self.effective(msg.kind, &msg.name) else {
            return Box::pin(std::future::ready(Err(Error::NotFound)));
        };
        let version = existing.meta.version;
        if let Err(e) = msg.write.precondition.check(Some(version)) {
            return Box::pin(std::future::ready(Err(e)));
        }
        if msg.write.dry_run {
            return Box::pin(std::future::ready(Ok(())));
        }
        if existing.meta.version == 0 {
            // A proxy-reported insight never stored: forget it here, nothing to delete there.
            self.change(ctx, msg.kind, &msg.name, None);
            self.dirty_insights.remove(&msg.name);
            return Box::pin(std::future::ready(Ok(())));
        }
        let change = Change::Delete {
            kind: msg.kind,
            mesh: self.name().to_string(),
            name: msg.name.clone(),
            expected: msg.write.precondition.expected(version),
        };
        let (tx, rx) = oneshot::channel();
        let (kind, name) = (msg.kind, msg.name.clone());
        self.enqueue(
            ctx,
            (msg.kind, &msg.name),
            None,
            change,
            Box::new(move |act, ctx, r| {
                let outcome = match r {
                    Ok(()) => {
                        act.applied(ctx, kind, &name, None);
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                };
                let _ = tx.send(outcome);
            }),
        );
        reply(rx, Err(Error::ActorGone))
    }
}

/// Replace the Mesh's spec (an update: the create goes through the supervisor).
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct UpdateMesh {
    /// The new spec, as decoded from the request.
    pub spec: mesh_kind::MeshSpec,
    /// The files its CA backends name, read by the sender.
    pub files: crate::kinds::mesh::CaFiles,
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<UpdateMesh> for MeshActor {
    type Result = ResponseFuture<Result<Op, OpError>>;

    fn handle(&mut self, msg: UpdateMesh, ctx: &mut Self::Context) -> Self::Result {
        let fail = |error: Error| -> Self::Result {
            Box::pin(std::future::ready(Err(OpError::update(error))))
        };
        if self.writes.closing {
            return fail(Error::NotFound);
        }
        let current = self
            .effective(Kind::Mesh, self.name())
            .unwrap_or_else(|| self.state.mesh.clone());
        let mut spec = msg.spec;
        let old = match &current.spec {
            Spec::Mesh(m) => Some(m),
            _ => None,
        };
        if let Err(v) = mesh_kind::prepare(&mut spec, self.name(), old, &msg.files) {
            return fail(Error::Invalid(v));
        }
        if let Err(e) = msg.write.precondition.check(Some(current.meta.version)) {
            return fail(e);
        }
        if msg.write.dry_run {
            return Box::pin(std::future::ready(Ok(Op::Update)));
        }
        let updated = Arc::new(current.updated(Spec::Mesh(spec), crate::resource::now()));
        let change = Change::Update {
            resource: updated.clone(),
            expected: current.meta.version,
        };
        let (tx, rx) = oneshot::channel();
        let name = self.name().to_string();
        let conditional = msg.write.precondition.if_match.is_some();
        self.enqueue(
            ctx,
            (Kind::Mesh, &name),
            Some(updated.clone()),
            change,
            Box::new(move |act, ctx, r| {
                let outcome = match r {
                    Ok(()) => {
                        act.set_mesh(ctx, updated);
                        Ok(Op::Update)
                    }
                    Err(e) => Err(OpError::update(conditional_error(e, conditional))),
                };
                let _ = tx.send(outcome);
            }),
        );
        reply(rx, Err(OpError::update(Error::ActorGone)))
    }
}

/// Remove the mesh and everything in it from the store, then stop. Sent by the supervisor
/// after it has unpublished the mesh; queued behind every write already accepted. A dry run
/// (sent while the mesh is still published) only checks the precondition.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteMeshContents {
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<DeleteMeshContents> for MeshActor {
    type Result = ResponseFuture<Result<(), Error>>;

    fn handle(&mut self, msg: DeleteMeshContents, ctx: &mut Self::Context) -> Self::Result {
        let current = self
            .effective(Kind::Mesh, self.name())
            .unwrap_or_else(|| self.state.mesh.clone());
        let version = current.meta.version;
        if let Err(e) = msg.write.precondition.check(Some(version)) {
            return Box::pin(std::future::ready(Err(e)));
        }
        if msg.write.dry_run {
            return Box::pin(std::future::ready(Ok(())));
        }
        self.writes.closing = true;
        let name = self.name().to_string();
        let change = Change::Delete {
            kind: Kind::Mesh,
            mesh: name.clone(),
            name: name.clone(),
            expected: msg.write.precondition.expected(version),
        };
        let (tx, rx) = oneshot::channel();
        self.enqueue(
            ctx,
            (Kind::Mesh, &name),
            None,
            change,
            Box::new(move |act, ctx, r| {
                let outcome = match r {
                    Ok(()) => {
                        act.emit_mesh_deleted();
                        act.state.clear();
                        ctx.stop();
                        Ok(())
                    }
                    Err(e) => {
                        act.writes.closing = false;
                        Err(e.into())
                    }
                };
                let _ = tx.send(outcome);
            }),
        );
        reply(rx, Err(Error::ActorGone))
    }
}
