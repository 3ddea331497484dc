//! Changes as events, for API watches: every committed change of every mesh (insights too) is
//! one [`Event`] with a control-plane-wide sequence number, kept in a bounded log of the most
//! recent [`LOG_SIZE`] and broadcast to watchers. The mesh actors only push `Arc`s here;
//! filtering and serialisation happen on the watchers' side.
//!
//! A watcher [`Events::subscribe`]s (getting the sequence number `L` of the last event), then
//! reads the published mesh states: each carries the sequence number of the last event it
//! reflects ([`crate::state::MeshState::seq`]), so events up to `L` that a state does not reflect
//! yet come from [`Events::between`], later ones from the subscription, and none is missed or
//! seen twice. Sequence numbers are those of this process ([`Events::epoch`] tells processes
//! apart), so a watch resumes on the instance, and within the window, it started on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::kinds::Kind;
use crate::resource::Resource;

/// Events kept for resuming watches.
pub const LOG_SIZE: usize = 1024;

/// What happened to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// It was created.
    Added,
    /// It was replaced (an insight: a proxy reported).
    Updated,
    /// It was deleted.
    Deleted,
}

impl Op {
    /// The SSE event name: `added`, `updated`, `deleted`.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Added => "added",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        }
    }
}

/// One change of one resource.
#[derive(Clone, Debug)]
pub struct Event {
    /// Position in this process's sequence of changes.
    pub seq: u64,
    /// What happened.
    pub op: Op,
    /// The resource after the change (for a delete: as it was).
    pub resource: Arc<Resource>,
}

impl Event {
    /// The resource's kind.
    pub fn kind(&self) -> Kind {
        self.resource.kind()
    }

    /// The resource's mesh.
    pub fn mesh(&self) -> &str {
        &self.resource.meta.mesh
    }
}

struct Log {
    seq: u64,
    recent: VecDeque<Arc<Event>>,
}

/// The event log and broadcast of one control-plane process.
pub struct Events {
    log: Mutex<Log>,
    tx: broadcast::Sender<Arc<Event>>,
    epoch: String,
}

/// A resumption point older than the log keeps.
#[derive(Debug, thiserror::Error)]
#[error("events after {0} are no longer kept")]
pub struct TooOld(pub u64);

impl Default for Events {
    fn default() -> Self {
        Events::new()
    }
}

impl Events {
    /// An empty log with a fresh epoch.
    pub fn new() -> Events {
        let epoch = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        Events {
            log: Mutex::new(Log {
                seq: 0,
                recent: VecDeque::with_capacity(LOG_SIZE),
            }),
            tx: broadcast::channel(LOG_SIZE).0,
            epoch,
        }
    }

    /// What tells this process's sequence numbers from another's (or an earlier run's).
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a change; returns its sequence number.
    pub fn push(&self, op: Op, resource: Arc<Resource>) -> u64 {
        let mut log = self.lock();
        log.seq += 1;
        let event = Arc::new(Event {
            seq: log.seq,
            op,
            resource,
        });
        if log.recent.len() == LOG_SIZE {
            log.recent.pop_front();
        }
        log.recent.push_back(event.clone());
        // No watcher is not an error.
        let _ = self.tx.send(event);
        log.seq
    }

    /// A subscription to every later event, and the sequence number of the last event so far.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<Event>>, u64) {
        let log = self.lock();
        (self.tx.subscribe(), log.seq)
    }

    /// The events after `after` up to and including `until`, oldest first; [`TooOld`] when
    /// some of them are no longer kept.
    pub fn between(&self, after: u64, until: u64) -> Result<Vec<Arc<Event>>, TooOld> {
        let log = self.lock();
        let oldest = log.recent.front().map_or(log.seq + 1, |e| e.seq);
        if after + 1 < oldest && after < until {
            return Err(TooOld(after));
        }
        Ok(log
            .recent
            .iter()
            .filter(|e| e.seq > after && e.seq <= until)
            .cloned()
            .collect())
    }

    /// The sequence number of the last event.
    pub fn last(&self) -> u64 {
        self.lock().seq
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::Spec;

    fn r(name: &str) -> Arc<Resource> {
        Arc::new(Resource::new(
            "m",
            name,
            Spec::empty(Kind::TrafficTrace),
            crate::resource::now(),
        ))
    }

    #[test]
    fn a_bounded_log_with_a_subscription_point() {
        let events = Events::new();
        assert_eq!(events.push(Op::Added, r("a")), 1);
        let (mut rx, last) = events.subscribe();
        assert_eq!(last, 1);
        assert_eq!(events.push(Op::Updated, r("a")), 2);
        assert_eq!(rx.try_recv().unwrap().seq, 2);
        assert_eq!(events.between(0, 2).unwrap().len(), 2);
        assert_eq!(events.between(1, 1).unwrap().len(), 0);
        for i in 0..LOG_SIZE {
            events.push(Op::Added, r(&format!("n{i}")));
        }
        assert!(
            events.between(0, events.last()).is_err(),
            "the oldest are gone"
        );
        let last = events.last();
        assert_eq!(events.between(last - 10, last).unwrap().len(), 10);
        assert_eq!(events.between(last, last).unwrap().len(), 0);
    }
}
