//! How driver and pool failures become [`StoreError`]s: anything that means "the database cannot
//! be used right now" is `Unavailable` (the API answers 503), everything else `Internal`.

use std::error::Error as _;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::StoreError;

/// A failure of a query on an established connection.
pub(super) fn query_error(e: &tokio_postgres::Error) -> StoreError {
    if is_unavailable(e) {
        StoreError::Unavailable(describe(e))
    } else {
        StoreError::Internal(describe(e))
    }
}

/// A failure to obtain a connection: whatever the cause (refused, timed out, authentication,
/// TLS, no such database), the store cannot be used, so it is `Unavailable`.
pub(super) fn pool_error(e: &PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => StoreError::Unavailable(describe(e)),
        PoolError::Timeout(_) => {
            StoreError::Unavailable("timed out waiting for a database connection".to_owned())
        }
        PoolError::Closed => StoreError::Unavailable("the connection pool is closed".to_owned()),
        other => StoreError::Internal(format!("connection pool: {other}")),
    }
}

/// True for a transaction the server aborted because of a concurrent one (deadlock or
/// serialization failure): nothing was applied and running it again is safe.
pub(super) fn is_retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

/// The connection itself failed (closed, reset, or ended by the server): the statement may
/// never have reached the server, and another connection may work.
pub(super) fn is_connection_lost(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("08") || code == "57P01" || code == "57P02";
    }
    e.is_closed() || has_io_source(e)
}

fn has_io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Connection-level failures: the link is gone or unusable, or the server is going away, is
/// starting, is a read-only standby (a fail-over in progress) or is out of resources.
pub(super) fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if let Some(code) = e.code() {
        let code = code.code();
        return code.starts_with("08") // connection exception
            || code.starts_with("53") // insufficient resources (disk full, too many connections)
            || code.starts_with("57P") // admin/crash shutdown, cannot connect now
            || code.starts_with("28") // authentication (seen on reconnect)
            || code == "3D000" // the database does not exist
            || code == "25006"; // read-only transaction: connected to a standby
    }
    if e.is_closed() || has_io_source(e) {
        return true;
    }
    // Timeouts and connect failures without an io::Error cause.
    let text = e.to_string();
    text.starts_with("timeout") || text.starts_with("error connecting")
}

/// The error and its causes on one line. Never includes the password: the driver does not
/// echo it and the configuration is never formatted here.
pub(super) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
