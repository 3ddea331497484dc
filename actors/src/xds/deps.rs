//! What one proxy's configuration was built from, and whether a change concerns it: a stream
//! regenerates only when a snapshot's changes reach one of its dependency keys (Istio's
//! `ConfigAffectsProxy`, kept smaller), so the cost of a change follows what it changed.

use std::collections::BTreeSet;

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::{Kind, Matcher, Spec};
use crate::proto::Tags;
use crate::selector::SERVICE_TAG;

use super::generate::PASS_THROUGH;
use super::policy;
use super::snapshot::ChangeSummary;

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
            // Every policy kind is generation's (the kinds table says which kinds are
            // policies); a change of any other kind concerns no proxy.
            c.kind.matcher().is_some()
                && (self.policies.contains(&(c.kind, c.name.clone()))
                    || c.after.as_ref().is_some_and(|p| may_select(&p.spec, spec)))
        })
    }
}

/// Whether `policy` could be selected for `dataplane` (before ranking): a conservative test,
/// so a policy that would lose to a better-ranked one still regenerates the proxy.
pub fn may_select(policy: &Spec, dataplane: &DataplaneSpec) -> bool {
    let inbounds = || {
        dataplane
            .networking
            .iter()
            .flat_map(|n| n.inbound.iter().map(|i| &i.tags))
    };
    // With transparent proxying, `pass_through` is a destination too (its `catch_all`).
    let outbound_services = || {
        let networking = dataplane.networking.iter();
        let pass_through = networking
            .clone()
            .filter(|n| {
                n.transparent_proxying
                    .as_ref()
                    .is_some_and(|t| t.redirect_port != 0)
            })
            .map(|_| PASS_THROUGH.to_string());
        networking
            .flat_map(|n| &n.outbound)
            .map(|o| o.service.clone())
            .chain(pass_through)
            .map(|service| Tags::from([(SERVICE_TAG.to_string(), service)]))
    };
    match (
        policy.kind().matcher(),
        policy.as_connection_policy(),
        policy.as_dataplane_policy(),
    ) {
        // A HealthCheck's destinations are the services routes send to, which a TrafficRoute
        // can make any service: its sources alone decide.
        (Some(Matcher::Outbound), Some(p), _) if policy.kind() == Kind::HealthCheck => p
            .sources()
            .iter()
            .any(|s| policy::dataplane_matches(dataplane, &s.match_)),
        // Matcher B: sources select the Dataplane, destinations one of its outbound services.
        (Some(Matcher::Outbound), Some(p), _) => {
            p.sources()
                .iter()
                .any(|s| policy::dataplane_matches(dataplane, &s.match_))
                && outbound_services().any(|tags| {
                    p.destinations()
                        .iter()
                        .any(|d| policy::matches(&d.match_, &tags))
                })
        }
        // Matcher C: destinations select one of its inbounds.
        (Some(Matcher::Inbound), Some(p), _) => inbounds().any(|tags| {
            p.destinations()
                .iter()
                .any(|d| policy::matches(&d.match_, tags))
        }),
        // Matcher A: no selector, an empty one, or one that selects the Dataplane.
        (Some(Matcher::Dataplane), _, Some(p)) => {
            p.selectors().is_empty()
                || p.selectors()
                    .iter()
                    .any(|s| s.match_.is_empty() || policy::dataplane_matches(dataplane, &s.match_))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::Utc;
    use serde_json::{json, Value};

    use super::*;
    use crate::resource::Resource;
    use crate::state::MeshState;
    use crate::xds::{generate, EndpointIndex};

    fn resource(kind: Kind, name: &str, spec: Value) -> Arc<Resource> {
        Arc::new(Resource::new(
            "m",
            name,
            kind.decode(spec).expect("a valid spec"),
            Utc::now(),
        ))
    }

    fn dp(name: &str, service: &str, outbound: &[&str]) -> Arc<Resource> {
        let outbound: Vec<Value> = outbound
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"port": 20000 + i, "service": s}))
            .collect();
        resource(
            Kind::Dataplane,
            name,
            json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 8080, "tags": {"service": service, "version": "v1"}}],
                "outbound": outbound}}),
        )
    }

    /// web → backend, other → db, plus a backend and a db instance.
    fn mesh() -> MeshState {
        let m = Arc::new(Resource::new("m", "m", Spec::empty(Kind::Mesh), Utc::now()));
        MeshState::new(
            m,
            [
                dp("web", "web", &["backend"]),
                dp("backend-1", "backend", &[]),
                dp("other", "other", &["db"]),
                dp("db-1", "db", &[]),
            ],
        )
    }

    /// Which of the mesh's proxies a change concerns, by name.
    fn affected(state: &MeshState, summary: &ChangeSummary) -> Vec<String> {
        let index = EndpointIndex::build(state);
        let mut out = Vec::new();
        for r in state.of(Kind::Dataplane).values() {
            let deps = generate(state, &index, r).deps;
            let Spec::Dataplane(spec) = &r.spec else {
                unreachable!()
            };
            if deps.affected_by(spec, summary) {
                out.push(r.meta.name.clone());
            }
        }
        out
    }

    fn change(
        kind: Kind,
        name: &str,
        before: Option<Arc<Resource>>,
        after: Option<Arc<Resource>>,
    ) -> ChangeSummary {
        let mut s = ChangeSummary::default();
        s.record(kind, name, before, after);
        s
    }

    #[test]
    fn generation_records_the_dataplane_the_services_it_reaches_and_the_selected_routes() {
        let mut state = mesh();
        let route = resource(
            Kind::TrafficRoute,
            "r",
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": [{"weight": 100, "destination": {"service": "backend", "version": "v2"}}]}),
        );
        state.insert(route);
        let index = EndpointIndex::build(&state);
        let web = state.get(Kind::Dataplane, "web").unwrap();
        let deps = generate(&state, &index, web).deps;
        assert_eq!(deps.dataplane, "web");
        assert_eq!(deps.services.iter().collect::<Vec<_>>(), ["backend"]);
        assert_eq!(
            deps.policies.iter().cloned().collect::<Vec<_>>(),
            vec![(Kind::TrafficRoute, "r".to_string())]
        );
        let db = state.get(Kind::Dataplane, "db-1").unwrap();
        assert_eq!(generate(&state, &index, db).deps, Deps::of("db-1"));
    }

    #[test]
    fn a_dataplane_change_in_service_a_regenerates_only_proxies_that_reach_a() {
        let state = mesh();
        let before = state.get(Kind::Dataplane, "backend-1").cloned();
        let after = dp("backend-1", "backend", &[]);
        let summary = change(Kind::Dataplane, "backend-1", before, Some(after));
        assert_eq!(affected(&state, &summary), ["backend-1", "web"]);
        // A new instance of db: other reaches db; web does not.
        let summary = change(Kind::Dataplane, "db-2", None, Some(dp("db-2", "db", &[])));
        assert_eq!(affected(&state, &summary), ["other"]);
        // A Dataplane that moves from backend to db concerns the callers of both.
        let summary = change(
            Kind::Dataplane,
            "backend-1",
            state.get(Kind::Dataplane, "backend-1").cloned(),
            Some(dp("backend-1", "db", &[])),
        );
        assert_eq!(affected(&state, &summary), ["backend-1", "other", "web"]);
    }

    #[test]
    fn policy_changes_concern_the_proxies_they_select_or_selected() {
        let mut state = mesh();
        let to_backend = resource(
            Kind::TrafficRoute,
            "to-backend",
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "backend"}}],
                   "conf": [{"weight": 100, "destination": {"service": "backend"}}]}),
        );
        // A new route to backend may select web (its only caller).
        let summary = change(
            Kind::TrafficRoute,
            "to-backend",
            None,
            Some(to_backend.clone()),
        );
        assert_eq!(affected(&state, &summary), ["web"]);
        // Once selected, deleting it concerns web again, and no one else.
        state.insert(to_backend.clone());
        let summary = change(Kind::TrafficRoute, "to-backend", Some(to_backend), None);
        assert_eq!(affected(&state, &summary), ["web"]);
        // A route whose sources select no caller of db concerns nobody.
        let elsewhere = resource(
            Kind::TrafficRoute,
            "from-web-to-db",
            json!({"sources": [{"match": {"service": "web"}}],
                   "destinations": [{"match": {"service": "db"}}],
                   "conf": [{"weight": 100, "destination": {"service": "db"}}]}),
        );
        let summary = change(Kind::TrafficRoute, "from-web-to-db", None, Some(elsewhere));
        assert_eq!(affected(&state, &summary), Vec::<String>::new());
        // A TrafficLog concerns the proxies with an outbound it selects; the Mesh everybody.
        let log = resource(
            Kind::TrafficLog,
            "l",
            json!({"sources": [{"match": {"service": "*"}}], "destinations": [{"match": {"service": "*"}}]}),
        );
        assert_eq!(
            affected(&state, &change(Kind::TrafficLog, "l", None, Some(log))),
            ["other", "web"]
        );
        let trace = resource(
            Kind::TrafficTrace,
            "t",
            json!({"selectors": [{"match": {"service": "db"}}]}),
        );
        assert_eq!(
            affected(&state, &change(Kind::TrafficTrace, "t", None, Some(trace))),
            ["db-1"]
        );
        let mesh = change(Kind::Mesh, "m", None, None);
        assert_eq!(affected(&state, &mesh).len(), 4);
    }

    #[test]
    fn every_policy_kind_concerns_proxies_and_other_kinds_none() {
        let mut state = mesh();
        let template = resource(
            Kind::ProxyTemplate,
            "t",
            json!({"selectors": [{"match": {"service": "web"}}],
                   "conf": {"imports": ["default-proxy"]}}),
        );
        // Created: web may be selected now.
        let summary = change(Kind::ProxyTemplate, "t", None, Some(template.clone()));
        assert_eq!(affected(&state, &summary), ["web"]);
        // Deleted: web had it selected.
        state.insert(template.clone());
        let summary = change(Kind::ProxyTemplate, "t", Some(template), None);
        assert_eq!(affected(&state, &summary), ["web"]);
        // An insight is no policy: it concerns no proxy, not even its own.
        let insight = resource(
            Kind::DataplaneInsight,
            "web",
            json!({"subscriptions": [{"id": "s", "controlPlaneInstanceId": "cp"}]}),
        );
        let summary = change(Kind::DataplaneInsight, "web", None, Some(insight));
        assert!(affected(&state, &summary).is_empty());
        for kind in Kind::ALL {
            let policy = matches!(
                kind,
                Kind::HealthCheck
                    | Kind::ProxyTemplate
                    | Kind::TrafficLog
                    | Kind::TrafficPermission
                    | Kind::TrafficRoute
                    | Kind::TrafficTrace
                    | Kind::FaultInjection
            );
            assert_eq!(kind.matcher().is_some(), policy, "{kind:?}");
        }
    }

    #[test]
    fn may_select_follows_each_matcher() {
        let web = match &dp("web", "web", &["backend"]).spec {
            Spec::Dataplane(s) => s.clone(),
            _ => unreachable!(),
        };
        let spec = |kind: Kind, v: Value| kind.decode(v).unwrap();
        let perm = |dst: &str| {
            spec(
                Kind::TrafficPermission,
                json!({"sources": [{"match": {"service": "*"}}], "destinations": [{"match": {"service": dst}}]}),
            )
        };
        assert!(may_select(&perm("web"), &web), "matcher C: by inbound");
        assert!(!may_select(&perm("backend"), &web));
        let trace = |sel: Value| spec(Kind::TrafficTrace, json!({"selectors": [{"match": sel}]}));
        assert!(
            may_select(&trace(json!({"service": "web"})), &web),
            "matcher A"
        );
        assert!(!may_select(&trace(json!({"service": "db"})), &web));
        let fault = |dst: &str| {
            spec(
                Kind::FaultInjection,
                json!({"sources": [{"match": {"service": "*", "protocol": "http"}}],
                       "destinations": [{"match": {"service": dst, "protocol": "http"}}],
                       "conf": {"abort": {"percentage": 100, "httpStatus": 503}}}),
            )
        };
        assert!(
            !may_select(&fault("web"), &web),
            "web's inbound is not http"
        );
        assert!(!may_select(&fault("backend"), &web));
        let any_protocol = spec(
            Kind::FaultInjection,
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "web"}}]}),
        );
        assert!(may_select(&any_protocol, &web), "matcher C: by inbound");
        // A HealthCheck's destination may be any service a route sends to: sources decide.
        let health = |src: &str| {
            spec(
                Kind::HealthCheck,
                json!({"sources": [{"match": {"service": src}}],
                       "destinations": [{"match": {"service": "elsewhere"}}],
                       "conf": {"passiveChecks": {"unhealthyThreshold": 3, "penaltyInterval": "5s"}}}),
            )
        };
        assert!(may_select(&health("web"), &web));
        assert!(!may_select(&health("db"), &web));
        assert!(!may_select(&Spec::empty(Kind::Mesh), &web));
    }
}
