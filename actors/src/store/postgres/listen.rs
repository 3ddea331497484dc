//! The change feed: a dedicated connection that `LISTEN`s on `ursa_changes` and forwards each
//! notification of another instance's write as a [`StoreEvent::Changed`] (the payload names
//! the writing instance; an instance's own writes are already applied where they were made). Whenever listening (re)starts — the first time and
//! after the connection was lost, with a backoff of 100 ms doubling to 5 s — a
//! [`StoreEvent::Resync`] follows, because changes committed while nobody listened are lost.
//! The channel is bounded and the listener never blocks on it: when it is full, events are
//! dropped (and counted) and a `Resync` is delivered as soon as there is room.

use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::describe;
use super::sql;
use crate::kinds::Kind;
use crate::store::StoreEvent;

/// Events buffered for a slow subscriber before they are replaced by a `Resync`.
pub(super) const BUFFER: usize = 1024;

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The payload of a change notification (a few hundred bytes at most: names are ≤ 253).
#[derive(Serialize, Deserialize)]
pub(super) struct Payload<'a> {
    kind: &'a str,
    mesh: &'a str,
    name: &'a str,
    /// The control-plane instance that wrote the change (absent from older instances').
    #[serde(default)]
    instance: &'a str,
}

/// The notification payload announcing a change of (kind, mesh, name) written by `instance`.
pub(super) fn payload(kind: Kind, mesh: &str, name: &str, instance: &str) -> String {
    serde_json::to_string(&Payload {
        kind: kind.type_name(),
        mesh,
        name,
        instance,
    })
    .unwrap_or_default()
}

/// What a notification means to `instance`: nothing when it announces its own write (the
/// writer applied it when it committed; reading it back is a wasted query).
enum Notice {
    Event(StoreEvent),
    Own,
    Unreadable,
}

fn notice(payload: &str, instance: &str) -> Notice {
    let Ok(p) = serde_json::from_str::<Payload<'_>>(payload) else {
        return Notice::Unreadable;
    };
    if p.instance == instance {
        return Notice::Own;
    }
    match Kind::from_type_name(p.kind) {
        Some(kind) => Notice::Event(StoreEvent::Changed {
            kind,
            mesh: p.mesh.to_owned(),
            name: p.name.to_owned(),
        }),
        None => Notice::Unreadable,
    }
}

/// Everything the listener needs to (re)connect.
pub(super) struct Listener {
    pub(super) config: tokio_postgres::Config,
    pub(super) tls: MakeRustlsConnect,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) tx: mpsc::Sender<StoreEvent>,
    /// This instance: notifications of its own writes are not passed on.
    pub(super) instance: std::sync::Arc<str>,
}

/// Why a listening session ended.
enum Ended {
    /// The subscriber dropped its receiver: stop.
    Unsubscribed,
    /// The connection was lost, or never established: reconnect.
    Lost {
        reason: String,
        /// Whether it was listening (then the backoff starts again).
        listened: bool,
    },
}

impl Listener {
    /// Listens until the receiver is dropped, reconnecting with backoff.
    pub(super) async fn run(self) {
        let mut backoff = MIN_BACKOFF;
        loop {
            match self.session().await {
                Ended::Unsubscribed => return,
                Ended::Lost { reason, listened } => {
                    if listened {
                        backoff = MIN_BACKOFF;
                    }
                    tracing::warn!(%reason, retry_in = ?backoff, "change notifications interrupted");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.tx.closed() => return,
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// One connection: LISTEN, announce a resync, forward notifications until it drops.
    async fn session(&self) -> Ended {
        let (client, mut connection) = match self.config.connect(self.tls.clone()).await {
            Ok(pair) => pair,
            Err(e) => {
                return Ended::Lost {
                    reason: describe(&e),
                    listened: false,
                }
            }
        };
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let listen = client.batch_execute(sql::LISTEN);
        tokio::pin!(listen);
        let listening = async {
            loop {
                tokio::select! {
                    r = &mut listen => return r.map_err(|e| describe(&e)),
                    m = messages.next() => match m {
                        // Nothing is delivered before LISTEN is in effect.
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(describe(&e)),
                        None => return Err("connection closed".to_owned()),
                    },
                }
            }
        };
        let listened = match self.connect_timeout {
            Some(t) => tokio::time::timeout(t, listening)
                .await
                .unwrap_or_else(|_| Err("timed out starting to listen".to_owned())),
            None => listening.await,
        };
        if let Err(reason) = listened {
            return Ended::Lost {
                reason,
                listened: false,
            };
        }
        tracing::debug!("listening for change notifications");
        // Changes committed before LISTEN took effect were not seen: the subscriber reloads.
        let mut resync_pending = true;
        let mut dropped = 0u64;
        loop {
            tokio::select! {
                permit = self.tx.reserve(), if resync_pending => match permit {
                    Ok(permit) => {
                        permit.send(StoreEvent::Resync);
                        resync_pending = false;
                        if dropped > 0 {
                            tracing::warn!(dropped, "change events dropped for a slow subscriber; resync sent");
                            dropped = 0;
                        }
                    }
                    Err(_) => return Ended::Unsubscribed,
                },
                m = messages.next() => match m {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if !self.forward(n.payload(), &mut resync_pending, &mut dropped) {
                            return Ended::Unsubscribed;
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Ended::Lost { reason: describe(&e), listened: true },
                    None => return Ended::Lost { reason: "connection closed".to_owned(), listened: true },
                },
                _ = self.tx.closed() => return Ended::Unsubscribed,
            }
        }
    }

    /// Passes one notification on; false when the subscriber is gone. While a resync is
    /// pending, events are redundant (the reload after it covers them) and are dropped.
    fn forward(&self, payload: &str, resync_pending: &mut bool, dropped: &mut u64) -> bool {
        let event = match notice(payload, &self.instance) {
            Notice::Event(event) => event,
            Notice::Own => return true,
            Notice::Unreadable => {
                tracing::warn!(payload, "ignored an unreadable change notification");
                return true;
            }
        };
        if *resync_pending {
            *dropped += 1;
            return true;
        }
        match self.tx.try_send(event) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                *resync_pending = true;
                *dropped += 1;
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
