//! `inspect dataplanes`: kumactl's table with Online/Offline, filters and formats.

use serde_json::Value;

use crate::fixtures::{dataplane, gateway, path_of};
use crate::get::put_insight;
use crate::support::{golden, normalise_table, Ctl, Server};

fn set_up() -> (Server, Ctl) {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    for doc in [
        dataplane("default", "web-1", "web"),
        dataplane("default", "backend-1", "backend"),
        gateway("default", "edge-1"),
    ] {
        assert_eq!(s.put(&path_of(&doc), &doc), 201);
    }
    put_insight(&s, "default", "web-1");
    (s, ctl)
}

#[test]
fn table_with_status_and_insight_columns() {
    let (_s, ctl) = set_up();
    let out = ctl.run(&["inspect", "dataplanes"]);
    // Only creation-dependent columns vary; the insight's ages are hours/days in the past.
    golden("inspect-dataplanes.txt", &normalise_table(out.ok(), &[]));
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("MESH      NAME        TAGS"),
        "{}",
        out.stdout
    );
    let web = lines.iter().find(|l| l.contains("web-1")).unwrap();
    assert!(web.contains("   Online   "), "{web}");
    assert!(
        web.contains("   2d   ") && web.contains("   3h   "),
        "{web}"
    );
    assert!(web.contains("   15   ") && web.contains("   2   "), "{web}");
    assert!(
        web.contains("   5h   ") && web.contains("2031-05-06 07:08:09   3"),
        "{web}"
    );
    let backend = lines.iter().find(|l| l.contains("backend-1")).unwrap();
    let cells: Vec<&str> = backend.split_whitespace().collect();
    assert!(
        cells.ends_with(&["Offline", "never", "never", "0", "0", "never", "-", "0"]),
        "{backend}"
    );
}

#[test]
fn filters_and_formats() {
    let (s, ctl) = set_up();
    let names = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
            .collect()
    };
    let web = ctl.run(&["inspect", "dataplanes", "--tag", "service=web"]);
    assert_eq!(names(web.ok()), ["web-1"]);
    let none = ctl.run(&[
        "inspect",
        "dataplanes",
        "--tag",
        "service=web",
        "--tag",
        "version=v9",
    ]);
    assert_eq!(names(none.ok()), Vec::<String>::new());
    let two_tags = ctl.run(&[
        "inspect",
        "dataplanes",
        "--tag",
        "service=backend",
        "--tag",
        "zone=eu",
    ]);
    assert_eq!(names(two_tags.ok()), ["backend-1"]);
    let gw = ctl.run(&["inspect", "dataplanes", "--gateway"]);
    assert_eq!(names(gw.ok()), ["edge-1"]);

    let json: Value =
        serde_json::from_str(ctl.run(&["inspect", "dataplanes", "-o", "json"]).ok()).unwrap();
    let (_, body) = s.get("/meshes/default/dataplanes+insights");
    assert_eq!(json, serde_json::from_str::<Value>(&body).unwrap());
    let yaml = ctl.run(&["inspect", "dataplanes", "--gateway", "-o", "yaml"]);
    let v: Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(yaml.ok()).unwrap())
            .unwrap();
    assert_eq!(v["items"][0]["name"], "edge-1");
    assert_eq!(v["items"].as_array().unwrap().len(), 1);

    let page = ctl.run(&["inspect", "dataplanes", "--size", "2"]);
    assert!(
        page.ok()
            .ends_with("Rerun command with --offset=2 argument to retrieve more resources\n"),
        "{}",
        page.stdout
    );
    let bad = ctl.run(&["inspect", "dataplanes", "--tag", "service"]);
    assert!(bad.fails(2).contains("key=value"), "{}", bad.stderr);
}
