//! The certificate-authority backends of a Mesh's mTLS and the checks of Kuma's CA plugins
//! (§6.2.5, with Ursa's D15): `builtin` and `provided`.
//!
//! Every backend's configuration is checked for structure; the certificate and key of a
//! `provided` backend are loaded and checked only for the enabled backend (D15).

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::der::parse_der;
use x509_parser::der_parser::Oid;
use x509_parser::extensions::KeyUsage;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::backend_conf::TypedConf;
use super::mesh::{CaBackend, Mtls};
use crate::proto::{Duration, Struct};
use crate::validation::{go_quote, Path, Violations};

/// The installed CA plugin types.
pub const CA_TYPES: &[&str] = &[BUILTIN, PROVIDED];
/// A CA whose root certificate the control plane generates.
pub const BUILTIN: &str = "builtin";
/// A CA whose root certificate and key the user provides.
pub const PROVIDED: &str = "provided";

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

/// Where a `provided` CA's certificate or key comes from (`system.v1alpha1.DataSource`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataSource {
    /// `{}`: no source chosen.
    Unset,
    /// A Secret of the same mesh.
    Secret(String),
    /// A file on the control plane's disk.
    File(String),
    /// The data itself (base64 in JSON).
    Inline(Vec<u8>),
    /// More than one source given (Kuma picks one at random; Ursa rejects it).
    Ambiguous,
}

impl DataSource {
    /// Converts a data source object; the error follows `could not convert backend config: `.
    fn from_conf(conf: &Struct) -> Result<DataSource, String> {
        let mut typed = TypedConf::new(Some(conf), "v1alpha1.DataSource");
        // A present key selects its source even when its value is empty or `null`.
        let secret = typed.raw(&["secret"]).is_some();
        let secret_value = typed.string(&["secret"])?;
        let file = typed.raw(&["file"]).is_some();
        let file_value = typed.string(&["file"])?;
        let inline = typed.raw(&["inline"]).is_some();
        let inline_value = typed.string(&["inline"])?;
        typed.finish()?;
        Ok(match (secret, file, inline) {
            (false, false, false) => DataSource::Unset,
            (true, false, false) => DataSource::Secret(secret_value),
            (false, true, false) => DataSource::File(file_value),
            (false, false, true) => DataSource::Inline(decode_base64(&inline_value)?),
            _ => DataSource::Ambiguous,
        })
    }

    /// Kuma's `datasource.Validate`, at `path` (`…config.cert`).
    fn check(&self, path: &Path, v: &mut Violations) {
        match self {
            DataSource::Unset => v.add(
                path,
                "data source has to be chosen. Available sources: secret, file, inline",
            ),
            DataSource::Ambiguous => v.add(
                path,
                "only one data source can be chosen. Available sources: secret, file, inline",
            ),
            DataSource::Secret(s) if s.is_empty() => v.add(path.field("secret"), "cannot be empty"),
            DataSource::File(f) if f.is_empty() => v.add(path.field("file"), "cannot be empty"),
            DataSource::Inline(b) if b.is_empty() => v.add(path.field("inline"), "cannot be empty"),
            _ => {}
        }
    }

    /// Loads the data (a file's from `files`); the error is Kuma's `could not load data: …`.
    fn load(&self, mesh_name: &str, files: &CaFiles) -> Result<Vec<u8>, String> {
        match self {
            // Ursa has no secret store yet, so every secret is "not found".
            DataSource::Secret(name) => Err(format!(
                "could not load data: Resource not found: type=\"Secret\" name={} mesh={}",
                go_quote(name),
                go_quote(mesh_name)
            )),
            DataSource::File(path) => match files.0.get(path) {
                Some(Ok(bytes)) => Ok(bytes.to_vec()),
                Some(Err(e)) => Err(format!("could not load data: open {path}: {e}")),
                None => Err(format!("could not load data: open {path}: not read")),
            },
            DataSource::Inline(bytes) => Ok(bytes.clone()),
            DataSource::Unset | DataSource::Ambiguous => {
                Err("could not load data: unsupported type of the DataSource".into())
            }
        }
    }
}

/// The contents of the files that the enabled `provided` CA backend of a Mesh names, read
/// before the Mesh reaches the actor that validates it: an actor never does file I/O, and a
/// file that is slow to read (a network file system, a FIFO) holds up only its own request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaFiles(BTreeMap<String, Result<Arc<[u8]>, String>>);

impl CaFiles {
    /// No file (a Mesh whose enabled CA names none).
    pub fn none() -> CaFiles {
        CaFiles::default()
    }

    /// The `file` data sources of `mtls`'s enabled `provided` backend (D15: the others are
    /// never loaded).
    pub fn paths(mtls: Option<&Mtls>) -> Vec<String> {
        let Some(mtls) = mtls else {
            return Vec::new();
        };
        let mut paths = Vec::new();
        for backend in &mtls.backends {
            if backend.type_ != PROVIDED || backend.name != mtls.enabled_backend {
                continue;
            }
            let Ok(conf) = ProvidedConfig::from_conf(backend.conf.as_ref()) else {
                continue;
            };
            for source in [conf.cert, conf.key].into_iter().flatten() {
                if let DataSource::File(path) = source {
                    if !path.is_empty() && !paths.contains(&path) {
                        paths.push(path);
                    }
                }
            }
        }
        paths
    }

    /// Reads `paths` on the calling thread, which may block.
    pub fn read_blocking(paths: Vec<String>) -> CaFiles {
        CaFiles(
            paths
                .into_iter()
                .map(|path| {
                    let read = std::fs::read(&path)
                        .map(Arc::from)
                        .map_err(|e| go_io_error(&e));
                    (path, read)
                })
                .collect(),
        )
    }

    /// The files `mtls` names, read on the runtime's blocking threads (nothing to do, and no
    /// thread, when it names none).
    pub async fn read(mtls: Option<&Mtls>) -> CaFiles {
        let paths = CaFiles::paths(mtls);
        if paths.is_empty() {
            return CaFiles::none();
        }
        let failed = paths.clone();
        tokio::task::spawn_blocking(move || CaFiles::read_blocking(paths))
            .await
            .unwrap_or_else(|_| {
                CaFiles(
                    failed
                        .into_iter()
                        .map(|p| (p, Err("the read did not complete".to_string())))
                        .collect(),
                )
            })
    }
}

/// Protobuf `bytes` in JSON: standard base64, as encoding/json decodes it (line breaks
/// ignored).
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let compact: String = text.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => {
                format!("illegal base64 data at input byte {at}")
            }
            _ => format!("illegal base64 data at input byte {}", compact.len()),
        })
}

/// Go's wording of the usual file errors (`no such file or directory`).
fn go_io_error(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::IsADirectory => "is a directory".into(),
        _ => e.to_string(),
    }
}

/// The `provided` CA's configuration: `{cert: DataSource, key: DataSource}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProvidedConfig {
    /// The root certificate (PEM), `None` when not given.
    pub cert: Option<DataSource>,
    /// Its private key (PEM), `None` when not given.
    pub key: Option<DataSource>,
}

impl ProvidedConfig {
    /// Converts a backend's `conf`; the error follows `could not convert backend config: `.
    pub fn from_conf(conf: Option<&Struct>) -> Result<ProvidedConfig, String> {
        let mut typed = TypedConf::new(conf, "config.ProvidedCertificateAuthorityConfig");
        let cert = typed
            .object(&["cert"])?
            .map(DataSource::from_conf)
            .transpose()?;
        let key = typed
            .object(&["key"])?
            .map(DataSource::from_conf)
            .transpose()?;
        typed.finish()?;
        Ok(ProvidedConfig { cert, key })
    }
}

/// Kuma's provided CA `ValidateBackend`, with the data loaded only when `enabled` (D15).
fn check_provided(
    backend: &CaBackend,
    enabled: bool,
    mesh_name: &str,
    files: &CaFiles,
    config: &Path,
    v: &mut Violations,
) {
    let conf = match ProvidedConfig::from_conf(backend.conf.as_ref()) {
        Ok(conf) => conf,
        Err(e) => {
            v.add(config, format!("could not convert backend config: {e}"));
            return;
        }
    };
    let mut structure = Violations::new();
    for (field, source) in [("cert", &conf.cert), ("key", &conf.key)] {
        match source {
            None => structure.add(config.field(field), "has to be defined"),
            Some(source) => source.check(&config.field(field), &mut structure),
        }
    }
    let structurally_valid = structure.is_empty();
    v.extend(structure);
    if !structurally_valid || !enabled {
        return;
    }
    let (Some(cert), Some(key)) = (&conf.cert, &conf.key) else {
        return;
    };
    let loaded = cert
        .load(mesh_name, files)
        .and_then(|cert| key.load(mesh_name, files).map(|key| (cert, key)));
    match loaded {
        Err(e) => {
            v.add(config.field("cert"), &e);
            v.add(config.field("key"), e);
        }
        Ok((cert, key)) => {
            for message in check_root_ca(&cert, &key) {
                v.add(config.field("cert"), message);
            }
        }
    }
}

/// Kuma's `validateCaCert`: the pair must load as a TLS key pair (Go's `tls.X509KeyPair`),
/// be a single self-signed certificate, a CA, with `keyCertSign` and without
/// `digitalSignature`, `keyAgreement` and `keyEncipherment`. Returns the messages, in order.
pub fn check_root_ca(cert_pem: &[u8], key_pem: &[u8]) -> Vec<String> {
    let certs = match x509_key_pair(cert_pem, key_pem) {
        Ok(certs) => certs,
        Err(e) => return vec![format!("not a valid TLS key pair: {e}")],
    };
    if certs.len() != 1 {
        return vec!["certificate must be a root CA (certificate chains are not allowed)".into()];
    }
    let cert = match parse_certificate(&certs[0]) {
        Ok(cert) => cert,
        Err(e) => return vec![format!("not a valid x509 certificate: {e}")],
    };
    let mut messages = Vec::new();
    let (issuer, subject) = (cert.issuer(), cert.subject());
    if issuer.as_raw() != subject.as_raw() && issuer.to_string() != subject.to_string() {
        messages.push("certificate must be self-signed (intermediate CAs are not allowed)".into());
    }
    if !cert.is_ca() {
        messages.push(
            "basic constraint 'CA' must be set to 'true' (see X509-SVID: 4.1. Basic Constraints)"
                .into(),
        );
    }
    let usage = cert
        .key_usage()
        .ok()
        .flatten()
        .map(|ext| *ext.value)
        .unwrap_or(KeyUsage { flags: 0 });
    if !usage.key_cert_sign() {
        messages.push(
            "key usage extension 'keyCertSign' must be set (see X509-SVID: 4.3. Key Usage)".into(),
        );
    }
    for (set, name) in [
        (usage.digital_signature(), "digitalSignature"),
        (usage.key_agreement(), "keyAgreement"),
        (usage.key_encipherment(), "keyEncipherment"),
    ] {
        if set {
            messages.push(format!(
                "key usage extension '{name}' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)"
            ));
        }
    }
    messages
}

fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, String> {
    match X509Certificate::from_der(der) {
        Ok((rest, _)) if !rest.is_empty() => Err("x509: trailing data".into()),
        Ok((_, cert)) => Ok(cert),
        Err(e) => Err(format!("x509: {e}")),
    }
}

/// Go's `tls.X509KeyPair`, returning the DER of every certificate of the chain. The key must
/// be PKCS#1, PKCS#8 or SEC1 and match the first certificate's public key (RSA keys and EC
/// keys that carry their public point are compared; others are checked by type only).
fn x509_key_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut certs = Vec::new();
    let mut skipped = Vec::new();
    for block in pem_blocks(cert_pem) {
        if block.label == "CERTIFICATE" {
            certs.push(block.der);
        } else {
            skipped.push(block.label);
        }
    }
    if certs.is_empty() {
        if skipped.is_empty() {
            return Err("tls: failed to find any PEM data in certificate input".into());
        }
        if skipped.len() == 1 && skipped[0].ends_with("PRIVATE KEY") {
            return Err("tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched".into());
        }
        return Err(format!(
            "tls: failed to find \"CERTIFICATE\" PEM block in certificate input after skipping PEM blocks of the following types: [{}]",
            skipped.join(" ")
        ));
    }
    let mut skipped = Vec::new();
    let mut key_der = None;
    for block in pem_blocks(key_pem) {
        if block.label == "PRIVATE KEY" || block.label.ends_with(" PRIVATE KEY") {
            key_der = Some(block.der);
            break;
        }
        skipped.push(block.label);
    }
    let Some(key_der) = key_der else {
        if skipped.is_empty() {
            return Err("tls: failed to find any PEM data in key input".into());
        }
        if skipped.len() == 1 && skipped[0] == "CERTIFICATE" {
            return Err(
                "tls: found a certificate rather than a key in the PEM for the private key".into(),
            );
        }
        return Err(format!(
            "tls: failed to find PEM block with type ending in \"PRIVATE KEY\" in key input after skipping PEM blocks of the following types: [{}]",
            skipped.join(" ")
        ));
    };
    let cert = parse_certificate(&certs[0])?;
    let key = PrivateKey::parse(&key_der).ok_or("tls: failed to parse private key")?;
    let spki = cert.public_key();
    let algorithm = spki.algorithm.algorithm.to_id_string();
    match (algorithm.as_str(), &key) {
        (OID_RSA, PrivateKey::Rsa { modulus }) => {
            let public = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => rsa.modulus,
                _ => return Err("x509: invalid RSA public key".into()),
            };
            if strip_zeros(public) != strip_zeros(modulus) {
                return Err("tls: private key does not match public key".into());
            }
        }
        (OID_EC, PrivateKey::Ec { public }) => {
            if let Some(public) = public {
                if public.as_slice() != spki.subject_public_key.data.as_ref() {
                    return Err("tls: private key does not match public key".into());
                }
            }
        }
        (OID_ED25519, PrivateKey::Ed25519) => {}
        (OID_RSA | OID_EC | OID_ED25519, _) => {
            return Err("tls: private key type does not match public key type".into())
        }
        _ => return Err("tls: unknown public key algorithm".into()),
    }
    Ok(certs)
}

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_EC: &str = "1.2.840.10045.2.1";
const OID_ED25519: &str = "1.3.101.112";
/// The curves Go's `x509` knows: P-224, P-256, P-384, P-521.
const KNOWN_CURVES: &[&str] = &[
    "1.3.132.0.33",
    "1.2.840.10045.3.1.7",
    "1.3.132.0.34",
    "1.3.132.0.35",
];

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// What the key-pair check needs of a private key.
enum PrivateKey {
    Rsa { modulus: Vec<u8> },
    Ec { public: Option<Vec<u8>> },
    Ed25519,
}

impl PrivateKey {
    /// Go's `parsePrivateKey`: PKCS#1, then PKCS#8, then SEC1.
    fn parse(der: &[u8]) -> Option<PrivateKey> {
        parse_pkcs1(der)
            .or_else(|| parse_pkcs8(der))
            .or_else(|| parse_sec1(der, None))
    }
}

fn parse_whole(der: &[u8]) -> Option<BerObject<'_>> {
    match parse_der(der) {
        Ok(([], obj)) => Some(obj),
        _ => None,
    }
}

fn integer<'a>(obj: &BerObject<'a>) -> Option<&'a [u8]> {
    match obj.content {
        BerObjectContent::Integer(b) => Some(b),
        _ => None,
    }
}

fn small_int(obj: &BerObject<'_>) -> Option<u64> {
    obj.as_u64().ok()
}

/// `RSAPrivateKey ::= SEQUENCE { version, n, e, d, p, q, dp, dq, qinv, … }`.
fn parse_pkcs1(der: &[u8]) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 9 || small_int(&seq[0])? > 1 || !seq[..9].iter().all(|o| integer(o).is_some()) {
        return None;
    }
    Some(PrivateKey::Rsa {
        modulus: integer(&seq[1])?.to_vec(),
    })
}

/// `PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING, … }`.
fn parse_pkcs8(der: &[u8]) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 3 || small_int(&seq[0])? != 0 {
        return None;
    }
    let algorithm = seq[1].as_sequence().ok()?;
    let oid = algorithm.first()?.as_oid().ok()?.to_id_string();
    let inner = match seq[2].content {
        BerObjectContent::OctetString(b) => b,
        _ => return None,
    };
    match oid.as_str() {
        OID_RSA => parse_pkcs1(inner),
        OID_EC => {
            let curve = algorithm.get(1)?.as_oid().ok()?.clone();
            parse_sec1(inner, Some(curve))
        }
        OID_ED25519 => {
            let seed = parse_whole(inner)?;
            match seed.content {
                BerObjectContent::OctetString(b) if b.len() == 32 => Some(PrivateKey::Ed25519),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters OPTIONAL,
/// [1] publicKey BIT STRING OPTIONAL }`; the curve comes from the PKCS#8 wrapper or `[0]`.
fn parse_sec1(der: &[u8], curve: Option<Oid<'_>>) -> Option<PrivateKey> {
    let obj = parse_whole(der)?;
    let seq = obj.as_sequence().ok()?;
    if seq.len() < 2 || small_int(&seq[0])? != 1 {
        return None;
    }
    if !matches!(seq[1].content, BerObjectContent::OctetString(_)) {
        return None;
    }
    let mut named_curve = curve.map(|c| c.to_id_string());
    let mut public = None;
    for field in &seq[2..] {
        let tag = field.tag().0;
        let inner = explicit_inner(field)?;
        match tag {
            0 if named_curve.is_none() => {
                named_curve = Some(parse_whole(inner)?.as_oid().ok()?.to_id_string())
            }
            1 => {
                let bits = parse_whole(inner)?;
                public = Some(bits.as_bitstring().ok()?.data.to_vec());
            }
            _ => {}
        }
    }
    if !KNOWN_CURVES.contains(&named_curve?.as_str()) {
        return None;
    }
    Some(PrivateKey::Ec { public })
}

/// The encoded inner object of an explicitly tagged field (`[0] …`).
fn explicit_inner<'a>(field: &BerObject<'a>) -> Option<&'a [u8]> {
    match &field.content {
        BerObjectContent::Unknown(any) => Some(any.data),
        _ => None,
    }
}

/// One PEM block: its label and decoded bytes.
struct PemBlock {
    label: String,
    der: Vec<u8>,
}

/// The PEM blocks of `input`, in order, like repeated `pem.Decode`: a block whose body is not
/// valid base64 or whose END line does not match is skipped.
fn pem_blocks(input: &[u8]) -> Vec<PemBlock> {
    let text = String::from_utf8_lossy(input);
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim_end);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        let mut closed = false;
        let mut in_headers = true;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if in_headers && line.contains(':') {
                continue;
            }
            in_headers = false;
            body.push_str(line.trim());
        }
        if !closed {
            break;
        }
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            blocks.push(PemBlock {
                label: label.to_string(),
                der,
            });
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn a_self_signed_root_ca_passes() {
        assert!(check_root_ca(&data("ca-rsa.pem"), &data("ca-rsa.key")).is_empty());
        assert!(check_root_ca(&data("ca-ec.pem"), &data("ca-ec.key")).is_empty());
        assert!(check_root_ca(&data("ca-ec.pem"), &data("ca-ec-pkcs8.key")).is_empty());
        assert!(check_root_ca(&data("ca-rsa.pem"), &data("ca-rsa-pkcs8.key")).is_empty());
    }

    #[test]
    fn certificate_problems_are_reported_in_kumas_order() {
        assert_eq!(
            check_root_ca(&data("leaf.pem"), &data("leaf.key")),
            vec![
                "basic constraint 'CA' must be set to 'true' (see X509-SVID: 4.1. Basic Constraints)",
                "key usage extension 'keyCertSign' must be set (see X509-SVID: 4.3. Key Usage)",
                "key usage extension 'digitalSignature' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)",
                "key usage extension 'keyAgreement' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)",
                "key usage extension 'keyEncipherment' must NOT be set (see X509-SVID: Appendix A. X.509 Field Reference)",
            ]
        );
        assert_eq!(
            check_root_ca(&data("intermediate.pem"), &data("intermediate.key")),
            vec!["certificate must be self-signed (intermediate CAs are not allowed)"]
        );
        let mut chain = data("intermediate.pem");
        chain.extend(data("ca-rsa.pem"));
        assert_eq!(
            check_root_ca(&chain, &data("intermediate.key")),
            vec!["certificate must be a root CA (certificate chains are not allowed)"]
        );
    }

    #[test]
    fn key_pair_problems_read_like_go() {
        let check = |cert: &[u8], key: &[u8]| check_root_ca(cert, key).join("\n");
        assert_eq!(
            check(&data("ca-rsa.pem"), &data("leaf.key")),
            "not a valid TLS key pair: tls: private key does not match public key"
        );
        assert_eq!(
            check(&data("ca-rsa.pem"), &data("ca-ec.key")),
            "not a valid TLS key pair: tls: private key type does not match public key type"
        );
        assert_eq!(
            check(&data("ca-ec.pem"), &data("leaf-ec.key")),
            "not a valid TLS key pair: tls: private key does not match public key"
        );
        assert_eq!(
            check(b"garbage", &data("ca-rsa.key")),
            "not a valid TLS key pair: tls: failed to find any PEM data in certificate input"
        );
        assert_eq!(
            check(&data("ca-rsa.key"), &data("ca-rsa.key")),
            "not a valid TLS key pair: tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched"
        );
        assert_eq!(
            check(&data("ca-rsa.pem"), b""),
            "not a valid TLS key pair: tls: failed to find any PEM data in key input"
        );
        assert_eq!(
            check(&data("ca-rsa.pem"), &data("ca-rsa.pem")),
            "not a valid TLS key pair: tls: found a certificate rather than a key in the PEM for the private key"
        );
        assert_eq!(
            check(
                &data("ca-rsa.pem"),
                b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"
            ),
            "not a valid TLS key pair: tls: failed to parse private key"
        );
        let bad_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            check(bad_cert, &data("ca-rsa.key")).starts_with("not a valid TLS key pair: x509: ")
        );
    }

    #[test]
    fn configs_convert_like_kuma() {
        let conf = |v: serde_json::Value| v.as_object().cloned();
        assert_eq!(
            BuiltinConfig::from_conf(conf(serde_json::json!({"caCert": {"RSAbits": 2048, "expiration": "10y"}})).as_ref()),
            Err("caCert.expiration: invalid duration \"10y\": expected a number with a unit (ns, us, ms, s, m, h), e.g. \"10s\" or \"1m30s\"".into())
        );
        assert_eq!(
            BuiltinConfig::from_conf(
                conf(serde_json::json!({"caCert": {"RSAbits": "2048", "expiration": "1h"}}))
                    .as_ref()
            ),
            Ok(BuiltinConfig {
                rsa_bits: Some(2048),
                expiration: Some(Duration::from_secs(3600))
            })
        );
        assert_eq!(
            BuiltinConfig::from_conf(conf(serde_json::json!({"caCert": "x"})).as_ref()),
            Err(
                "json: cannot unmarshal string into Go value of type map[string]json.RawMessage"
                    .into()
            )
        );
        assert_eq!(
            ProvidedConfig::from_conf(conf(serde_json::json!({"cert": {"inline": "!!"}})).as_ref()),
            Err("illegal base64 data at input byte 0".into())
        );
        assert_eq!(
            ProvidedConfig::from_conf(
                conf(serde_json::json!({"cert": {"secret": null}, "key": {"file": "/k"}})).as_ref()
            ),
            Ok(ProvidedConfig {
                cert: Some(DataSource::Secret(String::new())),
                key: Some(DataSource::File("/k".into())),
            })
        );
    }
}
