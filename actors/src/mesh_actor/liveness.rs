//! The subscriptions of control-plane instances in the insights of a mesh shared through a
//! store (X13). A surviving instance stamps `disconnectTime` on the subscriptions that a dead
//! one left open, through the same write path as every insight write; and an instance's own
//! subscriptions are its own to write: a state of an insight read from the store (written by
//! another instance, which may have stamped or not yet seen them) never drops or rolls back
//! the subscriptions of this instance's streams.

use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::oneshot;

use super::{MeshActor, MAX_SUBSCRIPTIONS};
use crate::kinds::insight::DataplaneInsightSpec;
use crate::kinds::{Kind, Spec};
use crate::proto::Timestamp;
use crate::resource::Resource;

/// Disconnect the open subscriptions of the streams `instance` served: its lease expired.
/// Answers true once every subscription of `instance` in the mesh is stamped in the store (as
/// far as this actor knows); false when some write failed or had to wait, for the next sweep.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct DisconnectInstance {
    /// The dead instance's id (`controlPlaneInstanceId`).
    pub instance: String,
}

fn insight_spec(r: &Resource) -> Option<&DataplaneInsightSpec> {
    match &r.spec {
        Spec::DataplaneInsight(spec) => Some(spec),
        _ => None,
    }
}

impl MeshActor {
    /// Stamps `at` as the disconnect time of `instance`'s open subscriptions in the insight
    /// of `name`; true when there were any.
    fn stamp_disconnected(&mut self, name: &str, instance: &str, at: Timestamp) -> bool {
        let Some(current) = self.of(Kind::DataplaneInsight).get(name) else {
            return false;
        };
        let Some(spec) = insight_spec(current) else {
            return false;
        };
        let open = |s: &crate::kinds::insight::Subscription| {
            s.control_plane_instance_id == instance && s.disconnect_time.is_none()
        };
        if !spec.subscriptions.iter().any(open) {
            return false;
        }
        let mut spec = spec.clone();
        for sub in spec.subscriptions.iter_mut().filter(|s| open(s)) {
            sub.disconnect_time = Some(at);
        }
        let mut stamped = (**current).clone();
        stamped.spec = Spec::DataplaneInsight(spec);
        stamped.meta.modification_time = crate::resource::now();
        self.state.insert(Arc::new(stamped));
        self.publish_reads();
        true
    }

    /// `remote`, a stored state of the insight of `name`, with this instance's own
    /// subscriptions as this actor knows them: each replaces its stored copy, and one still
    /// connected that the store lacks is added. True when that differs from `remote` (then the
    /// result is to be written back).
    pub(super) fn with_own_subscriptions(
        &self,
        name: &str,
        remote: Arc<Resource>,
    ) -> (Arc<Resource>, bool) {
        let me = &*self.settings.instance_id;
        let local = self
            .of(Kind::DataplaneInsight)
            .get(name)
            .and_then(|r| insight_spec(r));
        let (Some(local), Some(stored)) = (local, insight_spec(&remote)) else {
            return (remote, false);
        };
        if me.is_empty() {
            return (remote, false);
        }
        let mut spec = stored.clone();
        let mut changed = false;
        for own in local
            .subscriptions
            .iter()
            .filter(|s| s.control_plane_instance_id == me)
        {
            match spec.subscriptions.iter_mut().find(|s| s.id == own.id) {
                Some(slot) if slot != own => {
                    *slot = own.clone();
                    changed = true;
                }
                Some(_) => {}
                // A disconnected one the store no longer has was trimmed from the history.
                None if own.disconnect_time.is_none() => {
                    spec.subscriptions.push(own.clone());
                    changed = true;
                }
                None => {}
            }
        }
        if !changed {
            return (remote, false);
        }
        if spec.subscriptions.len() > MAX_SUBSCRIPTIONS {
            let excess = spec.subscriptions.len() - MAX_SUBSCRIPTIONS;
            spec.subscriptions.drain(..excess);
        }
        let mut merged = (*remote).clone();
        merged.spec = Spec::DataplaneInsight(spec);
        (Arc::new(merged), true)
    }
}

impl Handler<DisconnectInstance> for MeshActor {
    // Replies once the stamped insights are stored: the sweep forgets the dead instance's
    // lease only then.
    type Result = ResponseFuture<bool>;

    fn handle(&mut self, msg: DisconnectInstance, ctx: &mut Self::Context) -> Self::Result {
        let at = Timestamp::now();
        let names: Vec<String> = self
            .of(Kind::DataplaneInsight)
            .iter()
            .filter(|(_, r)| {
                insight_spec(r).is_some_and(|s| {
                    s.subscriptions
                        .iter()
                        .any(|sub| sub.control_plane_instance_id == msg.instance)
                })
            })
            .map(|(name, _)| name.clone())
            .collect();
        let mut settled = true;
        let mut writes = Vec::new();
        for name in names {
            let stamped = self.stamp_disconnected(&name, &msg.instance, at);
            let unstored = stamped || self.dirty_insights.contains(&name);
            if self.has_pending(Kind::DataplaneInsight, &name) {
                // A write of it is on its way: the next flush writes the stamp after it.
                if unstored {
                    self.dirty_insights.insert(name);
                    settled = false;
                }
                continue;
            }
            if unstored {
                let (tx, rx) = oneshot::channel();
                self.write_insight(
                    ctx,
                    &name,
                    Box::new(move |_, r| {
                        let _ = tx.send(r.is_ok());
                    }),
                );
                writes.push(rx);
            }
        }
        if !writes.is_empty() {
            tracing::info!(
                mesh = %self.name(),
                instance = %msg.instance,
                dataplanes = writes.len(),
                "disconnected the subscriptions of a control-plane instance whose lease expired"
            );
        }
        Box::pin(async move {
            let mut all = settled;
            for stored in writes {
                all &= stored.await.unwrap_or(false);
            }
            all
        })
    }
}
