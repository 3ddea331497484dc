//! `DataplaneOverview`: a Dataplane together with its insight, and the filters of the
//! `dataplanes+insights` lists.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::kinds::dataplane::DataplaneSpec;
use crate::kinds::insight::DataplaneInsightSpec;
use crate::kinds::Spec;
use crate::page::Ordered;
use crate::resource::{Envelope, Resource};

/// A Dataplane and its insight (if it ever reported one).
#[derive(Clone, Debug)]
pub struct Overview {
    /// The Dataplane resource.
    pub dataplane: Arc<Resource>,
    /// Its DataplaneInsight resource.
    pub insight: Option<Arc<Resource>>,
}

static EMPTY_INSIGHT: DataplaneInsightSpec = DataplaneInsightSpec {
    subscriptions: Vec::new(),
    mtls: None,
};

#[derive(Serialize)]
struct OverviewSpec<'a> {
    dataplane: &'a Spec,
    #[serde(rename = "dataplaneInsight")]
    dataplane_insight: &'a DataplaneInsightSpec,
}

impl Serialize for Overview {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let insight = match self.insight.as_deref().map(|r| &r.spec) {
            Some(Spec::DataplaneInsight(i)) => i,
            _ => &EMPTY_INSIGHT,
        };
        let spec = OverviewSpec {
            dataplane: &self.dataplane.spec,
            dataplane_insight: insight,
        };
        Envelope::new("DataplaneOverview", &self.dataplane.meta, &spec, false).serialize(s)
    }
}

impl Ordered for Overview {
    fn order_key(&self) -> (&str, &str) {
        self.dataplane.order_key()
    }
}

/// Filters of the overview lists (D5): tags, gateway-only, name substring.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OverviewFilter {
    /// Required tags (`*` = any value); a later duplicate key overrides an earlier one.
    pub tags: Vec<(String, String)>,
    /// Keep only gateway dataplanes.
    pub gateway: bool,
    /// Keep only names containing this.
    pub name: Option<String>,
}

impl OverviewFilter {
    /// Builds the filter from raw `tag=k:v` values (entries that are not exactly `k:v` are
    /// ignored, as Kuma does), the `gateway` value and the `name` value.
    pub fn from_query(
        tags: &[String],
        gateway: Option<&str>,
        name: Option<&str>,
    ) -> OverviewFilter {
        let mut parsed: Vec<(String, String)> = Vec::new();
        for tag in tags {
            let parts: Vec<&str> = tag.split(':').collect();
            if let [k, v] = parts[..] {
                parsed.retain(|(key, _)| key != k);
                parsed.push((k.to_string(), v.to_string()));
            }
        }
        OverviewFilter {
            tags: parsed,
            gateway: gateway == Some("true"),
            name: name.filter(|n| !n.is_empty()).map(str::to_string),
        }
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty() && !self.gateway && self.name.is_none()
    }

    /// Whether the dataplane named `name` with `spec` passes the filter.
    pub fn matches(&self, name: &str, spec: &DataplaneSpec) -> bool {
        if let Some(want) = &self.name {
            if !name.contains(want.as_str()) {
                return false;
            }
        }
        let Some(net) = &spec.networking else {
            return self.tags.is_empty() && !self.gateway;
        };
        if self.gateway && net.gateway.is_none() {
            return false;
        }
        if self.tags.is_empty() {
            return true;
        }
        let has_all = |tags: &crate::proto::Tags| {
            self.tags
                .iter()
                .all(|(k, v)| tags.get(k).is_some_and(|actual| v == "*" || actual == v))
        };
        net.inbound.iter().any(|i| has_all(&i.tags))
            || net.gateway.as_ref().is_some_and(|g| has_all(&g.tags))
    }
}
