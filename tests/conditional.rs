//! Optimistic concurrency (beyond Kuma, opt-in): every GET of one resource carries its store
//! version as `ETag`; `PUT`/`DELETE` honour `If-Match` (412 in Kuma's error JSON on a mismatch)
//! and `If-None-Match: *` (create only). Two writers racing on one resource with the same
//! `ETag`: exactly one wins, on the memory store, on PostgreSQL, and across two instances
//! sharing one database.

mod support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{pg, Response, TestServer};

fn route(name: &str, weight: u32) -> Value {
    json!({"type": "TrafficRoute", "mesh": "default", "name": name,
           "sources": [{"match": {"service": "*"}}],
           "destinations": [{"match": {"service": "backend"}}],
           "conf": [{"weight": weight, "destination": {"service": "backend"}}]})
}

fn put(server: &TestServer, path: &str, body: &Value, headers: &[(&str, &str)]) -> Response {
    let mut req = server
        .req("PUT", path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(body).unwrap());
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send()
}

fn delete(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = server.req("DELETE", path);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req.send()
}

fn etag(r: &Response) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.header("etag").expect("an ETag").to_string()
}

/// A 412 in Kuma's error JSON naming the header that failed.
fn assert_412(r: &Response, title: &str, header: &str) {
    let body = assert_412_from_store(r, title);
    assert_eq!(body["causes"][0]["field"], header, "{body}");
}

/// A 412 in Kuma's error JSON; when the store (not this instance) found the version changed,
/// the error names no header.
fn assert_412_from_store(r: &Response, title: &str) -> Value {
    assert_eq!(r.status, 412, "{}", r.text());
    let body = r.json();
    assert_eq!(body["title"], title, "{body}");
    assert_eq!(body["details"], "Precondition Failed", "{body}");
    body
}

const ROUTE: &str = "/meshes/default/traffic-routes/r";

/// `rounds` times: two writers read the route's ETag (each from its own server), then PUT (or
/// the second DELETEs) with `If-Match` at the same moment. Exactly one wins each round.
fn race(servers: [&TestServer; 2], rounds: u32) {
    assert_eq!(put(servers[0], ROUTE, &route("r", 1), &[]).status, 201);
    for round in 0..rounds {
        // Both servers show the same version before the writers start.
        let tag = etag(&servers[0].get(ROUTE));
        let deadline = Instant::now() + Duration::from_secs(10);
        while servers[1].get(ROUTE).header("etag") != Some(tag.as_str()) {
            assert!(
                Instant::now() < deadline,
                "the second instance never caught up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let deleting = round % 4 == 3;
        let barrier = Arc::new(Barrier::new(2));
        let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..2)
                .map(|i| {
                    let (server, barrier, tag) = (servers[i], barrier.clone(), tag.clone());
                    scope.spawn(move || {
                        barrier.wait();
                        let r = if deleting && i == 1 {
                            delete(server, ROUTE, &[("if-match", &tag)])
                        } else {
                            put(
                                server,
                                ROUTE,
                                &route("r", 10 * round + i as u32 + 1),
                                &[("if-match", &tag)],
                            )
                        };
                        let body = if r.body.is_empty() {
                            Value::Null
                        } else {
                            r.json()
                        };
                        (r.status, body)
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let mut codes: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
        codes.sort_unstable();
        assert_eq!(codes, [200, 412], "round {round}: {statuses:?}");
        let loser = statuses.iter().find(|(s, _)| *s == 412).unwrap();
        assert_eq!(loser.1["details"], "Precondition Failed", "{statuses:?}");
        if deleting && statuses[1].0 == 200 {
            // The delete won: start the next round from a new route.
            let deadline = Instant::now() + Duration::from_secs(10);
            while servers[0].get(ROUTE).status != 404 {
                assert!(Instant::now() < deadline, "the delete shows everywhere");
                std::thread::sleep(Duration::from_millis(20));
            }
            assert_eq!(put(servers[0], ROUTE, &route("r", 1), &[]).status, 201);
        } else {
            let winner = statuses.iter().position(|(s, _)| *s == 200).unwrap();
            let want = json!(10 * round + winner as u32 + 1);
            let deadline = Instant::now() + Duration::from_secs(10);
            for server in servers {
                while server.get(ROUTE).json()["conf"][0]["weight"] != want {
                    assert!(
                        Instant::now() < deadline,
                        "the winner's write is the one stored: want {want}, {statuses:?}, stored {}",
                        server.get(ROUTE).text()
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// Every rule of the headers, on one server.
fn headers_rules(s: &TestServer) {
    // A Kuma client sees nothing new but a header.
    assert_eq!(put(s, ROUTE, &route("r", 1), &[]).status, 201);
    let v1 = etag(&s.get(ROUTE));
    assert!(v1.starts_with('"') && v1.ends_with('"'), "{v1}");
    assert_eq!(put(s, ROUTE, &route("r", 2), &[]).status, 200);
    let v2 = etag(&s.get(ROUTE));
    assert_ne!(v1, v2, "an update changes the ETag");
    // If-Match: the current tag passes, an old one is 412 and changes nothing.
    assert_412(
        &put(s, ROUTE, &route("r", 3), &[("if-match", &v1)]),
        "Could not update a resource",
        "If-Match",
    );
    assert_eq!(s.get(ROUTE).json()["conf"][0]["weight"], 2);
    assert_eq!(
        put(s, ROUTE, &route("r", 3), &[("if-match", &v2)]).status,
        200
    );
    let v3 = etag(&s.get(ROUTE));
    assert_eq!(
        put(
            s,
            ROUTE,
            &route("r", 4),
            &[("if-match", &format!("\"0\", {v3}"))]
        )
        .status,
        200,
        "any tag of a list"
    );
    assert_eq!(
        put(s, ROUTE, &route("r", 5), &[("if-match", "*")]).status,
        200
    );
    // If-Match on a resource that does not exist: it is not created.
    let absent = "/meshes/default/traffic-routes/absent";
    assert_412(
        &put(s, absent, &route("absent", 1), &[("if-match", "*")]),
        "Could not create a resource",
        "If-Match",
    );
    assert_eq!(s.get(absent).status, 404);
    // If-None-Match: * creates only.
    let fresh = "/meshes/default/traffic-routes/fresh";
    assert_eq!(
        put(s, fresh, &route("fresh", 1), &[("if-none-match", "*")]).status,
        201
    );
    assert_412(
        &put(s, fresh, &route("fresh", 2), &[("if-none-match", "*")]),
        "Could not update a resource",
        "If-None-Match",
    );
    assert_eq!(s.get(fresh).json()["conf"][0]["weight"], 1);
    // Validation still comes first: a bad body is 400 whatever the precondition.
    let bad = json!({"type": "TrafficRoute", "mesh": "default", "name": "r"});
    assert_eq!(put(s, ROUTE, &bad, &[("if-match", "\"999\"")]).status, 400);
    // DELETE: a stale tag is 412 and deletes nothing; the current one deletes.
    let now = etag(&s.get(ROUTE));
    assert_412(
        &delete(s, ROUTE, &[("if-match", &v1)]),
        "Could not delete a resource",
        "If-Match",
    );
    assert_eq!(s.get(ROUTE).status, 200);
    assert_eq!(delete(s, ROUTE, &[("if-match", &now)]).status, 200);
    assert_eq!(s.get(ROUTE).status, 404);
    // Deleting what is not there stays 404, precondition or not.
    assert_eq!(delete(s, ROUTE, &[("if-match", &now)]).status, 404);
    // Meshes too.
    let mesh = json!({"type": "Mesh", "name": "cm"});
    assert_eq!(
        put(s, "/meshes/cm", &mesh, &[("if-none-match", "*")]).status,
        201
    );
    let m1 = etag(&s.get("/meshes/cm"));
    assert_412(
        &put(s, "/meshes/cm", &mesh, &[("if-none-match", "*")]),
        "Could not update a resource",
        "If-None-Match",
    );
    assert_eq!(
        put(s, "/meshes/cm", &mesh, &[("if-match", &m1)]).status,
        200
    );
    assert_412(
        &delete(s, "/meshes/cm", &[("if-match", &m1)]),
        "Could not delete a resource",
        "If-Match",
    );
    assert_eq!(
        s.get("/meshes/cm").status,
        200,
        "a failed precondition never hides the mesh"
    );
    let m2 = etag(&s.get("/meshes/cm"));
    assert_eq!(delete(s, "/meshes/cm", &[("if-match", &m2)]).status, 200);
    assert_eq!(s.get("/meshes/cm").status, 404);
}

#[test]
fn etags_and_preconditions_on_the_memory_store() {
    let s = TestServer::start(&[]);
    headers_rules(&s);
}

#[test]
fn two_writers_one_wins_on_the_memory_store() {
    let s = TestServer::start(&[]);
    race([&s, &s], 12);
}

#[test]
fn etags_and_preconditions_on_postgres() {
    let db = pg::Db::create();
    let env = db.env();
    let s = TestServer::start(&pg::with(&env, &[]));
    headers_rules(&s);
}

#[test]
fn two_writers_one_wins_on_postgres() {
    let db = pg::Db::create();
    let env = db.env();
    let s = TestServer::start(&pg::with(&env, &[]));
    race([&s, &s], 12);
}

#[test]
fn two_writers_on_two_instances_one_wins() {
    let db = pg::Db::create();
    let env = db.env();
    let a = TestServer::start(&pg::with(&env, &[]));
    let b = TestServer::start(&pg::with(&env, &[]));
    race([&a, &b], 12);
    // A version read from one instance is honoured by the other.
    let tag = etag(&a.get(ROUTE));
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.get(ROUTE).header("etag") != Some(tag.as_str()) {
        assert!(Instant::now() < deadline, "b never caught up");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        put(&b, ROUTE, &route("r", 77), &[("if-match", &tag)]).status,
        200
    );
    // a may not have seen b's write yet: then the store refuses the stale version.
    assert_412_from_store(
        &delete(&a, ROUTE, &[("if-match", &tag)]),
        "Could not delete a resource",
    );
    assert_eq!(b.get(ROUTE).status, 200);
}
