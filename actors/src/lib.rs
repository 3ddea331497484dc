//! Ursa's domain: resource kinds and their validation, the mesh actors that own them, the stores
//! that persist them and the control plane's configuration. Nothing here knows HTTP, gRPC or SQL
//! wire formats beyond the proto3 JSON mapping of Kuma's resources.

pub mod access_log_format;
pub mod backend_conf;
pub mod ca;
pub mod config;
pub mod error;
pub mod gostd;
pub mod kinds;
pub mod liveness;
pub mod mesh_actor;
pub mod overview;
pub mod page;
pub mod pki;
pub mod precondition;
pub mod proto;
pub mod registry;
pub mod resource;
pub mod selector;
pub mod state;
pub mod store;
pub mod supervisor;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;
pub mod validation;
pub mod watch;
pub mod xds;

pub use error::{Error, Op, OpError};
pub use kinds::{Kind, MeshScopedSpec, Spec};
pub use precondition::{Precondition, WriteOptions};
pub use resource::{Meta, Resource};
