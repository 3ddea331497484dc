//! A scriptable [`Store`]: a memory store underneath, plus
//! - a log of every call ([`FakeStore::calls`]);
//! - holds: calls matching a [`Hold`] wait until the test releases them, one by one in any
//!   order ([`FakeStore::release`]) — a stalled commit applies nothing until released; a held
//!   read answers with the state of when it was issued, so releasing reads out of order
//!   delivers stale answers after fresh ones;
//! - scripted failures of a whole commit or of one change;
//! - writes "through another instance" ([`FakeStore::remote_put`], [`FakeStore::remote_delete`])
//!   that change the state without telling anyone, and a change feed the test drives
//!   ([`FakeStore::emit`]) or drops ([`FakeStore::drop_feed`]);
//! - instance leases whose expiry the test decides ([`FakeStore::expire`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::kinds::{Kind, Spec};
use crate::page::{Page, PageRequest};
use crate::resource::Resource;
use crate::store::lease::Leases;
use crate::store::memory::MemoryStore;
use crate::store::{Change, Store, StoreError, StoreEvent, StoreFuture};

/// What a change of a commit did to its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// A create.
    Create,
    /// An update from `expected`.
    Update {
        /// The version the writer read.
        expected: u64,
    },
    /// A delete.
    Delete,
}

/// One call the store received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// A commit, with each change's key and write.
    Commit(Vec<(Kind, String, String, Write)>),
    /// A read of one key.
    Get(Kind, String, String),
    /// A list of one kind, in one mesh or all.
    List(Kind, Option<String>),
    /// The start-up load.
    LoadAll,
    /// A lease renewal of an instance.
    Renew(String),
    /// A look for expired leases.
    Expired,
    /// A deletion of an expired lease.
    Forget(String),
}

impl Call {
    /// The number of changes of a commit (0 for a read).
    pub fn changes(&self) -> usize {
        match self {
            Call::Commit(changes) => changes.len(),
            _ => 0,
        }
    }

    /// The changes of a commit (none for a read).
    pub fn into_changes(self) -> Vec<(Kind, String, String, Write)> {
        match self {
            Call::Commit(changes) => changes,
            _ => Vec::new(),
        }
    }
}

/// Which calls wait for the test to release them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Every commit.
    Commits,
    /// Every read (get, list, load).
    Reads,
    /// Reads of one kind (get or list).
    ReadsOf(Kind),
    /// Lists of one kind.
    ListsOf(Kind),
}

impl Hold {
    fn matches(&self, call: &Call) -> bool {
        match (self, call) {
            (Hold::Commits, Call::Commit(_)) => true,
            (Hold::Reads, Call::Get(..) | Call::List(..) | Call::LoadAll) => true,
            (Hold::ReadsOf(k), Call::Get(kind, ..) | Call::List(kind, _)) => k == kind,
            (Hold::ListsOf(k), Call::List(kind, _)) => k == kind,
            _ => false,
        }
    }
}

#[derive(Default)]
struct Script {
    calls: Vec<Call>,
    holds: Vec<Hold>,
    held: Vec<(Call, oneshot::Sender<()>)>,
    /// Failures of whole commits, in order; `true`: after applying the changes (the answer
    /// was lost, as when the connection breaks during COMMIT).
    commit_failures: VecDeque<(StoreError, bool)>,
    /// Failures of one change of a key, the next time it is committed.
    change_failures: Vec<((Kind, String, String), StoreError)>,
    feed: Option<mpsc::Sender<StoreEvent>>,
    /// Instance leases: whether each has expired.
    leases: std::collections::BTreeMap<String, bool>,
    /// Renewals fail (the store is unreachable).
    renewals_fail: bool,
}

struct Shared {
    state: MemoryStore,
    script: Mutex<Script>,
}

/// The scriptable store; clones share everything (give one to the actors, keep one).
#[derive(Clone)]
pub struct FakeStore {
    shared: Arc<Shared>,
}

impl Default for FakeStore {
    fn default() -> Self {
        FakeStore::new()
    }
}

/// A memory-store future answers at once.
fn now<T>(f: StoreFuture<T>) -> Result<T, StoreError> {
    f.now_or_never().unwrap_or_else(|| {
        Err(StoreError::Internal(
            "the memory store did not answer".into(),
        ))
    })
}

impl FakeStore {
    /// An empty store that holds nothing and fails nothing.
    pub fn new() -> FakeStore {
        FakeStore {
            shared: Arc::new(Shared {
                state: MemoryStore::new(),
                script: Mutex::new(Script::default()),
            }),
        }
    }

    /// This store as the actors take it.
    pub fn dyn_store(&self) -> Arc<dyn Store> {
        Arc::new(self.clone())
    }

    fn script(&self) -> MutexGuard<'_, Script> {
        self.shared.script.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.script().calls.clone()
    }

    /// The commits so far.
    pub fn commits(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| matches!(c, Call::Commit(_)))
            .collect()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        self.script().calls.clear();
    }

    /// From now on, calls matching `hold` wait to be released.
    pub fn hold(&self, hold: Hold) {
        self.script().holds.push(hold);
    }

    /// Stops holding new calls and releases every held one.
    pub fn unhold(&self) {
        let held = {
            let mut script = self.script();
            script.holds.clear();
            std::mem::take(&mut script.held)
        };
        for (_, tx) in held {
            let _ = tx.send(());
        }
    }

    /// The calls waiting to be released, oldest first.
    pub fn held(&self) -> Vec<Call> {
        self.script().held.iter().map(|(c, _)| c.clone()).collect()
    }

    /// Waits until at least `n` calls are held (panics after 10 s, naming what is held).
    pub async fn wait_held(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.script().held.len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{n} held calls expected, held: {:?}",
                self.held()
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Releases the `i`-th held call (0 = the oldest still held) and returns it.
    pub fn release(&self, i: usize) -> Call {
        let (call, tx) = self.script().held.remove(i);
        let _ = tx.send(());
        call
    }

    /// The next commit fails as a whole with `error` and applies nothing.
    pub fn fail_next_commit(&self, error: StoreError) {
        self.script().commit_failures.push_back((error, false));
    }

    /// The next commit applies its changes, then answers `error` (the connection broke
    /// during COMMIT: the writer cannot know that it applied).
    pub fn lose_next_commit_answer(&self, error: StoreError) {
        self.script().commit_failures.push_back((error, true));
    }

    /// The next change of (kind, mesh, name) fails alone with `error`; the rest of its batch
    /// applies.
    pub fn fail_change(&self, kind: Kind, mesh: &str, name: &str, error: StoreError) {
        self.script()
            .change_failures
            .push(((kind, mesh.to_owned(), name.to_owned()), error));
    }

    /// Writes `spec` at (mesh, name) as another instance would — a create at version 1, else
    /// the next version — without any notification. Returns what is stored.
    pub fn remote_put(&self, mesh: &str, name: &str, spec: Spec) -> Arc<Resource> {
        let kind = spec.kind();
        let at = crate::resource::now();
        match now(self.shared.state.get(kind, mesh, name)).ok().flatten() {
            Some(old) => {
                let r = Arc::new(old.updated(spec, at));
                now(self.shared.state.update(r.clone())).expect("remote update");
                r
            }
            None => {
                let r = Arc::new(Resource::new(mesh, name, spec, at));
                now(self.shared.state.create(r.clone())).expect("remote create");
                r
            }
        }
    }

    /// Deletes (kind, mesh, name) and what it owns as another instance would, silently.
    pub fn remote_delete(&self, kind: Kind, mesh: &str, name: &str) {
        let _ = now(self.shared.state.delete(kind, mesh, name));
    }

    /// What the store holds now (not logged, never held).
    pub fn stored(&self, kind: Kind, mesh: &str, name: &str) -> Option<Arc<Resource>> {
        now(self.shared.state.get(kind, mesh, name)).ok().flatten()
    }

    /// The lease of `instance` expires (as if it stopped renewing it long enough ago); a
    /// renewal makes it live again.
    pub fn expire(&self, instance: &str) {
        self.script().leases.insert(instance.to_owned(), true);
    }

    /// From now on renewals fail as with an unreachable store (`false`: they work again).
    pub fn fail_renewals(&self, fail: bool) {
        self.script().renewals_fail = fail;
    }

    /// `instance` (another one) renews its lease.
    pub fn renew_as(&self, instance: &str) {
        self.script().leases.insert(instance.to_owned(), false);
    }

    /// Whether `instance` has a lease, and whether it expired.
    pub fn lease(&self, instance: &str) -> Option<bool> {
        self.script().leases.get(instance).copied()
    }

    /// Sends `event` on the change feed (false when nobody subscribed or it was dropped).
    pub fn emit(&self, event: StoreEvent) -> bool {
        let feed = self.script().feed.clone();
        match feed {
            Some(tx) => tx.try_send(event).is_ok(),
            None => false,
        }
    }

    /// True once someone subscribed to the change feed (and it was not dropped since).
    pub fn subscribed(&self) -> bool {
        self.script()
            .feed
            .as_ref()
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Announces a change of (kind, mesh, name) on the change feed.
    pub fn emit_changed(&self, kind: Kind, mesh: &str, name: &str) -> bool {
        self.emit(StoreEvent::Changed {
            kind,
            mesh: mesh.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Ends the change feed, as a store whose notifications stopped: the subscriber's stream
    /// finishes and whatever changes next goes unannounced.
    pub fn drop_feed(&self) {
        self.script().feed = None;
    }

    /// Logs `call`; if it is to be held, the receiver that its release resolves.
    fn enter(&self, call: Call) -> Option<oneshot::Receiver<()>> {
        let mut script = self.script();
        script.calls.push(call.clone());
        if script.holds.iter().any(|h| h.matches(&call)) {
            let (tx, rx) = oneshot::channel();
            script.held.push((call, tx));
            Some(rx)
        } else {
            None
        }
    }

    /// A read answered now, delivered when released.
    fn read<T: Send + 'static>(&self, call: Call, answer: Result<T, StoreError>) -> StoreFuture<T> {
        let gate = self.enter(call);
        Box::pin(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            answer
        })
    }

    fn apply(&self, change: Change) -> Result<(), StoreError> {
        let key = match &change {
            Change::Create(r) | Change::Update { resource: r, .. } => {
                (r.kind(), r.meta.mesh.clone(), r.meta.name.clone())
            }
            Change::Delete {
                kind, mesh, name, ..
            } => (*kind, mesh.clone(), name.clone()),
        };
        {
            let mut script = self.script();
            if let Some(i) = script.change_failures.iter().position(|(k, _)| *k == key) {
                return Err(script.change_failures.remove(i).1);
            }
        }
        let state = &self.shared.state;
        match change {
            Change::Create(r) => now(state.create(r)),
            Change::Update { resource, expected } => {
                if resource.meta.version != expected + 1 {
                    Err(StoreError::Conflict)
                } else {
                    now(state.update(resource))
                }
            }
            Change::Delete {
                kind,
                mesh,
                name,
                expected: None,
            } => now(state.delete(kind, &mesh, &name)),
            Change::Delete {
                kind,
                mesh,
                name,
                expected: Some(expected),
            } => now(state.delete_at(kind, &mesh, &name, expected)),
        }
    }
}

fn summary(change: &Change) -> (Kind, String, String, Write) {
    match change {
        Change::Create(r) => (
            r.kind(),
            r.meta.mesh.clone(),
            r.meta.name.clone(),
            Write::Create,
        ),
        Change::Update {
            resource: r,
            expected,
        } => (
            r.kind(),
            r.meta.mesh.clone(),
            r.meta.name.clone(),
            Write::Update {
                expected: *expected,
            },
        ),
        Change::Delete {
            kind, mesh, name, ..
        } => (*kind, mesh.clone(), name.clone(), Write::Delete),
    }
}

impl Store for FakeStore {
    fn create(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let commit = self.commit(vec![Change::Create(resource)]);
        Box::pin(async move { commit.await?.pop().unwrap_or(Ok(())) })
    }

    fn update(&self, resource: Arc<Resource>) -> StoreFuture<()> {
        let expected = resource.meta.version.wrapping_sub(1);
        let commit = self.commit(vec![Change::Update { resource, expected }]);
        Box::pin(async move { commit.await?.pop().unwrap_or(Ok(())) })
    }

    fn delete(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<()> {
        let commit = self.commit(vec![Change::Delete {
            kind,
            mesh: mesh.to_owned(),
            name: name.to_owned(),
            expected: None,
        }]);
        Box::pin(async move { commit.await?.pop().unwrap_or(Ok(())) })
    }

    fn delete_at(&self, kind: Kind, mesh: &str, name: &str, expected: u64) -> StoreFuture<()> {
        let commit = self.commit(vec![Change::Delete {
            kind,
            mesh: mesh.to_owned(),
            name: name.to_owned(),
            expected: Some(expected),
        }]);
        Box::pin(async move { commit.await?.pop().unwrap_or(Ok(())) })
    }

    // Secrets are not scripted: the fake answers them as the memory store does.
    fn get_or_create_secret(
        &self,
        name: &str,
        generate: crate::store::secrets::Generate,
    ) -> StoreFuture<Vec<u8>> {
        self.shared.state.get_or_create_secret(name, generate)
    }

    fn secrets(&self, prefix: &str) -> StoreFuture<Vec<(String, Vec<u8>)>> {
        self.shared.state.secrets(prefix)
    }

    fn delete_secrets(&self, prefix: &str) -> StoreFuture<()> {
        self.shared.state.delete_secrets(prefix)
    }

    fn get(&self, kind: Kind, mesh: &str, name: &str) -> StoreFuture<Option<Arc<Resource>>> {
        let answer = now(self.shared.state.get(kind, mesh, name));
        self.read(Call::Get(kind, mesh.to_owned(), name.to_owned()), answer)
    }

    fn list(
        &self,
        kind: Kind,
        mesh: Option<&str>,
        page: PageRequest,
    ) -> StoreFuture<Page<Arc<Resource>>> {
        let answer = now(self.shared.state.list(kind, mesh, page));
        self.read(Call::List(kind, mesh.map(str::to_owned)), answer)
    }

    fn load_all(&self) -> StoreFuture<Vec<Arc<Resource>>> {
        let answer = now(self.shared.state.load_all());
        self.read(Call::LoadAll, answer)
    }

    fn commit(&self, changes: Vec<Change>) -> StoreFuture<Vec<Result<(), StoreError>>> {
        let gate = self.enter(Call::Commit(changes.iter().map(summary).collect()));
        let store = self.clone();
        Box::pin(async move {
            if let Some(gate) = gate {
                let _ = gate.await;
            }
            let failure = store.script().commit_failures.pop_front();
            match failure {
                Some((e, false)) => Err(e),
                Some((e, true)) => {
                    for c in changes {
                        let _ = store.apply(c);
                    }
                    Err(e)
                }
                None => Ok(changes.into_iter().map(|c| store.apply(c)).collect()),
            }
        })
    }

    fn subscribe(&self) -> Option<mpsc::Receiver<StoreEvent>> {
        let (tx, rx) = mpsc::channel(1024);
        self.script().feed = Some(tx);
        Some(rx)
    }

    fn leases(&self) -> Option<&dyn Leases> {
        Some(self)
    }
}

/// Leases are renewed, found expired and forgotten at once (and logged); [`FakeStore::expire`]
/// stands for the time that passes.
impl Leases for FakeStore {
    fn renew(&self, instance: &str) -> StoreFuture<()> {
        let mut script = self.script();
        script.calls.push(Call::Renew(instance.to_owned()));
        if script.renewals_fail {
            let down = StoreError::Unavailable("connection refused".into());
            return Box::pin(std::future::ready(Err(down)));
        }
        script.leases.insert(instance.to_owned(), false);
        Box::pin(std::future::ready(Ok(())))
    }

    fn expired(&self, _timeout: Duration) -> StoreFuture<Vec<String>> {
        let mut script = self.script();
        script.calls.push(Call::Expired);
        let expired = script
            .leases
            .iter()
            .filter(|(_, expired)| **expired)
            .map(|(id, _)| id.clone())
            .collect();
        Box::pin(std::future::ready(Ok(expired)))
    }

    fn forget(&self, instance: &str, _timeout: Duration) -> StoreFuture<bool> {
        let mut script = self.script();
        script.calls.push(Call::Forget(instance.to_owned()));
        let forgotten = script.leases.get(instance) == Some(&true);
        if forgotten {
            script.leases.remove(instance);
        }
        Box::pin(std::future::ready(Ok(forgotten)))
    }
}
