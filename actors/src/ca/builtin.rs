//! The `builtin` CA's root (xDS §3.3): an RSA key of `conf.caCert.RSAbits` bits (2048 by
//! default), subject `O=Kuma, OU=Mesh, CN=<mesh>`, URI SAN `spiffe://<mesh>`, a CA allowed to
//! sign certificates and CRLs, valid from 10 s ago for `conf.caCert.expiration` (10 years by
//! default). Ursa gives it a random serial where Kuma gives 0.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
    SanType,
};
use serde::{Deserialize, Serialize};

use super::workload::{random_serial, time};
use crate::kinds::mesh::mtls::BuiltinConfig;

/// The default key size.
pub const DEFAULT_RSA_BITS: u32 = 2048;

/// The default validity of a root.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Certificates are valid from this long before they are made, for clocks a little behind.
pub const BACKDATE: Duration = Duration::from_secs(10);

/// A root as the store keeps it (JSON of the two PEMs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRoot {
    /// The certificate, PEM.
    pub cert: String,
    /// Its PKCS#8 private key, PEM.
    pub key: String,
}

impl StoredRoot {
    /// The bytes kept in the store.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Back from the store's bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<StoredRoot, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("the stored root is unreadable: {e}"))
    }
}

/// A new root for `mesh` as `conf` says, made at `now`. Slow (an RSA key): call it on a
/// blocking thread.
pub fn generate_root(
    mesh: &str,
    conf: &BuiltinConfig,
    now: DateTime<Utc>,
) -> Result<StoredRoot, String> {
    use rsa::pkcs8::EncodePrivateKey;
    let bits = conf.rsa_bits.unwrap_or(DEFAULT_RSA_BITS) as usize;
    let validity = match &conf.expiration {
        Some(d) => Duration::new(d.seconds.max(0) as u64, d.nanos.max(0) as u32),
        None => DEFAULT_VALIDITY,
    };
    let mut rng = rsa::rand_core::OsRng;
    let private = rsa::RsaPrivateKey::new(&mut rng, bits)
        .map_err(|e| format!("could not generate an RSA-{bits} key: {e}"))?;
    let pkcs8 = private
        .to_pkcs8_der()
        .map_err(|e| format!("could not encode the key: {e}"))?;
    let key = KeyPair::try_from(pkcs8.as_bytes()).map_err(|e| format!("unusable key: {e}"))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Kuma");
    name.push(DnType::OrganizationalUnitName, "Mesh");
    name.push(DnType::CommonName, mesh);
    params.distinguished_name = name;
    params.subject_alt_names = vec![SanType::URI(
        format!("spiffe://{mesh}")
            .try_into()
            .map_err(|e| format!("mesh name {mesh:?} makes no URI: {e}"))?,
    )];
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial());
    params.not_before = time(now - chrono::Duration::from_std(BACKDATE).unwrap_or_default());
    params.not_after = time(now + chrono::Duration::from_std(validity).unwrap_or_default());
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("could not sign the root: {e}"))?;
    Ok(StoredRoot {
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}
