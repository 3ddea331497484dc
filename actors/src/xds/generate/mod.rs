//! The pure function from a mesh to one Dataplane's [`ProxyConfig`], as a pipeline of small
//! phases (xDS §2.2–2.4, xDS §3): each phase reads the mesh and the Dataplane, and adds
//! to (or changes) the resources built so far and the decisions later phases read. Adding a
//! policy is one phase module and one line in [`PHASES`].
//!
//! Work that does not depend on the requesting Dataplane (every service's endpoints, the load
//! assignment of every cluster a route can name) lives in the [`EndpointIndex`], maintained
//! per change by the mesh actor; phases only look things up.

mod fault_injection;
mod health_check;
mod inbound;
mod mtls;
mod outbound;
mod prometheus;
mod proxy_template;
mod traffic_log;
mod traffic_permission;
mod traffic_route;
mod traffic_trace;
mod transparent_proxy;

pub use transparent_proxy::PASS_THROUGH;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ca::IdentityRequest;
use crate::kinds::dataplane::{DataplaneSpec, Networking};
use crate::kinds::Spec;
use crate::resource::Resource;
use crate::state::MeshState;

use super::deps::Deps;
use super::endpoints::EndpointIndex;
use super::model::{Cluster, Listener, LoadAssignment, ProxyConfig, RawResource, RouteConfig};
use super::policy::SelectedRoute;
use super::type_url::TypeUrl;

/// What every phase reads.
pub struct Input<'a> {
    /// The mesh.
    pub state: &'a MeshState,
    /// The mesh's endpoints (built from `state`).
    pub endpoints: &'a EndpointIndex,
    /// The Dataplane generated for.
    pub dataplane: &'a Resource,
    /// Its spec.
    pub spec: &'a DataplaneSpec,
    /// Its networking section.
    pub networking: &'a Networking,
    /// What the proxy said of itself when it connected.
    pub node: &'a Node,
}

/// What a proxy tells of itself on its ADS stream (node metadata) that generation reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Node {
    /// Envoy's admin port (`dataplane.admin.port`), 0 when it has none.
    pub admin_port: u32,
}

/// One proxy's configuration under construction, with the decisions phases hand on.
pub struct Builder<'a> {
    /// Resources built so far.
    pub resources: Resources,
    /// The TrafficRoute of each outbound service (the `traffic_route` phase decides).
    pub routes: BTreeMap<String, SelectedRoute<'a>>,
    /// What the configuration depends on, recorded by each phase.
    pub deps: Deps,
    /// The identity its secrets must hold (the `mtls` phase decides; the stream issues it).
    pub identity: Option<IdentityRequest>,
}

/// A phase: reads the input, adds to the builder.
type Phase = for<'a> fn(&Input<'a>, &mut Builder<'a>);

/// The pipeline, in order.
const PHASES: &[Phase] = &[
    inbound::apply,
    traffic_route::apply,
    outbound::apply,
    health_check::apply,
    fault_injection::apply,
    transparent_proxy::apply,
    traffic_log::apply,
    traffic_trace::apply,
    mtls::apply,
    traffic_permission::apply,
    prometheus::apply,
    // Last: a template that does not import the default profile drops everything above.
    proxy_template::apply,
];

/// A generated configuration and what it was built from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generated {
    /// The resources.
    pub config: ProxyConfig,
    /// Its dependency keys.
    pub deps: Deps,
    /// The identity whose secrets `config` needs and does not hold: the ADS stream issues it
    /// and fills [`ProxyConfig::secrets`] in (`None` without mTLS).
    pub identity: Option<IdentityRequest>,
}

/// The configuration of `dataplane` in the mesh `state`, whose endpoints are `endpoints`, for
/// a proxy that told nothing of itself.
pub fn generate(state: &MeshState, endpoints: &EndpointIndex, dataplane: &Resource) -> Generated {
    generate_for(state, endpoints, dataplane, &Node::default())
}

/// The configuration of `dataplane` in the mesh `state`, whose endpoints are `endpoints`, for
/// the proxy `node`. Anything but a Dataplane with `networking` yields an empty configuration.
pub fn generate_for(
    state: &MeshState,
    endpoints: &EndpointIndex,
    dataplane: &Resource,
    node: &Node,
) -> Generated {
    let deps = Deps::of(&dataplane.meta.name);
    let Spec::Dataplane(spec) = &dataplane.spec else {
        return Generated {
            deps,
            ..Generated::default()
        };
    };
    let Some(networking) = &spec.networking else {
        return Generated {
            deps,
            ..Generated::default()
        };
    };
    let input = Input {
        state,
        endpoints,
        dataplane,
        spec,
        networking,
        node,
    };
    let mut builder = Builder {
        resources: Resources::default(),
        routes: BTreeMap::new(),
        deps,
        identity: None,
    };
    for phase in PHASES {
        phase(&input, &mut builder);
    }
    Generated {
        config: builder.resources.into_config(),
        deps: builder.deps,
        identity: builder.identity,
    }
}

/// Resources by type and name. Within one phase the first resource of a name wins; a phase's
/// resources replace same-named earlier ones when merged ([`Resources::overlay`], Kuma's
/// snapshot rule).
#[derive(Default)]
pub struct Resources {
    /// Listeners (LDS).
    pub listeners: BTreeMap<String, Listener>,
    /// Clusters (CDS).
    pub clusters: BTreeMap<String, Cluster>,
    /// Endpoints (EDS), shared with other proxies.
    pub load_assignments: BTreeMap<String, Arc<LoadAssignment>>,
    /// Route configurations (RDS).
    pub route_configs: BTreeMap<String, RouteConfig>,
    /// Resources given verbatim (a ProxyTemplate's), by type and name.
    pub raw: BTreeMap<(TypeUrl, String), Arc<RawResource>>,
}

impl Resources {
    /// Adds a listener unless one of that name exists.
    pub fn listener(&mut self, l: Listener) {
        self.listeners.entry(l.name.clone()).or_insert(l);
    }

    /// Adds a cluster unless one of that name exists.
    pub fn cluster(&mut self, c: Cluster) {
        self.clusters.entry(c.name.clone()).or_insert(c);
    }

    /// Adds a load assignment unless one for that cluster exists.
    pub fn load_assignment(&mut self, la: Arc<LoadAssignment>) {
        self.load_assignments
            .entry(la.cluster_name.clone())
            .or_insert(la);
    }

    /// Adds a route configuration unless one of that name exists.
    pub fn route_config(&mut self, r: RouteConfig) {
        self.route_configs.entry(r.name.clone()).or_insert(r);
    }

    /// Merges a later phase's resources: they replace same-named ones.
    pub fn overlay(&mut self, later: Resources) {
        self.listeners.extend(later.listeners);
        self.clusters.extend(later.clusters);
        self.load_assignments.extend(later.load_assignments);
        self.route_configs.extend(later.route_configs);
        self.raw.extend(later.raw);
    }

    fn into_config(self) -> ProxyConfig {
        ProxyConfig {
            listeners: self.listeners.into_values().collect(),
            clusters: self.clusters.into_values().collect(),
            load_assignments: self.load_assignments.into_values().collect(),
            route_configs: self.route_configs.into_values().collect(),
            secrets: Vec::new(),
            raw: self.raw.into_values().collect(),
        }
    }
}

#[cfg(test)]
mod tests;
