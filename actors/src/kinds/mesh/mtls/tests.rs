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
    assert!(check(bad_cert, &data("ca-rsa.key")).starts_with("not a valid TLS key pair: x509: "));
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
            conf(serde_json::json!({"caCert": {"RSAbits": "2048", "expiration": "1h"}})).as_ref()
        ),
        Ok(BuiltinConfig {
            rsa_bits: Some(2048),
            expiration: Some(Duration::from_secs(3600))
        })
    );
    assert_eq!(
        BuiltinConfig::from_conf(conf(serde_json::json!({"caCert": "x"})).as_ref()),
        Err(
            "json: cannot unmarshal string into Go value of type map[string]json.RawMessage".into()
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
