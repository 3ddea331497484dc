//! `?dryRun=true` on PUT and DELETE: validated and answered exactly as the real call would be
//! (201, 200, 400, 404, 412), and nothing changes, on either store. Each request is sent as a
//! dry run first: every list is identical before and after it, and the real call that follows
//! gets the same status and body.

mod support;

use serde_json::{json, Value};
use support::{pg, Response, TestServer};
use ursa_actors::Kind;

/// Everything the API can list, as JSON.
fn everything(s: &TestServer) -> Vec<Value> {
    let mut paths = vec!["/meshes".to_string(), "/dataplanes+insights".to_string()];
    paths.extend(Kind::mesh_scoped().map(|k| format!("/{}", k.segment())));
    paths
        .iter()
        .map(|p| {
            let r = s.get(p);
            assert_eq!(r.status, 200, "{p}");
            r.json()
        })
        .collect()
}

fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, String)],
) -> Response {
    let mut req = s.req(method, path);
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(body).unwrap());
    }
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send()
}

fn route(mesh: &str, name: &str, weight: u32) -> Value {
    json!({"type": "TrafficRoute", "mesh": mesh, "name": name,
           "sources": [{"match": {"service": "*"}}],
           "destinations": [{"match": {"service": "backend"}}],
           "conf": [{"weight": weight, "destination": {"service": "backend"}}]})
}

fn dataplane(name: &str) -> Value {
    json!({"type": "Dataplane", "mesh": "dry", "name": name,
           "networking": {"address": "127.0.0.1", "inbound": [{"port": 1, "tags": {"service": "web"}}]}})
}

/// A request (method, path, body, headers) and the status it gets.
type Step<'a> = (&'a str, &'a str, Option<Value>, Vec<(&'a str, String)>, u16);

fn dry_runs_change_nothing(s: &TestServer) {
    let stale = "\"999\"".to_string();
    // (method, path, body, headers, expected status), in an order where each real call sets up
    // the next.
    let steps: Vec<Step> = vec![
        (
            "PUT",
            "/meshes/dry",
            Some(json!({"type": "Mesh", "name": "dry"})),
            vec![],
            201,
        ),
        (
            "PUT",
            "/meshes/dry",
            Some(json!({"type": "Mesh", "name": "dry", "mtls": {"enabledBackend": "nope"}})),
            vec![],
            400,
        ),
        (
            "PUT",
            "/meshes/dry",
            Some(
                json!({"type": "Mesh", "name": "dry", "logging": {"backends": [{"name": "f", "type": "file", "conf": {"path": "/tmp/x"}}]}}),
            ),
            vec![],
            200,
        ),
        (
            "PUT",
            "/meshes/dry",
            Some(json!({"type": "Mesh", "name": "dry"})),
            vec![("if-match", stale.clone())],
            412,
        ),
        (
            "PUT",
            "/meshes/dry/traffic-routes/r",
            Some(route("dry", "r", 1)),
            vec![],
            201,
        ),
        (
            "PUT",
            "/meshes/dry/traffic-routes/r",
            Some(route("dry", "r", 2)),
            vec![],
            200,
        ),
        (
            "PUT",
            "/meshes/dry/traffic-routes/r",
            Some(route("dry", "r", 3)),
            vec![("if-match", stale.clone())],
            412,
        ),
        (
            "PUT",
            "/meshes/dry/traffic-routes/r",
            Some(route("dry", "r", 3)),
            vec![("if-none-match", "*".into())],
            412,
        ),
        (
            "PUT",
            "/meshes/dry/traffic-routes/r",
            Some(json!({"type": "TrafficRoute", "mesh": "dry", "name": "r"})),
            vec![],
            400,
        ),
        (
            "PUT",
            "/meshes/nomesh/traffic-routes/r",
            Some(route("nomesh", "r", 1)),
            vec![],
            400,
        ),
        (
            "PUT",
            "/meshes/dry/dataplane-insights/web",
            Some(json!({"type": "DataplaneInsight", "mesh": "dry", "name": "web"})),
            vec![],
            404,
        ),
        (
            "PUT",
            "/meshes/dry/dataplanes/web",
            Some(dataplane("web")),
            vec![],
            201,
        ),
        (
            "PUT",
            "/meshes/dry/dataplane-insights/web",
            Some(
                json!({"type": "DataplaneInsight", "mesh": "dry", "name": "web", "subscriptions": [{"id": "s", "controlPlaneInstanceId": "cp"}]}),
            ),
            vec![],
            201,
        ),
        (
            "DELETE",
            "/meshes/dry/traffic-routes/absent",
            None,
            vec![],
            404,
        ),
        (
            "DELETE",
            "/meshes/dry/traffic-routes/r",
            None,
            vec![("if-match", stale.clone())],
            412,
        ),
        ("DELETE", "/meshes/dry/traffic-routes/r", None, vec![], 200),
        ("DELETE", "/meshes/dry/dataplanes/web", None, vec![], 200),
        (
            "DELETE",
            "/meshes/dry",
            None,
            vec![("if-match", stale)],
            412,
        ),
        ("DELETE", "/meshes/dry", None, vec![], 200),
        ("DELETE", "/meshes/dry", None, vec![], 404),
    ];
    for (method, path, body, headers, status) in &steps {
        let before = everything(s);
        let dry = send(
            s,
            method,
            &format!("{path}?dryRun=true"),
            body.as_ref(),
            headers,
        );
        assert_eq!(dry.status, *status, "dry {method} {path}: {}", dry.text());
        assert_eq!(
            everything(s),
            before,
            "dry {method} {path} changed something"
        );
        let real = send(s, method, path, body.as_ref(), headers);
        assert_eq!(
            (real.status, real.text()),
            (dry.status, dry.text()),
            "{method} {path}: the real call answers as the dry run did"
        );
    }
    // A dry run of a mesh delete with its resources in it leaves them all.
    assert_eq!(
        send(
            s,
            "PUT",
            "/meshes/keep",
            Some(&json!({"type": "Mesh", "name": "keep"})),
            &[]
        )
        .status,
        201
    );
    assert_eq!(
        send(
            s,
            "PUT",
            "/meshes/keep/traffic-routes/r",
            Some(&route("keep", "r", 1)),
            &[]
        )
        .status,
        201
    );
    let before = everything(s);
    assert_eq!(
        send(s, "DELETE", "/meshes/keep?dryRun=true", None, &[]).status,
        200
    );
    assert_eq!(everything(s), before);
    // A bad flag is a 400 naming it, and changes nothing either.
    let bad = send(s, "DELETE", "/meshes/keep?dryRun=maybe", None, &[]);
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert_eq!(bad.json()["causes"][0]["field"], "dryRun");
    assert_eq!(everything(s), before);
}

#[test]
fn dry_runs_on_the_memory_store() {
    let s = TestServer::start(&[]);
    dry_runs_change_nothing(&s);
}

#[test]
fn dry_runs_on_postgres() {
    let db = pg::Db::create();
    let env = db.env();
    let s = TestServer::start(&pg::with(&env, &[]));
    dry_runs_change_nothing(&s);
    // Nothing reached the database either: a second instance loads what the real calls left.
    drop(s);
    let again = TestServer::start(&pg::with(&env, &[]));
    let names: Vec<Value> = again.get("/meshes").json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].clone())
        .collect();
    assert_eq!(names, [json!("default"), json!("keep")]);
}
