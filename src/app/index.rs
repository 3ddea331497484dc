//! The documents the API serves as they are from start-up: `/catalog` and the index's hostname.

use actix_web::web::Bytes;
use ursa_actors::config::Config;

pub(super) fn json_bytes(v: &serde_json::Value) -> Bytes {
    Bytes::from(serde_json::to_vec(v).unwrap_or_default())
}

/// `GET /catalog` (§3.3). The admin server listens on loopback only; the dataplane-token API
/// is the admin server's, and advertised only while it is on (Kuma's rule), so `ursa-dp`
/// knows it needs a token.
pub(super) fn catalog(config: &Config) -> serde_json::Value {
    let admin = ursa_wire::LocalAndPublic {
        local_url: format!("http://localhost:{}", config.admin_server.local.port),
        public_url: String::new(),
    };
    let catalog = ursa_wire::Catalog {
        apis: ursa_wire::CatalogApis {
            bootstrap: ursa_wire::Url {
                url: config.api_server.catalog.bootstrap.url.clone(),
            },
            dataplane_token: if config.admin_server.apis.dataplane_token.enabled {
                admin.clone()
            } else {
                ursa_wire::LocalAndPublic::default()
            },
            admin,
            monitoring_assignment: ursa_wire::Url {
                url: config.api_server.catalog.monitoring_assignment.url.clone(),
            },
        },
    };
    serde_json::to_value(catalog).unwrap_or_default()
}

/// The machine's hostname, read once at start-up.
pub(super) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
