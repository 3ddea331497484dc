//! The actor that owns one mesh: the Mesh resource itself, every resource in it and its
//! dataplanes' insights. It is the single writer of that state; request handlers send it one
//! message per intent and get `Arc`s back, so serialisation happens outside the actor.

mod proxies;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use actix::prelude::*;
use chrono::Utc;

pub use self::proxies::{ReportSubscription, SubscribeProxy, UnsubscribeProxy, MAX_SUBSCRIPTIONS};
use crate::error::{Error, Op, OpError};
use crate::kinds::insight::Subscription;
use crate::kinds::mesh::{self as mesh_kind};
use crate::kinds::{Kind, Spec};
use crate::overview::{Overview, OverviewFilter};
use crate::page::{Page, PageRequest};
use crate::resource::Resource;
use crate::store::{Store, StoreError};

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
}

impl MeshActor {
    /// An actor for `mesh` holding `resources` (all of that mesh, any kind but Mesh).
    pub fn new(
        mesh: Arc<Resource>,
        resources: Vec<Arc<Resource>>,
        store: Arc<dyn Store>,
    ) -> MeshActor {
        let mut actor = MeshActor {
            mesh,
            resources: vec![BTreeMap::new(); Kind::ALL.len()],
            store,
            proxies: proxies::Proxies::default(),
            pending: HashMap::new(),
        };
        for r in resources {
            actor.insert(r);
        }
        actor
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

    fn started(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(mesh = %self.name(), "mesh actor started");
    }

    fn stopped(&mut self, _ctx: &mut Self::Context) {
        tracing::debug!(mesh = %self.name(), "mesh actor stopped");
    }
}

fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::NotFound => Error::NotFound,
        StoreError::Conflict | StoreError::AlreadyExists => Error::Conflict,
        other => Error::Store(other),
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

/// Replace the Mesh's spec (an update: the create goes through the supervisor).
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct UpdateMesh {
    /// The new spec, as decoded from the request.
    pub spec: mesh_kind::MeshSpec,
}

impl Handler<UpdateMesh> for MeshActor {
    // Atomic: the next write must see this one's result, so no other message runs while the
    // store commits.
    type Result = AtomicResponse<Self, Result<Op, OpError>>;

    fn handle(&mut self, msg: UpdateMesh, _: &mut Self::Context) -> Self::Result {
        let mut spec = msg.spec;
        let old = match &self.mesh.spec {
            Spec::Mesh(m) => Some(m),
            _ => None,
        };
        if let Err(v) = mesh_kind::prepare(&mut spec, self.name(), old) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(OpError::update(
                Error::Invalid(v),
            )))));
        }
        let updated = Arc::new(self.mesh.updated(Spec::Mesh(spec), Utc::now()));
        let write = self.store.update(updated.clone());
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |r, act, ctx| {
            r.map_err(|e| OpError::update(store_error(e)))?;
            act.mesh = updated;
            act.mesh_changed(ctx);
            Ok(Op::Update)
        })))
    }
}

/// Remove everything in the mesh from the store, then stop. Sent by the supervisor after it
/// has unpublished the mesh.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteMeshContents;

impl Handler<DeleteMeshContents> for MeshActor {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, _: DeleteMeshContents, _: &mut Self::Context) -> Self::Result {
        let name = self.name().to_string();
        let delete = self.store.delete(Kind::Mesh, &name, &name);
        AtomicResponse::new(Box::pin(delete.into_actor(self).map(|r, act, ctx| {
            r.map_err(store_error)?;
            for map in &mut act.resources {
                map.clear();
            }
            ctx.stop();
            Ok(())
        })))
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
            items: msg.page.slice(map.values().cloned()),
        })
    }
}

/// Create or replace a resource of the mesh.
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct PutResource {
    /// Its name.
    pub name: String,
    /// Its spec (the kind comes with it).
    pub spec: Spec,
}

impl Handler<PutResource> for MeshActor {
    // Atomic: a concurrent PUT of the same name must see this one's outcome (D22).
    type Result = AtomicResponse<Self, Result<Op, OpError>>;

    fn handle(&mut self, msg: PutResource, _: &mut Self::Context) -> Self::Result {
        let kind = msg.spec.kind();
        let existing = self.of(kind).get(&msg.name).cloned();
        let op = if existing.is_some() {
            Op::Update
        } else {
            Op::Create
        };
        let fail =
            |error: Error| AtomicResponse::new(Box::pin(fut::ready(Err(OpError { op, error }))));
        if kind == Kind::DataplaneInsight && !self.of(Kind::Dataplane).contains_key(&msg.name) {
            return fail(Error::NotFound);
        }
        let violations = msg.spec.validate();
        if !violations.is_empty() {
            return fail(Error::Invalid(violations));
        }
        let now = Utc::now();
        let (resource, write) = match &existing {
            Some(old) => {
                let r = Arc::new(old.updated(msg.spec, now));
                let w = self.store.update(r.clone());
                (r, w)
            }
            None => {
                let r = Arc::new(Resource::new(self.name(), &msg.name, msg.spec, now));
                let w = self.store.create(r.clone());
                (r, w)
            }
        };
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |r, act, ctx| {
            r.map_err(|e| OpError {
                op,
                error: store_error(e),
            })?;
            let created_dataplane =
                (kind == Kind::Dataplane && op == Op::Create).then(|| resource.meta.name.clone());
            act.insert(resource);
            // No proxy's configuration depends on insights.
            if kind != Kind::DataplaneInsight {
                act.mesh_changed(ctx);
            }
            if let Some(name) = created_dataplane {
                act.dataplane_created(ctx, &name);
            }
            Ok(op)
        })))
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
}

impl Handler<DeleteResource> for MeshActor {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, msg: DeleteResource, _: &mut Self::Context) -> Self::Result {
        if !self.of(msg.kind).contains_key(&msg.name) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(Error::NotFound))));
        }
        let delete = self.store.delete(msg.kind, self.name(), &msg.name);
        AtomicResponse::new(Box::pin(delete.into_actor(self).map(move |r, act, ctx| {
            r.map_err(store_error)?;
            act.remove(msg.kind, &msg.name);
            if msg.kind != Kind::DataplaneInsight {
                act.mesh_changed(ctx);
            }
            Ok(())
        })))
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
        let dataplanes = self.of(Kind::Dataplane);
        let matching = dataplanes.values().filter(|dp| match &dp.spec {
            Spec::Dataplane(spec) => msg.filter.matches(&dp.meta.name, spec),
            _ => false,
        });
        let page = if msg.filter.is_empty() {
            Page {
                total: dataplanes.len(),
                items: msg
                    .page
                    .slice(matching)
                    .into_iter()
                    .map(|dp| self.overview(dp))
                    .collect(),
            }
        } else {
            let all: Vec<&Arc<Resource>> = matching.collect();
            Page {
                total: all.len(),
                items: msg
                    .page
                    .slice(all.into_iter())
                    .into_iter()
                    .map(|dp| self.overview(dp))
                    .collect(),
            }
        };
        MessageResult(page)
    }
}
