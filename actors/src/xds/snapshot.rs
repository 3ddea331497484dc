//! What the mesh actor publishes to xDS streams: an immutable [`XdsSnapshot`] of the mesh
//! (its state and endpoint index) with the summaries of the changes that led to it, so each
//! stream can tell whether a change concerns its proxy without looking at the whole mesh.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;

use crate::kinds::{Kind, Spec};
use crate::resource::Resource;
use crate::state::MeshState;

use super::endpoints::EndpointIndex;

/// Summaries kept in a snapshot; a stream further behind regenerates without looking.
pub const RECENT_SUMMARIES: usize = 64;

/// One changed resource of a batch: its state before and after (`None`: absent).
#[derive(Clone, Debug)]
pub struct Changed {
    /// Its kind.
    pub kind: Kind,
    /// Its name.
    pub name: String,
    /// Before the change.
    pub before: Option<Arc<Resource>>,
    /// After the change.
    pub after: Option<Arc<Resource>>,
}

/// What changed between two published snapshots (insights never count: they are not
/// configuration).
#[derive(Clone, Debug, Default)]
pub struct ChangeSummary {
    /// The snapshot this summary leads to.
    pub version: u64,
    /// The Mesh resource itself changed: every proxy is concerned.
    pub mesh: bool,
    /// The resources that changed, in the order they changed (a key at most once: its first
    /// `before` and its last `after`).
    pub changes: Vec<Changed>,
    /// Services whose endpoints may have changed (every service of a changed Dataplane,
    /// before and after).
    pub services: BTreeSet<String>,
    /// When the first change of the summary was committed (delivery times count from it).
    pub since: Option<std::time::Instant>,
}

impl ChangeSummary {
    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        !self.mesh && self.changes.is_empty()
    }

    /// Records a change of `kind`/`name` from `before` to `after`.
    pub fn record(
        &mut self,
        kind: Kind,
        name: &str,
        before: Option<Arc<Resource>>,
        after: Option<Arc<Resource>>,
    ) {
        if kind == Kind::DataplaneInsight {
            return;
        }
        self.since.get_or_insert_with(std::time::Instant::now);
        if kind == Kind::Mesh {
            self.mesh = true;
            return;
        }
        if kind == Kind::Dataplane {
            for r in before.iter().chain(after.iter()) {
                self.services
                    .extend(inbound_services(r).map(str::to_string));
            }
        }
        match self
            .changes
            .iter_mut()
            .find(|c| c.kind == kind && c.name == name)
        {
            Some(c) => c.after = after,
            None => self.changes.push(Changed {
                kind,
                name: name.to_string(),
                before,
                after,
            }),
        }
    }

    /// True when the Dataplane `name` changed.
    pub fn dataplane_changed(&self, name: &str) -> bool {
        self.changes
            .iter()
            .any(|c| c.kind == Kind::Dataplane && c.name == name)
    }

    /// True when some Dataplane or TrafficRoute changed (what the endpoint index is built of).
    pub fn touches_endpoints(&self) -> bool {
        self.changes
            .iter()
            .any(|c| matches!(c.kind, Kind::Dataplane | Kind::TrafficRoute))
    }
}

/// The `service` tag values of a Dataplane's inbounds.
pub fn inbound_services(r: &Resource) -> impl Iterator<Item = &str> {
    let inbounds = match &r.spec {
        Spec::Dataplane(dp) => dp.networking.as_ref().map(|n| n.inbound.as_slice()),
        _ => None,
    };
    inbounds
        .unwrap_or(&[])
        .iter()
        .filter_map(|i| i.tags.get(crate::selector::SERVICE_TAG))
        .map(String::as_str)
}

/// A mesh as xDS streams see it: published after each batch of configuration changes
/// (coalesced), read on the xDS runtime's threads.
#[derive(Clone, Debug)]
pub struct XdsSnapshot {
    /// Increases by one per published snapshot.
    pub version: u64,
    /// The mesh's resources.
    pub state: MeshState,
    /// Every service's endpoints and every route cluster's load assignment.
    pub endpoints: Arc<EndpointIndex>,
    /// The summaries of the most recent snapshots, oldest first, the last one leading to this.
    pub recent: Arc<VecDeque<Arc<ChangeSummary>>>,
}

impl XdsSnapshot {
    /// The first snapshot of a mesh.
    pub fn initial(state: MeshState) -> XdsSnapshot {
        let endpoints = Arc::new(EndpointIndex::build(&state));
        XdsSnapshot {
            version: 0,
            state,
            endpoints,
            recent: Arc::new(VecDeque::new()),
        }
    }

    /// A snapshot of `state` built from scratch, after this one: no stream can follow the
    /// changes in between (there were none to follow them), so it starts a new history.
    pub fn rebuilt(&self, state: MeshState) -> XdsSnapshot {
        XdsSnapshot {
            version: self.version + 1,
            ..XdsSnapshot::initial(state)
        }
    }

    /// The snapshot after `summary` (whose changes `state` already holds).
    pub fn next(&self, state: MeshState, mut summary: ChangeSummary) -> XdsSnapshot {
        let version = self.version + 1;
        summary.version = version;
        let endpoints = if summary.touches_endpoints() {
            Arc::new(self.endpoints.update(&state, &summary))
        } else {
            self.endpoints.clone()
        };
        let mut recent = (*self.recent).clone();
        recent.push_back(Arc::new(summary));
        while recent.len() > RECENT_SUMMARIES {
            recent.pop_front();
        }
        XdsSnapshot {
            version,
            state,
            endpoints,
            recent: Arc::new(recent),
        }
    }

    /// The summaries of every change after snapshot `version`, oldest first; `None` when some
    /// of them are no longer kept.
    pub fn changes_since(&self, version: u64) -> Option<impl Iterator<Item = &ChangeSummary>> {
        let oldest = self.recent.front().map_or(self.version + 1, |s| s.version);
        if version < self.version && oldest > version + 1 {
            return None;
        }
        Some(
            self.recent
                .iter()
                .filter(move |s| s.version > version)
                .map(|s| &**s),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use serde_json::json;

    fn dp(name: &str, service: &str) -> Arc<Resource> {
        let spec = Kind::Dataplane
            .decode(json!({"networking": {"address": "10.0.0.1",
                "inbound": [{"port": 1, "tags": {"service": service}}]}}))
            .unwrap();
        Arc::new(Resource::new("m", name, spec, Utc::now()))
    }

    #[test]
    fn a_summary_names_what_changed_once_and_the_services_a_dataplane_touched() {
        let mut s = ChangeSummary::default();
        assert!(s.is_empty());
        let v1 = dp("a", "web");
        let v2 = dp("a", "api");
        s.record(Kind::Dataplane, "a", None, Some(v1.clone()));
        s.record(Kind::Dataplane, "a", Some(v1.clone()), Some(v2.clone()));
        s.record(Kind::DataplaneInsight, "a", None, None);
        assert_eq!(s.changes.len(), 1, "one entry per key");
        assert!(s.changes[0].before.is_none());
        assert!(Arc::ptr_eq(s.changes[0].after.as_ref().unwrap(), &v2));
        assert_eq!(s.services.iter().collect::<Vec<_>>(), ["api", "web"]);
        assert!(s.dataplane_changed("a") && !s.dataplane_changed("b"));
        assert!(s.touches_endpoints() && !s.mesh);
        let mut m = ChangeSummary::default();
        m.record(Kind::Mesh, "m", None, None);
        assert!(m.mesh && !m.touches_endpoints() && !m.is_empty());
    }

    #[test]
    fn snapshots_keep_recent_summaries_and_say_when_a_stream_fell_behind() {
        let mesh = Arc::new(Resource::new("m", "m", Spec::empty(Kind::Mesh), Utc::now()));
        let mut snap = XdsSnapshot::initial(MeshState::new(mesh, []));
        assert_eq!(snap.changes_since(0).unwrap().count(), 0);
        for i in 0..(RECENT_SUMMARIES as u64 + 10) {
            let mut summary = ChangeSummary::default();
            summary.record(Kind::TrafficTrace, &format!("t{i}"), None, None);
            snap = snap.next(snap.state.clone(), summary);
        }
        let last = snap.version;
        assert_eq!(last, RECENT_SUMMARIES as u64 + 10);
        let versions: Vec<u64> = snap
            .changes_since(last - 3)
            .unwrap()
            .map(|s| s.version)
            .collect();
        assert_eq!(versions, vec![last - 2, last - 1, last]);
        assert!(snap.changes_since(last - RECENT_SUMMARIES as u64).is_some());
        assert!(snap.changes_since(1).is_none(), "older summaries are gone");
        assert_eq!(snap.changes_since(last).unwrap().count(), 0);
    }
}
