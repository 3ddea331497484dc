//! The OpenAPI document: served at `GET /_openapi.json`, checked in at `docs/openapi.json`
//! (this test fails when they differ; `URSA_BLESS=1 cargo test --test openapi` rewrites the
//! file), and true to the server: every path it names is served with the methods it lists.
//! Schemathesis fuzzes the server against it in `scripts/test.sh`.

mod support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use support::TestServer;

fn checked_in() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/openapi.json")
}

#[test]
fn the_served_document_is_the_checked_in_one() {
    let s = TestServer::start(&[]);
    let r = s.get("/_openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let served = r.text();
    if std::env::var_os("URSA_BLESS").is_some() {
        std::fs::write(checked_in(), &served).unwrap();
    }
    let file = std::fs::read_to_string(checked_in()).unwrap_or_default();
    assert!(
        file == served,
        "docs/openapi.json differs from GET /_openapi.json: run `URSA_BLESS=1 cargo test --test openapi`"
    );
}

#[test]
fn the_document_describes_what_the_server_serves() {
    let s = TestServer::start(&[]);
    let doc: Value = s.get("/_openapi.json").json();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let mut ids = BTreeSet::new();
    for (template, item) in paths {
        let path = template.replace("{mesh}", "default").replace("{name}", "x");
        let methods: Vec<String> = ["get", "put", "delete"]
            .iter()
            .filter(|m| item.get(**m).is_some())
            .map(|m| m.to_ascii_uppercase())
            .collect();
        // A method the document does not list is 405 with the listed ones in Allow.
        let r = s.req("POST", &path).send();
        assert_eq!(r.status, 405, "{template}");
        let allow: BTreeSet<String> = r
            .header("allow")
            .unwrap_or("")
            .split(", ")
            .map(str::to_string)
            .collect();
        assert_eq!(allow, methods.iter().cloned().collect(), "{template}");
        for m in ["get", "put", "delete"] {
            if let Some(op) = item.get(m) {
                assert!(
                    ids.insert(op["operationId"].as_str().unwrap().to_string()),
                    "{template} {m}"
                );
                assert!(op["responses"]["default"].is_object(), "{template} {m}");
            }
        }
        // The GET answers with what the document says (200, or 404 in Kuma's error JSON).
        let r = s.get(&path);
        let documented = &item["get"]["responses"][r.status.to_string()];
        assert!(
            documented.is_object(),
            "{template}: {} is not documented",
            r.status
        );
        if r.status != 200 {
            assert!(r.json()["title"].is_string(), "{template}");
        }
    }
    // Every resource kind is there: its collection, item and cross-mesh list.
    for kind in ursa_actors::Kind::mesh_scoped() {
        for p in [
            format!("/meshes/{{mesh}}/{}", kind.segment()),
            format!("/meshes/{{mesh}}/{}/{{name}}", kind.segment()),
            format!("/{}", kind.segment()),
        ] {
            assert!(paths.contains_key(&p), "{p}");
        }
    }
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["title", "details"]));
}

#[test]
fn every_example_is_an_accepted_write() {
    use ursa_cp::api::openapi::{example, EXAMPLE_MESH, EXAMPLE_NAME};
    let s = TestServer::start(&[]);
    let r = s.put_json(
        "/meshes/default",
        &example(ursa_actors::Kind::Mesh, EXAMPLE_MESH, EXAMPLE_MESH),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Dataplanes before their insights.
    for kind in ursa_actors::Kind::mesh_scoped() {
        let path = format!("/meshes/{EXAMPLE_MESH}/{}/{EXAMPLE_NAME}", kind.segment());
        let r = s.put_json(&path, &example(kind, EXAMPLE_MESH, EXAMPLE_NAME));
        assert_eq!(r.status, 201, "{kind:?}: {}", r.text());
    }
}
