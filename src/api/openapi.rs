//! The OpenAPI 3.1 document of the API (`GET /_openapi.json`, checked in as
//! `docs/openapi.json`), generated from the route table ([`Route`] and its methods), the kinds
//! table ([`Kind`]) and the error shape of [`super::error`], so it cannot drift from what the
//! server does. Resource specs are described by their envelope (`type`, `mesh`, `name`, times)
//! with their fields open: each kind's fields are Kuma 0.5's, validated by the server, which
//! names any wrong field in its error.

use serde_json::{json, Map, Value};
use ursa_actors::Kind;

use super::routes::Route;

/// The mesh of the document's examples.
pub const EXAMPLE_MESH: &str = "default";
/// The name of the document's example resources.
pub const EXAMPLE_NAME: &str = "example";

/// Every endpoint of the API, one [`Route`] each, in document order.
pub fn endpoints() -> Vec<Route> {
    let (mesh, name) = (String::new(), String::new());
    let mut routes = vec![
        Route::Index,
        Route::Config,
        Route::Catalog,
        Route::OpenApi,
        Route::Meshes,
        Route::Mesh { name: name.clone() },
        Route::Overviews { mesh: None },
        Route::Overviews {
            mesh: Some(mesh.clone()),
        },
        Route::Overview {
            mesh: mesh.clone(),
            name: name.clone(),
        },
    ];
    for kind in Kind::mesh_scoped() {
        routes.push(Route::Global { kind });
        routes.push(Route::Collection {
            mesh: mesh.clone(),
            kind,
        });
        routes.push(Route::Item {
            mesh: mesh.clone(),
            kind,
            name: name.clone(),
        });
    }
    routes
}

/// The document, pretty-printed with a final newline (the served and checked-in bytes).
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in endpoints() {
        let mut item = Map::new();
        for method in route.methods() {
            item.insert(
                method.as_str().to_ascii_lowercase(),
                operation(&route, method.as_str()),
            );
        }
        let params = path_parameters(&route.template());
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        paths.insert(route.template(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Ursa control plane API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Kuma 0.5's Universal-mode HTTP API as Ursa serves it, with Ursa's opt-in additions: ETag / If-Match / If-None-Match, ?dryRun=true, ?watch=true (Server-Sent Events), and writer authentication (apiServer.auth). Every error is Kuma's error JSON.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "paths": paths,
        "components": components(),
    })
}

/// `{mesh}`, `{name}`: the path's parameters.
fn path_parameters(template: &str) -> Vec<Value> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|p| json!({"$ref": format!("#/components/parameters/{p}")}))
        .collect()
}

fn reference(kind: &str, name: &str) -> Value {
    json!({"$ref": format!("#/components/{kind}/{name}")})
}

fn schema_name(kind: Kind) -> &'static str {
    kind.type_name()
}

/// `{"200": …}` plus the errors every operation may meet.
fn responses(pairs: Vec<(&str, Value)>) -> Value {
    let mut out = Map::new();
    for (status, value) in pairs {
        out.insert(status.to_string(), value);
    }
    // Transport refusals (406, 408, 413, 415, 431, 503, …), all in Kuma's error JSON.
    out.insert("default".into(), reference("responses", "Error"));
    Value::Object(out)
}

fn ok_json(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn error(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": reference("schemas", "Error")}}})
}

fn operation(route: &Route, method: &str) -> Value {
    let (summary, id, mut op) = match (route, method) {
        (Route::Index, _) => (
            "The control plane's identity",
            "getIndex".to_string(),
            json!({
                "responses": responses(vec![("200", ok_json("Who answers", reference("schemas", "Index")))]),
            }),
        ),
        (Route::Config, _) => (
            "The effective configuration, secrets masked",
            "getConfig".to_string(),
            json!({
                "responses": responses(vec![("200", ok_json("The configuration tree", json!({"type": "object"})))]),
            }),
        ),
        (Route::Catalog, _) => (
            "Where the control plane's other servers are",
            "getCatalog".to_string(),
            json!({
                "responses": responses(vec![("200", ok_json("The catalog", reference("schemas", "Catalog")))]),
            }),
        ),
        (Route::OpenApi, _) => (
            "This document",
            "getOpenApi".to_string(),
            json!({
                "responses": responses(vec![("200", ok_json("The OpenAPI document", json!({"type": "object"})))]),
            }),
        ),
        (Route::Meshes, _) => (
            "Every mesh",
            "listMeshes".to_string(),
            list_operation("Mesh", &[]),
        ),
        (Route::Mesh { .. }, "GET") => ("One mesh", "getMesh".to_string(), get_operation("Mesh")),
        (Route::Mesh { .. }, "PUT") => (
            "Create or update a mesh",
            "putMesh".to_string(),
            put_operation("Mesh"),
        ),
        (Route::Mesh { .. }, _) => (
            "Delete a mesh and everything in it",
            "deleteMesh".to_string(),
            delete_operation(),
        ),
        (Route::Overviews { mesh: None }, _) => (
            "Dataplanes with their insights, in every mesh",
            "listAllDataplaneOverviews".to_string(),
            list_operation("DataplaneOverview", &["tag", "gateway", "nameContains"]),
        ),
        (Route::Overviews { mesh: Some(_) }, _) => (
            "Dataplanes with their insights",
            "listDataplaneOverviews".to_string(),
            list_operation("DataplaneOverview", &["tag", "gateway", "nameContains"]),
        ),
        (Route::Overview { .. }, _) => (
            "One dataplane with its insight",
            "getDataplaneOverview".to_string(),
            json!({
                "responses": responses(vec![
                    ("200", ok_json("The dataplane and its insight", reference("schemas", "DataplaneOverview"))),
                    ("404", error("No such dataplane")),
                ]),
            }),
        ),
        (Route::Global { kind }, _) => (
            "One kind in every mesh",
            format!("listAll{}s", schema_name(*kind)),
            list_operation(schema_name(*kind), &[]),
        ),
        (Route::Collection { kind, .. }, _) => (
            "One kind in a mesh",
            format!("list{}s", schema_name(*kind)),
            list_operation(schema_name(*kind), &[]),
        ),
        (Route::Item { kind, .. }, "GET") => (
            "One resource",
            format!("get{}", schema_name(*kind)),
            get_operation(schema_name(*kind)),
        ),
        (Route::Item { kind, .. }, "PUT") => (
            "Create or replace a resource",
            format!("put{}", schema_name(*kind)),
            put_operation(schema_name(*kind)),
        ),
        (Route::Item { kind, .. }, _) => (
            "Delete a resource",
            format!("delete{}", schema_name(*kind)),
            delete_operation(),
        ),
    };
    if let Value::Object(map) = &mut op {
        map.insert("summary".into(), json!(summary));
        map.insert("operationId".into(), json!(id));
        if method != "GET" {
            // Writer authentication is off by default (apiServer.auth.enabled).
            map.insert("security".into(), json!([{}, {"userToken": []}]));
        }
    }
    op
}

fn list_operation(item: &str, filters: &[&str]) -> Value {
    let mut params = vec![
        reference("parameters", "size"),
        reference("parameters", "offset"),
    ];
    params.extend(filters.iter().map(|f| reference("parameters", f)));
    params.extend(
        ["watch", "resourceVersion", "timeoutSeconds"]
            .iter()
            .map(|p| reference("parameters", p)),
    );
    json!({
        "parameters": params,
        "responses": responses(vec![
            ("200", json!({"description": "One page; with watch=true, a stream of Server-Sent Events (see the watch parameter)", "content": {"application/json": {"schema": json!({
                "type": "object",
                "required": ["total", "items", "next"],
                "properties": {
                    "total": {"type": "integer", "minimum": 0, "description": "Items in all pages (matching the filters)"},
                    "items": {"type": "array", "items": reference("schemas", item)},
                    "next": {"type": ["string", "null"], "description": "The next page's URL, null on the last"}
                }
            })}, "text/event-stream": {"schema": {"type": "string", "description": "Events named added, updated, deleted (data: {type, resourceVersion, version, resource}) and synced (data: {resourceVersion}); id: the resourceVersion to resume from"}}}})),
            ("400", error("A bad size, offset, filter or watch parameter")),
            ("410", error("The watch cannot resume at resourceVersion: list again")),
        ]),
    })
}

fn get_operation(schema: &str) -> Value {
    json!({
        "responses": responses(vec![
            ("200", json!({
                "description": "The resource",
                "headers": {"ETag": reference("headers", "ETag")},
                "content": {"application/json": {"schema": reference("schemas", schema)}}
            })),
            ("404", error("No such resource")),
        ]),
    })
}

fn write_parameters() -> Vec<Value> {
    vec![
        reference("parameters", "dryRun"),
        reference("parameters", "If-Match"),
        reference("parameters", "If-None-Match"),
    ]
}

fn put_operation(schema: &str) -> Value {
    json!({
        "parameters": write_parameters(),
        "requestBody": {
            "required": true,
            "content": {"application/json": {"schema": reference("schemas", &format!("{schema}Put"))}}
        },
        "responses": responses(vec![
            ("200", json!({"description": "Replaced (or, with dryRun, would be)"})),
            ("201", json!({"description": "Created (or, with dryRun, would be)"})),
            ("400", error("The body is not a valid resource, the mesh does not exist, or a query parameter is bad")),
            ("401", error("Writer authentication is on and the token is missing, bad or revoked")),
            ("404", error("A DataplaneInsight whose Dataplane does not exist")),
            ("405", error("The API server is read-only")),
            ("412", error("If-Match or If-None-Match does not hold")),
        ]),
    })
}

fn delete_operation() -> Value {
    json!({
        "parameters": write_parameters(),
        "responses": responses(vec![
            ("200", json!({"description": "Deleted (or, with dryRun, would be)"})),
            ("400", error("A bad query parameter")),
            ("401", error("Writer authentication is on and the token is missing, bad or revoked")),
            ("404", error("No such resource")),
            ("405", error("The API server is read-only")),
            ("412", error("If-Match does not hold")),
        ]),
    })
}

fn meta_properties(type_name: &str, in_mesh: bool) -> Map<String, Value> {
    let mut props = Map::new();
    props.insert("type".into(), json!({"const": type_name}));
    if in_mesh {
        props.insert("mesh".into(), json!({"type": "string"}));
    }
    props.insert("name".into(), json!({"type": "string"}));
    props
}

/// A resource as the API answers it.
fn resource_schema(type_name: &str, in_mesh: bool) -> Value {
    let mut props = meta_properties(type_name, in_mesh);
    props.insert(
        "creationTime".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    props.insert(
        "modificationTime".into(),
        json!({"type": "string", "format": "date-time"}),
    );
    let mut required = vec!["type", "name", "creationTime", "modificationTime"];
    if in_mesh {
        required.insert(1, "mesh");
    }
    json!({
        "type": "object",
        "description": format!("A {type_name}: its envelope and its spec's fields (Kuma 0.5's proto3 JSON)"),
        "required": required,
        "properties": props,
        "additionalProperties": true,
    })
}

/// The fields of a valid spec of `kind` (a test proves the server accepts each example), so
/// the document's examples, and the fuzzer's first requests, are accepted writes.
pub fn example_spec(kind: Kind) -> Value {
    let service = |s: &str| json!([{"match": {"service": s}}]);
    match kind {
        Kind::Mesh => {
            json!({"logging": {"backends": [{"name": "file", "type": "file", "conf": {"path": "/tmp/access.log"}}]}})
        }
        Kind::Dataplane => json!({"networking": {"address": "127.0.0.1",
            "inbound": [{"port": 10001, "servicePort": 8080, "tags": {"service": "web", "version": "v1"}}],
            "outbound": [{"port": 20001, "service": "backend"}]}}),
        Kind::DataplaneInsight => {
            json!({"subscriptions": [{"id": "example", "controlPlaneInstanceId": "example",
            "connectTime": "2020-01-01T00:00:00Z"}]})
        }
        Kind::HealthCheck => json!({"sources": service("web"), "destinations": service("backend"),
            "conf": {"activeChecks": {"interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1}}}),
        Kind::ProxyTemplate => {
            json!({"selectors": service("backend"), "conf": {"imports": ["default-proxy"]}})
        }
        Kind::TrafficLog => {
            json!({"sources": service("web"), "destinations": service("backend"), "conf": {"backend": "file"}})
        }
        Kind::TrafficPermission => {
            json!({"sources": service("web"), "destinations": service("backend")})
        }
        Kind::TrafficRoute => json!({"sources": service("web"), "destinations": service("backend"),
            "conf": [{"weight": 100, "destination": {"service": "backend"}}]}),
        Kind::TrafficTrace => json!({"selectors": service("*")}),
        Kind::FaultInjection => {
            json!({"sources": json!([{"match": {"service": "web", "protocol": "http"}}]),
            "destinations": json!([{"match": {"service": "backend", "protocol": "http"}}]),
            "conf": {"delay": {"percentage": 50.5, "value": "5s"}}})
        }
    }
}

/// A whole PUT body of `kind` named `name` in `mesh`.
pub fn example(kind: Kind, mesh: &str, name: &str) -> Value {
    let mut body = Map::new();
    body.insert("type".into(), json!(kind.type_name()));
    if kind != Kind::Mesh {
        body.insert("mesh".into(), json!(mesh));
    }
    body.insert("name".into(), json!(name));
    if let Value::Object(spec) = example_spec(kind) {
        body.extend(spec);
    }
    Value::Object(body)
}

/// A resource as a PUT sends it (the times are accepted and ignored).
fn put_schema(type_name: &str, in_mesh: bool) -> Value {
    let mut props = meta_properties(type_name, in_mesh);
    props.insert("creationTime".into(), json!({"type": "string"}));
    props.insert("modificationTime".into(), json!({"type": "string"}));
    json!({
        "type": "object",
        "description": format!("A {type_name} to store: `type`, `name` (and `mesh`) must match the path"),
        "properties": props,
        "additionalProperties": true,
    })
}

fn components() -> Value {
    let mut schemas = Map::new();
    schemas.insert("Error".into(), json!({
        "type": "object",
        "description": "Kuma's error JSON",
        "required": ["title", "details"],
        "properties": {
            "title": {"type": "string", "description": "What was attempted, e.g. Could not create a resource"},
            "details": {"type": "string", "description": "Why it failed, e.g. Resource is not valid"},
            "causes": {"type": "array", "items": reference("schemas", "Cause")}
        },
        "additionalProperties": false
    }));
    schemas.insert("Cause".into(), json!({
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "The JSON path of the wrong value, e.g. networking.inbound[0].port, or a parameter or header name"},
            "message": {"type": "string"}
        },
        "additionalProperties": false
    }));
    schemas.insert(
        "Index".into(),
        json!({
            "type": "object",
            "required": ["hostname", "tagline", "version"],
            "properties": {
                "hostname": {"type": "string"},
                "tagline": {"const": "Kuma"},
                "version": {"type": "string"},
                "product": {"const": "Ursa"}
            }
        }),
    );
    let entry = json!({"type": "object", "properties": {"url": {"type": "string"}, "localUrl": {"type": "string"}, "publicUrl": {"type": "string"}}});
    schemas.insert(
        "Catalog".into(),
        json!({
            "type": "object",
            "required": ["apis"],
            "properties": {"apis": {"type": "object", "additionalProperties": entry}}
        }),
    );
    for &kind in Kind::ALL {
        let name = schema_name(kind);
        let in_mesh = kind != Kind::Mesh;
        schemas.insert(name.into(), resource_schema(name, in_mesh));
        let mut put = put_schema(name, in_mesh);
        let example_name = if in_mesh { EXAMPLE_NAME } else { EXAMPLE_MESH };
        put["examples"] = json!([example(kind, EXAMPLE_MESH, example_name)]);
        schemas.insert(format!("{name}Put"), put);
    }
    schemas.insert("DataplaneOverview".into(), {
        let mut s = resource_schema("DataplaneOverview", true);
        if let Some(props) = s.get_mut("properties").and_then(Value::as_object_mut) {
            props.insert("dataplane".into(), json!({"type": "object"}));
            props.insert("dataplaneInsight".into(), json!({"type": "object"}));
        }
        if let Some(required) = s.get_mut("required").and_then(Value::as_array_mut) {
            required.push(json!("dataplane"));
            required.push(json!("dataplaneInsight"));
        }
        s
    });
    json!({
        "schemas": schemas,
        "parameters": {
            "mesh": {"name": "mesh", "in": "path", "required": true, "schema": {"type": "string"}, "example": EXAMPLE_MESH},
            "name": {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "example": EXAMPLE_NAME},
            "size": {"name": "size", "in": "query", "description": "Page size (default 1000)", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}},
            "offset": {"name": "offset", "in": "query", "description": "Items to skip", "schema": {"type": "integer", "minimum": 0}},
            "tag": {"name": "tag", "in": "query", "description": "key:value (value * for any); repeatable, all must match", "schema": {"type": "array", "items": {"type": "string"}}, "style": "form", "explode": true},
            "gateway": {"name": "gateway", "in": "query", "description": "Only gateway dataplanes", "schema": {"type": "boolean"}},
            "nameContains": {"name": "name", "in": "query", "description": "Only dataplanes whose name contains this", "schema": {"type": "string"}},
            "watch": {"name": "watch", "in": "query", "description": "Stream the list as Server-Sent Events: the current items (added), synced, then every change (added, updated, deleted; insights too)", "schema": {"type": "boolean"}},
            "resourceVersion": {"name": "resourceVersion", "in": "query", "description": "With watch: resume after this event id instead of starting with the current items (Last-Event-ID works too)", "schema": {"type": "string"}},
            "timeoutSeconds": {"name": "timeoutSeconds", "in": "query", "description": "With watch: end the stream after this long (at most and by default 1800)", "schema": {"type": "integer", "minimum": 1, "maximum": 1800}},
            "dryRun": {"name": "dryRun", "in": "query", "description": "Validate and answer as the write would, change nothing", "schema": {"type": "boolean"}},
            "If-Match": {"name": "If-Match", "in": "header", "description": "Write only if the resource's ETag is one of these (or * : it exists)", "schema": {"type": "string"}},
            "If-None-Match": {"name": "If-None-Match", "in": "header", "description": "* : create only", "schema": {"type": "string"}}
        },
        "headers": {
            "ETag": {"description": "The resource's store version, for If-Match", "schema": {"type": "string"}}
        },
        "responses": {
            "Error": error("A refusal, in Kuma's error JSON")
        },
        "securitySchemes": {
            "userToken": {"type": "http", "scheme": "bearer", "description": "A user token (ursa-cp token --user NAME, or the admin server's POST /tokens/users); required for writes when apiServer.auth.enabled"}
        }
    })
}
