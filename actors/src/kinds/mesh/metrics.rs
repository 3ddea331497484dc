//! The `metrics` section of a Mesh: Prometheus backends, the enabled one, and the defaults a
//! backend's `conf` gets (shared with a Dataplane's own metrics override).

use serde::{Deserialize, Serialize};

use super::{MeshSpec, UsedNames};
use crate::backend_conf;
use crate::proto::Struct;
use crate::validation::{Path, Violations};

/// `metrics` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Metrics {
    /// Name of the enabled metrics backend.
    #[serde(alias = "enabled_backend", skip_serializing_if = "String::is_empty")]
    pub enabled_backend: String,
    /// Metrics backends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<MetricsBackend>,
}

/// A metrics backend (`prometheus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MetricsBackend {
    /// Backend name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Backend type: `prometheus`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Type-specific configuration (`port`, `path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Struct>,
}

impl Metrics {
    pub(super) fn check(&self, root: &Path, v: &mut Violations) {
        let mut names = UsedNames::default();
        for (i, backend) in self.backends.iter().enumerate() {
            let path = root.field("backends").index(i);
            names.check(&backend.name, path.field("name"), v);
            if backend.type_ != PROMETHEUS {
                v.add(
                    path.field("type"),
                    "unknown backend type. Available backends: \"prometheus\"",
                );
            }
        }
        if !self.enabled_backend.is_empty() && !names.contains(&self.enabled_backend) {
            v.add(
                root.field("enabledBackend"),
                "has to be set to one of the backends in the mesh",
            );
        }
    }
}

/// The only metrics backend type.
pub const PROMETHEUS: &str = "prometheus";
/// Port a prometheus backend listens on when its conf names none.
pub const DEFAULT_PROMETHEUS_PORT: u32 = 5670;
/// Path a prometheus backend serves when its conf names none.
pub const DEFAULT_PROMETHEUS_PATH: &str = "/metrics";

/// §7.2: every prometheus backend's `conf` becomes exactly `{"path", "port"}` with defaults
/// (port 0 or missing → 5670, path empty → `/metrics`); other keys are dropped and a quoted
/// port becomes a number. A conf that cannot convert is a violation at its JSON path (D7).
pub(super) fn apply_defaults(spec: &mut MeshSpec) -> Violations {
    let mut v = Violations::new();
    let Some(metrics) = spec.metrics.as_mut() else {
        return v;
    };
    for (i, backend) in metrics.backends.iter_mut().enumerate() {
        if backend.type_ != PROMETHEUS {
            continue;
        }
        let conf_path = Path::root("metrics")
            .field("backends")
            .index(i)
            .field("conf");
        let conf = backend.conf.take().unwrap_or_default();
        match prometheus_conf(&conf, &conf_path) {
            Ok(defaulted) => backend.conf = Some(defaulted),
            Err(e) => {
                v.extend(e);
                backend.conf = Some(conf);
            }
        }
    }
    v
}

/// A prometheus backend's `conf` as exactly `{"path", "port"}` with defaults, or what is wrong
/// with it at `conf_path`. One rule for a Mesh's backends and a Dataplane's override.
pub fn prometheus_conf(conf: &Struct, conf_path: &Path) -> Result<Struct, Violations> {
    let port = match conf.get("port") {
        None | Some(serde_json::Value::Null) => Some(0),
        Some(value) => backend_conf::to_u32(value).ok().filter(|p| *p <= 65535),
    };
    let path = match conf.get("path") {
        None | Some(serde_json::Value::Null) => Some(String::new()),
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(_) => None,
    };
    match (port, path) {
        (Some(port), Some(path)) => {
            let mut defaulted = Struct::new();
            let path = if path.is_empty() {
                DEFAULT_PROMETHEUS_PATH.to_string()
            } else {
                path
            };
            let port = if port == 0 {
                DEFAULT_PROMETHEUS_PORT
            } else {
                port
            };
            defaulted.insert("path".into(), path.into());
            defaulted.insert("port".into(), port.into());
            Ok(defaulted)
        }
        (port, path) => {
            let mut v = Violations::new();
            if port.is_none() {
                v.add(
                    conf_path.field("port"),
                    "has to be an integer in range of [0, 65535]",
                );
            }
            if path.is_none() {
                v.add(conf_path.field("path"), "has to be a string");
            }
            Err(v)
        }
    }
}
