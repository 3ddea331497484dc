//! The command line: kumactl 0.5's commands, flags and spellings, plus ursactl's own (`diff`,
//! `wait`, `delete -f`, `--dry-run=server`, `-o wide`, `--token`).

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::nouns;
use crate::render::Format;

/// Command line of Ursa, a Kuma-compatible service-mesh control plane (kumactl 0.5's commands,
/// flags and output).
#[derive(Debug, Parser)]
#[command(name = "ursactl", version, propagate_version = true)]
pub struct Cli {
    /// Path to the configuration file [default: ~/.kumactl/config].
    #[arg(long, global = true, value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    /// Mesh to use [default: the context's default mesh, else `default`].
    #[arg(short = 'm', long, global = true, value_name = "MESH")]
    pub mesh: Option<String>,

    /// Log level: off, info (progress on stderr) or debug (every HTTP request).
    #[arg(long, global = true, value_enum, default_value_t = LogLevel::Off)]
    pub log_level: LogLevel,

    /// Bearer token sent to the control plane (its writer authentication).
    #[arg(
        long,
        global = true,
        env = "KUMACTL_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum LogLevel {
    /// Nothing but results and errors.
    Off,
    /// Progress lines on stderr.
    Info,
    /// Every HTTP request on stderr.
    Debug,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show resources: `get meshes`, `get mesh NAME`, `get traffic-routes`, …
    Get(GetArgs),
    /// Inspect dataplanes with their insights (status, updates, certificates).
    Inspect(InspectArgs),
    /// Create or update resources from files, directories or stdin.
    Apply(ApplyArgs),
    /// Delete a resource (`delete traffic-route NAME`) or those of files (`-f`).
    Delete(DeleteArgs),
    /// Show what `apply` would change.
    Diff(DiffArgs),
    /// Wait until a dataplane is online, offline or deleted.
    Wait(WaitArgs),
    /// Manage the configuration: control planes and contexts.
    Config(ConfigArgs),
    /// Generate tokens and other artefacts.
    Generate(GenerateArgs),
    /// Print a shell completion script.
    Completion(CompletionArgs),
    /// Print the version.
    Version,
}

/// Paging flags of list commands.
#[derive(Debug, Args)]
pub struct Page {
    /// Maximum number of elements to return.
    #[arg(long, value_name = "N")]
    pub size: Option<u32>,
    /// The offset that indicates starting element of the resources list to retrieve.
    #[arg(long, value_name = "OFFSET")]
    pub offset: Option<String>,
}

/// `get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// What to show.
    #[arg(value_name = "RESOURCE", value_parser = PossibleValuesParser::new(nouns::all()))]
    pub resource: String,
    /// The resource's name (with a singular noun).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(flatten)]
    pub page: Page,
}

/// `inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// What to inspect.
    #[command(subcommand)]
    pub what: Inspect,
}

/// `inspect` subjects.
#[derive(Debug, Subcommand)]
pub enum Inspect {
    /// Dataplanes with their insights.
    Dataplanes(InspectDataplanesArgs),
}

/// `inspect dataplanes`.
#[derive(Debug, Args)]
pub struct InspectDataplanesArgs {
    /// Only dataplanes with this tag (repeatable): `--tag service=web`.
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Only gateway dataplanes.
    #[arg(long)]
    pub gateway: bool,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Format::Table)]
    pub output: Format,
    #[command(flatten)]
    pub page: Page,
}

/// Where documents come from.
#[derive(Debug, Args)]
pub struct FileArgs {
    /// A file, a directory or `-` for stdin (repeatable); documents separated by `---`.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Read directories recursively.
    #[arg(short = 'R', long)]
    pub recursive: bool,
    /// Value of a `{{ key }}` placeholder (repeatable): `-v key=value`.
    #[arg(short = 'v', long = "var", value_name = "KEY=VALUE")]
    pub vars: Vec<String>,
}

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub files: FileArgs,
    /// `--dry-run` (or `=client`): print the resolved documents and send nothing;
    /// `--dry-run=server`: let the control plane validate them without storing.
    #[arg(
        long,
        value_enum,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client",
        value_name = "WHERE"
    )]
    pub dry_run: Option<DryRun>,
}

/// `--dry-run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DryRun {
    /// Print the resolved documents.
    Client,
    /// The API's `?dryRun=true`.
    Server,
}

/// `delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The kind (singular, as kumactl: `mesh`, `dataplane`, `traffic-route`, …).
    #[arg(
        value_name = "TYPE",
        value_parser = PossibleValuesParser::new(nouns::singulars()),
        required_unless_present = "files",
        conflicts_with = "files",
        requires = "name"
    )]
    pub kind: Option<String>,
    /// The resource's name.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    #[command(flatten)]
    pub files: FileArgs,
}

/// `diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub files: FileArgs,
}

/// `wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// What to wait for.
    #[arg(value_name = "RESOURCE", value_parser = ["dataplane"])]
    pub resource: String,
    /// The dataplane's name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// The state to wait for.
    #[arg(long = "for", value_enum, value_name = "STATE")]
    pub condition: Condition,
    /// How long to wait (`90s`, `2m`, `500ms`; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub timeout: std::time::Duration,
    /// How often to look while polling.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    pub interval: std::time::Duration,
}

/// `wait --for`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Condition {
    /// Connected to the control plane.
    Online,
    /// Registered but not connected.
    Offline,
    /// No longer registered.
    Deleted,
}

/// Parses `90s`, `2m`, `1h`, `500ms`, `1m30s` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("invalid duration {s:?} (use e.g. 60s, 2m, 500ms)");
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += std::time::Duration::from_secs_f64(value * unit);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The config command.
    #[command(subcommand)]
    pub what: ConfigCommand,
}

/// `config` commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Show the configuration.
    View,
    /// Manage known control planes.
    #[command(name = "control-planes")]
    ControlPlanes(ControlPlanesArgs),
}

/// `config control-planes`.
#[derive(Debug, Args)]
pub struct ControlPlanesArgs {
    /// The control-planes command.
    #[command(subcommand)]
    pub what: ControlPlanesCommand,
}

/// `config control-planes` commands.
#[derive(Debug, Subcommand)]
pub enum ControlPlanesCommand {
    /// Add a control plane (checked to be a Kuma API first) and switch to it.
    Add {
        /// Its name.
        #[arg(long)]
        name: String,
        /// The API's URL, e.g. `http://cp.example:5681`.
        #[arg(long)]
        address: String,
        /// Replace a control plane of the same name.
        #[arg(long)]
        overwrite: bool,
        /// PEM file of the CA that signed an https API's certificate (default: public CAs).
        #[arg(long, value_name = "FILE")]
        ca_cert_file: Option<String>,
    },
    /// List the control planes.
    List,
    /// Remove a control plane.
    Remove {
        /// Its name.
        #[arg(long)]
        name: String,
    },
    /// Switch to a control plane.
    Switch {
        /// Its name.
        #[arg(long)]
        name: String,
    },
}

/// `generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[command(subcommand)]
    pub what: Generate,
}

/// `generate` subjects.
#[derive(Debug, Subcommand)]
pub enum Generate {
    /// A dataplane token, from the control plane's admin server.
    #[command(name = "dataplane-token")]
    DataplaneToken {
        /// The dataplane's name.
        #[arg(long, value_name = "NAME")]
        dataplane: String,
    },
}

/// `completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells `completion` writes scripts for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Zsh.
    Zsh,
    /// Fish.
    Fish,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::time::Duration;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }
}
