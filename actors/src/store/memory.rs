//! The default store: everything in one ordered map, gone when the process ends.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::secrets::{check_name, Generate};
use super::{Store, StoreError, StoreFuture};
use crate::kinds::Kind;
use crate::page::{Page, PageRequest};
use crate::resource::Resource;

/// (kind, name, mesh): iteration order is list order (D4).
type Key = (Kind, String, String);

/// In-memory [`Store`]. Resources are shared `Arc`s with the mesh actors, so the copy costs
/// only the index.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<Key, Arc<Resource>>>,
    secrets: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn items(&self) -> MutexGuard<'_, BTreeMap<Key, Arc<Resource>>> {
        // A poisoned lock only means another thread panicked mid-call; the map is still whole
        // because every mutation is a single insert/remove.
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn secret_map(&self) -> MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.secrets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn key(kind: Kind, mesh: &str, name: &str) -> Key {
        (kind, name.to_string(), mesh.to_string())
    }
}

impl MemoryStore {
    /// Deletes a resource (at `expected`, if given) and what it owns, under one lock.
    fn remove(
        &self,
        kind: Kind,
        mesh: &str,
        name: &str,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let mut items = self.items();
        let key = Self::key(kind, mesh, name);
        match items.get(&key) {
            None => return Err(StoreError::NotFound),
            Some(r) if expected.is_some_and(|v| v != r.meta.version) => {
                return Err(StoreError::Conflict)
            }
            Some(_) => {}
        }
        items.remove(&key);
        if kind == Kind::Mesh {
            items.retain(|(_, _, m), _| m != mesh);
        }
        for owned in kind.owned() {
            items.remove(&Self::key(owned, mesh, name));
        }
        Ok(())
    }
}

fn ready<T: Send + 'static>(r: Result<T, StoreError>) -> StoreFuture<T> {
    Box::pin(std::future::ready(r))
}

impl Store for MemoryStore {
    fn create(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let key = Self::key(resource.kind(), &resource.meta.mesh, &resource.meta.name);
        let r = match self.items().entry(key) {
            std::collections::btree_map::Entry::Occupied(_) => Err(StoreError::AlreadyExists),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(resource);
                Ok(())
            }
        };
        ready(r)
    }

    fn update(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let key = Self::key(resource.kind(), &resource.meta.mesh, &resource.meta.name);
        let mut items = self.items();
        let r = match items.get_mut(&key) {
            None => Err(StoreError::NotFound),
            Some(old) if old.meta.version + 1 != resource.meta.version => Err(StoreError::Conflict),
            Some(old) => {
                *old = resource;
                Ok(())
            }
        };
        ready(r)
    }

    fn delete(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<()> {
        ready(self.remove(kind, mesh, name, None))
    }

    fn delete_at(&self, kind: Kind, mesh: &str, name: &str, expected: u64) -> StoreFuture<()> {
        ready(self.remove(kind, mesh, name, Some(expected)))
    }

    fn get(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<Option<Arc<Resource>>> {
        ready(Ok(self.items().get(&Self::key(kind, mesh, name)).cloned()))
    }

    fn list(
        &self,
        kind: Kind,
        mesh: Option<&str>,
        page: PageRequest,
    ) -> StoreFuture<Page<Arc<Resource>>> {
        let items = self.items();
        let matching: Vec<&Arc<Resource>> = items
            .range((kind, String::new(), String::new())..)
            .take_while(|((k, _, _), _)| *k == kind)
            .filter(|((_, _, m), _)| mesh.is_none_or(|want| want == m))
            .map(|(_, r)| r)
            .collect();
        let total = matching.len();
        let items = page.slice(matching.into_iter().cloned());
        ready(Ok(Page { total, items }))
    }

    fn load_all(&self) -> StoreFuture<Vec<Arc<Resource>>> {
        ready(Ok(self.items().values().cloned().collect()))
    }

    fn get_or_create_secret(&self, name: &str, generate: Generate) -> StoreFuture<Vec<u8>> {
        if let Err(e) = check_name(name) {
            return ready(Err(e));
        }
        let value = self
            .secret_map()
            .entry(name.to_owned())
            .or_insert_with(generate)
            .clone();
        ready(Ok(value))
    }

    fn delete_secrets(&self, prefix: &str) -> StoreFuture<()> {
        self.secret_map()
            .retain(|name, _| !name.starts_with(prefix));
        ready(Ok(()))
    }

    fn secrets(&self, prefix: &str) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        let found = self
            .secret_map()
            .range(prefix.to_owned()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        ready(Ok(found))
    }

    // One process: no other instance makes changes, or holds a lease.
    fn subscribe(&self) -> Option<tokio::sync::mpsc::Receiver<super::StoreEvent>> {
        None
    }

    fn leases(&self) -> Option<&dyn super::lease::Leases> {
        None
    }
}
