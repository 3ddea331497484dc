//! The servers' sections: `apiServer`, `bootstrapServer`, `xdsServer`,
//! `monitoringAssignmentServer`, `adminServer` and the dataplane-token server.

use serde::{Deserialize, Serialize};

use super::{de_port, GoDuration};

/// `apiServer`: the HTTP API server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ApiServerConfig {
    /// Address the servers listen on (Ursa extension): empty for every interface of both
    /// families (Kuma's `:port`), else exactly that IP address.
    pub interface: String,
    /// Port of the API.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// When true, every write is refused.
    pub read_only: bool,
    /// Origins allowed by CORS (regular expressions).
    pub cors_allowed_domains: Vec<String>,
    /// What `GET /catalog` advertises.
    pub catalog: CatalogConfig,
    /// The HTTPS listener, beside plain HTTP (Kuma 1.x's names).
    pub https: ApiHttpsConfig,
    /// Writer authentication (Ursa extension).
    pub auth: ApiAuthConfig,
}

impl Default for ApiServerConfig {
    fn default() -> ApiServerConfig {
        ApiServerConfig {
            interface: String::new(),
            port: 5681,
            read_only: false,
            cors_allowed_domains: LOOPBACK_ORIGINS.iter().map(|o| (*o).to_owned()).collect(),
            catalog: CatalogConfig::default(),
            https: ApiHttpsConfig::default(),
            auth: ApiAuthConfig::default(),
        }
    }
}

/// `apiServer.https`: the API over TLS on a second port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ApiHttpsConfig {
    /// Whether the HTTPS listener runs.
    pub enabled: bool,
    /// Its port.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// PEM certificate chain.
    pub tls_cert_file: String,
    /// PEM private key.
    pub tls_key_file: String,
}

impl Default for ApiHttpsConfig {
    fn default() -> ApiHttpsConfig {
        ApiHttpsConfig {
            enabled: false,
            port: 5683,
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
        }
    }
}

/// `dataplaneTokenServer`: whether the xDS server requires dataplane tokens (X11).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DataplaneTokenServerConfig {
    /// Every ADS stream must carry its Dataplane's token.
    pub enabled: bool,
}

impl Default for DataplaneTokenServerConfig {
    fn default() -> DataplaneTokenServerConfig {
        DataplaneTokenServerConfig { enabled: true }
    }
}

/// `apiServer.auth`: writer authentication with user tokens (off by default, as in Kuma 0.5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ApiAuthConfig {
    /// `PUT` and `DELETE` require `Authorization: Bearer <user token>`.
    pub enabled: bool,
    /// `GET`s require a token too (all but `/` and `/_openapi.json`).
    pub reads_require_token: bool,
}

/// The default `apiServer.corsAllowedDomains` (D23): pages served from this machine only (Kuma's
/// GUI among them), on any port. Kuma's `.*` let any web page make an operator's browser
/// write to the API; it must now be configured explicitly.
pub const LOOPBACK_ORIGINS: [&str; 3] = [
    r"^https?://localhost(:[0-9]+)?$",
    r"^https?://127\.0\.0\.1(:[0-9]+)?$",
    r"^https?://\[::1\](:[0-9]+)?$",
];

/// `apiServer.catalog`: the URLs `GET /catalog` advertises.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// The bootstrap server.
    pub bootstrap: CatalogEntry,
    /// The monitoring-assignment server.
    pub monitoring_assignment: CatalogEntry,
}

/// One advertised endpoint of the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CatalogEntry {
    /// Its URL (empty = derived at start-up by [`Config::auto_configure`]).
    pub url: String,
}

/// `bootstrapServer`: Envoy bootstrap configuration for dataplane agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BootstrapServerConfig {
    /// Port of the bootstrap server.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// Values written into generated bootstraps.
    pub params: BootstrapParams,
}

impl Default for BootstrapServerConfig {
    fn default() -> BootstrapServerConfig {
        BootstrapServerConfig {
            port: 5682,
            params: BootstrapParams::default(),
        }
    }
}

/// `bootstrapServer.params`: values written into generated Envoy bootstraps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct BootstrapParams {
    /// Address of Envoy's admin interface.
    pub admin_address: String,
    /// Port of Envoy's admin interface (0 = the one the agent requests).
    #[serde(deserialize_with = "de_port")]
    pub admin_port: u16,
    /// Access-log path of Envoy's admin interface.
    pub admin_access_log_path: String,
    /// Host Envoy dials for xDS (empty = `general.advertisedHostname`).
    pub xds_host: String,
    /// Port Envoy dials for xDS (0 = `xdsServer.grpcPort`).
    #[serde(deserialize_with = "de_port")]
    pub xds_port: u16,
    /// Envoy's connect timeout to the xDS server.
    pub xds_connect_timeout: GoDuration,
}

impl Default for BootstrapParams {
    fn default() -> BootstrapParams {
        BootstrapParams {
            admin_address: "127.0.0.1".to_owned(),
            admin_port: 0,
            admin_access_log_path: "/dev/null".to_owned(),
            xds_host: String::new(),
            xds_port: 0,
            xds_connect_timeout: GoDuration::from_secs(1),
        }
    }
}

/// `xdsServer`: the ADS gRPC server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct XdsServerConfig {
    /// Port of the xDS gRPC server.
    #[serde(deserialize_with = "de_port")]
    pub grpc_port: u16,
    /// Port of the diagnostics (health) server.
    #[serde(deserialize_with = "de_port")]
    pub diagnostics_port: u16,
    /// How often dataplane configuration is regenerated.
    pub dataplane_configuration_refresh_interval: GoDuration,
    /// How often dataplane status is flushed to the store.
    pub dataplane_status_flush_interval: GoDuration,
    /// Path to the TLS certificate of the xDS server (empty = plaintext).
    pub tls_cert_file: String,
    /// Path to the TLS key of the xDS server.
    pub tls_key_file: String,
    /// Serve ADS over TLS (Ursa extension, X11): off only for tests and benchmarks.
    pub tls_enabled: bool,
}

impl Default for XdsServerConfig {
    fn default() -> XdsServerConfig {
        XdsServerConfig {
            grpc_port: 5678,
            diagnostics_port: 5680,
            dataplane_configuration_refresh_interval: GoDuration::from_secs(1),
            dataplane_status_flush_interval: GoDuration::from_secs(1),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_enabled: true,
        }
    }
}

/// `monitoringAssignmentServer`: Prometheus discovery over gRPC.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MonitoringAssignmentServerConfig {
    /// Port of the monitoring-assignment gRPC server.
    #[serde(deserialize_with = "de_port")]
    pub grpc_port: u16,
    /// How often assignments are recomputed.
    pub assignment_refresh_interval: GoDuration,
}

impl Default for MonitoringAssignmentServerConfig {
    fn default() -> MonitoringAssignmentServerConfig {
        MonitoringAssignmentServerConfig {
            grpc_port: 5676,
            assignment_refresh_interval: GoDuration::from_secs(1),
        }
    }
}

/// `adminServer`: the admin server (dataplane tokens).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AdminServerConfig {
    /// The listener on localhost.
    pub local: AdminLocalConfig,
    /// The optional public (TLS) listener.
    pub public: AdminPublicConfig,
    /// Which admin APIs are served.
    pub apis: AdminApisConfig,
}

/// `adminServer.local`: the admin listener on localhost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AdminLocalConfig {
    /// Port on localhost.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
}

impl Default for AdminLocalConfig {
    fn default() -> AdminLocalConfig {
        AdminLocalConfig { port: 5679 }
    }
}

/// `adminServer.public`: the public (TLS) admin listener.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AdminPublicConfig {
    /// Whether the public listener runs.
    pub enabled: bool,
    /// Interface it binds.
    pub interface: String,
    /// Port it binds (0 = the local port).
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// Path to its TLS certificate.
    pub tls_cert_file: String,
    /// Path to its TLS key.
    pub tls_key_file: String,
    /// Directory of client certificates it accepts.
    pub client_certs_dir: String,
}

/// `adminServer.apis`: which admin APIs are served.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AdminApisConfig {
    /// The dataplane-token API.
    pub dataplane_token: DataplaneTokenApiConfig,
}

/// `adminServer.apis.dataplaneToken`: the dataplane-token API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DataplaneTokenApiConfig {
    /// Whether it is served.
    pub enabled: bool,
}

impl Default for DataplaneTokenApiConfig {
    fn default() -> DataplaneTokenApiConfig {
        DataplaneTokenApiConfig { enabled: true }
    }
}
