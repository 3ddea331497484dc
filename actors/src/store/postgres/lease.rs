//! The instance leases of the PostgreSQL store: one row per instance in
//! `control_plane_instances`, renewed with the server's `now()`.

use std::time::Duration;

use super::read::{with_client, Failure};
use super::{sql, PostgresStore};
use crate::store::lease::Leases;
use crate::store::StoreFuture;

impl Leases for PostgresStore {
    fn renew(&self, instance: &str) -> StoreFuture<()> {
        let (pool, instance) = (self.pool.clone(), instance.to_owned());
        Box::pin(async move {
            with_client(&pool, |client| {
                let instance = instance.clone();
                async move {
                    client.execute(sql::RENEW_LEASE, &[&instance]).await?;
                    Ok::<_, Failure>(())
                }
            })
            .await
        })
    }

    fn expired(&self, timeout: Duration) -> StoreFuture<Vec<String>> {
        let pool = self.pool.clone();
        let seconds = timeout.as_secs_f64();
        Box::pin(async move {
            with_client(&pool, |client| async move {
                let rows = client.query(sql::EXPIRED_LEASES, &[&seconds]).await?;
                rows.iter()
                    .map(|row| row.try_get::<_, String>(0).map_err(Failure::from))
                    .collect()
            })
            .await
        })
    }

    fn forget(&self, instance: &str, timeout: Duration) -> StoreFuture<bool> {
        let (pool, instance) = (self.pool.clone(), instance.to_owned());
        let seconds = timeout.as_secs_f64();
        Box::pin(async move {
            with_client(&pool, |client| {
                let instance = instance.clone();
                async move {
                    let deleted = client
                        .execute(sql::FORGET_LEASE, &[&instance, &seconds])
                        .await?;
                    Ok::<_, Failure>(deleted > 0)
                }
            })
            .await
        })
    }
}
