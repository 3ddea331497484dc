//! Control-plane secrets (see [`crate::store::secrets`]): one row each in `secrets`, inserted
//! once with `ON CONFLICT DO NOTHING` and read back, so that instances racing to create a
//! secret all end with the row that landed first.

use deadpool_postgres::Pool;
use tokio_postgres::types::Type;

use super::read::{with_client, Failure};
use super::sql;
use crate::store::secrets::{check_name, Generate};
use crate::store::StoreError;

/// The secret `name`, stored from `generate()` when absent.
pub(super) async fn get_or_create(
    pool: &Pool,
    name: &str,
    generate: Generate,
) -> Result<Vec<u8>, StoreError> {
    check_name(name)?;
    if let Some(value) = get(pool, name).await? {
        return Ok(value);
    }
    let value = generate();
    with_client(pool, |client| {
        let value = &value;
        async move {
            let st = client
                .prepare_typed_cached(sql::INSERT_SECRET, &[Type::TEXT, Type::BYTEA])
                .await?;
            client.execute(&st, &[&name, value]).await?;
            Ok(())
        }
    })
    .await?;
    // Whoever inserted first, this is the value every instance now reads.
    get(pool, name)
        .await?
        .ok_or_else(|| StoreError::Internal(format!("secret {name} vanished after it was stored")))
}

async fn get(pool: &Pool, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
    with_client(pool, |client| async move {
        let st = client
            .prepare_typed_cached(sql::GET_SECRET, &[Type::TEXT])
            .await?;
        let row = client.query_opt(&st, &[&name]).await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(row.try_get::<_, Vec<u8>>(0).map_err(Failure::Db)?)),
        }
    })
    .await
}

/// The secrets whose names start with `prefix`.
pub(super) async fn list(pool: &Pool, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
    with_client(pool, |client| async move {
        let st = client
            .prepare_typed_cached(sql::LIST_SECRETS, &[Type::TEXT])
            .await?;
        let rows = client.query(&st, &[&prefix]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push((row.try_get(0)?, row.try_get(1)?));
        }
        Ok(out)
    })
    .await
}

/// Deletes the secrets whose names start with `prefix`.
pub(super) async fn delete(pool: &Pool, prefix: &str) -> Result<(), StoreError> {
    with_client(pool, |client| async move {
        let st = client
            .prepare_typed_cached(sql::DELETE_SECRETS, &[Type::TEXT])
            .await?;
        client.execute(&st, &[&prefix]).await?;
        Ok(())
    })
    .await
}
