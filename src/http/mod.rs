//! What every HTTP server of the control plane shares: connections checked before actix-http
//! parses them ([`guard`]), per-client connection caps ([`limits`]) and the server built from
//! both ([`server`]).

pub mod guard;
pub mod limits;
pub mod server;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the process's soft file-descriptor limit to its hard limit (as Go's runtime does for
/// Kuma), so connection caps derived from it are generous; returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(e) => {
                tracing::warn!(error = %e, soft, hard, "could not raise the file-descriptor limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(_) => fd_limit(),
    }
}

/// The soft file-descriptor limit of the process (1024 when it cannot be read).
pub fn fd_limit() -> u64 {
    getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft)
}
