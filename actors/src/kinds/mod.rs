//! Every resource kind of Kuma's API. Each kind is one module holding its spec type and its
//! validation; this module ties them together in [`Kind`] and [`Spec`], generated from one table
//! so that adding a kind means one module and one line here.

pub mod dataplane;
pub mod fault_injection;
pub mod health_check;
pub mod insight;
pub mod mesh;
pub mod proxy_template;
pub mod traffic_log;
pub mod traffic_permission;
pub mod traffic_route;
pub mod traffic_trace;

use serde::{Serialize, Serializer};

use crate::proto;
use crate::validation::Violations;

macro_rules! kinds {
    ($($variant:ident($ty:ty) = $type_name:literal, $segment:literal, $class:ident, $owner:expr;)*) => {
        /// A resource kind.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind {
            $(
                #[doc = concat!("`", $type_name, "`")]
                $variant,
            )*
        }

        impl Kind {
            /// Every kind, in a stable order.
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            /// The `type` string of the kind on the wire, e.g. `TrafficRoute`.
            pub fn type_name(self) -> &'static str {
                match self { $(Kind::$variant => $type_name),* }
            }

            /// The collection's path segment, e.g. `traffic-routes`.
            pub fn segment(self) -> &'static str {
                match self { $(Kind::$variant => $segment),* }
            }

            /// The kind whose wire `type` is `name`, e.g. `TrafficRoute`.
            pub fn from_type_name(name: &str) -> Option<Kind> {
                match name {
                    $($type_name => Some(Kind::$variant),)*
                    _ => None,
                }
            }

            /// The kind a resource of this kind belongs to and is deleted with (an insight
            /// belongs to its Dataplane, by name).
            pub fn owner(self) -> Option<Kind> {
                match self { $(Kind::$variant => $owner),* }
            }

            /// How a policy of this kind selects dataplanes; `None` for kinds that are not
            /// policies.
            pub fn matcher(self) -> Option<Matcher> {
                match self { $(Kind::$variant => kinds!(@matcher $class)),* }
            }

            /// The mesh-scoped kind whose collection segment is `segment`.
            pub fn from_segment(segment: &str) -> Option<Kind> {
                let kind = match segment {
                    $($segment => Kind::$variant,)*
                    _ => return None,
                };
                (kind != Kind::Mesh).then_some(kind)
            }

            /// Decodes this kind's spec from a JSON object (meta keys already removed). Every
            /// type error or unknown field becomes a violation with the JSON path of the value.
            pub fn decode(self, value: serde_json::Value) -> Result<Spec, Violations> {
                match self {
                    $(Kind::$variant => decode::<$ty>(value).map(Spec::$variant),)*
                }
            }

            /// Decodes a whole PUT body of this kind (meta keys and spec) in one pass; `None`
            /// when it is not a well-formed resource of the kind.
            pub(crate) fn decode_body(
                self,
                bytes: &[u8],
            ) -> Option<(crate::resource::BodyMeta, Spec)> {
                match self {
                    $(Kind::$variant => crate::resource::decode_body::<$ty>(bytes)
                        .map(|(meta, spec)| (meta, Spec::$variant(spec))),)*
                }
            }
        }

        /// The spec of a resource of any kind.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Spec {
            $(
                #[doc = concat!("Spec of a `", $type_name, "`.")]
                $variant($ty),
            )*
        }

        impl Spec {
            /// The kind of this spec.
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$variant(_) => Kind::$variant),* }
            }

            /// The kind's structural validation (§6 of the behaviour spec), every violation.
            pub fn validate(&self) -> Violations {
                match self { $(Spec::$variant(s) => s.validate()),* }
            }

            /// The empty spec of `kind`.
            pub fn empty(kind: Kind) -> Spec {
                match kind { $(Kind::$variant => Spec::$variant(<$ty>::default())),* }
            }

            /// The spec as a connection policy (`sources` and `destinations`), if it is one.
            pub fn as_connection_policy(&self) -> Option<&dyn ConnectionPolicy> {
                match self { $(Spec::$variant(s) => kinds!(@connection $class, s)),* }
            }

            /// The spec as a dataplane policy (`selectors`), if it is one.
            pub fn as_dataplane_policy(&self) -> Option<&dyn DataplanePolicy> {
                match self { $(Spec::$variant(s) => kinds!(@dataplane $class, s)),* }
            }
        }

        $(
            impl KindSpec for $ty {
                const KIND: Kind = Kind::$variant;

                fn of(spec: &Spec) -> Option<&Self> {
                    match spec {
                        Spec::$variant(s) => Some(s),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            }
        )*

        // A policy's class says which fields select dataplanes, so the table implements its
        // selection trait: every connection policy has `sources` and `destinations`, every
        // dataplane policy `selectors`.
        $(kinds!(@policy $class, $ty);)*

        impl Serialize for Spec {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Spec::$variant(spec) => spec.serialize(s)),* }
            }
        }
    };
    (@matcher resource) => { None };
    (@matcher outbound) => { Some(Matcher::Outbound) };
    (@matcher inbound) => { Some(Matcher::Inbound) };
    (@matcher dataplane) => { Some(Matcher::Dataplane) };
    (@connection outbound, $s:ident) => { Some($s as &dyn ConnectionPolicy) };
    (@connection inbound, $s:ident) => { Some($s as &dyn ConnectionPolicy) };
    (@connection $class:ident, $s:ident) => {{ let _ = $s; None }};
    (@dataplane dataplane, $s:ident) => { Some($s as &dyn DataplanePolicy) };
    (@dataplane $class:ident, $s:ident) => {{ let _ = $s; None }};
    (@policy resource, $ty:ty) => {};
    (@policy dataplane, $ty:ty) => {
        impl DataplanePolicy for $ty {
            fn selectors(&self) -> &[crate::selector::Selector] {
                &self.selectors
            }
        }
    };
    (@policy $class:ident, $ty:ty) => {
        impl ConnectionPolicy for $ty {
            fn sources(&self) -> &[crate::selector::Selector] {
                &self.sources
            }

            fn destinations(&self) -> &[crate::selector::Selector] {
                &self.destinations
            }
        }
    };
}

// The kinds: variant(spec type) = wire type, collection segment, policy class (how a policy
// selects dataplanes, or `resource`), owner (the kind it belongs to and is deleted with).
kinds! {
    Mesh(mesh::MeshSpec) = "Mesh", "meshes", resource, None;
    Dataplane(dataplane::DataplaneSpec) = "Dataplane", "dataplanes", resource, None;
    DataplaneInsight(insight::DataplaneInsightSpec) = "DataplaneInsight", "dataplane-insights", resource, Some(Kind::Dataplane);
    HealthCheck(health_check::HealthCheckSpec) = "HealthCheck", "health-checks", outbound, None;
    ProxyTemplate(proxy_template::ProxyTemplateSpec) = "ProxyTemplate", "proxytemplates", dataplane, None;
    TrafficLog(traffic_log::TrafficLogSpec) = "TrafficLog", "traffic-logs", outbound, None;
    TrafficPermission(traffic_permission::TrafficPermissionSpec) = "TrafficPermission", "traffic-permissions", inbound, None;
    TrafficRoute(traffic_route::TrafficRouteSpec) = "TrafficRoute", "traffic-routes", outbound, None;
    TrafficTrace(traffic_trace::TrafficTraceSpec) = "TrafficTrace", "traffic-traces", dataplane, None;
    FaultInjection(fault_injection::FaultInjectionSpec) = "FaultInjection", "fault-injections", inbound, None;
}

/// How a policy kind selects the dataplanes it applies to (xDS §3.0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Matcher A: `selectors` select the Dataplane (ProxyTemplate, TrafficTrace).
    Dataplane,
    /// Matcher B: `sources` select the Dataplane, `destinations` an outbound service
    /// (TrafficRoute, TrafficLog, HealthCheck).
    Outbound,
    /// Matcher C: `destinations` select an inbound (TrafficPermission, FaultInjection).
    Inbound,
}

/// A policy between services: who calls (`sources`) and who is called (`destinations`).
pub trait ConnectionPolicy {
    /// The calling side.
    fn sources(&self) -> &[crate::selector::Selector];
    /// The called side.
    fn destinations(&self) -> &[crate::selector::Selector];
}

/// A policy of dataplanes themselves, chosen by `selectors`.
pub trait DataplanePolicy {
    /// The dataplanes it selects.
    fn selectors(&self) -> &[crate::selector::Selector];
}

/// The spec type of one kind: typed access to a [`Spec`] without a match at each use.
pub trait KindSpec: Sized {
    /// Its kind.
    const KIND: Kind;
    /// `spec` as this type, when it is of this kind.
    fn of(spec: &Spec) -> Option<&Self>;
}

impl Kind {
    /// The kinds that belong to this one (deleted with it).
    pub fn owned(self) -> impl Iterator<Item = Kind> {
        Kind::ALL
            .iter()
            .copied()
            .filter(move |k| k.owner() == Some(self))
    }
}

/// A spec of a mesh-scoped kind (every kind but `Mesh`) that passed its kind's structural
/// validation: what a mesh actor accepts, so that validation runs on the request's thread,
/// never on the actor's, and a Mesh can never be written as a resource of a mesh.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshScopedSpec(Spec);

impl MeshScopedSpec {
    /// `spec`, if it is of a mesh-scoped kind and its kind's validation (§6) finds nothing
    /// wrong.
    pub fn new(spec: Spec) -> Result<MeshScopedSpec, Violations> {
        if spec.kind() == Kind::Mesh {
            let mut v = Violations::new();
            v.add("type", "a Mesh is not a resource of a mesh");
            return Err(v);
        }
        spec.validate().into_result()?;
        Ok(MeshScopedSpec(spec))
    }

    /// Its kind (never `Mesh`).
    pub fn kind(&self) -> Kind {
        self.0.kind()
    }

    /// The spec.
    pub fn spec(&self) -> &Spec {
        &self.0
    }

    /// The spec, to be stored.
    pub fn into_inner(self) -> Spec {
        self.0
    }
}

impl Kind {
    /// The kinds that live in a mesh (every kind but `Mesh`).
    pub fn mesh_scoped() -> impl Iterator<Item = Kind> {
        Kind::ALL.iter().copied().filter(|k| *k != Kind::Mesh)
    }

    /// Position of the kind in [`Kind::ALL`], for per-kind tables.
    pub fn index(self) -> usize {
        self as usize
    }
}

fn decode<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, Violations> {
    serde_path_to_error::deserialize(proto::json::Decoder::new(value)).map_err(|err| {
        let field = render_path(err.path());
        let message = clean_message(&err.inner().to_string());
        Violations::single(
            if field.is_empty() {
                "body".into()
            } else {
                field
            },
            message,
        )
    })
}

/// Renders a serde path the way Kuma names fields: `a.b[0].c`, map keys that are not plain
/// identifiers as `["key"]`.
fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    // Fields whose value is a `map<string,string>`: a key below them is a tag, which Kuma
    // writes `tags["service"]` (serde cannot tell a map key from a field name).
    const TAG_MAPS: [&str; 3] = ["tags", "match", "destination"];
    let mut out = String::new();
    let mut in_tag_map = false;
    for segment in path.iter() {
        let below_tag_map = std::mem::take(&mut in_tag_map);
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                in_tag_map = !below_tag_map && TAG_MAPS.contains(&key.as_str());
                let plain = !below_tag_map
                    && key
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                } else {
                    out.push_str(&format!("[{}]", crate::validation::go_quote(key)));
                }
            }
            Segment::Enum { variant } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(variant);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// serde's messages name Rust types; reword the ones a user sees most in proto terms.
fn clean_message(msg: &str) -> String {
    msg.replace("a sequence", "an array")
        .replace("expected a map", "expected an object")
        .replace("struct ", "object ")
        .replace("invalid type: map", "invalid type: object")
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn relations_of_the_kinds_table() {
        for kind in Kind::ALL {
            assert_eq!(Kind::from_type_name(kind.type_name()), Some(*kind));
            let spec = Spec::empty(*kind);
            // A policy's class and its typed access agree.
            match kind.matcher() {
                Some(Matcher::Dataplane) => assert!(spec.as_dataplane_policy().is_some()),
                Some(_) => assert!(spec.as_connection_policy().is_some(), "{kind:?}"),
                None => assert!(
                    spec.as_connection_policy().is_none() && spec.as_dataplane_policy().is_none()
                ),
            }
        }
        assert_eq!(Kind::from_type_name("Nope"), None);
        assert_eq!(Kind::DataplaneInsight.owner(), Some(Kind::Dataplane));
        assert_eq!(
            Kind::Dataplane.owned().collect::<Vec<_>>(),
            [Kind::DataplaneInsight]
        );
        assert_eq!(Kind::TrafficRoute.owned().count(), 0);
        assert_eq!(Kind::TrafficPermission.matcher(), Some(Matcher::Inbound));
        assert_eq!(Kind::HealthCheck.matcher(), Some(Matcher::Outbound));
        let route = Spec::empty(Kind::TrafficRoute);
        assert!(traffic_route::TrafficRouteSpec::of(&route).is_some());
        assert!(mesh::MeshSpec::of(&route).is_none());
    }

    #[test]
    fn a_mesh_is_not_a_mesh_scoped_spec() {
        let err = MeshScopedSpec::new(Spec::empty(Kind::Mesh)).unwrap_err();
        assert_eq!(err.causes[0].field, "type");
        assert_eq!(err.causes.len(), 1);
        // Other kinds are refused only for what their own validation finds.
        for kind in Kind::mesh_scoped() {
            let spec = Spec::empty(kind);
            let valid = spec.validate().is_empty();
            assert_eq!(MeshScopedSpec::new(spec).is_ok(), valid, "{kind:?}");
        }
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;

    #[test]
    fn decode_errors_name_the_json_path() {
        let field =
            |kind: Kind, v: serde_json::Value| kind.decode(v).unwrap_err().causes[0].field.clone();
        let dp =
            serde_json::json!({"networking": {"inbound": [{"port": 1, "tags": {"service": 5}}]}});
        assert_eq!(
            field(Kind::Dataplane, dp),
            "networking.inbound[0].tags[\"service\"]"
        );
        let dp = serde_json::json!({"networking": {"inbound": [{"port": "abc"}]}});
        assert_eq!(field(Kind::Dataplane, dp), "networking.inbound[0].port");
        let tr = serde_json::json!({"conf": [{"destination": {"version": ["v1"]}}]});
        assert_eq!(
            field(Kind::TrafficRoute, tr),
            "conf[0].destination[\"version\"]"
        );
        let hc = serde_json::json!({"sources": [{"match": {"a b": 1}}]});
        assert_eq!(field(Kind::HealthCheck, hc), "sources[0].match[\"a b\"]");
        let unknown = serde_json::json!({"networking": {"inbound": [{"prot": 1}]}});
        assert_eq!(
            field(Kind::Dataplane, unknown),
            "networking.inbound[0].prot"
        );
    }
}
