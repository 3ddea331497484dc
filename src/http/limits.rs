//! Connection accounting: how many connections each client address holds, so that one client
//! flooding a server with idle or stalled connections runs out of its own share, not of the
//! process's file descriptors; and a throttle for the warnings such floods cause.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;

/// Open connections per client address, each at most `cap` (0: no cap).
#[derive(Debug)]
pub struct ClientConnections {
    cap: usize,
    open: DashMap<IpAddr, usize>,
}

/// A client already holds its cap of connections.
#[derive(Debug, thiserror::Error)]
#[error("the client holds its cap of connections")]
pub struct CapReached;

/// One counted connection; dropping it (with the connection) frees its slot.
#[derive(Debug)]
pub struct Permit {
    owner: Arc<ClientConnections>,
    client: IpAddr,
}

impl ClientConnections {
    /// Counts connections per address, allowing `cap` each (0: unlimited, nothing counted).
    pub fn new(cap: usize) -> Arc<ClientConnections> {
        Arc::new(ClientConnections {
            cap,
            open: DashMap::new(),
        })
    }

    /// A slot for a new connection from `client`: `Ok(None)` when nothing is counted,
    /// [`CapReached`] when the client holds its cap already.
    pub fn acquire(self: &Arc<Self>, client: IpAddr) -> Result<Option<Permit>, CapReached> {
        if self.cap == 0 {
            return Ok(None);
        }
        // A dual-stack socket shows IPv4 clients as `::ffff:a.b.c.d`: count them as IPv4.
        let client = client.to_canonical();
        let mut open = self.open.entry(client).or_insert(0);
        if *open >= self.cap {
            return Err(CapReached);
        }
        *open += 1;
        Ok(Some(Permit {
            owner: self.clone(),
            client,
        }))
    }

    /// Connections `client` holds now.
    pub fn open(&self, client: IpAddr) -> usize {
        self.open
            .get(&client.to_canonical())
            .map_or(0, |n| *n.value())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let emptied = match self.owner.open.get_mut(&self.client) {
            Some(mut n) => {
                *n -= 1;
                *n == 0
            }
            None => false,
        };
        if emptied {
            self.owner.open.remove_if(&self.client, |_, n| *n == 0);
        }
    }
}

/// Lets one event through per interval and counts the rest, so a flood of client mistakes
/// makes a log line every few seconds instead of one per request.
#[derive(Debug)]
pub struct Throttle {
    start: Instant,
    every: Duration,
    /// Milliseconds after `start` when the last event went through (`u64::MAX`: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttle {
    /// At most one event per `every`.
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            start: Instant::now(),
            every,
            last: AtomicU64::new(u64::MAX),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when this event may be logged, `n` being how many were suppressed since the
    /// last one that was; `None` when it is to be suppressed.
    pub fn allow(&self) -> Option<u64> {
        let now = self.start.elapsed().as_millis() as u64;
        let every = self.every.as_millis() as u64;
        let last = self.last.load(Ordering::Relaxed);
        let due = last == u64::MAX || now.saturating_sub(last) >= every;
        if due
            && self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Ordering::Relaxed));
        }
        self.suppressed.fetch_add(1, Ordering::Relaxed);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_own_share() {
        let clients = ClientConnections::new(2);
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let mapped: IpAddr = "::ffff:127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.1".parse().unwrap();
        let first = clients.acquire(a).unwrap();
        let second = clients.acquire(mapped).unwrap();
        assert!(
            clients.acquire(a).is_err(),
            "the mapped address is the same client"
        );
        assert!(clients.acquire(b).unwrap().is_some());
        drop(first);
        assert_eq!(clients.open(a), 1);
        let third = clients.acquire(a).unwrap();
        drop((second, third));
        assert_eq!(clients.open(a), 0);
        assert!(clients.open.is_empty(), "emptied entries are removed");
        assert!(ClientConnections::new(0).acquire(a).unwrap().is_none());
    }

    #[test]
    fn the_throttle_lets_one_through_per_interval() {
        let t = Throttle::new(Duration::from_secs(3600));
        assert_eq!(t.allow(), Some(0));
        assert_eq!(t.allow(), None);
        assert_eq!(t.allow(), None);
        let quick = Throttle::new(Duration::ZERO);
        assert_eq!(quick.allow(), Some(0));
        assert_eq!(quick.allow(), Some(0));
        t.last.store(0, Ordering::Relaxed);
        let t = Throttle {
            start: Instant::now() - Duration::from_secs(7200),
            ..t
        };
        assert_eq!(
            t.allow(),
            Some(2),
            "the suppressed count comes with the next line"
        );
    }
}
