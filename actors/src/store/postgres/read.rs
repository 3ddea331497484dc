//! Reads: one statement each, on a pooled connection, run again on another connection when the
//! pooled one turns out to be dead (its server restarted since it was last used).

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Client, Pool};
use tokio_postgres::types::Type;
use tokio_postgres::Row;

use super::error::{describe, is_connection_lost, pool_error, query_error};
use super::sql;
use crate::kinds::Kind;
use crate::page::{Page, PageRequest};
use crate::resource::{Meta, Resource};
use crate::store::StoreError;

/// Why a read failed.
pub(super) enum Failure {
    /// The database said no (or the connection failed).
    Db(tokio_postgres::Error),
    /// What it returned makes no resource.
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Failure {
    fn from(e: tokio_postgres::Error) -> Failure {
        Failure::Db(e)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

/// Runs `read` on a pooled connection, and again on another while the one it got was dead
/// (after a server restart every pooled connection may be; each fails at once). When the
/// server itself is gone, getting a new connection fails and ends the loop.
pub(super) async fn with_client<T, F, Fut>(pool: &Pool, mut read: F) -> Result<T, StoreError>
where
    F: FnMut(Client) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut lost = 0;
    loop {
        let client = pool.get().await.map_err(|e| pool_error(&e))?;
        match read(client).await {
            Ok(value) => return Ok(value),
            Err(Failure::Db(e)) if lost <= pool.status().max_size && is_connection_lost(&e) => {
                lost += 1;
            }
            Err(Failure::Db(e)) => return Err(query_error(&e)),
            Err(Failure::Store(e)) => return Err(e),
        }
    }
}

/// One resource.
pub(super) async fn get(
    pool: &Pool,
    kind: Kind,
    mesh: &str,
    name: &str,
) -> Result<Option<Arc<Resource>>, StoreError> {
    with_client(pool, |client| async move {
        let st = client
            .prepare_typed_cached(sql::GET, &[Type::TEXT, Type::TEXT, Type::TEXT])
            .await?;
        let row = client
            .query_opt(&st, &[&kind.type_name(), &mesh, &name])
            .await?;
        Ok(match row {
            None => None,
            Some(row) => Some(Arc::new(resource(
                kind,
                mesh.to_owned(),
                name.to_owned(),
                &row,
                0,
            )?)),
        })
    })
    .await
}

/// A page of one kind, in one mesh or all, and the total.
pub(super) async fn list(
    pool: &Pool,
    kind: Kind,
    mesh: Option<&str>,
    page: PageRequest,
) -> Result<Page<Arc<Resource>>, StoreError> {
    let (limit, offset) = (limit_param(page.size), limit_param(page.offset));
    let type_name = kind.type_name();
    with_client(pool, |client| async move {
        let rows = match mesh {
            None => {
                let st = client
                    .prepare_typed_cached(sql::LIST_ALL, &[Type::TEXT, Type::INT8, Type::INT8])
                    .await?;
                client.query(&st, &[&type_name, &limit, &offset]).await?
            }
            Some(mesh) => {
                let st = client
                    .prepare_typed_cached(
                        sql::LIST_MESH,
                        &[Type::TEXT, Type::TEXT, Type::INT8, Type::INT8],
                    )
                    .await?;
                client
                    .query(&st, &[&type_name, &mesh, &limit, &offset])
                    .await?
            }
        };
        let mut total = 0;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let n: i64 = row.try_get(0)?;
            total = usize::try_from(n).unwrap_or_default();
            let mesh: Option<String> = row.try_get(1)?;
            let name: Option<String> = row.try_get(2)?;
            if let (Some(mesh), Some(name)) = (mesh, name) {
                items.push(Arc::new(resource(kind, mesh, name, row, 3)?));
            }
        }
        Ok(Page { total, items })
    })
    .await
}

/// Everything, in the memory store's order: kind, then name, then mesh.
pub(super) async fn load_all(pool: &Pool) -> Result<Vec<Arc<Resource>>, StoreError> {
    with_client(pool, |client| async move {
        let rows = client.query(sql::LOAD_ALL, &[]).await?;
        let mut all = Vec::with_capacity(rows.len());
        for row in &rows {
            let kind = kind_of(row.try_get(0)?)?;
            let mesh: String = row.try_get(1)?;
            let name: String = row.try_get(2)?;
            all.push(Arc::new(resource(kind, mesh, name, row, 3)?));
        }
        all.sort_by(|a, b| {
            (a.kind(), &a.meta.name, &a.meta.mesh).cmp(&(b.kind(), &b.meta.name, &b.meta.mesh))
        });
        Ok(all)
    })
    .await
}

fn kind_of(type_name: &str) -> Result<Kind, StoreError> {
    Kind::ALL
        .iter()
        .copied()
        .find(|k| k.type_name() == type_name)
        .ok_or_else(|| {
            StoreError::Internal(format!("stored resource of unknown kind {type_name:?}"))
        })
}

/// A stored row back into a resource; `first` is the index of the `version` column, followed by
/// the times and the spec.
fn resource(
    kind: Kind,
    mesh: String,
    name: String,
    row: &Row,
    first: usize,
) -> Result<Resource, StoreError> {
    let internal = |e: tokio_postgres::Error| StoreError::Internal(describe(&e));
    let version: i64 = row.try_get(first).map_err(internal)?;
    let creation_time: DateTime<Utc> = row.try_get(first + 1).map_err(internal)?;
    let modification_time: DateTime<Utc> = row.try_get(first + 2).map_err(internal)?;
    let spec: serde_json::Value = row.try_get(first + 3).map_err(internal)?;
    let spec = kind.decode(spec).map_err(|v| {
        StoreError::Internal(format!(
            "stored {} {mesh}/{name} does not decode: {v:?}",
            kind.type_name()
        ))
    })?;
    Ok(Resource {
        meta: Meta {
            mesh,
            name,
            creation_time,
            modification_time,
            version: u64::try_from(version).unwrap_or_default(),
        },
        spec,
    })
}

fn limit_param(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
