//! The HTTP API on `apiServer.port`: Kuma's Universal-mode API. Every request goes through
//! [`dispatch`], which applies Kuma's transport rules (path cleaning, CORS, 404/405/406/415,
//! read-only mode) before a handler in [`handlers`] talks to the actors.

pub mod conditional;
pub mod cors;
pub mod error;
pub mod handlers;
pub mod openapi;
pub mod pagination;
pub mod routes;
pub mod watch;

use std::time::{Duration, Instant};

use actix::Addr;
use actix_web::http::{header, Method};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use futures_util::StreamExt;
use ursa_actors::registry::MeshRegistry;
use ursa_actors::supervisor::Supervisor;

use self::cors::Cors;
use self::error::ApiError;
use self::pagination::Query;
use self::routes::Route;

/// Largest PUT body accepted (a ProxyTemplate with raw Envoy resources can be large).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// What every request handler needs, shared by all workers.
pub struct ApiState {
    /// Mesh name → actor.
    pub registry: MeshRegistry,
    /// Creates and deletes meshes.
    pub supervisor: Addr<Supervisor>,
    /// `apiServer.readOnly`.
    pub read_only: bool,
    /// Allowed CORS origins.
    pub cors: Cors,
    /// `limits.http.readBodyTimeout`.
    pub body_timeout: Duration,
    /// `http://<advertisedHostname>:<port>`, the base of `next` links.
    pub public_url: String,
    /// Body of `GET /`.
    pub index: Bytes,
    /// Body of `GET /config`.
    pub config: Bytes,
    /// Body of `GET /catalog`.
    pub catalog: Bytes,
    /// Body of `GET /_openapi.json`.
    pub openapi: Bytes,
    /// Checks user tokens when writer authentication is on (`apiServer.auth.enabled`).
    pub auth: Option<std::sync::Arc<crate::auth::Tokens>>,
    /// `apiServer.auth.readsRequireToken`.
    pub reads_require_token: bool,
    /// Requests by route and status, and their latency.
    pub metrics: std::sync::Arc<crate::diagnostics::ApiMetrics>,
}

/// Registers the API on an actix-web app.
pub fn configure(state: web::Data<ApiState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(state).default_service(web::to(dispatch));
    }
}

/// Entry point of every request.
pub async fn dispatch(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<ApiState>,
) -> HttpResponse {
    let started = Instant::now();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.cors.allows(o))
        .map(str::to_string);
    let mut resp = match route(&req, payload, &state, origin.as_deref()).await {
        Ok(resp) => resp,
        Err(e) => e.error_response(),
    };
    if let Some(origin) = origin {
        if let Ok(value) = header::HeaderValue::from_str(&origin) {
            let headers = resp.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                header::HeaderValue::from_static("Access-Control-Allow-Origin"),
            );
        }
    }
    let elapsed = started.elapsed();
    let template = match routes::cleaned(req.path()) {
        Some(_) => "redirect".to_string(),
        None => Route::resolve(&routes::segments(req.path()))
            .map_or_else(|| "unmatched".to_string(), |r| r.metric_label()),
    };
    state.metrics.observe(
        &template,
        req.method().as_str(),
        resp.status().as_u16(),
        elapsed,
    );
    tracing::debug!(
        method = %req.method(),
        path = %req.path(),
        status = resp.status().as_u16(),
        micros = elapsed.as_micros() as u64,
        "request"
    );
    resp
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    state: &ApiState,
    origin: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    if let Some(clean) = routes::cleaned(path) {
        let location = match req.query_string() {
            "" => clean,
            q => format!("{clean}?{q}"),
        };
        return Ok(HttpResponse::MovedPermanently()
            .insert_header((header::LOCATION, location))
            .finish());
    }
    let route = Route::resolve(&routes::segments(path))
        .ok_or_else(|| ApiError::NoRoute(path.to_string()))?;
    let method = req.method();
    if origin.is_some() && *method == Method::OPTIONS {
        if let Some(requested) = req.headers().get(header::ACCESS_CONTROL_REQUEST_METHOD) {
            return Ok(preflight(&route, requested.to_str().unwrap_or(""), req));
        }
    }
    if !route.methods().contains(method) {
        return Err(ApiError::MethodNotAllowed {
            method: method.clone(),
            path: path.to_string(),
            allowed: route.methods(),
        });
    }
    if let Some(tokens) = &state.auth {
        let open = *method == Method::GET
            && (!state.reads_require_token || matches!(route, Route::Index | Route::OpenApi));
        if !open {
            let header = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok());
            tokens
                .check_header(header)
                .map_err(ApiError::Unauthorized)?;
        }
    }
    check_accept(
        req,
        *method == Method::GET && watch::requested(req.query_string()),
    )?;
    if *method == Method::PUT {
        check_content_type(req)?;
    }
    if state.read_only && (*method == Method::PUT || *method == Method::DELETE) {
        return Err(ApiError::ReadOnly);
    }
    let body = if *method == Method::PUT {
        read_body(req, payload, MAX_BODY, state.body_timeout).await?
    } else {
        Bytes::new()
    };
    let query = Query::parse(req.query_string());
    let write = if *method == Method::PUT || *method == Method::DELETE {
        conditional::write_options(req.headers(), &query)?
    } else {
        Default::default()
    };
    if *method == Method::GET {
        if let Some(watch) = watch::watch(state, req, &route, &query) {
            return watch;
        }
    }
    match (method.clone(), route) {
        (_, Route::Index) => Ok(static_json(&state.index)),
        (_, Route::Config) => Ok(static_json(&state.config)),
        (_, Route::Catalog) => Ok(static_json(&state.catalog)),
        (_, Route::OpenApi) => Ok(static_json(&state.openapi)),
        (_, Route::Meshes) => handlers::list_meshes(state, path, &query).await,
        (Method::GET, Route::Mesh { name }) => handlers::get_mesh(state, &name).await,
        (Method::PUT, Route::Mesh { name }) => handlers::put_mesh(state, &name, &body, write).await,
        (_, Route::Mesh { name }) => handlers::delete_mesh(state, &name, write).await,
        (_, Route::Collection { mesh, kind }) => {
            handlers::list_resources(state, &mesh, kind, path, &query).await
        }
        (_, Route::Global { kind }) => handlers::list_global(state, kind, path, &query).await,
        (Method::GET, Route::Item { mesh, kind, name }) => {
            handlers::get_resource(state, &mesh, kind, &name).await
        }
        (Method::PUT, Route::Item { mesh, kind, name }) => {
            handlers::put_resource(state, &mesh, kind, &name, &body, write).await
        }
        (_, Route::Item { mesh, kind, name }) => {
            handlers::delete_resource(state, &mesh, kind, &name, write).await
        }
        (_, Route::Overviews { mesh }) => {
            handlers::list_overviews(state, mesh.as_deref(), path, &query).await
        }
        (_, Route::Overview { mesh, name }) => handlers::get_overview(state, &mesh, &name).await,
    }
}

fn static_json(body: &Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(body.clone())
}

/// A CORS pre-flight (D14): 200, and the allow headers when the requested method exists on
/// the path. The requested headers are allowed (Kuma allowed none, which broke `content-type`).
fn preflight(route: &Route, requested: &str, req: &HttpRequest) -> HttpResponse {
    let mut resp = HttpResponse::Ok();
    if route.methods().iter().any(|m| m.as_str() == requested) {
        let methods: Vec<&str> = route.methods().iter().map(Method::as_str).collect();
        resp.insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, methods.join(",")));
        let headers = req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        resp.insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, headers));
    }
    resp.finish()
}

/// Every response is JSON (a watch: Server-Sent Events): `Accept`, when given, must allow it.
fn check_accept(req: &HttpRequest, watch: bool) -> Result<(), ApiError> {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(());
    };
    let accept = accept.to_str().unwrap_or("");
    let ok = accept.split(',').any(|item| {
        let media = item.split(';').next().unwrap_or("").trim();
        media.is_empty()
            || media == "*/*"
            || media.eq_ignore_ascii_case("application/*")
            || media.eq_ignore_ascii_case("application/json")
            || (watch && media.eq_ignore_ascii_case("text/event-stream"))
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::NotAcceptable(accept.to_string()))
    }
}

/// D12: a PUT body is `application/json` (parameters allowed) or undeclared.
fn check_content_type(req: &HttpRequest) -> Result<(), ApiError> {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let raw = ct.to_str().unwrap_or("");
    let media = raw.split(';').next().unwrap_or("").trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(raw.to_string()))
    }
}

/// Reads a whole request body of at most `limit` bytes within `timeout`. A declared length
/// over the limit is refused before anything is read, and an encoded body is refused (the API
/// reads JSON as sent; a gzip body read as JSON would be garbage).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    if let Some(encoding) = req.headers().get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or("").trim();
        if !encoding.eq_ignore_ascii_case("identity") {
            return Err(ApiError::UnsupportedEncoding(encoding.to_string()));
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::BodyTooLarge(limit));
    }
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::BodyRead(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::BodyTooLarge(limit));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    actix_web::rt::time::timeout(timeout, read)
        .await
        .map_err(|_| ApiError::BodyTimeout(timeout))?
}
