//! Mesh certificate authorities and the workload identities they sign (xDS §3.3).
//!
//! A mesh with mTLS has one enabled CA backend: `builtin`, whose root Ursa generates once and
//! keeps in the store ([`builtin`]), or `provided`, whose certificate and key come from data
//! sources ([`provided`]). [`Authorities`] hands out the CA of a mesh (cached, created or
//! loaded off the calling thread), and [`workload::issue`] signs one dataplane's identity:
//! a fresh key and a certificate whose single URI SAN is `spiffe://<mesh>/<service>`.
//!
//! Nothing here runs on an actor: an ADS stream asks for its identity on the xDS runtime, and
//! every key generation and signature runs on the blocking threads (X14).

pub mod authorities;
pub mod builtin;
pub mod provided;
pub mod workload;

use std::sync::Arc;

use rcgen::{Issuer, KeyPair};

pub use authorities::Authorities;
pub use workload::{Identity, IdentityRequest};

/// Why a mesh has no usable CA, or a certificate could not be issued.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CaError {
    /// The Mesh enables no backend, or one it does not define.
    #[error("the mesh enables CA backend {0:?}, which it does not define")]
    NoBackend(String),
    /// The backend's type is not one Ursa implements.
    #[error("CA backend {backend:?} has the unknown type {type_:?}")]
    UnknownType {
        /// The backend.
        backend: String,
        /// Its type.
        type_: String,
    },
    /// A `provided` CA's data could not be loaded or is not a usable CA.
    #[error("provided CA {backend:?}: {reason}")]
    Provided {
        /// The backend.
        backend: String,
        /// What is wrong.
        reason: String,
    },
    /// A `builtin` CA's configuration is unusable or its root could not be made.
    #[error("builtin CA {backend:?}: {reason}")]
    Builtin {
        /// The backend.
        backend: String,
        /// What is wrong.
        reason: String,
    },
    /// The store did not answer.
    #[error("the CA could not be read from or stored in the store: {0}")]
    Store(String),
    /// Signing failed (a key or certificate rcgen refused).
    #[error("could not issue a certificate: {0}")]
    Issue(String),
}

/// A loaded CA: its root certificate and what signs with its key.
pub struct Ca {
    /// The backend's name.
    pub backend: String,
    /// The root certificate (PEM), what `mesh_ca` tells proxies to trust.
    pub cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Ca {
    /// A CA from its PEM certificate and PEM private key (PKCS#8, or PKCS#1 for RSA).
    pub fn from_pem(backend: &str, cert_pem: &str, key_pem: &str) -> Result<Arc<Ca>, String> {
        let key = key_pair(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)
            .map_err(|e| format!("not a usable CA certificate: {e}"))?;
        Ok(Arc::new(Ca {
            backend: backend.to_string(),
            cert_pem: cert_pem.to_string(),
            issuer,
        }))
    }
}

/// A signing key from PEM: PKCS#8 (`PRIVATE KEY`) as is, PKCS#1 (`RSA PRIVATE KEY`) converted
/// to PKCS#8, which is what ring signs with.
pub fn key_pair(key_pem: &str) -> Result<KeyPair, String> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::EncodePrivateKey;
    let block = crate::pki::pem_blocks(key_pem.as_bytes())
        .into_iter()
        .find(|b| b.label.ends_with("PRIVATE KEY"))
        .ok_or("no PEM private key found")?;
    let pkcs8 = match block.label.as_str() {
        "PRIVATE KEY" => block.der,
        "RSA PRIVATE KEY" => rsa::RsaPrivateKey::from_pkcs1_der(&block.der)
            .map_err(|e| format!("not a PKCS#1 RSA key: {e}"))?
            .to_pkcs8_der()
            .map_err(|e| format!("could not convert the RSA key to PKCS#8: {e}"))?
            .as_bytes()
            .to_vec(),
        other => {
            return Err(format!(
                "{other} keys are not supported for signing: convert it to PKCS#8 \
                 (openssl pkcs8 -topk8 -nocrypt)"
            ))
        }
    };
    KeyPair::try_from(pkcs8.as_slice()).map_err(|e| format!("unusable private key: {e}"))
}

/// The SPIFFE id of `service` in `mesh`: `spiffe://<mesh>/<service>`.
pub fn spiffe_id(mesh: &str, service: &str) -> String {
    format!("spiffe://{mesh}/{service}")
}

#[cfg(test)]
mod tests;
