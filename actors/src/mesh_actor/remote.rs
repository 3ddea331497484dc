//! Changes made through other control-plane instances sharing the store: the supervisor
//! fetches what changed and hands it to the mesh actor, which takes it unless its own pending
//! write of that key will settle it, or it already has that version.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use super::MeshActor;
use crate::kinds::Kind;
use crate::resource::Resource;

/// The store's current state of one key of this mesh (`None`: it is gone).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ApplyRemote {
    /// Its kind (not `Mesh`: see [`ApplyRemote::mesh`]).
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Its state in the store.
    pub state: Option<Arc<Resource>>,
}

impl ApplyRemote {
    /// The mesh resource itself changed.
    pub fn mesh(resource: Arc<Resource>) -> ApplyRemote {
        ApplyRemote {
            kind: Kind::Mesh,
            name: resource.meta.name.clone(),
            state: Some(resource),
        }
    }
}

impl MeshActor {
    fn take_remote(
        &mut self,
        ctx: &mut Context<Self>,
        kind: Kind,
        name: &str,
        state: Option<Arc<Resource>>,
    ) {
        if self.has_pending(kind, name) {
            return;
        }
        if kind == Kind::Mesh {
            if let Some(mesh) = state {
                if mesh.meta.version > self.mesh.meta.version {
                    self.mesh = mesh;
                    self.mesh_changed(ctx);
                }
            }
            return;
        }
        let current = self.of(kind).get(name).map(|r| r.meta.version);
        match (&state, current) {
            (Some(new), Some(v)) if new.meta.version <= v => {}
            (None, None) => {}
            _ => self.applied(ctx, kind, name, state),
        }
    }
}

impl Handler<ApplyRemote> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: ApplyRemote, ctx: &mut Self::Context) {
        self.take_remote(ctx, msg.kind, &msg.name, msg.state);
    }
}

/// Everything the store holds for this mesh, after notifications may have been lost.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync {
    /// The Mesh resource.
    pub mesh: Arc<Resource>,
    /// Every other resource of the mesh.
    pub resources: Vec<Arc<Resource>>,
}

impl Handler<Resync> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: Resync, ctx: &mut Self::Context) {
        self.take_remote(ctx, Kind::Mesh, &msg.mesh.meta.name.clone(), Some(msg.mesh));
        let mut stored: HashMap<(Kind, String), Arc<Resource>> = msg
            .resources
            .into_iter()
            .map(|r| ((r.kind(), r.meta.name.clone()), r))
            .collect();
        // Gone from the store: drop what we have (insights a proxy reported but never stored stay).
        let mut gone = Vec::new();
        for kind in Kind::mesh_scoped() {
            for (name, r) in self.of(kind) {
                if r.meta.version > 0 && !stored.contains_key(&(kind, name.clone())) {
                    gone.push((kind, name.clone()));
                }
            }
        }
        for (kind, name) in gone {
            self.take_remote(ctx, kind, &name, None);
        }
        for ((kind, name), r) in stored.drain() {
            self.take_remote(ctx, kind, &name, Some(r));
        }
    }
}
