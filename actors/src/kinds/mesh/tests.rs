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
    let files = CaFiles::read_blocking(CaFiles::paths(spec.mtls.as_ref()));
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
    serde_json::to_value(&spec.metrics.as_ref().expect("metrics").backends[0].conf).expect("json")
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
        let spec =
            prepared(prometheus(conf.clone()), None).unwrap_or_else(|v| panic!("{conf}: {v:?}"));
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
        prepared(
            json!({"mtls": {"enabledBackend": "x", "backends": [{"name": "a", "type": "foo"}]}}),
            None
        )
        .map(|_| ()),
        Err(expected(&[(
            "mtls.enabledBackend",
            "has to be set to one of the backends in the mesh"
        )]))
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
