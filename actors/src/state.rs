//! What a mesh holds at one moment: the Mesh resource and one name-ordered map per kind. The
//! maps are persistent (`imbl`), so the mesh actor can publish the whole state as an immutable
//! snapshot after every change for the price of a few pointer copies, and readers (API
//! handlers, xDS streams) answer from a snapshot on their own threads.

use std::sync::Arc;

use crate::kinds::{Kind, KindSpec, Spec};
use crate::overview::{Overview, OverviewFilter};
use crate::page::{Page, PageRequest};
use crate::resource::Resource;

/// One kind's resources by name, in name order.
pub type KindMap = imbl::OrdMap<String, Arc<Resource>>;

/// A mesh's resources at one moment; cheap to clone.
#[derive(Clone, Debug)]
pub struct MeshState {
    /// The Mesh resource itself.
    pub mesh: Arc<Resource>,
    /// One map per kind, indexed by [`Kind::index`] (the Mesh slot stays empty).
    kinds: Vec<KindMap>,
    /// The sequence number of the last change event this state reflects (see
    /// [`crate::watch`]).
    pub seq: u64,
}

impl MeshState {
    /// The state of `mesh` holding `resources` (any kind but Mesh).
    pub fn new(mesh: Arc<Resource>, resources: impl IntoIterator<Item = Arc<Resource>>) -> Self {
        let mut state = MeshState {
            mesh,
            kinds: vec![KindMap::new(); Kind::ALL.len()],
            seq: 0,
        };
        for r in resources {
            state.insert(r);
        }
        state
    }

    /// The mesh's name.
    pub fn name(&self) -> &str {
        &self.mesh.meta.name
    }

    /// The resources of `kind`.
    pub fn of(&self, kind: Kind) -> &KindMap {
        &self.kinds[kind.index()]
    }

    /// The resources of the kind of `T`, each with its spec as a `T`, in name order.
    pub fn typed<T: KindSpec + 'static>(&self) -> impl Iterator<Item = (&Resource, &T)> {
        self.of(T::KIND)
            .values()
            .filter_map(|r| T::of(&r.spec).map(|spec| (&**r, spec)))
    }

    /// One resource.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&Arc<Resource>> {
        self.kinds[kind.index()].get(name)
    }

    /// Adds or replaces a resource (not a Mesh).
    pub fn insert(&mut self, r: Arc<Resource>) {
        self.kinds[r.kind().index()].insert(r.meta.name.clone(), r);
    }

    /// Removes a resource and what it owns (a Dataplane takes its insight with it).
    pub fn remove(&mut self, kind: Kind, name: &str) {
        self.kinds[kind.index()].remove(name);
        for owned in kind.owned() {
            self.kinds[owned.index()].remove(name);
        }
    }

    /// Every resource, of every kind but Mesh.
    pub fn resources(&self) -> impl Iterator<Item = &Arc<Resource>> {
        self.kinds.iter().flat_map(|m| m.values())
    }

    /// Empties every kind.
    pub fn clear(&mut self) {
        for map in &mut self.kinds {
            *map = KindMap::new();
        }
    }

    /// The insight of `name`, for in-place updates by the actor.
    pub fn insight_mut(&mut self, name: &str) -> Option<&mut Arc<Resource>> {
        self.kinds[Kind::DataplaneInsight.index()].get_mut(name)
    }

    /// A page of one kind.
    pub fn list(&self, kind: Kind, page: PageRequest) -> Page<Arc<Resource>> {
        let map = self.of(kind);
        Page {
            total: map.len(),
            // Skip before cloning: only the page's items are shared with the caller.
            items: map
                .values()
                .skip(page.offset)
                .take(page.size)
                .cloned()
                .collect(),
        }
    }

    /// A Dataplane with its insight.
    pub fn overview(&self, name: &str) -> Option<Overview> {
        self.of(Kind::Dataplane)
            .get(name)
            .map(|dp| self.overview_of(dp))
    }

    fn overview_of(&self, dataplane: &Arc<Resource>) -> Overview {
        Overview {
            dataplane: dataplane.clone(),
            insight: self
                .of(Kind::DataplaneInsight)
                .get(&dataplane.meta.name)
                .cloned(),
        }
    }

    /// A page of the Dataplanes passing `filter`, with their insights; `total` counts every
    /// match (D5).
    pub fn overviews(&self, filter: &OverviewFilter, page: PageRequest) -> Page<Overview> {
        let PageRequest { offset, size } = page;
        let mut out = Page::default();
        // One pass: count every match, keep only the page's.
        for dp in self.of(Kind::Dataplane).values() {
            let Spec::Dataplane(spec) = &dp.spec else {
                continue;
            };
            if !filter.matches(&dp.meta.name, spec) {
                continue;
            }
            if out.total >= offset && out.items.len() < size {
                out.items.push(self.overview_of(dp));
            }
            out.total += 1;
        }
        out
    }
}
