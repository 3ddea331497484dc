//! xDS §2.5: with `transparentProxying.redirectPort`, traffic reaches the inbound and outbound
//! listeners redirected (by iptables, outside Ursa), so they must not bind their sockets; the
//! listener `catch_all` on the redirect port hands each connection to the listener of its
//! original destination, and sends what no listener claims to `pass_through`, where it was
//! headed anyway.

use crate::xds::model::{
    Cluster, Direction, Discovery, FilterChain, Listener, NetworkFilter, Target, TcpProxy,
};
use crate::xds::names::CONNECT_TIMEOUT;

use super::{Builder, Input, Resources};

/// The listener redirected traffic arrives at.
pub const CATCH_ALL: &str = "catch_all";
/// The cluster of traffic to destinations outside the mesh (and Kuma's service name for it).
pub const PASS_THROUGH: &str = "pass_through";

/// Unbinds the inbound and outbound listeners and adds `catch_all` and `pass_through`.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let Some(redirect_port) = redirect_port(input) else {
        return;
    };
    for listener in builder.resources.listeners.values_mut() {
        listener.bind_to_port = false;
    }
    let mut out = Resources::default();
    let mut catch_all = Listener::new(
        CATCH_ALL.to_string(),
        "0.0.0.0".to_string(),
        redirect_port,
        Direction::Outbound,
        FilterChain {
            filters: vec![NetworkFilter::TcpProxy(TcpProxy {
                stat_prefix: PASS_THROUGH.to_string(),
                target: Target::Cluster(PASS_THROUGH.to_string()),
                access_logs: Vec::new(),
            })],
            tls: None,
        },
    );
    catch_all.use_original_dst = true;
    out.listener(catch_all);
    out.cluster(Cluster {
        name: PASS_THROUGH.to_string(),
        alt_stat_name: None,
        connect_timeout: CONNECT_TIMEOUT,
        discovery: Discovery::OriginalDst,
        tls: None,
        health: Default::default(),
    });
    builder.resources.overlay(out);
}

/// The redirect port, when transparent proxying is on.
pub fn redirect_port(input: &Input<'_>) -> Option<u32> {
    input
        .networking
        .transparent_proxying
        .as_ref()
        .map(|t| t.redirect_port)
        .filter(|p| *p != 0)
}
