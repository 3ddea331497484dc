//! One module per command; [`run`] dispatches. [`Env`] holds what every command shares: the
//! configuration file, the mesh, the token and the log level.

mod apply;
mod config;
mod delete;
mod diff;
mod get;
mod inspect;
mod token;

use std::io::Write;
use std::path::PathBuf;

use clap::CommandFactory;

use crate::args::{Cli, Command, LogLevel, Shell, WaitArgs};
use crate::client::Client;
use crate::config::{self as file, Config};
use crate::error::CliError;
use crate::wait;

/// What every command shares.
pub struct Env {
    /// The configuration file's path.
    pub config_path: PathBuf,
    mesh_flag: Option<String>,
    token: Option<String>,
    /// `--log-level`.
    pub log: LogLevel,
}

impl Env {
    /// The configuration (kumactl's default when there is no file).
    pub fn config(&self) -> Result<Config, CliError> {
        Config::load(&self.config_path)
    }

    /// The mesh: `-m`, else the current context's default mesh, else `default`.
    pub fn mesh(&self) -> Result<String, CliError> {
        if let Some(m) = &self.mesh_flag {
            return Ok(m.clone());
        }
        let config = self.config()?;
        Ok(config
            .current()
            .map(|target| target.mesh)
            .ok()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "default".into()))
    }

    /// A client of the current context's control plane, and the mesh to use.
    pub fn connect(&self) -> Result<(Client, String), CliError> {
        let config = self.config()?;
        let target = config.current()?;
        let mesh = self
            .mesh_flag
            .clone()
            .or(Some(target.mesh).filter(|m| !m.is_empty()))
            .unwrap_or_else(|| "default".into());
        let client = self.client(&target.url, target.ca_cert_file.as_deref())?;
        Ok((client, mesh))
    }

    /// A client of the API at `url` (trusting the CA in `ca_cert_file` for https), with this
    /// invocation's token and logging.
    pub fn client(&self, url: &str, ca_cert_file: Option<&str>) -> Result<Client, CliError> {
        let ca = match ca_cert_file {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                CliError::Usage(format!("could not read the CA certificate {path}: {e}"))
            })?),
            None => None,
        };
        Client::new(
            url,
            self.token.clone(),
            self.log >= LogLevel::Debug,
            ca.as_deref(),
        )
        .map_err(CliError::from)
    }

    /// A progress line on stderr at `--log-level info` and above.
    pub fn info(&self, line: &str) {
        if self.log >= LogLevel::Info {
            eprintln!("{line}");
        }
    }
}

/// Runs the command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let config_path = match cli.config_file {
        Some(p) => p,
        None => file::default_path()?,
    };
    let env = Env {
        config_path,
        mesh_flag: cli.mesh,
        token: cli.token,
        log: cli.log_level,
    };
    match cli.command {
        Command::Get(args) => get::run(&env, &args, out),
        Command::Inspect(args) => inspect::run(&env, &args, out),
        Command::Apply(args) => apply::run(&env, &args, out),
        Command::Delete(args) => delete::run(&env, &args, out),
        Command::Diff(args) => diff::run(&env, &args, out),
        Command::Wait(args) => wait_for(&env, &args, out),
        Command::Config(args) => config::run(&env, &args, out),
        Command::Generate(args) => token::run(&env, &args, out),
        Command::Completion(args) => {
            let shell = match args.shell {
                Shell::Bash => clap_complete::Shell::Bash,
                Shell::Zsh => clap_complete::Shell::Zsh,
                Shell::Fish => clap_complete::Shell::Fish,
            };
            clap_complete::generate(shell, &mut Cli::command(), "ursactl", out);
            Ok(())
        }
        Command::Version => {
            writeln!(
                out,
                "Client: ursactl {} (Ursa; kumactl 0.5 compatible)",
                env!("CARGO_PKG_VERSION")
            )?;
            Ok(())
        }
    }
}

fn wait_for(env: &Env, args: &WaitArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let (client, mesh) = env.connect()?;
    let mut source = wait::Poller::new(client, &mesh, &args.name, args.interval);
    let state = wait::until(&mut source, args.condition, args.timeout)?;
    writeln!(out, "{}", wait::reached(state, &mesh, &args.name))?;
    Ok(())
}
