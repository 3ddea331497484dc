//! kumactl's command nouns (`meshes`, `traffic-route`, …), derived from the kinds table of
//! `ursa-actors` so that a new kind gets its CLI nouns without an edit here.

use ursa_actors::Kind;

/// Where kumactl spells a kind differently from its API path segment.
const KUMACTL_SPELLINGS: &[(Kind, &str)] = &[(Kind::HealthCheck, "healthchecks")];

/// Whether a noun names one resource or a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    /// `mesh`, `traffic-route`: takes a NAME.
    Singular,
    /// `meshes`, `traffic-routes`: lists.
    Plural,
}

/// The plural noun of a kind, as kumactl writes it (`healthchecks`, `traffic-routes`).
pub fn plural(kind: Kind) -> &'static str {
    KUMACTL_SPELLINGS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, s)| *s)
        .unwrap_or_else(|| kind.segment())
}

/// The singular noun of a kind (`mesh`, `healthcheck`, `traffic-route`).
pub fn singular(kind: Kind) -> String {
    singular_of(plural(kind))
}

/// English singular of the plural nouns the table holds: `meshes` → `mesh`,
/// `traffic-routes` → `traffic-route`.
fn singular_of(plural: &str) -> String {
    for suffix in ["shes", "ches", "sses", "xes"] {
        if plural.ends_with(suffix) {
            return plural[..plural.len() - 2].to_string();
        }
    }
    plural.strip_suffix('s').unwrap_or(plural).to_string()
}

/// The kind a noun names, and whether it was singular or plural. The API segment is accepted
/// as well where kumactl spells it differently (`health-checks`).
pub fn lookup(word: &str) -> Option<(Kind, Number)> {
    Kind::ALL.iter().copied().find_map(|kind| {
        if word == plural(kind) || word == kind.segment() {
            Some((kind, Number::Plural))
        } else if word == singular(kind) || word == singular_of(kind.segment()) {
            Some((kind, Number::Singular))
        } else {
            None
        }
    })
}

/// Every noun, plural then singular for each kind in table order (for help and completion).
pub fn all() -> Vec<String> {
    Kind::ALL
        .iter()
        .flat_map(|k| [plural(*k).to_string(), singular(*k)])
        .collect()
}

/// Every singular noun (what `delete` takes).
pub fn singulars() -> Vec<String> {
    Kind::ALL.iter().map(|k| singular(*k)).collect()
}

/// The kind whose wire `type` is `type_name`.
pub fn kind_of_type(type_name: &str) -> Option<Kind> {
    Kind::ALL
        .iter()
        .copied()
        .find(|k| k.type_name() == type_name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kumactl_spellings() {
        let expected = [
            (Kind::Mesh, "meshes", "mesh"),
            (Kind::Dataplane, "dataplanes", "dataplane"),
            (Kind::HealthCheck, "healthchecks", "healthcheck"),
            (Kind::ProxyTemplate, "proxytemplates", "proxytemplate"),
            (Kind::TrafficLog, "traffic-logs", "traffic-log"),
            (
                Kind::TrafficPermission,
                "traffic-permissions",
                "traffic-permission",
            ),
            (Kind::TrafficRoute, "traffic-routes", "traffic-route"),
            (Kind::TrafficTrace, "traffic-traces", "traffic-trace"),
            (Kind::FaultInjection, "fault-injections", "fault-injection"),
        ];
        for (kind, p, s) in expected {
            assert_eq!(plural(kind), p);
            assert_eq!(singular(kind), s);
            assert_eq!(lookup(p), Some((kind, Number::Plural)));
            assert_eq!(lookup(s), Some((kind, Number::Singular)));
        }
        assert_eq!(
            lookup("health-checks"),
            Some((Kind::HealthCheck, Number::Plural))
        );
        assert_eq!(lookup("secrets"), None);
        assert_eq!(kind_of_type("TrafficRoute"), Some(Kind::TrafficRoute));
    }
}
