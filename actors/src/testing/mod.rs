//! Test support (the `test-support` feature, and this crate's own tests): a [`FakeStore`]
//! whose every call a test can watch, hold, fail or feed with changes "made elsewhere", so the
//! actors' paths through a store (group commit, the write overlay, remote changes, leases) are
//! tested without PostgreSQL.

mod fake_store;

pub use fake_store::{Call, FakeStore, Hold, Write};
