//! Many clients at once: overlapping creates, updates and deletes of several kinds in three
//! meshes while another client keeps creating and deleting a fourth mesh full of resources.
//! No request may fail with a 5xx or a dropped connection, every answer must be one a sequential
//! execution could give, and afterwards every list must agree with per-name GETs and the global
//! lists with the union of the mesh lists (D4, D10, D22).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use serde_json::{json, Value};
use support::{Response, TestServer};

const THREADS: usize = 8;
const REQUESTS_PER_THREAD: usize = 300;
const MESH_CYCLES: usize = 25;
/// Meshes that always exist, and the one that comes and goes.
const STABLE_MESHES: [&str; 3] = ["default", "c1", "c2"];
const VOLATILE: &str = "cv";
const NAMES: [&str; 6] = ["n0", "n1", "n2", "n3", "n4", "n5"];
/// Kinds written by the clients (insights last: they need their Dataplane).
const KINDS: [&str; 4] = [
    "traffic-traces",
    "traffic-permissions",
    "dataplanes",
    "dataplane-insights",
];

/// xorshift64*: deterministic per thread, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn body(kind: &str, mesh: &str, name: &str, n: usize) -> Value {
    let mut v = match kind {
        "traffic-traces" => json!({
            "type": "TrafficTrace",
            "selectors": [{"match": {"service": "*"}}],
            "conf": {"backend": format!("b{n}")},
        }),
        "traffic-permissions" => json!({
            "type": "TrafficPermission",
            "sources": [{"match": {"service": "web"}}],
            "destinations": [{"match": {"service": format!("svc-{n}")}}],
        }),
        "dataplanes" => json!({
            "type": "Dataplane",
            "networking": {
                "address": "10.0.0.1",
                "inbound": [{"port": 1000 + n % 1000, "tags": {"service": "web"}}],
            },
        }),
        "dataplane-insights" => json!({
            "type": "DataplaneInsight",
            "subscriptions": [{"id": format!("s-{n}"), "controlPlaneInstanceId": "cp"}],
        }),
        other => panic!("no body for {other}"),
    };
    v["mesh"] = json!(mesh);
    v["name"] = json!(name);
    v
}

/// What went wrong, shared by all threads.
#[derive(Default)]
struct Failures(Mutex<Vec<String>>);

impl Failures {
    fn add(&self, f: String) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }
}

/// Sends a request; a dropped connection or unparsable answer becomes `None` and a failure.
fn send(
    s: &TestServer,
    method: &str,
    path: &str,
    body: Option<&Value>,
    failures: &Failures,
) -> Option<Response> {
    let mut req = s.req(method, path);
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(b).unwrap_or_default());
    }
    match catch_unwind(AssertUnwindSafe(|| req.send())) {
        Ok(resp) => {
            if resp.status >= 500 {
                failures.add(format!(
                    "{method} {path} -> {}: {}",
                    resp.status,
                    resp.text()
                ));
            }
            Some(resp)
        }
        Err(_) => {
            failures.add(format!("{method} {path}: connection dropped"));
            None
        }
    }
}

/// Checks the status is one of `allowed` (a 400 must be the missing-mesh error).
fn expect(resp: &Option<Response>, method: &str, path: &str, allowed: &[u16], failures: &Failures) {
    let Some(resp) = resp else { return };
    let ok = allowed.contains(&resp.status)
        && (resp.status != 400 || resp.text().contains("Mesh is not found"));
    if !ok {
        failures.add(format!(
            "{method} {path} -> {} (allowed {allowed:?}): {}",
            resp.status,
            resp.text()
        ));
    }
}

fn client(s: &TestServer, seed: u64, failures: &Failures) -> BTreeMap<u16, usize> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut statuses = BTreeMap::new();
    for i in 0..REQUESTS_PER_THREAD {
        let mesh = if rng.below(4) == 3 {
            VOLATILE
        } else {
            STABLE_MESHES[rng.below(STABLE_MESHES.len())]
        };
        let kind = KINDS[rng.below(KINDS.len())];
        let name = NAMES[rng.below(NAMES.len())];
        let path = format!("/meshes/{mesh}/{kind}/{name}");
        let volatile = mesh == VOLATILE;
        let (method, resp, allowed): (&str, _, &[u16]) = match rng.below(10) {
            0..=4 => {
                let b = body(kind, mesh, name, seed as usize * 1000 + i);
                let resp = send(s, "PUT", &path, Some(&b), failures);
                // An insight needs its Dataplane (404); the volatile mesh may be gone (400, or
                // 404 for an insight).
                let allowed: &[u16] = match (kind == "dataplane-insights", volatile) {
                    (true, _) => &[200, 201, 404],
                    (false, true) => &[200, 201, 400],
                    (false, false) => &[200, 201],
                };
                ("PUT", resp, allowed)
            }
            5..=7 => (
                "DELETE",
                send(s, "DELETE", &path, None, failures),
                &[200, 404],
            ),
            8 => {
                let list = format!("/meshes/{mesh}/{kind}?size={}", 1 + rng.below(3));
                ("GET", send(s, "GET", &list, None, failures), &[200])
            }
            _ => ("GET", send(s, "GET", &path, None, failures), &[200, 404]),
        };
        expect(&resp, method, &path, allowed, failures);
        if let Some(r) = resp {
            *statuses.entry(r.status).or_insert(0) += 1;
        }
    }
    statuses
}

/// Creates the volatile mesh, fills it, deletes it; ends with the mesh created.
fn mesh_churner(s: &TestServer, failures: &Failures) -> usize {
    let mut requests = 0;
    let mesh_path = format!("/meshes/{VOLATILE}");
    let mesh_body = json!({"type": "Mesh", "name": VOLATILE});
    for cycle in 0..=MESH_CYCLES {
        // Only this thread creates and deletes the mesh, so these answers are exact.
        let r = send(s, "PUT", &mesh_path, Some(&mesh_body), failures);
        expect(&r, "PUT", &mesh_path, &[201], failures);
        requests += 1;
        if cycle == MESH_CYCLES {
            break;
        }
        for kind in KINDS {
            let name = NAMES[cycle % NAMES.len()];
            let path = format!("/meshes/{VOLATILE}/{kind}/{name}");
            let b = body(kind, VOLATILE, name, cycle);
            let r = send(s, "PUT", &path, Some(&b), failures);
            // A client may have deleted the Dataplane in between.
            let allowed: &[u16] = if kind == "dataplane-insights" {
                &[200, 201, 404]
            } else {
                &[200, 201]
            };
            expect(&r, "PUT", &path, allowed, failures);
            requests += 1;
        }
        let r = send(s, "DELETE", &mesh_path, None, failures);
        expect(&r, "DELETE", &mesh_path, &[200], failures);
        let r = send(s, "GET", &mesh_path, None, failures);
        expect(&r, "GET", &mesh_path, &[404], failures);
        for kind in KINDS {
            let path = format!("/meshes/{VOLATILE}/{kind}");
            if let Some(r) = send(s, "GET", &path, None, failures) {
                if r.status != 200 || r.json()["total"] != 0 {
                    failures.add(format!(
                        "GET {path} right after the mesh delete -> {}: {}",
                        r.status,
                        r.text()
                    ));
                }
            }
            requests += 1;
        }
        requests += 2;
    }
    requests
}

fn list(s: &TestServer, path: &str, failures: &Failures) -> Vec<Value> {
    let Some(r) = send(s, "GET", path, None, failures) else {
        return Vec::new();
    };
    let v = r.json();
    let items = v["items"].as_array().cloned().unwrap_or_default();
    if r.status != 200 || v["total"] != items.len() || !v["next"].is_null() {
        failures.add(format!(
            "GET {path} -> {}: total/next disagree: {}",
            r.status,
            r.text()
        ));
    }
    items
}

fn key(item: &Value) -> (String, String) {
    let s = |k: &str| item[k].as_str().unwrap_or_default().to_string();
    (s("name"), s("mesh"))
}

/// After the storm: lists, items and global lists agree.
fn check_consistency(s: &TestServer, failures: &Failures) {
    let meshes: Vec<&str> = STABLE_MESHES.iter().copied().chain([VOLATILE]).collect();
    for kind in KINDS {
        let mut union: Vec<Value> = Vec::new();
        for mesh in &meshes {
            let items = list(s, &format!("/meshes/{mesh}/{kind}?size=10000"), failures);
            let names: Vec<String> = items.iter().map(|i| key(i).0).collect();
            let mut sorted = names.clone();
            sorted.sort();
            if names != sorted {
                failures.add(format!("/meshes/{mesh}/{kind} is not sorted: {names:?}"));
            }
            for item in &items {
                let (name, item_mesh) = key(item);
                let path = format!("/meshes/{mesh}/{kind}/{name}");
                if item_mesh != *mesh {
                    failures.add(format!("{path}: listed with mesh {item_mesh}"));
                }
                match send(s, "GET", &path, None, failures) {
                    Some(r) if r.status == 200 && r.json() == *item => {}
                    Some(r) => failures.add(format!(
                        "{path} is listed as {item} but GETs {}: {}",
                        r.status,
                        r.text()
                    )),
                    None => {}
                }
            }
            let listed: BTreeSet<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
            for name in NAMES.iter().filter(|n| !listed.contains(**n)) {
                let path = format!("/meshes/{mesh}/{kind}/{name}");
                let r = send(s, "GET", &path, None, failures);
                expect(&r, "GET", &path, &[404], failures);
            }
            if kind == "dataplane-insights" {
                // Every insight has its Dataplane.
                let dps = list(
                    s,
                    &format!("/meshes/{mesh}/dataplanes?size=10000"),
                    failures,
                );
                let dp_names: BTreeSet<String> = dps.iter().map(|d| key(d).0).collect();
                for name in &listed {
                    if !dp_names.contains(*name) {
                        failures.add(format!("insight {mesh}/{name} outlived its Dataplane"));
                    }
                }
            }
            union.extend(items);
        }
        union.sort_by_key(key);
        let global = list(s, &format!("/{kind}?size=10000"), failures);
        if global != union {
            let g: Vec<_> = global.iter().map(key).collect();
            let u: Vec<_> = union.iter().map(key).collect();
            failures.add(format!(
                "/{kind} differs from the union of the mesh lists:\n  global {g:?}\n  union  {u:?}"
            ));
        }
    }
    // Overviews pair every Dataplane with its insight.
    let dps = list(s, "/dataplanes?size=10000", failures);
    let insights = list(s, "/dataplane-insights?size=10000", failures);
    let overviews = list(s, "/dataplanes+insights?size=10000", failures);
    let dp_keys: Vec<_> = dps.iter().map(key).collect();
    let ov_keys: Vec<_> = overviews.iter().map(key).collect();
    if dp_keys != ov_keys {
        failures.add(format!(
            "overviews {ov_keys:?} differ from dataplanes {dp_keys:?}"
        ));
    }
    let with_insight: BTreeSet<_> = insights.iter().map(key).collect();
    for ov in &overviews {
        let has = ov["dataplaneInsight"]
            .as_object()
            .is_some_and(|o| !o.is_empty());
        if has != with_insight.contains(&key(ov)) {
            failures.add(format!("overview {:?}: insight shown = {has}", key(ov)));
        }
    }
}

/// D22: simultaneous PUTs of one new name give one 201 and the rest 200; simultaneous DELETEs
/// one 200 and the rest 404.
fn burst(s: &Arc<TestServer>, method: &'static str, path: String, body: Option<Value>) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (s, barrier, path, body) = (s.clone(), barrier.clone(), path.clone(), body.clone());
            thread::spawn(move || {
                let failures = Failures::default();
                barrier.wait();
                send(&s, method, &path, body.as_ref(), &failures).map_or(0, |r| r.status)
            })
        })
        .collect();
    let mut statuses: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap_or(0)).collect();
    statuses.sort();
    statuses
}

#[test]
fn concurrent_clients_keep_the_state_consistent() {
    let s = Arc::new(TestServer::start(&[]));
    let failures = Arc::new(Failures::default());
    for mesh in ["c1", "c2"] {
        let r = s.put_json(
            &format!("/meshes/{mesh}"),
            &json!({"type": "Mesh", "name": mesh}),
        );
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let started = std::time::Instant::now();

    let churner = {
        let (s, failures) = (s.clone(), failures.clone());
        thread::spawn(move || mesh_churner(&s, &failures))
    };
    let clients: Vec<_> = (0..THREADS as u64)
        .map(|seed| {
            let (s, failures) = (s.clone(), failures.clone());
            thread::spawn(move || client(&s, seed + 1, &failures))
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut requests = 0;
    for c in clients {
        for (status, n) in c.join().expect("client thread") {
            *statuses.entry(status).or_insert(0) += n;
            requests += n;
        }
    }
    requests += churner.join().expect("mesh thread");
    let storm = started.elapsed();

    check_consistency(&s, &failures);

    let mut burst_failures = Vec::new();
    let mesh = json!({"type": "Mesh", "name": "burst"});
    // One winner, the others see its result.
    let outcome = |winner: u16, others: u16| {
        let mut v = vec![others; THREADS - 1];
        v.push(winner);
        v.sort();
        v
    };
    let (created, deleted) = (outcome(201, 200), outcome(200, 404));
    for (method, path, body, want) in [
        ("PUT", "/meshes/burst".to_string(), Some(mesh), &created),
        (
            "PUT",
            "/meshes/burst/traffic-traces/t".to_string(),
            Some(body("traffic-traces", "burst", "t", 1)),
            &created,
        ),
        (
            "PUT",
            "/meshes/burst/dataplanes/dp".to_string(),
            Some(body("dataplanes", "burst", "dp", 1)),
            &created,
        ),
        (
            "DELETE",
            "/meshes/burst/traffic-traces/t".to_string(),
            None,
            &deleted,
        ),
        ("DELETE", "/meshes/burst".to_string(), None, &deleted),
    ] {
        let got = burst(&s, method, path.clone(), body);
        if &got != want {
            burst_failures.push(format!(
                "{THREADS} × {method} {path}: {got:?}, expected {want:?}"
            ));
        }
    }

    let mut all = failures.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    all.extend(burst_failures);
    println!(
        "concurrency: {requests} requests from {THREADS} clients and a mesh churner in {storm:?}; statuses {statuses:?}"
    );
    println!(
        "concurrency: {} failures{}",
        all.len(),
        if all.is_empty() { "" } else { ":" }
    );
    for f in all.iter().take(50) {
        println!("  {f}");
    }
    assert!(
        all.is_empty(),
        "{} failures:\n{}",
        all.len(),
        all.join("\n")
    );
}
