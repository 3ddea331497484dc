//! What a ProxyTemplate changes in a real Envoy (through `ursa-dp`): its raw resources (here
//! in Kuma's v2 shapes) reach Envoy as v3 resources and carry traffic, the default profile
//! stays beside them, and deleting the template takes them away. A raw resource Envoy would
//! reject is refused at PUT, naming the field.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::envoy::{app, envoy_available, eventually, free_port, get, Sidecar};
use support::TestServer;

fn template(raw_port: u16, app_port: u16) -> Value {
    let cluster = format!(
        "'@type': type.googleapis.com/envoy.api.v2.Cluster
name: raw-app
connectTimeout: 5s
type: STATIC
loadAssignment:
  clusterName: raw-app
  endpoints:
  - lbEndpoints:
    - endpoint: {{address: {{socketAddress: {{address: 127.0.0.1, portValue: {app_port}}}}}}}
"
    );
    let listener = format!(
        "'@type': type.googleapis.com/envoy.api.v2.Listener
name: raw-listener
address: {{socket_address: {{address: 127.0.0.1, port_value: {raw_port}}}}}
filter_chains:
- filters:
  - name: envoy.tcp_proxy
    typed_config:
      '@type': type.googleapis.com/envoy.config.filter.network.tcp_proxy.v2.TcpProxy
      stat_prefix: raw
      cluster: raw-app
"
    );
    json!({"type": "ProxyTemplate", "mesh": "default", "name": "custom",
        "selectors": [{"match": {"service": "backend"}}],
        "conf": {"imports": ["default-proxy"], "resources": [
            {"name": "cluster", "version": "v1", "resource": cluster},
            {"name": "listener", "version": "v1", "resource": listener}]}})
}

#[test]
fn raw_resources_reach_envoy_and_carry_traffic_until_the_template_is_deleted() {
    envoy_available();
    let server = TestServer::start(&[("KUMA_GENERAL_ADVERTISED_HOSTNAME", "127.0.0.1")]);
    let url = format!("http://{}", server.addr);
    let dir = std::env::temp_dir().join(format!("ursa-proxy-template-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let inbound = free_port();
    let sidecar = Sidecar::start(
        Some(&url),
        "backend-1",
        &json!({"networking": {"address": "127.0.0.1", "inbound": [{"port": inbound,
            "servicePort": app("backend"), "tags": {"service": "backend"}}]}}),
        &dir,
    );
    eventually("the generated inbound", Duration::from_secs(60), || {
        get(inbound).filter(|b| b == "backend")
    });

    let raw_port = free_port();
    let r = server.put_json(
        "/meshes/default/proxytemplates/custom",
        &template(raw_port, app("raw")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    eventually(
        "traffic through the raw listener",
        Duration::from_secs(60),
        || get(raw_port).filter(|b| b == "raw"),
    );
    let dump = sidecar
        .admin_call("GET", "/config_dump")
        .expect("config_dump");
    for wanted in [
        "\"name\": \"raw-app\"",
        "\"name\": \"raw-listener\"",
        "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
    ] {
        assert!(dump.contains(wanted), "{wanted} not in Envoy's config_dump");
    }
    // The default profile is imported: the generated inbound still serves.
    assert_eq!(get(inbound).as_deref(), Some("backend"));

    let r = server.delete("/meshes/default/proxytemplates/custom");
    assert_eq!(r.status, 200, "{}", r.text());
    eventually("the raw listener gone", Duration::from_secs(60), || {
        get(raw_port).is_none().then_some(())
    });
    eventually("the raw cluster gone", Duration::from_secs(60), || {
        let dump = sidecar.admin_call("GET", "/config_dump")?;
        (!dump.contains("\"name\": \"raw-app\"")).then_some(())
    });
    assert_eq!(get(inbound).as_deref(), Some("backend"));
}

#[test]
fn a_raw_resource_envoy_would_reject_is_refused_naming_the_field() {
    let server = TestServer::start(&[]);
    let cases = [
        (
            "'@type': type.googleapis.com/envoy.config.cluster.v3.Cluster\nname: c\nconnect_timeout: 5s\nhealth_cheks: []",
            "health_cheks",
        ),
        (
            "'@type': type.googleapis.com/envoy.api.v2.Cluster\nname: c\ntype: NOT_A_DISCOVERY_TYPE",
            "NOT_A_DISCOVERY_TYPE",
        ),
        (
            "'@type': type.googleapis.com/envoy.config.listener.v3.Listener\nname: l\nfilter_chains:\n- filters:\n  - name: f\n    typed_config: {'@type': type.googleapis.com/envoy.no.SuchFilter}",
            "filter_chains[0].filters[0].typed_config",
        ),
    ];
    for (i, (resource, named)) in cases.into_iter().enumerate() {
        let name = format!("bad-{i}");
        let r = server.put_json(
            &format!("/meshes/default/proxytemplates/{name}"),
            &json!({"type": "ProxyTemplate", "mesh": "default", "name": name,
                "selectors": [{"match": {"service": "backend"}}],
                "conf": {"imports": ["default-proxy"], "resources": [
                    {"name": "ok", "version": "v1",
                     "resource": "'@type': envoy.config.cluster.v3.Cluster\nname: fine"},
                    {"name": "bad", "version": "v1", "resource": resource}]}}),
        );
        assert_eq!(r.status, 400, "{resource}: {}", r.text());
        let body = r.json();
        assert_eq!(body["title"], "Could not create a resource", "{body}");
        let causes = body["causes"].as_array().expect("causes");
        assert_eq!(causes.len(), 1, "{body}");
        assert_eq!(causes[0]["field"], "conf.resources[1].resource", "{body}");
        let message = causes[0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("native Envoy resource is not valid: ") && message.contains(named),
            "{resource}: {message}"
        );
        assert_eq!(
            server
                .get(&format!("/meshes/default/proxytemplates/{name}"))
                .status,
            404
        );
    }
}
