//! Every service's endpoints in a mesh, and the load assignment of every cluster a route can
//! name. Built once per mesh, then updated per change for the services the change touched
//! only, keeping the shared [`LoadAssignment`] of every cluster whose endpoints did not change:
//! proxies then compare equal by pointer where nothing changed, and the xDS edge, which caches
//! encodings by that identity, does not encode unchanged endpoints again.

use std::sync::Arc;

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::{Kind, Spec};
use crate::proto::Tags;
use crate::selector::SERVICE_TAG;
use crate::state::MeshState;

use super::model::{Endpoint, LoadAssignment};
use super::names::{cluster_name, InboundIface, Protocol};
use super::policy;
use super::snapshot::{inbound_services, ChangeSummary};

/// A cluster's endpoints with the protocol they agree on (`None` when there are none).
#[derive(Clone, Debug)]
pub struct ClusterEndpoints {
    /// The shared load assignment.
    pub assignment: Arc<LoadAssignment>,
    /// The protocol the endpoints agree on.
    pub protocol: Option<Protocol>,
}

impl ClusterEndpoints {
    fn new(cluster_name: String, endpoints: Vec<Endpoint>) -> ClusterEndpoints {
        let protocol = endpoints
            .iter()
            .map(|e| Protocol::of(&e.tags))
            .reduce(Protocol::combine);
        ClusterEndpoints {
            assignment: Arc::new(LoadAssignment {
                cluster_name,
                endpoints,
            }),
            protocol,
        }
    }
}

/// The endpoints of a mesh, by service and by cluster; cheap to clone (persistent maps).
#[derive(Clone, Debug, Default)]
pub struct EndpointIndex {
    /// Service → the Dataplanes with an inbound of it, in name order.
    members: imbl::HashMap<String, imbl::OrdSet<String>>,
    /// Service → its endpoints, in Dataplane name order then inbound order.
    by_service: imbl::HashMap<String, Arc<Vec<Endpoint>>>,
    /// Cluster name → the destination it selects: each service's own cluster and every
    /// TrafficRoute branch.
    destinations: imbl::HashMap<String, Tags>,
    /// Cluster name → its endpoints.
    clusters: imbl::HashMap<String, ClusterEndpoints>,
}

impl EndpointIndex {
    /// Indexes every Dataplane inbound of the mesh (gateways never) and the clusters of the
    /// services and of every TrafficRoute branch.
    pub fn build(state: &MeshState) -> EndpointIndex {
        let mut index = EndpointIndex::default();
        for dp in state.of(Kind::Dataplane).values() {
            for service in inbound_services(dp) {
                index
                    .members
                    .entry(service.to_string())
                    .or_default()
                    .insert(dp.meta.name.clone());
            }
        }
        let services: Vec<String> = index.members.keys().cloned().collect();
        for service in &services {
            index.refresh_service(state, service);
        }
        index.destinations = destinations(state, &index.members);
        let names: Vec<String> = index.destinations.keys().cloned().collect();
        for name in names {
            index.refresh_cluster(&name, None);
        }
        index
    }

    /// The index after `summary` (whose changes `state` holds): only the services it touched
    /// are recomputed, and an unchanged cluster keeps its shared load assignment.
    pub fn update(&self, state: &MeshState, summary: &ChangeSummary) -> EndpointIndex {
        let mut next = self.clone();
        for c in summary.changes.iter().filter(|c| c.kind == Kind::Dataplane) {
            if let Some(before) = &c.before {
                for service in inbound_services(before) {
                    if let Some(set) = next.members.get_mut(service) {
                        set.remove(&c.name);
                        if set.is_empty() {
                            next.members.remove(service);
                        }
                    }
                }
            }
            if let Some(after) = &c.after {
                for service in inbound_services(after) {
                    next.members
                        .entry(service.to_string())
                        .or_default()
                        .insert(c.name.clone());
                }
            }
        }
        for service in &summary.services {
            next.refresh_service(state, service);
        }
        let routes_changed = summary.changes.iter().any(|c| c.kind == Kind::TrafficRoute);
        if routes_changed || !summary.services.is_empty() {
            next.destinations = destinations(state, &next.members);
        }
        let names: Vec<String> = next.destinations.keys().cloned().collect();
        for name in &names {
            let service = next.destinations[name]
                .get(SERVICE_TAG)
                .cloned()
                .unwrap_or_default();
            if summary.services.contains(&service) || !self.clusters.contains_key(name) {
                next.refresh_cluster(name, self.clusters.get(name));
            }
        }
        let stale: Vec<String> = next
            .clusters
            .keys()
            .filter(|n| !next.destinations.contains_key(*n))
            .cloned()
            .collect();
        for name in stale {
            next.clusters.remove(&name);
        }
        next
    }

    /// The endpoints of `service` (all its inbounds in the mesh).
    pub fn endpoints(&self, service: &str) -> &[Endpoint] {
        self.by_service.get(service).map_or(&[], |e| e.as_slice())
    }

    /// The cluster for `destination`, from the index or computed now.
    pub fn cluster(&self, name: &str, destination: &Tags) -> ClusterEndpoints {
        match self.clusters.get(name) {
            Some(c) => c.clone(),
            None => self.compute(name, destination),
        }
    }

    /// The indexed cluster `name`, if any.
    pub fn indexed(&self, name: &str) -> Option<&ClusterEndpoints> {
        self.clusters.get(name)
    }

    fn refresh_service(&mut self, state: &MeshState, service: &str) {
        let Some(members) = self.members.get(service) else {
            self.by_service.remove(service);
            return;
        };
        let mut endpoints = Vec::new();
        for name in members {
            let Some(dp) = state.get(Kind::Dataplane, name) else {
                continue;
            };
            let Spec::Dataplane(DataplaneSpec {
                networking: Some(networking),
                ..
            }) = &dp.spec
            else {
                continue;
            };
            for inbound in &networking.inbound {
                if inbound.tags.get(SERVICE_TAG).map(String::as_str) != Some(service) {
                    continue;
                }
                if let Some(iface) = InboundIface::resolve(networking, inbound) {
                    endpoints.push(Endpoint {
                        address: iface.ip,
                        port: iface.dataplane_port,
                        tags: inbound.tags.clone(),
                    });
                }
            }
        }
        self.by_service
            .insert(service.to_string(), Arc::new(endpoints));
    }

    /// Recomputes cluster `name`, keeping `old`'s load assignment when equal.
    fn refresh_cluster(&mut self, name: &str, old: Option<&ClusterEndpoints>) {
        let Some(destination) = self.destinations.get(name) else {
            return;
        };
        let mut cluster = self.compute(name, destination);
        if let Some(old) = old {
            if old.assignment == cluster.assignment {
                cluster.assignment = old.assignment.clone();
            }
        }
        self.clusters.insert(name.to_string(), cluster);
    }

    /// The endpoints of the service named by `destination` that match all its tags.
    fn compute(&self, name: &str, destination: &Tags) -> ClusterEndpoints {
        let service = destination.get(SERVICE_TAG).map_or("", String::as_str);
        let endpoints = self
            .endpoints(service)
            .iter()
            .filter(|e| policy::matches(destination, &e.tags))
            .cloned()
            .collect();
        ClusterEndpoints::new(name.to_string(), endpoints)
    }
}

/// Cluster name → destination, for every service with endpoints and every TrafficRoute branch.
fn destinations(
    state: &MeshState,
    members: &imbl::HashMap<String, imbl::OrdSet<String>>,
) -> imbl::HashMap<String, Tags> {
    let mut out = imbl::HashMap::new();
    for service in members.keys() {
        let destination = Tags::from([(SERVICE_TAG.to_string(), service.clone())]);
        out.insert(cluster_name(&destination), destination);
    }
    for route in state.of(Kind::TrafficRoute).values() {
        if let Spec::TrafficRoute(spec) = &route.spec {
            for branch in &spec.conf {
                if branch.destination.contains_key(SERVICE_TAG) {
                    out.insert(
                        cluster_name(&branch.destination),
                        branch.destination.clone(),
                    );
                }
            }
        }
    }
    out
}
