//! `apply`, `delete` and `diff` with documents: directories of mixed kinds in dependency
//! order, `-R`, `--var`, stdin, dry runs, refusals.

use serde_json::Value;

use crate::support::{Ctl, Server, TempDir};

const MESH: &str = "\
type: Mesh
name: demo
metrics:
  enabledBackend: prom
  backends: [{name: prom, type: prometheus}]
";

const DATAPLANE: &str = "\
type: Dataplane
name: web-{{ n }}
networking:
  address: {{ address }}
  inbound: [{port: 10001, servicePort: 8080, tags: {service: web}}]
";

const POLICIES: &str = "\
# two documents in one file, one with its own mesh
type: TrafficRoute
name: route-{{ env }}
sources: [{match: {service: web}}]
destinations: [{match: {service: backend}}]
conf: [{weight: 100, destination: {service: backend}}]
---
type: TrafficPermission
name: allow-web
mesh: default
sources: [{match: {service: web}}]
destinations: [{match: {service: backend}}]
";

const FAULT: &str = "\
{\"type\": \"FaultInjection\", \"name\": \"slow\",
 \"sources\": [{\"match\": {\"service\": \"web\", \"protocol\": \"http\"}}],
 \"destinations\": [{\"match\": {\"service\": \"backend\", \"protocol\": \"http\"}}],
 \"conf\": {\"delay\": {\"percentage\": 50, \"value\": \"0.5s\"}}}
";

/// A directory whose Mesh file sorts last, so that only dependency order makes it work.
fn project() -> TempDir {
    let dir = TempDir::new();
    dir.write("a-policies.yaml", POLICIES);
    dir.write("b-dataplane.yml", DATAPLANE);
    dir.write("z-mesh.yaml", MESH);
    dir.write("nested/fault.json", FAULT);
    dir.write("README.md", "not a document");
    dir
}

fn status(s: &Server, path: &str) -> u16 {
    s.get(path).0
}

fn json(s: &Server, path: &str) -> Value {
    let (code, body) = s.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

const VARS: [&str; 6] = ["-v", "n=1", "-v", "address=127.0.0.1", "--var", "env=prod"];

#[test]
fn a_directory_of_mixed_kinds_in_dependency_order() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let dir = project();
    let root = dir.path("");
    let mut args = vec!["-m", "demo", "apply", "-f", &root];
    args.extend(VARS);
    args.extend(["--log-level", "info"]);
    let run = ctl.run(&args);
    assert_eq!(run.ok(), "", "apply prints nothing, as kumactl");
    assert_eq!(
        run.stderr,
        "Mesh \"demo\" created\n\
         Dataplane \"web-1\" in mesh \"demo\" created\n\
         TrafficPermission \"allow-web\" in mesh \"default\" created\n\
         TrafficRoute \"route-prod\" in mesh \"demo\" created\n"
    );
    // -v substituted, documents without a mesh went to -m, nested/ needs -R.
    let dp = json(&s, "/meshes/demo/dataplanes/web-1");
    assert_eq!(dp["networking"]["address"], "127.0.0.1");
    assert_eq!(status(&s, "/meshes/demo/traffic-routes/route-prod"), 200);
    assert_eq!(
        status(&s, "/meshes/default/traffic-permissions/allow-web"),
        200
    );
    assert_eq!(status(&s, "/meshes/demo/fault-injections/slow"), 404);

    args.push("-R");
    let again = ctl.run(&args);
    again.ok();
    assert!(
        again.stderr.contains("Mesh \"demo\" updated\n"),
        "{}",
        again.stderr
    );
    assert!(
        again
            .stderr
            .ends_with("FaultInjection \"slow\" in mesh \"demo\" created\n"),
        "{}",
        again.stderr
    );
    assert_eq!(
        json(&s, "/meshes/demo/fault-injections/slow")["conf"]["delay"]["value"],
        "0.500s"
    );

    // delete -f: reverse dependency order, the Mesh last.
    let del = ctl.run(&[
        "-m",
        "demo",
        "delete",
        "-f",
        &root,
        "-R",
        "-v",
        "n=1,address=127.0.0.1,env=prod",
    ]);
    assert_eq!(
        del.ok(),
        "deleted FaultInjection \"slow\"\n\
         deleted TrafficRoute \"route-prod\"\n\
         deleted TrafficPermission \"allow-web\"\n\
         deleted Dataplane \"web-1\"\n\
         deleted Mesh \"demo\"\n"
    );
    assert_eq!(status(&s, "/meshes/demo"), 404);
    let twice = ctl.run(&["-m", "demo", "delete", "-f", &dir.path("z-mesh.yaml")]);
    assert_eq!(twice.ok(), "");
    assert!(
        twice
            .stderr
            .contains("there is no Mesh with name \"demo\" (skipped)"),
        "{}",
        twice.stderr
    );
}

#[test]
fn stdin_and_the_local_dry_run() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let dry = ctl.run_with_stdin(
        &["apply", "-f", "-", "--dry-run", "-v", "env=dev"],
        POLICIES,
    );
    assert_eq!(
        dry.ok(),
        "type: TrafficPermission\nname: allow-web\nmesh: default\n\
         sources:\n- match:\n    service: web\ndestinations:\n- match:\n    service: backend\n\
         ---\n\
         type: TrafficRoute\nmesh: default\nname: route-dev\n\
         sources:\n- match:\n    service: web\ndestinations:\n- match:\n    service: backend\n\
         conf:\n- weight: 100\n  destination:\n    service: backend\n"
    );
    assert_eq!(
        status(&s, "/meshes/default/traffic-routes/route-dev"),
        404,
        "a dry run sends nothing"
    );
    let explicit = ctl.run_with_stdin(
        &["apply", "-f", "-", "--dry-run=client", "-v", "env=dev"],
        POLICIES,
    );
    assert_eq!(explicit.ok(), dry.stdout);

    let real = ctl.run_with_stdin(&["apply", "-f", "-", "-v", "env=dev"], POLICIES);
    real.ok();
    assert_eq!(status(&s, "/meshes/default/traffic-routes/route-dev"), 200);
}

#[test]
fn nothing_is_sent_when_a_document_is_wrong() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let dir = project();
    dir.write("c-broken.yaml", "type: TrafficTrace\nselectors: []\n");
    let run = ctl.run(&[
        "-m",
        "demo",
        "apply",
        "-f",
        &dir.path(""),
        "-v",
        "n=1,address=127.0.0.1,env=x",
    ]);
    let err = run.fails(2);
    assert!(
        err.contains("c-broken.yaml: Name field cannot be empty"),
        "{err}"
    );
    assert_eq!(
        status(&s, "/meshes/demo"),
        404,
        "the Mesh was not applied either"
    );

    let missing_var = ctl.run(&[
        "-m",
        "demo",
        "apply",
        "-f",
        &dir.path("b-dataplane.yml"),
        "-v",
        "n=1",
    ]);
    assert!(
        missing_var
            .fails(2)
            .contains("placeholder {{ address }} has no value; pass -v address=VALUE"),
        "{}",
        missing_var.stderr
    );
    let unknown = ctl.run_with_stdin(&["apply", "-f", "-"], "type: Gateway\nname: g\n");
    assert!(
        unknown
            .fails(2)
            .contains("<stdin>: unknown type \"Gateway\""),
        "{}",
        unknown.stderr
    );
    let bad_yaml = ctl.run_with_stdin(&["apply", "-f", "-"], "type: [\n");
    assert!(
        bad_yaml.fails(2).contains("<stdin>: not valid YAML"),
        "{}",
        bad_yaml.stderr
    );
    let twice = ctl.run_with_stdin(
        &["apply", "-f", "-"],
        "type: Mesh\nname: a\n---\ntype: Mesh\nname: a\n",
    );
    assert!(
        twice.fails(2).contains("Mesh \"a\" is defined twice"),
        "{}",
        twice.stderr
    );
    let no_file = ctl.run(&["apply", "-f", &dir.path("nope.yaml")]);
    assert!(
        no_file.fails(2).contains("could not read"),
        "{}",
        no_file.stderr
    );
    let no_f = ctl.run(&["apply"]);
    assert!(
        no_f.fails(2).contains("-f FILE is required"),
        "{}",
        no_f.stderr
    );
}

#[test]
fn refusals_are_readable_and_exit_1() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let docs = "type: Mesh\nname: demo\n---\n\
                type: Dataplane\nname: bad\nmesh: demo\n\
                networking: {address: 10.0.0.1, inbound: [{port: 70000, tags: {service: web}}, {port: 1}]}\n";
    let run = ctl.run_with_stdin(&["apply", "-f", "-"], docs);
    assert_eq!(
        run.fails(1),
        "Error: Dataplane \"bad\" in mesh \"demo\" from <stdin>#2 (1 of 2 documents were applied before it): \
         Could not create a resource (Resource is not valid)\n  \
         networking.inbound[0].port: port has to be in range of [1, 65535]\n  \
         networking.inbound[1].tags[\"service\"]: tag has to exist\n"
    );
    assert_eq!(status(&s, "/meshes/demo"), 200);
    let wrong_field =
        ctl.run_with_stdin(&["apply", "-f", "-"], "type: Mesh\nname: demo\nmtlss: {}\n");
    let err = wrong_field.fails(1);
    assert!(
        err.contains("Could not process a resource (Resource is not valid)\n  mtlss: "),
        "{err}"
    );
}

#[test]
fn delete_by_type_and_name() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    ctl.run_with_stdin(&["apply", "-f", "-", "-v", "env=x"], POLICIES)
        .ok();
    let run = ctl.run(&["delete", "traffic-route", "route-x"]);
    assert_eq!(run.ok(), "deleted TrafficRoute \"route-x\"\n");
    assert_eq!(status(&s, "/meshes/default/traffic-routes/route-x"), 404);
    let again = ctl.run(&["delete", "traffic-route", "route-x"]);
    assert_eq!(
        again.fails(1),
        "Error: there is no TrafficRoute with name \"route-x\"\n"
    );
    let mesh = ctl.run(&["delete", "mesh", "default"]);
    assert_eq!(mesh.ok(), "deleted Mesh \"default\"\n");
    assert_eq!(
        status(&s, "/meshes/default/traffic-permissions/allow-web"),
        404,
        "cascade"
    );
    let usage = ctl.run(&["delete", "traffic-routes", "x"]);
    usage.fails(2);
    let no_name = ctl.run(&["delete", "mesh"]);
    no_name.fails(2);
}

#[test]
fn diff_shows_what_apply_would_change() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let dir = TempDir::new();
    let file = dir.write("route.yaml", "type: TrafficRoute\nname: r\nsources: [{match: {service: web}}]\n\
        destinations: [{match: {service: backend}}]\nconf: [{weight: 100, destination: {service: backend}}]\n");
    let file = file.display().to_string();
    let new = ctl.run(&["diff", "-f", &file]);
    assert_eq!(
        new.ok(),
        format!(
            "--- live/TrafficRoute/default/r\n+++ file/TrafficRoute/default/r ({file})\n@@ -0,0 +1,13 @@\n\
             +conf:\n+- destination:\n+    service: backend\n+  weight: 100\n+destinations:\n+- match:\n+    service: backend\n\
             +mesh: default\n+name: r\n+sources:\n+- match:\n+    service: web\n+type: TrafficRoute\n"
        )
    );
    ctl.run(&["apply", "-f", &file]).ok();
    let same = ctl.run(&["diff", "-f", &file]);
    assert_eq!(same.ok(), "", "nothing to change");
    dir.write("route.yaml", "type: TrafficRoute\nname: r\nsources: [{match: {service: web}}]\n\
        destinations: [{match: {service: backend}}]\nconf: [{weight: 100, destination: {service: backend-v2}}]\n");
    let changed = ctl.run(&["diff", "-f", &file]);
    assert_eq!(
        changed.ok(),
        format!(
            "--- live/TrafficRoute/default/r\n+++ file/TrafficRoute/default/r ({file})\n@@ -1,6 +1,6 @@\n \
             conf:\n - destination:\n-    service: backend\n+    service: backend-v2\n   weight: 100\n destinations:\n - match:\n"
        )
    );
}
