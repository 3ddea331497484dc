//! Every configuration key in one table: its path, its `KUMA_*` variable, its documentation,
//! whether it is a secret, and the field it sets. The environment loader, `GET /config`'s
//! masking, the reference file `config/ursa-cp.defaults.yaml` and the README's table are all
//! derived from [`KEYS`] (tests prove the checked-in files equal what it generates), so a key is
//! written once.

use super::{Config, GoDuration, StoreType, TlsMode, MASK};

/// One configuration key.
pub struct Key {
    /// Dotted path in the YAML tree, e.g. `apiServer.port`.
    pub path: &'static str,
    /// The environment variable, e.g. `KUMA_API_SERVER_PORT`.
    pub env: &'static str,
    /// What it does (wrapped into comments of the reference file).
    pub doc: &'static str,
    /// Shown as `"*****"` in `GET /config`.
    pub secret: bool,
    /// Ursa's own key (not in Kuma 0.5.0).
    pub ursa: bool,
    field: &'static dyn Field,
}

/// A documented section of the tree (a YAML mapping), for the reference file.
pub struct Section {
    /// Dotted path, e.g. `store.postgres`.
    pub path: &'static str,
    /// What it holds.
    pub doc: &'static str,
}

impl Key {
    /// Sets the key from its variable's text; the error says what was expected.
    pub fn set(&self, config: &mut Config, text: &str) -> Result<(), String> {
        self.field.set(config, text)
    }

    /// The key's value in `config`, as a YAML value (a scalar, a block sequence or a literal
    /// block), indented for a key at `indent` spaces.
    pub fn yaml(&self, config: &Config, indent: usize) -> String {
        self.field.yaml(config, indent)
    }

    /// The value as a short text for the README's table.
    pub fn show(&self, config: &Config) -> String {
        self.field.show(config)
    }

    /// Replaces a secret's value by [`MASK`].
    pub fn mask(&self, config: &mut Config) {
        self.field.mask(config)
    }

    /// The last segment of the path.
    pub fn name(&self) -> &'static str {
        self.path.rsplit('.').next().unwrap_or(self.path)
    }
}

trait Field: Sync {
    fn set(&self, config: &mut Config, text: &str) -> Result<(), String>;
    fn yaml(&self, config: &Config, indent: usize) -> String;
    fn show(&self, config: &Config) -> String;
    fn mask(&self, config: &mut Config);
}

/// A field of `Config` of type `T`.
struct At<T: 'static> {
    get: fn(&Config) -> &T,
    get_mut: fn(&mut Config) -> &mut T,
}

impl<T: Setting> Field for At<T> {
    fn set(&self, config: &mut Config, text: &str) -> Result<(), String> {
        *(self.get_mut)(config) = T::parse(text)?;
        Ok(())
    }

    fn yaml(&self, config: &Config, indent: usize) -> String {
        (self.get)(config).yaml(indent)
    }

    fn show(&self, config: &Config) -> String {
        (self.get)(config).show()
    }

    fn mask(&self, config: &mut Config) {
        T::mask((self.get_mut)(config));
    }
}

/// A value a key can hold: how its variable is parsed and how it is written.
trait Setting: Sized + 'static {
    fn parse(text: &str) -> Result<Self, String>;
    fn yaml(&self, indent: usize) -> String;
    fn show(&self) -> String {
        self.yaml(0)
    }
    fn mask(_: &mut Self) {}
}

impl Setting for String {
    /// Any text, taken as is (an empty value sets the empty string, as Kuma does).
    fn parse(text: &str) -> Result<String, String> {
        Ok(text.to_owned())
    }

    fn yaml(&self, indent: usize) -> String {
        if self.contains('\n') {
            let pad = " ".repeat(indent + 2);
            let body: String = self.lines().map(|l| format!("\n{pad}{l}")).collect();
            return format!("|{body}");
        }
        yaml_scalar(self)
    }

    fn show(&self) -> String {
        if self.is_empty() {
            "\"\"".into()
        } else {
            self.replace('\n', "\\n")
        }
    }

    fn mask(value: &mut String) {
        *value = MASK.to_owned();
    }
}

impl Setting for u16 {
    /// A TCP port.
    fn parse(text: &str) -> Result<u16, String> {
        text.parse()
            .map_err(|_| "expected a port number (0-65535)".to_owned())
    }

    fn yaml(&self, _: usize) -> String {
        self.to_string()
    }
}

impl Setting for u32 {
    /// A count (0 and up).
    fn parse(text: &str) -> Result<u32, String> {
        text.parse()
            .map_err(|_| "expected a non-negative whole number".to_owned())
    }

    fn yaml(&self, _: usize) -> String {
        self.to_string()
    }
}

impl Setting for u64 {
    /// A whole number of seconds (the only `u64` key is a timeout).
    fn parse(text: &str) -> Result<u64, String> {
        text.parse()
            .map_err(|_| "expected a whole number of seconds".to_owned())
    }

    fn yaml(&self, _: usize) -> String {
        self.to_string()
    }
}

impl Setting for bool {
    /// A boolean, in any spelling Go's `strconv.ParseBool` accepts.
    fn parse(text: &str) -> Result<bool, String> {
        match text {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
            _ => Err("expected a boolean (true or false)".to_owned()),
        }
    }

    fn yaml(&self, _: usize) -> String {
        self.to_string()
    }
}

impl Setting for GoDuration {
    /// A Go duration such as `1s`.
    fn parse(text: &str) -> Result<GoDuration, String> {
        text.parse().map_err(|e| {
            format!(
                "expected a non-negative Go duration such as \"1s\", \"500ms\" or \"1m30s\" ({e})"
            )
        })
    }

    fn yaml(&self, _: usize) -> String {
        self.to_string()
    }
}

impl Setting for Vec<String> {
    /// A comma-separated list; items are trimmed and empty items dropped (`""` is the empty
    /// list).
    fn parse(text: &str) -> Result<Vec<String>, String> {
        Ok(text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect())
    }

    fn yaml(&self, indent: usize) -> String {
        if self.is_empty() {
            return "[]".into();
        }
        let pad = " ".repeat(indent + 2);
        self.iter()
            .map(|item| format!("\n{pad}- {}", yaml_scalar(item)))
            .collect()
    }

    fn show(&self) -> String {
        format!("[{}]", self.join(", "))
    }
}

impl Setting for StoreType {
    /// `memory` or `postgres`.
    fn parse(text: &str) -> Result<StoreType, String> {
        match text {
            "memory" => Ok(StoreType::Memory),
            "postgres" => Ok(StoreType::Postgres),
            _ => Err(format!(
                "expected one of \"memory\", \"postgres\" (store.type){}",
                if text == "kubernetes" {
                    "; Ursa runs in Universal mode only"
                } else {
                    ""
                }
            )),
        }
    }

    fn yaml(&self, _: usize) -> String {
        self.as_str().into()
    }
}

impl Setting for TlsMode {
    /// `disable`, `verifyNone`, `verifyCa` or `verifyFull`.
    fn parse(text: &str) -> Result<TlsMode, String> {
        match text {
            "disable" => Ok(TlsMode::Disable),
            "verifyNone" => Ok(TlsMode::VerifyNone),
            "verifyCa" => Ok(TlsMode::VerifyCa),
            "verifyFull" => Ok(TlsMode::VerifyFull),
            _ => Err(
                "expected one of \"disable\", \"verifyNone\", \"verifyCa\", \"verifyFull\""
                    .to_owned(),
            ),
        }
    }

    fn yaml(&self, _: usize) -> String {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::VerifyNone => "verifyNone",
            TlsMode::VerifyCa => "verifyCa",
            TlsMode::VerifyFull => "verifyFull",
        }
        .into()
    }
}

/// A string as a plain YAML scalar when that reads back as the same string, else quoted.
fn yaml_scalar(text: &str) -> String {
    let plain = !text.is_empty()
        && !text.starts_with([
            ' ', '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"',
            '%', '@', '`',
        ])
        && !text.ends_with(' ')
        && !text.contains(": ")
        && !text.contains(" #")
        && serde_yaml::from_str::<serde_yaml::Value>(text)
            .ok()
            .and_then(|v| v.as_str().map(|s| s == text))
            .unwrap_or(false);
    if plain {
        text.to_owned()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

macro_rules! key {
    ($path:literal, $env:literal, $($field:ident).+, $doc:literal $(, $flag:ident)*) => {
        Key {
            path: $path,
            env: $env,
            doc: $doc,
            secret: key!(@has secret $($flag)*),
            ursa: key!(@has ursa $($flag)*),
            field: &At {
                get: |c: &Config| &c.$($field).+,
                get_mut: |c: &mut Config| &mut c.$($field).+,
            },
        }
    };
    (@has $want:ident) => { false };
    (@has secret secret $($rest:ident)*) => { true };
    (@has ursa ursa $($rest:ident)*) => { true };
    (@has $want:ident $other:ident $($rest:ident)*) => { key!(@has $want $($rest)*) };
}

/// The documented sections, in file order.
pub static SECTIONS: &[Section] = &[
    Section { path: "general", doc: "Settings that concern the whole control plane." },
    Section { path: "store", doc: "Where resources are stored." },
    Section { path: "store.postgres", doc: "PostgreSQL connection, used when store.type is postgres." },
    Section { path: "store.postgres.tls", doc: "TLS to the database." },
    Section { path: "store.postgres.instanceLease", doc: "(Ursa extension) Each instance's lease, by which instances sharing the database learn that one died (X13)." },
    Section { path: "apiServer", doc: "The HTTP API (Kuma's, Universal mode)." },
    Section { path: "apiServer.https", doc: "The API over TLS, beside plain HTTP." },
    Section { path: "apiServer.auth", doc: "(Ursa extension) Who may write through the API." },
    Section { path: "apiServer.catalog", doc: "What GET /catalog advertises to dataplane agents and tools." },
    Section { path: "bootstrapServer", doc: "The server that hands Envoy bootstrap configuration to dataplane agents." },
    Section { path: "bootstrapServer.params", doc: "Values written into the generated Envoy bootstraps." },
    Section { path: "xdsServer", doc: "The xDS (ADS) gRPC server Envoy connects to." },
    Section { path: "monitoringAssignmentServer", doc: "The monitoring-assignment (Prometheus discovery) gRPC server." },
    Section { path: "adminServer", doc: "The admin server (dataplane tokens)." },
    Section { path: "adminServer.local", doc: "The admin listener on localhost." },
    Section { path: "adminServer.public", doc: "The optional public (TLS) admin listener." },
    Section { path: "adminServer.apis", doc: "Which admin APIs are served." },
    Section { path: "dataplaneTokenServer", doc: "Dataplane tokens (Kuma's older name for the admin server's token API)." },
    Section { path: "defaults", doc: "Resources created at start-up." },
    Section { path: "reports", doc: "Usage reports." },
    Section { path: "limits", doc: "(Ursa extension) Bounds on what clients can make the control plane hold." },
    Section { path: "limits.http", doc: "Every HTTP server of the control plane (API, bootstrap, diagnostics). A request that breaks a limit gets Kuma's error JSON (408, 413, 414, 431, 503) and its connection is closed." },
    Section { path: "limits.xds", doc: "The xDS (ADS) server." },
];

/// Every key, in file order.
pub static KEYS: &[Key] = &[
    key!("environment", "KUMA_ENVIRONMENT", environment,
        "Runtime environment. Ursa runs in Universal mode only: any other value is a start-up error."),
    key!("general.advertisedHostname", "KUMA_GENERAL_ADVERTISED_HOSTNAME", general.advertised_hostname,
        "Hostname other components (dataplanes, kumactl, Prometheus discovery) use to reach the control plane; used to derive the catalog URLs and the xDS host in bootstraps."),
    key!("general.workerThreads", "KUMA_GENERAL_WORKER_THREADS", general.worker_threads,
        "Threads the mesh actors are spread over, each mesh on one of them, so that many meshes use every core. 0 means one per core.", ursa),
    key!("store.type", "KUMA_STORE_TYPE", store.kind,
        "Where resources are stored: memory (lost on exit) or postgres (durable, shareable by several control-plane instances)."),
    key!("store.postgres.host", "KUMA_STORE_POSTGRES_HOST", store.postgres.host, "Database host."),
    key!("store.postgres.port", "KUMA_STORE_POSTGRES_PORT", store.postgres.port, "Database port."),
    key!("store.postgres.user", "KUMA_STORE_POSTGRES_USER", store.postgres.user, "User name."),
    key!("store.postgres.password", "KUMA_STORE_POSTGRES_PASSWORD", store.postgres.password,
        "Password (a secret: shown as \"*****\" in GET /config).", secret),
    key!("store.postgres.dbName", "KUMA_STORE_POSTGRES_DB_NAME", store.postgres.db_name, "Database name."),
    key!("store.postgres.connectionTimeout", "KUMA_STORE_POSTGRES_CONNECTION_TIMEOUT", store.postgres.connection_timeout,
        "Connection timeout, in whole seconds."),
    key!("store.postgres.maxOpenConnections", "KUMA_STORE_POSTGRES_MAX_OPEN_CONNECTIONS", store.postgres.max_open_connections,
        "Maximum number of open connections; 0 means the default pool size (16)."),
    key!("store.postgres.tls.mode", "KUMA_STORE_POSTGRES_TLS_MODE", store.postgres.tls.mode,
        "disable, verifyNone (encrypt, do not verify the server), verifyCa (verify the server certificate against caPath) or verifyFull (also verify the host name)."),
    key!("store.postgres.tls.certPath", "KUMA_STORE_POSTGRES_TLS_CERT_PATH", store.postgres.tls.cert_path, "Path to the client certificate."),
    key!("store.postgres.tls.keyPath", "KUMA_STORE_POSTGRES_TLS_KEY_PATH", store.postgres.tls.key_path, "Path to the client key."),
    key!("store.postgres.tls.caPath", "KUMA_STORE_POSTGRES_TLS_CA_PATH", store.postgres.tls.ca_path, "Path to the CA certificate."),
    key!("store.postgres.instanceLease.renewInterval", "KUMA_STORE_POSTGRES_INSTANCE_LEASE_RENEW_INTERVAL", store.postgres.instance_lease.renew_interval,
        "How often this instance renews its lease in the database.", ursa),
    key!("store.postgres.instanceLease.timeout", "KUMA_STORE_POSTGRES_INSTANCE_LEASE_TIMEOUT", store.postgres.instance_lease.timeout,
        "A lease not renewed for this long means its instance is dead: another instance stamps disconnectTime on the subscriptions it served (X13), so a dead instance's dataplanes show disconnected within about timeout + renewInterval. Must be longer than renewInterval.", ursa),
    key!("apiServer.interface", "KUMA_API_SERVER_INTERFACE", api_server.interface,
        "Address every server listens on. Empty means every interface of both families, IPv6 and IPv4, as Kuma does (IPv4 alone on a host without IPv6, said once in the log); an IP address means exactly that one (`::` is IPv6 only).", ursa),
    key!("apiServer.port", "KUMA_API_SERVER_PORT", api_server.port, "Port of the HTTP API."),
    key!("apiServer.readOnly", "KUMA_API_SERVER_READ_ONLY", api_server.read_only,
        "When true, every write (PUT, DELETE) is refused."),
    key!("apiServer.corsAllowedDomains", "KUMA_API_SERVER_CORS_ALLOWED_DOMAINS", api_server.cors_allowed_domains,
        "Origins allowed by CORS, as regular expressions (matched anywhere in the origin unless anchored); the variable is comma-separated. The default allows pages served from this machine only (localhost, 127.0.0.1, [::1], any port), which is what Kuma's GUI needs; Kuma's default \".*\" lets any web page make a browser on the operator's machine write to the API, so it must be set explicitly (D23). An empty list allows every origin."),
    key!("apiServer.catalog.bootstrap.url", "KUMA_API_SERVER_CATALOG_BOOTSTRAP_URL", api_server.catalog.bootstrap.url,
        "URL of the bootstrap server. auto: http://<general.advertisedHostname>:<bootstrapServer.port>"),
    key!("apiServer.catalog.monitoringAssignment.url", "KUMA_API_SERVER_CATALOG_MONITORING_ASSIGNMENT_URL", api_server.catalog.monitoring_assignment.url,
        "URL of the monitoring-assignment server. auto: grpc://<general.advertisedHostname>:<monitoringAssignmentServer.grpcPort>"),
    key!("apiServer.https.enabled", "KUMA_API_SERVER_HTTPS_ENABLED", api_server.https.enabled,
        "Serve the API over HTTPS too, on apiServer.https.port (plain HTTP stays on apiServer.port, for loopback and Kuma 0.5 clients). Every limit of limits.http applies, the TLS handshake counted in the header timeout."),
    key!("apiServer.https.port", "KUMA_API_SERVER_HTTPS_PORT", api_server.https.port,
        "Port of the HTTPS listener (Kuma 1.x uses 5682, Ursa's bootstrap server's port)."),
    key!("apiServer.https.tlsCertFile", "KUMA_API_SERVER_HTTPS_TLS_CERT_FILE", api_server.https.tls_cert_file,
        "PEM certificate chain of the HTTPS listener (required when enabled)."),
    key!("apiServer.https.tlsKeyFile", "KUMA_API_SERVER_HTTPS_TLS_KEY_FILE", api_server.https.tls_key_file,
        "PEM private key of the HTTPS listener (required when enabled)."),
    key!("apiServer.auth.enabled", "KUMA_API_SERVER_AUTH_ENABLED", api_server.auth.enabled,
        "Writer authentication: PUT and DELETE require Authorization: Bearer <user token> (401 in Kuma's error JSON otherwise). Tokens are issued by `ursa-cp token --user NAME` or the admin server's POST /tokens/user, signed by a key kept in the store, and can be revoked. Off by default, as Kuma 0.5 had none.", ursa),
    key!("apiServer.auth.readsRequireToken", "KUMA_API_SERVER_AUTH_READS_REQUIRE_TOKEN", api_server.auth.reads_require_token,
        "With auth enabled, GETs require a token too (all but GET / and GET /_openapi.json).", ursa),
    key!("bootstrapServer.port", "KUMA_BOOTSTRAP_SERVER_PORT", bootstrap_server.port,
        "Port of the server that hands Envoy bootstrap configuration to dataplane agents."),
    key!("bootstrapServer.params.adminAddress", "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ADDRESS", bootstrap_server.params.admin_address,
        "Address of Envoy's admin interface."),
    key!("bootstrapServer.params.adminPort", "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_PORT", bootstrap_server.params.admin_port,
        "Port of Envoy's admin interface when the dataplane agent asks for none; 0 means no admin interface."),
    key!("bootstrapServer.params.adminAccessLogPath", "KUMA_BOOTSTRAP_SERVER_PARAMS_ADMIN_ACCESS_LOG_PATH", bootstrap_server.params.admin_access_log_path,
        "Access-log path of Envoy's admin interface."),
    key!("bootstrapServer.params.xdsHost", "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_HOST", bootstrap_server.params.xds_host,
        "Host Envoy dials for xDS. auto: general.advertisedHostname"),
    key!("bootstrapServer.params.xdsPort", "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_PORT", bootstrap_server.params.xds_port,
        "Port Envoy dials for xDS. auto: xdsServer.grpcPort"),
    key!("bootstrapServer.params.xdsConnectTimeout", "KUMA_BOOTSTRAP_SERVER_PARAMS_XDS_CONNECT_TIMEOUT", bootstrap_server.params.xds_connect_timeout,
        "Envoy's connect timeout to the xDS server."),
    key!("xdsServer.grpcPort", "KUMA_XDS_SERVER_GRPC_PORT", xds_server.grpc_port,
        "Port of the xDS (ADS) gRPC server Envoy connects to."),
    key!("xdsServer.diagnosticsPort", "KUMA_XDS_SERVER_DIAGNOSTICS_PORT", xds_server.diagnostics_port,
        "Port of the diagnostics server: GET /metrics (Prometheus), /ready and /healthy."),
    key!("xdsServer.dataplaneConfigurationRefreshInterval", "KUMA_XDS_SERVER_DATAPLANE_CONFIGURATION_REFRESH_INTERVAL", xds_server.dataplane_configuration_refresh_interval,
        "How often dataplane configuration is regenerated (Ursa regenerates on change instead, X2)."),
    key!("xdsServer.dataplaneStatusFlushInterval", "KUMA_XDS_SERVER_DATAPLANE_STATUS_FLUSH_INTERVAL", xds_server.dataplane_status_flush_interval,
        "How often dataplane status (insights) is flushed to the store."),
    key!("xdsServer.tlsCertFile", "KUMA_XDS_SERVER_TLS_CERT_FILE", xds_server.tls_cert_file,
        "PEM certificate chain of the xDS server, up to its root (the bootstrap tells Envoy to trust the chain's certificates). Empty: a self-signed certificate for bootstrapServer.params.xdsHost and localhost is generated at start."),
    key!("xdsServer.tlsKeyFile", "KUMA_XDS_SERVER_TLS_KEY_FILE", xds_server.tls_key_file,
        "PEM private key of the xDS server (required with tlsCertFile)."),
    key!("xdsServer.tlsEnabled", "KUMA_XDS_SERVER_TLS_ENABLED", xds_server.tls_enabled,
        "Serve ADS over TLS, so the certificates and keys of mTLS never cross the network in plaintext (X11). Turn it off only for tests and benchmarks.", ursa),
    key!("monitoringAssignmentServer.grpcPort", "KUMA_MONITORING_ASSIGNMENT_SERVER_GRPC_PORT", monitoring_assignment_server.grpc_port,
        "Port of the monitoring-assignment (Prometheus discovery) gRPC server."),
    key!("monitoringAssignmentServer.assignmentRefreshInterval", "KUMA_MONITORING_ASSIGNMENT_SERVER_ASSIGNMENT_REFRESH_INTERVAL", monitoring_assignment_server.assignment_refresh_interval,
        "How often assignments are recomputed."),
    key!("adminServer.local.port", "KUMA_ADMIN_SERVER_LOCAL_PORT", admin_server.local.port,
        "Port of the admin server, on 127.0.0.1 only whatever apiServer.interface says: POST /tokens issues dataplane tokens, POST /tokens/user issues user tokens, DELETE /tokens/user/{id} revokes one. Anyone who can connect to it can write through the API and connect any dataplane, so it never listens beyond loopback."),
    key!("adminServer.public.enabled", "KUMA_ADMIN_SERVER_PUBLIC_ENABLED", admin_server.public.enabled, "Whether it runs."),
    key!("adminServer.public.interface", "KUMA_ADMIN_SERVER_PUBLIC_INTERFACE", admin_server.public.interface, "Interface it binds."),
    key!("adminServer.public.port", "KUMA_ADMIN_SERVER_PUBLIC_PORT", admin_server.public.port,
        "Port it binds. auto: adminServer.local.port when enabled and 0."),
    key!("adminServer.public.tlsCertFile", "KUMA_ADMIN_SERVER_PUBLIC_TLS_CERT_FILE", admin_server.public.tls_cert_file, "Path to its TLS certificate."),
    key!("adminServer.public.tlsKeyFile", "KUMA_ADMIN_SERVER_PUBLIC_TLS_KEY_FILE", admin_server.public.tls_key_file, "Path to its TLS key."),
    key!("adminServer.public.clientCertsDir", "KUMA_ADMIN_SERVER_PUBLIC_CLIENT_CERTS_DIR", admin_server.public.client_certs_dir,
        "Directory of the client certificates it accepts."),
    key!("adminServer.apis.dataplaneToken.enabled", "KUMA_ADMIN_SERVER_APIS_DATAPLANE_TOKEN_ENABLED", admin_server.apis.dataplane_token.enabled,
        "Whether the dataplane-token API is served."),
    key!("dataplaneTokenServer.enabled", "KUMA_DATAPLANE_TOKEN_SERVER_ENABLED", dataplane_token_server.enabled,
        "Every ADS stream must carry the dataplane token of the Dataplane it names (ursa-dp --dataplane-token-file; tokens from the admin server's POST /tokens or `ursa-cp token --mesh M --name N`); a stream without, with a forged one or another Dataplane's is refused (X11). false turns the check and the dataplane-token API off: anyone who reaches the xDS port can then fetch any Dataplane's configuration, its mTLS certificate and key included."),
    key!("defaults.mesh", "KUMA_DEFAULTS_MESH", defaults.mesh,
        "YAML of the \"default\" mesh, created at start-up when missing (only its spec part is used). DEFAULTS_MESH, the name Kuma 0.5.0 actually reads, is accepted too; KUMA_DEFAULTS_MESH wins when both are set."),
    key!("reports.enabled", "KUMA_REPORTS_ENABLED", reports.enabled,
        "Usage reports; accepted for compatibility, Ursa sends none."),
    key!("limits.http.readHeaderTimeout", "KUMA_LIMITS_HTTP_READ_HEADER_TIMEOUT", limits.http.read_header_timeout,
        "A request head, once its first byte arrived (for a new connection: from the connection's start), must be complete within this.", ursa),
    key!("limits.http.readBodyTimeout", "KUMA_LIMITS_HTTP_READ_BODY_TIMEOUT", limits.http.read_body_timeout,
        "A request body must be complete within this of its head.", ursa),
    key!("limits.http.idleTimeout", "KUMA_LIMITS_HTTP_IDLE_TIMEOUT", limits.http.idle_timeout,
        "A kept-alive connection with no request in progress is closed after this.", ursa),
    key!("limits.http.maxConnections", "KUMA_LIMITS_HTTP_MAX_CONNECTIONS", limits.http.max_connections,
        "Open connections per server; further connections wait in the listen backlog until one closes. 0 means a quarter of the process's file-descriptor limit (which Ursa raises to its hard limit at start).", ursa),
    key!("limits.http.maxConnectionsPerClient", "KUMA_LIMITS_HTTP_MAX_CONNECTIONS_PER_CLIENT", limits.http.max_connections_per_client,
        "Open connections per client address and server; beyond it a connection gets 503 and is closed at once, so a flooding client runs out of its own share. 0 means no cap.", ursa),
    key!("limits.xds.maxStreams", "KUMA_LIMITS_XDS_MAX_STREAMS", limits.xds.max_streams,
        "ADS streams open at once on this instance; a stream beyond it ends at once with RESOURCE_EXHAUSTED (Envoy retries, possibly on another instance) and a warning is logged (at most one line per 10 s). 0 means no cap.", ursa),
];

/// The key a variable sets.
pub fn by_env(variable: &str) -> Option<&'static Key> {
    KEYS.iter().find(|k| k.env == variable)
}

const HEADER: &str = "\
# Ursa control plane: the reference configuration.
#
# Every key Ursa understands, with its default value. Key names, defaults and environment
# variables are Kuma 0.5.0's (kuma-cp), plus Ursa's own extensions (marked \"Ursa extension\").
#
# Sources, later ones winning: these defaults (built into the binary) -> the file given with
# `ursa-cp run -c/--config-file` (only the keys present override; an unknown key is an error)
# -> the environment variables named below.
#
# Values: ports are 0-65535; booleans in environment variables accept true/false (also 1/0, t/f,
# TRUE/FALSE); durations are Go duration strings such as \"1s\", \"500ms\", \"1m30s\".
# A few values left empty/0 here are derived at start-up (noted \"auto\") and shown derived in
# GET /config, where secrets are shown as \"*****\".
#
# Generated from the key table (actors/src/config/keys.rs); a test keeps it equal.
";

/// `text` as comment lines at `indent`, wrapped before 100 columns.
fn comment(out: &mut String, indent: usize, text: &str) {
    let pad = " ".repeat(indent);
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && pad.len() + 2 + line.len() + 1 + word.len() > 99 {
            out.push_str(&format!("{pad}# {line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        out.push_str(&format!("{pad}# {line}\n"));
    }
}

/// The reference configuration file: every key with its default, documented.
pub fn reference_file() -> String {
    let defaults = Config::default();
    let mut out = String::from(HEADER);
    let mut open: Vec<&str> = Vec::new();
    for key in KEYS {
        let parents: Vec<&str> = key.path.split('.').collect();
        let parents = &parents[..parents.len() - 1];
        // Close sections the key is not in, open the ones it is.
        let common = open
            .iter()
            .zip(parents.iter())
            .take_while(|(a, b)| a == b)
            .count();
        open.truncate(common);
        if common == 0 {
            out.push('\n');
        }
        for (depth, name) in parents.iter().enumerate().skip(common) {
            let path = parents[..=depth].join(".");
            if let Some(section) = SECTIONS.iter().find(|s| s.path == path) {
                comment(&mut out, depth * 2, section.doc);
            }
            out.push_str(&format!("{}{name}:\n", " ".repeat(depth * 2)));
            open.push(name);
        }
        let indent = parents.len() * 2;
        let mut doc = String::new();
        if key.ursa {
            doc.push_str("(Ursa extension) ");
        }
        doc.push_str(key.doc);
        comment(&mut out, indent, &doc);
        comment(&mut out, indent, &format!("Env: {}", key.env));
        let value = key.yaml(&defaults, indent);
        let sep = if value.starts_with('\n') { "" } else { " " };
        out.push_str(&format!(
            "{}{}:{sep}{value}\n",
            " ".repeat(indent),
            key.name()
        ));
    }
    out
}

/// The README's configuration table: key, default, variable.
pub fn markdown_table() -> String {
    let defaults = Config::default();
    let mut out = String::from("| Key | Default | Variable |\n|---|---|---|\n");
    for key in KEYS {
        let ursa = if key.ursa { " (Ursa)" } else { "" };
        out.push_str(&format!(
            "| `{}`{ursa} | `{}` | `{}` |\n",
            key.path,
            key.show(&defaults).replace('|', "\\|"),
            key.env
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every leaf of the configuration tree has exactly one key in the table.
    #[test]
    fn the_table_covers_every_leaf_once() {
        fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(map) => {
                    for (k, v) in map {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(&path, v, out);
                    }
                }
                _ => out.push(prefix.to_string()),
            }
        }
        let mut tree = Vec::new();
        leaves(
            "",
            &serde_json::to_value(Config::default()).unwrap(),
            &mut tree,
        );
        tree.sort();
        let mut table: Vec<String> = KEYS.iter().map(|k| k.path.to_string()).collect();
        table.sort();
        assert_eq!(table, tree);
        let mut vars: Vec<&str> = KEYS.iter().map(|k| k.env).collect();
        vars.sort_unstable();
        vars.dedup();
        assert_eq!(vars.len(), KEYS.len(), "one variable per key");
        for s in SECTIONS {
            assert!(
                KEYS.iter()
                    .any(|k| k.path.starts_with(&format!("{}.", s.path))),
                "section {} has no key",
                s.path
            );
        }
    }

    #[test]
    fn each_key_sets_its_own_field() {
        for key in KEYS {
            let defaults = Config::default();
            let value = match key.env {
                "KUMA_ENVIRONMENT" => continue,
                "KUMA_STORE_TYPE" => "postgres",
                "KUMA_STORE_POSTGRES_TLS_MODE" => "verifyCa",
                _ => match key.show(&defaults).as_str() {
                    "true" => "false",
                    "false" => "true",
                    v if v.parse::<u64>().is_ok() => "7",
                    v if v.ends_with('s') && v.len() < 6 => "7m0s",
                    _ => "changed",
                },
            };
            let mut changed = defaults.clone();
            key.set(&mut changed, value)
                .unwrap_or_else(|e| panic!("{}: {e}", key.env));
            assert_ne!(changed, defaults, "{} changes nothing", key.env);
            assert_ne!(key.show(&changed), key.show(&defaults), "{}", key.env);
        }
    }

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("0.0.0.0"), "0.0.0.0");
        assert_eq!(yaml_scalar(""), "\"\"");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("5"), "\"5\"");
        assert_eq!(yaml_scalar(".*"), ".*");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
    }
}
