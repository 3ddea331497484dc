//! Writes: a batch of changes as one transaction whose statements are pipelined on one
//! connection, each change's outcome reported as a row (see [`super::sql`]).

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use deadpool_postgres::Pool;
use futures_util::future::{maybe_done, MaybeDone};
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::Statement;

use super::error::{describe, is_connection_lost, is_retryable, pool_error, query_error};
use super::{listen, sql};
use crate::kinds::Kind;
use crate::resource::Resource;
use crate::store::{Change, StoreError};

/// Attempts of a batch that a deadlock with a concurrent writer aborted (it applied nothing).
const MAX_ATTEMPTS: u32 = 5;

/// A change of a batch, with its parameters converted and its payload built, or its outcome
/// already known.
enum Op<'a> {
    /// Decided without the database.
    Done(Result<(), StoreError>),
    /// An insert.
    Insert {
        resource: &'a Resource,
        version: i64,
        payload: String,
    },
    /// An update from `expected`.
    Update {
        resource: &'a Resource,
        expected: i64,
        version: i64,
        payload: String,
    },
    /// A delete, at `expected` if given.
    Delete {
        kind: Kind,
        mesh: &'a str,
        name: &'a str,
        expected: Option<i64>,
        payload: String,
    },
}

type Outcome = Result<Result<(), StoreError>, tokio_postgres::Error>;
type OpFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

fn version_param(version: u64) -> Result<i64, StoreError> {
    i64::try_from(version)
        .map_err(|_| StoreError::Internal(format!("version {version} is out of range")))
}

impl<'a> Op<'a> {
    fn new(change: &'a Change, instance: &str) -> Op<'a> {
        match change {
            Change::Create(r) => match version_param(r.meta.version) {
                Ok(version) => Op::Insert {
                    resource: r,
                    version,
                    payload: listen::payload(r.kind(), &r.meta.mesh, &r.meta.name, instance),
                },
                Err(e) => Op::Done(Err(e)),
            },
            Change::Update { resource, expected } => {
                if resource.meta.version != expected.wrapping_add(1) {
                    return Op::Done(Err(StoreError::Conflict));
                }
                match version_param(resource.meta.version) {
                    Ok(version) => Op::Update {
                        resource,
                        // A version no row can have: the update then finds no match.
                        expected: i64::try_from(*expected).unwrap_or(-1),
                        version,
                        payload: listen::payload(
                            resource.kind(),
                            &resource.meta.mesh,
                            &resource.meta.name,
                            instance,
                        ),
                    },
                    Err(e) => Op::Done(Err(e)),
                }
            }
            Change::Delete {
                kind,
                mesh,
                name,
                expected,
            } => Op::Delete {
                kind: *kind,
                mesh,
                name,
                // A version no row can have: the delete then finds no match.
                expected: expected.map(|v| i64::try_from(v).unwrap_or(-1)),
                payload: listen::payload(*kind, mesh, name, instance),
            },
        }
    }

    /// The statement of this change, to be pipelined with the others of its batch.
    fn run<'t>(
        &'t self,
        tx: &'t deadpool_postgres::Transaction<'_>,
        st: &'t Statements,
    ) -> OpFuture<'t> {
        Box::pin(async move {
            match self {
                Op::Done(r) => Ok(match r {
                    Ok(()) => Ok(()),
                    Err(e) => Err(copy_error(e)),
                }),
                Op::Insert {
                    resource: r,
                    version,
                    payload,
                } => {
                    let kind = r.kind().type_name();
                    let spec = Json(&r.spec);
                    let params: [&(dyn ToSql + Sync); 8] = [
                        &kind,
                        &r.meta.mesh,
                        &r.meta.name,
                        version,
                        &r.meta.creation_time,
                        &r.meta.modification_time,
                        &spec,
                        payload,
                    ];
                    let applied: i64 = tx.query_one(&st.insert, &params).await?.try_get(0)?;
                    Ok(if applied > 0 {
                        Ok(())
                    } else {
                        Err(StoreError::AlreadyExists)
                    })
                }
                Op::Update {
                    resource: r,
                    expected,
                    version,
                    payload,
                } => {
                    let kind = r.kind().type_name();
                    let spec = Json(&r.spec);
                    let params: [&(dyn ToSql + Sync); 8] = [
                        &kind,
                        &r.meta.mesh,
                        &r.meta.name,
                        expected,
                        version,
                        &r.meta.modification_time,
                        &spec,
                        payload,
                    ];
                    let row = tx.query_one(&st.update, &params).await?;
                    let applied: i64 = row.try_get(0)?;
                    let present: bool = row.try_get(1)?;
                    Ok(match (applied > 0, present) {
                        (true, _) => Ok(()),
                        (false, true) => Err(StoreError::Conflict),
                        (false, false) => Err(StoreError::NotFound),
                    })
                }
                Op::Delete {
                    kind,
                    mesh,
                    name,
                    expected,
                    payload,
                } => {
                    let type_name = kind.type_name();
                    let owned: Vec<&str> = kind.owned().map(Kind::type_name).collect();
                    let row = match kind {
                        Kind::Mesh => {
                            tx.query_one(
                                &st.delete_mesh,
                                &[&type_name, mesh, name, payload, expected],
                            )
                            .await?
                        }
                        _ if !owned.is_empty() => {
                            tx.query_one(
                                &st.delete_owner,
                                &[&type_name, mesh, name, payload, expected, &owned],
                            )
                            .await?
                        }
                        _ => {
                            tx.query_one(&st.delete, &[&type_name, mesh, name, payload, expected])
                                .await?
                        }
                    };
                    let applied: i64 = row.try_get(0)?;
                    let present: bool = row.try_get(1)?;
                    Ok(match (applied > 0, present) {
                        (true, _) => Ok(()),
                        (false, true) => Err(StoreError::Conflict),
                        (false, false) => Err(StoreError::NotFound),
                    })
                }
            }
        })
    }
}

/// `StoreError` is not `Clone` (its variants are); an `Op::Done` outcome is reported once per
/// attempt.
fn copy_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::AlreadyExists => StoreError::AlreadyExists,
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict => StoreError::Conflict,
        StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
        StoreError::Internal(m) => StoreError::Internal(m.clone()),
    }
}

/// The write statements, prepared once per connection (cached by the pool).
struct Statements {
    insert: Statement,
    update: Statement,
    delete: Statement,
    delete_mesh: Statement,
    delete_owner: Statement,
}

impl Statements {
    async fn prepare(
        client: &deadpool_postgres::Client,
    ) -> Result<Statements, tokio_postgres::Error> {
        use Type as T;
        let delete = [T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::INT8];
        Ok(Statements {
            insert: client
                .prepare_typed_cached(
                    sql::INSERT,
                    &[
                        T::TEXT,
                        T::TEXT,
                        T::TEXT,
                        T::INT8,
                        T::TIMESTAMPTZ,
                        T::TIMESTAMPTZ,
                        T::JSON,
                        T::TEXT,
                    ],
                )
                .await?,
            update: client
                .prepare_typed_cached(
                    sql::UPDATE,
                    &[
                        T::TEXT,
                        T::TEXT,
                        T::TEXT,
                        T::INT8,
                        T::INT8,
                        T::TIMESTAMPTZ,
                        T::JSON,
                        T::TEXT,
                    ],
                )
                .await?,
            delete: client.prepare_typed_cached(sql::DELETE, &delete).await?,
            delete_mesh: client
                .prepare_typed_cached(sql::DELETE_MESH, &delete)
                .await?,
            delete_owner: client
                .prepare_typed_cached(
                    sql::DELETE_OWNER,
                    &[T::TEXT, T::TEXT, T::TEXT, T::TEXT, T::INT8, T::TEXT_ARRAY],
                )
                .await?,
        })
    }
}

/// Runs `futures` concurrently, first-polling them in order, so that their statements are
/// sent, and therefore executed, in batch order.
async fn join_in_order<F: Future + Unpin>(futures: Vec<F>) -> Vec<F::Output> {
    let mut slots: Vec<MaybeDone<F>> = futures.into_iter().map(maybe_done).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for slot in slots.iter_mut() {
            done &= Pin::new(slot).poll(cx).is_ready();
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    slots
        .iter_mut()
        .filter_map(|slot| Pin::new(slot).take_output())
        .collect()
}

/// Why an attempt at a batch failed.
struct Failed {
    error: tokio_postgres::Error,
    /// Whether COMMIT had been sent: then the outcome is unknown and the batch is not retried.
    committing: bool,
}

/// One attempt at a batch: BEGIN, the pipelined statements, COMMIT.
async fn run_batch(
    client: &mut deadpool_postgres::Client,
    ops: &[Op<'_>],
) -> Result<Vec<Result<(), StoreError>>, Failed> {
    let before = |error| Failed {
        error,
        committing: false,
    };
    let statements = Statements::prepare(client).await.map_err(before)?;
    let tx = client.transaction().await.map_err(before)?;
    let outcomes = join_in_order(ops.iter().map(|op| op.run(&tx, &statements)).collect()).await;
    let mut results = Vec::with_capacity(outcomes.len());
    for outcome in outcomes {
        // A failed statement aborted the transaction; dropping `tx` rolls it back.
        results.push(outcome.map_err(before)?);
    }
    tx.commit().await.map_err(|error| Failed {
        error,
        committing: true,
    })?;
    Ok(results)
}

/// Applies `changes` as one transaction, announced as written by `instance`; see
/// [`crate::store::Store::commit`].
pub(super) async fn commit(
    pool: Pool,
    instance: std::sync::Arc<str>,
    changes: Vec<Change>,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let ops: Vec<Op<'_>> = changes.iter().map(|c| Op::new(c, &instance)).collect();
    let mut attempt = 1;
    // A pooled connection found dead before COMMIT was sent (after a server restart every
    // pooled connection may be): the batch applied nothing and runs again on another. When the
    // server itself is gone, getting a new connection fails and ends the loop.
    let mut lost = 0;
    loop {
        let mut client = pool.get().await.map_err(|e| pool_error(&e))?;
        match run_batch(&mut client, &ops).await {
            Ok(results) => return Ok(results),
            Err(Failed { error, .. }) if attempt < MAX_ATTEMPTS && is_retryable(&error) => {
                tracing::debug!(attempt, error = %describe(&error), "batch aborted by a deadlock; retrying");
                attempt += 1;
            }
            Err(Failed {
                error,
                committing: false,
            }) if lost <= pool.status().max_size && is_connection_lost(&error) => {
                tracing::debug!(error = %describe(&error), "pooled connection lost; retrying");
                lost += 1;
            }
            Err(Failed { error, .. }) => return Err(query_error(&error)),
        }
    }
}
