//! The xDS edge: Ursa's [`ProxyConfig`](ursa_actors::xds::ProxyConfig) encoded as Envoy v3
//! resources ([`mod@encode`]).

pub mod ads;
pub mod encode;

pub use encode::{encode, Encoded, CLUSTER, ENDPOINT, LISTENER, ROUTE};
