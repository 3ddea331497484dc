//! kumactl's configuration file: used as written by hand, shown, changed by
//! `config control-planes add|list|remove|switch`.

use crate::support::{closed_port, golden, kumactl_config, Ctl, Fake, Server};

#[test]
fn a_hand_written_kumactl_file_is_used_as_it_is() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let written = std::fs::read_to_string(ctl.config_path()).unwrap();
    // `config view` prints it back byte for byte: same layout as kumactl writes.
    assert_eq!(ctl.run(&["config", "view"]).ok(), written);
    assert!(ctl.run(&["get", "meshes"]).ok().contains("\ndefault   off"));
    // The context's default mesh is used when -m is not given.
    let other = Ctl::bare();
    other.home.write(
        ".kumactl/config",
        &kumactl_config("cp", &s.url()).replace("mesh: default", "mesh: demo"),
    );
    ctl.run_with_stdin(&["apply", "-f", "-"], "type: Mesh\nname: demo\n")
        .ok();
    ctl.run_with_stdin(
        &["-m", "demo", "apply", "-f", "-"],
        "type: TrafficTrace\nname: t\nselectors: [{match: {service: web}}]\n",
    )
    .ok();
    assert!(other
        .run(&["get", "traffic-traces"])
        .ok()
        .contains("\ndemo   t   "));
    assert!(!ctl.run(&["get", "traffic-traces"]).ok().contains("demo"));
    // --config-file names another file.
    let elsewhere = other.home.write(
        "elsewhere.yaml",
        &kumactl_config("x", &format!("http://127.0.0.1:{}", closed_port())),
    );
    let run = other.run(&[
        "--config-file",
        &elsewhere.display().to_string(),
        "get",
        "meshes",
    ]);
    assert!(run.fails(3).contains("is not reachable"), "{}", run.stderr);
}

#[test]
fn control_planes_add_list_switch_remove() {
    let s = Server::start();
    let ctl = Ctl::bare();
    // No file: kumactl's default configuration.
    assert_eq!(
        ctl.run(&["config", "view"]).ok(),
        kumactl_config("local", "http://localhost:5681")
    );
    let add = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "ursa",
        "--address",
        &s.url(),
    ]);
    assert_eq!(
        add.ok(),
        "added Control Plane \"ursa\"\nswitched context to \"ursa\"\n"
    );
    let file = std::fs::read_to_string(ctl.config_path()).unwrap();
    assert_eq!(
        file,
        format!(
            "contexts:\n- controlPlane: local\n  defaults:\n    mesh: default\n  name: local\n\
             - controlPlane: ursa\n  defaults:\n    mesh: default\n  name: ursa\n\
             controlPlanes:\n- coordinates:\n    apiServer:\n      url: http://localhost:5681\n  name: local\n\
             - coordinates:\n    apiServer:\n      url: {}\n  name: ursa\n\
             currentContext: ursa\n",
            s.url()
        )
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(ctl.config_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(ctl.run(&["get", "meshes"]).ok().starts_with("NAME "));

    let again = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "ursa",
        "--address",
        &s.url(),
    ]);
    assert_eq!(
        again.fails(2),
        "Error: Control Plane with name \"ursa\" already exists. Use --overwrite to replace an existing one.\n"
    );
    ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "ursa",
        "--address",
        &s.url(),
        "--overwrite",
    ])
    .ok();

    let switch = ctl.run(&["config", "control-planes", "switch", "--name", "local"]);
    assert_eq!(switch.ok(), "switched active Control Plane to \"local\"\n");
    let list = ctl.run(&["config", "control-planes", "list"]);
    let expected_list = format!(
        "ACTIVE   NAME    ADDRESS\n*        local   http://localhost:5681\n         ursa    {}\n",
        s.url()
    );
    assert_eq!(list.ok(), expected_list);
    let nope = ctl.run(&["config", "control-planes", "switch", "--name", "nope"]);
    assert_eq!(
        nope.fails(2),
        "Error: there is no Control Plane with name \"nope\"\n"
    );

    let remove = ctl.run(&["config", "control-planes", "remove", "--name", "local"]);
    assert_eq!(remove.ok(), "removed Control Plane \"local\"\n");
    assert!(
        remove.stderr.contains("was the active Control Plane"),
        "{}",
        remove.stderr
    );
    let none = ctl.run(&["get", "meshes"]);
    assert!(
        none.fails(2).contains("there is no current context"),
        "{}",
        none.stderr
    );
    ctl.run(&["config", "control-planes", "switch", "--name", "ursa"])
        .ok();
    ctl.run(&["get", "meshes"]).ok();
    let gone = ctl.run(&["config", "control-planes", "remove", "--name", "local"]);
    gone.fails(2);
}

#[test]
fn the_list_table() {
    let ctl = Ctl::bare();
    ctl.home.write(
        ".kumactl/config",
        "contexts:\n- controlPlane: production\n  defaults:\n    mesh: default\n  name: production\n\
         - controlPlane: local\n  defaults:\n    mesh: default\n  name: local\n\
         controlPlanes:\n\
         - coordinates:\n    apiServer:\n      url: http://localhost:5681\n  name: local\n\
         - coordinates:\n    apiServer:\n      url: https://cp.example.com:5681\n  name: production\n\
         currentContext: production\n",
    );
    golden(
        "config-control-planes-list.txt",
        ctl.run(&["config", "control-planes", "list"]).ok(),
    );
}

#[test]
fn add_checks_for_a_kuma_api_first() {
    let ctl = Ctl::bare();
    let down = format!("http://127.0.0.1:{}", closed_port());
    let run = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "x",
        "--address",
        &down,
    ]);
    assert!(
        run.fails(3)
            .contains("Control Plane API Server is not responding"),
        "{}",
        run.stderr
    );
    assert!(!ctl.config_path().exists(), "nothing saved");

    let other = Fake::start(Box::new(|_| {
        (200, "application/json", r#"{"tagline":"Other"}"#.into())
    }));
    let run = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "x",
        "--address",
        &other.url(),
    ]);
    assert!(
        run.fails(1)
            .contains("provided address is not valid Kuma Control Plane API Server"),
        "{}",
        run.stderr
    );
    let html = Fake::start(Box::new(|_| (200, "text/html", "<html></html>".into())));
    let run = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "x",
        "--address",
        &html.url(),
    ]);
    assert!(
        run.fails(1).contains("could not unmarshal body"),
        "{}",
        run.stderr
    );
    let missing = Fake::start(Box::new(|_| {
        (404, "text/plain", "404 page not found".into())
    }));
    let run = ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "x",
        "--address",
        &missing.url(),
    ]);
    run.fails(1);
    assert!(!ctl.config_path().exists(), "nothing saved");
    assert_eq!(other.requests()[0].request_line, "GET / HTTP/1.1");
}

#[test]
fn unknown_keys_of_other_kumactl_versions_survive_a_rewrite() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let original = std::fs::read_to_string(ctl.config_path()).unwrap();
    let extended = original.replace(
        "  name: test\ncurrentContext",
        "  name: test\n  credentials:\n    dataplaneTokenApi: {}\ncurrentContext",
    ) + "someFutureSetting: true\n";
    std::fs::write(ctl.config_path(), &extended).unwrap();
    ctl.run(&[
        "config",
        "control-planes",
        "add",
        "--name",
        "two",
        "--address",
        &s.url(),
    ])
    .ok();
    let after = std::fs::read_to_string(ctl.config_path()).unwrap();
    assert!(
        after.contains("  credentials:\n    dataplaneTokenApi: {}\n"),
        "{after}"
    );
    assert!(after.contains("someFutureSetting: true"), "{after}");
    let broken = Ctl::bare();
    broken.home.write(".kumactl/config", "controlPlanes: 5\n");
    let run = broken.run(&["get", "meshes"]);
    assert!(run.fails(2).contains("is not valid"), "{}", run.stderr);
}
