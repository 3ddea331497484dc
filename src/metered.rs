//! A [`Store`] that times every operation and counts failures and batch sizes into
//! [`StoreMetrics`], around whichever store the configuration chose, so neither store
//! implementation nor the actors know about metrics.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::mpsc;
use ursa_actors::page::{Page, PageRequest};
use ursa_actors::store::secrets::Generate;
use ursa_actors::store::{Change, Store, StoreError, StoreEvent, StoreFuture};
use ursa_actors::{Kind, Resource};

use crate::diagnostics::{ErrorLabels, OpLabel, StoreMetrics};

/// `inner`, measured.
pub struct Metered {
    inner: Arc<dyn Store>,
    metrics: Arc<StoreMetrics>,
}

impl Metered {
    /// Measures `inner` into `metrics`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<StoreMetrics>) -> Metered {
        Metered { inner, metrics }
    }

    fn time<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> StoreFuture<T> {
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let started = Instant::now();
            let result = f.await;
            metrics
                .duration
                .get_or_create(&OpLabel { op })
                .observe(started.elapsed().as_secs_f64());
            if let Err(e) = &result {
                count_error(&metrics, op, e);
            }
            result
        })
    }
}

fn count_error(metrics: &StoreMetrics, op: &'static str, e: &StoreError) {
    let error = match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Internal(_) => "internal",
        // Outcomes of optimistic concurrency, not failures of the store.
        StoreError::AlreadyExists | StoreError::NotFound | StoreError::Conflict => return,
    };
    metrics
        .errors
        .get_or_create(&ErrorLabels { op, error })
        .inc();
}

impl Store for Metered {
    fn create(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        self.time("create", self.inner.create(resource))
    }

    fn update(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        self.time("update", self.inner.update(resource))
    }

    fn delete(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<()> {
        self.time("delete", self.inner.delete(kind, mesh, name))
    }

    fn delete_at(&self, kind: Kind, mesh: &str, name: &str, expected: u64) -> StoreFuture<()> {
        self.time("delete", self.inner.delete_at(kind, mesh, name, expected))
    }

    fn get(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<Option<Arc<Resource>>> {
        self.time("get", self.inner.get(kind, mesh, name))
    }

    fn list(
        &self,
        kind: Kind,
        mesh: Option<&str>,
        page: PageRequest,
    ) -> StoreFuture<Page<Arc<Resource>>> {
        self.time("list", self.inner.list(kind, mesh, page))
    }

    fn load_all(&self) -> StoreFuture<Vec<Arc<Resource>>> {
        self.time("load_all", self.inner.load_all())
    }

    fn commit(&self, changes: Vec<Change>) -> StoreFuture<Vec<Result<(), StoreError>>> {
        self.metrics.batch_size.observe(changes.len() as f64);
        let metrics = self.metrics.clone();
        let commit = self.inner.commit(changes);
        self.time("commit", async move {
            let results = commit.await?;
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                count_error(&metrics, "commit", r);
            }
            Ok(results)
        })
    }

    fn get_or_create_secret(&self, name: &str, generate: Generate) -> StoreFuture<Vec<u8>> {
        self.time("secret", self.inner.get_or_create_secret(name, generate))
    }

    fn secrets(&self, prefix: &str) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        self.time("secret", self.inner.secrets(prefix))
    }

    fn delete_secrets(&self, prefix: &str) -> StoreFuture<()> {
        self.time("secret", self.inner.delete_secrets(prefix))
    }

    fn subscribe(&self) -> Option<mpsc::Receiver<StoreEvent>> {
        self.inner.subscribe()
    }

    fn leases(&self) -> Option<&dyn ursa_actors::store::lease::Leases> {
        self.inner.leases()
    }
}
