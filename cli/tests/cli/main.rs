//! The real `ursactl` binary against a real `ursa-cp` on a random loopback port: every command
//! and output format, pagination, apply of directories, exit codes, kumactl's config file.

mod apply;
mod config;
mod fixtures;
mod get;
mod inspect;
mod misc;
mod support;
mod tls;
mod token;
mod wait;
