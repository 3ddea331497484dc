//! `Mesh`: the tenant every other resource lives in, with its mTLS, tracing, logging and
//! metrics backends, one section a module.

mod logging;
mod metrics;
pub mod mtls;
mod tracing;

use serde::{Deserialize, Serialize};

pub use self::logging::{Logging, LoggingBackend};
pub use self::metrics::{
    prometheus_conf, Metrics, MetricsBackend, DEFAULT_PROMETHEUS_PATH, DEFAULT_PROMETHEUS_PORT,
    PROMETHEUS,
};
pub use self::mtls::{CaBackend, CaFiles, DpCert, Mtls, Rotation};
pub use self::tracing::{Tracing, TracingBackend};
use crate::validation::{go_quote, Path, Violations};

/// Spec of a `Mesh`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MeshSpec {
    /// Mutual TLS: certificate authority backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Tracing backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Access-log backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Metrics backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
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
    pub(super) fn check(&mut self, name: &'a str, path: Path, v: &mut Violations) {
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

    pub(super) fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
}

/// A named backend of a mesh section (logging, tracing).
trait Backend {
    fn name(&self) -> &str;
    fn check(&self, path: &Path, v: &mut Violations);
}

/// The checks logging and tracing share: each backend's own, unique names, and a default
/// that names one of them (`what` words the message: "logging", "tracing").
fn check_backends<B: Backend>(
    root: &Path,
    backends: &[B],
    default_backend: &str,
    what: &str,
    v: &mut Violations,
) {
    let mut names = UsedNames::default();
    for (i, backend) in backends.iter().enumerate() {
        let path = root.field("backends").index(i);
        backend.check(&path, v);
        names.check(backend.name(), path.field("name"), v);
    }
    if !default_backend.is_empty() && !names.contains(default_backend) {
        v.add(
            root.field("defaultBackend"),
            format!("has to be set to one of the {what} backend in mesh"),
        );
    }
}

/// The whole Mesh pipeline of a PUT (§3.6.1, §3.6.2, §7.2): defaults, structural validation,
/// on update the CA-change rule, then the CA backend checks, on `files` read beforehand
/// ([`CaFiles::read`]). `old` is the stored spec on update. Each step runs only when the
/// previous one passed.
pub fn prepare(
    spec: &mut MeshSpec,
    mesh_name: &str,
    old: Option<&MeshSpec>,
    files: &CaFiles,
) -> Result<(), Violations> {
    metrics::apply_defaults(spec).into_result()?;
    spec.validate().into_result()?;
    if let Some(old) = old {
        mtls::check_ca_change(old, spec).into_result()?;
    }
    match &spec.mtls {
        Some(mtls) => mtls::validate_backends(mtls, mesh_name, files).into_result(),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
