//! `get`: tables (golden files), YAML, JSON, single resources, `-o wide`, pagination.

use serde_json::{json, Value};
use ursa_actors::Kind;

use crate::fixtures::{dataplane, full_mesh, gateway, path_of, policy, policy_kinds};
use crate::support::{golden, normalise_table, Ctl, Server};

fn put(s: &Server, doc: &Value) {
    let status = s.put(&path_of(doc), doc);
    assert!(
        status == 201 || status == 200,
        "set-up PUT {doc} → {status}"
    );
}

fn server_json(s: &Server, path: &str) -> Value {
    let (status, body) = s.get(path);
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn meshes_as_table_yaml_and_json() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    put(&s, &full_mesh("demo"));
    put(&s, &json!({"type": "Mesh", "name": "plain"}));

    let table = ctl.run(&["get", "meshes"]);
    golden("get-meshes.txt", &normalise_table(table.ok(), &["AGE"]));

    let yaml: serde_yaml::Value =
        serde_yaml::from_str(ctl.run(&["get", "meshes", "-o", "yaml"]).ok()).unwrap();
    let as_json: Value = serde_json::to_value(&yaml).unwrap();
    assert_eq!(as_json, server_json(&s, "/meshes"));
    assert_eq!(as_json["total"], 3);

    let json_out = ctl.run(&["get", "meshes", "-o", "json"]);
    let parsed: Value = serde_json::from_str(json_out.ok()).unwrap();
    assert_eq!(parsed, server_json(&s, "/meshes"));

    // One mesh: the same table for one row; YAML keeps the API's key order.
    let one = ctl.run(&["get", "mesh", "demo"]);
    golden("get-mesh.txt", &normalise_table(one.ok(), &["AGE"]));
    let yaml = ctl.run(&["get", "mesh", "demo", "-o", "yaml"]);
    assert!(
        yaml.ok()
            .starts_with("type: Mesh\nname: demo\ncreationTime: "),
        "{}",
        yaml.stdout
    );
    let v: Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(yaml.ok()).unwrap())
            .unwrap();
    assert_eq!(v, server_json(&s, "/meshes/demo"));
    let v: Value =
        serde_json::from_str(ctl.run(&["get", "mesh", "demo", "-o", "json"]).ok()).unwrap();
    assert_eq!(v["mtls"]["enabledBackend"], "ca-1");

    let missing = ctl.run(&["get", "mesh", "nope"]);
    assert_eq!(missing.fails(1), "Error: No resources found in nope mesh\n");
}

#[test]
fn dataplanes_plain_and_wide() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    put(&s, &dataplane("default", "web-1", "web"));
    put(&s, &dataplane("default", "backend-1", "backend"));
    put(&s, &gateway("default", "edge-1"));
    put_insight(&s, "default", "web-1");

    let table = ctl.run(&["get", "dataplanes"]);
    golden("get-dataplanes.txt", &normalise_table(table.ok(), &["AGE"]));
    let wide = ctl.run(&["get", "dataplanes", "-o", "wide"]);
    golden(
        "get-dataplanes-wide.txt",
        &normalise_table(wide.ok(), &["AGE"]),
    );
    let one_wide = ctl.run(&["get", "dataplane", "web-1", "-o", "wide"]);
    golden(
        "get-dataplane-wide.txt",
        &normalise_table(one_wide.ok(), &["AGE"]),
    );
    let one = ctl.run(&["get", "dataplane", "edge-1"]);
    golden("get-dataplane.txt", &normalise_table(one.ok(), &["AGE"]));

    let v: Value =
        serde_json::from_str(ctl.run(&["get", "dataplane", "web-1", "-o", "json"]).ok()).unwrap();
    assert_eq!(v, server_json(&s, "/meshes/default/dataplanes/web-1"));
    let page = ctl.run(&["get", "dataplanes", "-o", "wide", "--size", "1"]);
    let page = normalise_table(page.ok(), &["AGE"]);
    assert!(page.starts_with("MESH      NAME        TAGS"), "{page}");
    assert!(
        page.ends_with("\nRerun command with --offset=1 argument to retrieve more resources\n"),
        "{page}"
    );

    // The insights themselves are a kind of the table too.
    let insights = ctl.run(&["get", "dataplane-insights"]);
    golden(
        "get-dataplane-insights.txt",
        &normalise_table(insights.ok(), &["AGE"]),
    );
    let missing = ctl.run(&["get", "dataplane", "nope"]);
    assert_eq!(
        missing.fails(1),
        "Error: No resources found in default mesh\n"
    );
}

/// An insight with times relative to now, so that its ages are stable for hours.
pub fn put_insight(s: &Server, mesh: &str, name: &str) {
    let now = chrono::Utc::now();
    let t = |d: chrono::Duration| (now - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let insight = json!({
        "type": "DataplaneInsight", "mesh": mesh, "name": name,
        "subscriptions": [
            {"id": "1", "controlPlaneInstanceId": "cp-1",
             "connectTime": t(chrono::Duration::days(5)), "disconnectTime": t(chrono::Duration::days(4)),
             "status": {"lastUpdateTime": t(chrono::Duration::days(4)), "total": {"responsesSent": "10", "responsesRejected": "1"}}},
            {"id": "2", "controlPlaneInstanceId": "cp-1",
             "connectTime": t(chrono::Duration::hours(50)),
             "status": {"lastUpdateTime": t(chrono::Duration::minutes(200)), "total": {"responsesSent": "5", "responsesAcknowledged": "4", "responsesRejected": "1"}}}
        ],
        "mTLS": {
            "certificateExpirationTime": "2031-05-06T07:08:09Z",
            "lastCertificateRegeneration": t(chrono::Duration::minutes(330)),
            "certificateRegenerations": 3
        }
    });
    let status = s.put(
        &format!("/meshes/{mesh}/dataplane-insights/{name}"),
        &insight,
    );
    assert!(status == 201 || status == 200, "insight PUT → {status}");
}

#[test]
fn every_policy_kind_as_table_and_documents() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    put(&s, &json!({"type": "Mesh", "name": "demo"}));
    for kind in policy_kinds() {
        put(&s, &policy(kind, "default", "web-to-backend"));
        put(&s, &policy(kind, "default", "another"));
        put(&s, &policy(kind, "demo", "elsewhere"));
        let plural = plural(kind);
        let singular = plural.trim_end_matches('s');
        let table = ctl.run(&["get", plural]);
        golden(
            &format!("get-{plural}.txt"),
            &normalise_table(table.ok(), &["AGE"]),
        );
        let other = ctl.run(&["-m", "demo", "get", plural]);
        let other = normalise_table(other.ok(), &["AGE"]);
        assert_eq!(other, "MESH   NAME        AGE\ndemo   elsewhere   <age>\n");
        let json_out = ctl.run(&["get", singular, "web-to-backend", "-o", "json"]);
        let v: Value = serde_json::from_str(json_out.ok()).unwrap();
        let path = format!("/meshes/default/{}/web-to-backend", kind.segment());
        assert_eq!(v, server_json(&s, &path), "{plural}");
        let yaml = ctl.run(&[
            "get",
            singular,
            "web-to-backend",
            "--mesh",
            "default",
            "-o",
            "yaml",
        ]);
        let v: Value =
            serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(yaml.ok()).unwrap())
                .unwrap();
        assert_eq!(v, server_json(&s, &path), "{plural}");
        let list: Value =
            serde_json::from_str(ctl.run(&["get", plural, "-o", "json"]).ok()).unwrap();
        assert_eq!(list["total"], 2, "{plural}");
        let missing = ctl.run(&["get", singular, "nope"]);
        assert_eq!(
            missing.fails(1),
            "Error: No resources found in default mesh\n"
        );
    }
}

fn plural(kind: Kind) -> &'static str {
    match kind {
        Kind::HealthCheck => "healthchecks",
        Kind::ProxyTemplate => "proxytemplates",
        Kind::TrafficLog => "traffic-logs",
        Kind::TrafficPermission => "traffic-permissions",
        Kind::TrafficRoute => "traffic-routes",
        Kind::TrafficTrace => "traffic-traces",
        Kind::FaultInjection => "fault-injections",
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_end_with_kumactls_hint() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    for name in ["r-1", "r-2", "r-3"] {
        put(&s, &policy(Kind::TrafficRoute, "default", name));
    }
    let first = ctl.run(&["get", "traffic-routes", "--size", "2"]);
    let first = normalise_table(first.ok(), &["AGE"]);
    assert_eq!(
        first,
        "MESH      NAME   AGE\n\
         default   r-1    <age>\n\
         default   r-2    <age>\n\
         Rerun command with --offset=2 argument to retrieve more resources\n"
    );
    golden("get-traffic-routes-page.txt", &first);
    let second = ctl.run(&["get", "traffic-routes", "--size", "2", "--offset", "2"]);
    assert_eq!(
        normalise_table(second.ok(), &["AGE"]),
        "MESH      NAME   AGE\ndefault   r-3    <age>\n"
    );
    // Meshes too, and the JSON page carries the API's `next`.
    put(&s, &json!({"type": "Mesh", "name": "m2"}));
    let meshes = ctl.run(&["get", "meshes", "--size", "1"]);
    assert!(
        meshes
            .ok()
            .ends_with("\nRerun command with --offset=1 argument to retrieve more resources\n"),
        "{}",
        meshes.stdout
    );
    let page: Value = serde_json::from_str(
        ctl.run(&["get", "traffic-routes", "--size", "2", "-o", "json"])
            .ok(),
    )
    .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(
        page["next"].as_str().unwrap().contains("offset=2"),
        "{page}"
    );
    // An empty list is the headers alone.
    let empty = ctl.run(&["get", "fault-injections"]);
    assert_eq!(empty.ok(), "MESH   NAME   AGE\n");
}
