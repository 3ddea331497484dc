//! `generate dataplane-token`: through the catalog's dataplane-token server.

use serde_json::json;

use crate::support::{closed_port, Ctl, Fake, Server};

#[test]
fn tokens_come_from_the_advertised_server_and_exit_3_without_one() {
    // Ursa's catalog names its dataplane-token server (the admin server): a token is issued.
    let s = Server::start();
    let ctl = Ctl::new(&s.url());
    let run = ctl.run(&["generate", "dataplane-token", "--dataplane", "web-1"]);
    let token = run.ok().trim().to_string();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    assert!(parts.iter().all(|p| !p.is_empty()), "{token}");

    // A catalog naming no dataplane-token server.
    let catalog = Fake::start(Box::new(|_| {
        let body = json!({"apis": {"dataplaneToken": {"localUrl": "", "publicUrl": ""}}});
        (200, "application/json", body.to_string())
    }));
    let ctl = Ctl::new(&catalog.url());
    let run = ctl.run(&["generate", "dataplane-token", "--dataplane", "web-1"]);
    let err = run.fails(3);
    assert!(
        err.contains("advertises no dataplane-token server"),
        "{err}"
    );
    assert!(err.contains("apis.dataplaneToken.localUrl"), "{err}");
    assert_eq!(run.stdout, "");

    // A catalog naming a server that does not answer.
    let port = closed_port();
    let catalog = Fake::start(Box::new(move |_| {
        let body = json!({"apis": {"dataplaneToken": {"localUrl": format!("http://127.0.0.1:{port}"), "publicUrl": ""}}});
        (200, "application/json", body.to_string())
    }));
    let ctl = Ctl::new(&catalog.url());
    let run = ctl.run(&["generate", "dataplane-token", "--dataplane", "web-1"]);
    let err = run.fails(3);
    assert!(err.contains("dataplane-token server: "), "{err}");
    assert!(
        err.contains(&format!("http://127.0.0.1:{port}/tokens is not reachable")),
        "{err}"
    );
    ctl.run(&["generate", "dataplane-token"]).fails(2);
}

#[test]
fn the_token_servers_answer_is_printed() {
    let tokens = Fake::start(Box::new(|line| {
        if line.starts_with("POST /tokens ") {
            (200, "text/plain", "eyJhbGciOi.token.value".into())
        } else {
            (404, "text/plain", "not found".into())
        }
    }));
    let token_url = tokens.url();
    let catalog = Fake::start(Box::new(move |_| {
        let body = json!({"apis": {
            "bootstrap": {"url": "http://localhost:5682"},
            "dataplaneToken": {"localUrl": token_url, "publicUrl": "https://cp.example.com:5684"}
        }});
        (200, "application/json", body.to_string())
    }));
    let ctl = Ctl::new(&catalog.url());
    let run = ctl.run(&[
        "-m",
        "demo",
        "generate",
        "dataplane-token",
        "--dataplane",
        "web-1",
    ]);
    assert_eq!(run.ok(), "eyJhbGciOi.token.value");
    assert_eq!(catalog.requests()[0].request_line, "GET /catalog HTTP/1.1");
    let seen = tokens.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].request_line, "POST /tokens HTTP/1.1");
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_str(&seen[0].body).unwrap();
    assert_eq!(body, json!({"mesh": "demo", "name": "web-1"}));

    let refusing = Fake::start(Box::new(|_| {
        (403, "text/plain", "client certificate required".into())
    }));
    let refusing_url = refusing.url();
    let catalog = Fake::start(Box::new(move |_| {
        let body = json!({"apis": {"dataplaneToken": {"localUrl": refusing_url, "publicUrl": ""}}});
        (200, "application/json", body.to_string())
    }));
    let run = Ctl::new(&catalog.url()).run(&["generate", "dataplane-token", "--dataplane", "x"]);
    assert_eq!(
        run.fails(1),
        "Error: dataplane-token server: (403): client certificate required\n"
    );
}
