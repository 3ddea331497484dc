//! The `mtls` section of a Mesh: its certificate-authority backends, the enabled one, and the
//! checks of Kuma's CA plugins (§6.2.5, with Ursa's D15): `builtin` and `provided`.
//!
//! Every backend's configuration is checked for structure; the certificate and key of a
//! `provided` backend are loaded and checked only for the enabled backend (D15).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use x509_parser::extensions::KeyUsage;

use super::{MeshSpec, UsedNames};
use crate::backend_conf::TypedConf;
use crate::pki::{parse_certificate, x509_key_pair};
use crate::proto::{Duration, Struct};
use crate::validation::{go_quote, Path, Violations};

mod provided;

use provided::check_provided;
pub use provided::*;

/// The installed CA plugin types.
pub const CA_TYPES: &[&str] = &[BUILTIN, PROVIDED];
/// A CA whose root certificate the control plane generates.
pub const BUILTIN: &str = "builtin";
/// A CA whose root certificate and key the user provides.
pub const PROVIDED: &str = "provided";

/// `mtls` section.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Mtls {
    /// Name of the enabled CA backend; empty = mTLS off.
    #[serde(alias = "enabled_backend", skip_serializing_if = "String::is_empty")]
    pub enabled_backend: String,
    /// CA backends.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<CaBackend>,
}

/// A certificate-authority backend (`builtin` or `provided`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct CaBackend {
    /// Backend name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Backend type: `builtin` or `provided`.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Dataplane certificate settings.
    #[serde(alias = "dp_cert", skip_serializing_if = "Option::is_none")]
    pub dp_cert: Option<DpCert>,
    /// Type-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Struct>,
}

/// Dataplane certificate settings of a CA backend.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct DpCert {
    /// Rotation settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
}

impl CaBackend {
    /// `dpCert.rotation.expiration`, when set.
    pub fn dp_cert_validity(&self) -> Option<std::time::Duration> {
        let d = self
            .dp_cert
            .as_ref()?
            .rotation
            .as_ref()?
            .expiration
            .as_ref()?;
        Some(std::time::Duration::new(
            d.seconds.max(0) as u64,
            d.nanos.max(0) as u32,
        ))
    }
}

/// Certificate rotation settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Rotation {
    /// How long a dataplane certificate is valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<Duration>,
}

impl Mtls {
    /// The enabled backend: `None` when mTLS is off or it names no backend of the list.
    pub fn enabled(&self) -> Option<&CaBackend> {
        if self.enabled_backend.is_empty() {
            return None;
        }
        self.backends
            .iter()
            .find(|b| b.name == self.enabled_backend)
    }

    pub(super) fn check(&self, root: &Path, v: &mut Violations) {
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
                check_validity(expiration, DP_CERT_VALIDITY, &field, v);
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

/// §6.2.6: the enabled CA cannot be switched to another while mTLS is on; enabling mTLS (from
/// none) and disabling it are allowed.
pub(super) fn check_ca_change(old: &MeshSpec, new: &MeshSpec) -> Violations {
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

/// Checks every mtls backend in order with its plugin. An unknown type is reported and stops
/// the checks (violations of earlier backends are kept), as in Kuma. `files` holds what the
/// backends' `file` data sources named when they were read ([`CaFiles::read`]).
pub fn validate_backends(mtls: &Mtls, mesh_name: &str, files: &CaFiles) -> Violations {
    let mut v = Violations::new();
    for (i, backend) in mtls.backends.iter().enumerate() {
        let path = Path::root("mtls").field("backends").index(i);
        let config = path.field("config");
        match backend.type_.as_str() {
            BUILTIN => match BuiltinConfig::from_conf(backend.conf.as_ref()) {
                Err(e) => v.add(&config, format!("could not convert backend config: {e}")),
                Ok(builtin) => builtin.check(&path.field("conf").field("caCert"), &mut v),
            },
            PROVIDED => {
                let enabled = backend.name == mtls.enabled_backend;
                check_provided(backend, enabled, mesh_name, files, &config, &mut v);
            }
            _ => {
                v.add(
                    path.field("type"),
                    "could not find installed plugin for this type",
                );
                return v;
            }
        }
    }
    v
}

/// The `builtin` CA's configuration: `{caCert: {RSAbits, expiration}}`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BuiltinConfig {
    /// Size of the generated RSA key.
    pub rsa_bits: Option<u32>,
    /// Validity of the generated root certificate.
    pub expiration: Option<Duration>,
}

impl BuiltinConfig {
    /// Converts a backend's `conf`; the error follows `could not convert backend config: `.
    pub fn from_conf(conf: Option<&Struct>) -> Result<BuiltinConfig, String> {
        let mut top = TypedConf::new(conf, "config.BuiltinCertificateAuthorityConfig");
        let ca_cert = top.object(&["caCert"])?;
        top.finish()?;
        let mut cert = TypedConf::new(ca_cert, "config.BuiltinCertificateAuthorityConfig_CaCert");
        let rsa_bits = cert.u32(&["RSAbits"])?;
        let expiration = cert.string(&["expiration"])?;
        cert.finish()?;
        // Kuma keeps `expiration` a plain string; Ursa parses it here so that a bad value is
        // reported now rather than when the CA is generated.
        let expiration = match expiration.as_str() {
            "" => None,
            text => Some(Duration::parse(text).map_err(|e| format!("caCert.expiration: {e}"))?),
        };
        Ok(BuiltinConfig {
            rsa_bits,
            expiration,
        })
    }
}

/// RSA key sizes a builtin CA may be given: large enough to be safe, small enough that
/// generating one is not a denial of service (a 16384-bit key takes minutes of CPU).
pub const RSA_BITS: std::ops::RangeInclusive<u32> = 2048..=4096;

/// Validity bounds of a certificate, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct ValidityBounds {
    /// Shortest.
    pub min: i64,
    /// Longest.
    pub max: i64,
}

/// A builtin CA's root: at least an hour, at most 100 years.
pub const CA_VALIDITY: ValidityBounds = ValidityBounds {
    min: 3600,
    max: 100 * 365 * 24 * 3600,
};

/// A dataplane certificate: at least 10 s (it is re-issued at 4/5 of its life), at most a year.
pub const DP_CERT_VALIDITY: ValidityBounds = ValidityBounds {
    min: 10,
    max: 365 * 24 * 3600,
};

/// Reports `d` at `field` when it is outside `bounds`.
pub fn check_validity(d: &Duration, bounds: ValidityBounds, field: &Path, v: &mut Violations) {
    let nanos = i128::from(d.seconds) * 1_000_000_000 + i128::from(d.nanos);
    let (min, max) = (
        i128::from(bounds.min) * 1_000_000_000,
        i128::from(bounds.max) * 1_000_000_000,
    );
    if nanos < min || nanos > max {
        v.add(
            field,
            format!(
                "has to be between {}s and {}h",
                bounds.min,
                bounds.max / 3600
            ),
        );
    }
}

impl BuiltinConfig {
    /// Range checks of a converted configuration; `path` is its `conf.caCert`.
    fn check(&self, path: &Path, v: &mut Violations) {
        if let Some(bits) = self.rsa_bits {
            if !RSA_BITS.contains(&bits) {
                v.add(
                    path.field("RSAbits"),
                    format!(
                        "has to be between {} and {}",
                        RSA_BITS.start(),
                        RSA_BITS.end()
                    ),
                );
            }
        }
        if let Some(expiration) = &self.expiration {
            check_validity(expiration, CA_VALIDITY, &path.field("expiration"), v);
        }
    }
}

#[cfg(test)]
mod tests;
