//! `ursa-cp`: runs the Ursa control plane.

use std::io::IsTerminal;

use clap::{Parser, Subcommand};
use ursa_actors::config::Config;
use ursa_cp::app::{self, Options};

/// Ursa control plane: a Kuma-compatible service mesh control plane.
#[derive(Parser)]
#[command(name = "ursa-cp", version)]
struct Args {
    /// Configuration file (YAML, Kuma's keys); KUMA_* environment variables override it.
    #[arg(short = 'c', long = "config-file", global = true)]
    config_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the control plane (the default, as `kuma-cp run`).
    Run,
    /// Apply the PostgreSQL schema migrations (`store.postgres.*`) and exit.
    Migrate,
}

/// Logs to stdout: `URSA_LOG` filters (default `info`); `URSA_LOG_FORMAT` is `text` (the
/// default: colours only on a terminal, and never with `NO_COLOR` set) or `json` (one JSON
/// object per line, for log shippers).
fn init_logs() -> Result<(), String> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("URSA_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var("URSA_LOG_FORMAT").as_deref() {
        Ok("json") => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
        Ok("text") | Err(_) => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            logs.with_ansi(std::io::stdout().is_terminal() && !no_color)
                .init()
        }
        Ok(other) => return Err(format!("URSA_LOG_FORMAT={other:?}: expected text or json")),
    }
    Ok(())
}

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    if let Err(e) = init_logs() {
        eprintln!("ursa-cp: {e}");
        return std::process::ExitCode::from(2);
    }
    let args = Args::parse();
    ursa_cp::http::raise_fd_limit();
    let config = match Config::load(args.config_file.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ursa-cp: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Some(Cmd::Migrate) = args.command {
        return match ursa_actors::store::postgres::migrate(&config.store.postgres).await {
            Ok(m) => {
                println!("database schema at version {} (was {})", m.to, m.from);
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ursa-cp migrate: {e}");
                std::process::ExitCode::from(1)
            }
        };
    }
    let running = match app::start(config, Options::default()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ursa-cp: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    if let Err(e) = running.wait().await {
        eprintln!("ursa-cp: {e}");
        return std::process::ExitCode::from(1);
    }
    tracing::info!("Ursa control plane stopped");
    std::process::ExitCode::SUCCESS
}
