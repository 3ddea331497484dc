//! The shared map from mesh name to mesh actor, so request handlers reach a mesh without a
//! round trip through the supervisor.

use std::sync::Arc;

use actix::Addr;
use dashmap::DashMap;

use crate::mesh_actor::MeshActor;

/// Mesh name → its actor. Written only by the supervisor.
#[derive(Clone, Default)]
pub struct MeshRegistry {
    meshes: Arc<DashMap<String, Addr<MeshActor>>>,
}

impl MeshRegistry {
    /// An empty registry.
    pub fn new() -> MeshRegistry {
        MeshRegistry::default()
    }

    /// The actor of `mesh`, if the mesh exists.
    pub fn get(&self, mesh: &str) -> Option<Addr<MeshActor>> {
        self.meshes.get(mesh).map(|e| e.value().clone())
    }

    /// Every mesh's name and actor, sorted by name.
    pub fn sorted(&self) -> Vec<(String, Addr<MeshActor>)> {
        let mut all: Vec<_> = self
            .meshes
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Every mesh's actor.
    pub fn actors(&self) -> Vec<Addr<MeshActor>> {
        self.meshes.iter().map(|e| e.value().clone()).collect()
    }

    /// Number of meshes.
    pub fn len(&self) -> usize {
        self.meshes.len()
    }

    /// True when there is no mesh.
    pub fn is_empty(&self) -> bool {
        self.meshes.is_empty()
    }

    pub(crate) fn insert(&self, mesh: String, addr: Addr<MeshActor>) {
        self.meshes.insert(mesh, addr);
    }

    /// Removes `mesh` only if it is still served by `addr` (a newer actor may have replaced it).
    pub(crate) fn remove_if(&self, mesh: &str, addr: &Addr<MeshActor>) {
        self.meshes.remove_if(mesh, |_, current| current == addr);
    }

    pub(crate) fn remove(&self, mesh: &str) -> Option<Addr<MeshActor>> {
        self.meshes.remove(mesh).map(|(_, a)| a)
    }
}
