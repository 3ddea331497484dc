//! The mesh actor's connected proxies: each ADS stream subscribes to its Dataplane's
//! configuration (a `watch` channel, so a slow stream only ever sees the latest config), and
//! reports its subscription counters, which become the Dataplane's insight.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::MeshActor;
use crate::kinds::insight::{DataplaneInsightSpec, Subscription};
use crate::kinds::{Kind, Spec};
use crate::resource::Resource;
use crate::xds::{generate, EndpointIndex, MeshView, ProxyConfig};

/// How long a change waits for more changes before proxies are regenerated, so that a burst of
/// writes yields one push (X2).
const COALESCE: Duration = Duration::from_millis(10);

pub use crate::kinds::insight::MAX_SUBSCRIPTIONS;

/// The proxies of one Dataplane name: one config channel shared by all its streams.
pub(super) struct ProxyEntry {
    config: watch::Sender<Arc<ProxyConfig>>,
    /// Stream (subscription) ids currently connected.
    streams: Vec<String>,
}

/// Proxy bookkeeping of a mesh actor.
#[derive(Default)]
pub(super) struct Proxies {
    entries: HashMap<String, ProxyEntry>,
    /// Endpoints of the mesh, rebuilt lazily after a change.
    index: Option<Arc<EndpointIndex>>,
    /// The index before the last change: its unchanged endpoint lists are reused, so
    /// unchanged proxies compare equal by pointer and are not encoded again.
    previous: Option<Arc<EndpointIndex>>,
    regeneration_scheduled: bool,
}

impl MeshActor {
    fn view(&self) -> MeshView<'_> {
        MeshView {
            mesh: &self.mesh,
            resources: &self.resources,
        }
    }

    fn index(&mut self) -> Arc<EndpointIndex> {
        if let Some(index) = &self.proxies.index {
            return index.clone();
        }
        let index = Arc::new(match self.proxies.previous.take() {
            Some(previous) => EndpointIndex::rebuild(&self.view(), &previous),
            None => EndpointIndex::build(&self.view()),
        });
        self.proxies.index = Some(index.clone());
        index
    }

    fn config_of(&mut self, dataplane: &str) -> ProxyConfig {
        let index = self.index();
        match self.of(Kind::Dataplane).get(dataplane) {
            Some(dp) => generate(&self.view(), &index, dp),
            // No Dataplane (yet, or any more): an empty configuration, so a deleted Dataplane
            // loses its listeners and a new one gets them the moment it is created (X5).
            None => ProxyConfig::default(),
        }
    }

    /// Something the configuration depends on changed: regenerate every connected proxy soon.
    pub(super) fn mesh_changed(&mut self, ctx: &mut Context<Self>) {
        if let Some(index) = self.proxies.index.take() {
            self.proxies.previous = Some(index);
        }
        if self.proxies.entries.is_empty() || self.proxies.regeneration_scheduled {
            return;
        }
        self.proxies.regeneration_scheduled = true;
        ctx.run_later(COALESCE, |act, _| {
            act.proxies.regeneration_scheduled = false;
            act.regenerate();
        });
    }

    fn regenerate(&mut self) {
        let names: Vec<String> = self.proxies.entries.keys().cloned().collect();
        for name in names {
            let config = self.config_of(&name);
            if let Some(entry) = self.proxies.entries.get(&name) {
                // Nothing is pushed when the result is unchanged.
                entry.config.send_if_modified(|current| {
                    if **current == config {
                        false
                    } else {
                        *current = Arc::new(config);
                        true
                    }
                });
            }
        }
    }

    /// Records a stream's subscription in its Dataplane's insight (if the Dataplane exists).
    fn record(&mut self, dataplane: &str, subscription: Subscription) {
        if !self.of(Kind::Dataplane).contains_key(dataplane) {
            return;
        }
        let now = crate::resource::now();
        let existing = self.of(Kind::DataplaneInsight).get(dataplane).cloned();
        let mut spec = match existing.as_deref().map(|r| &r.spec) {
            Some(Spec::DataplaneInsight(s)) => s.clone(),
            _ => DataplaneInsightSpec::default(),
        };
        match spec
            .subscriptions
            .iter_mut()
            .find(|s| s.id == subscription.id)
        {
            Some(slot) => *slot = subscription,
            None => spec.subscriptions.push(subscription),
        }
        spec.keep_recent();
        // Proxies' updates change the insight in memory at once (the API shows them live) and
        // reach the store at most once per flush interval; the version stays the stored one.
        let resource = match &existing {
            Some(old) => Resource {
                meta: crate::resource::Meta {
                    modification_time: now,
                    ..old.meta.clone()
                },
                spec: Spec::DataplaneInsight(spec),
            },
            None => {
                let mut r =
                    Resource::new(self.name(), dataplane, Spec::DataplaneInsight(spec), now);
                // Version 0: not stored yet.
                r.meta.version = 0;
                r
            }
        };
        self.insert(Arc::new(resource));
        self.dirty_insights.insert(dataplane.to_string());
    }

    /// Current subscriptions of a Dataplane's connected streams, written into its insight when
    /// the Dataplane appears after its proxy connected.
    pub(super) fn dataplane_created(&mut self, dataplane: &str) {
        let Some(subs) = self.pending.remove(dataplane) else {
            return;
        };
        for sub in subs.into_values() {
            self.record(dataplane, sub);
        }
    }
}

/// An ADS stream of a Dataplane opened: start sending it configuration.
#[derive(Message)]
#[rtype(result = "watch::Receiver<Arc<ProxyConfig>>")]
pub struct SubscribeProxy {
    /// The Dataplane's name (from `node.id`).
    pub dataplane: String,
    /// The stream's subscription record (id, control-plane instance, connect time).
    pub subscription: Subscription,
}

impl Handler<SubscribeProxy> for MeshActor {
    type Result = MessageResult<SubscribeProxy>;

    fn handle(&mut self, msg: SubscribeProxy, _: &mut Self::Context) -> Self::Result {
        let id = msg.subscription.id.clone();
        let rx = match self.proxies.entries.get_mut(&msg.dataplane) {
            Some(entry) => {
                entry.streams.push(id);
                entry.config.subscribe()
            }
            None => {
                let config = Arc::new(self.config_of(&msg.dataplane));
                let (tx, rx) = watch::channel(config);
                self.proxies.entries.insert(
                    msg.dataplane.clone(),
                    ProxyEntry {
                        config: tx,
                        streams: vec![id],
                    },
                );
                rx
            }
        };
        self.report(msg.dataplane, msg.subscription);
        MessageResult(rx)
    }
}

impl MeshActor {
    fn report(&mut self, dataplane: String, subscription: Subscription) {
        if self.of(Kind::Dataplane).contains_key(&dataplane) {
            self.record(&dataplane, subscription);
        } else {
            self.pending
                .entry(dataplane)
                .or_default()
                .insert(subscription.id.clone(), subscription);
        }
    }
}

/// A stream's counters changed.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportSubscription {
    /// The Dataplane's name.
    pub dataplane: String,
    /// The subscription as it is now.
    pub subscription: Subscription,
}

impl Handler<ReportSubscription> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: ReportSubscription, _: &mut Self::Context) {
        self.report(msg.dataplane, msg.subscription);
    }
}

/// An ADS stream ended; its final subscription carries `disconnectTime`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct UnsubscribeProxy {
    /// The Dataplane's name.
    pub dataplane: String,
    /// The final subscription.
    pub subscription: Subscription,
}

impl Handler<UnsubscribeProxy> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: UnsubscribeProxy, _: &mut Self::Context) {
        if let Some(entry) = self.proxies.entries.get_mut(&msg.dataplane) {
            entry.streams.retain(|s| *s != msg.subscription.id);
            if entry.streams.is_empty() {
                self.proxies.entries.remove(&msg.dataplane);
            }
        }
        if let Some(pending) = self.pending.get_mut(&msg.dataplane) {
            pending.remove(&msg.subscription.id);
            if pending.is_empty() {
                self.pending.remove(&msg.dataplane);
            }
        }
        self.report(msg.dataplane.clone(), msg.subscription);
        // A disconnected stream of a Dataplane that does not exist leaves nothing behind.
        self.pending.remove(&msg.dataplane);
    }
}
