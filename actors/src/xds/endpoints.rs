//! Every service's endpoints in a mesh, and the load assignment of every cluster a route can
//! name. Built once per mesh, then updated per change for the services the change touched
//! only, keeping the shared [`LoadAssignment`] of every cluster whose endpoints did not change:
//! proxies then compare equal by pointer where nothing changed, and the xDS edge, which caches
//! encodings by that identity, does not encode unchanged endpoints again.

use std::sync::Arc;

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::{Kind, Spec};
use crate::proto::Tags;
use crate::resource::Resource;
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

/// The endpoints one Dataplane contributes: (service, endpoint) per resolvable inbound.
type Contribution = Arc<Vec<(String, Endpoint)>>;

/// The endpoints of a mesh, by service and by cluster; cheap to clone (persistent maps).
#[derive(Clone, Debug, Default)]
pub struct EndpointIndex {
    /// Dataplane → its endpoints, built once per change of that Dataplane.
    contributions: imbl::HashMap<String, Contribution>,
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
            index
                .contributions
                .insert(dp.meta.name.clone(), contribution(dp));
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
            index.refresh_service(service);
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
        let services_before = next.members.len();
        let mut membership_changed = false;
        for c in summary.changes.iter().filter(|c| c.kind == Kind::Dataplane) {
            match &c.after {
                Some(after) => next
                    .contributions
                    .insert(c.name.clone(), contribution(after)),
                None => next.contributions.remove(&c.name),
            };
            if let Some(before) = &c.before {
                for service in inbound_services(before) {
                    if let Some(set) = next.members.get_mut(service) {
                        set.remove(&c.name);
                        if set.is_empty() {
                            next.members.remove(service);
                            membership_changed = true;
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
        membership_changed |= next.members.len() != services_before;
        for service in &summary.services {
            next.refresh_service(service);
        }
        // The set of clusters changes only with the set of services or with the routes; a
        // Dataplane moving within its service changes endpoints, not clusters.
        let routes_changed = summary.changes.iter().any(|c| c.kind == Kind::TrafficRoute);
        let clusters_changed = routes_changed || membership_changed;
        if clusters_changed {
            next.destinations = destinations(state, &next.members);
        }
        let names: Vec<String> = next
            .destinations
            .iter()
            .filter(|(name, destination)| {
                let service = destination.get(SERVICE_TAG).map_or("", String::as_str);
                summary.services.contains(service) || !self.clusters.contains_key(*name)
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in &names {
            next.refresh_cluster(name, self.clusters.get(name));
        }
        if !clusters_changed {
            return next;
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

    /// Every indexed cluster with its load assignment, in name order (for comparisons).
    #[cfg(test)]
    pub fn clusters(&self) -> Vec<(String, LoadAssignment)> {
        let mut all: Vec<_> = self
            .clusters
            .iter()
            .map(|(name, c)| (name.clone(), (*c.assignment).clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// The indexed cluster `name`, if any.
    pub fn indexed(&self, name: &str) -> Option<&ClusterEndpoints> {
        self.clusters.get(name)
    }

    fn refresh_service(&mut self, service: &str) {
        let Some(members) = self.members.get(service) else {
            self.by_service.remove(service);
            return;
        };
        let endpoints = members
            .iter()
            .filter_map(|name| self.contributions.get(name))
            .flat_map(|c| c.iter())
            .filter(|(s, _)| s == service)
            .map(|(_, e)| e.clone())
            .collect();
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

/// The endpoints of a Dataplane's inbounds that resolve, with their service (gateways and
/// Dataplanes without networking contribute none).
fn contribution(dp: &Resource) -> Contribution {
    let Spec::Dataplane(DataplaneSpec {
        networking: Some(networking),
        ..
    }) = &dp.spec
    else {
        return Contribution::default();
    };
    let endpoints = networking
        .inbound
        .iter()
        .filter_map(|inbound| {
            let service = inbound.tags.get(SERVICE_TAG)?;
            let iface = InboundIface::resolve(networking, inbound)?;
            let endpoint = Endpoint {
                address: iface.ip.into(),
                port: iface.dataplane_port,
                tags: Arc::new(inbound.tags.clone()),
            };
            Some((service.clone(), endpoint))
        })
        .collect();
    Arc::new(endpoints)
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
