//! `Mesh`: the tenant every other resource lives in; its mTLS, tracing, logging and metrics
//! backends.

use serde::{Deserialize, Serialize};

use super::backend_conf::{self, TypedConf};
use super::{access_log_format, ca, gostd};
use crate::proto::{self, Duration, Struct};
use crate::validation::{go_quote, Path, Violations};

/// Spec of a `Mesh`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeshSpec {
    /// Mutual TLS: certificate authority backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Tracing backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Access-log backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Metrics backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
}

/// `mtls` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mtls {
    /// Name of the enabled CA backend; empty = mTLS off.
    #[serde(
        default,
        alias = "enabled_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub enabled_backend: String,
    /// CA backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<CaBackend>,
}

/// A certificate-authority backend (`builtin` or `provided`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CaBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Backend type: `builtin` or `provided`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Dataplane certificate settings.
    #[serde(default, alias = "dp_cert", skip_serializing_if = "Option::is_none")]
    pub dp_cert: Option<DpCert>,
    /// Type-specific configuration.
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// Dataplane certificate settings of a CA backend.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DpCert {
    /// Rotation settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

/// Certificate rotation settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rotation {
    /// How long a dataplane certificate is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Duration>,
}

/// `tracing` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tracing {
    /// Backend used when a TrafficTrace names none.
    #[serde(
        default,
        alias = "default_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub default_backend: String,
    /// Tracing backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<TracingBackend>,
}

/// A tracing backend (`zipkin`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TracingBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Percentage of requests sampled (0–100).
    #[serde(
        default,
        deserialize_with = "proto::opt_f64",
        skip_serializing_if = "Option::is_none"
    )]
    pub sampling: Option<f64>,
    /// Backend type: `zipkin`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`url`, `traceId128bit`, `apiVersion`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// `logging` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Logging {
    /// Backend used when a TrafficLog names none.
    #[serde(
        default,
        alias = "default_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub default_backend: String,
    /// Logging backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<LoggingBackend>,
}

/// An access-log backend (`file` or `tcp`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggingBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Envoy access-log format string.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub format: String,
    /// Backend type: `file` or `tcp`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`path` or `address`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

/// `metrics` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metrics {
    /// Name of the enabled metrics backend.
    #[serde(
        default,
        alias = "enabled_backend",
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub enabled_backend: String,
    /// Metrics backends.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backends: Vec<MetricsBackend>,
}

/// A metrics backend (`prometheus`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricsBackend {
    /// Backend name.
    #[serde(
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Backend type: `prometheus`.
    #[serde(
        rename = "type",
        default,
        deserialize_with = "proto::null_default",
        skip_serializing_if = "String::is_empty"
    )]
    pub type_: String,
    /// Type-specific configuration (`port`, `path`).
    #[serde(
        default,
        deserialize_with = "proto::opt_struct",
        skip_serializing_if = "Option::is_none"
    )]
    pub conf: Option<Struct>,
}

impl MeshSpec {
    /// Structural validation (§6.2.1–6.2.4): mtls, logging, tracing, metrics, in that order.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        if let Some(mtls) = &self.mtls {
            mtls.check(&Path::root("mtls"), &mut v);
        }
        if let Some(logging) = &self.logging {
            logging.check(&Path::root("logging"), &mut v);
        }
        if let Some(tracing) = &self.tracing {
            tracing.check(&Path::root("tracing"), &mut v);
        }
        if let Some(metrics) = &self.metrics {
            metrics.check(&Path::root("metrics"), &mut v);
        }
        v
    }
}

/// Tracks backend names of one section and reports duplicates Kuma's way.
#[derive(Default)]
struct UsedNames<'a>(Vec<&'a str>);

impl<'a> UsedNames<'a> {
    /// Records `name`; reports it at `path` when an earlier backend already used it.
    fn check(&mut self, name: &'a str, path: Path, v: &mut Violations) {
        if self.0.contains(&name) {
            v.add(
                path,
                format!(
                    "{} name is already used for another backend",
                    go_quote(name)
                ),
            );
        }
        self.0.push(name);
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

impl Mtls {
    fn check(&self, root: &Path, v: &mut Violations) {
        let mut names = UsedNames::default();
        for (i, backend) in self.backends.iter().enumerate() {
            let path = root.field("backends").index(i);
            names.check(&backend.name, path.field("name"), v);
            let expiration = backend
                .dp_cert
                .as_ref()
                .and_then(|d| d.rotation.as_ref())
                .and_then(|r| r.expiration.as_ref());
            if let Some(expiration) = expiration {
                let field = path.field("dpCert").field("rotation").field("expiration");
                ca::check_validity(expiration, ca::DP_CERT_VALIDITY, &field, v);
            }
        }
        // The backend type is checked with the CA plugins (§6.2.5), see [`prepare`].
        if !self.enabled_backend.is_empty() && !names.contains(&self.enabled_backend) {
            v.add(
                root.field("enabledBackend"),
                "has to be set to one of the backends in the mesh",
            );
        }
    }
}

impl Logging {
    fn check(&self, root: &Path, v: &mut Violations) {
        let mut names = UsedNames::default();
        for (i, backend) in self.backends.iter().enumerate() {
            let path = root.field("backends").index(i);
            backend.check(&path, v);
            names.check(&backend.name, path.field("name"), v);
        }
        if !self.default_backend.is_empty() && !names.contains(&self.default_backend) {
            v.add(
                root.field("defaultBackend"),
                "has to be set to one of the logging backend in mesh",
            );
        }
    }
}

impl LoggingBackend {
    fn check(&self, path: &Path, v: &mut Violations) {
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

impl Tracing {
    fn check(&self, root: &Path, v: &mut Violations) {
        let mut names = UsedNames::default();
        for (i, backend) in self.backends.iter().enumerate() {
            let path = root.field("backends").index(i);
            backend.check(&path, v);
            names.check(&backend.name, path.field("name"), v);
        }
        if !self.default_backend.is_empty() && !names.contains(&self.default_backend) {
            v.add(
                root.field("defaultBackend"),
                "has to be set to one of the tracing backend in mesh",
            );
        }
    }
}

impl TracingBackend {
    fn check(&self, path: &Path, v: &mut Violations) {
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

impl Metrics {
    fn check(&self, root: &Path, v: &mut Violations) {
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
fn apply_metrics_defaults(spec: &mut MeshSpec) -> Violations {
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
pub(super) fn prometheus_conf(conf: &Struct, conf_path: &Path) -> Result<Struct, Violations> {
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

/// The whole Mesh pipeline of a PUT (§3.6.1, §3.6.2, §7.2): defaults, structural validation,
/// on update the CA-change rule, then the CA backend checks, on `files` read beforehand
/// ([`ca::CaFiles::read`]). `old` is the stored spec on update. Each step runs only when the
/// previous one passed.
pub fn prepare(
    spec: &mut MeshSpec,
    mesh_name: &str,
    old: Option<&MeshSpec>,
    files: &ca::CaFiles,
) -> Result<(), Violations> {
    apply_metrics_defaults(spec).into_result()?;
    spec.validate().into_result()?;
    if let Some(old) = old {
        check_ca_change(old, spec).into_result()?;
    }
    match &spec.mtls {
        Some(mtls) => ca::validate_backends(mtls, mesh_name, files).into_result(),
        None => Ok(()),
    }
}

/// §6.2.6: the enabled CA cannot be switched to another while mTLS is on; enabling mTLS (from
/// none) and disabling it are allowed.
fn check_ca_change(old: &MeshSpec, new: &MeshSpec) -> Violations {
    let enabled = |m: &MeshSpec| {
        m.mtls
            .as_ref()
            .map(|t| t.enabled_backend.clone())
            .unwrap_or_default()
    };
    let (before, after) = (enabled(old), enabled(new));
    if !before.is_empty() && !after.is_empty() && before != after {
        return Violations::single(
            "mtls.enabledBackend",
            "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change the CA",
        );
    }
    Violations::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::testing::{check, expected, pairs, spec_json, Cases};
    use serde_json::json;

    fn case(name: &str, spec: serde_json::Value, want: &[(&str, &str)]) {
        check(name, spec, MeshSpec::validate, want);
    }

    fn mesh(spec: serde_json::Value) -> MeshSpec {
        serde_json::from_value(spec_json(spec)).expect("mesh spec decodes")
    }

    fn docs_mesh() -> serde_json::Value {
        json!({
            "name": "mesh-1",
            "type": "Mesh",
            "mtls": {
                "backends": [
                    {"name": "ca-1", "type": "builtin"},
                    {"name": "ca-2", "type": "provided",
                     "conf": {"cert": {"secret": "provided-cert"}, "key": {"secret": "provided-cert"}}}
                ],
                "enabledBackend": "ca-1"
            },
            "tracing": {
                "defaultBackend": "zipkin-1",
                "backends": [{"name": "zipkin-1", "type": "zipkin",
                              "conf": {"url": "http://zipkin.local:9411/api/v1/spans"}}]
            },
            "logging": {
                "backends": [
                    {"name": "file-tmp",
                     "format": "{ \"destination\": \"%KUMA_DESTINATION_SERVICE%\", \"destinationAddress\": \"%UPSTREAM_LOCAL_ADDRESS%\", \"source\": \"%KUMA_SOURCE_SERVICE%\", \"sourceAddress\": \"%KUMA_SOURCE_ADDRESS%\", \"bytesReceived\": \"%BYTES_RECEIVED%\", \"bytesSent\": \"%BYTES_SENT%\"}",
                     "type": "file", "conf": {"path": "/tmp/access.log"}},
                    {"name": "logstash", "type": "tcp", "conf": {"address": "logstash.internal:9000"}}
                ]
            },
            "metrics": {
                "enabledBackend": "prometheus-1",
                "backends": [{"name": "prometheus-1", "type": "prometheus",
                              "conf": {"port": 1234, "path": "/metrics"}}]
            }
        })
    }

    #[test]
    fn valid_meshes() {
        case("docs", docs_mesh(), &[]);
        case("empty", json!({}), &[]);
        case(
            "kuma's valid mesh",
            json!({
                "mtls": {"enabledBackend": "builtin-1", "backends": [{"name": "builtin-1", "type": "builtin"}]},
                "logging": {
                    "defaultBackend": "tcp-1",
                    "backends": [
                        {"name": "file-1", "type": "file", "conf": {"path": "/path/to/file"}},
                        {"name": "file-2", "type": "file", "format": "%START_TIME% %KUMA_SOURCE_SERVICE%", "conf": {"path": "/path/to/file2"}},
                        {"name": "tcp-1", "type": "tcp", "conf": {"address": "kibana:1234"}},
                        {"name": "tcp-2", "type": "tcp", "format": "%START_TIME% %KUMA_SOURCE_SERVICE%", "conf": {"address": "kibana:1235"}}
                    ]},
                "tracing": {
                    "defaultBackend": "zipkin-us",
                    "backends": [
                        {"name": "zipkin-us", "type": "zipkin", "sampling": 80.0,
                         "conf": {"url": "http://zipkin.local:9411/v2/spans", "traceId128bit": true, "apiVersion": "httpProto"}},
                        {"name": "zipkin-eu", "type": "zipkin", "conf": {"url": "http://zipkin.eu:9411/v2/spans"}}
                    ]},
                "metrics": {"enabledBackend": "prom-1", "backends": [{"name": "prom-1", "type": "prometheus"}]}
            }),
            &[],
        );
    }

    #[test]
    fn invalid_meshes() {
        let zipkin = |conf: serde_json::Value| json!({"tracing": {"backends": [{"name": "zipkin-us", "type": "zipkin", "conf": conf}]}});
        let cases: Cases<'_> = vec![
            ("duplicate ca", json!({"mtls": {"backends": [
                {"name": "backend-1", "type": "builtin"}, {"name": "backend-1", "type": "builtin"}]}}), vec![
                ("mtls.backends[1].name", "\"backend-1\" name is already used for another backend")]),
            ("unknown enabled ca", json!({"mtls": {"enabledBackend": "backend-2", "backends": [
                {"name": "backend-1", "type": "builtin"}]}}), vec![
                ("mtls.enabledBackend", "has to be set to one of the backends in the mesh")]),
            ("logging backend without name", json!({"logging": {"backends": [
                {"name": "", "type": "tcp", "conf": {"address": "kibana:1234"}}]}}), vec![
                ("logging.backends[0].name", "cannot be empty")]),
            ("duplicate logging backend", json!({"logging": {"backends": [
                {"name": "backend-1", "type": "tcp", "conf": {"address": "kibana:1234"}},
                {"name": "backend-1", "type": "file", "conf": {"path": "/path"}}]}}), vec![
                ("logging.backends[1].name", "\"backend-1\" name is already used for another backend")]),
            ("tcp address empty", json!({"logging": {"backends": [{"name": "backend-1", "type": "tcp", "conf": {"address": ""}}]}}), vec![
                ("logging.backends[0].config.address", "cannot be empty")]),
            ("tcp address format", json!({"logging": {"backends": [{"name": "backend-1", "type": "tcp", "conf": {"address": "wrong-format:234:234"}}]}}), vec![
                ("logging.backends[0].config.address", "has to be in format of HOST:PORT")]),
            ("tcp address without host", json!({"logging": {"backends": [{"name": "backend-1", "type": "tcp", "conf": {"address": ":234"}}]}}), vec![
                ("logging.backends[0].config.address", "has to be in format of HOST:PORT")]),
            ("file path empty", json!({"logging": {"defaultBackend": "backend-1", "backends": [{"name": "backend-1", "type": "file", "conf": {"path": null}}]}}), vec![
                ("logging.backends[0].config.path", "cannot be empty")]),
            ("file conf not parsable", json!({"logging": {"backends": [{"name": "backend-1", "type": "file", "conf": {"path": 7}}]}}), vec![
                ("logging.backends[0].config", "could not parse config: json: cannot unmarshal number into Go value of type string")]),
            ("access log format", json!({"logging": {"defaultBackend": "backend-1", "backends": [
                {"name": "backend-1", "format": "%START_TIME% %sent_bytes%", "type": "file", "conf": {"path": "/var/logs"}}]}}), vec![
                ("logging.backends[0].format", "format string is not valid: expected a command operator to start at position 14, instead got: \"%sent_bytes%\"")]),
            ("unknown default logging backend", json!({"logging": {"defaultBackend": "non-existing-backend", "backends": [
                {"name": "backend-1", "type": "file", "conf": {"path": "/path"}}]}}), vec![
                ("logging.defaultBackend", "has to be set to one of the logging backend in mesh")]),
            ("tracing backend without name", json!({"tracing": {"backends": [
                {"name": "", "type": "zipkin", "conf": {"url": "http://zipkin.local:9411/v2/spans"}}]}}), vec![
                ("tracing.backends[0].name", "cannot be empty")]),
            ("duplicate tracing backend", json!({"tracing": {"backends": [
                {"name": "zipkin-us", "type": "zipkin", "conf": {"url": "http://zipkin.local:9411/v2/spans"}},
                {"name": "zipkin-us", "type": "zipkin", "conf": {"url": "http://zipkin.local:9411/v2/spans"}}]}}), vec![
                ("tracing.backends[1].name", "\"zipkin-us\" name is already used for another backend")]),
            ("sampling", json!({"tracing": {"backends": [
                {"name": "zipkin-us", "type": "zipkin", "sampling": 100.1, "conf": {"url": "http://zipkin.local:9411/v2/spans"}}]}}), vec![
                ("tracing.backends[0].sampling", "has to be in [0.0 - 100.0] range")]),
            ("zipkin url empty", zipkin(json!({"url": ""})), vec![("tracing.backends[0].config.url", "cannot be empty")]),
            ("zipkin no conf", json!({"tracing": {"backends": [{"name": "zipkin-us", "type": "zipkin"}]}}), vec![
                ("tracing.backends[0].config.url", "cannot be empty")]),
            ("zipkin url invalid", zipkin(json!({"url": "invalid-url"})), vec![("tracing.backends[0].config.url", "invalid URL")]),
            ("zipkin url without port", zipkin(json!({"url": "http://zipkin.local/v2/spans"})), vec![
                ("tracing.backends[0].config.url", "port has to be explicitly specified")]),
            ("zipkin api version", zipkin(json!({"url": "http://zipkin.local:9411/v2/spans", "apiVersion": "invalid"})), vec![
                ("tracing.backends[0].config.apiVersion", "has invalid value. Allowed values: httpJsonV1, httpJson, httpProto")]),
            ("zipkin conf not parsable", zipkin(json!({"url": "http://zipkin.local:9411/v2/spans", "traceId128bit": "yes"})), vec![
                ("tracing.backends[0].config", "could not parse config: json: cannot unmarshal string into Go value of type bool")]),
            ("unknown default tracing backend", json!({"tracing": {"defaultBackend": "non-existent", "backends": [
                {"name": "zipkin-us", "type": "zipkin", "conf": {"url": "http://zipkin.local:9411/v2/spans"}}]}}), vec![
                ("tracing.defaultBackend", "has to be set to one of the tracing backend in mesh")]),
            ("duplicate metrics backend", json!({"metrics": {"backends": [
                {"name": "backend-1", "type": "prometheus"}, {"name": "backend-1", "type": "prometheus"}]}}), vec![
                ("metrics.backends[1].name", "\"backend-1\" name is already used for another backend")]),
            ("unknown enabled metrics backend", json!({"metrics": {"enabledBackend": "backend-2", "backends": [
                {"name": "backend-1", "type": "prometheus"}]}}), vec![
                ("metrics.enabledBackend", "has to be set to one of the backends in the mesh")]),
            ("unknown types", json!({
                "metrics": {"backends": [{"name": "backend-1", "type": "xxx"}]},
                "logging": {"backends": [{"name": "backend-1", "type": "xxx"}]},
                "tracing": {"backends": [{"name": "backend-1", "type": "xxx"}]}}), vec![
                ("logging.backends[0].type", "unknown backend type. Available backends: \"tcp\", \"file\""),
                ("tracing.backends[0].type", "unknown backend type. Available backends: \"zipkin\""),
                ("metrics.backends[0].type", "unknown backend type. Available backends: \"prometheus\"")]),
            ("multiple errors", json!({
                "mtls": {"enabledBackend": "invalid-backend"},
                "logging": {"defaultBackend": "invalid-backend", "backends": [
                    {"name": "", "type": "file", "conf": {"path": "/path"}},
                    {"name": "tcp-1", "type": "file", "conf": {"address": "wrong-format"}},
                    {"name": "tcp-1", "type": "tcp"}]}}), vec![
                ("mtls.enabledBackend", "has to be set to one of the backends in the mesh"),
                ("logging.backends[0].name", "cannot be empty"),
                ("logging.backends[1].config.path", "cannot be empty"),
                ("logging.backends[2].config.address", "cannot be empty"),
                ("logging.backends[2].name", "\"tcp-1\" name is already used for another backend"),
                ("logging.defaultBackend", "has to be set to one of the logging backend in mesh")]),
        ];
        for (name, spec, want) in cases {
            case(name, spec, &want);
        }
    }

    fn prepared(
        spec: serde_json::Value,
        old: Option<serde_json::Value>,
    ) -> Result<MeshSpec, Vec<(String, String)>> {
        let mut spec = mesh(spec);
        let old = old.map(mesh);
        let files = ca::CaFiles::read_blocking(ca::CaFiles::paths(spec.mtls.as_ref()));
        prepare(&mut spec, "mesh-1", old.as_ref(), &files)
            .map(|()| spec)
            .map_err(|v| pairs(&v))
    }

    fn prometheus(conf: serde_json::Value) -> serde_json::Value {
        let mut backend = json!({"name": "prom", "type": "prometheus"});
        if !conf.is_null() {
            backend["conf"] = conf;
        }
        json!({"metrics": {"enabledBackend": "prom", "backends": [backend]}})
    }

    fn metrics_conf(spec: &MeshSpec) -> serde_json::Value {
        serde_json::to_value(&spec.metrics.as_ref().expect("metrics").backends[0].conf)
            .expect("json")
    }

    #[test]
    fn prometheus_backends_get_defaults() {
        for (conf, want) in [
            (
                serde_json::Value::Null,
                json!({"path": "/metrics", "port": 5670}),
            ),
            (json!({}), json!({"path": "/metrics", "port": 5670})),
            (
                json!({"port": 0, "path": ""}),
                json!({"path": "/metrics", "port": 5670}),
            ),
            (
                json!({"port": 1234, "path": "/stats", "extra": true}),
                json!({"path": "/stats", "port": 1234}),
            ),
            (
                json!({"port": "8080"}),
                json!({"path": "/metrics", "port": 8080}),
            ),
            (
                json!({"port": 65535.0}),
                json!({"path": "/metrics", "port": 65535}),
            ),
        ] {
            let spec = prepared(prometheus(conf.clone()), None)
                .unwrap_or_else(|v| panic!("{conf}: {v:?}"));
            assert_eq!(metrics_conf(&spec), want, "{conf}");
        }
        let docs = prepared(docs_mesh(), None).expect("docs mesh is valid");
        assert_eq!(
            metrics_conf(&docs),
            json!({"path": "/metrics", "port": 1234})
        );
    }

    #[test]
    fn prometheus_confs_that_cannot_convert_are_violations() {
        const PORT: &str = "has to be an integer in range of [0, 65535]";
        for conf in [
            json!({"port": "abc"}),
            json!({"port": 1.5}),
            json!({"port": -1}),
            json!({"port": 65536}),
            json!({"port": true}),
        ] {
            assert_eq!(
                prepared(prometheus(conf.clone()), None).map(|_| ()),
                Err(expected(&[("metrics.backends[0].conf.port", PORT)])),
                "{conf}"
            );
        }
        assert_eq!(
            prepared(prometheus(json!({"path": 1})), None).map(|_| ()),
            Err(expected(&[(
                "metrics.backends[0].conf.path",
                "has to be a string"
            )]))
        );
    }

    #[test]
    fn ca_plugins_check_backends() {
        let mtls = |backends: serde_json::Value, enabled: &str| json!({"mtls": {"enabledBackend": enabled, "backends": backends}});
        let cert_b64 = |name: &str| {
            let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                std::fs::read(path).expect("test data"),
            )
        };
        let data = |name: &str| format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        let cases: Cases<'_> = vec![
            ("unknown type stops", mtls(json!([
                {"name": "a", "type": "provided"},
                {"name": "b", "type": "foo"},
                {"name": "c", "type": "provided"}]), ""), vec![
                ("mtls.backends[0].config.cert", "has to be defined"),
                ("mtls.backends[0].config.key", "has to be defined"),
                ("mtls.backends[1].type", "could not find installed plugin for this type")]),
            ("two provided without conf", mtls(json!([
                {"name": "a", "type": "provided"}, {"name": "b", "type": "provided"}]), ""), vec![
                ("mtls.backends[0].config.cert", "has to be defined"),
                ("mtls.backends[0].config.key", "has to be defined"),
                ("mtls.backends[1].config.cert", "has to be defined"),
                ("mtls.backends[1].config.key", "has to be defined")]),
            ("builtin with a bad conf", mtls(json!([
                {"name": "a", "type": "builtin", "conf": {"caCert": {"RSAbits": "many"}}},
                {"name": "b", "type": "builtin", "conf": {"caCert": {"RSAbits": 2048, "expiration": "10h"}, "extra": 1}}]), "a"), vec![
                ("mtls.backends[0].config", "could not convert backend config: invalid character 'm' looking for beginning of value"),
                ("mtls.backends[1].config", "could not convert backend config: unknown field \"extra\" in config.BuiltinCertificateAuthorityConfig")]),
            ("data sources", mtls(json!([
                {"name": "a", "type": "provided", "conf": {"cert": {}, "key": {"secret": ""}}},
                {"name": "b", "type": "provided", "conf": {"cert": {"file": ""}, "key": {"inline": ""}}},
                {"name": "c", "type": "provided", "conf": {"cert": {"file": "/a", "secret": "b"}, "key": {"secret": "k"}}},
                {"name": "d", "type": "provided", "conf": {"cert": "x"}}]), ""), vec![
                ("mtls.backends[0].config.cert", "data source has to be chosen. Available sources: secret, file, inline"),
                ("mtls.backends[0].config.key.secret", "cannot be empty"),
                ("mtls.backends[1].config.cert.file", "cannot be empty"),
                ("mtls.backends[1].config.key.inline", "cannot be empty"),
                ("mtls.backends[2].config.cert", "only one data source can be chosen. Available sources: secret, file, inline"),
                ("mtls.backends[3].config", "could not convert backend config: json: cannot unmarshal string into Go value of type map[string]json.RawMessage")]),
            ("enabled provided backend with a secret", mtls(json!([
                {"name": "ca", "type": "provided", "conf": {"cert": {"secret": "my-cert"}, "key": {"secret": "my-key"}}}]), "ca"), vec![
                ("mtls.backends[0].config.cert", "could not load data: Resource not found: type=\"Secret\" name=\"my-cert\" mesh=\"mesh-1\""),
                ("mtls.backends[0].config.key", "could not load data: Resource not found: type=\"Secret\" name=\"my-cert\" mesh=\"mesh-1\"")]),
            ("enabled provided backend with a missing file", mtls(json!([
                {"name": "ca", "type": "provided", "conf": {"cert": {"inline": cert_b64("ca-rsa.pem")}, "key": {"file": "/nonexistent/ca.key"}}}]), "ca"), vec![
                ("mtls.backends[0].config.cert", "could not load data: open /nonexistent/ca.key: no such file or directory"),
                ("mtls.backends[0].config.key", "could not load data: open /nonexistent/ca.key: no such file or directory")]),
            ("enabled provided backend with a leaf certificate", mtls(json!([
                {"name": "ca", "type": "provided", "conf": {"cert": {"inline": cert_b64("leaf.pem")}, "key": {"inline": cert_b64("leaf.key")}}}]), "ca"), vec![
                ("mtls.backends[0].config.cert", "basic constraint 'CA' must be set to 'true' (see X509-SVID: 4.1. Basic Constraints)"),
                ("mtls.backends[0].config.cert", "key usage extension 'keyCertSign' must be set (see X509-SVID: 4.3. Key Usage)"),
                ("mtls.backends[0].config.cert", "key usage extension 'digitalSignature' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)"),
                ("mtls.backends[0].config.cert", "key usage extension 'keyAgreement' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)"),
                ("mtls.backends[0].config.cert", "key usage extension 'keyEncipherment' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)")]),
            ("a not enabled backend is not loaded (D15)", mtls(json!([
                {"name": "ca-1", "type": "builtin"},
                {"name": "ca-2", "type": "provided", "conf": {"cert": {"inline": cert_b64("leaf.pem")}, "key": {"secret": "s"}}}]), "ca-1"), vec![]),
            ("enabled provided backend from files", mtls(json!([
                {"name": "ca", "type": "provided", "conf": {"cert": {"file": data("ca-ec.pem")}, "key": {"file": data("ca-ec.key")}}}]), "ca"), vec![]),
            ("enabled provided backend inline", mtls(json!([
                {"name": "ca", "type": "provided", "conf": {"cert": {"inline": cert_b64("ca-rsa.pem")}, "key": {"inline": cert_b64("ca-rsa.key")}}}]), "ca"), vec![]),
        ];
        for (name, spec, want) in cases {
            assert_eq!(
                prepared(spec, None).map(|_| ()),
                if want.is_empty() {
                    Ok(())
                } else {
                    Err(expected(&want))
                },
                "case {name:?}"
            );
        }
    }

    #[test]
    fn the_pipeline_stops_at_the_first_failing_step() {
        // Structural violations come before the CA plugins.
        assert_eq!(
            prepared(json!({"mtls": {"enabledBackend": "x", "backends": [{"name": "a", "type": "foo"}]}}), None).map(|_| ()),
            Err(expected(&[("mtls.enabledBackend", "has to be set to one of the backends in the mesh")]))
        );
        // A mesh created with the docs' body is valid (D15: the provided backend is not enabled).
        assert!(prepared(docs_mesh(), None).is_ok());
    }

    #[test]
    fn changing_the_enabled_ca_is_forbidden_while_mtls_is_on() {
        let with = |enabled: &str| {
            json!({"mtls": {"enabledBackend": enabled, "backends": [
            {"name": "ca-1", "type": "builtin"}, {"name": "ca-2", "type": "builtin"}]}})
        };
        assert_eq!(
            prepared(with("ca-2"), Some(with("ca-1"))).map(|_| ()),
            Err(expected(&[("mtls.enabledBackend", "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change the CA")]))
        );
        assert!(prepared(with("ca-1"), Some(with(""))).is_ok(), "enabling");
        assert!(prepared(with(""), Some(with("ca-1"))).is_ok(), "disabling");
        assert!(
            prepared(with("ca-1"), Some(with("ca-1"))).is_ok(),
            "unchanged"
        );
        assert!(
            prepared(with("ca-1"), Some(json!({}))).is_ok(),
            "from no mtls"
        );
        // The update rule runs before the CA plugins.
        let bad = json!({"mtls": {"enabledBackend": "ca-2", "backends": [
            {"name": "ca-1", "type": "builtin"}, {"name": "ca-2", "type": "foo"}]}});
        assert_eq!(
            prepared(bad, Some(with("ca-1"))).map(|_| ()),
            Err(expected(&[("mtls.enabledBackend", "Changing CA when mTLS is enabled is forbidden. Disable mTLS first and then change the CA")]))
        );
    }
}
