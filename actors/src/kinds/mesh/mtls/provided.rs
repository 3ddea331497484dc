//! A `provided` CA: where its certificate and key come from, reading them off the actors,
//! and Kuma's checks of the pair (§6.2.5, D15).

use super::*;

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
    /// The data itself as text (`inlineString`, as later Kuma versions have it; U16).
    InlineString(String),
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
        let inline_string = typed.raw(&["inlineString"]).is_some();
        let inline_string_value = typed.string(&["inlineString"])?;
        typed.finish()?;
        Ok(match (secret, file, inline, inline_string) {
            (false, false, false, false) => DataSource::Unset,
            (true, false, false, false) => DataSource::Secret(secret_value),
            (false, true, false, false) => DataSource::File(file_value),
            (false, false, true, false) => DataSource::Inline(decode_base64(&inline_value)?),
            (false, false, false, true) => DataSource::InlineString(inline_string_value),
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
            DataSource::InlineString(t) if t.is_empty() => {
                v.add(path.field("inlineString"), "cannot be empty")
            }
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
            DataSource::InlineString(text) => Ok(text.as_bytes().to_vec()),
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

/// The certificate and key (PEM bytes) of a `provided` backend, its files taken from `files`;
/// the error is Kuma's wording (`could not load data: …`).
pub fn load_provided(
    backend: &CaBackend,
    mesh_name: &str,
    files: &CaFiles,
) -> Result<(Vec<u8>, Vec<u8>), String> {
    let conf = ProvidedConfig::from_conf(backend.conf.as_ref())
        .map_err(|e| format!("could not convert backend config: {e}"))?;
    let (Some(cert), Some(key)) = (&conf.cert, &conf.key) else {
        return Err("conf.cert and conf.key have to be defined".into());
    };
    Ok((cert.load(mesh_name, files)?, key.load(mesh_name, files)?))
}

/// Kuma's provided CA `ValidateBackend`, with the data loaded only when `enabled` (D15).
pub(super) fn check_provided(
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
