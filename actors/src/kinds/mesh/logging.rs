//! The `logging` section of a Mesh: access-log backends (`file`, `tcp`) and the default one.

use serde::{Deserialize, Serialize};

use super::{check_backends, Backend};
use crate::access_log_format;
use crate::backend_conf::TypedConf;
use crate::gostd;
use crate::proto::Struct;
use crate::validation::{Path, Violations};

/// `logging` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Logging {
    /// Backend used when a TrafficLog names none.
    #[serde(alias = "default_backend", skip_serializing_if = "String::is_empty")]
    pub default_backend: String,
    /// Logging backends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<LoggingBackend>,
}

/// An access-log backend (`file` or `tcp`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoggingBackend {
    /// Backend name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Envoy access-log format string.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub format: String,
    /// Backend type: `file` or `tcp`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Type-specific configuration (`path` or `address`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Struct>,
}

impl Logging {
    pub(super) fn check(&self, root: &Path, v: &mut Violations) {
        check_backends(root, &self.backends, &self.default_backend, "logging", v);
    }
}

impl Backend for LoggingBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, path: &Path, v: &mut Violations) {
        self.check_conf(path, v);
    }
}

impl LoggingBackend {
    fn check_conf(&self, path: &Path, v: &mut Violations) {
        if self.name.is_empty() {
            v.add(path.field("name"), "cannot be empty");
        }
        if let Err(e) = access_log_format::validate(&self.format) {
            v.add(path.field("format"), e);
        }
        // Kuma names the `conf` field `config` in these paths.
        let config = path.field("config");
        match self.type_.as_str() {
            "file" => {
                let mut conf =
                    TypedConf::new(self.conf.as_ref(), "v1alpha1.FileLoggingBackendConfig");
                // Unknown keys are ignored, as Kuma's `ToTyped` ignores them.
                match conf.string(&["path"]) {
                    Err(e) => v.add(&config, format!("could not parse config: {e}")),
                    Ok(p) if p.is_empty() => v.add(config.field("path"), "cannot be empty"),
                    Ok(_) => {}
                }
            }
            "tcp" => {
                let mut conf =
                    TypedConf::new(self.conf.as_ref(), "v1alpha1.TcpLoggingBackendConfig");
                match conf.string(&["address"]) {
                    Err(e) => v.add(&config, format!("could not parse config: {e}")),
                    Ok(a) if a.is_empty() => v.add(config.field("address"), "cannot be empty"),
                    Ok(a) => {
                        // The port is not checked for being numeric, as in Kuma.
                        let valid = matches!(
                            gostd::split_host_port(&a),
                            Ok((host, port)) if !host.is_empty() && !port.is_empty()
                        );
                        if !valid {
                            v.add(config.field("address"), "has to be in format of HOST:PORT");
                        }
                    }
                }
            }
            _ => v.add(
                path.field("type"),
                "unknown backend type. Available backends: \"tcp\", \"file\"",
            ),
        }
    }
}
