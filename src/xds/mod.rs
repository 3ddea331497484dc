//! The xDS edge: the ADS server ([`ads`]) streams Envoy v3 resources that each stream
//! generates from its mesh's snapshot, encoded by [`mod@encode`]; [`type_url`] (the domain's,
//! re-exported) holds every type URL.

pub mod ads;
pub mod encode;
pub mod identity;
pub mod tls;

pub use encode::{encode, Encoded};
pub use ursa_actors::xds::type_url::{self, PerType, TypeUrl};
