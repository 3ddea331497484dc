//! Schema migrations embedded in the binary, applied in order, each recorded in
//! `schema_migrations` in the same transaction, all under a transaction-scoped advisory lock so
//! that instances starting together apply them once.

use tokio_postgres::Client;

use super::error::query_error;
use super::sql;
use crate::store::StoreError;

/// One numbered schema change.
struct Migration {
    version: i64,
    description: &'static str,
    sql: &'static str,
}

/// Every migration this binary knows, oldest first; numbers never change once released.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "resources table",
        sql: include_str!("migrations/0001_resources.sql"),
    },
    Migration {
        version: 2,
        description: "control-plane instance leases",
        sql: include_str!("migrations/0002_control_plane_instances.sql"),
    },
    Migration {
        version: 3,
        description: "secrets table",
        sql: include_str!("migrations/0003_secrets.sql"),
    },
];

/// The newest schema version this binary knows.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// What [`super::migrate`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migrated {
    /// The schema version found.
    pub from: i64,
    /// The schema version now.
    pub to: i64,
}

/// Brings the schema to [`LATEST`] in one transaction.
pub(super) async fn run(client: &mut Client) -> Result<Migrated, StoreError> {
    let tx = client.transaction().await.map_err(|e| query_error(&e))?;
    let step = async {
        tx.execute(sql::MIGRATION_LOCK, &[&sql::MIGRATION_LOCK_KEY])
            .await?;
        tx.batch_execute(sql::CREATE_MIGRATIONS_TABLE).await?;
        let from: i64 = tx.query_one(sql::SCHEMA_VERSION, &[]).await?.try_get(0)?;
        Ok::<i64, tokio_postgres::Error>(from)
    };
    let from = step.await.map_err(|e| query_error(&e))?;
    if from > LATEST {
        return Err(StoreError::Internal(format!(
            "database schema version {from} is newer than this ursa-cp (knows up to {LATEST}); \
             upgrade ursa-cp"
        )));
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > from) {
        let apply = async {
            tx.batch_execute(m.sql).await?;
            tx.execute(sql::RECORD_MIGRATION, &[&m.version, &m.description])
                .await
        };
        apply.await.map_err(|e| {
            let mut err = query_error(&e);
            if let StoreError::Internal(msg) = &mut err {
                *msg = format!("schema migration {} ({}): {msg}", m.version, m.description);
            }
            err
        })?;
        tracing::info!(
            version = m.version,
            description = m.description,
            "applied schema migration"
        );
    }
    tx.commit().await.map_err(|e| query_error(&e))?;
    Ok(Migrated {
        from,
        to: LATEST.max(from),
    })
}
