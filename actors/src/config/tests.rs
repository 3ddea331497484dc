//! The configuration: defaults, the file, `KUMA_*` variables and `/config`'s masked view.

use std::time::Duration;

use serde_json::json;

use super::*;

const DEFAULTS_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../config/ursa-cp.defaults.yaml"
);

fn yaml(text: &str) -> Result<Config, ConfigError> {
    Config::from_yaml(text, Path::new("ursa.yaml"))
}

fn yaml_error(text: &str) -> String {
    yaml(text).expect_err("expected an error").to_string()
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A temporary file holding `text`, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let path = std::env::temp_dir().join(format!(
            "ursa-config-test-{}-{name}.yaml",
            std::process::id()
        ));
        std::fs::write(&path, text).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn defaults_are_kumas() {
    let c = Config::default();
    assert_eq!(c.environment, "universal");
    assert_eq!(c.general.advertised_hostname, "localhost");
    assert_eq!(c.store.kind, StoreType::Memory);
    let pg = &c.store.postgres;
    assert_eq!(
        (
            pg.host.as_str(),
            pg.port,
            pg.user.as_str(),
            pg.password.as_str()
        ),
        ("127.0.0.1", 15432, "kuma", "kuma")
    );
    assert_eq!(
        (
            pg.db_name.as_str(),
            pg.connection_timeout,
            pg.max_open_connections
        ),
        ("kuma", 5, 0)
    );
    assert_eq!(pg.tls, PostgresTlsConfig::default());
    assert_eq!(pg.tls.mode, TlsMode::Disable);
    // Ursa's extension: a dead instance's subscriptions are disconnected within 25 s.
    assert_eq!(pg.instance_lease.renew_interval.0, Duration::from_secs(5));
    assert_eq!(pg.instance_lease.timeout.0, Duration::from_secs(20));
    // Ursa's extension: empty is every interface of both families, as Kuma listens.
    assert_eq!(c.api_server.interface, "");
    assert_eq!(c.api_server.port, 5681);
    assert!(!c.api_server.read_only);
    assert_eq!(c.api_server.cors_allowed_domains, LOOPBACK_ORIGINS.to_vec());
    assert_eq!(c.limits, LimitsConfig::default());
    assert_eq!(
        c.limits.http,
        HttpLimits {
            read_header_timeout: GoDuration::from_secs(5),
            read_body_timeout: GoDuration::from_secs(10),
            idle_timeout: GoDuration::from_secs(30),
            max_connections: 0,
            max_connections_per_client: 256,
        }
    );
    assert_eq!(c.api_server.catalog, CatalogConfig::default());
    assert_eq!(c.bootstrap_server.port, 5682);
    let p = &c.bootstrap_server.params;
    assert_eq!(
        (
            p.admin_address.as_str(),
            p.admin_port,
            p.admin_access_log_path.as_str()
        ),
        ("127.0.0.1", 0, "/dev/null")
    );
    assert_eq!((p.xds_host.as_str(), p.xds_port), ("", 0));
    assert_eq!(p.xds_connect_timeout.0, Duration::from_secs(1));
    assert_eq!(c.xds_server.grpc_port, 5678);
    assert_eq!(c.xds_server.diagnostics_port, 5680);
    assert_eq!(
        c.xds_server.dataplane_configuration_refresh_interval.0,
        Duration::from_secs(1)
    );
    assert_eq!(
        c.xds_server.dataplane_status_flush_interval.0,
        Duration::from_secs(1)
    );
    assert_eq!(c.monitoring_assignment_server.grpc_port, 5676);
    assert_eq!(c.admin_server.local.port, 5679);
    assert!(!c.admin_server.public.enabled);
    assert_eq!(c.admin_server.public.port, 0);
    assert!(c.admin_server.apis.dataplane_token.enabled);
    assert_eq!(c.defaults.mesh, "type: Mesh\nname: default\n");
    assert!(c.reports.enabled);
}

#[test]
fn reference_file_equals_code_defaults() {
    let config = Config::load(Some(Path::new(DEFAULTS_FILE)), Vec::new()).expect("load");
    assert_eq!(config, Config::default());
}

#[test]
fn the_reference_file_is_generated_from_the_key_table() {
    let text = std::fs::read_to_string(DEFAULTS_FILE).expect("read defaults file");
    let generated = keys::reference_file();
    if text != generated && std::env::var_os("URSA_BLESS").is_some() {
        std::fs::write(DEFAULTS_FILE, &generated).expect("write defaults file");
        return;
    }
    assert!(
        text == generated,
        "{DEFAULTS_FILE} differs from the key table; regenerate it with \
         `URSA_BLESS=1 cargo test -p ursa-actors reference_file`"
    );
}

#[test]
fn the_readme_table_is_generated_from_the_key_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
    let readme = std::fs::read_to_string(path).expect("read README");
    let table = keys::markdown_table();
    let (start, end) = ("<!-- config-table -->\n", "<!-- /config-table -->");
    let (Some(a), Some(b)) = (readme.find(start), readme.find(end)) else {
        panic!("README.md has no {start:?} … {end:?} markers");
    };
    let current = &readme[a + start.len()..b];
    if current != table && std::env::var_os("URSA_BLESS").is_some() {
        let updated = format!("{}{table}{}", &readme[..a + start.len()], &readme[b..]);
        std::fs::write(path, updated).expect("write README");
        return;
    }
    assert!(
        current == table,
        "README.md's configuration table differs from the key table; regenerate it with \
         `URSA_BLESS=1 cargo test -p ursa-actors readme_table`"
    );
}

#[test]
fn partial_file_overrides_only_its_keys() {
    let config = yaml(
        "apiServer:\n  port: 15681\n  corsAllowedDomains: [a, b]\n\
         store:\n  postgres:\n    host: db.internal\n    tls:\n      mode: verifyCa\n\
         xdsServer:\n  dataplaneStatusFlushInterval: 1m30s\n\
         general:\n",
    )
    .expect("parse");
    let mut expected = Config::default();
    expected.api_server.port = 15681;
    expected.api_server.cors_allowed_domains = vec!["a".into(), "b".into()];
    expected.store.postgres.host = "db.internal".into();
    expected.store.postgres.tls.mode = TlsMode::VerifyCa;
    expected.xds_server.dataplane_status_flush_interval = GoDuration(Duration::from_secs(90));
    assert_eq!(config, expected);
}

#[test]
fn empty_file_means_defaults() {
    assert_eq!(yaml("").expect("empty"), Config::default());
    assert_eq!(yaml("# nothing\n").expect("comments"), Config::default());
}

#[test]
fn env_overrides_file() {
    let file = TempFile::new(
        "env-over-file",
        "apiServer:\n  port: 1111\n  readOnly: true\nstore:\n  type: postgres\n",
    );
    let config = Config::load(
        Some(&file.0),
        vars(&[
            ("KUMA_API_SERVER_PORT", "2222"),
            ("KUMA_STORE_POSTGRES_PASSWORD", "pw"),
        ]),
    )
    .expect("load");
    assert_eq!(config.api_server.port, 2222);
    assert!(config.api_server.read_only);
    assert_eq!(config.store.kind, StoreType::Postgres);
    assert_eq!(config.store.postgres.password, "pw");
}

#[test]
fn unknown_file_keys_are_rejected_with_their_path() {
    assert_eq!(
        yaml_error("apiServer:\n  prot: 5681\n"),
        "invalid config file ursa.yaml: apiServer.prot: unknown field `prot`, expected one \
         of `interface`, `port`, `readOnly`, `corsAllowedDomains`, `catalog`, `https`, `auth`"
    );
    let err = yaml_error("sdsServer:\n  grpcPort: 5677\n");
    assert!(
        err.starts_with("invalid config file ursa.yaml: sdsServer: unknown field `sdsServer`"),
        "{err}"
    );
    let err = yaml_error("store:\n  postgres:\n    tls:\n      rootCertPath: /x\n");
    assert!(
        err.starts_with("invalid config file ursa.yaml: store.postgres.tls.rootCertPath:"),
        "{err}"
    );
}

#[test]
fn bad_file_values_name_their_key() {
    let cases = [
        (
            "apiServer:\n  port: 70000\n",
            "invalid config file ursa.yaml: apiServer.port: invalid value: integer `70000`, \
             expected a port number (0-65535)",
        ),
        (
            "apiServer:\n  port: abc\n",
            "invalid config file ursa.yaml: apiServer.port: invalid type: string \"abc\", \
             expected i64",
        ),
        (
            "apiServer:\n  readOnly: maybe\n",
            "invalid config file ursa.yaml: apiServer.readOnly: invalid type: string \
             \"maybe\", expected a boolean",
        ),
        (
            "store:\n  type: kubernetes\n",
            "invalid config file ursa.yaml: store.type: unknown variant `kubernetes`, \
             expected `memory` or `postgres`",
        ),
        (
            "xdsServer:\n  dataplaneConfigurationRefreshInterval: -1s\n",
            "invalid config file ursa.yaml: xdsServer.dataplaneConfigurationRefreshInterval: \
             negative duration \"-1s\" is not allowed",
        ),
        (
            "bootstrapServer:\n  params:\n    xdsConnectTimeout: 5\n",
            "invalid config file ursa.yaml: bootstrapServer.params.xdsConnectTimeout: \
             invalid type: integer `5`, expected a Go duration string such as \"1s\", \
             \"500ms\" or \"1m30s\"",
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(yaml_error(text), expected, "{text}");
    }
    let err = yaml_error("apiServer: [\n");
    assert!(
        err.starts_with("config file ursa.yaml is not valid YAML:"),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_error() {
    let err = Config::load(Some(Path::new("/nonexistent/ursa.yaml")), Vec::new())
        .expect_err("missing file");
    assert!(
        err.to_string()
            .starts_with("could not read config file /nonexistent/ursa.yaml:"),
        "{err}"
    );
}

#[test]
fn only_universal_is_accepted() {
    let err =
        Config::load(None, vars(&[("KUMA_ENVIRONMENT", "kubernetes")])).expect_err("kubernetes");
    assert_eq!(
        err.to_string(),
        "unsupported environment \"kubernetes\" (environment / KUMA_ENVIRONMENT): Ursa runs \
         in Universal mode only, so the only accepted value is \"universal\""
    );
    let file = TempFile::new("kubernetes", "environment: kubernetes\n");
    let err = Config::load(Some(&file.0), Vec::new()).expect_err("kubernetes");
    assert!(
        matches!(err, ConfigError::UnsupportedEnvironment(_)),
        "{err}"
    );
    let ok = Config::load(None, vars(&[("KUMA_ENVIRONMENT", "universal")]));
    assert_eq!(ok.expect("universal"), Config::default());
}

#[test]
fn env_errors_surface_through_load() {
    let err = Config::load(None, vars(&[("KUMA_API_SERVER_PORT", "abc")])).expect_err("bad port");
    assert_eq!(
        err.to_string(),
        "invalid value \"abc\" for KUMA_API_SERVER_PORT: expected a port number (0-65535)"
    );
}

#[test]
fn the_interface_is_empty_or_an_ip_address() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    assert_eq!(interface_address(""), Ok(None));
    assert_eq!(
        interface_address("127.0.0.1"),
        Ok(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
    );
    for v6 in ["::1", "[::1]"] {
        assert_eq!(
            interface_address(v6),
            Ok(Some(IpAddr::V6(Ipv6Addr::LOCALHOST)))
        );
    }
    for good in ["", "127.0.0.1", "0.0.0.0", "::", "::1", "[::1]", "fd00::2"] {
        let c = Config::load(None, vars(&[("KUMA_API_SERVER_INTERFACE", good)]));
        assert_eq!(c.expect(good).api_server.interface, good);
    }
    for bad in ["localhost", "0.0.0.0:5681", "*"] {
        let err = Config::load(None, vars(&[("KUMA_API_SERVER_INTERFACE", bad)]))
            .expect_err(bad)
            .to_string();
        assert!(
            err.starts_with("invalid apiServer.interface (KUMA_API_SERVER_INTERFACE): ")
                && err.contains(&format!("{bad:?} is not an IP address")),
            "{err}"
        );
    }
    let err = yaml("apiServer:\n  interface: example.com\n").expect("parses");
    assert!(err.validate().is_err());
}

#[test]
fn an_instance_lease_outlives_its_renewals() {
    let c = Config::load(
        None,
        vars(&[
            ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL", "200ms"),
            ("KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT", "1s"),
        ]),
    )
    .expect("load");
    let lease = &c.store.postgres.instance_lease;
    assert_eq!(
        (lease.renew_interval.0, lease.timeout.0),
        (Duration::from_millis(200), Duration::from_secs(1))
    );
    let err = Config::load(
        None,
        vars(&[("KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT", "5s")]),
    )
    .expect_err("not longer than the interval")
    .to_string();
    assert!(
        err.starts_with(
            "invalid store.postgres.instanceLease.timeout \
             (KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT): 5s must be longer"
        ),
        "{err}"
    );
    let err = yaml("store:\n  postgres:\n    instanceLease:\n      renewInterval: 0s\n")
        .expect("parses")
        .validate()
        .expect_err("zero")
        .to_string();
    assert!(
        err.contains("store.postgres.instanceLease.renewInterval"),
        "{err}"
    );
}

#[test]
fn auto_configure_fills_derived_values() {
    let mut c = Config::default();
    c.auto_configure();
    assert_eq!(c.api_server.catalog.bootstrap.url, "http://localhost:5682");
    assert_eq!(
        c.api_server.catalog.monitoring_assignment.url,
        "grpc://localhost:5676"
    );
    assert_eq!(c.bootstrap_server.params.xds_host, "localhost");
    assert_eq!(c.bootstrap_server.params.xds_port, 5678);
    assert_eq!(c.admin_server.public.port, 0, "public admin disabled");

    let mut c = Config::default();
    c.general.advertised_hostname = "cp.example".into();
    c.bootstrap_server.port = 6682;
    c.monitoring_assignment_server.grpc_port = 6676;
    c.xds_server.grpc_port = 6678;
    c.admin_server.public.enabled = true;
    c.auto_configure();
    assert_eq!(c.api_server.catalog.bootstrap.url, "http://cp.example:6682");
    assert_eq!(
        c.api_server.catalog.monitoring_assignment.url,
        "grpc://cp.example:6676"
    );
    assert_eq!(c.bootstrap_server.params.xds_host, "cp.example");
    assert_eq!(c.bootstrap_server.params.xds_port, 6678);
    assert_eq!(c.admin_server.public.port, 5679);

    // Values that were set are kept.
    let mut c = Config::default();
    c.api_server.catalog.bootstrap.url = "http://b:1".into();
    c.api_server.catalog.monitoring_assignment.url = "grpc://m:2".into();
    c.bootstrap_server.params.xds_host = "xds".into();
    c.bootstrap_server.params.xds_port = 7;
    c.admin_server.public.enabled = true;
    c.admin_server.public.port = 8;
    let before = c.clone();
    c.auto_configure();
    assert_eq!(c, before);
}

#[test]
fn public_json_masks_the_password_and_uses_kuma_names() {
    let mut c = Config::default();
    c.store.postgres.password = "very-secret".into();
    c.xds_server.dataplane_status_flush_interval = GoDuration(Duration::from_secs(60));
    c.auto_configure();
    let shown = c.to_public_json();
    assert!(!shown.to_string().contains("very-secret"));
    assert_eq!(
        shown,
        json!({
            "adminServer": {
                "apis": {"dataplaneToken": {"enabled": true}},
                "local": {"port": 5679},
                "public": {"clientCertsDir": "", "enabled": false, "interface": "",
                           "port": 0, "tlsCertFile": "", "tlsKeyFile": ""}
            },
            "apiServer": {
                "auth": {"enabled": false, "readsRequireToken": false},
                "catalog": {"bootstrap": {"url": "http://localhost:5682"},
                            "monitoringAssignment": {"url": "grpc://localhost:5676"}},
                "corsAllowedDomains": LOOPBACK_ORIGINS,
                "https": {"enabled": false, "port": 5683, "tlsCertFile": "", "tlsKeyFile": ""},
                "interface": "",
                "port": 5681,
                "readOnly": false
            },
            "bootstrapServer": {
                "params": {"adminAccessLogPath": "/dev/null", "adminAddress": "127.0.0.1",
                           "adminPort": 0, "xdsConnectTimeout": "1s", "xdsHost": "localhost",
                           "xdsPort": 5678},
                "port": 5682
            },
            "dataplaneTokenServer": {"enabled": true},
            "defaults": {"mesh": "type: Mesh\nname: default\n"},
            "environment": "universal",
            "general": {"advertisedHostname": "localhost", "workerThreads": 0},
            "limits": {"http": {"idleTimeout": "30s", "maxConnections": 0,
                                "maxConnectionsPerClient": 256, "readBodyTimeout": "10s",
                                "readHeaderTimeout": "5s"},
                       "xds": {"maxStreams": 20000}},
            "monitoringAssignmentServer": {"assignmentRefreshInterval": "1s", "grpcPort": 5676},
            "reports": {"enabled": true},
            "store": {
                "postgres": {"connectionTimeout": 5, "dbName": "kuma", "host": "127.0.0.1",
                             "instanceLease": {"renewInterval": "5s", "timeout": "20s"},
                             "maxOpenConnections": 0, "password": "*****", "port": 15432,
                             "tls": {"caPath": "", "certPath": "", "keyPath": "",
                                     "mode": "disable"},
                             "user": "kuma"},
                "type": "memory"
            },
            "xdsServer": {"dataplaneConfigurationRefreshInterval": "1s",
                          "dataplaneStatusFlushInterval": "1m0s", "diagnosticsPort": 5680,
                          "grpcPort": 5678, "tlsCertFile": "", "tlsEnabled": true,
                          "tlsKeyFile": ""}
        })
    );
    // The password stays masked even when empty, as in Kuma.
    c.store.postgres.password.clear();
    assert_eq!(
        c.to_public_json()["store"]["postgres"]["password"],
        json!("*****")
    );
}

#[test]
fn public_json_keys_are_sorted() {
    fn check(value: &serde_json::Value) {
        if let serde_json::Value::Object(map) = value {
            let keys: Vec<&String> = map.keys().collect();
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, sorted);
            map.values().for_each(check);
        }
    }
    let shown = Config::default().to_public_json();
    check(&shown);
    let text = shown.to_string();
    assert!(text.starts_with("{\"adminServer\":{\"apis\":"), "{text}");
}

#[test]
fn public_json_round_trips_into_config() {
    let mut c = Config::default();
    c.auto_configure();
    let back: Config = serde_json::from_value(c.to_public_json()).expect("deserialise");
    let mut expected = c.clone();
    expected.store.postgres.password = MASK.to_owned();
    assert_eq!(back, expected);
}
