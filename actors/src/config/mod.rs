//! The control plane's configuration: Kuma 0.5.0's `kuma-cp` config tree for the sections Ursa
//! implements, with Kuma's defaults, JSON/YAML names and `KUMA_*` environment variables.
//!
//! Sources, later ones winning: the defaults in code (identical to `config/ursa-cp.defaults.yaml`,
//! a test proves it) → the YAML file given on the command line (only the keys present override)
//! → `KUMA_*` environment variables passed in by the caller. [`Config::auto_configure`] then fills
//! the values Kuma derives at start-up, and [`Config::to_public_json`] is what `GET /config` shows.

mod duration;
mod env;
pub mod keys;
mod servers;
mod store;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

pub use duration::{DurationError, GoDuration};
pub use servers::*;
pub use store::*;

/// What `GET /config` shows instead of a secret.
pub const MASK: &str = "*****";

/// The only `environment` Ursa runs in.
pub const UNIVERSAL: &str = "universal";

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("could not read config file {}: {source}", path.display())]
    ReadFile {
        /// The file given.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// The configuration file is not well-formed YAML.
    #[error("config file {} is not valid YAML: {source}", path.display())]
    ParseFile {
        /// The file given.
        path: PathBuf,
        /// The YAML syntax error (with its line and column).
        source: serde_yaml::Error,
    },
    /// A key in the configuration file is unknown or has a value of the wrong kind.
    #[error("invalid config file {}: {key}: {message}", path.display())]
    InvalidFile {
        /// The file given.
        path: PathBuf,
        /// Path of the offending key, e.g. `apiServer.port` or `apiServer.prot`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A `KUMA_*` environment variable has a value that cannot be used.
    #[error("invalid value {value:?} for {variable}: {reason}")]
    InvalidEnv {
        /// The variable, e.g. `KUMA_API_SERVER_PORT`.
        variable: &'static str,
        /// Its value as given.
        value: String,
        /// What was expected instead.
        reason: String,
    },
    /// The environment variables could not be collected.
    #[error("could not read the KUMA_* environment variables: {0}")]
    ReadEnv(#[source] envy::Error),
    /// A value that has the right type but cannot be used.
    #[error("invalid {key} ({variable}): {reason}")]
    InvalidValue {
        /// The key, e.g. `apiServer.interface`.
        key: &'static str,
        /// Its environment variable.
        variable: &'static str,
        /// What is wrong, naming the value.
        reason: String,
    },
    /// `environment` is something other than `universal`.
    #[error(
        "unsupported environment {0:?} (environment / KUMA_ENVIRONMENT): Ursa runs in Universal \
         mode only, so the only accepted value is \"universal\""
    )]
    UnsupportedEnvironment(String),
}

/// The address `apiServer.interface` names: `None` for every interface (empty), else an IP
/// address, IPv6 with or without brackets.
pub fn interface_address(interface: &str) -> Result<Option<std::net::IpAddr>, String> {
    if interface.is_empty() {
        return Ok(None);
    }
    let bare = interface
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(interface);
    bare.parse().map(Some).map_err(|_| {
        format!("{interface:?} is not an IP address (empty means every interface, IPv6 and IPv4)")
    })
}

/// The whole configuration tree (Kuma's `kuma-cp` config, the sections Ursa implements).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Runtime environment; only `universal` is supported (`KUMA_ENVIRONMENT`).
    pub environment: String,
    /// Settings that concern the whole control plane.
    pub general: GeneralConfig,
    /// Where resources are stored.
    pub store: StoreConfig,
    /// The HTTP API server.
    pub api_server: ApiServerConfig,
    /// The server that hands Envoy bootstrap configuration to dataplane agents.
    pub bootstrap_server: BootstrapServerConfig,
    /// The xDS (ADS) gRPC server Envoy connects to.
    pub xds_server: XdsServerConfig,
    /// The monitoring-assignment (Prometheus discovery) gRPC server.
    pub monitoring_assignment_server: MonitoringAssignmentServerConfig,
    /// The admin server (dataplane tokens).
    pub admin_server: AdminServerConfig,
    /// Dataplane tokens (Kuma's deprecated section, whose `enabled` Ursa reads).
    pub dataplane_token_server: DataplaneTokenServerConfig,
    /// Resources created at start-up.
    pub defaults: DefaultsConfig,
    /// Usage reports.
    pub reports: ReportsConfig,
    /// Bounds on what clients can make the control plane hold (Ursa extension).
    pub limits: LimitsConfig,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            environment: UNIVERSAL.to_owned(),
            general: GeneralConfig::default(),
            store: StoreConfig::default(),
            api_server: ApiServerConfig::default(),
            bootstrap_server: BootstrapServerConfig::default(),
            xds_server: XdsServerConfig::default(),
            monitoring_assignment_server: MonitoringAssignmentServerConfig::default(),
            admin_server: AdminServerConfig::default(),
            dataplane_token_server: DataplaneTokenServerConfig::default(),
            defaults: DefaultsConfig::default(),
            reports: ReportsConfig::default(),
            limits: LimitsConfig::default(),
        }
    }
}

/// `general`: settings that concern the whole control plane.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct GeneralConfig {
    /// Hostname other components use to reach the control plane.
    pub advertised_hostname: String,
    /// Threads the mesh actors are spread over (Ursa extension; 0 = one per core).
    pub worker_threads: u32,
}

impl Default for GeneralConfig {
    fn default() -> GeneralConfig {
        GeneralConfig {
            advertised_hostname: "localhost".to_owned(),
            worker_threads: 0,
        }
    }
}

impl GeneralConfig {
    /// The mesh-actor threads `workerThreads` means.
    pub fn mesh_threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n as usize,
        }
    }
}

/// `limits`: bounds on what clients can make the control plane hold (Ursa extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Every HTTP server of the control plane (API, bootstrap).
    pub http: HttpLimits,
    /// The xDS server.
    pub xds: XdsLimits,
}

/// `limits.xds`: what the xDS server holds at most.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct XdsLimits {
    /// ADS streams open at once on this instance (0 = no cap).
    pub max_streams: u32,
}

impl Default for XdsLimits {
    fn default() -> XdsLimits {
        XdsLimits {
            max_streams: 20_000,
        }
    }
}

/// `limits.http`: time and connection limits of each HTTP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct HttpLimits {
    /// A request head, once begun, must arrive within this.
    pub read_header_timeout: GoDuration,
    /// A request body must arrive within this of its head.
    pub read_body_timeout: GoDuration,
    /// A kept-alive connection with no request is closed after this.
    pub idle_timeout: GoDuration,
    /// Open connections per server (0 = a quarter of the process's file-descriptor limit).
    pub max_connections: u32,
    /// Open connections per client address and server (0 = no cap).
    pub max_connections_per_client: u32,
}

impl Default for HttpLimits {
    fn default() -> HttpLimits {
        HttpLimits {
            read_header_timeout: GoDuration::from_secs(5),
            read_body_timeout: GoDuration::from_secs(10),
            idle_timeout: GoDuration::from_secs(30),
            max_connections: 0,
            max_connections_per_client: 256,
        }
    }
}

/// `defaults`: resources created at start-up.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DefaultsConfig {
    /// YAML of the `default` mesh, created when missing.
    pub mesh: String,
}

impl Default for DefaultsConfig {
    fn default() -> DefaultsConfig {
        DefaultsConfig {
            mesh: "type: Mesh\nname: default\n".to_owned(),
        }
    }
}

/// `reports`: usage reports (accepted for compatibility; Ursa sends none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Whether reports are enabled.
    pub enabled: bool,
}

impl Default for ReportsConfig {
    fn default() -> ReportsConfig {
        ReportsConfig { enabled: true }
    }
}

/// Deserialises a port, rejecting anything outside 0-65535 with a message saying so.
fn de_port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    let n = i64::deserialize(deserializer)?;
    u16::try_from(n).map_err(|_| {
        serde::de::Error::invalid_value(
            serde::de::Unexpected::Signed(n),
            &"a port number (0-65535)",
        )
    })
}

/// Removes every mapping entry whose value is `null` (`apiServer:` with nothing under it), so an
/// empty key keeps its default instead of failing.
fn drop_nulls(value: &mut serde_yaml::Value) {
    match value {
        serde_yaml::Value::Mapping(map) => {
            map.retain(|_, v| !v.is_null());
            for (_, v) in map.iter_mut() {
                drop_nulls(v);
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter_mut().for_each(drop_nulls),
        serde_yaml::Value::Tagged(tagged) => drop_nulls(&mut tagged.value),
        _ => {}
    }
}

/// Sorts the keys of every object in `value`, whatever map type serde_json was built with.
fn sort_keys(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            serde_json::Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(sort_keys).collect())
        }
        other => other,
    }
}

impl Config {
    /// Loads defaults, then `file` (YAML, optional), then the `KUMA_*` variables among `env`.
    ///
    /// `env` is the caller's environment (e.g. `std::env::vars()`); nothing else is read.
    /// Unrecognised `KUMA_*` variables are logged and ignored. Does not auto-configure.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut config = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
                        path: path.to_owned(),
                        source,
                    })?;
                Config::from_yaml(&text, path)?
            }
            None => Config::default(),
        };
        env::apply(&mut config, env)?;
        config.validate()?;
        Ok(config)
    }

    /// Parses the YAML `text` of the file at `path` over the defaults.
    fn from_yaml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut value: serde_yaml::Value =
            serde_yaml::from_str(text).map_err(|source| ConfigError::ParseFile {
                path: path.to_owned(),
                source,
            })?;
        if value.is_null() {
            return Ok(Config::default());
        }
        drop_nulls(&mut value);
        serde_path_to_error::deserialize(value).map_err(|err| ConfigError::InvalidFile {
            path: path.to_owned(),
            key: err.path().to_string(),
            message: err.into_inner().to_string(),
        })
    }

    /// Checks what the types alone cannot: Ursa runs in Universal mode only; the servers'
    /// interface is empty or an IP address; an instance lease outlives its renewals.
    fn validate(&self) -> Result<(), ConfigError> {
        if self.environment != UNIVERSAL {
            return Err(ConfigError::UnsupportedEnvironment(
                self.environment.clone(),
            ));
        }
        interface_address(&self.api_server.interface).map_err(|reason| {
            ConfigError::InvalidValue {
                key: "apiServer.interface",
                variable: "KUMA_API_SERVER_INTERFACE",
                reason,
            }
        })?;
        let lease = &self.store.postgres.instance_lease;
        if lease.renew_interval.0.is_zero() {
            return Err(ConfigError::InvalidValue {
                key: "store.postgres.instanceLease.renewInterval",
                variable: "KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL",
                reason: "must be more than 0".into(),
            });
        }
        if lease.timeout.0 <= lease.renew_interval.0 {
            return Err(ConfigError::InvalidValue {
                key: "store.postgres.instanceLease.timeout",
                variable: "KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT",
                reason: format!(
                    "{} must be longer than store.postgres.instanceLease.renewInterval ({}): \
                     a live instance would count as dead between two renewals",
                    lease.timeout, lease.renew_interval
                ),
            });
        }
        Ok(())
    }

    /// Fills the values Kuma derives at start-up (catalog URLs, xDS host and port in bootstraps,
    /// the public admin port) where they were left empty.
    pub fn auto_configure(&mut self) {
        let host = self.general.advertised_hostname.clone();
        let catalog = &mut self.api_server.catalog;
        if catalog.bootstrap.url.is_empty() {
            catalog.bootstrap.url = format!("http://{host}:{}", self.bootstrap_server.port);
        }
        if catalog.monitoring_assignment.url.is_empty() {
            catalog.monitoring_assignment.url = format!(
                "grpc://{host}:{}",
                self.monitoring_assignment_server.grpc_port
            );
        }
        let params = &mut self.bootstrap_server.params;
        if params.xds_host.is_empty() {
            params.xds_host = host;
        }
        if params.xds_port == 0 {
            params.xds_port = self.xds_server.grpc_port;
        }
        let admin = &mut self.admin_server;
        if admin.public.enabled && admin.public.port == 0 {
            admin.public.port = admin.local.port;
        }
        // Kuma rebuilds `adminServer` from a `dataplaneTokenServer` that differs from its
        // defaults: tokens off means no dataplane-token API either.
        if !self.dataplane_token_server.enabled {
            admin.apis.dataplane_token.enabled = false;
        }
    }

    /// The effective configuration as `GET /config` shows it: Kuma's key names sorted, durations
    /// as Go strings, every secret replaced by `"*****"`.
    pub fn to_public_json(&self) -> serde_json::Value {
        let mut shown = self.clone();
        for key in keys::KEYS.iter().filter(|k| k.secret) {
            key.mask(&mut shown);
        }
        // Serialising plain structs, strings, numbers and Go durations cannot fail.
        let value = serde_json::to_value(&shown).unwrap_or(serde_json::Value::Null);
        sort_keys(value)
    }
}

#[cfg(test)]
mod tests;
