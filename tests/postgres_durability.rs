//! The PostgreSQL store survives failures: `kill -9` of `ursa-cp` under load loses no
//! acknowledged write, and a restart of PostgreSQL itself (a private server, so that the test
//! can stop it) is survived without restarting the control plane.
//!
//! Without `URSA_TEST_PG_*` every test fails with one line naming `bash scripts/test.sh`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use support::cp::Cp;
use support::lists::{list_all, status_of};
use support::pg::{self, Db, PrivatePg, PROPAGATION};
use support::resources::{body, marker_of};
use support::wait::until;
use support::Delivery;

/// One PUT of the crash test.
#[derive(Debug, Clone)]
struct PutRecord {
    segment: &'static str,
    name: String,
    marker: String,
    sent: Instant,
    /// When the request ended (response read, connection refused or lost).
    ended: Instant,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Status(u16, String),
    /// Refused at connect: never reached the server.
    NotSent,
    /// Sent, no answer: it may or may not have been committed.
    Unknown(String),
}

impl PutRecord {
    fn acked(&self) -> bool {
        matches!(self.outcome, Outcome::Status(200 | 201, _))
    }
}

#[test]
fn kill_9_under_load_loses_no_acknowledged_write() {
    const THREADS: usize = 16;
    const SHARED_NAMES: usize = 6;
    const LOAD: Duration = Duration::from_secs(2);
    const KILL_AFTER: Duration = Duration::from_millis(1200);

    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    let mut cp = Cp::start(&env);
    let addr = cp.api;

    let killed = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<JoinHandle<Vec<PutRecord>>> = (0..THREADS)
        .map(|t| {
            let killed = killed.clone();
            std::thread::spawn(move || {
                let segment = if t % 2 == 0 {
                    "dataplanes"
                } else {
                    "traffic-permissions"
                };
                let mut writes = Vec::new();
                for j in 0..100_000 {
                    if start.elapsed() >= LOAD {
                        break;
                    }
                    // One write in three goes to a name other threads write too.
                    let name = if j % 3 == 0 {
                        format!("shared-{}", (t / 2 + j) % SHARED_NAMES)
                    } else {
                        format!("t{t}-{j}")
                    };
                    let marker = format!("w{t}-{j}");
                    let sent = Instant::now();
                    let outcome = match support::request(
                        addr,
                        "PUT",
                        &format!("/meshes/default/{segment}/{name}"),
                    )
                    .json(&body(segment, "default", &name, &marker))
                    .deliver()
                    {
                        Delivery::Answered(r) => Outcome::Status(r.status, r.text()),
                        Delivery::NotSent(_) => Outcome::NotSent,
                        Delivery::Lost(e) => Outcome::Unknown(e),
                    };
                    let ended = Instant::now();
                    let failed = !matches!(outcome, Outcome::Status(..));
                    writes.push(PutRecord {
                        segment,
                        name,
                        marker,
                        sent,
                        ended,
                        outcome,
                    });
                    if failed && killed.load(Ordering::SeqCst) {
                        break;
                    }
                }
                writes
            })
        })
        .collect();
    std::thread::sleep(KILL_AFTER.saturating_sub(start.elapsed()));
    killed.store(true, Ordering::SeqCst);
    let killed_at = Instant::now();
    cp.kill9();
    let writes: Vec<PutRecord> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("a load thread panicked"))
        .collect();
    let output = cp.finish();

    // Before the kill every request was answered, and with success.
    let refused: Vec<&PutRecord> = writes
        .iter()
        .filter(|w| matches!(&w.outcome, Outcome::Status(s, _) if *s != 200 && *s != 201))
        .collect();
    assert!(
        refused.is_empty(),
        "{} PUTs were answered with an error, e.g. {:?}\n{output}",
        refused.len(),
        &refused[..refused.len().min(3)]
    );
    let refused_before_kill: Vec<&PutRecord> = writes
        .iter()
        .filter(|w| w.outcome == Outcome::NotSent && w.ended < killed_at)
        .collect();
    assert!(
        refused_before_kill.is_empty(),
        "connections refused before the kill: {:?}",
        &refused_before_kill[..refused_before_kill.len().min(3)]
    );
    let acked = writes.iter().filter(|w| w.acked()).count();
    let in_flight = writes
        .iter()
        .filter(|w| matches!(w.outcome, Outcome::Unknown(_)))
        .count();
    assert!(
        acked >= 50,
        "only {acked} acknowledged writes: the load did not run"
    );
    assert!(
        writes
            .iter()
            .any(|w| w.sent >= killed_at || !matches!(w.outcome, Outcome::Status(..))),
        "the kill did not happen during the load"
    );

    // Restarted on the same database, it has every acknowledged write.
    let cp = Cp::start(&env);
    let mut stored: BTreeMap<(&str, String), String> = BTreeMap::new();
    for segment in ["dataplanes", "traffic-permissions"] {
        for item in list_all(cp.api, &format!("/meshes/default/{segment}")).unwrap() {
            let name = item["name"].as_str().unwrap().to_string();
            let marker = marker_of(segment, &item)
                .unwrap_or_else(|| panic!("{segment}/{name} has no marker: {item}"));
            stored.insert((segment, name), marker);
        }
    }
    let mut by_key: BTreeMap<(&str, String), Vec<&PutRecord>> = BTreeMap::new();
    for w in &writes {
        by_key
            .entry((w.segment, w.name.clone()))
            .or_default()
            .push(w);
    }
    let mut checked_exact = 0;
    for (key, ws) in &by_key {
        let acks: Vec<&&PutRecord> = ws.iter().filter(|w| w.acked()).collect();
        // The content stored last is one of these writes: acknowledged or unanswered, and
        // not superseded — an acknowledged write is superseded by any acknowledged write of
        // the same name sent after its answer came back (that one was queued after it was
        // committed). An unanswered write can have been committed at any point.
        let candidates: BTreeSet<&str> = ws
            .iter()
            .filter(|w| w.acked() || matches!(w.outcome, Outcome::Unknown(_)))
            .filter(|w| !w.acked() || !acks.iter().any(|a| a.sent > w.ended))
            .map(|w| w.marker.as_str())
            .collect();
        match stored.get(key) {
            Some(marker) => assert!(
                candidates.contains(marker.as_str()),
                "{key:?} holds {marker}, which no surviving write had; candidates {candidates:?}, \
                 writes {ws:#?}"
            ),
            None => assert!(
                acks.is_empty(),
                "{key:?} was acknowledged ({} times) but is gone after the restart: {acks:#?}",
                acks.len()
            ),
        }
        if candidates.len() == 1 && !acks.is_empty() {
            checked_exact += 1;
        }
    }
    for key in stored.keys() {
        assert!(
            by_key.contains_key(key),
            "{key:?} is stored but was never written"
        );
    }
    assert!(checked_exact > 0, "no name had a single possible content");
    eprintln!(
        "crash test: {} writes, {acked} acknowledged, {in_flight} in flight at the kill, \
         {} names, {checked_exact} with exactly one possible content",
        writes.len(),
        by_key.len()
    );
    drop(cp);
}

#[test]
fn postgres_restart_is_survived_without_restarting_the_control_plane() {
    let pg = PrivatePg::start();
    let store = pg.env("postgres");
    let env = pg::with(&store, &[]);
    let mut a = Cp::start(&env);
    let pid = a.pid();
    let before = "/meshes/default/traffic-traces/before";
    assert_eq!(
        a.put(before, &body("traffic-traces", "default", "before", "v1"))
            .status,
        201
    );

    pg.stop("fast");

    // While it is down: writes answer 503 with Kuma's error JSON, reads still answer.
    let down_writes = [
        (
            "PUT",
            "/meshes/default/traffic-traces/during",
            Some(body("traffic-traces", "default", "during", "v1")),
        ),
        (
            "PUT",
            before,
            Some(body("traffic-traces", "default", "before", "v2")),
        ),
        (
            "PUT",
            "/meshes/down",
            Some(json!({"type": "Mesh", "name": "down"})),
        ),
        ("DELETE", before, None),
    ];
    for round in 0..2 {
        for (method, path, body) in &down_writes {
            let started = Instant::now();
            let mut request = support::request(a.api, method, path);
            if let Some(body) = body {
                request = request.json(body);
            }
            let r = match request.deliver() {
                Delivery::Answered(r) => r,
                other => {
                    panic!("{method} {path} while PostgreSQL is down (round {round}): {other:?}")
                }
            };
            assert_eq!(
                r.status,
                503,
                "{method} {path} while PostgreSQL is down: {}",
                r.text()
            );
            let j = r.json();
            assert!(
                j["title"].as_str().is_some_and(|t| !t.is_empty())
                    && j["details"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path}: not Kuma's error JSON: {j}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{method} {path} took {:?} to fail",
                started.elapsed()
            );
        }
    }
    let r = a.get(before);
    assert_eq!(r.status, 200, "GET while PostgreSQL is down: {}", r.text());
    assert_eq!(
        marker_of("traffic-traces", &r.json()).as_deref(),
        Some("v1")
    );
    assert!(a.running(), "ursa-cp exited while PostgreSQL was down");

    pg.start_again();

    // Without a restart of ursa-cp, writes succeed again within a few seconds.
    let after = "/meshes/default/traffic-traces/after";
    until(
        Duration::from_secs(15),
        "a PUT succeeds after PostgreSQL is back",
        || {
            let r = a.put(after, &body("traffic-traces", "default", "after", "v1"));
            match r.status {
                201 => Ok(()),
                503 => Err(r.text()),
                s => panic!("PUT {after} after the restart: {s} {}", r.text()),
            }
        },
    );
    let r = a.get(after);
    assert_eq!(r.status, 200);
    assert_eq!(
        marker_of("traffic-traces", &r.json()).as_deref(),
        Some("v1")
    );
    let r = a.put(before, &body("traffic-traces", "default", "before", "v3"));
    assert_eq!(r.status, 200, "update after the restart: {}", r.text());

    // A second instance started now sees what A wrote, and none of the refused writes; what
    // it writes reaches A, whose change feed reconnects by itself.
    let b = Cp::start(&env);
    assert_eq!(
        marker_of("traffic-traces", &b.get(before).json()).as_deref(),
        Some("v3")
    );
    assert_eq!(b.get(after).status, 200);
    for cp in [&a, &b] {
        assert_eq!(
            status_of(cp.api, "/meshes/default/traffic-traces/during"),
            404
        );
        assert_eq!(status_of(cp.api, "/meshes/down"), 404);
    }
    let from_b = "/meshes/default/traffic-traces/from-b";
    assert_eq!(
        b.put(from_b, &body("traffic-traces", "default", "from-b", "b1"))
            .status,
        201
    );
    until(
        Duration::from_secs(10),
        "A sees B's write after the restart",
        || {
            let s = status_of(a.api, from_b);
            (s == 200)
                .then_some(())
                .ok_or(format!("GET {from_b} on A: {s}"))
        },
    );
    let r = b.put(
        "/meshes/made-by-b",
        &json!({"type": "Mesh", "name": "made-by-b"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(b.delete(before).status, 200);
    until(PROPAGATION, "A sees B's mesh and delete", || {
        let s = (
            status_of(a.api, "/meshes/made-by-b"),
            status_of(a.api, before),
        );
        (s == (200, 404)).then_some(()).ok_or(format!("{s:?}"))
    });
    assert!(a.running(), "ursa-cp exited");
    assert_eq!(a.pid(), pid, "the same process serves");
    drop(b);
    a.terminate();
}
