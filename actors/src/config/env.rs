//! `KUMA_*` environment variables (Kuma's names) applied over the configuration, each through
//! its entry in the key table ([`super::keys::KEYS`]). The caller passes the variables in;
//! nothing here reads the process environment.

use std::collections::BTreeMap;

use super::keys;
use super::{Config, ConfigError};

/// Prefix shared by every variable the loader reads except [`DEFAULTS_MESH`].
pub(super) const PREFIX: &str = "KUMA_";

/// The name Kuma 0.5.0 actually reads for `defaults.mesh` (its field has no `envconfig` tag).
pub(super) const DEFAULTS_MESH: &str = "DEFAULTS_MESH";

/// The `KUMA_*` variables among `vars`, by full name (envy strips and lower-cases the prefix).
fn kuma_vars(vars: &[(String, String)]) -> Result<BTreeMap<String, String>, ConfigError> {
    let found: BTreeMap<String, String> = envy::prefixed(PREFIX)
        .from_iter(vars.iter().cloned())
        .map_err(ConfigError::ReadEnv)?;
    Ok(found
        .into_iter()
        .map(|(k, v)| (format!("{PREFIX}{}", k.to_uppercase()), v))
        .collect())
}

/// Applies the variables in `vars` (the caller's environment) over `config`.
pub(super) fn apply(
    config: &mut Config,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    let vars: Vec<(String, String)> = vars.into_iter().collect();
    // Kuma's real name first, so that the documented KUMA_DEFAULTS_MESH (applied below) wins.
    if let Some((_, mesh)) = vars.iter().rev().find(|(k, _)| k == DEFAULTS_MESH) {
        config.defaults.mesh.clone_from(mesh);
    }
    let mut unknown = Vec::new();
    for (variable, value) in kuma_vars(&vars)? {
        let Some(key) = keys::by_env(&variable) else {
            unknown.push(variable);
            continue;
        };
        key.set(config, &value)
            .map_err(|reason| ConfigError::InvalidEnv {
                variable: key.env,
                value,
                reason,
            })?;
    }
    if !unknown.is_empty() {
        tracing::warn!(
            variables = %unknown.join(", "),
            "ignoring KUMA_* environment variables that Ursa does not understand"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{GoDuration, StoreType, TlsMode};

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
            ("KUMA_LIMITS_HTTP_READ_HEADER_TIMEOUT", "2s"),
            ("KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", "3s"),
            ("KUMA_LIMITS_HTTP_IDLE_TIMEOUT", "4s"),
            ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS", "100"),
            ("KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", "10"),
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
        let http = &mut expected.limits.http;
        http.read_header_timeout = GoDuration::from_secs(2);
        http.read_body_timeout = GoDuration::from_secs(3);
        http.idle_timeout = GoDuration::from_secs(4);
        http.max_connections = 100;
        http.max_connections_per_client = 10;
        assert_eq!(config, expected);
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
    fn unknown_variables_are_ignored_not_rejected() {
        let list = vars(&[
            ("KUMA_API_SERVER_PROT", "1"),
            ("KUMA_SDS_SERVER_GRPC_PORT", "5677"),
            ("KUMA_API_SERVER_PORT", "1"),
            ("OTHER", "x"),
        ]);
        let found = kuma_vars(&list).expect("envy");
        assert_eq!(
            found.keys().collect::<Vec<_>>(),
            [
                "KUMA_API_SERVER_PORT",
                "KUMA_API_SERVER_PROT",
                "KUMA_SDS_SERVER_GRPC_PORT"
            ]
        );
        let config = load(&[("KUMA_API_SERVER_PROT", "1"), ("KUMA_API_SERVER_PORT", "1")]).unwrap();
        assert_eq!(config.api_server.port, 1);
    }
}
