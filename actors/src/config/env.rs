//! `KUMA_*` environment variables (Kuma's names) applied over the configuration. The caller passes
//! the variables in; nothing here reads the process environment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, ConfigError, GoDuration, StoreType, TlsMode};

/// Prefix shared by every variable the loader reads except [`DEFAULTS_MESH`].
pub(super) const PREFIX: &str = "KUMA_";

/// The name Kuma 0.5.0 actually reads for `defaults.mesh` (its field has no `envconfig` tag).
pub(super) const DEFAULTS_MESH: &str = "DEFAULTS_MESH";

/// Every `KUMA_*` variable, flat, as text; field `api_server_port` is `KUMA_API_SERVER_PORT`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(super) struct EnvVars {
    environment: Option<String>,
    general_advertised_hostname: Option<String>,

    store_type: Option<String>,
    store_postgres_host: Option<String>,
    store_postgres_port: Option<String>,
    store_postgres_user: Option<String>,
    store_postgres_password: Option<String>,
    store_postgres_db_name: Option<String>,
    store_postgres_connection_timeout: Option<String>,
    store_postgres_max_open_connections: Option<String>,
    store_postgres_tls_mode: Option<String>,
    store_postgres_tls_cert_path: Option<String>,
    store_postgres_tls_key_path: Option<String>,
    store_postgres_tls_ca_path: Option<String>,
    store_postgres_instance_lease_renew_interval: Option<String>,
    store_postgres_instance_lease_timeout: Option<String>,

    api_server_interface: Option<String>,
    api_server_port: Option<String>,
    api_server_read_only: Option<String>,
    api_server_cors_allowed_domains: Option<String>,
    api_server_catalog_bootstrap_url: Option<String>,
    api_server_catalog_monitoring_assignment_url: Option<String>,

    bootstrap_server_port: Option<String>,
    bootstrap_server_params_admin_address: Option<String>,
    bootstrap_server_params_admin_port: Option<String>,
    bootstrap_server_params_admin_access_log_path: Option<String>,
    bootstrap_server_params_xds_host: Option<String>,
    bootstrap_server_params_xds_port: Option<String>,
    bootstrap_server_params_xds_connect_timeout: Option<String>,

    xds_server_grpc_port: Option<String>,
    xds_server_diagnostics_port: Option<String>,
    xds_server_dataplane_configuration_refresh_interval: Option<String>,
    xds_server_dataplane_status_flush_interval: Option<String>,
    xds_server_tls_cert_file: Option<String>,
    xds_server_tls_key_file: Option<String>,

    monitoring_assignment_server_grpc_port: Option<String>,
    monitoring_assignment_server_assignment_refresh_interval: Option<String>,

    admin_server_local_port: Option<String>,
    admin_server_public_enabled: Option<String>,
    admin_server_public_interface: Option<String>,
    admin_server_public_port: Option<String>,
    admin_server_public_tls_cert_file: Option<String>,
    admin_server_public_tls_key_file: Option<String>,
    admin_server_public_client_certs_dir: Option<String>,
    admin_server_apis_dataplane_token_enabled: Option<String>,

    defaults_mesh: Option<String>,

    reports_enabled: Option<String>,

    /// `KUMA_*` variables Ursa does not understand (lower-cased, prefix stripped).
    #[serde(flatten, skip_serializing)]
    unknown: BTreeMap<String, String>,
}

impl EnvVars {
    /// Collects the `KUMA_*` variables out of `vars` (other names are ignored).
    pub(super) fn from_vars(vars: &[(String, String)]) -> Result<EnvVars, ConfigError> {
        envy::prefixed(PREFIX)
            .from_iter(vars.iter().cloned())
            .map_err(ConfigError::ReadEnv)
    }

    /// Names (`KUMA_...`) of the variables among the input that Ursa ignores.
    pub(super) fn unknown_names(&self) -> Vec<String> {
        self.unknown
            .keys()
            .map(|k| format!("{PREFIX}{}", k.to_uppercase()))
            .collect()
    }
}

/// Applies the variables in `vars` (the caller's environment) over `config`.
pub(super) fn apply(
    config: &mut Config,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    let env = EnvVars::from_vars(&vars)?;
    let unknown = env.unknown_names();
    if !unknown.is_empty() {
        tracing::warn!(
            variables = %unknown.join(", "),
            "ignoring KUMA_* environment variables that Ursa does not understand"
        );
    }
    // Kuma's real name first, so that the documented KUMA_DEFAULTS_MESH (applied below) wins.
    if let Some((_, mesh)) = vars.iter().rev().find(|(k, _)| k == DEFAULTS_MESH) {
        config.defaults.mesh.clone_from(mesh);
    }

    let c = config;
    set(
        &mut c.environment,
        "KUMA_ENVIRONMENT",
        env.environment,
        text,
    )?;
    set(
        &mut c.general.advertised_hostname,
        "KUMA_GENERAL_ADVERTISED_HOSTNAME",
        env.general_advertised_hostname,
        text,
    )?;

    let pg = &mut c.store.postgres;
    set(
        &mut c.store.kind,
        "KUMA_STORE_TYPE",
        env.store_type,
        store_type,
    )?;
    set(
        &mut pg.host,
        "KUMA_STORE_POSTGRES_HOST",
        env.store_postgres_host,
        text,
    )?;
    set(
        &mut pg.port,
        "KUMA_STORE_POSTGRES_PORT",
        env.store_postgres_port,
        port,
    )?;
    set(
        &mut pg.user,
        "KUMA_STORE_POSTGRES_USER",
        env.store_postgres_user,
        text,
    )?;
    set(
        &mut pg.password,
        "KUMA_STORE_POSTGRES_PASSWORD",
        env.store_postgres_password,
        text,
    )?;
    set(
        &mut pg.db_name,
        "KUMA_STORE_POSTGRES_DB_NAME",
        env.store_postgres_db_name,
        text,
    )?;
    set(
        &mut pg.connection_timeout,
        "KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT",
        env.store_postgres_connection_timeout,
        seconds,
    )?;
    set(
        &mut pg.max_open_connections,
        "KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS",
        env.store_postgres_max_open_connections,
        count,
    )?;
    set(
        &mut pg.tls.mode,
        "KUMA_STORE_POSTGRES_TLS_MODE",
        env.store_postgres_tls_mode,
        tls_mode,
    )?;
    set(
        &mut pg.tls.cert_path,
        "KUMA_STORE_POSTGRES_TLS_CERT_PATH",
        env.store_postgres_tls_cert_path,
        text,
    )?;
    set(
        &mut pg.tls.key_path,
        "KUMA_STORE_POSTGRES_TLS_KEY_PATH",
        env.store_postgres_tls_key_path,
        text,
    )?;
    set(
        &mut pg.tls.ca_path,
        "KUMA_STORE_POSTGRES_TLS_CA_PATH",
        env.store_postgres_tls_ca_path,
        text,
    )?;
    set(
        &mut pg.instance_lease.renew_interval,
        "KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL",
        env.store_postgres_instance_lease_renew_interval,
        duration,
    )?;
    set(
        &mut pg.instance_lease.timeout,
        "KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT",
        env.store_postgres_instance_lease_timeout,
        duration,
    )?;

    let api = &mut c.api_server;
    set(
        &mut api.interface,
        "KUMA_API_SERVER_INTERFACE",
        env.api_server_interface,
        text,
    )?;
    set(
        &mut api.port,
        "KUMA_API_SERVER_PORT",
        env.api_server_port,
        port,
    )?;
    set(
        &mut api.read_only,
        "KUMA_API_SERVER_READ_ONLY",
        env.api_server_read_only,
        boolean,
    )?;
    set(
        &mut api.cors_allowed_domains,
        "KUMA_API_SERVER_CORS_ALLOWED_DOMAINS",
        env.api_server_cors_allowed_domains,
        list,
    )?;
    set(
        &mut api.catalog.bootstrap.url,
        "KUMA_API_SERVER_CATALOG_BOOTSTRAP_URL",
        env.api_server_catalog_bootstrap_url,
        text,
    )?;
    set(
        &mut api.catalog.monitoring_assignment.url,
        "KUMA_API_SERVER_CATALOG_MONITORING_ASSIGNMENT_URL",
        env.api_server_catalog_monitoring_assignment_url,
        text,
    )?;

    let boot = &mut c.bootstrap_server;
    set(
        &mut boot.port,
        "KUMA_BOOTSTRAP_SERVER_PORT",
        env.bootstrap_server_port,
        port,
    )?;
    set(
        &mut boot.params.admin_address,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ADDRESS",
        env.bootstrap_server_params_admin_address,
        text,
    )?;
    set(
        &mut boot.params.admin_port,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_PORT",
        env.bootstrap_server_params_admin_port,
        port,
    )?;
    set(
        &mut boot.params.admin_access_log_path,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ACCESS_LOG_PATH",
        env.bootstrap_server_params_admin_access_log_path,
        text,
    )?;
    set(
        &mut boot.params.xds_host,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST",
        env.bootstrap_server_params_xds_host,
        text,
    )?;
    set(
        &mut boot.params.xds_port,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_PORT",
        env.bootstrap_server_params_xds_port,
        port,
    )?;
    set(
        &mut boot.params.xds_connect_timeout,
        "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_CONNECT_TIMEOUT",
        env.bootstrap_server_params_xds_connect_timeout,
        duration,
    )?;

    let xds = &mut c.xds_server;
    set(
        &mut xds.grpc_port,
        "KUMA_XDS_SERVER_GRPC_PORT",
        env.xds_server_grpc_port,
        port,
    )?;
    set(
        &mut xds.diagnostics_port,
        "KUMA_XDS_SERVER_DIAGNOSTICS_PORT",
        env.xds_server_diagnostics_port,
        port,
    )?;
    set(
        &mut xds.dataplane_configuration_refresh_interval,
        "KUMA_XDS_SERVER_DATAPLANE_CONFIGURATION_REFRESH_INTERVAL",
        env.xds_server_dataplane_configuration_refresh_interval,
        duration,
    )?;
    set(
        &mut xds.dataplane_status_flush_interval,
        "KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL",
        env.xds_server_dataplane_status_flush_interval,
        duration,
    )?;
    set(
        &mut xds.tls_cert_file,
        "KUMA_XDS_SERVER_TLS_CERT_FILE",
        env.xds_server_tls_cert_file,
        text,
    )?;
    set(
        &mut xds.tls_key_file,
        "KUMA_XDS_SERVER_TLS_KEY_FILE",
        env.xds_server_tls_key_file,
        text,
    )?;

    let mads = &mut c.monitoring_assignment_server;
    set(
        &mut mads.grpc_port,
        "KUMA_MONITORING_ASSIGNMENT_SERVER_GRPC_PORT",
        env.monitoring_assignment_server_grpc_port,
        port,
    )?;
    set(
        &mut mads.assignment_refresh_interval,
        "KUMA_MONITORING_ASSIGNMENT_SERVER_ASSIGNMENT_REFRESH_INTERVAL",
        env.monitoring_assignment_server_assignment_refresh_interval,
        duration,
    )?;

    let admin = &mut c.admin_server;
    set(
        &mut admin.local.port,
        "KUMA_ADMIN_SERVER_LOCAL_PORT",
        env.admin_server_local_port,
        port,
    )?;
    set(
        &mut admin.public.enabled,
        "KUMA_ADMIN_SERVER_PUBLIC_ENABLED",
        env.admin_server_public_enabled,
        boolean,
    )?;
    set(
        &mut admin.public.interface,
        "KUMA_ADMIN_SERVER_PUBLIC_INTERFACE",
        env.admin_server_public_interface,
        text,
    )?;
    set(
        &mut admin.public.port,
        "KUMA_ADMIN_SERVER_PUBLIC_PORT",
        env.admin_server_public_port,
        port,
    )?;
    set(
        &mut admin.public.tls_cert_file,
        "KUMA_ADMIN_SERVER_PUBLIC_TLS_CERT_FILE",
        env.admin_server_public_tls_cert_file,
        text,
    )?;
    set(
        &mut admin.public.tls_key_file,
        "KUMA_ADMIN_SERVER_PUBLIC_TLS_KEY_FILE",
        env.admin_server_public_tls_key_file,
        text,
    )?;
    set(
        &mut admin.public.client_certs_dir,
        "KUMA_ADMIN_SERVER_PUBLIC_CLIENT_CERTS_DIR",
        env.admin_server_public_client_certs_dir,
        text,
    )?;
    set(
        &mut admin.apis.dataplane_token.enabled,
        "KUMA_ADMIN_SERVER_APIS_DATAPLANE_TOKEN_ENABLED",
        env.admin_server_apis_dataplane_token_enabled,
        boolean,
    )?;

    set(
        &mut c.defaults.mesh,
        "KUMA_DEFAULTS_MESH",
        env.defaults_mesh,
        text,
    )?;
    set(
        &mut c.reports.enabled,
        "KUMA_REPORTS_ENABLED",
        env.reports_enabled,
        boolean,
    )?;
    Ok(())
}

/// Stores `parse(value)` in `target` when the variable is set; a parse failure names the variable.
fn set<T>(
    target: &mut T,
    variable: &'static str,
    value: Option<String>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<(), ConfigError> {
    if let Some(value) = value {
        *target = parse(&value).map_err(|reason| ConfigError::InvalidEnv {
            variable,
            value,
            reason,
        })?;
    }
    Ok(())
}

/// Any text, taken as is (an empty value sets the empty string, as Kuma does).
fn text(value: &str) -> Result<String, String> {
    Ok(value.to_owned())
}

/// A TCP port.
fn port(value: &str) -> Result<u16, String> {
    value
        .parse()
        .map_err(|_| "expected a port number (0-65535)".to_owned())
}

/// A boolean, in any spelling Go's `strconv.ParseBool` accepts.
fn boolean(value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err("expected a boolean (true or false)".to_owned()),
    }
}

/// A whole number of seconds.
fn seconds(value: &str) -> Result<u64, String> {
    value
        .parse()
        .map_err(|_| "expected a whole number of seconds".to_owned())
}

/// A count (0 and up).
fn count(value: &str) -> Result<u32, String> {
    value
        .parse()
        .map_err(|_| "expected a non-negative whole number".to_owned())
}

/// A Go duration such as `1s`.
fn duration(value: &str) -> Result<GoDuration, String> {
    value.parse().map_err(|e| {
        format!("expected a non-negative Go duration such as \"1s\", \"500ms\" or \"1m30s\" ({e})")
    })
}

/// A comma-separated list; items are trimmed and empty items dropped (`""` is the empty list).
fn list(value: &str) -> Result<Vec<String>, String> {
    Ok(value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect())
}

/// `memory` or `postgres`.
fn store_type(value: &str) -> Result<StoreType, String> {
    match value {
        "memory" => Ok(StoreType::Memory),
        "postgres" => Ok(StoreType::Postgres),
        _ => Err(format!(
            "expected one of \"memory\", \"postgres\" (store.type){}",
            if value == "kubernetes" {
                "; Ursa runs in Universal mode only"
            } else {
                ""
            }
        )),
    }
}

/// `disable`, `verifyNone`, `verifyCa` or `verifyFull`.
fn tls_mode(value: &str) -> Result<TlsMode, String> {
    match value {
        "disable" => Ok(TlsMode::Disable),
        "verifyNone" => Ok(TlsMode::VerifyNone),
        "verifyCa" => Ok(TlsMode::VerifyCa),
        "verifyFull" => Ok(TlsMode::VerifyFull),
        _ => Err(
            "expected one of \"disable\", \"verifyNone\", \"verifyCa\", \"verifyFull\"".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        apply(&mut config, vars(pairs))?;
        Ok(config)
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        load(pairs).expect_err("expected an error").to_string()
    }

    #[test]
    fn no_variables_leave_defaults() {
        let config = load(&[("PATH", "/bin"), ("HOME", "/root")]).expect("load");
        assert_eq!(config, Config::default());
    }

    #[test]
    fn every_variable_is_applied() {
        let config = load(&[
            ("KUMA_ENVIRONMENT", "universal"),
            ("KUMA_GENERAL_ADVERTISED_HOSTNAME", "cp.example"),
            ("KUMA_STORE_TYPE", "postgres"),
            ("KUMA_STORE_POSTGRES_HOST", "db"),
            ("KUMA_STORE_POSTGRES_PORT", "5432"),
            ("KUMA_STORE_POSTGRES_USER", "ursa"),
            ("KUMA_STORE_POSTGRES_PASSWORD", "s3cret"),
            ("KUMA_STORE_POSTGRES_DB_NAME", "ursa_db"),
            ("KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT", "9"),
            ("KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS", "20"),
            ("KUMA_STORE_POSTGRES_TLS_MODE", "verifyFull"),
            ("KUMA_STORE_POSTGRES_TLS_CERT_PATH", "/c.pem"),
            ("KUMA_STORE_POSTGRES_TLS_KEY_PATH", "/k.pem"),
            ("KUMA_STORE_POSTGRES_TLS_CA_PATH", "/ca.pem"),
            ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL", "3s"),
            ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT", "12s"),
            ("KUMA_API_SERVER_INTERFACE", "127.0.0.1"),
            ("KUMA_API_SERVER_PORT", "15681"),
            ("KUMA_API_SERVER_READ_ONLY", "true"),
            (
                "KUMA_API_SERVER_CORS_ALLOWED_DOMAINS",
                "a.example, b.example",
            ),
            ("KUMA_API_SERVER_CATALOG_BOOTSTRAP_URL", "http://b:1"),
            (
                "KUMA_API_SERVER_CATALOG_MONITORING_ASSIGNMENT_URL",
                "grpc://m:2",
            ),
            ("KUMA_BOOTSTRAP_SERVER_PORT", "15682"),
            ("KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ADDRESS", "0.0.0.0"),
            ("KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_PORT", "9901"),
            (
                "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ACCESS_LOG_PATH",
                "/tmp/a.log",
            ),
            ("KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST", "xds.example"),
            ("KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_PORT", "15678"),
            ("KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_CONNECT_TIMEOUT", "2s"),
            ("KUMA_XDS_SERVER_GRPC_PORT", "15678"),
            ("KUMA_XDS_SERVER_DIAGNOSTICS_PORT", "15680"),
            (
                "KUMA_XDS_SERVER_DATAPLANE_CONFIGURATION_REFRESH_INTERVAL",
                "500ms",
            ),
            ("KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL", "1m0s"),
            ("KUMA_XDS_SERVER_TLS_CERT_FILE", "/x.crt"),
            ("KUMA_XDS_SERVER_TLS_KEY_FILE", "/x.key"),
            ("KUMA_MONITORING_ASSIGNMENT_SERVER_GRPC_PORT", "15676"),
            (
                "KUMA_MONITORING_ASSIGNMENT_SERVER_ASSIGNMENT_REFRESH_INTERVAL",
                "3s",
            ),
            ("KUMA_ADMIN_SERVER_LOCAL_PORT", "15679"),
            ("KUMA_ADMIN_SERVER_PUBLIC_ENABLED", "1"),
            ("KUMA_ADMIN_SERVER_PUBLIC_INTERFACE", "0.0.0.0"),
            ("KUMA_ADMIN_SERVER_PUBLIC_PORT", "15684"),
            ("KUMA_ADMIN_SERVER_PUBLIC_TLS_CERT_FILE", "/a.crt"),
            ("KUMA_ADMIN_SERVER_PUBLIC_TLS_KEY_FILE", "/a.key"),
            ("KUMA_ADMIN_SERVER_PUBLIC_CLIENT_CERTS_DIR", "/clients"),
            ("KUMA_ADMIN_SERVER_APIS_DATAPLANE_TOKEN_ENABLED", "false"),
            (
                "KUMA_DEFAULTS_MESH",
                "type: Mesh\nname: default\nmtls: {}\n",
            ),
            ("KUMA_REPORTS_ENABLED", "F"),
        ])
        .expect("load");

        let mut expected = Config::default();
        expected.general.advertised_hostname = "cp.example".into();
        let pg = &mut expected.store.postgres;
        expected.store.kind = StoreType::Postgres;
        pg.host = "db".into();
        pg.port = 5432;
        pg.user = "ursa".into();
        pg.password = "s3cret".into();
        pg.db_name = "ursa_db".into();
        pg.connection_timeout = 9;
        pg.max_open_connections = 20;
        pg.tls.mode = TlsMode::VerifyFull;
        pg.tls.cert_path = "/c.pem".into();
        pg.tls.key_path = "/k.pem".into();
        pg.tls.ca_path = "/ca.pem".into();
        pg.instance_lease.renew_interval = GoDuration::from_secs(3);
        pg.instance_lease.timeout = GoDuration::from_secs(12);
        let api = &mut expected.api_server;
        api.interface = "127.0.0.1".into();
        api.port = 15681;
        api.read_only = true;
        api.cors_allowed_domains = vec!["a.example".into(), "b.example".into()];
        api.catalog.bootstrap.url = "http://b:1".into();
        api.catalog.monitoring_assignment.url = "grpc://m:2".into();
        let boot = &mut expected.bootstrap_server;
        boot.port = 15682;
        boot.params.admin_address = "0.0.0.0".into();
        boot.params.admin_port = 9901;
        boot.params.admin_access_log_path = "/tmp/a.log".into();
        boot.params.xds_host = "xds.example".into();
        boot.params.xds_port = 15678;
        boot.params.xds_connect_timeout = GoDuration::from_secs(2);
        let xds = &mut expected.xds_server;
        xds.grpc_port = 15678;
        xds.diagnostics_port = 15680;
        xds.dataplane_configuration_refresh_interval = GoDuration::from_millis(500);
        xds.dataplane_status_flush_interval = GoDuration(Duration::from_secs(60));
        xds.tls_cert_file = "/x.crt".into();
        xds.tls_key_file = "/x.key".into();
        let mads = &mut expected.monitoring_assignment_server;
        mads.grpc_port = 15676;
        mads.assignment_refresh_interval = GoDuration::from_secs(3);
        let admin = &mut expected.admin_server;
        admin.local.port = 15679;
        admin.public.enabled = true;
        admin.public.interface = "0.0.0.0".into();
        admin.public.port = 15684;
        admin.public.tls_cert_file = "/a.crt".into();
        admin.public.tls_key_file = "/a.key".into();
        admin.public.client_certs_dir = "/clients".into();
        admin.apis.dataplane_token.enabled = false;
        expected.defaults.mesh = "type: Mesh\nname: default\nmtls: {}\n".into();
        expected.reports.enabled = false;
        assert_eq!(config, expected);
    }

    #[test]
    fn every_field_of_the_flat_struct_is_applied() {
        // Each variable set to a value that differs from its default must change the config;
        // this catches a field that `apply` forgets.
        let names = serde_json::to_value(EnvVars::default()).expect("serialise");
        let names = names.as_object().expect("object");
        for name in names.keys() {
            let variable = format!("{PREFIX}{}", name.to_uppercase());
            let value = match name.as_str() {
                "environment" => continue, // only "universal" is accepted, the default
                "store_type" => "postgres",
                "store_postgres_tls_mode" => "verifyCa",
                // A lease must stay longer than its renewal interval.
                "store_postgres_instance_lease_renew_interval" => "2s",
                "store_postgres_instance_lease_timeout" => "77s",
                n if n.ends_with("_port") => "1234",
                n if n.ends_with("_enabled") || n.ends_with("read_only") => "t",
                n if n.ends_with("_timeout") && n.starts_with("store") => "77",
                "store_postgres_max_open_connections" => "7",
                n if n.ends_with("_timeout") || n.ends_with("_interval") => "7m0s",
                _ => "changed",
            };
            let mut flipped = load(&[(variable.as_str(), value)]).expect(&variable);
            if name.ends_with("_enabled") && flipped == Config::default() {
                flipped = load(&[(variable.as_str(), "f")]).expect(&variable);
            }
            assert_ne!(flipped, Config::default(), "{variable} has no effect");
        }
    }

    #[test]
    fn env_overrides_defaults_mesh_by_both_names() {
        let config =
            load(&[("DEFAULTS_MESH", "type: Mesh\nname: default\nmtls: {}\n")]).expect("load");
        assert_eq!(
            config.defaults.mesh,
            "type: Mesh\nname: default\nmtls: {}\n"
        );
        let config =
            load(&[("DEFAULTS_MESH", "kuma"), ("KUMA_DEFAULTS_MESH", "ursa")]).expect("load");
        assert_eq!(config.defaults.mesh, "ursa");
    }

    #[test]
    fn cors_list_is_comma_separated() {
        let config = load(&[(
            "KUMA_API_SERVER_CORS_ALLOWED_DOMAINS",
            "https://a\\.example,  .*\\.b\\.example ,",
        )])
        .expect("load");
        assert_eq!(
            config.api_server.cors_allowed_domains,
            vec![
                "https://a\\.example".to_owned(),
                ".*\\.b\\.example".to_owned()
            ]
        );
        let config = load(&[("KUMA_API_SERVER_CORS_ALLOWED_DOMAINS", "")]).expect("load");
        assert!(config.api_server.cors_allowed_domains.is_empty());
    }

    #[test]
    fn booleans_accept_go_spellings() {
        for (text, expected) in [("1", true), ("True", true), ("TRUE", true), ("0", false)] {
            let config = load(&[("KUMA_API_SERVER_READ_ONLY", text)]).expect(text);
            assert_eq!(config.api_server.read_only, expected, "{text}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "KUMA_API_SERVER_PORT",
                "abc",
                r#"invalid value "abc" for KUMA_API_SERVER_PORT: expected a port number (0-65535)"#,
            ),
            (
                "KUMA_API_SERVER_PORT",
                "70000",
                r#"invalid value "70000" for KUMA_API_SERVER_PORT: expected a port number (0-65535)"#,
            ),
            (
                "KUMA_XDS_SERVER_GRPC_PORT",
                "-1",
                r#"invalid value "-1" for KUMA_XDS_SERVER_GRPC_PORT: expected a port number (0-65535)"#,
            ),
            (
                "KUMA_API_SERVER_READ_ONLY",
                "maybe",
                r#"invalid value "maybe" for KUMA_API_SERVER_READ_ONLY: expected a boolean (true or false)"#,
            ),
            (
                "KUMA_STORE_TYPE",
                "mysql",
                r#"invalid value "mysql" for KUMA_STORE_TYPE: expected one of "memory", "postgres" (store.type)"#,
            ),
            (
                "KUMA_STORE_TYPE",
                "kubernetes",
                r#"invalid value "kubernetes" for KUMA_STORE_TYPE: expected one of "memory", "postgres" (store.type); Ursa runs in Universal mode only"#,
            ),
            (
                "KUMA_STORE_POSTGRES_TLS_MODE",
                "require",
                r#"invalid value "require" for KUMA_STORE_POSTGRES_TLS_MODE: expected one of "disable", "verifyNone", "verifyCa", "verifyFull""#,
            ),
            (
                "KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT",
                "5s",
                r#"invalid value "5s" for KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT: expected a whole number of seconds"#,
            ),
            (
                "KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS",
                "-3",
                r#"invalid value "-3" for KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS: expected a non-negative whole number"#,
            ),
            (
                "KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL",
                "-1s",
                r#"invalid value "-1s" for KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL: expected a non-negative Go duration such as "1s", "500ms" or "1m30s" (negative duration "-1s" is not allowed)"#,
            ),
            (
                "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_CONNECT_TIMEOUT",
                "10",
                r#"invalid value "10" for KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_CONNECT_TIMEOUT: expected a non-negative Go duration such as "1s", "500ms" or "1m30s" (missing unit in duration "10")"#,
            ),
            (
                "KUMA_ADMIN_SERVER_PUBLIC_PORT",
                "",
                r#"invalid value "" for KUMA_ADMIN_SERVER_PUBLIC_PORT: expected a port number (0-65535)"#,
            ),
        ];
        for (variable, value, expected) in cases {
            assert_eq!(error(&[(variable, value)]), *expected);
        }
    }

    #[test]
    fn unknown_variables_are_collected_not_rejected() {
        let list = vars(&[
            ("KUMA_API_SERVER_PROT", "1"),
            ("KUMA_SDS_SERVER_GRPC_PORT", "5677"),
            ("KUMA_API_SERVER_PORT", "1"),
            ("OTHER", "x"),
        ]);
        let env = EnvVars::from_vars(&list).expect("envy");
        assert_eq!(
            env.unknown_names(),
            vec!["KUMA_API_SERVER_PROT", "KUMA_SDS_SERVER_GRPC_PORT"]
        );
        assert_eq!(env.api_server_port.as_deref(), Some("1"));
    }
}
