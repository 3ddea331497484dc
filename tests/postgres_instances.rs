//! Two `ursa-cp` processes on one database of the throwaway PostgreSQL of
//! `scripts/postgres.sh` converge: each sees the other's creates, updates and deletes (also
//! while their change feeds are cut), a delete and re-create, and contested writes of the same
//! names, including a change announced while a write of the same name is queued.
//!
//! Without `URSA_TEST_PG_*` every test fails with one line naming `bash scripts/test.sh`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;
use support::cp::Cp;
use support::lists::{keys, mesh_names, status_of};
use support::pg::{self, Db, PROPAGATION};
use support::resources::{body, marker_of, KINDS};
use support::wait::{try_until, until};

#[test]
fn two_instances_on_one_database_see_each_others_changes() {
    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    // Both at once: they race to create the default mesh, and both must end up serving it.
    let (la, lb) = (Cp::launch(&env, &[]), Cp::launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let cps = [&a, &b];
    for cp in cps {
        assert_eq!(
            mesh_names(cp.api).unwrap(),
            BTreeSet::from(["default".to_string()])
        );
    }

    // A mesh created on each instance is listed by both.
    assert_eq!(
        a.put("/meshes/m1", &json!({"type": "Mesh", "name": "m1"}))
            .status,
        201
    );
    assert_eq!(
        b.put("/meshes/m2", &json!({"type": "Mesh", "name": "m2"}))
            .status,
        201
    );
    let meshes: BTreeSet<String> = ["default", "m1", "m2"]
        .iter()
        .map(|m| m.to_string())
        .collect();
    for cp in cps {
        until(PROPAGATION, "meshes listed by both instances", || {
            let got = mesh_names(cp.api)?;
            (got == meshes).then_some(()).ok_or(format!("{got:?}"))
        });
    }

    // Creates of several kinds in three meshes, alternating between the instances: m1 (made
    // on A) and m2 (made on B) both get resources through the other instance too.
    let mut expected: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
    let mut writer_of: BTreeMap<(String, String, String), usize> = BTreeMap::new();
    let mut turn = 0;
    for mesh in ["m1", "m2", "default"] {
        for segment in KINDS {
            for n in 0..2 {
                let name = format!("{segment}-{n}");
                let cp = cps[turn % 2];
                let r = cp.put(
                    &format!("/meshes/{mesh}/{segment}/{name}"),
                    &body(segment, mesh, &name, "v1"),
                );
                assert_eq!(r.status, 201, "PUT {mesh}/{segment}/{name}: {}", r.text());
                expected
                    .entry(segment)
                    .or_default()
                    .insert((mesh.to_string(), name.clone()));
                writer_of.insert((mesh.to_string(), segment.to_string(), name), turn % 2);
                turn += 1;
            }
        }
    }
    // Each dataplane's insight through the instance that did not create the dataplane (it
    // needs to have seen the dataplane: until then the PUT is a 404).
    for (mesh, name) in expected["dataplanes"].clone() {
        let creator = writer_of[&(mesh.clone(), "dataplanes".to_string(), name.clone())];
        let other = cps[1 - creator];
        let path = format!("/meshes/{mesh}/dataplane-insights/{name}");
        until(
            PROPAGATION,
            &format!("PUT {path} on the other instance"),
            || {
                let r = other.put(&path, &body("dataplane-insights", &mesh, &name, "s-1"));
                match r.status {
                    201 => Ok(()),
                    404 => Err(r.text()),
                    s => panic!("PUT {path}: {s} {}", r.text()),
                }
            },
        );
        expected
            .entry("dataplane-insights")
            .or_default()
            .insert((mesh, name));
    }

    // Both list everything, per mesh and across meshes, with the same content.
    let all_segments: Vec<&str> = expected.keys().copied().collect();
    let check_lists = |cp: &Cp, expected: &BTreeMap<&str, BTreeSet<(String, String)>>| {
        for segment in &all_segments {
            let want = expected.get(segment).cloned().unwrap_or_default();
            let got = keys(cp.api, &format!("/{segment}"))?;
            if got != want {
                return Err(format!("/{segment}: {got:?} != {want:?}"));
            }
            for mesh in ["m1", "m2", "default"] {
                let want: BTreeSet<_> = want.iter().filter(|(m, _)| m == mesh).cloned().collect();
                let got = keys(cp.api, &format!("/meshes/{mesh}/{segment}"))?;
                if got != want {
                    return Err(format!("/meshes/{mesh}/{segment}: {got:?} != {want:?}"));
                }
            }
        }
        Ok(())
    };
    for cp in cps {
        until(
            PROPAGATION,
            "every resource listed by both instances",
            || check_lists(cp, &expected),
        );
    }
    for (segment, items) in &expected {
        for (mesh, name) in items {
            let path = format!("/meshes/{mesh}/{segment}/{name}");
            let (ra, rb) = (a.get(&path), b.get(&path));
            assert_eq!((ra.status, rb.status), (200, 200), "GET {path}");
            assert_eq!(ra.json(), rb.json(), "GET {path}: the instances disagree");
        }
    }

    // An update on one instance is seen on the other: a resource created on A updated on B,
    // and a mesh created on B updated on A.
    let path = "/meshes/m1/traffic-permissions/traffic-permissions-0";
    assert_eq!(
        writer_of[&(
            "m1".into(),
            "traffic-permissions".into(),
            "traffic-permissions-0".into()
        )],
        0
    );
    let r = b.put(
        path,
        &body("traffic-permissions", "m1", "traffic-permissions-0", "v2"),
    );
    assert_eq!(r.status, 200, "update through B: {}", r.text());
    until(PROPAGATION, "A sees B's update", || {
        let (ra, rb) = (a.get(path).json(), b.get(path).json());
        if marker_of("traffic-permissions", &ra).as_deref() == Some("v2") && ra == rb {
            Ok(())
        } else {
            Err(format!("A: {ra}, B: {rb}"))
        }
    });
    let metrics = json!({"enabledBackend": "prom",
        "backends": [{"name": "prom", "type": "prometheus"}]});
    let r = a.put(
        "/meshes/m2",
        &json!({"type": "Mesh", "name": "m2", "metrics": metrics}),
    );
    assert_eq!(r.status, 200, "mesh update through A: {}", r.text());
    until(PROPAGATION, "B sees A's mesh update", || {
        let (ra, rb) = (a.get("/meshes/m2").json(), b.get("/meshes/m2").json());
        if rb["metrics"]["enabledBackend"] == "prom" && ra == rb {
            Ok(())
        } else {
            Err(format!("A: {ra}, B: {rb}"))
        }
    });

    // A dataplane deleted on A is gone on B, with its insight.
    let dp = "/meshes/m2/dataplanes/dataplanes-1";
    assert_eq!(a.delete(dp).status, 200);
    expected
        .get_mut("dataplanes")
        .unwrap()
        .remove(&("m2".into(), "dataplanes-1".into()));
    expected
        .get_mut("dataplane-insights")
        .unwrap()
        .remove(&("m2".into(), "dataplanes-1".into()));
    until(PROPAGATION, "B no longer has the deleted dataplane", || {
        let s = (
            status_of(b.api, dp),
            status_of(b.api, "/meshes/m2/dataplane-insights/dataplanes-1"),
        );
        (s == (404, 404)).then_some(()).ok_or(format!("{s:?}"))
    });

    // A mesh deleted on B is gone on A, and everything in it.
    let r = b.delete("/meshes/m1");
    assert_eq!(r.status, 200, "DELETE /meshes/m1 on B: {}", r.text());
    for set in expected.values_mut() {
        set.retain(|(m, _)| m != "m1");
    }
    let gone = || -> Vec<String> {
        let mut paths = vec!["/meshes/m1".to_string()];
        for segment in KINDS.iter().chain(["dataplane-insights"].iter()) {
            for n in 0..2 {
                let name = if *segment == "dataplane-insights" {
                    format!("dataplanes-{n}")
                } else {
                    format!("{segment}-{n}")
                };
                paths.push(format!("/meshes/m1/{segment}/{name}"));
            }
        }
        paths
    };
    for cp in [&b, &a] {
        until(
            PROPAGATION,
            "the deleted mesh and its resources are gone",
            || {
                for path in gone() {
                    let s = status_of(cp.api, &path);
                    if s != 404 {
                        return Err(format!("GET {path}: {s}"));
                    }
                }
                let meshes = mesh_names(cp.api)?;
                if meshes.contains("m1") {
                    return Err(format!("/meshes: {meshes:?}"));
                }
                check_lists(cp, &expected)
            },
        );
    }
    assert_eq!(
        db.query_i64("SELECT count(*) FROM resources WHERE mesh = 'm1'")
            .unwrap(),
        0,
        "rows of the deleted mesh are left in the database"
    );

    // Changes made while the change feeds are cut (no notification reaches A) arrive by the
    // resync that follows the reconnection.
    let cut = db
        .query_i64(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = 'ursa-cp-listen'",
        )
        .unwrap();
    assert_eq!(cut, 2, "one change feed per instance");
    let missed = "/meshes/m2/traffic-traces/while-cut";
    let r = b.put(missed, &body("traffic-traces", "m2", "while-cut", "c1"));
    assert_eq!(r.status, 201, "{}", r.text());
    let route = "/meshes/m2/traffic-routes/traffic-routes-0";
    assert_eq!(b.delete(route).status, 200);
    let r = b.put("/meshes/m3", &json!({"type": "Mesh", "name": "m3"}));
    assert_eq!(r.status, 201, "{}", r.text());
    expected
        .entry("traffic-traces")
        .or_default()
        .insert(("m2".into(), "while-cut".into()));
    expected
        .get_mut("traffic-routes")
        .unwrap()
        .remove(&("m2".into(), "traffic-routes-0".into()));
    until(
        Duration::from_secs(5),
        "A resyncs after its change feed was cut",
        || {
            let s = (
                status_of(a.api, missed),
                status_of(a.api, route),
                status_of(a.api, "/meshes/m3"),
            );
            if s != (200, 404, 200) {
                return Err(format!("{s:?}"));
            }
            check_lists(&a, &expected)
        },
    );

    // Both instances logged no error; both stop cleanly.
    for cp in [a, b] {
        let output = cp.terminate();
        assert!(!output.contains(" ERROR "), "errors logged:\n{output}");
    }
}

/// A mesh, and a resource, deleted and at once created again through B: A ends up with the new
/// ones (not the old ones, not none), and B keeps them too. A re-created resource starts
/// again at version 1, below the version the old one had reached.
#[test]
fn delete_and_recreate_through_another_instance_converges() {
    delete_and_recreate(false);
}

/// The same while the change feeds are cut: A learns of it by its resync only.
#[test]
fn delete_and_recreate_while_the_change_feed_is_cut_converges() {
    delete_and_recreate(true);
}

fn delete_and_recreate(cut_feeds: bool) {
    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    let (la, lb) = (Cp::launch(&env, &[]), Cp::launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let mesh = |backend: &str| {
        json!({"type": "Mesh", "name": "m4", "metrics": {"enabledBackend": backend,
            "backends": [{"name": backend, "type": "prometheus"}]}})
    };
    let dp = "/meshes/default/dataplanes/dp";
    // A's state: m4 and dp at version 3, with a resource in m4; B has seen it.
    let old = |round: usize| {
        let r = a.put("/meshes/m4", &mesh("old"));
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        for n in 0..2 {
            let r = a.put("/meshes/m4", &mesh(&format!("old{n}")));
            assert_eq!(r.status, 200, "round {round}: {}", r.text());
        }
        let r = a.put(
            "/meshes/m4/traffic-traces/old",
            &body("traffic-traces", "m4", "old", "o"),
        );
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        for n in 0..3 {
            let r = a.put(
                dp,
                &body("dataplanes", "default", "dp", &format!("old{round}-{n}")),
            );
            assert!(
                [200, 201].contains(&r.status),
                "round {round}: {}",
                r.text()
            );
        }
        until(PROPAGATION, "B sees A's state", || {
            let paths = ["/meshes/m4", dp, "/meshes/m4/traffic-traces/old"];
            for path in paths {
                let (ra, rb) = (a.get(path).text(), b.get(path).text());
                if ra != rb {
                    return Err(format!(
                        "round {round}: GET {path} differs:\nA: {ra}\nB: {rb}"
                    ));
                }
            }
            Ok(())
        });
    };
    // Through B: delete both and create them again, at once.
    let recreate = |round: usize| {
        assert_eq!(b.delete("/meshes/m4").status, 200, "round {round}");
        let r = b.put("/meshes/m4", &mesh("new"));
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        assert_eq!(b.delete(dp).status, 200, "round {round}");
        let r = b.put(
            dp,
            &body("dataplanes", "default", "dp", &format!("new{round}")),
        );
        assert_eq!(r.status, 201, "round {round}: {}", r.text());
        let r = b.put(
            "/meshes/m4/traffic-traces/new",
            &body("traffic-traces", "m4", "new", "n"),
        );
        assert_eq!(
            r.status,
            201,
            "round {round}: B cannot write into the mesh it has just re-created: {}",
            r.text()
        );
    };
    let converged = |round: usize| {
        let checked = try_until(PROPAGATION, || {
            for path in ["/meshes/m4", dp, "/meshes/m4/traffic-traces/new"] {
                for (cp, who) in [(&a, "A"), (&b, "B")] {
                    let r = cp.get(path);
                    if r.status != 200 {
                        return Err(format!("GET {path} on {who}: {} {}", r.status, r.text()));
                    }
                }
                let (ra, rb) = (a.get(path).text(), b.get(path).text());
                if ra != rb {
                    return Err(format!("GET {path}:\nA: {ra}\nB: {rb}"));
                }
            }
            for (cp, who) in [(&a, "A"), (&b, "B")] {
                let got = keys(cp.api, "/meshes/m4/traffic-traces")?;
                let want = BTreeSet::from([("m4".to_string(), "new".to_string())]);
                if got != want {
                    return Err(format!("traffic traces of m4 on {who}: {got:?}"));
                }
            }
            Ok(())
        });
        if let Err(e) = checked {
            let stored = db.query_text(
                "SELECT string_agg(kind || '/' || mesh || '/' || name || ' v' || version, ', ' \
                 ORDER BY kind, mesh, name) FROM resources",
            );
            let r = a.put(dp, &body("dataplanes", "default", "dp", "late"));
            panic!(
                "round {round}: the instances disagree {PROPAGATION:?} after B deleted and \
                 re-created m4 and dp: {e}\nthe database holds: {stored:?}\n\
                 a PUT of dp through A now answers {} {}",
                r.status,
                r.text()
            );
        }
        assert_eq!(a.delete("/meshes/m4").status, 200, "round {round}");
        until(PROPAGATION, "B sees m4 deleted", || {
            let s = status_of(b.api, "/meshes/m4");
            (s == 404).then_some(()).ok_or(format!("{s}"))
        });
    };

    for round in 0..if cut_feeds { 1 } else { 4 } {
        old(round);
        if cut_feeds {
            let cut = db
                .query_i64(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'ursa-cp-listen'",
                )
                .unwrap();
            assert_eq!(cut, 2, "one change feed per instance");
        }
        recreate(round);
        converged(round);
    }
}

/// Concurrent writes of the same names through both instances: each is acknowledged or refused
/// as a conflict (412: the other instance's write came first), never a server error, and the
/// instances converge on the same content, one that was acknowledged.
#[test]
fn contested_writes_through_both_instances_converge() {
    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    let (la, lb) = (Cp::launch(&env, &[]), Cp::launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let cps = [&a, &b];
    // Enough rounds that a notification regularly arrives while the other instance's own write
    // of the name is pending.
    const ROUNDS: usize = 30;
    let contested: Vec<String> = (0..4).map(|n| format!("contested-{n}")).collect();
    let results: Vec<(String, u16, String)> = std::thread::scope(|s| {
        let handles: Vec<_> = cps
            .iter()
            .enumerate()
            .map(|(i, cp)| {
                let contested = &contested;
                s.spawn(move || {
                    let mut out = Vec::new();
                    for round in 0..ROUNDS {
                        for name in contested {
                            let marker = format!("i{i}-r{round}");
                            let r = cp.put(
                                &format!("/meshes/default/traffic-traces/{name}"),
                                &body("traffic-traces", "default", name, &marker),
                            );
                            out.push((name.clone(), r.status, marker));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a writer panicked"))
            .collect()
    });
    for (name, status, marker) in &results {
        assert!(
            [200, 201, 412].contains(status),
            "PUT traffic-traces/{name} ({marker}): {status}"
        );
    }
    for name in &contested {
        let acked: BTreeSet<&str> = results
            .iter()
            .filter(|(n, s, _)| n == name && (*s == 200 || *s == 201))
            .map(|(_, _, m)| m.as_str())
            .collect();
        assert!(
            !acked.is_empty(),
            "no write of {name} succeeded: {results:?}"
        );
        let path = format!("/meshes/default/traffic-traces/{name}");
        let agreed = try_until(PROPAGATION, || {
            let (ra, rb) = (a.get(&path).json(), b.get(&path).json());
            let marker = marker_of("traffic-traces", &ra).unwrap_or_default();
            if ra != rb {
                Err(format!("A: {ra}, B: {rb}"))
            } else if !acked.contains(marker.as_str()) {
                Err(format!("{marker} was never acknowledged ({acked:?})"))
            } else {
                Ok(())
            }
        });
        if let Err(e) = agreed {
            // What the database holds, and whether each instance can still write the name.
            let stored = db.query_text(&format!(
                "SELECT version || ' ' || spec::text FROM resources \
                     WHERE kind = 'TrafficTrace' AND mesh = 'default' AND name = '{name}'"
            ));
            let mut later = Vec::new();
            for (i, cp) in cps.iter().enumerate() {
                for n in 0..3 {
                    let r = cp.put(
                        &path,
                        &body("traffic-traces", "default", name, &format!("late{i}-{n}")),
                    );
                    later.push(format!("instance {i}: {} {}", r.status, r.text()));
                }
            }
            panic!(
                "the instances do not agree on {path} {PROPAGATION:?} after contested writes: \
                 {e}\nthe database holds: {stored:?}\nPUTs through each instance afterwards: \
                 {later:#?}\nwrites: {results:?}"
            );
        }
    }
}

/// The race of the contested writes above, made deterministic: instance B has a write of
/// `x` queued (behind a write of `y` that a row lock holds up) when A's change of `x` is
/// announced. B's write then fails as a conflict; B must still end up with A's `x`, and be
/// able to write `x` again.
#[test]
fn a_change_announced_while_a_write_of_the_same_name_is_queued_is_not_lost() {
    let db = Db::create();
    let store = db.env();
    let env = pg::with(&store, &[]);
    let (la, lb) = (Cp::launch(&env, &[]), Cp::launch(&env, &[]));
    let (a, b) = (la.ready(), lb.ready());
    let x = "/meshes/default/traffic-traces/x";
    let y = "/meshes/default/traffic-traces/y";
    for (path, name) in [(x, "x"), (y, "y")] {
        assert_eq!(
            a.put(path, &body("traffic-traces", "default", name, "a1"))
                .status,
            201
        );
        until(PROPAGATION, "B sees A's create", || {
            let s = status_of(b.api, path);
            (s == 200)
                .then_some(())
                .ok_or(format!("GET {path} on B: {s}"))
        });
    }

    // B's write of y waits for a row lock; its write of x queues behind it.
    let lock =
        db.hold("SELECT 1 FROM resources WHERE kind = 'TrafficTrace' AND name = 'y' FOR UPDATE");
    let (b_addr, db_name) = (b.api, db.name.clone());
    let put_y = std::thread::spawn(move || {
        support::request(b_addr, "PUT", y)
            .json(&body("traffic-traces", "default", "y", "b1"))
            .send()
    });
    until(
        Duration::from_secs(10),
        "B's write of y waits for the lock",
        || {
            let waiting = db.query_i64(&format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_name}' \
                 AND application_name = 'ursa-cp' AND wait_event_type = 'Lock'"
            ))?;
            (waiting > 0).then_some(()).ok_or("not waiting".to_string())
        },
    );
    let put_x = std::thread::spawn(move || {
        support::request(b_addr, "PUT", x)
            .json(&body("traffic-traces", "default", "x", "b1"))
            .send()
    });
    std::thread::sleep(Duration::from_millis(300));
    // A changes x meanwhile; B is told while its own write of x is queued.
    let r = a.put(x, &body("traffic-traces", "default", "x", "a2"));
    assert_eq!(r.status, 200, "A's update of x: {}", r.text());
    std::thread::sleep(Duration::from_millis(700));
    lock.release();
    let (ry, rx) = (put_y.join().unwrap(), put_x.join().unwrap());
    assert_eq!(ry.status, 200, "B's write of y: {}", ry.text());
    assert!(
        [200, 412].contains(&rx.status),
        "B's write of x: {} {}",
        rx.status,
        rx.text()
    );
    let settled = try_until(PROPAGATION, || {
        let (ga, gb) = (a.get(x).json(), b.get(x).json());
        if ga == gb {
            Ok(ga)
        } else {
            Err(format!("A: {ga}\nB: {gb}"))
        }
    });
    let later = b.put(x, &body("traffic-traces", "default", "x", "b2"));
    let stored = db.query_text(
        "SELECT version || ' ' || spec::text FROM resources WHERE kind = 'TrafficTrace' AND name = 'x'",
    );
    let settled = settled.unwrap_or_else(|e| {
        panic!(
            "B's write of x answered {}; {PROPAGATION:?} later the instances still disagree on \
             x:\n{e}\nthe database holds {stored:?}\na new PUT of x through B answers {} {}",
            rx.status,
            later.status,
            later.text()
        )
    });
    let marker = marker_of("traffic-traces", &settled).unwrap_or_default();
    let want = if rx.status == 200 {
        ["a2", "b1"]
    } else {
        ["a2", "a2"]
    };
    assert!(
        want.contains(&marker.as_str()),
        "x settled on {marker}: {settled}"
    );
    assert_eq!(
        later.status,
        200,
        "a new PUT of x through B: {}",
        later.text()
    );
}
