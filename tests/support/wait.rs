//! Waiting for a condition, with a deadline (never a fixed sleep): the check runs every 50 ms.

use std::time::{Duration, Instant};

/// Retries `check` until it succeeds; panics naming `what` with its last complaint after
/// `within`.
pub fn until<T>(within: Duration, what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    try_until(within, check).unwrap_or_else(|e| panic!("{what}: not within {within:?}: {e}"))
}

/// Retries `check` until it succeeds; its last complaint after `within`.
pub fn try_until<T, E>(within: Duration, mut check: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let deadline = Instant::now() + within;
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
