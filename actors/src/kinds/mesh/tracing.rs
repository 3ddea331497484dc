//! The `tracing` section of a Mesh: tracing backends (`zipkin`) and the default one.

use serde::{Deserialize, Serialize};

use super::{check_backends, Backend};
use crate::backend_conf::TypedConf;
use crate::gostd;
use crate::proto::{self, Struct};
use crate::validation::{Path, Violations};

/// `tracing` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Tracing {
    /// Backend used when a TrafficTrace names none.
    #[serde(alias = "default_backend", skip_serializing_if = "String::is_empty")]
    pub default_backend: String,
    /// Tracing backends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<TracingBackend>,
}

/// A tracing backend (`zipkin`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TracingBackend {
    /// Backend name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Percentage of requests sampled (0–100).
    #[serde(
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sampling: Option<f64>,
    /// Backend type: `zipkin`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Type-specific configuration (`url`, `traceId128bit`, `apiVersion`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Struct>,
}

impl Tracing {
    pub(super) fn check(&self, root: &Path, v: &mut Violations) {
        check_backends(root, &self.backends, &self.default_backend, "tracing", v);
    }
}

impl Backend for TracingBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, path: &Path, v: &mut Violations) {
        self.check_conf(path, v);
    }
}

impl TracingBackend {
    fn check_conf(&self, path: &Path, v: &mut Violations) {
        if self.name.is_empty() {
            v.add(path.field("name"), "cannot be empty");
        }
        let zipkin = self.type_ == "zipkin";
        if !zipkin {
            v.add(
                path.field("type"),
                "unknown backend type. Available backends: \"zipkin\"",
            );
        }
        if let Some(sampling) = self.sampling {
            if !(0.0..=100.0).contains(&sampling) {
                v.add(path.field("sampling"), "has to be in [0.0 - 100.0] range");
            }
        }
        if zipkin {
            check_zipkin(self.conf.as_ref(), &path.field("config"), v);
        }
    }
}

fn check_zipkin(conf: Option<&Struct>, config: &Path, v: &mut Violations) {
    let mut typed = TypedConf::new(conf, "v1alpha1.ZipkinTracingBackendConfig");
    let parsed = (|| {
        let url = typed.string(&["url"])?;
        typed.bool(&["traceId128bit"])?;
        let api_version = typed.string(&["apiVersion"])?;
        Ok::<_, String>((url, api_version))
    })();
    let (url, api_version) = match parsed {
        Ok(p) => p,
        Err(e) => {
            v.add(config, format!("could not parse config: {e}"));
            return;
        }
    };
    if !api_version.is_empty()
        && !["httpJsonV1", "httpJson", "httpProto"].contains(&api_version.as_str())
    {
        v.add(
            config.field("apiVersion"),
            "has invalid value. Allowed values: httpJsonV1, httpJson, httpProto",
        );
    }
    if url.is_empty() {
        v.add(config.field("url"), "cannot be empty");
        return;
    }
    match gostd::parse_request_uri(&url) {
        Err(_) => v.add(config.field("url"), "invalid URL"),
        Ok(uri) if uri.port().is_empty() => {
            v.add(config.field("url"), "port has to be explicitly specified")
        }
        Ok(_) => {}
    }
}
