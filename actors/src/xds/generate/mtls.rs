//! xDS §3.3 with X6: when the Mesh enables a CA backend, every inbound listener accepts only
//! clients presenting a certificate of the mesh CA, and every outbound cluster presents the
//! proxy's identity and accepts only a server whose certificate carries the SPIFFE id of the
//! destination service (beyond Kuma 0.5, which matched no SAN). Both name the secrets
//! `identity_cert` and `mesh_ca`; the phase asks for the identity ([`Builder::identity`]) and
//! the ADS stream issues it, so generation stays pure.

use crate::ca::workload::DEFAULT_VALIDITY;
use crate::ca::{spiffe_id, IdentityRequest};
use crate::kinds::mesh::mtls::CaBackend;
use crate::kinds::Spec;
use crate::selector::SERVICE_TAG;
use crate::state::MeshState;
use crate::xds::model::{Direction, DownstreamTls, UpstreamTls};
use crate::xds::names::{cluster_name, identifying_service};

use super::{Builder, Input};

/// The enabled CA backend of the mesh, when mTLS is on.
pub fn enabled_backend(state: &MeshState) -> Option<&CaBackend> {
    match &state.mesh.spec {
        Spec::Mesh(mesh) => mesh.mtls.as_ref()?.enabled(),
        _ => None,
    }
}

/// Puts TLS on inbound listeners and outbound clusters, and asks for the identity.
pub fn apply<'a>(input: &Input<'a>, builder: &mut Builder<'a>) {
    let Some(backend) = enabled_backend(input.state) else {
        return;
    };
    let mesh = input.state.mesh.meta.name.as_str();
    builder.identity = Some(IdentityRequest {
        mesh: mesh.to_string(),
        backend: backend.name.clone(),
        service: identifying_service(input.spec),
        validity: backend.dp_cert_validity().unwrap_or(DEFAULT_VALIDITY),
    });
    for listener in builder.resources.listeners.values_mut() {
        if listener.direction == Direction::Inbound {
            listener.filter_chain.tls = Some(DownstreamTls {
                require_client_certificate: true,
            });
        }
    }
    for route in builder.routes.values() {
        for branch in route.conf.iter() {
            let Some(service) = branch.destination.get(SERVICE_TAG) else {
                continue;
            };
            let name = cluster_name(&branch.destination);
            if let Some(cluster) = builder.resources.clusters.get_mut(&name) {
                cluster.tls = Some(UpstreamTls {
                    verify_san: spiffe_id(mesh, service),
                });
            }
        }
    }
}
