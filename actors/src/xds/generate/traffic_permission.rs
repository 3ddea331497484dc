//! xDS §3.2: with mTLS on, every inbound listener starts with a network RBAC filter allowing
//! the sources of the one TrafficPermission that selects the inbound best (matcher C): a
//! source `service: *` is any peer of the mesh, any other the peer whose certificate names
//! `spiffe://<mesh>/<service>`. No permission means no policy, which denies everything.
//! Without mTLS there is no RBAC (peers have no identity to check).

use crate::kinds::traffic_permission::TrafficPermissionSpec;
use crate::kinds::Kind;
use crate::selector::{MATCH_ALL, SERVICE_TAG};
use crate::xds::model::{NetworkFilter, Principal, Rbac, RbacPolicy};
use crate::xds::names::sanitize;

use super::inbound::with_inbound_policies;
use super::mtls::enabled_backend;
use super::{Builder, Input};

/// Adds the RBAC filter of each inbound listener.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    if enabled_backend(input.state).is_none() {
        return;
    }
    for (name, chosen) in with_inbound_policies::<TrafficPermissionSpec>(input) {
        let policies = match chosen {
            None => Vec::new(),
            Some((permission, spec)) => {
                builder
                    .deps
                    .policies
                    .insert((Kind::TrafficPermission, permission.meta.name.clone()));
                vec![RbacPolicy {
                    name: permission.meta.name.clone(),
                    principals: spec
                        .sources
                        .iter()
                        .filter_map(|s| principal(&permission.meta.mesh, &s.match_))
                        .collect(),
                }]
            }
        };
        if let Some(listener) = builder.resources.listeners.get_mut(&name) {
            let rbac = NetworkFilter::Rbac(Rbac {
                // Kuma's trailing dot, which the bootstrap's `listener` stats tag relies on.
                stat_prefix: format!("{}.", sanitize(&name)),
                policies,
            });
            listener.filter_chain.filters.insert(0, rbac);
        }
    }
}

/// The principal a source selector allows (sources hold `service` alone, §6.7; one without
/// it allows nobody rather than everybody).
fn principal(mesh: &str, source: &crate::proto::Tags) -> Option<Principal> {
    match source.get(SERVICE_TAG).map(String::as_str) {
        Some(MATCH_ALL) => Some(Principal::Any),
        Some(service) => Some(Principal::Authenticated(crate::ca::spiffe_id(
            mesh, service,
        ))),
        None => None,
    }
}
