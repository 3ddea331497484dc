//! The first things a user does: start, look at the index, create and read a resource.

mod support;

use serde_json::json;
use support::TestServer;

#[test]
fn index_and_default_mesh() {
    let s = TestServer::start(&[]);
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["tagline"], "Kuma");
    // D20: the Kuma version whose API is served (the GUI's documentation links), and Ursa's own.
    assert_eq!(r.json()["version"], "0.5.0");
    assert_eq!(r.json()["ursaVersion"], env!("CARGO_PKG_VERSION"));
    let r = s.get("/meshes/default");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["name"], "default");
    let r = s.put_json(
        "/meshes/default/traffic-traces/t1",
        &json!({"type": "TrafficTrace", "mesh": "default", "name": "t1", "selectors": [{"match": {"service": "*"}}]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = s.get("/meshes/default/traffic-traces/t1");
    assert_eq!(r.status, 200);
    println!("{}", r.text());
    let r = s.get("/traffic-traces");
    println!("{}", r.text());
    assert_eq!(r.json()["total"], 1);
}
