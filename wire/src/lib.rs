//! What Ursa's control plane and its dataplane agent (`ursa-dp`) say to each other over HTTP:
//! the catalog (`GET /catalog`, Kuma's shape) and the bootstrap request (`POST /bootstrap`).
//! Plain serde types, so the agent does not link the control plane; and the grammar of Envoy
//! access-log formats ([`log_format`]), which the control plane validates with and the agent
//! renders with.

pub mod log_format;

use serde::{Deserialize, Serialize};

/// `GET /catalog`: where the control plane's other APIs are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    /// The APIs.
    pub apis: CatalogApis,
}

/// The APIs a catalog names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogApis {
    /// The bootstrap server.
    pub bootstrap: Url,
    /// The dataplane-token server.
    pub dataplane_token: LocalAndPublic,
    /// The admin server.
    pub admin: LocalAndPublic,
    /// The monitoring-assignment (Prometheus discovery) server.
    pub monitoring_assignment: Url,
}

/// One URL.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Url {
    /// The URL.
    pub url: String,
}

/// A server reachable on the control plane's machine and, maybe, from elsewhere.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocalAndPublic {
    /// From the control plane's machine.
    pub local_url: String,
    /// From elsewhere (empty: not reachable).
    pub public_url: String,
}

/// `POST /bootstrap`: the body kuma-dp (and `ursa-dp`) sends.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootstrapRequest {
    /// Mesh of the dataplane.
    pub mesh: String,
    /// Name of the dataplane.
    pub name: String,
    /// Envoy admin port; absent = `bootstrapServer.params.adminPort`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_port: Option<u32>,
    /// Path of the dataplane token file, passed to the control plane as node metadata.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dataplane_token_path: String,
    /// Unix socket the agent serves Envoy's access-log service on (an Ursa addition, X19);
    /// empty: Kuma's `/tmp/kuma-access-logs-<name>-<mesh>.sock`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub access_log_socket_path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_kumas() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"apis":{"bootstrap":{"url":"http://cp:5682"},"dataplaneToken":{"localUrl":"","publicUrl":""},
                "admin":{"localUrl":"http://localhost:5679","publicUrl":""},"monitoringAssignment":{"url":"grpc://cp:5676"}}}"#,
        )
        .unwrap();
        assert_eq!(catalog.apis.bootstrap.url, "http://cp:5682");
        assert_eq!(catalog.apis.admin.local_url, "http://localhost:5679");
        let req = BootstrapRequest {
            mesh: "m".into(),
            name: "n".into(),
            ..Default::default()
        };
        // As kuma-dp: no admin port, no key.
        assert_eq!(
            serde_json::to_string(&req).unwrap(),
            r#"{"mesh":"m","name":"n"}"#
        );
        assert!(
            serde_json::from_str::<BootstrapRequest>(r#"{"mesh":"m","name":"n","x":1}"#).is_err()
        );
        let ursa: BootstrapRequest = serde_json::from_str(
            r#"{"mesh":"m","name":"n","accessLogSocketPath":"/run/dp/access-logs.sock"}"#,
        )
        .unwrap();
        assert_eq!(ursa.access_log_socket_path, "/run/dp/access-logs.sock");
    }
}
