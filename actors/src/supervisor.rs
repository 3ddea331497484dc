//! The supervisor: at start-up it loads every mesh from the store and starts one
//! [`MeshActor`] each (creating the `default` mesh when missing); afterwards it is the only
//! place meshes are created and deleted, and it publishes their actors in the
//! [`MeshRegistry`].

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;

use crate::error::{Error, Op, OpError};
use crate::kinds::mesh::{self as mesh_kind, MeshSpec};
use crate::kinds::{Kind, Spec};
use crate::mesh_actor::{
    ApplyRemote, DeleteMeshContents, ForgetMesh, MeshActor, MeshSettings, Resync, UpdateMesh,
};
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

/// Creates and deletes meshes.
pub struct Supervisor {
    registry: MeshRegistry,
    store: Arc<dyn Store>,
    settings: MeshSettings,
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
    ) -> Result<Addr<Supervisor>, BootError> {
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
            let name = mesh.meta.name.clone();
            registry.insert(
                name,
                MeshActor::new(mesh, resources, store.clone(), settings).start(),
            );
        }
        for (mesh, orphans) in by_mesh {
            tracing::warn!(%mesh, count = orphans.len(), "resources of a mesh that does not exist were ignored");
        }
        if let Some(yaml) = default_mesh_yaml {
            if registry.get("default").is_none() {
                let mut spec = default_mesh_spec(yaml).map_err(BootError::DefaultMesh)?;
                mesh_kind::prepare(&mut spec, "default", None).map_err(|v| {
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
                registry.insert(
                    "default".into(),
                    MeshActor::new(mesh, Vec::new(), store.clone(), settings).start(),
                );
                tracing::info!("created the default mesh");
            }
        }
        Ok(Supervisor {
            registry,
            store,
            settings,
        }
        .start())
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

/// Create a mesh, or update it if it exists.
#[derive(Message)]
#[rtype(result = "Result<Op, OpError>")]
pub struct PutMesh {
    /// The mesh's name.
    pub name: String,
    /// The decoded spec.
    pub spec: MeshSpec,
}

impl Handler<PutMesh> for Supervisor {
    // Atomic: creates and deletes of meshes are serialised, so two concurrent creates of one
    // name give one create and one update (D22).
    type Result = AtomicResponse<Self, Result<Op, OpError>>;

    fn handle(&mut self, msg: PutMesh, _: &mut Self::Context) -> Self::Result {
        if let Some(addr) = self.registry.get(&msg.name) {
            let update = addr.send(UpdateMesh { spec: msg.spec });
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
        if let Err(v) = mesh_kind::prepare(&mut spec, &msg.name, None) {
            return AtomicResponse::new(Box::pin(fut::ready(Err(OpError::create(
                Error::Invalid(v),
            )))));
        }
        let mesh = Arc::new(Resource::new(
            &msg.name,
            &msg.name,
            Spec::Mesh(spec),
            crate::resource::now(),
        ));
        let write = self.store.create(mesh.clone());
        AtomicResponse::new(Box::pin(write.into_actor(self).map(move |r, act, _| {
            r.map_err(|e| match e {
                StoreError::AlreadyExists => OpError::create(Error::Conflict),
                e => OpError::create(Error::Store(e)),
            })?;
            let addr = MeshActor::new(mesh, Vec::new(), act.store.clone(), act.settings).start();
            act.registry.insert(msg.name, addr);
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
}

impl Handler<DeleteMesh> for Supervisor {
    type Result = AtomicResponse<Self, Result<(), Error>>;

    fn handle(&mut self, msg: DeleteMesh, _: &mut Self::Context) -> Self::Result {
        // Unpublish first so no new request reaches the mesh while it is being emptied.
        let Some(addr) = self.registry.remove(&msg.name) else {
            return AtomicResponse::new(Box::pin(fut::ready(Err(Error::NotFound))));
        };
        let delete = addr.send(DeleteMeshContents);
        AtomicResponse::new(Box::pin(
            async move { delete.await.unwrap_or(Err(Error::ActorGone)) }
                .into_actor(self)
                .map(move |r, act, _| {
                    if r.is_err() {
                        // The store kept the mesh: publish it again so state and API agree.
                        act.registry.insert(msg.name, addr);
                    }
                    r
                }),
        ))
    }
}

impl StreamHandler<StoreEvent> for Supervisor {
    fn handle(&mut self, event: StoreEvent, ctx: &mut Self::Context) {
        match event {
            StoreEvent::Changed { kind, mesh, name } => {
                let fetch = self.store.get(kind, &mesh, &name);
                ctx.spawn(fetch.into_actor(self).map(move |state, act, _| match state {
                    Ok(state) => act.remote_change(kind, mesh, name, state),
                    Err(e) => tracing::warn!(%mesh, %name, error = %e, "could not read a change made elsewhere"),
                }));
            }
            StoreEvent::Resync => {
                let load = self.store.load_all();
                ctx.spawn(load.into_actor(self).map(|all, act, _| match all {
                    Ok(all) => act.resync(all),
                    Err(e) => tracing::warn!(error = %e, "could not resync with the store"),
                }));
            }
        }
    }

    fn finished(&mut self, _: &mut Self::Context) {
        // The store's event source ended (shutdown): keep running on what we have.
    }
}

impl Supervisor {
    fn remote_change(
        &mut self,
        kind: Kind,
        mesh: String,
        name: String,
        state: Option<Arc<Resource>>,
    ) {
        if kind != Kind::Mesh {
            // A mesh we do not know (yet) gets its resources when its actor starts.
            if let Some(addr) = self.registry.get(&mesh) {
                addr.do_send(ApplyRemote { kind, name, state });
            }
            return;
        }
        match (state, self.registry.get(&mesh)) {
            (Some(resource), Some(addr)) => addr.do_send(ApplyRemote::mesh(resource)),
            (Some(resource), None) => self.adopt(resource, None),
            (None, Some(addr)) => {
                self.registry.remove(&mesh);
                addr.do_send(ForgetMesh);
                tracing::info!(%mesh, "mesh deleted through another instance");
            }
            (None, None) => {}
        }
    }

    /// Starts an actor for a mesh created elsewhere, with its resources (loaded when not given).
    fn adopt(&mut self, mesh: Arc<Resource>, resources: Option<Vec<Arc<Resource>>>) {
        let name = mesh.meta.name.clone();
        let addr =
            MeshActor::new(mesh.clone(), Vec::new(), self.store.clone(), self.settings).start();
        self.registry.insert(name.clone(), addr.clone());
        tracing::info!(mesh = %name, "mesh created through another instance");
        let resources = match resources {
            Some(r) => r,
            None => {
                // Resources may have been written before this mesh's event arrived.
                let store = self.store.clone();
                let addr = addr.clone();
                actix::spawn(async move {
                    if let Ok(all) = store.load_all().await {
                        let resources = all
                            .into_iter()
                            .filter(|r| r.meta.mesh == name && r.kind() != Kind::Mesh)
                            .collect();
                        addr.do_send(Resync { mesh, resources });
                    }
                });
                return;
            }
        };
        addr.do_send(Resync { mesh, resources });
    }

    fn resync(&mut self, all: Vec<Arc<Resource>>) {
        let mut meshes: HashMap<String, Arc<Resource>> = HashMap::new();
        let mut by_mesh: HashMap<String, Vec<Arc<Resource>>> = HashMap::new();
        for r in all {
            if r.kind() == Kind::Mesh {
                meshes.insert(r.meta.name.clone(), r);
            } else {
                by_mesh.entry(r.meta.mesh.clone()).or_default().push(r);
            }
        }
        for (name, addr) in self.registry.sorted() {
            if !meshes.contains_key(&name) {
                self.registry.remove(&name);
                addr.do_send(ForgetMesh);
            }
        }
        for (name, mesh) in meshes {
            let resources = by_mesh.remove(&name).unwrap_or_default();
            match self.registry.get(&name) {
                Some(addr) => addr.do_send(Resync { mesh, resources }),
                None => self.adopt(mesh, Some(resources)),
            }
        }
        tracing::info!("resynchronised with the store");
    }
}
