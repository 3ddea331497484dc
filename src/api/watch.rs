//! `GET <any list>?watch=true` (beyond Kuma, opt-in): the list as a stream of Server-Sent
//! Events. Without `resourceVersion` the stream starts with one `added` event per current item
//! (no `id`), then a `synced` event whose `id` is the position reached; after that every change
//! of an item of the list is an `added`, `updated` or `deleted` event, `id` its position
//! (`<epoch>-<n>`), data `{"type", "resourceVersion", "version", "resource"}` (`version` is
//! the resource's ETag value). `?resourceVersion=<id>` resumes after that position, as an
//! `EventSource` does with `Last-Event-ID`, which is honoured too; a position this instance no
//! longer keeps (or another instance's) is `410 Gone`: list again.
//!
//! Insight changes are events (of `dataplane-insights` and of the `dataplanes+insights`
//! lists), so a job can wait for its dataplane to come online.
//!
//! Bounded: events go out through a queue of at most [`QUEUE`] events and [`QUEUE_BYTES`] bytes
//! per stream; a client that lets it fill up is cut off (its connection closed), never buffered
//! for. A stream ends after
//! `timeoutSeconds` (default and most [`MAX_SECONDS`]), when the client closes it, and at
//! shutdown; a comment line every [`HEARTBEAT`] keeps proxies from timing it out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, OwnedSemaphorePermit, Semaphore};
use ursa_actors::overview::{Overview, OverviewFilter};
use ursa_actors::page::PageRequest;
use ursa_actors::state::MeshState;
use ursa_actors::watch::{Event, Events, Op};
use ursa_actors::{Kind, Resource, Spec};

use super::error::{ApiError, Title};
use super::pagination::Query;
use super::routes::Route;
use super::ApiState;
use crate::http::guard::Cutoff;

/// Events waiting to be written per stream before the client counts as too slow.
pub const QUEUE: usize = 256;

/// Bytes waiting to be written per stream before the client counts as too slow (an event
/// larger than this waits alone).
pub const QUEUE_BYTES: usize = 1024 * 1024;

/// Longest stream, and the default.
pub const MAX_SECONDS: u64 = 1800;

/// Interval of the keep-alive comment.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Which changes a watch shows.
#[derive(Clone, Debug)]
enum Scope {
    /// `/meshes`.
    Meshes,
    /// One kind, in one mesh or all.
    Kind { kind: Kind, mesh: Option<String> },
    /// Dataplanes with their insights, in one mesh or all.
    Overviews {
        mesh: Option<String>,
        filter: OverviewFilter,
    },
}

impl Scope {
    fn of(route: &Route, query: &Query) -> Option<Scope> {
        Some(match route {
            Route::Meshes => Scope::Meshes,
            Route::Collection { mesh, kind } => Scope::Kind {
                kind: *kind,
                mesh: Some(mesh.clone()),
            },
            Route::Global { kind } => Scope::Kind {
                kind: *kind,
                mesh: None,
            },
            Route::Overviews { mesh } => Scope::Overviews {
                mesh: mesh.clone(),
                filter: OverviewFilter::from_query(
                    &query.all("tag"),
                    query.first("gateway"),
                    query.first("name"),
                ),
            },
            _ => return None,
        })
    }

    fn mesh(&self) -> Option<&str> {
        match self {
            Scope::Meshes => None,
            Scope::Kind { mesh, .. } | Scope::Overviews { mesh, .. } => mesh.as_deref(),
        }
    }

    /// The current items of the list in `state`.
    fn items(&self, state: &MeshState) -> Vec<Item> {
        match self {
            Scope::Meshes => vec![Item::Resource(state.mesh.clone())],
            Scope::Kind { kind, .. } => state
                .list(*kind, PageRequest::ALL)
                .items
                .into_iter()
                .map(Item::Resource)
                .collect(),
            Scope::Overviews { filter, .. } => state
                .overviews(filter, PageRequest::ALL)
                .items
                .into_iter()
                .map(Item::Overview)
                .collect(),
        }
    }

    /// What `event` shows of the list, if it concerns it (`state`: its mesh now).
    fn render(&self, event: &Event, state: Option<&MeshState>) -> Option<(Op, Item)> {
        if self.mesh().is_some_and(|m| m != event.mesh()) {
            return None;
        }
        let kind = event.kind();
        match self {
            Scope::Meshes => {
                (kind == Kind::Mesh).then(|| (event.op, Item::Resource(event.resource.clone())))
            }
            Scope::Kind { kind: want, .. } => {
                (kind == *want).then(|| (event.op, Item::Resource(event.resource.clone())))
            }
            Scope::Overviews { filter, .. } => {
                let name = &event.resource.meta.name;
                let (op, dataplane, insight) = match kind {
                    Kind::Dataplane => {
                        let insight = match event.op {
                            Op::Deleted => None,
                            _ => state.and_then(|s| s.get(Kind::DataplaneInsight, name).cloned()),
                        };
                        (event.op, event.resource.clone(), insight)
                    }
                    Kind::DataplaneInsight => {
                        let dataplane = state?.get(Kind::Dataplane, name)?.clone();
                        let insight = match event.op {
                            Op::Deleted => None,
                            _ => Some(event.resource.clone()),
                        };
                        (Op::Updated, dataplane, insight)
                    }
                    _ => return None,
                };
                let Spec::Dataplane(spec) = &dataplane.spec else {
                    return None;
                };
                filter
                    .matches(&dataplane.meta.name, spec)
                    .then_some((op, Item::Overview(Overview { dataplane, insight })))
            }
        }
    }
}

/// One item of a watched list.
enum Item {
    Resource(Arc<Resource>),
    Overview(Overview),
}

impl Item {
    fn version(&self) -> u64 {
        match self {
            Item::Resource(r) => r.meta.version,
            Item::Overview(o) => o.dataplane.meta.version,
        }
    }
}

#[derive(Serialize)]
#[serde(untagged)]
enum Shown<'a> {
    Resource(&'a Resource),
    Overview(&'a Overview),
}

#[derive(Serialize)]
struct Data<'a> {
    #[serde(rename = "type")]
    op: &'static str,
    #[serde(rename = "resourceVersion", skip_serializing_if = "Option::is_none")]
    resource_version: Option<&'a str>,
    version: String,
    resource: Shown<'a>,
}

/// One SSE event: `event:` name, optional `id:`, one `data:` line of JSON.
fn frame(name: &str, id: Option<&str>, data: &impl Serialize) -> Bytes {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
    let mut out = String::with_capacity(json.len() + 64);
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(id);
        out.push('\n');
    }
    // serde_json escapes newlines: the JSON is one line.
    out.push_str("data: ");
    out.push_str(&json);
    out.push_str("\n\n");
    Bytes::from(out)
}

fn item_frame(op: Op, item: &Item, id: Option<&str>) -> Bytes {
    let resource = match item {
        Item::Resource(r) => Shown::Resource(r),
        Item::Overview(o) => Shown::Overview(o),
    };
    frame(
        op.as_str(),
        id,
        &Data {
            op: op.as_str(),
            resource_version: id,
            version: item.version().to_string(),
            resource,
        },
    )
}

/// Where a resumed watch starts: after this position.
fn parse_position(raw: &str, events: &Events) -> Result<u64, ApiError> {
    let bad = || ApiError::InvalidParameter {
        name: "resourceVersion",
        message: "must be an id of an earlier event of a watch, such as a1b2c3d4-17".into(),
    };
    let (epoch, seq) = raw.rsplit_once('-').ok_or_else(bad)?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    if epoch != events.epoch() || seq > events.last() {
        return Err(ApiError::Gone(
            "resourceVersion is from another control-plane instance or before a restart: list again (watch without resourceVersion)".into(),
        ));
    }
    Ok(seq)
}

/// Whether a query string asks for a watch (its `Accept` may then be `text/event-stream`).
pub fn requested(query: &str) -> bool {
    super::conditional::flag(&Query::parse(query), "watch").unwrap_or(false)
}

/// The watch of a list route, or `None` when the request is no watch.
pub fn watch(
    state: &ApiState,
    req: &HttpRequest,
    route: &Route,
    query: &Query,
) -> Option<Result<HttpResponse, ApiError>> {
    let watching = match super::conditional::flag(query, "watch") {
        Ok(w) => w,
        Err(e) => return Some(Err(e)),
    };
    if !watching {
        return None;
    }
    let scope = Scope::of(route, query)?;
    Some(start(state, req, scope, query))
}

fn start(
    state: &ApiState,
    req: &HttpRequest,
    scope: Scope,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let events = state.registry.events().clone();
    let last_event_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let resume = match query
        .first("resourceVersion")
        .filter(|v| !v.is_empty())
        .or(last_event_id)
    {
        Some(raw) => Some(parse_position(raw, &events)?),
        None => None,
    };
    let seconds = match query.first("timeoutSeconds") {
        None | Some("") => MAX_SECONDS,
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_SECONDS).contains(s))
            .ok_or_else(|| ApiError::InvalidParameter {
                name: "timeoutSeconds",
                message: format!("must be a whole number of seconds from 1 to {MAX_SECONDS}"),
            })?,
    };
    // Subscribe before reading anything: nothing that happens after this point is missed.
    let (rx, until) = events.subscribe();
    let (initial, floor, seen) = match resume {
        Some(after) => {
            let replay = events
                .between(after, until)
                .map_err(|_| ApiError::Gone(format!(
                    "events after resourceVersion {}-{after} are no longer kept: list again (watch without resourceVersion)",
                    events.epoch()
                )))?;
            (Initial::Replay(replay), after, HashMap::new())
        }
        None => {
            let states = match scope.mesh() {
                Some(mesh) => state.registry.state(mesh).into_iter().collect(),
                None => state.registry.states(),
            };
            let seen: HashMap<String, u64> = states
                .iter()
                .map(|s| (s.name().to_string(), s.seq))
                .collect();
            let floor = seen.values().copied().min().unwrap_or(until).min(until);
            // Changes up to `until` that the states read do not show yet.
            let replay = events.between(floor, until).map_err(|_| {
                ApiError::domain(Title::RetrieveList, ursa_actors::Error::ActorGone)
            })?;
            (Initial::Items(states, replay), floor, seen)
        }
    };
    let cutoff = req.conn_data::<Cutoff>().cloned();
    let (tx, out) = mpsc::channel::<(Bytes, OwnedSemaphorePermit)>(QUEUE);
    let stream = Stream {
        scope,
        registry: state.registry.clone(),
        epoch: events.epoch().to_string(),
        tx,
        budget: Arc::new(Semaphore::new(QUEUE_BYTES)),
        cutoff,
        seen,
        floor,
        until,
    };
    actix_web::rt::spawn(stream.run(initial, rx, Duration::from_secs(seconds)));
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // A frame's bytes leave the budget when actix takes it to write.
        .streaming(
            tokio_stream::wrappers::ReceiverStream::new(out)
                .map(|(bytes, _permit)| Ok::<_, actix_web::Error>(bytes)),
        ))
}

/// What a stream sends before live events.
enum Initial {
    /// The current items (as of each mesh's state), then the changes they do not show yet.
    Items(Vec<Arc<MeshState>>, Vec<Arc<Event>>),
    /// The changes after the resumption point.
    Replay(Vec<Arc<Event>>),
}

struct Stream {
    scope: Scope,
    registry: ursa_actors::registry::MeshRegistry,
    epoch: String,
    tx: mpsc::Sender<(Bytes, OwnedSemaphorePermit)>,
    /// Bytes queued and not yet taken by actix, at most [`QUEUE_BYTES`].
    budget: Arc<Semaphore>,
    cutoff: Option<Cutoff>,
    /// Per mesh, the last change its initial items showed.
    seen: HashMap<String, u64>,
    /// Changes at or before this were shown by some mesh's initial items (or resumed past).
    floor: u64,
    /// The subscription point: later changes come from the broadcast.
    until: u64,
}

/// Why a stream stopped sending.
enum Stop {
    /// The client went away, or the stream timed out.
    Done,
    /// The client did not keep up.
    TooSlow,
}

impl Stream {
    fn id(&self, seq: u64) -> String {
        format!("{}-{seq}", self.epoch)
    }

    fn cost(bytes: &Bytes) -> u32 {
        bytes.len().clamp(1, QUEUE_BYTES) as u32
    }

    /// Sends with backpressure (the initial items and replay).
    async fn send(&self, bytes: Bytes) -> Result<(), Stop> {
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(Self::cost(&bytes))
            .await
            .map_err(|_| Stop::Done)?;
        self.tx.send((bytes, permit)).await.map_err(|_| Stop::Done)
    }

    /// Sends a live event: a full queue means the client is too slow.
    fn offer(&self, bytes: Bytes) -> Result<(), Stop> {
        let permit = self
            .budget
            .clone()
            .try_acquire_many_owned(Self::cost(&bytes))
            .map_err(|_| Stop::TooSlow)?;
        self.tx.try_send((bytes, permit)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Stop::TooSlow,
            mpsc::error::TrySendError::Closed(_) => Stop::Done,
        })
    }

    /// The event's frame, if it concerns the list and was not shown already.
    fn event_frame(&self, event: &Event) -> Option<Bytes> {
        if event.seq <= self.floor {
            return None;
        }
        if self.seen.get(event.mesh()).is_some_and(|s| event.seq <= *s) {
            return None;
        }
        let state = self.registry.state(event.mesh());
        let (op, item) = self.scope.render(event, state.as_deref())?;
        Some(item_frame(op, &item, Some(&self.id(event.seq))))
    }

    async fn run(self, initial: Initial, mut rx: broadcast::Receiver<Arc<Event>>, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let result = tokio::time::timeout_at(deadline, async {
            let replay = match initial {
                Initial::Items(states, replay) => {
                    for state in &states {
                        for item in self.scope.items(state) {
                            self.send(item_frame(Op::Added, &item, None)).await?;
                        }
                    }
                    replay
                }
                Initial::Replay(replay) => replay,
            };
            for event in &replay {
                if let Some(bytes) = self.event_frame(event) {
                    self.send(bytes).await?;
                }
            }
            let synced = serde_json::json!({"resourceVersion": self.id(self.until)});
            self.send(frame("synced", Some(&self.id(self.until)), &synced))
                .await?;
            let mut heartbeat = tokio::time::interval(HEARTBEAT);
            heartbeat.tick().await;
            loop {
                tokio::select! {
                    _ = heartbeat.tick() => self.offer(Bytes::from_static(b": keep-alive\n\n"))?,
                    event = rx.recv() => match event {
                        Ok(event) => {
                            if let Some(bytes) = self.event_frame(&event) {
                                self.offer(bytes)?;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => return Err(Stop::TooSlow),
                        Err(broadcast::error::RecvError::Closed) => return Err(Stop::Done),
                    },
                    _ = self.tx.closed() => return Err::<(), Stop>(Stop::Done),
                }
            }
        })
        .await;
        if let Ok(Err(Stop::TooSlow)) = result {
            tracing::debug!("a watch client did not keep up; cutting its connection");
            if let Some(cutoff) = &self.cutoff {
                cutoff.cut();
            }
        }
    }
}
