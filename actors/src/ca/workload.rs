//! A dataplane's identity (xDS §3.3): a fresh key, a random serial, an empty subject and a
//! single URI SAN `spiffe://<mesh>/<identifying service>`; key usages digitalSignature,
//! keyEncipherment and keyAgreement; extended key usages serverAuth and clientAuth; valid from
//! 10 s ago for `dpCert.rotation.expiration` (24 h by default), re-issued at 4/5 of that.
//!
//! The key is ECDSA P-256 where Kuma makes RSA-2048 (X14): ring generates one in microseconds,
//! where an RSA key takes a pure-Rust generator hundreds of milliseconds, so 10,000 dataplanes
//! enabling mTLS at once cost seconds of CPU, not hours. The root keeps whatever the CA has.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rcgen::{
    CertificateParams, DistinguishedName, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
    SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};

use super::builtin::BACKDATE;
use super::{spiffe_id, Ca, CaError};

/// The default validity of a dataplane certificate.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(24 * 3600);

/// What a proxy's configuration needs: an identity of `service` in `mesh`, from the enabled
/// backend `backend`, valid for `validity`. Generation says so; the ADS stream issues it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityRequest {
    /// The mesh.
    pub mesh: String,
    /// The enabled CA backend.
    pub backend: String,
    /// The dataplane's identifying service.
    pub service: String,
    /// `dpCert.rotation.expiration`, or [`DEFAULT_VALIDITY`].
    pub validity: Duration,
}

/// An issued identity: the certificate, its key and the CA that signed it.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// What it was issued for.
    pub request: IdentityRequest,
    /// The certificate (PEM).
    pub cert_pem: String,
    /// Its private key (PEM, PKCS#8).
    pub key_pem: String,
    /// The root to trust (PEM), the `mesh_ca` secret.
    pub ca_pem: String,
    /// When it was issued.
    pub issued: DateTime<Utc>,
    /// When it expires.
    pub expires: DateTime<Utc>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Identity")
            .field("request", &self.request)
            .field("issued", &self.issued)
            .field("expires", &self.expires)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// When it is re-issued: at 4/5 of its lifetime (Kuma's SDS reconciler).
    pub fn renew_at(&self) -> DateTime<Utc> {
        renew_at(self.issued, self.request.validity)
    }

    /// Whether it serves `request` until `now` (same backend, service and validity, not yet
    /// due for renewal).
    pub fn serves(&self, request: &IdentityRequest, now: DateTime<Utc>) -> bool {
        &self.request == request && now < self.renew_at()
    }
}

/// 4/5 of `validity` after `issued`.
pub fn renew_at(issued: DateTime<Utc>, validity: Duration) -> DateTime<Utc> {
    let four_fifths = validity.mul_f64(0.8);
    issued + chrono::Duration::from_std(four_fifths).unwrap_or(chrono::Duration::MAX)
}

/// Issues `request`'s identity, signed by `ca`, at `now`. A few milliseconds of CPU: call it
/// on a blocking thread.
pub fn issue(ca: &Ca, request: &IdentityRequest, now: DateTime<Utc>) -> Result<Identity, CaError> {
    let fail = |e: rcgen::Error| CaError::Issue(e.to_string());
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let uri = spiffe_id(&request.mesh, &request.service);
    params.subject_alt_names =
        vec![SanType::URI(uri.clone().try_into().map_err(|e| {
            CaError::Issue(format!("{uri:?} is not a URI: {e}"))
        })?)];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::KeyAgreement,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    let expires = now + chrono::Duration::from_std(request.validity).unwrap_or_default();
    params.not_before = time(now - chrono::Duration::from_std(BACKDATE).unwrap_or_default());
    params.not_after = time(expires);
    let cert = params.signed_by(&key, &ca.issuer).map_err(fail)?;
    Ok(Identity {
        request: request.clone(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        ca_pem: ca.cert_pem.clone(),
        issued: now,
        expires,
    })
}

/// 16 random bytes, positive (the top bit clear), as RFC 5280 wants a serial.
pub(super) fn random_serial() -> SerialNumber {
    let mut bytes = [0u8; 16];
    // The system's CSPRNG; it failing means no key can be made at all.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator failed");
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// A chrono time as rcgen's.
pub(super) fn time(t: DateTime<Utc>) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(t.timestamp())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
