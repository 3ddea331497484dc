//! `ursa-cp`: the control-plane process — the HTTP API and the composition root that wires the
//! actors, the store and the servers together.

pub mod admin;
pub mod api;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod dataplane_token;
pub mod diagnostics;
pub mod http;
pub mod jwt;
pub mod listener;
pub mod metered;
pub mod xds;
