//! Envoy configuration as a pure function of the mesh: [`model`] describes one proxy's
//! configuration, [`policy`] decides which policy applies where, and [`mod@generate`] builds a
//! [`model::ProxyConfig`] for one Dataplane. The xDS edge (`ursa-cp`) encodes the result.

pub mod generate;
pub mod model;
pub mod policy;

pub use generate::{generate, EndpointIndex, MeshView};
pub use model::ProxyConfig;
