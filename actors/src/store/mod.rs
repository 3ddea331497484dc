//! Where resources are kept durably. Mesh actors hold the working copy and write through a
//! [`Store`]; at start-up the supervisor loads everything from it.

pub mod lease;
pub mod memory;
pub mod postgres;
pub mod secrets;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::kinds::Kind;
use crate::page::{Page, PageRequest};
use crate::resource::Resource;

/// Failures of a store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A create found the key taken.
    #[error("resource already exists")]
    AlreadyExists,
    /// An update or delete found no such resource.
    #[error("resource not found")]
    NotFound,
    /// An update found another version than the one it replaces.
    #[error("resource version conflict")]
    Conflict,
    /// The backing service cannot be reached.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else.
    #[error("store failure: {0}")]
    Internal(String),
}

/// One write of a batch given to [`Store::commit`].
#[derive(Clone, Debug)]
pub enum Change {
    /// Insert a new resource (`AlreadyExists` if taken).
    Create(Arc<Resource>),
    /// Replace a resource whose stored version is `expected` (`Conflict` otherwise).
    Update {
        /// The new state; its `meta.version` is what the store records.
        resource: Arc<Resource>,
        /// The version the writer read.
        expected: u64,
    },
    /// Delete a resource and what it owns (`NotFound` if absent).
    Delete {
        /// Its kind.
        kind: Kind,
        /// Its mesh.
        mesh: String,
        /// Its name.
        name: String,
        /// Only if the stored version is this one (`Conflict` otherwise); `None`: any version.
        expected: Option<u64>,
    },
}

/// Something changed in a shared store, possibly through another control-plane instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreEvent {
    /// This resource was created, updated or deleted (a Mesh: and everything in it).
    Changed {
        /// Its kind.
        kind: Kind,
        /// Its mesh.
        mesh: String,
        /// Its name.
        name: String,
    },
    /// Notifications may have been lost (a reconnect): reload everything.
    Resync,
}

/// A store operation in flight.
pub type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// A durable home for resources. Every implementation passes the same contract tests.
pub trait Store: Send + Sync + 'static {
    /// Inserts a new resource; `AlreadyExists` if the (kind, mesh, name) is taken.
    fn create(&self, resource: Arc<Resource>) -> StoreFuture<()>;
    /// Replaces a resource whose stored version is `resource.meta.version - 1`.
    fn update(&self, resource: Arc<Resource>) -> StoreFuture<()>;
    /// Deletes a resource and everything it owns (a mesh: all its resources; a dataplane: its
    /// insight).
    fn delete(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<()>;
    /// Deletes like [`Store::delete`], only if the stored version is `expected` (`Conflict`
    /// otherwise), in one atomic step.
    fn delete_at(&self, kind: Kind, mesh: &str, name: &str, expected: u64) -> StoreFuture<()>;
    /// One resource.
    fn get(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<Option<Arc<Resource>>>;
    /// A page of one kind, in one mesh or all, ordered by name then mesh.
    fn list(
        &self,
        kind: Kind,
        mesh: Option<&str>,
        page: PageRequest,
    ) -> StoreFuture<Page<Arc<Resource>>>;
    /// Everything, for start-up.
    fn load_all(&self) -> StoreFuture<Vec<Arc<Resource>>>;

    /// Applies `changes` in order as one unit of durability (one transaction where the store
    /// has them) and returns one result per change: a conflicting change fails alone, the
    /// others still apply. The outer error means nothing was applied.
    fn commit(&self, changes: Vec<Change>) -> StoreFuture<Vec<Result<(), StoreError>>> {
        let mut futures = Vec::with_capacity(changes.len());
        for change in changes {
            futures.push(match change {
                Change::Create(r) => self.create(r),
                Change::Update { resource, expected } => {
                    if resource.meta.version == expected + 1 {
                        self.update(resource)
                    } else {
                        Box::pin(std::future::ready(Err(StoreError::Conflict)))
                    }
                }
                Change::Delete {
                    kind,
                    mesh,
                    name,
                    expected: None,
                } => self.delete(kind, &mesh, &name),
                Change::Delete {
                    kind,
                    mesh,
                    name,
                    expected: Some(v),
                } => self.delete_at(kind, &mesh, &name, v),
            });
        }
        Box::pin(async move {
            let mut results = Vec::with_capacity(futures.len());
            for f in futures {
                results.push(f.await);
            }
            Ok(results)
        })
    }

    /// The control-plane secret `name`, created from `generate()` when the store has none;
    /// instances racing to create it all get the one that was stored (see [`secrets`]).
    fn get_or_create_secret(&self, name: &str, generate: secrets::Generate)
        -> StoreFuture<Vec<u8>>;

    /// Every secret whose name starts with `prefix`, in name order.
    fn secrets(&self, prefix: &str) -> StoreFuture<Vec<(String, Vec<u8>)>>;

    /// Deletes every secret whose name starts with `prefix` (a deleted mesh's CA roots).
    fn delete_secrets(&self, prefix: &str) -> StoreFuture<()>;

    /// Changes made through other control-plane instances; `None` for a store no other
    /// instance can see (memory). No default: a wrapper must forward it.
    fn subscribe(&self) -> Option<tokio::sync::mpsc::Receiver<StoreEvent>>;

    /// The instances' leases; `None` for a store no other instance can see (memory). No
    /// default: a wrapper that forgot it silently turned off liveness across instances.
    fn leases(&self) -> Option<&dyn lease::Leases>;
}
