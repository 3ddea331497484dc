//! `store`: which backend holds the resources, and PostgreSQL's settings.

use serde::{Deserialize, Serialize};

use super::{de_port, GoDuration};

/// Which store backend holds the resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreType {
    /// In memory: nothing to set up, lost on exit.
    #[default]
    Memory,
    /// PostgreSQL: durable, shared by several control-plane instances.
    Postgres,
}

impl StoreType {
    /// The configuration name, `memory` or `postgres`.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreType::Memory => "memory",
            StoreType::Postgres => "postgres",
        }
    }
}

impl std::fmt::Display for StoreType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `store`: where resources are stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct StoreConfig {
    /// The backend (`store.type`, `KUMA_STORE_TYPE`).
    #[serde(rename = "type")]
    pub kind: StoreType,
    /// PostgreSQL settings, used when `kind` is `Postgres`.
    pub postgres: PostgresStoreConfig,
}

/// `store.postgres`: the PostgreSQL connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PostgresStoreConfig {
    /// Database host.
    pub host: String,
    /// Database port.
    #[serde(deserialize_with = "de_port")]
    pub port: u16,
    /// User name.
    pub user: String,
    /// Password (a secret: masked in `GET /config`).
    pub password: String,
    /// Database name.
    pub db_name: String,
    /// Connection timeout in seconds.
    pub connection_timeout: u64,
    /// Maximum number of open connections (0 = the store's default pool size, 16).
    pub max_open_connections: u32,
    /// TLS to the database.
    pub tls: PostgresTlsConfig,
    /// How instances sharing the database tell each other they are alive (Ursa extension).
    pub instance_lease: InstanceLeaseConfig,
}

/// `store.postgres.instanceLease` (Ursa extension): each control-plane instance on a shared
/// database holds a lease there, renewed every `renewInterval`; once an instance has not
/// renewed it for `timeout` (by the database's clock) it counts as dead, and a surviving
/// instance stamps `disconnectTime` on the dataplane subscriptions it had open (X13). A dead
/// instance's dataplanes are so shown disconnected at most `timeout + renewInterval` after it
/// died.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InstanceLeaseConfig {
    /// How often an instance renews its lease, and looks for expired ones.
    pub renew_interval: GoDuration,
    /// How long after its last renewal an instance counts as dead (more than `renewInterval`).
    pub timeout: GoDuration,
}

impl Default for InstanceLeaseConfig {
    fn default() -> InstanceLeaseConfig {
        InstanceLeaseConfig {
            renew_interval: GoDuration::from_secs(5),
            timeout: GoDuration::from_secs(20),
        }
    }
}

impl Default for PostgresStoreConfig {
    fn default() -> PostgresStoreConfig {
        PostgresStoreConfig {
            host: "127.0.0.1".to_owned(),
            port: 15432,
            user: "kuma".to_owned(),
            password: "kuma".to_owned(),
            db_name: "kuma".to_owned(),
            connection_timeout: 5,
            max_open_connections: 0,
            tls: PostgresTlsConfig::default(),
            instance_lease: InstanceLeaseConfig::default(),
        }
    }
}

/// How the PostgreSQL connection is secured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TlsMode {
    /// No TLS.
    #[default]
    Disable,
    /// TLS without verifying the server certificate.
    VerifyNone,
    /// TLS, server certificate verified against the CA.
    VerifyCa,
    /// TLS, server certificate verified against the CA and the host name.
    VerifyFull,
}

/// `store.postgres.tls`: TLS to the database.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PostgresTlsConfig {
    /// TLS mode.
    pub mode: TlsMode,
    /// Path to the client certificate.
    pub cert_path: String,
    /// Path to the client key.
    pub key_path: String,
    /// Path to the CA certificate.
    pub ca_path: String,
}
