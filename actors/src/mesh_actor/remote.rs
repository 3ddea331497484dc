//! Keeping a mesh actor in step with a store shared by several control-plane instances.
//!
//! The store's change feed only says *which* key changed; the actor then reads that key and
//! takes the store's state as the truth — unless something local happened meanwhile:
//! - a write of that key is still pending: read again once it settles;
//! - a local write of that key completed after the read was issued: read again (the read may
//!   predate it, or a remote write may have followed it);
//! - a newer read of that key was issued: drop this one.
//!
//! Reads are thus repeated until one lands with nothing local in between, so every instance
//! converges on the store's state whatever the order in which commits, notifications and
//! reads interleave. A failed local write (conflict, already exists, not found) means the
//! store holds something else: the key is read back too.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix::prelude::*;

use super::MeshActor;
use crate::kinds::Kind;
use crate::page::PageRequest;
use crate::resource::Resource;
use crate::store::StoreError;

type Key = (Kind, String);

/// A read of the store in flight.
#[derive(Clone, Copy)]
struct Read {
    generation: u64,
    /// A local write of the key (for a full reload: of any key) completed since it was issued.
    stale: bool,
}

/// Store reads of a mesh actor.
#[derive(Default)]
pub(super) struct Refreshes {
    generation: u64,
    keys: HashMap<Key, Read>,
    /// Keys to read once their pending writes settle.
    after_pending: HashSet<Key>,
    /// A reload of the whole mesh in flight.
    all: Option<Read>,
    /// The generation of the read whose result a key holds: a read issued earlier (a
    /// reload that overtook, or was overtaken by, a single read) never replaces it. Only
    /// reads in flight can be earlier, so entries no read in flight predates are dropped.
    applied: HashMap<Key, u64>,
    /// Size of `applied` at which it is next pruned while reads are in flight.
    prune_at: usize,
}

/// Smallest size of `Refreshes::applied` that is pruned while reads are in flight.
const MIN_PRUNE: usize = 64;

impl Refreshes {
    /// Drops the applied generations that no read in flight is older than: they can reject
    /// nothing any more. Everything goes when no read is in flight; otherwise the scan runs
    /// when the map doubled since the last one, so its cost per read stays constant.
    fn prune(&mut self) {
        let oldest = self
            .keys
            .values()
            .map(|r| r.generation)
            .chain(self.all.map(|r| r.generation))
            .min();
        match oldest {
            None => self.applied.clear(),
            Some(oldest) if self.applied.len() >= self.prune_at.max(MIN_PRUNE) => {
                self.applied.retain(|_, applied| *applied > oldest);
                self.prune_at = self.applied.len() * 2;
            }
            Some(_) => {}
        }
    }
}

impl MeshActor {
    /// Reads `key` from the store and takes what it holds.
    pub(super) fn refresh(&mut self, ctx: &mut Context<Self>, kind: Kind, name: &str) {
        let key = (kind, name.to_string());
        if self.has_pending(kind, name) {
            self.refreshes.after_pending.insert(key);
            return;
        }
        self.refreshes.generation += 1;
        let read = Read {
            generation: self.refreshes.generation,
            stale: false,
        };
        self.refreshes.keys.insert(key, read);
        let mesh = self.name().to_string();
        let name = name.to_string();
        let get = self.store.get(kind, &mesh, &name);
        ctx.spawn(get.into_actor(self).map(move |result, act, ctx| {
            let key = (kind, name);
            match act.refreshes.keys.get(&key) {
                Some(r) if r.generation == read.generation => {}
                // A newer read of this key is on its way.
                _ => return,
            }
            let r = act.refreshes.keys.remove(&key).unwrap_or(read);
            match result {
                // An unreachable store was reported by the write that failed before this read;
                // the change feed's resync reads everything again once it is back.
                Err(e @ StoreError::Unavailable(_)) => {
                    tracing::debug!(mesh = %act.name(), name = %key.1, error = %e, "could not read a changed resource");
                }
                Err(e) => {
                    tracing::warn!(mesh = %act.name(), name = %key.1, error = %e, "could not read a changed resource");
                }
                Ok(_) if r.stale || act.has_pending(kind, &key.1) => act.refresh(ctx, kind, &key.1),
                Ok(state) => act.take_read(ctx, key, read.generation, state),
            }
            act.refreshes.prune();
        }));
    }

    /// Reads in flight or deferred.
    #[cfg(test)]
    pub(super) fn reads_in_flight(&self) -> usize {
        let r = &self.refreshes;
        r.keys.len() + r.after_pending.len() + usize::from(r.all.is_some())
    }

    /// Keys whose applied read generation is remembered.
    #[cfg(test)]
    pub(super) fn applied_reads(&self) -> usize {
        self.refreshes.applied.len()
    }

    /// Settles pending reads of a key whose pending writes just settled.
    pub(super) fn writes_settled(&mut self, ctx: &mut Context<Self>, kind: Kind, name: &str) {
        if self
            .refreshes
            .after_pending
            .remove(&(kind, name.to_string()))
        {
            self.refresh(ctx, kind, name);
        }
    }

    /// A local write of `key` completed (committed or refused): reads issued before it may
    /// predate it.
    pub(super) fn local_write_done(&mut self, kind: Kind, name: &str) {
        if let Some(r) = self.refreshes.keys.get_mut(&(kind, name.to_string())) {
            r.stale = true;
        }
        // A write of an owner may have deleted what it owns.
        for owned in kind.owned() {
            if let Some(r) = self.refreshes.keys.get_mut(&(owned, name.to_string())) {
                r.stale = true;
            }
        }
        if let Some(all) = &mut self.refreshes.all {
            all.stale = true;
        }
    }

    /// The result of the read `generation` of `key`, unless a later-issued read applied first.
    fn take_read(
        &mut self,
        ctx: &mut Context<Self>,
        key: Key,
        generation: u64,
        state: Option<Arc<Resource>>,
    ) {
        if self
            .refreshes
            .applied
            .get(&key)
            .is_some_and(|g| *g > generation)
        {
            return;
        }
        self.refreshes.applied.insert(key.clone(), generation);
        self.take(ctx, key.0, &key.1, state);
    }

    /// The store's state of a key becomes this actor's.
    fn take(
        &mut self,
        ctx: &mut Context<Self>,
        kind: Kind,
        name: &str,
        state: Option<Arc<Resource>>,
    ) {
        if kind == Kind::Mesh {
            match state {
                Some(mesh) => {
                    // Deleted and created again meanwhile (through another instance, before
                    // this read ran): everything the old mesh held is gone; reload it all.
                    let other_mesh = self.is_other_mesh(&mesh);
                    if *mesh != *self.state.mesh {
                        self.set_mesh(ctx, mesh);
                    }
                    if other_mesh {
                        self.refresh_all(ctx);
                    }
                }
                None => self.forget(ctx),
            }
            return;
        }
        // This instance's own subscriptions stay as it knows them (see `liveness`).
        let (state, own_differ) = match state {
            Some(stored) if kind == Kind::DataplaneInsight => {
                let (merged, differ) = self.with_own_subscriptions(name, stored);
                (Some(merged), differ)
            }
            other => (other, false),
        };
        let unchanged = match (&state, self.of(kind).get(name)) {
            (Some(new), Some(old)) => **new == **old,
            // A proxy-reported insight not stored yet stays until it is flushed.
            (None, Some(old)) => old.meta.version == 0,
            (None, None) => true,
            (Some(_), None) => false,
        };
        if !unchanged {
            self.applied(ctx, kind, name, state);
        }
        if own_differ {
            // The store lacks them: write them back with the next flush.
            self.dirty_insights.insert(name.to_string());
        }
    }

    /// The mesh is gone from the store: have the supervisor unpublish this actor, and stop.
    pub(super) fn forget(&mut self, ctx: &mut Context<Self>) {
        self.writes_closing();
        if let Some(supervisor) = &self.supervisor {
            supervisor.do_send(crate::supervisor::MeshGone {
                name: self.name().to_string(),
                actor: ctx.address(),
            });
        }
        self.emit_mesh_deleted();
        self.state.clear();
        tracing::info!(mesh = %self.name(), "mesh deleted through another instance");
        // Dropping the actor drops the proxies' channels: their streams end and reconnect.
        ctx.stop();
    }

    /// Reloads the whole mesh from the store (after notifications may have been lost).
    pub(super) fn refresh_all(&mut self, ctx: &mut Context<Self>) {
        self.refreshes.generation += 1;
        let read = Read {
            generation: self.refreshes.generation,
            stale: false,
        };
        self.refreshes.all = Some(read);
        let store = self.store.clone();
        let mesh = self.name().to_string();
        let load = async move {
            let head = store.get(Kind::Mesh, &mesh, &mesh).await?;
            let mut resources = Vec::new();
            for kind in Kind::mesh_scoped() {
                resources.extend(store.list(kind, Some(&mesh), PageRequest::ALL).await?.items);
            }
            Ok::<_, StoreError>((head, resources))
        };
        ctx.spawn(load.into_actor(self).map(move |result, act, ctx| {
            match act.refreshes.all {
                Some(r) if r.generation == read.generation => {}
                _ => return,
            }
            let r = act.refreshes.all.take().unwrap_or(read);
            match result {
                Err(e) => {
                    tracing::warn!(mesh = %act.name(), error = %e, "could not reload the mesh")
                }
                Ok(_) if r.stale => act.refresh_all(ctx),
                Ok((None, _)) => act.forget(ctx),
                Ok((Some(head), resources)) => act.take_all(ctx, read.generation, head, resources),
            }
            act.refreshes.prune();
        }));
    }

    /// True when `stored` is another mesh of the same name than the one this actor holds:
    /// created anew (a creation time of its own, versions counting from 1 again).
    fn is_other_mesh(&self, stored: &Resource) -> bool {
        stored.meta.creation_time != self.state.mesh.meta.creation_time
            || stored.meta.version < self.state.mesh.meta.version
    }

    fn take_all(
        &mut self,
        ctx: &mut Context<Self>,
        generation: u64,
        head: Arc<Resource>,
        resources: Vec<Arc<Resource>>,
    ) {
        let head_key = (Kind::Mesh, head.meta.name.clone());
        let superseded = self
            .refreshes
            .applied
            .get(&head_key)
            .is_some_and(|g| *g > generation);
        if !superseded && self.is_other_mesh(&head) {
            // This reload is what a new mesh calls for: take its head here, so that taking it
            // below does not ask for another.
            self.set_mesh(ctx, head.clone());
        }
        self.take_read(
            ctx,
            (Kind::Mesh, head.meta.name.clone()),
            generation,
            Some(head),
        );
        let mut stored: HashMap<Key, Arc<Resource>> = resources
            .into_iter()
            .map(|r| ((r.kind(), r.meta.name.clone()), r))
            .collect();
        let mut keys: Vec<Key> = stored.keys().cloned().collect();
        for kind in Kind::mesh_scoped() {
            keys.extend(self.of(kind).keys().map(|n| (kind, n.clone())));
        }
        keys.sort();
        keys.dedup();
        for (kind, name) in keys {
            if self.has_pending(kind, &name) {
                self.refreshes.after_pending.insert((kind, name));
                continue;
            }
            // Single-key reads issued before this reload may carry older states: redo them.
            if let Some(r) = self.refreshes.keys.get_mut(&(kind, name.clone())) {
                r.stale = true;
            }
            let state = stored.remove(&(kind, name.clone()));
            self.take_read(ctx, (kind, name), generation, state);
        }
    }
}

/// This key changed in the store (through any instance).
#[derive(Message)]
#[rtype(result = "()")]
pub struct Refresh {
    /// Its kind (`Mesh`: the mesh resource itself).
    pub kind: Kind,
    /// Its name.
    pub name: String,
}

impl Handler<Refresh> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: Refresh, ctx: &mut Self::Context) {
        self.refresh(ctx, msg.kind, &msg.name);
    }
}

/// Reload everything of this mesh from the store.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshAll;

impl Handler<RefreshAll> for MeshActor {
    type Result = ();

    fn handle(&mut self, _: RefreshAll, ctx: &mut Self::Context) {
        self.refresh_all(ctx);
    }
}
