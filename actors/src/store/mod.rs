//! Where resources are kept durably. Mesh actors hold the working copy and write through a
//! [`Store`]; at start-up the supervisor loads everything from it.

pub mod memory;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::kinds::Kind;
use crate::page::{Page, PageRequest};
use crate::resource::Resource;

/// Failures of a store.
#[derive(Debug, thiserror::Error)]
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
}
