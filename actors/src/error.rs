//! The domain's errors, and the operation they interrupted (which the API turns into Kuma's
//! error titles).

use crate::store::StoreError;
use crate::validation::Violations;

/// What went wrong, independent of the transport.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The resource (or its mesh) does not exist.
    #[error("not found")]
    NotFound,
    /// A new resource names a mesh that does not exist.
    #[error("mesh of name {0} is not found")]
    MeshNotFound(String),
    /// The request body could not be decoded: malformed JSON, wrong types, unknown fields.
    #[error("resource is not valid: {0:?}")]
    Malformed(Violations),
    /// The resource breaks validation rules.
    #[error("resource is not valid: {0:?}")]
    Invalid(Violations),
    /// Someone else changed the resource between read and write.
    #[error("resource was changed concurrently")]
    Conflict,
    /// The write's precondition (`If-Match`, `If-None-Match`) does not hold.
    #[error("precondition failed: {0:?}")]
    PreconditionFailed(crate::precondition::Failed),
    /// The store failed: unreachable, or broken (its refusals are `NotFound` and `Conflict`).
    #[error(transparent)]
    Store(StoreError),
    /// The mesh actor is gone (shutting down or deleted).
    #[error("mesh actor unavailable")]
    ActorGone,
}

impl Error {
    /// A write of `kind` into `mesh`, which is gone or going: an owned kind's owner went with
    /// the mesh (as its own check answers once the mesh is gone), any other kind names the mesh.
    pub fn mesh_gone(kind: crate::Kind, mesh: &str) -> Error {
        match kind.owner() {
            Some(_) => Error::NotFound,
            None => Error::MeshNotFound(mesh.to_string()),
        }
    }
}

/// The one conversion of a store's outcome into the domain's, whichever path (`?`, `into()`,
/// [`OpError::create`]) it takes: a refusal of the store is what the caller asked for being
/// wrong (a key taken or changed meanwhile, a resource gone), not a failure of the store.
impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::NotFound => Error::NotFound,
            StoreError::Conflict | StoreError::AlreadyExists => Error::Conflict,
            e @ (StoreError::Unavailable(_) | StoreError::Internal(_)) => Error::Store(e),
        }
    }
}

/// The write a PUT turned into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The resource did not exist and was created.
    Create,
    /// The resource existed and was replaced.
    Update,
}

/// An error of a PUT, with whether it failed while creating or updating.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("could not {op:?} a resource: {error}")]
pub struct OpError {
    /// Create or update.
    pub op: Op,
    /// The failure.
    pub error: Error,
}

impl OpError {
    /// An error of a create.
    pub fn create(error: impl Into<Error>) -> OpError {
        OpError {
            op: Op::Create,
            error: error.into(),
        }
    }

    /// An error of an update.
    pub fn update(error: impl Into<Error>) -> OpError {
        OpError {
            op: Op::Update,
            error: error.into(),
        }
    }
}
