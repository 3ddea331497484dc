//! Which policy applies where (xDS §3.0–3.1): tag-selector matching and ranking, the
//! three matchers Kuma uses (A: dataplane policies, B: outbound connection policies, C: inbound
//! connection policies) and the TrafficRoute chosen for each outbound service.
//!
//! Candidates are always taken in name order (the mesh actor's maps are sorted by name), which is
//! Kuma's stable sort by name; ties on rank go to the strictly later creation time, then stay
//! with the earlier name.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::traffic_route::{TrafficRouteSpec, WeightedDestination};
use crate::kinds::{ConnectionPolicy, DataplanePolicy};
use crate::proto::Tags;
use crate::resource::Resource;
use crate::selector::{MATCH_ALL, SERVICE_TAG};

/// Name Kuma gives the route synthesized when no TrafficRoute matches an outbound.
pub const IMPLICIT_ROUTE_NAME: &str = "(implicit default route)";

/// True when `tags` satisfy `selector`: every selector key is present with an equal value, or
/// with any value for `*`. The empty selector matches everything.
pub fn matches(selector: &Tags, tags: &Tags) -> bool {
    selector.iter().all(|(key, want)| {
        tags.get(key)
            .is_some_and(|have| want == MATCH_ALL || have == want)
    })
}

/// How specific a selector is; ordered by the total number of tags, then by exact tags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Rank {
    /// Tags with a concrete value.
    pub exact: usize,
    /// Tags with the value `*`.
    pub wildcard: usize,
}

impl Rank {
    /// The rank of `selector`.
    pub fn of(selector: &Tags) -> Rank {
        let wildcard = selector.values().filter(|v| *v == MATCH_ALL).count();
        Rank {
            exact: selector.len() - wildcard,
            wildcard,
        }
    }

    /// Both ranks added (a destination rank combined with the best source rank).
    pub fn combined_with(self, other: Rank) -> Rank {
        Rank {
            exact: self.exact + other.exact,
            wildcard: self.wildcard + other.wildcard,
        }
    }

    fn key(self) -> (usize, usize) {
        (self.exact + self.wildcard, self.exact)
    }
}

impl Ord for Rank {
    fn cmp(&self, other: &Rank) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Rank {
    fn partial_cmp(&self, other: &Rank) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The tag sets a Dataplane is matched by: each inbound's tags, then the gateway's.
pub fn tag_sets(dataplane: &DataplaneSpec) -> impl Iterator<Item = &Tags> {
    dataplane.networking.iter().flat_map(|n| {
        n.inbound
            .iter()
            .map(|i| &i.tags)
            .chain(n.gateway.iter().map(|g| &g.tags))
    })
}

/// True when any inbound or the gateway of `dataplane` satisfies `selector`.
pub fn dataplane_matches(dataplane: &DataplaneSpec, selector: &Tags) -> bool {
    tag_sets(dataplane).any(|tags| matches(selector, tags))
}

/// The union of the Dataplane's tags (inbounds and gateway), each key's values sorted and
/// de-duplicated.
pub fn dataplane_tags(dataplane: &DataplaneSpec) -> BTreeMap<&str, Vec<&str>> {
    let mut all: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for tags in tag_sets(dataplane) {
        for (k, v) in tags {
            all.entry(k).or_default().push(v);
        }
    }
    for values in all.values_mut() {
        values.sort_unstable();
        values.dedup();
    }
    all
}

/// The running winner of a ranked selection: a policy resource and its typed spec.
struct Best<'a, P> {
    policy: &'a Resource,
    spec: &'a P,
    rank: Rank,
}

impl<'a, P> Best<'a, P> {
    /// Offers a candidate (in name order): a better rank wins; an equal rank wins only with a
    /// strictly later creation time.
    fn offer(best: &mut Option<Best<'a, P>>, (policy, spec): (&'a Resource, &'a P), rank: Rank) {
        let wins = match best {
            None => true,
            Some(b) => match rank.cmp(&b.rank) {
                Ordering::Greater => true,
                Ordering::Equal => later(policy, b.policy),
                Ordering::Less => false,
            },
        };
        if wins {
            *best = Some(Best { policy, spec, rank });
        }
    }

    fn chosen(best: Option<Best<'a, P>>) -> Option<(&'a Resource, &'a P)> {
        best.map(|b| (b.policy, b.spec))
    }
}

fn later(a: &Resource, b: &Resource) -> bool {
    created(a) > created(b)
}

fn created(r: &Resource) -> DateTime<Utc> {
    r.meta.creation_time
}

/// A policy resource with its typed spec, as [`MeshState::typed`](crate::state::MeshState::typed)
/// yields them.
pub type Typed<'a, P> = (&'a Resource, &'a P);

/// Matcher A (ProxyTemplate, TrafficTrace): the one policy whose `selectors` select the
/// Dataplane best. A policy without selectors, or with an empty selector, matches with rank 0.
pub fn select_dataplane_policy<'a, P: DataplanePolicy>(
    policies: impl IntoIterator<Item = Typed<'a, P>>,
    dataplane: &DataplaneSpec,
) -> Option<Typed<'a, P>> {
    let mut best = None;
    for policy in policies {
        let selectors = policy.1.selectors();
        if selectors.is_empty() {
            Best::offer(&mut best, policy, Rank::default());
            continue;
        }
        for selector in selectors {
            if selector.match_.is_empty() {
                Best::offer(&mut best, policy, Rank::default());
            } else if dataplane_matches(dataplane, &selector.match_) {
                Best::offer(&mut best, policy, Rank::of(&selector.match_));
            }
        }
    }
    Best::chosen(best)
}

/// Matcher B (TrafficRoute, TrafficLog, HealthCheck): for each service in `services`, the policy
/// whose sources select the Dataplane and whose destinations select `{service: S}` best (rank =
/// destination rank + the policy's best source rank). Services without a policy are absent.
pub fn select_connection_policies<'a, P: ConnectionPolicy, S: AsRef<str>>(
    policies: impl IntoIterator<Item = Typed<'a, P>>,
    dataplane: &DataplaneSpec,
    services: &[S],
) -> BTreeMap<String, Typed<'a, P>> {
    let matched: Vec<(Typed<'a, P>, Rank)> = policies
        .into_iter()
        .filter_map(|policy| {
            policy
                .1
                .sources()
                .iter()
                .filter(|s| dataplane_matches(dataplane, &s.match_))
                .map(|s| Rank::of(&s.match_))
                .max()
                .map(|rank| (policy, rank))
        })
        .collect();
    let mut selected = BTreeMap::new();
    for service in services {
        let service = service.as_ref();
        let tags = Tags::from([(SERVICE_TAG.to_string(), service.to_string())]);
        let mut best = None;
        for &(policy, source_rank) in &matched {
            for destination in policy.1.destinations() {
                if matches(&destination.match_, &tags) {
                    let rank = Rank::of(&destination.match_).combined_with(source_rank);
                    Best::offer(&mut best, policy, rank);
                }
            }
        }
        if let Some(chosen) = Best::chosen(best) {
            selected.insert(service.to_string(), chosen);
        }
    }
    selected
}

/// Matcher C (TrafficPermission, FaultInjection): for each inbound (by its tags, in order), the
/// policy whose destinations select those tags best; `sources` play no part.
pub fn select_inbound_policies<'a, P: ConnectionPolicy>(
    policies: impl IntoIterator<Item = Typed<'a, P>>,
    inbounds: &[&Tags],
) -> Vec<Option<Typed<'a, P>>> {
    let policies: Vec<Typed<'a, P>> = policies.into_iter().collect();
    inbounds
        .iter()
        .map(|tags| {
            let mut best = None;
            for &policy in &policies {
                for destination in policy.1.destinations() {
                    if matches(&destination.match_, tags) {
                        Best::offer(&mut best, policy, Rank::of(&destination.match_));
                    }
                }
            }
            Best::chosen(best)
        })
        .collect()
}

/// The TrafficRoute applied to one outbound service.
#[derive(Clone, Debug, PartialEq)]
pub struct SelectedRoute<'a> {
    /// The TrafficRoute resource, `None` for the implicit default route.
    pub policy: Option<&'a Resource>,
    /// The weighted destinations of the route.
    pub conf: Cow<'a, [WeightedDestination]>,
}

impl SelectedRoute<'_> {
    /// The route's name (Kuma's `(implicit default route)` when none matched).
    pub fn name(&self) -> &str {
        self.policy
            .map_or(IMPLICIT_ROUTE_NAME, |p| p.meta.name.as_str())
    }
}

/// The implicit default route of `service`: all of its traffic to `{service: <service>}`.
pub fn implicit_route(service: &str) -> SelectedRoute<'static> {
    SelectedRoute {
        policy: None,
        conf: Cow::Owned(vec![WeightedDestination {
            weight: 100,
            destination: Tags::from([(SERVICE_TAG.to_string(), service.to_string())]),
        }]),
    }
}

/// The TrafficRoute of every service in `services` (matcher B over `routes`), or the implicit
/// default route where none matches.
pub fn select_traffic_routes<'a, S: AsRef<str>>(
    routes: impl IntoIterator<Item = Typed<'a, TrafficRouteSpec>>,
    dataplane: &DataplaneSpec,
    services: &[S],
) -> BTreeMap<String, SelectedRoute<'a>> {
    let selected = select_connection_policies(routes, dataplane, services);
    services
        .iter()
        .map(|service| {
            let service = service.as_ref();
            let route = match selected.get(service) {
                Some(&(policy, spec)) => SelectedRoute {
                    policy: Some(policy),
                    conf: Cow::Borrowed(&spec.conf[..]),
                },
                None => implicit_route(service),
            };
            (service.to_string(), route)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::kinds::{Kind, KindSpec, Spec};
    use chrono::TimeZone;
    use serde_json::json;

    /// The resources with their specs as `P`, as the mesh state yields them.
    fn typed<'a, P: KindSpec>(
        all: impl IntoIterator<Item = &'a Arc<Resource>>,
    ) -> Vec<Typed<'a, P>> {
        all.into_iter()
            .map(|r| (&**r, P::of(&r.spec).expect("a policy of the kind")))
            .collect()
    }

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn resource(kind: Kind, name: &str, secs: i64, spec: serde_json::Value) -> Arc<Resource> {
        let spec = kind.decode(spec).expect("valid spec");
        let at = Utc.timestamp_opt(1_600_000_000 + secs, 0).unwrap();
        Arc::new(Resource::new("default", name, spec, at))
    }

    fn dataplane(spec: serde_json::Value) -> DataplaneSpec {
        match Kind::Dataplane.decode(spec).expect("valid dataplane") {
            Spec::Dataplane(dp) => dp,
            _ => unreachable!(),
        }
    }

    fn web() -> DataplaneSpec {
        dataplane(json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 8080, "tags": {"service": "web", "version": "v1"}},
                        {"port": 9090, "tags": {"service": "web-admin"}}],
            "outbound": [{"port": 1, "service": "backend"}, {"port": 2, "service": "db"}]}}))
    }

    fn route(name: &str, secs: i64, src: serde_json::Value, dst: &str) -> Arc<Resource> {
        resource(
            Kind::TrafficRoute,
            name,
            secs,
            json!({"sources": [{"match": src}], "destinations": [{"match": {"service": dst}}],
                   "conf": [{"weight": 100, "destination": {"service": dst, "via": name}}]}),
        )
    }

    fn names<P>(map: &BTreeMap<String, Typed<'_, P>>) -> Vec<(String, String)> {
        map.iter()
            .map(|(s, (r, _))| (s.clone(), r.meta.name.clone()))
            .collect()
    }

    #[test]
    fn selector_matching() {
        let t = tags(&[("service", "web"), ("version", "v1")]);
        assert!(matches(&tags(&[]), &t));
        assert!(matches(&tags(&[("service", "web")]), &t));
        assert!(matches(&tags(&[("service", "*")]), &t));
        assert!(matches(&tags(&[("service", "*"), ("version", "v1")]), &t));
        assert!(!matches(
            &tags(&[("service", "web"), ("version", "v2")]),
            &t
        ));
        assert!(
            !matches(&tags(&[("zone", "*")]), &t),
            "* still requires the key"
        );
        assert!(!matches(&tags(&[("service", "*")]), &tags(&[])));
    }

    #[test]
    fn rank_counts_total_then_exact() {
        let wild2 = Rank::of(&tags(&[("service", "*"), ("version", "*")]));
        let exact1 = Rank::of(&tags(&[("service", "web")]));
        let mixed2 = Rank::of(&tags(&[("service", "web"), ("version", "*")]));
        assert_eq!(
            wild2,
            Rank {
                exact: 0,
                wildcard: 2
            }
        );
        assert!(wild2 > exact1, "more tags outrank fewer, even wildcards");
        assert!(mixed2 > wild2, "same total: more exact wins");
        assert_eq!(Rank::of(&tags(&[])), Rank::default());
        assert_eq!(
            exact1.combined_with(wild2),
            Rank {
                exact: 1,
                wildcard: 2
            }
        );
    }

    #[test]
    fn dataplane_matches_any_inbound_or_gateway() {
        let dp = web();
        assert!(dataplane_matches(&dp, &tags(&[("service", "web-admin")])));
        assert!(dataplane_matches(&dp, &tags(&[("version", "v1")])));
        assert!(!dataplane_matches(
            &dp,
            &tags(&[("service", "web-admin"), ("version", "v1")])
        ));
        let gw = dataplane(json!({"networking": {"address": "10.0.0.2",
            "gateway": {"tags": {"service": "edge"}}}}));
        assert!(dataplane_matches(&gw, &tags(&[("service", "edge")])));
        assert!(!dataplane_matches(&DataplaneSpec::default(), &tags(&[])));
    }

    #[test]
    fn dataplane_tags_are_a_sorted_union() {
        let dp = dataplane(json!({"networking": {"address": "10.0.0.1", "inbound": [
            {"port": 1, "tags": {"service": "web", "version": "v2"}},
            {"port": 2, "tags": {"service": "api", "version": "v2"}}]}}));
        let all = dataplane_tags(&dp);
        assert_eq!(all["service"], vec!["api", "web"]);
        assert_eq!(all["version"], vec!["v2"]);
    }

    #[test]
    fn matcher_a_best_rank_then_later_creation_then_name() {
        let trace = |name: &str, secs: i64, sel: serde_json::Value| {
            resource(
                Kind::TrafficTrace,
                name,
                secs,
                json!({"selectors": [{"match": sel}]}),
            )
        };
        let dp = web();
        let all = [
            trace("a", 0, json!({"service": "*"})),
            trace("b", 0, json!({"service": "web", "version": "v1"})),
            trace("c", 0, json!({"service": "other"})),
        ];
        assert_eq!(
            select_dataplane_policy(
                typed::<crate::kinds::traffic_trace::TrafficTraceSpec>(&all),
                &dp
            )
            .unwrap()
            .0
            .meta
            .name,
            "b"
        );
        // Equal rank: the strictly later creation time wins, else the first name stays.
        let tied = [
            trace("a", 5, json!({"service": "web"})),
            trace("b", 9, json!({"service": "web"})),
            trace("c", 9, json!({"service": "web"})),
        ];
        assert_eq!(
            select_dataplane_policy(
                typed::<crate::kinds::traffic_trace::TrafficTraceSpec>(&tied),
                &dp
            )
            .unwrap()
            .0
            .meta
            .name,
            "b"
        );
        let none = [trace("x", 0, json!({"service": "other"}))];
        assert!(select_dataplane_policy(
            typed::<crate::kinds::traffic_trace::TrafficTraceSpec>(&none),
            &dp
        )
        .is_none());
        let template = resource(
            Kind::ProxyTemplate,
            "t",
            0,
            json!({"conf": {"imports": ["default-proxy"]}}),
        );
        assert_eq!(
            select_dataplane_policy(
                typed::<crate::kinds::proxy_template::ProxyTemplateSpec>([&template]),
                &dp
            )
            .unwrap()
            .0
            .meta
            .name,
            "t",
            "no selectors match with rank 0"
        );
    }

    #[test]
    fn matcher_b_ranks_destination_plus_source() {
        let dp = web();
        let all = [
            route("any", 0, json!({"service": "*"}), "backend"),
            route("exact", 0, json!({"service": "web"}), "backend"),
            route(
                "two",
                0,
                json!({"service": "web", "version": "*"}),
                "backend",
            ),
            route("other-src", 0, json!({"service": "mobile"}), "db"),
            route("db", 0, json!({"service": "*"}), "db"),
        ];
        let got = select_connection_policies(
            typed::<TrafficRouteSpec>(&all),
            &dp,
            &["backend", "db", "nothing"],
        );
        assert_eq!(
            names(&got),
            vec![("backend".into(), "two".into()), ("db".into(), "db".into())]
        );
    }

    #[test]
    fn matcher_b_wildcard_destination_and_ties() {
        let dp = web();
        let wildcard = resource(
            Kind::TrafficRoute,
            "wild",
            0,
            json!({"sources": [{"match": {"service": "*"}}],
                   "destinations": [{"match": {"service": "*"}}],
                   "conf": [{"weight": 1, "destination": {"service": "x"}}]}),
        );
        let all = [
            wildcard,
            route("z-later", 10, json!({"service": "web"}), "backend"),
            route("a-early", 5, json!({"service": "web"}), "backend"),
            route("m-same", 10, json!({"service": "web"}), "backend"),
        ];
        let sorted: BTreeMap<String, Arc<Resource>> = all
            .iter()
            .map(|r| (r.meta.name.clone(), r.clone()))
            .collect();
        let got = select_connection_policies(
            typed::<TrafficRouteSpec>(sorted.values()),
            &dp,
            &["backend", "db"],
        );
        // backend: z-later and m-same tie on rank and time; m-same comes first by name.
        assert_eq!(
            names(&got),
            vec![
                ("backend".into(), "m-same".into()),
                ("db".into(), "wild".into())
            ]
        );
    }

    #[test]
    fn matcher_c_per_inbound_by_destinations() {
        let perm = |name: &str, secs: i64, dst: serde_json::Value| {
            resource(
                Kind::TrafficPermission,
                name,
                secs,
                json!({"sources": [{"match": {"service": "nobody"}}],
                       "destinations": [{"match": dst}]}),
            )
        };
        let all = [
            perm("all", 0, json!({"service": "*"})),
            perm("web-v1", 0, json!({"service": "web", "version": "v1"})),
            perm("web", 0, json!({"service": "web"})),
        ];
        let a = tags(&[("service", "web"), ("version", "v1")]);
        let b = tags(&[("service", "web-admin")]);
        let c = tags(&[("zone", "x")]);
        let got: Vec<Option<&str>> = select_inbound_policies(
            typed::<crate::kinds::traffic_permission::TrafficPermissionSpec>(&all),
            &[&a, &b, &c],
        )
        .into_iter()
        .map(|p| p.map(|(p, _)| p.meta.name.as_str()))
        .collect();
        assert_eq!(got, vec![Some("web-v1"), Some("all"), None]);
    }

    #[test]
    fn traffic_routes_fall_back_to_the_implicit_default() {
        let dp = web();
        let all = [route("to-backend", 0, json!({"service": "web"}), "backend")];
        let got = select_traffic_routes(typed::<TrafficRouteSpec>(&all), &dp, &["backend", "db"]);
        assert_eq!(got["backend"].name(), "to-backend");
        assert_eq!(got["backend"].conf[0].destination["via"], "to-backend");
        assert_eq!(got["db"].name(), IMPLICIT_ROUTE_NAME);
        assert_eq!(got["db"], implicit_route("db"));
        assert_eq!(got["db"].conf[0].weight, 100);
        assert_eq!(got["db"].conf[0].destination, tags(&[("service", "db")]));
    }
}
