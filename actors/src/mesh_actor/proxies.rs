//! The mesh actor's side of xDS: every committed change is recorded in a [`ChangeSummary`] and,
//! coalesced over a few milliseconds, published as the next [`XdsSnapshot`] on a `watch`
//! channel that every ADS stream of the mesh subscribes to. Streams generate their own
//! configuration from it on the xDS runtime, so no generation runs on the actor's thread.
//!
//! Streams report their subscription counters here, which become the Dataplane's insight.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use tokio::sync::watch;

use super::MeshActor;
use crate::kinds::insight::{DataplaneInsightSpec, MtlsInsight, Subscription};
use crate::kinds::{Kind, Spec};
use crate::resource::Resource;
use crate::state::MeshState;
use crate::watch::Op;
use crate::xds::{ChangeSummary, XdsSnapshot};

pub use crate::kinds::insight::MAX_SUBSCRIPTIONS;

/// How long a change waits for more changes before it is published to the streams, so that a
/// burst of writes yields one push (X2).
const COALESCE: Duration = Duration::from_millis(10);

/// The xDS side of a mesh actor.
pub(super) struct Proxies {
    /// The latest snapshot, as every stream of the mesh sees it.
    xds: watch::Sender<Arc<XdsSnapshot>>,
    /// Changes since the last published snapshot.
    summary: ChangeSummary,
    publish_scheduled: bool,
    /// Changes went unpublished while no stream listened: the next subscriber gets a
    /// snapshot rebuilt from the state.
    stale: bool,
}

impl Proxies {
    pub(super) fn new(state: &MeshState) -> Proxies {
        Proxies {
            xds: watch::channel(Arc::new(XdsSnapshot::initial(state.clone()))).0,
            summary: ChangeSummary::default(),
            publish_scheduled: false,
            stale: false,
        }
    }
}

impl MeshActor {
    /// A committed change of a resource (not the Mesh itself) takes effect: the state, what
    /// readers see, and (soon) what the streams see.
    pub(super) fn change(
        &mut self,
        ctx: &mut Context<Self>,
        kind: Kind,
        name: &str,
        after: Option<Arc<Resource>>,
    ) {
        let before = self.state.get(kind, name).cloned();
        // A deleted resource takes what it owns with it (a Dataplane its insight).
        let owned: Vec<Arc<Resource>> = match after {
            None => kind
                .owned()
                .filter_map(|k| self.state.get(k, name).cloned())
                .collect(),
            Some(_) => Vec::new(),
        };
        match &after {
            Some(r) => self.state.insert(r.clone()),
            None => self.state.remove(kind, name),
        }
        match (&before, &after) {
            (None, Some(r)) => self.emit(Op::Added, r.clone()),
            (Some(_), Some(r)) => self.emit(Op::Updated, r.clone()),
            (Some(r), None) => self.emit(Op::Deleted, r.clone()),
            (None, None) => {}
        }
        for gone in owned {
            self.emit(Op::Deleted, gone);
        }
        self.publish_reads();
        // What a proxy reports about itself (an insight) never changes its configuration.
        if kind.owner().is_none() {
            self.proxies.summary.record(kind, name, before, after);
            self.schedule_publish(ctx);
        }
    }

    /// The Mesh resource changed: every proxy is concerned.
    pub(super) fn set_mesh(&mut self, ctx: &mut Context<Self>, mesh: Arc<Resource>) {
        self.state.mesh = mesh.clone();
        self.emit(Op::Updated, mesh);
        self.publish_reads();
        let name = self.name().to_string();
        self.proxies
            .summary
            .record(Kind::Mesh, &name, None, Some(self.state.mesh.clone()));
        self.schedule_publish(ctx);
    }

    fn schedule_publish(&mut self, ctx: &mut Context<Self>) {
        if self.proxies.publish_scheduled {
            return;
        }
        self.proxies.publish_scheduled = true;
        ctx.run_later(COALESCE, |act, _| {
            act.proxies.publish_scheduled = false;
            act.publish_xds();
        });
    }

    /// Publishes the changes gathered since the last snapshot. The endpoint index is updated
    /// for the services they touched only, so the cost follows the change, not the mesh.
    fn publish_xds(&mut self) {
        let summary = std::mem::take(&mut self.proxies.summary);
        if summary.is_empty() {
            return;
        }
        if self.proxies.xds.receiver_count() == 0 {
            // No stream generates from it: keeping the endpoint index current would cost every
            // write of a mesh without proxies for nothing. The first subscriber rebuilds it.
            self.proxies.stale = true;
            return;
        }
        let next = self.proxies.xds.borrow().next(self.state.clone(), summary);
        self.proxies.xds.send_replace(Arc::new(next));
    }

    /// The snapshot a new stream starts from: current, rebuilt if changes went unpublished.
    fn subscribe_xds(&mut self) -> watch::Receiver<Arc<XdsSnapshot>> {
        self.publish_xds();
        if std::mem::take(&mut self.proxies.stale) {
            let rebuilt = self.proxies.xds.borrow().rebuilt(self.state.clone());
            self.proxies.xds.send_replace(Arc::new(rebuilt));
        }
        self.proxies.xds.subscribe()
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
        self.put_insight(dataplane, existing, spec, now);
    }

    /// Sets a Dataplane's insight in memory: the API shows it at once, the store gets it with
    /// the next flush.
    fn put_insight(
        &mut self,
        dataplane: &str,
        existing: Option<Arc<Resource>>,
        spec: DataplaneInsightSpec,
        now: chrono::DateTime<chrono::Utc>,
    ) {
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
        let resource = Arc::new(resource);
        self.state.insert(resource.clone());
        // A proxy's report is a change of its insight: a CI job can wait for it.
        let op = if existing.is_some() {
            Op::Updated
        } else {
            Op::Added
        };
        self.emit(op, resource);
        self.publish_reads();
        self.dirty_insights.insert(dataplane.to_string());
    }

    /// Changes the mTLS section of a Dataplane's insight (xDS §4.5), if the Dataplane exists.
    fn record_certificate(&mut self, dataplane: &str, report: CertificateReport) {
        if !self.of(Kind::Dataplane).contains_key(dataplane) {
            return;
        }
        let now = crate::resource::now();
        let existing = self.of(Kind::DataplaneInsight).get(dataplane).cloned();
        let mut spec = match existing.as_deref().map(|r| &r.spec) {
            Some(Spec::DataplaneInsight(s)) => s.clone(),
            _ => DataplaneInsightSpec::default(),
        };
        let mtls = spec.mtls.get_or_insert_with(MtlsInsight::default);
        match report {
            CertificateReport::Issued { expires, at } => {
                mtls.certificate_expiration_time = Some(expires);
                mtls.last_certificate_regeneration = Some(at);
                mtls.certificate_regenerations = mtls.certificate_regenerations.saturating_add(1);
                mtls.last_certificate_error.clear();
            }
            CertificateReport::Failed(reason) => mtls.last_certificate_error = reason,
        }
        self.put_insight(dataplane, existing, spec, now);
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

/// An ADS stream of a Dataplane opened: it gets the mesh's snapshots to generate from.
#[derive(Message)]
#[rtype(result = "watch::Receiver<Arc<XdsSnapshot>>")]
pub struct SubscribeProxy {
    /// The Dataplane's name (from `node.id`).
    pub dataplane: String,
    /// The stream's subscription record (id, control-plane instance, connect time).
    pub subscription: Subscription,
}

impl Handler<SubscribeProxy> for MeshActor {
    type Result = MessageResult<SubscribeProxy>;

    fn handle(&mut self, msg: SubscribeProxy, _: &mut Self::Context) -> Self::Result {
        // A new stream starts from the newest state, not one coalescing interval behind.
        let snapshots = self.subscribe_xds();
        self.report(msg.dataplane, msg.subscription);
        MessageResult(snapshots)
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

/// What became of a stream's certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateReport {
    /// A certificate was issued at `at`, valid until `expires`.
    Issued {
        /// Its expiry.
        expires: crate::proto::Timestamp,
        /// When it was issued.
        at: crate::proto::Timestamp,
    },
    /// It could not be issued, for this reason.
    Failed(String),
}

/// A stream issued its proxy's certificate, or failed to (xDS §4.5).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReportCertificate {
    /// The Dataplane's name.
    pub dataplane: String,
    /// What happened.
    pub report: CertificateReport,
}

impl Handler<ReportCertificate> for MeshActor {
    type Result = ();

    fn handle(&mut self, msg: ReportCertificate, _: &mut Self::Context) {
        self.record_certificate(&msg.dataplane, msg.report);
    }
}
