//! Envoy configuration as a pure function of the mesh: [`model`] describes one proxy's
//! configuration, [`policy`] decides which policy applies where, [`mod@generate`] builds it as
//! a pipeline of phases, [`endpoints`] indexes the mesh's endpoints, [`snapshot`] is what the
//! mesh actor publishes to xDS streams and [`deps`] tells a stream whether a change concerns
//! its proxy, [`type_url`] names the resource types and [`raw`] decodes the raw Envoy
//! resources of a ProxyTemplate. The xDS edge (`ursa-cp`) encodes the result.

pub mod deps;
pub mod endpoints;
pub mod generate;
pub mod model;
pub mod names;
pub mod policy;
pub mod raw;
pub mod snapshot;
pub mod type_url;

pub use deps::Deps;
pub use endpoints::EndpointIndex;
pub use generate::{generate, generate_for, Generated, Node};
pub use model::ProxyConfig;
pub use snapshot::{ChangeSummary, XdsSnapshot};
