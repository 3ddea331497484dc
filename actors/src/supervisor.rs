//! The supervisor: at start-up it loads every mesh from the store and starts one
//! [`MeshActor`] each (creating the `default` mesh when missing); afterwards it is the only
//! place meshes are created and deleted, and it publishes their actors in the
//! [`MeshRegistry`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use actix::prelude::*;

use crate::error::{Error, Op, OpError};
use crate::kinds::mesh::CaFiles;
use crate::kinds::mesh::{self as mesh_kind, MeshSpec};
use crate::kinds::{Kind, Spec};
use crate::mesh_actor::{
    DeleteMeshContents, MeshActor, MeshSettings, Refresh, RefreshAll, UpdateMesh,
};
use crate::page::PageRequest;
use crate::precondition::WriteOptions;
use crate::registry::MeshRegistry;
use crate::resource::Resource;
use crate::store::StoreEvent;
use crate::store::{Store, StoreError};
use crate::validation::Violations;

/// Failures that stop the control plane from starting.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// The store could not be read.
    #[error("could not load resources from the store: {0}")]
    Load(StoreError),
    /// `defaults.mesh` is not a valid Mesh.
    #[error("defaults.mesh is not a valid Mesh: {0}")]
    DefaultMesh(String),
    /// The default mesh could not be stored.
    #[error("could not create the default mesh: {0}")]
    CreateDefault(StoreError),
}

/// Where mesh actors run: arbiters (one thread each, one per core by default), taken in turn,
/// so that a hundred meshes use every core and no mesh waits for another mesh's work.
#[derive(Clone)]
pub struct Placement {
    arbiters: Vec<ArbiterHandle>,
    next: Arc<std::sync::atomic::AtomicUsize>,
}

impl Placement {
    /// Places actors on `arbiters` in turn (the current arbiter when empty).
    pub fn new(arbiters: Vec<ArbiterHandle>) -> Placement {
        let arbiters = if arbiters.is_empty() {
            vec![Arbiter::current()]
        } else {
            arbiters
        };
        Placement {
            arbiters,
            next: Default::default(),
        }
    }

    /// Everything on the current arbiter.
    pub fn current() -> Placement {
        Placement::new(Vec::new())
    }

    fn start(&self, actor: MeshActor) -> Addr<MeshActor> {
        use std::sync::atomic::Ordering;
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.arbiters.len();
        MeshActor::start_in_arbiter(&self.arbiters[i], move |_| actor)
    }
}

/// What a new mesh actor needs besides its mesh.
#[derive(Clone)]
struct Spawner {
    registry: MeshRegistry,
    store: Arc<dyn Store>,
    settings: MeshSettings,
    placement: Placement,
    /// Where mesh actors report that their mesh is gone.
    gone: Recipient<MeshGone>,
}

impl Spawner {
    /// Starts the actor of `mesh` holding `resources` and publishes it.
    fn spawn(&self, mesh: Arc<Resource>, resources: Vec<Arc<Resource>>) -> Addr<MeshActor> {
        let name = mesh.meta.name.clone();
        let actor = MeshActor::new(mesh, resources, self.store.clone(), self.settings.clone())
            .supervised_by(self.gone.clone())
            .recording_to(self.registry.events().clone());
        let reads = actor.reads();
        let addr = self.placement.start(actor);
        self.registry.insert(name, addr.clone(), reads);
        addr
    }
}

/// Creates and deletes meshes.
pub struct Supervisor {
    registry: MeshRegistry,
    store: Arc<dyn Store>,
    spawner: Spawner,
    /// Local mesh creates and deletes completed; a store read issued before one may predate it.
    mesh_ops: u64,
    /// Meshes being deleted here: not to be adopted back from a read that predates the delete.
    deleting: std::collections::HashSet<String>,
}

impl Actor for Supervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Changes made through other instances sharing the store.
        if let Some(events) = self.store.subscribe() {
            ctx.add_stream(tokio_stream::wrappers::ReceiverStream::new(events));
        }
    }
}

impl Supervisor {
    /// Loads the store, starts a mesh actor per mesh, creates the default mesh from the
    /// `defaults.mesh` YAML when given and missing, and starts the supervisor. Must run inside
    /// an actix system.
    pub async fn boot(
        store: Arc<dyn Store>,
        registry: MeshRegistry,
        default_mesh_yaml: Option<&str>,
        settings: MeshSettings,
        placement: Placement,
    ) -> Result<Addr<Supervisor>, BootError> {
        // The supervisor's address first: every mesh actor reports to it.
        let ctx = Context::<Supervisor>::new();
        let gone = ctx.address().recipient::<MeshGone>();
        let spawner = Spawner {
            registry: registry.clone(),
            store: store.clone(),
            settings,
            placement,
            gone: gone.clone(),
        };
        let all = store.load_all().await.map_err(BootError::Load)?;
        let mut meshes: Vec<Arc<Resource>> = Vec::new();
        let mut by_mesh: HashMap<String, Vec<Arc<Resource>>> = HashMap::new();
        for r in all {
            if r.kind() == Kind::Mesh {
                meshes.push(r);
            } else {
                by_mesh.entry(r.meta.mesh.clone()).or_default().push(r);
            }
        }
        for mesh in meshes {
            let resources = by_mesh.remove(&mesh.meta.name).unwrap_or_default();
            spawner.spawn(mesh, resources);
        }
        for (mesh, orphans) in by_mesh {
            tracing::warn!(%mesh, count = orphans.len(), "resources of a mesh that does not exist were ignored");
        }
        if let Some(yaml) = default_mesh_yaml {
            if registry.get("default").is_none() {
                let mut spec = default_mesh_spec(yaml).map_err(BootError::DefaultMesh)?;
                let files = CaFiles::read(spec.mtls.as_ref()).await;
                mesh_kind::prepare(&mut spec, "default", None, &files).map_err(|v| {
                    BootError::DefaultMesh(
                        v.causes
                            .iter()
                            .map(|c| format!("{}: {}", c.field, c.message))
                            .collect::<Vec<_>>()
                            .join("; "),
                    )
                })?;
                let mesh = Arc::new(Resource::new(
                    "default",
                    "default",
                    Spec::Mesh(spec),
                    crate::resource::now(),
                ));
                match store.create(mesh.clone()).await {
                    // Another control-plane instance created it first: load theirs.
                    Ok(()) | Err(StoreError::AlreadyExists) => {}
                    Err(e) => return Err(BootError::CreateDefault(e)),
                }
                let mesh = store
                    .get(Kind::Mesh, "default", "default")
                    .await
                    .map_err(BootError::CreateDefault)?
                    .unwrap_or(mesh);
                spawner.spawn(mesh, Vec::new());
                tracing::info!("created the default mesh");
            }
        }
        Ok(ctx.run(Supervisor {
            registry,
            store,
            spawner,
            mesh_ops: 0,
            deleting: Default::default(),
        }))
    }
}

/// Parses `defaults.mesh`: YAML of a Mesh whose `type`/`name`/`mesh` keys are ignored.
fn default_mesh_spec(yaml: &str) -> Result<MeshSpec, String> {
    let value: serde_json::Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    let mut object = match value {
        serde_json::Value::Object(o) => o,
        serde_json::Value::Null => serde_json::Map::new(),
        _ => return Err("expected a YAML mapping".into()),
    };
    for key in ["type", "name", "mesh", "creationTime", "modificationTime"] {
        object.remove(key);
    }
    match Kind::Mesh.decode(serde_json::Value::Object(object)) {
        Ok(Spec::Mesh(spec)) => Ok(spec),
        Ok(_) => Err("not a mesh".into()),
        Err(v) => Err(describe(&v)),
    }
}

fn describe(v: &Violations) -> String {
    v.causes
        .iter()
        .map(|c| format!("{}: {}", c.field, c.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A mesh actor found its mesh gone from the store (deleted through another instance) and
/// stopped: unpublish it, unless a newer actor serves the mesh already.
#[derive(Message)]
#[rtype(result = "()")]
pub struct MeshGone {
    /// The mesh's name.
    pub name: String,
    /// The actor that stopped.
    pub actor: Addr<MeshActor>,
}

impl Handler<MeshGone> for Supervisor {
    type Result = ();

    fn handle(&mut self, msg: MeshGone, ctx: &mut Self::Context) {
        if self.registry.get(&msg.name).as_ref() != Some(&msg.actor) {
            return;
        }
        self.registry.remove_if(&msg.name, &msg.actor);
        // Like a local delete: a read of the meshes issued before may still show this one.
        self.mesh_ops += 1;
        tracing::info!(mesh = %msg.name, "mesh deleted through another instance");
        // It may have been created again meanwhile, and an announcement of that which reached
        // the leaving actor is lost with it: read it once more.
        self.read_mesh(ctx, msg.name);
    }
}

/// Create a mesh, or update it if it exists.
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct PutMesh {
    /// The mesh's name.
    pub name: String,
    /// The decoded spec.
    pub spec: MeshSpec,
    /// The files its CA backends name, read by the sender ([`CaFiles::read`]).
    pub files: CaFiles,
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<PutMesh> for Supervisor {
    // Atomic: creates and deletes of meshes are serialised, so two concurrent creates of one
    // name give one create and one update (D22).
    type Result = AtomicResponse<Self, Result<Op, OpError>>;

    fn handle(&mut self, msg: PutMesh, _: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.registry.get(&msg.name) {
            let update = addr.send(UpdateMesh {
                spec: msg.spec,
                files: msg.files,
                write: msg.write,
            });
            return AtomicResponse::new(Box::pin(
                async move {
                    update
                        .await
                        .unwrap_or(Err(OpError::update(Error::ActorGone)))
                }
                .into_actor(self),
            ));
        }
        let mut spec = msg.spec;
        if let Err(v) = mesh_kind::prepare(&mut spec, &msg.name, None, &msg.files) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(OpError::create(
                Error::Invalid(v),
            )))));
        }
        if let Err(e) = msg.write.precondition.check(None) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(OpError::create(e)))));
        }
        if msg.write.dry_run {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(Op::Create))));
        }
        let mesh = Arc::new(Resource::new(
            &msg.name,
            &msg.name,
            Spec::Mesh(spec),
            crate::resource::now(),
        ));
        let write = self.store.create(mesh.clone());
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |r, act, ctx| {
            act.mesh_ops += 1;
            r.map_err(|e| match e {
                StoreError::AlreadyExists => {
                    // Another instance created it first: serve theirs.
                    act.read_mesh(ctx, msg.name.clone());
                    OpError::create(Error::Conflict)
                }
                e => OpError::create(e),
            })?;
            act.spawner.spawn(mesh, Vec::new());
            Ok(Op::Create)
        })))
    }
}

/// Delete a mesh and everything in it.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct DeleteMesh {
    /// The mesh's name.
    pub name: String,
    /// Its precondition, and whether it is only a dry run.
    pub write: WriteOptions,
}

impl Handler<DeleteMesh> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, msg: DeleteMesh, _: &mut Self::Context) -> Self::Result {
        let Some(addr) = self.registry.get(&msg.name) else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(Error::NotFound))));
        };
        // A precondition is checked while the mesh is still published, so a failing one (or a
        // dry run) never hides the mesh from readers; the actor checks it again when deleting.
        let check = (msg.write.dry_run || !msg.write.precondition.is_none()).then(|| {
            addr.send(DeleteMeshContents {
                write: WriteOptions {
                    dry_run: true,
                    ..msg.write.clone()
                },
            })
        });
        AtomicResponse::new(Box::pin(
            async move {
                match check {
                    Some(check) => check.await.unwrap_or(Err(Error::ActorGone)),
                    None => Ok(()),
                }
            }
            .into_actor(self)
            .then(move |checked, act, _| act.delete_mesh(msg, checked)),
        ))
    }
}

impl Supervisor {
    /// Unpublishes the mesh and has its actor empty the store, unless the check failed or this
    /// is a dry run.
    fn delete_mesh(
        &mut self,
        msg: DeleteMesh,
        checked: Result<(), Error>,
    ) -> Pin<Box<dyn ActorFuture<Self, Output = Result<(), Error>>>> {
        if checked.is_err() || msg.write.dry_run {
            return Box::pin(fut::ready(checked));
        }
        // Unpublish first so no new request reaches the mesh while it is being emptied.
        let Some(handle) = self.registry.remove(&msg.name) else {
            return Box::pin(fut::ready(Err(Error::NotFound)));
        };
        self.deleting.insert(msg.name.clone());
        let delete = handle.addr.send(DeleteMeshContents { write: msg.write });
        let name = msg.name;
        Box::pin(
            async move { delete.await.unwrap_or(Err(Error::ActorGone)) }
                .into_actor(self)
                .then(move |r, act, _| {
                    act.mesh_ops += 1;
                    act.deleting.remove(&name);
                    // The mesh's CA goes with it (xDS §3.3); a root that survives this (a store
                    // outage) is never used again, its name carrying the old mesh's creation.
                    let store = r.is_ok().then(|| act.store.clone());
                    if r.is_err() {
                        // The store kept the mesh: publish it again so state and API agree.
                        act.registry.restore(name.clone(), handle);
                    }
                    async move {
                        if let Some(store) = store {
                            let prefix = crate::ca::authorities::mesh_prefix(&name);
                            if let Err(e) = store.delete_secrets(&prefix).await {
                                tracing::warn!(mesh = %name, error = %e, "could not delete the CA of a deleted mesh");
                            }
                        }
                        r
                    }
                    .into_actor(act)
                }),
        )
    }
}

impl StreamHandler<StoreEvent> for Supervisor {
    fn handle(&mut self, event: StoreEvent, ctx: &mut Self::Context) {
        match event {
            StoreEvent::Changed { kind, mesh, name } => match self.registry.get(&mesh) {
                Some(addr) => addr.do_send(Refresh { kind, name }),
                // A mesh this instance does not serve (yet): is it new?
                None if kind == Kind::Mesh => self.read_mesh(ctx, mesh),
                // Its mesh's actor, once adopted, loads everything anyway.
                None => {}
            },
            StoreEvent::Resync => {
                for addr in self.registry.actors() {
                    addr.do_send(RefreshAll);
                }
                self.read_meshes(ctx);
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The store's event source ended (shutdown): keep running on what we have.
    }
}

impl Supervisor {
    /// Reads a mesh this instance does not serve; adopts it if the store has it. Read again
    /// when a local mesh create or delete completed meanwhile (the read may predate it).
    fn read_mesh(&mut self, ctx: &mut Context<Self>, mesh: String) {
        let ops = self.mesh_ops;
        let read = self.store.get(Kind::Mesh, &mesh, &mesh);
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            if act.mesh_ops != ops {
                return act.read_mesh(ctx, mesh);
            }
            match (result, act.registry.get(&mesh)) {
                (_, Some(addr)) => addr.do_send(Refresh {
                    kind: Kind::Mesh,
                    name: mesh,
                }),
                (Ok(Some(_)), None) if act.deleting.contains(&mesh) => {}
                (Ok(Some(resource)), None) => act.adopt(resource),
                (Ok(None), None) => {}
                (Err(e), None) => {
                    tracing::warn!(%mesh, error = %e, "could not read a mesh created elsewhere")
                }
            }
        }));
    }

    /// After notifications may have been lost: adopt every mesh the store has and this
    /// instance does not serve (the others reload themselves and leave if their mesh is gone).
    fn read_meshes(&mut self, ctx: &mut Context<Self>) {
        let ops = self.mesh_ops;
        let read = self.store.list(Kind::Mesh, None, PageRequest::ALL);
        ctx.spawn(read.into_actor(self).map(move |result, act, ctx| {
            if act.mesh_ops != ops {
                return act.read_meshes(ctx);
            }
            match result {
                Ok(page) => {
                    for mesh in page.items {
                        let name = &mesh.meta.name;
                        if act.registry.get(name).is_none() && !act.deleting.contains(name) {
                            act.adopt(mesh);
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not list meshes to resync"),
            }
        }));
    }

    /// Serves a mesh created through another instance; its actor loads its resources.
    fn adopt(&mut self, mesh: Arc<Resource>) {
        let name = mesh.meta.name.clone();
        let addr = self.spawner.spawn(mesh, Vec::new());
        addr.do_send(RefreshAll);
        tracing::info!(mesh = %name, "mesh created through another instance");
    }
}

#[cfg(test)]
mod tests;
