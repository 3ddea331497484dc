//! The actor that owns one mesh: the Mesh resource itself, every resource in it and its
//! dataplanes' insights. It is the single writer of that state; request handlers send it one
//! message per intent. After every change it publishes the state as an immutable snapshot
//! ([`MeshState`]) that handlers read on their own threads, and, coalesced, an
//! [`XdsSnapshot`](crate::xds::XdsSnapshot) from which each xDS stream generates its proxy's
//! configuration on the xDS runtime.

mod liveness;
mod proxies;
mod remote;
#[cfg(test)]
mod tests;
mod writes;

use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

pub use self::liveness::DisconnectInstance;
pub use self::proxies::{
    CertificateReport, ReportCertificate, ReportSubscription, SubscribeProxy, UnsubscribeProxy,
    MAX_SUBSCRIPTIONS,
};
pub use self::remote::{Refresh, RefreshAll};
pub use self::writes::{DeleteMeshContents, DeleteResource, PutResource, UpdateMesh};
use crate::error::Error;
use crate::kinds::insight::Subscription;
use crate::kinds::Kind;
use crate::overview::{Overview, OverviewFilter};
use crate::page::{Page, PageRequest};
use crate::resource::Resource;
use crate::state::{KindMap, MeshState};
use crate::store::Store;

/// Owner of one mesh's state.
pub struct MeshActor {
    /// The Mesh and every resource in it.
    state: MeshState,
    /// Where `state` is published after every change, for readers.
    reads: watch::Sender<Arc<MeshState>>,
    store: Arc<dyn Store>,
    /// Connected proxies and the snapshot they generate from.
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
    /// The control plane's change log, for watches; none in tests that do not watch.
    events: Option<Arc<crate::watch::Events>>,
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
        let state = MeshState::new(mesh, resources);
        MeshActor {
            reads: watch::channel(Arc::new(state.clone())).0,
            proxies: proxies::Proxies::new(&state),
            state,
            store,
            pending: HashMap::new(),
            writes: writes::WriteQueue::default(),
            dirty_insights: Default::default(),
            settings,
            refreshes: Default::default(),
            supervisor: None,
            events: None,
        }
    }

    /// The published state: a receiver always holding the latest snapshot.
    pub fn reads(&self) -> watch::Receiver<Arc<MeshState>> {
        self.reads.subscribe()
    }

    /// The actor tells `supervisor` when its mesh disappears from the store.
    pub fn supervised_by(
        mut self,
        supervisor: Recipient<crate::supervisor::MeshGone>,
    ) -> MeshActor {
        self.supervisor = Some(supervisor);
        self
    }

    /// The actor records every change in `events`, which watches read.
    pub fn recording_to(mut self, events: Arc<crate::watch::Events>) -> MeshActor {
        self.events = Some(events);
        self
    }

    fn name(&self) -> &str {
        self.state.name()
    }

    fn of(&self, kind: Kind) -> &KindMap {
        self.state.of(kind)
    }

    /// Makes the current state what readers see.
    fn publish_reads(&self) {
        self.reads.send_replace(Arc::new(self.state.clone()));
    }

    /// Records a change for watches ([`crate::watch`]); the state then reflects it.
    fn emit(&mut self, op: crate::watch::Op, resource: Arc<Resource>) {
        if let Some(events) = &self.events {
            self.state.seq = events.push(op, resource);
        }
    }

    /// The mesh and everything in it is gone: one `deleted` event each, the Mesh last.
    fn emit_mesh_deleted(&mut self) {
        let gone: Vec<Arc<Resource>> = self.state.resources().cloned().collect();
        for r in gone {
            self.emit(crate::watch::Op::Deleted, r);
        }
        let mesh = self.state.mesh.clone();
        self.emit(crate::watch::Op::Deleted, mesh);
    }
}

impl Actor for MeshActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        tracing::debug!(mesh = %self.name(), "mesh actor started");
        let mesh = self.state.mesh.clone();
        self.emit(crate::watch::Op::Added, mesh);
        self.publish_reads();
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
        self.state.mesh.clone()
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
        MessageResult(self.state.list(msg.kind, msg.page))
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
        self.state.overview(&msg.name).ok_or(Error::NotFound)
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
        MessageResult(self.state.overviews(&msg.filter, msg.page))
    }
}
