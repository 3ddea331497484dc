//! The shared map from mesh name to mesh actor and its published state, so request handlers
//! reach a mesh, or read it, without a round trip through the supervisor.

use std::sync::Arc;

use actix::Addr;
use dashmap::DashMap;
use tokio::sync::watch;

use crate::mesh_actor::MeshActor;
use crate::state::MeshState;
use crate::watch::Events;

/// A mesh's actor and the latest state it published.
#[derive(Clone)]
pub struct MeshHandle {
    /// The actor: writes and subscriptions go here.
    pub addr: Addr<MeshActor>,
    reads: watch::Receiver<Arc<MeshState>>,
}

impl MeshHandle {
    /// The mesh as of its last change.
    pub fn state(&self) -> Arc<MeshState> {
        self.reads.borrow().clone()
    }
}

/// Mesh name → its actor. Written only by the supervisor.
#[derive(Clone, Default)]
pub struct MeshRegistry {
    meshes: Arc<DashMap<String, MeshHandle>>,
    events: Arc<Events>,
}

impl MeshRegistry {
    /// An empty registry.
    pub fn new() -> MeshRegistry {
        MeshRegistry::default()
    }

    /// The actor of `mesh`, if the mesh exists.
    pub fn get(&self, mesh: &str) -> Option<Addr<MeshActor>> {
        self.meshes.get(mesh).map(|e| e.value().addr.clone())
    }

    /// The latest published state of `mesh`, if the mesh exists.
    pub fn state(&self, mesh: &str) -> Option<Arc<MeshState>> {
        self.meshes.get(mesh).map(|e| e.value().state())
    }

    /// Every mesh's latest state, sorted by mesh name.
    pub fn states(&self) -> Vec<Arc<MeshState>> {
        let mut all: Vec<Arc<MeshState>> = self.meshes.iter().map(|e| e.value().state()).collect();
        all.sort_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Every mesh's name and actor, sorted by name.
    pub fn sorted(&self) -> Vec<(String, Addr<MeshActor>)> {
        let mut all: Vec<_> = self
            .meshes
            .iter()
            .map(|e| (e.key().clone(), e.value().addr.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The change events of every mesh, for watches.
    pub fn events(&self) -> &Arc<Events> {
        &self.events
    }

    /// Every mesh's actor.
    pub fn actors(&self) -> Vec<Addr<MeshActor>> {
        self.meshes.iter().map(|e| e.value().addr.clone()).collect()
    }

    /// Number of meshes.
    pub fn len(&self) -> usize {
        self.meshes.len()
    }

    /// True when there is no mesh.
    pub fn is_empty(&self) -> bool {
        self.meshes.is_empty()
    }

    pub(crate) fn insert(
        &self,
        mesh: String,
        addr: Addr<MeshActor>,
        reads: watch::Receiver<Arc<MeshState>>,
    ) {
        self.meshes.insert(mesh, MeshHandle { addr, reads });
    }

    /// Publishes a handle taken out by [`MeshRegistry::remove`] again.
    pub(crate) fn restore(&self, mesh: String, handle: MeshHandle) {
        self.meshes.insert(mesh, handle);
    }

    /// Removes `mesh` only if it is still served by `addr` (a newer actor may have replaced it).
    pub(crate) fn remove_if(&self, mesh: &str, addr: &Addr<MeshActor>) {
        self.meshes
            .remove_if(mesh, |_, current| current.addr == *addr);
    }

    pub(crate) fn remove(&self, mesh: &str) -> Option<MeshHandle> {
        self.meshes.remove(mesh).map(|(_, a)| a)
    }
}
