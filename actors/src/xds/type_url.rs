//! The xDS resource types Ursa serves: every type URL lives here, with the order a change is
//! pushed in and [`PerType`], a value per type indexed by [`TypeUrl`].

use std::ops::{Index, IndexMut};

/// One xDS v3 resource type, ordered as [`TypeUrl::ALL`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TypeUrl {
    /// Secrets (SDS over ADS, X6): the proxy's identity and the mesh CA.
    Secret,
    /// Clusters (CDS).
    Cluster,
    /// Endpoints (EDS).
    Endpoint,
    /// Listeners (LDS).
    Listener,
    /// Route configurations (RDS).
    Route,
}

impl TypeUrl {
    /// Every type in the order a change is pushed: secrets before clusters before endpoints
    /// before listeners before routes, so Envoy never sees a reference to something it has not
    /// got.
    pub const ALL: [TypeUrl; 5] = [
        TypeUrl::Secret,
        TypeUrl::Cluster,
        TypeUrl::Endpoint,
        TypeUrl::Listener,
        TypeUrl::Route,
    ];

    /// The type URL on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            TypeUrl::Secret => {
                "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"
            }
            TypeUrl::Cluster => "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            TypeUrl::Endpoint => {
                "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
            }
            TypeUrl::Listener => "type.googleapis.com/envoy.config.listener.v3.Listener",
            TypeUrl::Route => "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        }
    }

    /// The short name, as in insights and metric labels (`sds`, `cds`, `eds`, `lds`, `rds`).
    pub const fn short(self) -> &'static str {
        match self {
            TypeUrl::Secret => "sds",
            TypeUrl::Cluster => "cds",
            TypeUrl::Endpoint => "eds",
            TypeUrl::Listener => "lds",
            TypeUrl::Route => "rds",
        }
    }

    /// The type a request names, if Ursa serves it.
    pub fn parse(url: &str) -> Option<TypeUrl> {
        TypeUrl::ALL.into_iter().find(|t| t.as_str() == url)
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// One value per resource type.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerType<T>([T; 5]);

impl<T> PerType<T> {
    /// The value of each type, from `f`.
    pub fn from_fn(mut f: impl FnMut(TypeUrl) -> T) -> PerType<T> {
        PerType(TypeUrl::ALL.map(&mut f))
    }

    /// Each type with its value, in push order.
    pub fn iter(&self) -> impl Iterator<Item = (TypeUrl, &T)> {
        TypeUrl::ALL.into_iter().zip(self.0.iter())
    }
}

impl<T> Index<TypeUrl> for PerType<T> {
    type Output = T;

    fn index(&self, t: TypeUrl) -> &T {
        &self.0[t.slot()]
    }
}

impl<T> IndexMut<TypeUrl> for PerType<T> {
    fn index_mut(&mut self, t: TypeUrl) -> &mut T {
        &mut self.0[t.slot()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_name_envoys_messages_and_parse_back() {
        for t in TypeUrl::ALL {
            let (prefix, name) = t.as_str().split_once('/').expect("a type URL");
            assert_eq!(prefix, "type.googleapis.com");
            assert!(
                crate::xds::raw::descriptors()
                    .get_message_by_name(name)
                    .is_some(),
                "{name} is one of Envoy's messages"
            );
            assert_eq!(TypeUrl::parse(t.as_str()), Some(t));
        }
        assert_eq!(TypeUrl::parse("type.googleapis.com/x"), None);
        let mut per = PerType::from_fn(|t| t.as_str().len());
        per[TypeUrl::Route] = 0;
        assert_eq!(per.iter().map(|(t, _)| t).collect::<Vec<_>>(), TypeUrl::ALL);
        assert_eq!(per[TypeUrl::Route], 0);
    }
}
