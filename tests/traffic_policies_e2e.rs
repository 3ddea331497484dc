//! What FaultInjection and HealthCheck change in real Envoys (through `ursa-dp`): an abort
//! answers every selected request with its status until the policy is deleted, a delay slows
//! the requests of the selected source and no other, and an active health check takes a
//! stopped backend instance out of rotation.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::envoy::{app, envoy_available, eventually, free_port, get, Sidecar};
use support::TestServer;

/// A control plane and a folder for its sidecars' files.
struct Cp {
    server: TestServer,
    url: String,
    dir: PathBuf,
}

impl Cp {
    fn start(test: &str) -> Cp {
        envoy_available();
        let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
        let dir = std::env::temp_dir().join(format!("ursa-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("http://{}", server.addr);
        Cp { server, url, dir }
    }

    /// A `backend` instance answering `body`; its sidecar.
    fn backend(&self, name: &str, body: &'static str) -> Sidecar {
        Sidecar::start(
            Some(&self.url),
            name,
            &json!({"networking": {"address": "127.0.0.1", "inbound": [{"port": free_port(),
                "servicePort": app(body),
                "tags": {"service": "backend", "protocol": "http"}}]}}),
            &self.dir,
        )
    }

    /// A caller of service `service` with an outbound to `backend`; its sidecar and the
    /// outbound's port.
    fn caller(&self, name: &str, service: &str) -> (Sidecar, u16) {
        let out = free_port();
        let sidecar = Sidecar::start(
            Some(&self.url),
            name,
            &json!({"networking": {"address": "127.0.0.1",
                "inbound": [{"port": free_port(), "servicePort": app("caller"),
                    "tags": {"service": service, "protocol": "http"}}],
                "outbound": [{"port": out, "service": "backend"}]}}),
            &self.dir,
        );
        (sidecar, out)
    }

    /// Callers `web` and `other` of `backend`, once both reach it; their sidecars and
    /// outbound ports.
    fn web_and_other(&self) -> ([Sidecar; 2], u16, u16) {
        let (web, web_out) = self.caller("web-1", "web");
        let (other, other_out) = self.caller("other-1", "other");
        for port in [web_out, other_out] {
            eventually("traffic to backend", Duration::from_secs(60), || {
                get(port).filter(|b| b == "backend")
            });
        }
        ([web, other], web_out, other_out)
    }

    fn put(&self, path: &str, body: Value) {
        let r = self.server.put_json(path, &body);
        assert!(
            r.status == 200 || r.status == 201,
            "PUT {path}: {}",
            r.text()
        );
    }
}

/// The status of a GET through the outbound on `port` and how long it took.
fn status(port: u16) -> Option<(u16, Duration)> {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET / HTTP/1.1\r\nhost: backend\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let code = out.split(' ').nth(1)?.parse().ok()?;
    Some((code, started.elapsed()))
}

/// Waits until the listeners `sidecar` replaced have drained: connections pooled by callers
/// before a change reach the old listener until then.
fn settled(sidecar: &Sidecar) {
    eventually("old listeners drained", Duration::from_secs(30), || {
        let stats = sidecar.admin_call("GET", "/stats?filter=listener_manager")?;
        // A change of filters only is an in-place update, which drains filter chains.
        let zero = |gauge: &str| {
            stats
                .lines()
                .any(|l| l.trim() == format!("listener_manager.{gauge}: 0"))
        };
        (zero("total_listeners_draining") && zero("total_filter_chains_draining")).then_some(())
    });
}

fn fault_injection(conf: Value) -> Value {
    json!({"type": "FaultInjection", "mesh": "default", "name": "web-faults",
        "sources": [{"match": {"service": "web", "protocol": "http"}}],
        "destinations": [{"match": {"service": "backend", "protocol": "http"}}],
        "conf": conf})
}

#[test]
fn an_abort_answers_every_selected_request_until_the_policy_is_deleted() {
    let cp = Cp::start("fault-abort");
    let backend = cp.backend("backend-1", "backend");
    let (_callers, web_out, other_out) = cp.web_and_other();
    cp.put(
        "/meshes/default/fault-injections/web-faults",
        fault_injection(json!({"abort": {"percentage": 100, "httpStatus": 503}})),
    );
    eventually("the abort", Duration::from_secs(30), || {
        status(web_out).filter(|(code, _)| *code == 503)
    });
    settled(&backend);
    for _ in 0..10 {
        assert_eq!(
            status(web_out).map(|s| s.0),
            Some(503),
            "every request aborts"
        );
        // A source the policy does not select is served.
        assert_eq!(status(other_out).map(|s| s.0), Some(200));
    }
    let r = cp
        .server
        .delete("/meshes/default/fault-injections/web-faults");
    assert_eq!(r.status, 200, "{}", r.text());
    eventually("traffic restored", Duration::from_secs(30), || {
        status(web_out).filter(|(code, _)| *code == 200)
    });
    settled(&backend);
    for _ in 0..10 {
        assert_eq!(status(web_out).map(|s| s.0), Some(200));
    }
}

#[test]
fn a_delay_slows_the_selected_source_only() {
    let cp = Cp::start("fault-delay");
    let backend = cp.backend("backend-1", "backend");
    let (_callers, web_out, other_out) = cp.web_and_other();
    let delay = Duration::from_millis(300);
    cp.put(
        "/meshes/default/fault-injections/web-faults",
        fault_injection(json!({"delay": {"percentage": 100, "value": "300ms"}})),
    );
    eventually("the delay", Duration::from_secs(30), || {
        status(web_out).filter(|(code, took)| *code == 200 && *took >= delay)
    });
    settled(&backend);
    // The filter counts what it injects, which tells a delay from a slow machine.
    let delays = |sidecar: &Sidecar| {
        let stats = sidecar.admin_call("GET", "/stats").unwrap_or_default();
        stats
            .lines()
            .filter(|l| l.contains(".fault.delays_injected: "))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>()
    };
    let before = delays(&backend);
    for _ in 0..5 {
        assert_eq!(status(other_out).map(|s| s.0), Some(200));
    }
    assert_eq!(
        delays(&backend),
        before,
        "no delay for an unselected source"
    );
    for _ in 0..5 {
        let (code, took) = status(web_out).expect("a response");
        assert_eq!(code, 200);
        // Envoy's timers have millisecond precision; the counter below is the proof.
        assert!(
            took + Duration::from_millis(5) >= delay,
            "a selected request took {took:?}"
        );
    }
    assert_eq!(
        delays(&backend),
        before + 5,
        "one delay per selected request"
    );
}

#[test]
fn an_active_health_check_takes_a_stopped_instance_out_of_rotation() {
    let cp = Cp::start("health-check");
    let _one = cp.backend("backend-1", "one");
    let mut two = cp.backend("backend-2", "two");
    let (web, web_out) = cp.caller("web-1", "web");
    // Both instances serve before the check is applied.
    for body in ["one", "two"] {
        eventually("both instances", Duration::from_secs(60), || {
            get(web_out).filter(|b| b == body)
        });
    }
    cp.put(
        "/meshes/default/health-checks/backend",
        json!({"type": "HealthCheck", "mesh": "default", "name": "backend",
            "sources": [{"match": {"service": "web"}}],
            "destinations": [{"match": {"service": "backend"}}],
            "conf": {"activeChecks": {"interval": "1s", "timeout": "1s",
                                      "unhealthyThreshold": 1, "healthyThreshold": 1}}}),
    );
    let cluster_has_checks = || {
        let clusters = web.admin_call("GET", "/config_dump?resource=dynamic_active_clusters");
        clusters
            .filter(|c| c.contains("tcp_health_check"))
            .map(|_| ())
    };
    eventually(
        "the health check in Envoy",
        Duration::from_secs(30),
        cluster_has_checks,
    );
    assert!(two.stop().is_some(), "backend-2 stops");
    eventually(
        "backend-2 failing its health check",
        Duration::from_secs(30),
        || {
            let clusters = web.admin_call("GET", "/clusters")?;
            clusters
                .lines()
                .any(|l| l.starts_with("backend::") && l.contains("failed_active_hc"))
                .then_some(())
        },
    );
    for _ in 0..20 {
        assert_eq!(
            get(web_out).as_deref(),
            Some("one"),
            "every request reaches the instance that runs"
        );
    }
}
