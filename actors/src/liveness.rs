//! Liveness across control-plane instances sharing a store (X13). Each instance keeps a lease
//! in the store, renewed every `store.postgres.instanceLease.renewInterval`. At the same pace
//! it looks for the leases of other instances that expired (not renewed for `timeout` by the
//! store's clock: the instance was killed, lost power or was cut off) and has every mesh actor
//! stamp `disconnectTime` on the subscriptions those instances left open, through the mesh
//! actors' normal write path; once all of them are stored, the expired lease is deleted. A
//! dataplane of a dead instance is so shown disconnected at most `timeout + renewInterval`
//! after the death. An instance judges the others only once it has held its own lease for a
//! whole `timeout` (after start-up, and after the store was unreachable: then every lease
//! looks expired until its instance renews it). A store no other instance sees (memory) has
//! no leases and needs none.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use futures_util::future::join_all;

use crate::config::InstanceLeaseConfig;
use crate::mesh_actor::DisconnectInstance;
use crate::registry::MeshRegistry;
use crate::store::Store;

/// How often leases are renewed and swept, and how long one lasts.
#[derive(Clone, Copy, Debug)]
pub struct LeaseSettings {
    /// Between two renewals (and two sweeps).
    pub renew_interval: Duration,
    /// After its last renewal, an instance counts as dead.
    pub timeout: Duration,
}

impl From<&InstanceLeaseConfig> for LeaseSettings {
    fn from(c: &InstanceLeaseConfig) -> LeaseSettings {
        LeaseSettings {
            renew_interval: c.renew_interval.0,
            timeout: c.timeout.0,
        }
    }
}

/// Renews this instance's lease and sweeps the expired ones of others.
pub struct Liveness {
    store: Arc<dyn Store>,
    registry: MeshRegistry,
    instance: Arc<str>,
    settings: LeaseSettings,
    renewing: bool,
    sweeping: bool,
    /// Since when every renewal of this instance's lease succeeded; `None` while they fail.
    /// Others are judged only once this instance held its own lease for a whole `timeout`:
    /// after the store was unreachable longer than that, every lease looks expired until its
    /// instance renews it again, and a live instance must not be taken for dead.
    alive_since: Option<std::time::Instant>,
}

impl Liveness {
    /// Takes this instance's lease (a failure is logged: the next renewal tries again), then
    /// starts renewing it and sweeping. `None` when the store has no leases (memory).
    pub async fn start(
        store: Arc<dyn Store>,
        registry: MeshRegistry,
        instance: &str,
        settings: LeaseSettings,
    ) -> Option<Addr<Liveness>> {
        let first = store.leases()?.renew(instance).await;
        if let Err(e) = &first {
            tracing::warn!(error = %e, "could not take this instance's lease; retrying");
        }
        Some(
            Liveness {
                store,
                registry,
                instance: instance.into(),
                settings,
                renewing: false,
                sweeping: false,
                alive_since: first.is_ok().then(std::time::Instant::now),
            }
            .start(),
        )
    }

    fn tick(&mut self, ctx: &mut Context<Self>) {
        if !self.renewing {
            self.renewing = true;
            let store = self.store.clone();
            let instance = self.instance.clone();
            let renew = async move {
                match store.leases() {
                    Some(leases) => leases.renew(&instance).await,
                    None => Ok(()),
                }
            };
            ctx.spawn(renew.into_actor(self).map(|result, act, _| {
                act.renewing = false;
                match (result, act.alive_since) {
                    (Err(e), Some(_)) => {
                        act.alive_since = None;
                        tracing::warn!(error = %e, "could not renew this instance's lease");
                    }
                    (Ok(()), None) => {
                        act.alive_since = Some(std::time::Instant::now());
                        tracing::info!("renewing this instance's lease");
                    }
                    _ => {}
                }
            }));
        }
        let judging = self
            .alive_since
            .is_some_and(|since| since.elapsed() >= self.settings.timeout);
        if judging && !self.sweeping {
            self.sweeping = true;
            let sweep = sweep(
                self.store.clone(),
                self.registry.clone(),
                self.instance.clone(),
                self.settings.timeout,
            );
            ctx.spawn(
                sweep
                    .into_actor(self)
                    .map(|(), act, _| act.sweeping = false),
            );
        }
    }
}

/// Disconnects the subscriptions of every other instance whose lease expired, and forgets the
/// leases whose subscriptions are all stored as disconnected.
async fn sweep(store: Arc<dyn Store>, registry: MeshRegistry, me: Arc<str>, timeout: Duration) {
    let Some(leases) = store.leases() else {
        return;
    };
    let expired = match leases.expired(timeout).await {
        Ok(expired) => expired,
        Err(e) => {
            tracing::debug!(error = %e, "could not look for expired leases");
            return;
        }
    };
    for dead in expired.into_iter().filter(|i| **i != *me) {
        let meshes = registry.actors();
        let stamped = join_all(meshes.iter().map(|mesh| {
            mesh.send(DisconnectInstance {
                instance: dead.clone(),
            })
        }))
        .await;
        // A mesh deleted meanwhile (its actor gone) has nothing left to stamp.
        if !stamped.into_iter().all(|r| r.unwrap_or(true)) {
            continue;
        }
        match leases.forget(&dead, timeout).await {
            Ok(true) => {
                tracing::info!(instance = %dead, "control-plane instance is gone: its lease expired and its dataplanes are disconnected")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(instance = %dead, error = %e, "could not delete an expired lease")
            }
        }
    }
}

impl Actor for Liveness {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.settings.renew_interval, |act, ctx| act.tick(ctx));
    }
}

#[cfg(test)]
mod tests;
