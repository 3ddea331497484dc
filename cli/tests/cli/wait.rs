//! `wait dataplane NAME --for online|offline|deleted`, by polling the dataplane's overview.

use std::time::Duration;

use serde_json::json;

use crate::fixtures::{dataplane, path_of};
use crate::support::{closed_port, Ctl, Server};

fn insight(online: bool) -> serde_json::Value {
    let mut sub = json!({"id": "1", "connectTime": "2024-01-01T00:00:00Z"});
    if !online {
        sub["disconnectTime"] = json!("2024-01-01T00:05:00Z");
    }
    json!({"type": "DataplaneInsight", "mesh": "default", "name": "web-1", "subscriptions": [sub]})
}

#[test]
fn online_offline_deleted() {
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let dp = dataplane("default", "web-1", "web");
    assert_eq!(s.put(&path_of(&dp), &dp), 201);

    let offline = ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "offline",
        "--timeout",
        "30s",
    ]);
    assert_eq!(
        offline.ok(),
        "Dataplane \"web-1\" in mesh \"default\" is Offline\n"
    );

    // The insight arrives while waiting.
    let s2 = s.url();
    let writer = {
        let addr = s.addr;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            let body = insight(true).to_string();
            let req = format!(
                "PUT /meshes/default/dataplane-insights/web-1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
                 content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(req.as_bytes()).unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).ok();
            assert!(out.starts_with("HTTP/1.1 20"), "{out} from {s2}");
        })
    };
    let online = ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "online",
        "--timeout",
        "60s",
        "--interval",
        "200ms",
    ]);
    writer.join().unwrap();
    assert_eq!(
        online.ok(),
        "Dataplane \"web-1\" in mesh \"default\" is Online\n"
    );

    // Online stays online: --for offline times out with exit code 4.
    let timeout = ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "offline",
        "--timeout",
        "1s",
        "--interval",
        "300ms",
    ]);
    assert!(
        timeout
            .fails(4)
            .contains("timed out after 1s: the dataplane is still Online"),
        "{}",
        timeout.stderr
    );

    // A disconnected subscription is offline again.
    assert_eq!(
        s.put("/meshes/default/dataplane-insights/web-1", &insight(false)),
        200
    );
    ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "offline",
        "--timeout",
        "30s",
    ])
    .ok();

    let deleter = {
        let addr = s.addr;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.write_all(b"DELETE /meshes/default/dataplanes/web-1 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            c.read_to_string(&mut out).ok();
            assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        })
    };
    let deleted = ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "deleted",
        "--timeout",
        "60s",
        "--interval",
        "200ms",
    ]);
    deleter.join().unwrap();
    assert_eq!(
        deleted.ok(),
        "Dataplane \"web-1\" in mesh \"default\" is deleted\n"
    );

    let never = ctl.run(&[
        "-m",
        "default",
        "wait",
        "dataplane",
        "ghost",
        "--for",
        "online",
        "--timeout",
        "500ms",
    ]);
    assert!(
        never
            .fails(4)
            .contains("timed out after 500ms: the dataplane is not registered"),
        "{}",
        never.stderr
    );
}

#[test]
fn an_unreachable_control_plane_is_retried_then_exit_3() {
    let ctl = Ctl::new(&format!("http://127.0.0.1:{}", closed_port()));
    let run = ctl.run(&[
        "wait",
        "dataplane",
        "web-1",
        "--for",
        "online",
        "--timeout",
        "1s",
        "--interval",
        "200ms",
    ]);
    let err = run.fails(3);
    assert!(err.contains("gave up after 1s"), "{err}");
    assert!(err.contains("is not reachable"), "{err}");
}
