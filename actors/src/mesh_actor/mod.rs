//! The actor that owns one mesh: the Mesh resource itself, every resource in it and its
//! dataplanes' insights. It is the single writer of that state; request handlers send it one
//! message per intent and get `Arc`s back, so serialisation happens outside the actor.

mod liveness;
mod proxies;
mod remote;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use std::time::Duration;

use actix::prelude::*;

pub use self::liveness::DisconnectInstance;
pub use self::proxies::{ReportSubscription, SubscribeProxy, UnsubscribeProxy, MAX_SUBSCRIPTIONS};
pub use self::remote::{Refresh, RefreshAll};
pub use self::writes::{DeleteMeshContents, DeleteResource, PutResource, UpdateMesh};
use crate::error::Error;
use crate::kinds::insight::Subscription;
use crate::kinds::{Kind, Spec};
use crate::overview::{Overview, OverviewFilter};
use crate::page::{Page, PageRequest};
use crate::resource::Resource;
use crate::store::Store;

/// Owner of one mesh's state.
pub struct MeshActor {
    mesh: Arc<Resource>,
    /// One name-ordered map per kind, indexed by [`Kind::index`] (the Mesh slot stays empty).
    resources: Vec<BTreeMap<String, Arc<Resource>>>,
    store: Arc<dyn Store>,
    /// Connected proxies and their configuration channels.
    proxies: proxies::Proxies,
    /// Subscriptions of streams whose Dataplane does not exist yet, by Dataplane then stream id.
    pending: HashMap<String, HashMap<String, Subscription>>,
    /// Writes waiting for, or in, a store commit.
    writes: writes::WriteQueue,
    /// Insights changed by proxies since they were last stored.
    dirty_insights: std::collections::BTreeSet<String>,
    settings: MeshSettings,
    /// Reads of the store after changes through other instances.
    refreshes: remote::Refreshes,
    /// Told when the mesh is gone from the store (deleted through another instance): the
    /// supervisor, the registry's one writer, unpublishes the actor.
    supervisor: Option<Recipient<crate::supervisor::MeshGone>>,
}

/// Tunables of mesh actors, from the control plane's configuration.
#[derive(Clone, Debug)]
pub struct MeshSettings {
    /// How often insights changed by proxies are written to the store
    /// (`xdsServer.dataplaneStatusFlushInterval`).
    pub insight_flush_interval: Duration,
    /// This control-plane instance (the `controlPlaneInstanceId` of its streams'
    /// subscriptions, which only it writes); empty when it does not matter (tests).
    pub instance_id: Arc<str>,
}

impl Default for MeshSettings {
    fn default() -> Self {
        MeshSettings {
            insight_flush_interval: Duration::from_secs(1),
            instance_id: "".into(),
        }
    }
}

impl MeshActor {
    /// An actor for `mesh` holding `resources` (all of that mesh, any kind but Mesh).
    pub fn new(
        mesh: Arc<Resource>,
        resources: Vec<Arc<Resource>>,
        store: Arc<dyn Store>,
        settings: MeshSettings,
    ) -> MeshActor {
        let mut actor = MeshActor {
            mesh,
            resources: vec![BTreeMap::new(); Kind::ALL.len()],
            store,
            proxies: proxies::Proxies::default(),
            pending: HashMap::new(),
            writes: writes::WriteQueue::default(),
            dirty_insights: Default::default(),
            settings,
            refreshes: Default::default(),
            supervisor: None,
        };
        for r in resources {
            actor.insert(r);
        }
        actor
    }

    /// The actor tells `supervisor` when its mesh disappears from the store.
    pub fn supervised_by(
        mut self,
        supervisor: Recipient<crate::supervisor::MeshGone>,
    ) -> MeshActor {
        self.supervisor = Some(supervisor);
        self
    }

    fn name(&self) -> &str {
        &self.mesh.meta.name
    }

    fn of(&self, kind: Kind) -> &BTreeMap<String, Arc<Resource>> {
        &self.resources[kind.index()]
    }

    fn insert(&mut self, r: Arc<Resource>) {
        self.resources[r.kind().index()].insert(r.meta.name.clone(), r);
    }

    fn remove(&mut self, kind: Kind, name: &str) {
        self.resources[kind.index()].remove(name);
        if kind == Kind::Dataplane {
            self.resources[Kind::DataplaneInsight.index()].remove(name);
        }
    }

    fn overview(&self, dataplane: &Arc<Resource>) -> Overview {
        Overview {
            dataplane: dataplane.clone(),
            insight: self
                .of(Kind::DataplaneInsight)
                .get(&dataplane.meta.name)
                .cloned(),
        }
    }
}

impl Actor for MeshActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(mesh = %self.name(), "mesh actor started");
        let every = self
            .settings
            .insight_flush_interval
            .max(Duration::from_millis(10));
        ctx.run_interval(every, |act, ctx| act.flush_insights(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(mesh = %self.name(), "mesh actor stopped");
    }
}

/// The Mesh resource itself.
#[derive(Message)]
#[rtype(result = "Arc<Resource>")]
pub struct GetMesh;

impl Handler<GetMesh> for MeshActor {
    type Result = Arc<Resource>;

    fn handle(&mut self, _: GetMesh, _: &mut Self::Context) -> Self::Result {
        self.mesh.clone()
    }
}

/// One resource of the mesh.
#[derive(Message)]
#[rtype(result = "Result<Arc<Resource>, Error>")]
pub struct GetResource {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
}

impl Handler<GetResource> for MeshActor {
    type Result = Result<Arc<Resource>, Error>;

    fn handle(&mut self, msg: GetResource, _: &mut Self::Context) -> Self::Result {
        self.of(msg.kind)
            .get(&msg.name)
            .cloned()
            .ok_or(Error::NotFound)
    }
}

/// A page of one kind, ordered by name.
#[derive(Message)]
#[rtype(result = "Page<Arc<Resource>>")]
pub struct ListResources {
    /// The kind.
    pub kind: Kind,
    /// The page.
    pub page: PageRequest,
}

impl Handler<ListResources> for MeshActor {
    type Result = MessageResult<ListResources>;

    fn handle(&mut self, msg: ListResources, _: &mut Self::Context) -> Self::Result {
        let map = self.of(msg.kind);
        MessageResult(Page {
            total: map.len(),
            // Skip before cloning: only the page's items are shared with the caller.
            items: map
                .values()
                .skip(msg.page.offset)
                .take(msg.page.size)
                .cloned()
                .collect(),
        })
    }
}

/// One Dataplane with its insight.
#[derive(Message)]
#[rtype(result = "Result<Overview, Error>")]
pub struct GetOverview {
    /// The Dataplane's name.
    pub name: String,
}

impl Handler<GetOverview> for MeshActor {
    type Result = Result<Overview, Error>;

    fn handle(&mut self, msg: GetOverview, _: &mut Self::Context) -> Self::Result {
        let dp = self
            .of(Kind::Dataplane)
            .get(&msg.name)
            .ok_or(Error::NotFound)?;
        Ok(self.overview(dp))
    }
}

/// A page of the Dataplanes that pass a filter, with their insights.
#[derive(Message)]
#[rtype(result = "Page<Overview>")]
pub struct ListOverviews {
    /// The filter; `total` counts the Dataplanes that pass it.
    pub filter: Arc<OverviewFilter>,
    /// The page.
    pub page: PageRequest,
}

impl Handler<ListOverviews> for MeshActor {
    type Result = MessageResult<ListOverviews>;

    fn handle(&mut self, msg: ListOverviews, _: &mut Self::Context) -> Self::Result {
        // One pass: count every match, keep only the page's (D5: `total` counts matches).
        let PageRequest { offset, size } = msg.page;
        let mut page = Page::default();
        for dp in self.of(Kind::Dataplane).values() {
            let Spec::Dataplane(spec) = &dp.spec else {
                continue;
            };
            if !msg.filter.matches(&dp.meta.name, spec) {
                continue;
            }
            if page.total >= offset && page.items.len() < size {
                page.items.push(self.overview(dp));
            }
            page.total += 1;
        }
        MessageResult(page)
    }
}
