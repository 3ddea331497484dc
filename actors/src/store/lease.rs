//! Leases of the control-plane instances sharing a store (X13): each instance renews its own;
//! one that stops renewing (killed, powered off, cut off) is found expired by the others,
//! which disconnect the dataplane subscriptions it left open. Expiry is judged by the store's
//! clock, so the instances' clocks never matter. A store no other instance can see (memory)
//! has none.

use std::time::Duration;

use super::StoreFuture;

/// The lease table of a shared store.
pub trait Leases: Send + Sync {
    /// Creates, or renews, the lease of `instance`, stamped with the store's clock.
    fn renew(&self, instance: &str) -> StoreFuture<()>;
    /// The instances whose lease was last renewed more than `timeout` ago (store's clock).
    fn expired(&self, timeout: Duration) -> StoreFuture<Vec<String>>;
    /// Deletes the lease of `instance` if it is still expired (it may have been renewed
    /// meanwhile: an instance that was only cut off keeps it); whether it was deleted.
    fn forget(&self, instance: &str, timeout: Duration) -> StoreFuture<bool>;
}
