//! Exit codes, `--token`, `--dry-run=server`, `--log-level debug`, `completion`, `version`.

use crate::support::{closed_port, Ctl, Fake, Server};

fn empty_list(_: &str) -> (u16, &'static str, String) {
    (
        200,
        "application/json",
        r#"{"total":0,"items":[],"next":null}"#.into(),
    )
}

#[test]
fn exit_codes() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    // 2: bad usage, from clap and from ursactl.
    for args in [
        &["get"][..],
        &["get", "bogus"],
        &["get", "meshes", "--size", "x"],
        &["get", "meshes", "-o", "xml"],
        &["get", "meshes", "extra"],
        &["get", "mesh"],
        &["--no-such-flag", "get", "meshes"],
        &["frobnicate"],
        &["wait", "dataplane", "x"],
        &[
            "wait",
            "dataplane",
            "x",
            "--for",
            "online",
            "--timeout",
            "soon",
        ],
        &["apply", "--dry-run=maybe", "-f", "-"],
        &[],
    ] {
        let run = ctl.run(args);
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(!run.stderr.is_empty(), "{args:?}");
    }
    assert!(ctl
        .run(&["get", "meshes", "extra"])
        .stderr
        .contains("use `get mesh NAME`"));
    // 1: the control plane refused.
    let refused = ctl.run(&["get", "meshes", "--size", "100000"]);
    assert_eq!(
        refused.fails(1),
        "Error: Could not retrieve resources (Invalid page size)\n  \
         size: Invalid page size of 100000. Maximum page size is 10000\n"
    );
    ctl.run(&["delete", "mesh", "nope"]).fails(1);
    // 3: nothing answers.
    let down = Ctl::new(&format!("http://127.0.0.1:{}", closed_port()));
    for args in [
        &["get", "meshes"][..],
        &["get", "mesh", "default"],
        &["inspect", "dataplanes"],
        &["delete", "mesh", "x"],
    ] {
        let run = down.run(args);
        assert!(
            run.fails(3).contains("is not reachable"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let run = down.run_with_stdin(&["apply", "-f", "-"], "type: Mesh\nname: m\n");
    run.fails(3);
    // 0 for help and version.
    assert!(ctl.run(&["--help"]).ok().contains("Usage: ursactl"));
    assert!(ctl.run(&["get", "--help"]).ok().contains("traffic-routes"));
}

#[test]
fn the_token_is_sent_as_a_bearer_header() {
    let fake = Fake::start(Box::new(empty_list));
    let ctl = Ctl::new(&fake.url());
    ctl.run(&["get", "meshes"]).ok();
    ctl.run(&["--token", "s3cret", "get", "meshes"]).ok();
    let with_env = Ctl::new(&fake.url()).env("KUMACTL_TOKEN", "from-env");
    with_env.run(&["-m", "demo", "get", "dataplanes"]).ok();
    with_env
        .run(&["--token", "flag-wins", "get", "meshes"])
        .ok();
    let seen = fake.requests();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[0].header("authorization"), None);
    assert_eq!(seen[1].header("authorization"), Some("Bearer s3cret"));
    assert_eq!(seen[2].header("authorization"), Some("Bearer from-env"));
    assert_eq!(seen[2].request_line, "GET /meshes/demo/dataplanes HTTP/1.1");
    assert_eq!(seen[3].header("authorization"), Some("Bearer flag-wins"));
    // kumactl's list queries: only the flags given, keys sorted.
    ctl.run(&["get", "traffic-routes", "--offset", "20", "--size", "10"])
        .ok();
    ctl.run(&[
        "inspect",
        "dataplanes",
        "--tag",
        "service=mobile",
        "--gateway",
        "--tag",
        "v=1",
    ])
    .ok();
    let seen = fake.requests();
    assert_eq!(
        seen[4].request_line,
        "GET /meshes/default/traffic-routes?offset=20&size=10 HTTP/1.1"
    );
    assert_eq!(
        seen[5].request_line,
        "GET /meshes/default/dataplanes+insights?gateway=true&tag=service%3Amobile&tag=v%3A1 HTTP/1.1"
    );
    assert_eq!(seen[4].header("accept"), Some("application/json"));
}

#[test]
fn server_dry_run_sends_dry_run_true() {
    let fake = Fake::start(Box::new(|_| (200, "application/json", String::new())));
    let ctl = Ctl::new(&fake.url());
    let run = ctl.run_with_stdin(
        &["--token", "t", "apply", "-f", "-", "--dry-run=server"],
        "type: Mesh\nname: demo\n---\ntype: TrafficTrace\nname: tt\nmesh: demo\nselectors: [{match: {service: web}}]\n",
    );
    assert_eq!(
        run.ok(),
        "Mesh \"demo\" is valid (server dry run, nothing stored)\n\
         TrafficTrace \"tt\" in mesh \"demo\" is valid (server dry run, nothing stored)\n"
    );
    let seen = fake.requests();
    assert_eq!(
        seen[0].request_line,
        "PUT /meshes/demo?dryRun=true HTTP/1.1"
    );
    assert_eq!(
        seen[1].request_line,
        "PUT /meshes/demo/traffic-traces/tt?dryRun=true HTTP/1.1"
    );
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(seen[1].header("authorization"), Some("Bearer t"));
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"type": "TrafficTrace", "name": "tt", "mesh": "demo",
                           "selectors": [{"match": {"service": "web"}}]})
    );
    // Without it: the same PUTs, no query.
    ctl.run_with_stdin(&["apply", "-f", "-"], "type: Mesh\nname: demo\n")
        .ok();
    assert_eq!(fake.requests()[2].request_line, "PUT /meshes/demo HTTP/1.1");
}

#[test]
fn a_refusal_that_is_not_kuma_json_is_shown_as_kumactl_does() {
    let fake = Fake::start(Box::new(|_| {
        (
            403,
            "text/plain",
            "forbidden: writer token required\n".into(),
        )
    }));
    let ctl = Ctl::new(&fake.url());
    let run = ctl.run_with_stdin(&["apply", "-f", "-"], "type: Mesh\nname: demo\n");
    assert_eq!(
        run.fails(1),
        "Error: Mesh \"demo\" from <stdin>: (403): forbidden: writer token required\n"
    );
}

#[test]
fn debug_logs_requests_on_stderr() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let run = ctl.run(&["--log-level", "debug", "get", "meshes"]);
    run.ok();
    assert_eq!(
        run.stderr.lines().next().unwrap(),
        format!("> GET {}/meshes", s.url())
    );
    assert!(run.stderr.contains("< 200 ("), "{}", run.stderr);
}

#[test]
fn completion_and_version() {
    let ctl = Ctl::bare();
    let bash = ctl.run(&["completion", "bash"]);
    assert!(bash.ok().contains("_ursactl()"), "{}", bash.stdout);
    assert!(bash.stdout.contains("traffic-routes"));
    assert!(bash.stdout.contains("complete -F _ursactl"));
    let zsh = ctl.run(&["completion", "zsh"]);
    assert!(zsh.ok().starts_with("#compdef ursactl"), "{}", zsh.stdout);
    let fish = ctl.run(&["completion", "fish"]);
    assert!(fish.ok().contains("complete -c ursactl"), "{}", fish.stdout);
    ctl.run(&["completion", "powershell"]).fails(2);
    let version = ctl.run(&["version"]);
    assert_eq!(
        version.ok(),
        format!(
            "Client: ursactl {} (Ursa; kumactl 0.5 compatible)\n",
            env!("CARGO_PKG_VERSION")
        )
    );
}
