use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::json;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::builtin::{generate_root, StoredRoot};
use super::workload::{issue, renew_at, IdentityRequest};
use super::*;
use crate::kinds::mesh::mtls::BuiltinConfig;
use crate::kinds::{Kind, Spec};
use crate::resource::Resource;
use crate::store::memory::MemoryStore;
use crate::store::Store;

fn der(pem: &str) -> Vec<u8> {
    crate::pki::pem_blocks(pem.as_bytes()).remove(0).der
}

fn uris(cert: &X509Certificate<'_>) -> Vec<String> {
    cert.subject_alternative_name()
        .unwrap()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::URI(u) => Some(u.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// One small root for the tests that only need some CA (RSA key generation is slow unoptimised).
fn root() -> &'static StoredRoot {
    static ROOT: std::sync::OnceLock<StoredRoot> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| generate_root("demo", &BuiltinConfig::default(), Utc::now()).unwrap())
}

fn request(validity: Duration) -> IdentityRequest {
    IdentityRequest {
        mesh: "demo".into(),
        backend: "ca-1".into(),
        service: "backend".into(),
        validity,
    }
}

#[test]
fn the_builtin_root_is_a_kuma_mesh_ca() {
    let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    let conf = BuiltinConfig {
        rsa_bits: None,
        expiration: Some(crate::proto::Duration {
            seconds: 7200,
            nanos: 0,
        }),
    };
    let root = generate_root("demo", &conf, now).unwrap();
    let bytes = der(&root.cert);
    let (_, cert) = X509Certificate::from_der(&bytes).unwrap();
    assert_eq!(cert.subject().to_string(), "O=Kuma, OU=Mesh, CN=demo");
    assert_eq!(cert.issuer().to_string(), cert.subject().to_string());
    assert_eq!(uris(&cert), ["spiffe://demo"]);
    assert!(cert.is_ca());
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign() && !usage.digital_signature());
    assert_eq!(cert.validity().not_before.timestamp(), now.timestamp() - 10);
    assert_eq!(
        cert.validity().not_after.timestamp(),
        now.timestamp() + 7200
    );
    match cert.public_key().parsed().unwrap() {
        x509_parser::public_key::PublicKey::RSA(rsa) => assert_eq!(rsa.key_size(), 2048),
        other => panic!("not RSA: {other:?}"),
    }
    // Self-signed, and it passes the provided-CA checks the API makes (§6.2.5).
    cert.verify_signature(None).unwrap();
    assert_eq!(
        crate::kinds::mesh::mtls::check_root_ca(root.cert.as_bytes(), root.key.as_bytes()),
        Vec::<String>::new()
    );
    assert_eq!(StoredRoot::from_bytes(&root.to_bytes()).unwrap(), root);
    // Ten years by default.
    let default = root_validity(&generate_root_cached());
    assert_eq!(default, 10 * 365 * 24 * 3600 + 10);
}

fn generate_root_cached() -> StoredRoot {
    root().clone()
}

fn root_validity(root: &StoredRoot) -> i64 {
    let bytes = der(&root.cert);
    let (_, cert) = X509Certificate::from_der(&bytes).unwrap();
    cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()
}

#[test]
fn a_workload_certificate_carries_the_spiffe_id_and_is_signed_by_the_mesh_ca() {
    let root = root();
    let ca = Ca::from_pem("ca-1", &root.cert, &root.key).unwrap();
    let now = Utc::now();
    let id = issue(&ca, &request(Duration::from_secs(3600)), now).unwrap();
    let bytes = der(&id.cert_pem);
    let (_, cert) = X509Certificate::from_der(&bytes).unwrap();
    assert_eq!(uris(&cert), ["spiffe://demo/backend"]);
    assert!(cert.subject().as_raw().len() <= 2, "empty subject");
    assert!(!cert.is_ca());
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && usage.key_encipherment() && usage.key_agreement());
    assert!(!usage.key_cert_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    assert_eq!(
        cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp(),
        3600 + 10
    );
    assert_eq!(id.expires.timestamp(), now.timestamp() + 3600);
    assert_eq!(id.ca_pem, root.cert);
    // Signed by the root's key.
    let root_der = der(&root.cert);
    let (_, root_cert) = X509Certificate::from_der(&root_der).unwrap();
    cert.verify_signature(Some(root_cert.public_key())).unwrap();
    // A fresh key and serial each time.
    let again = issue(&ca, &request(Duration::from_secs(3600)), now).unwrap();
    assert_ne!(again.key_pem, id.key_pem);
    let again_der = der(&again.cert_pem);
    let (_, again_cert) = X509Certificate::from_der(&again_der).unwrap();
    assert_ne!(again_cert.raw_serial(), cert.raw_serial());
    assert!(!format!("{id:?}").contains("PRIVATE"), "Debug shows no key");
}

#[test]
fn identities_are_renewed_at_four_fifths_of_their_lifetime() {
    let issued = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    assert_eq!(
        renew_at(issued, Duration::from_secs(10)),
        issued + chrono::Duration::seconds(8)
    );
    assert_eq!(
        renew_at(issued, Duration::from_secs(24 * 3600)),
        issued + chrono::Duration::minutes(1152)
    );
    let ca = Ca::from_pem("ca-1", &root().cert, &root().key).unwrap();
    let id = issue(&ca, &request(Duration::from_secs(10)), issued).unwrap();
    let req = request(Duration::from_secs(10));
    assert!(id.serves(&req, issued + chrono::Duration::seconds(7)));
    assert!(!id.serves(&req, issued + chrono::Duration::seconds(8)));
    // Another backend, service or validity needs a new identity at once.
    let other = IdentityRequest {
        backend: "ca-2".into(),
        ..req.clone()
    };
    assert!(!id.serves(&other, issued));
    let longer = request(Duration::from_secs(20));
    assert!(!id.serves(&longer, issued));
}

#[test]
fn keys_are_read_as_pkcs8_or_pkcs1() {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let root = root();
    let pkcs8 = crate::pki::pem_blocks(root.key.as_bytes()).remove(0).der;
    let private = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8).unwrap();
    let der = private.to_pkcs1_der().unwrap();
    let pkcs1 = pem("RSA PRIVATE KEY", der.as_bytes());
    assert!(pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    let ca = Ca::from_pem("p", &root.cert, &pkcs1).unwrap();
    issue(&ca, &request(Duration::from_secs(60)), Utc::now()).unwrap();
    let err = key_pair("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")
        .unwrap_err();
    assert!(err.contains("PKCS#8"), "{err}");
    assert!(key_pair("nothing").is_err());
}

/// `der` as a PEM block labelled `label` (64-character lines).
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn mesh(name: &str, mtls: serde_json::Value) -> Resource {
    let spec = Kind::Mesh.decode(json!({ "mtls": mtls })).unwrap();
    let at = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
    Resource::new(name, name, spec, at)
}

#[tokio::test]
async fn instances_sharing_a_store_sign_with_one_root_and_a_deleted_mesh_loses_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // The root is made with the mesh's own defaults once; pre-seed it so the test stays fast.
    let m = mesh(
        "demo",
        json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}),
    );
    let name = authorities::root_secret("demo", m.meta.creation_time.timestamp_micros(), "ca-1");
    let seeded = root().to_bytes();
    store
        .get_or_create_secret(&name, Box::new(move || seeded))
        .await
        .unwrap();
    let (a, b) = (
        Authorities::new(store.clone()),
        Authorities::new(store.clone()),
    );
    let (ca_a, ca_b) = tokio::join!(a.ca(&m), b.ca(&m));
    assert_eq!(ca_a.unwrap().cert_pem, ca_b.unwrap().cert_pem);
    assert_eq!(a.ca(&m).await.unwrap().cert_pem, root().cert);
    // Deleting the mesh's secrets (the supervisor does it) leaves nothing of its CA.
    store
        .delete_secrets(&authorities::mesh_prefix("demo"))
        .await
        .unwrap();
    assert!(store.secrets("ca/").await.unwrap().is_empty());
    // No backend, or an unknown one, is an error, not a panic.
    let off = mesh("demo", json!({}));
    assert!(matches!(a.ca(&off).await, Err(CaError::NoBackend(_))));
}

#[tokio::test]
async fn racing_instances_generating_a_root_end_with_one() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let m = mesh(
        "race",
        json!({"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin"}]}),
    );
    let (a, b) = (
        Authorities::new(store.clone()),
        Authorities::new(store.clone()),
    );
    let (ca_a, ca_b) = tokio::join!(a.ca(&m), b.ca(&m));
    let (ca_a, ca_b) = (ca_a.unwrap(), ca_b.unwrap());
    assert_eq!(ca_a.cert_pem, ca_b.cert_pem);
    assert_eq!(store.secrets("ca/race/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_provided_ca_whose_file_is_unreadable_is_an_error() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let authorities = Authorities::new(store);
    let dir = std::env::temp_dir().join(format!("ursa-ca-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("ca.pem"), dir.join("ca.key"));
    std::fs::write(&cert, &root().cert).unwrap();
    std::fs::write(&key, &root().key).unwrap();
    let provided = |cert: &std::path::Path| {
        mesh(
            "p",
            json!({"enabledBackend": "mine", "backends": [{"name": "mine", "type": "provided",
                "conf": {"cert": {"file": cert.display().to_string()},
                         "key": {"inlineString": root().key}}}]}),
        )
    };
    let ca = authorities.ca(&provided(&cert)).await.unwrap();
    assert_eq!(ca.cert_pem, root().cert);
    let gone = dir.join("missing.pem");
    let err = authorities.ca(&provided(&gone)).await.unwrap_err();
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spiffe_ids() {
    assert_eq!(spiffe_id("default", "web"), "spiffe://default/web");
    assert!(matches!(
        Kind::Mesh.decode(json!({})).unwrap(),
        Spec::Mesh(_)
    ));
}
