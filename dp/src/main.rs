//! `ursa-dp run`: fetch a dataplane's bootstrap from the control plane and run Envoy with it,
//! serving Envoy's gRPC access logs meanwhile. Its own crate, so the control plane does not
//! link the agent's dependencies.

mod access_log;
mod agent;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::access_log::AccessLogServer;
use crate::agent::{self as dp, DpOptions};

/// Ursa dataplane agent (Kuma's kuma-dp flags).
#[derive(Parser)]
#[command(name = "ursa-dp", version)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fetch the bootstrap and run Envoy.
    Run(RunArgs),
}

#[derive(Args)]
struct RunArgs {
    /// URL of the control plane's API server.
    #[arg(
        long,
        env = "KUMA_CONTROL_PLANE_API_SERVER_URL",
        default_value = "http://localhost:5681"
    )]
    cp_address: String,
    /// Mesh of the dataplane.
    #[arg(long, env = "KUMA_DATAPLANE_MESH", default_value = "default")]
    mesh: String,
    /// Name of the dataplane.
    #[arg(long, env = "KUMA_DATAPLANE_NAME")]
    name: String,
    /// Envoy admin port, or a range to pick a free one from; empty disables the admin API.
    #[arg(long, env = "KUMA_DATAPLANE_ADMIN_PORT", default_value = "30001-65535")]
    admin_port: String,
    /// Path to the Envoy binary.
    #[arg(
        long,
        env = "KUMA_DATAPLANE_RUNTIME_BINARY_PATH",
        default_value = "envoy"
    )]
    binary_path: String,
    /// Folder for the Envoy bootstrap (default: a temporary folder).
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// A Dataplane resource (YAML or JSON) to create or update in the control plane first.
    #[arg(long)]
    dataplane_file: Option<PathBuf>,
    /// Envoy drain time, in seconds.
    #[arg(long, env = "KUMA_DATAPLANE_DRAIN_TIME", default_value_t = 30)]
    drain_time: u32,
    /// File holding this dataplane's token (from the control plane's admin server), sent on
    /// the ADS stream; required when the control plane's catalog advertises a dataplane-token
    /// server.
    #[arg(long, env = "KUMA_DATAPLANE_RUNTIME_TOKEN_PATH")]
    dataplane_token_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let Cmd::Run(args) = Cli::parse().command;
    let opts = DpOptions {
        cp_address: args.cp_address,
        mesh: args.mesh,
        name: args.name,
        admin_port: args.admin_port,
        binary_path: args.binary_path,
        config_dir: args.config_dir,
        dataplane_file: args.dataplane_file,
        drain_time_s: args.drain_time,
        dataplane_token_file: args.dataplane_token_file,
    };
    let prepared = match dp::prepare(&opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ursa-dp: {e}");
            return ExitCode::from(1);
        }
    };
    // Lives until Envoy has exited; dropping it removes the socket.
    let _access_logs = match AccessLogServer::start(prepared.access_log_socket) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("ursa-dp: {e}");
            return ExitCode::from(1);
        }
    };
    match dp::run_envoy(&opts, &prepared.bootstrap) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ursa-dp: {e}");
            ExitCode::from(1)
        }
    }
}
