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
    /// Issue a user token (writer authentication, apiServer.auth) or, with --name, a
    /// dataplane token, signed by the key in the PostgreSQL store; or revoke a user token.
    /// With the memory store use the admin server instead.
    Token {
        /// The user the token is for.
        #[arg(long, required_unless_present_any = ["revoke", "name"], conflicts_with_all = ["revoke", "name"])]
        user: Option<String>,
        /// The Dataplane a dataplane token is for.
        #[arg(long, conflicts_with = "revoke")]
        name: Option<String>,
        /// The mesh of that Dataplane.
        #[arg(long, default_value = "default", requires = "name")]
        mesh: String,
        /// How long the token is valid, e.g. 720h (default: until revoked).
        #[arg(long)]
        valid_for: Option<String>,
        /// Revoke the token with this id (its `jti`) instead.
        #[arg(long)]
        revoke: Option<String>,
    },
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
    if let Some(Cmd::Token {
        user,
        name,
        mesh,
        valid_for,
        revoke,
    }) = args.command
    {
        if let Some(name) = name {
            return dataplane_token(&config, &mesh, &name).await;
        }
        return token(&config, user, valid_for, revoke).await;
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

/// The PostgreSQL store, for the `token` subcommands (`what` names them in messages).
async fn token_store(
    config: &Config,
    what: &str,
    curl: &str,
) -> Result<std::sync::Arc<ursa_actors::store::postgres::PostgresStore>, std::process::ExitCode> {
    use ursa_actors::config::StoreType;
    if config.store.kind == StoreType::Memory {
        eprintln!(
            "ursa-cp token: with store.type memory the signing key of {what} lives inside the \
             running ursa-cp; ask its admin server: {curl}"
        );
        return Err(std::process::ExitCode::from(2));
    }
    match ursa_actors::store::postgres::PostgresStore::connect(&config.store.postgres).await {
        Ok(s) => Ok(std::sync::Arc::new(s)),
        Err(e) => {
            eprintln!("ursa-cp token: could not open the PostgreSQL store (store.postgres.*): {e}");
            Err(std::process::ExitCode::from(1))
        }
    }
}

/// `ursa-cp token --mesh M --name N`: prints a new dataplane token.
async fn dataplane_token(config: &Config, mesh: &str, name: &str) -> std::process::ExitCode {
    let curl = format!(
        "curl -XPOST http://127.0.0.1:{}/tokens -d '{{\"mesh\": \"{mesh}\", \"name\": \"{name}\"}}'",
        config.admin_server.local.port
    );
    let store = match token_store(config, "dataplane tokens", &curl).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    match ursa_cp::dataplane_token::DataplaneTokens::load(&*store).await {
        Ok(tokens) => {
            println!("{}", tokens.issue(mesh, name));
            eprintln!("dataplane token for {mesh}.{name}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ursa-cp token: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// `ursa-cp token`: prints a new user token, or revokes one.
async fn token(
    config: &Config,
    user: Option<String>,
    valid_for: Option<String>,
    revoke: Option<String>,
) -> std::process::ExitCode {
    let curl = format!(
        "curl -XPOST http://127.0.0.1:{}/tokens/user -d '{{\"name\": \"NAME\"}}'",
        config.admin_server.local.port
    );
    let store = match token_store(config, "user tokens", &curl).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let valid_for = match valid_for
        .as_deref()
        .map(str::parse::<ursa_actors::config::GoDuration>)
    {
        None => None,
        Some(Ok(d)) => Some(d.0),
        Some(Err(e)) => {
            eprintln!("ursa-cp token: --valid-for: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let tokens = match ursa_cp::auth::Tokens::load(store).await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ursa-cp token: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match (user, revoke) {
        (_, Some(id)) => match tokens.revoke(&id).await {
            Ok(()) => {
                eprintln!("revoked user token {id}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ursa-cp token: {e}");
                std::process::ExitCode::from(1)
            }
        },
        (Some(user), None) => {
            let (token, claims) = tokens.issue(&user, valid_for);
            println!("{token}");
            eprintln!("user token for {} (id {})", claims.sub, claims.jti);
            std::process::ExitCode::SUCCESS
        }
        (None, None) => std::process::ExitCode::from(2),
    }
}
