//! Writer authentication (`apiServer.auth`, off by default for Kuma compatibility): with it on,
//! PUT and DELETE need `Authorization: Bearer <user token>`, GET stays open unless
//! `readsRequireToken`; a missing, bad or revoked token is 401 in Kuma's error JSON. Tokens
//! come from the admin server (loopback only) or `ursa-cp token --user`, are signed by a key in
//! the store (so every instance on one database accepts them) and can be revoked.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{pg, Response, TestServer};

fn mesh(name: &str) -> Value {
    json!({"type": "Mesh", "name": name})
}

fn put(s: &TestServer, path: &str, body: &Value, token: Option<&str>) -> Response {
    let mut req = s
        .req("PUT", path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    req.send()
}

fn issue(s: &TestServer, body: &str) -> Response {
    support::raw(
        s.addresses.admin,
        "POST",
        "/tokens/user",
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

fn token_id(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["jti"].as_str().unwrap().to_string()
}

fn assert_401(r: &Response, details: &str) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"ursa\""));
    let body = r.json();
    assert_eq!(body["title"], "Unauthorized", "{body}");
    assert!(
        body["details"].as_str().unwrap().contains(details),
        "{body}"
    );
}

#[test]
fn off_by_default_a_kuma_client_writes_without_a_token() {
    let s = TestServer::start(&[]);
    assert_eq!(put(&s, "/meshes/open", &mesh("open"), None).status, 201);
    // The admin server is there all the same, on loopback only.
    assert!(s.addresses.admin.ip().is_loopback());
    assert_eq!(issue(&s, r#"{"name": "ci"}"#).status, 200);
    let catalog = s.get("/catalog").json();
    assert_eq!(
        catalog["apis"]["admin"]["localUrl"],
        format!("http://localhost:{}", s.addresses.admin.port())
    );
}

#[test]
fn writes_need_a_valid_token_and_a_revoked_one_is_refused() {
    let s = TestServer::start(&[("KUMA_API_SERVER_AUTH_ENABLED", "true")]);
    assert_401(
        &put(&s, "/meshes/m", &mesh("m"), None),
        "needs a user token",
    );
    assert_401(
        &put(&s, "/meshes/m", &mesh("m"), Some("not.a.token")),
        "not valid",
    );
    assert_401(&s.delete("/meshes/default"), "needs a user token");
    assert_eq!(s.get("/meshes/default").status, 200, "GET stays open");
    assert_eq!(s.get("/meshes").status, 200);
    // Bad requests to the admin server are Kuma's error JSON too.
    let r = issue(&s, r#"{"nom": "x"}"#);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["causes"][0]["field"], "body");
    let r = issue(&s, r#"{"name": "x", "validFor": "forever"}"#);
    assert_eq!(r.json()["causes"][0]["field"], "validFor");
    let r = issue(&s, r#"{"name": "ci", "validFor": "1h"}"#);
    assert_eq!(r.status, 200);
    let token = r.text();
    assert_eq!(put(&s, "/meshes/m", &mesh("m"), Some(&token)).status, 201);
    let r = s
        .req("DELETE", "/meshes/m")
        .header("authorization", &format!("bearer {token}"))
        .send();
    assert_eq!(r.status, 200, "the scheme is case-insensitive");
    // A token signed by another key (another control plane) is refused.
    let other = TestServer::start(&[]);
    let foreign = issue(&other, r#"{"name": "ci"}"#).text();
    assert_401(
        &put(&s, "/meshes/m", &mesh("m"), Some(&foreign)),
        "not valid",
    );
    // Revoked: refused at once.
    let id = token_id(&token);
    let r = support::raw(
        s.addresses.admin,
        "DELETE",
        &format!("/tokens/user/{id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_401(&put(&s, "/meshes/m", &mesh("m"), Some(&token)), "revoked");
    // Other tokens still work.
    let fresh = issue(&s, r#"{"name": "ci"}"#).text();
    assert_eq!(put(&s, "/meshes/m", &mesh("m"), Some(&fresh)).status, 201);
}

#[test]
fn reads_can_require_a_token_too() {
    let s = TestServer::start(&[
        ("KUMA_API_SERVER_AUTH_ENABLED", "true"),
        ("KUMA_API_SERVER_AUTH_READS_REQUIRE_TOKEN", "true"),
    ]);
    assert_401(&s.get("/meshes"), "needs a user token");
    assert_401(
        &s.get("/meshes/default/dataplanes?watch=true"),
        "needs a user token",
    );
    // Who answers, and the API's description, stay open.
    assert_eq!(s.get("/").status, 200);
    assert_eq!(s.get("/_openapi.json").status, 200);
    let token = issue(&s, r#"{"name": "dashboard"}"#).text();
    let r = s
        .req("GET", "/meshes")
        .header("authorization", &format!("Bearer {token}"))
        .send();
    assert_eq!(r.status, 200);
}

fn cli(env: &[(&'static str, String)], args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ursa-cp"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("run ursa-cp")
}

#[test]
fn tokens_from_the_command_line_and_from_either_instance_work_on_both() {
    let db = pg::Db::create();
    let env = db.env();
    let auth = [("KUMA_API_SERVER_AUTH_ENABLED", "true")];
    let a = TestServer::start(&pg::with(&env, &auth));
    let b = TestServer::start(&pg::with(&env, &auth));
    // `ursa-cp token --user` signs with the key in the database.
    let out = cli(&env, &["token", "--user", "ci"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(put(&a, "/meshes/m1", &mesh("m1"), Some(&token)).status, 201);
    assert_eq!(put(&b, "/meshes/m2", &mesh("m2"), Some(&token)).status, 201);
    // One instance's token works on the other.
    let from_a = issue(&a, r#"{"name": "ops"}"#).text();
    assert_eq!(
        put(&b, "/meshes/m3", &mesh("m3"), Some(&from_a)).status,
        201
    );
    // Revoked on the command line: every instance refuses it within a few seconds.
    let out = cli(&env, &["token", "--revoke", &token_id(&token)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = put(s, "/meshes/m1", &mesh("m1"), Some(&token));
            if r.status == 401 {
                assert_401(&r, "revoked");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the revocation never reached an instance"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    assert_eq!(
        put(&a, "/meshes/m1", &mesh("m1"), Some(&from_a)).status,
        200
    );
    // With the memory store the key lives in the running process: the CLI says where to go.
    let out = cli(&[], &["token", "--user", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/tokens/user"));
}
