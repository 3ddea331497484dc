//! The CA of each mesh, for every ADS stream of this process: a `builtin` root is read from
//! the store, or generated and stored when the store has none, so every instance sharing the
//! store and every restart signs with the same root, and instances racing to create it end
//! with the one that was stored first ([`Store::get_or_create_secret`]). Loaded roots are
//! cached; many streams asking at once wait for one load. A `provided` CA is loaded anew at
//! each issuance, so a replaced file takes effect at the next certificate.
//!
//! A root's secret is named after the mesh, its creation time and the backend
//! ([`root_secret`]): a mesh deleted and created again gets a new root even from an instance
//! that had cached the old one. Deleting a mesh deletes its roots ([`mesh_prefix`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::builtin::{generate_root, StoredRoot};
use super::{provided, Ca, CaError};
use crate::kinds::mesh::mtls::{BuiltinConfig, CaFiles, BUILTIN, PROVIDED};
use crate::kinds::Spec;
use crate::resource::Resource;
use crate::store::Store;

/// The prefix of every CA secret of `mesh`.
pub fn mesh_prefix(mesh: &str) -> String {
    format!("ca/{mesh}/")
}

/// The secret holding the builtin root of `backend` in `mesh` created at `created_micros`.
pub fn root_secret(mesh: &str, created_micros: i64, backend: &str) -> String {
    format!("{}{created_micros}/{backend}", mesh_prefix(mesh))
}

/// The CAs of the meshes, cached for this process.
pub struct Authorities {
    store: Arc<dyn Store>,
    roots: Mutex<HashMap<String, Arc<OnceCell<Arc<Ca>>>>>,
}

impl Authorities {
    /// CAs kept in `store`.
    pub fn new(store: Arc<dyn Store>) -> Authorities {
        Authorities {
            store,
            roots: Mutex::new(HashMap::new()),
        }
    }

    /// The CA of the enabled backend of `mesh` (a Mesh resource).
    pub async fn ca(&self, mesh: &Resource) -> Result<Arc<Ca>, CaError> {
        let Spec::Mesh(spec) = &mesh.spec else {
            return Err(CaError::NoBackend(String::new()));
        };
        let Some(mtls) = &spec.mtls else {
            return Err(CaError::NoBackend(String::new()));
        };
        let backend = mtls
            .enabled()
            .ok_or_else(|| CaError::NoBackend(mtls.enabled_backend.clone()))?;
        match backend.type_.as_str() {
            BUILTIN => {
                let conf = BuiltinConfig::from_conf(backend.conf.as_ref()).map_err(|reason| {
                    CaError::Builtin {
                        backend: backend.name.clone(),
                        reason,
                    }
                })?;
                let created = mesh.meta.creation_time.timestamp_micros();
                let name = root_secret(&mesh.meta.name, created, &backend.name);
                let cell = self
                    .roots
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(name.clone())
                    .or_default()
                    .clone();
                let load = self.load_root(&mesh.meta.name, &backend.name, &name, conf);
                cell.get_or_try_init(|| load).await.cloned()
            }
            PROVIDED => {
                let files = CaFiles::read(Some(mtls)).await;
                let (mesh, mtls, backend) = (mesh.meta.name.clone(), mtls.clone(), backend.clone());
                tokio::task::spawn_blocking(move || provided::load(&mesh, &mtls, &backend, &files))
                    .await
                    .map_err(|e| CaError::Issue(format!("loading the provided CA stopped: {e}")))?
            }
            other => Err(CaError::UnknownType {
                backend: backend.name.clone(),
                type_: other.to_string(),
            }),
        }
    }

    /// Reads the root `name` from the store, or generates and stores it.
    async fn load_root(
        &self,
        mesh: &str,
        backend: &str,
        name: &str,
        conf: BuiltinConfig,
    ) -> Result<Arc<Ca>, CaError> {
        let fail = |reason: String| CaError::Builtin {
            backend: backend.to_string(),
            reason,
        };
        let store_error = |e: crate::store::StoreError| CaError::Store(e.to_string());
        let existing = self
            .store
            .secrets(name)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|(n, _)| n == name);
        let bytes = match existing {
            Some((_, bytes)) => bytes,
            None => {
                // The RSA key takes long: off the stream's thread, and only when the store
                // has no root yet. A racing instance may generate one too; the store keeps one.
                let mesh_name = mesh.to_string();
                let fresh = tokio::task::spawn_blocking(move || {
                    generate_root(&mesh_name, &conf, chrono::Utc::now())
                })
                .await
                .map_err(|e| fail(format!("generating the root stopped: {e}")))?
                .map_err(fail)?;
                let stored = fresh.to_bytes();
                let kept = self
                    .store
                    .get_or_create_secret(name, Box::new(move || stored))
                    .await
                    .map_err(store_error)?;
                tracing::info!(%mesh, %backend, "created the builtin CA's root");
                kept
            }
        };
        let root = StoredRoot::from_bytes(&bytes).map_err(fail)?;
        let backend_name = backend.to_string();
        tokio::task::spawn_blocking(move || Ca::from_pem(&backend_name, &root.cert, &root.key))
            .await
            .map_err(|e| fail(format!("loading the root stopped: {e}")))?
            .map_err(fail)
    }

    /// Forgets the cached roots of `mesh` (it was deleted).
    pub fn forget(&self, mesh: &str) {
        let prefix = mesh_prefix(mesh);
        self.roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|name, _| !name.starts_with(&prefix));
    }
}
