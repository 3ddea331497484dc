//! What one proxy's configuration was built from, and whether a change concerns it: a stream
//! regenerates only when a snapshot's changes reach one of its dependency keys (Istio's
//! `ConfigAffectsProxy`, kept smaller), so the cost of a change follows what it changed.

use std::collections::BTreeSet;

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::selector::SERVICE_TAG;
use crate::kinds::{Kind, Spec};
use crate::proto::Tags;

use super::policy;
use super::snapshot::ChangeSummary;

/// The policy kinds generation reads; a change of any other kind concerns no proxy.
pub const POLICY_KINDS: &[Kind] = &[Kind::TrafficRoute];

/// The dependency keys of one generated configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deps {
    /// The Dataplane it was generated for.
    pub dataplane: String,
    /// Services it reaches: their endpoints are in its configuration.
    pub services: BTreeSet<String>,
    /// Policies that were selected for it.
    pub policies: BTreeSet<(Kind, String)>,
}

impl Deps {
    /// The keys of a configuration for `dataplane`, before any phase ran.
    pub fn of(dataplane: &str) -> Deps {
        Deps {
            dataplane: dataplane.to_string(),
            ..Deps::default()
        }
    }

    /// Whether `summary` can change the configuration of the proxy these keys were recorded
    /// for, whose Dataplane was `spec` then: the Mesh, its Dataplane, the endpoints of a
    /// service it reaches, a policy that was selected for it, or a policy that may select it
    /// now.
    pub fn affected_by(&self, spec: &DataplaneSpec, summary: &ChangeSummary) -> bool {
        if summary.mesh || summary.dataplane_changed(&self.dataplane) {
            return true;
        }
        if summary.services.iter().any(|s| self.services.contains(s)) {
            return true;
        }
        summary.changes.iter().any(|c| {
            POLICY_KINDS.contains(&c.kind)
                && (self.policies.contains(&(c.kind, c.name.clone()))
                    || c.after.as_ref().is_some_and(|p| may_select(&p.spec, spec)))
        })
    }
}

/// Whether `policy` could be selected for `dataplane` (before ranking): a conservative test,
/// so a policy that would lose to a better-ranked one still regenerates the proxy.
pub fn may_select(policy: &Spec, dataplane: &DataplaneSpec) -> bool {
    match policy.kind() {
        // Matcher B: sources select the Dataplane, destinations one of its outbound services.
        Kind::TrafficRoute | Kind::TrafficLog | Kind::HealthCheck => {
            let sources = policy::sources(policy)
                .iter()
                .any(|s| policy::dataplane_matches(dataplane, &s.match_));
            sources && {
                let outbounds = dataplane.networking.iter().flat_map(|n| &n.outbound);
                let services: Vec<Tags> = outbounds
                    .map(|o| Tags::from([(SERVICE_TAG.to_string(), o.service.clone())]))
                    .collect();
                policy::destinations(policy)
                    .iter()
                    .any(|d| services.iter().any(|tags| policy::matches(&d.match_, tags)))
            }
        }
        // Matcher C: destinations select one of its inbounds.
        Kind::TrafficPermission | Kind::FaultInjection => {
            let inbounds: Vec<&Tags> = dataplane
                .networking
                .iter()
                .flat_map(|n| n.inbound.iter().map(|i| &i.tags))
                .collect();
            policy::destinations(policy)
                .iter()
                .any(|d| inbounds.iter().any(|tags| policy::matches(&d.match_, tags)))
        }
        // Matcher A: no selector, an empty one, or one that selects the Dataplane.
        Kind::TrafficTrace | Kind::ProxyTemplate => {
            let selectors = policy::selectors(policy);
            selectors.is_empty()
                || selectors
                    .iter()
                    .any(|s| s.match_.is_empty() || policy::dataplane_matches(dataplane, &s.match_))
        }
        _ => false,
    }
}
