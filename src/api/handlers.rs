//! One function per endpoint. Reads are answered from the state each mesh actor publishes
//! after every change (no round trip through the actor); writes become messages to the
//! supervisor or a mesh actor. Serialisation happens here, never in an actor.

use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;
use serde::Serialize;
use ursa_actors::kinds::mesh::CaFiles;
use ursa_actors::kinds::Kind;
use ursa_actors::mesh_actor::{DeleteResource, PutResource};
use ursa_actors::overview::OverviewFilter;
use ursa_actors::page::{merge, Page, PageRequest};
use ursa_actors::resource::decode_put;
use ursa_actors::supervisor::{DeleteMesh, PutMesh};
use ursa_actors::{Error, MeshScopedSpec, Op, OpError, Spec, WriteOptions};

use super::conditional::etag;
use super::error::{ApiError, Title};
use super::pagination::Query;
use super::ApiState;

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<HttpResponse, ApiError> {
    json_sized(status, body, 512)
}

/// A JSON response expected to be about `capacity` bytes (a list page of a thousand
/// resources is ~1 MB: growing the buffer from empty would copy it twenty times).
fn json_sized<T: Serialize>(
    status: StatusCode,
    body: &T,
    capacity: usize,
) -> Result<HttpResponse, ApiError> {
    let mut bytes = Vec::with_capacity(capacity);
    serde_json::to_writer(&mut bytes, body)
        .map_err(|e| ApiError::Internal(format!("serialising a response: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(bytes))
}

#[derive(Serialize)]
struct ListBody<'a, T> {
    total: usize,
    items: &'a [T],
    next: Option<String>,
}

/// A list response for `page` answered from `req`.
fn list_response<T: Serialize>(
    state: &ApiState,
    path: &str,
    query: &Query,
    req: PageRequest,
    page: &Page<T>,
) -> Result<HttpResponse, ApiError> {
    let next = req
        .has_next(page.total)
        .then(|| query.next_url(&state.public_url, path, req.next_offset()));
    // ~0.5 KB per Dataplane, ~1 KB with its insight.
    json_sized(
        StatusCode::OK,
        &ListBody {
            total: page.total,
            items: &page.items,
            next,
        },
        256 + page.items.len() * 512,
    )
}

fn put_response(op: Op) -> HttpResponse {
    match op {
        Op::Create => HttpResponse::Created().finish(),
        Op::Update => HttpResponse::Ok().finish(),
    }
}

/// One resource, with its store version as its `ETag`.
fn resource_response(resource: &ursa_actors::Resource) -> Result<HttpResponse, ApiError> {
    let mut resp = json(StatusCode::OK, resource)?;
    resp.headers_mut()
        .insert(header::ETAG, etag(resource.meta.version));
    Ok(resp)
}

/// `GET /meshes/{name}`.
pub async fn get_mesh(state: &ApiState, name: &str) -> Result<HttpResponse, ApiError> {
    let mesh = state
        .registry
        .state(name)
        .ok_or_else(|| ApiError::domain(Title::Retrieve, Error::NotFound))?;
    resource_response(&mesh.mesh)
}

/// `GET /meshes`.
pub async fn list_meshes(
    state: &ApiState,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let req = query.page(Title::RetrieveList)?;
    let all = state.registry.states();
    let total = all.len();
    let items: Vec<_> = req
        .slice(all.into_iter())
        .into_iter()
        .map(|mesh| mesh.mesh.clone())
        .collect();
    list_response(state, path, query, req, &Page { total, items })
}

/// `PUT /meshes/{name}`.
pub async fn put_mesh(
    state: &ApiState,
    name: &str,
    body: &[u8],
    write: WriteOptions,
) -> Result<HttpResponse, ApiError> {
    let spec = match decode_put(Kind::Mesh, name, name, body).map_err(ApiError::malformed)? {
        Spec::Mesh(spec) => spec,
        _ => {
            return Err(ApiError::Internal(
                "decoded a Mesh body into another kind".into(),
            ))
        }
    };
    // Off the actors' thread: a CA file that is slow to read holds up this request only.
    let files = CaFiles::read(spec.mtls.as_ref()).await;
    let reply = state
        .supervisor
        .send(PutMesh {
            name: name.to_string(),
            spec,
            files,
            write,
        })
        .await
        .map_err(|_| ApiError::domain(Title::Create, Error::ActorGone))?;
    reply
        .map(put_response)
        .map_err(|e| ApiError::domain(e.op.into(), e.error))
}

/// `DELETE /meshes/{name}`.
pub async fn delete_mesh(
    state: &ApiState,
    name: &str,
    write: WriteOptions,
) -> Result<HttpResponse, ApiError> {
    state
        .supervisor
        .send(DeleteMesh {
            name: name.to_string(),
            write,
        })
        .await
        .map_err(|_| ApiError::domain(Title::Delete, Error::ActorGone))?
        .map_err(|e| ApiError::domain(Title::Delete, e))?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /meshes/{mesh}/{T}/{name}`.
pub async fn get_resource(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::domain(Title::Retrieve, Error::NotFound);
    let mesh = state.registry.state(mesh).ok_or_else(not_found)?;
    let resource = mesh.get(kind, name).ok_or_else(not_found)?;
    resource_response(resource)
}

/// `GET /meshes/{mesh}/{T}`.
pub async fn list_resources(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let req = query.page(Title::RetrieveList)?;
    let page = match state.registry.state(mesh) {
        // A mesh that does not exist lists nothing (§3.5).
        None => Page::default(),
        Some(mesh) => mesh.list(kind, req),
    };
    list_response(state, path, query, req, &page)
}

/// `GET /{T}`: every mesh's prefix of the page, merged by name then mesh (D4).
pub async fn list_global(
    state: &ApiState,
    kind: Kind,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let req = query.page(Title::RetrieveList)?;
    let prefix = req.prefix();
    let pages = state
        .registry
        .states()
        .iter()
        .map(|mesh| mesh.list(kind, prefix))
        .collect();
    let page = merge(pages, req);
    list_response(state, path, query, req, &page)
}

/// `PUT /meshes/{mesh}/{T}/{name}`.
pub async fn put_resource(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    name: &str,
    body: &[u8],
    write: WriteOptions,
) -> Result<HttpResponse, ApiError> {
    let spec = decode_put(kind, mesh, name, body).map_err(ApiError::malformed)?;
    let current = state.registry.state(mesh);
    let exists = |kind| {
        current
            .as_ref()
            .is_some_and(|m| m.get(kind, name).is_some())
    };
    let op = if exists(kind) { Op::Update } else { Op::Create };
    // An owned resource (an insight) needs its owner, and a missing mesh has none (§3.6.1,
    // §3.9); the actor checks again against its pending writes.
    if kind.owner().is_some_and(|owner| !exists(owner)) {
        return Err(ApiError::domain(op.into(), Error::NotFound));
    }
    // Validation errors take precedence over a missing mesh (§3.6.1). They are found here, on
    // the request's thread, not on the actor's.
    let spec =
        MeshScopedSpec::new(spec).map_err(|v| ApiError::domain(op.into(), Error::Invalid(v)))?;
    // The mesh went away while the request was in flight: answer as if it were already gone.
    let missing_mesh = || {
        let error = Error::mesh_gone(kind, mesh);
        let title = match error {
            Error::MeshNotFound(_) => Title::Create,
            _ => op.into(),
        };
        ApiError::domain(title, error)
    };
    let addr = state.registry.get(mesh).ok_or_else(missing_mesh)?;
    match addr
        .send(PutResource {
            name: name.to_string(),
            spec,
            write,
        })
        .await
    {
        Ok(Ok(op)) => Ok(put_response(op)),
        Ok(Err(OpError {
            error: Error::MeshNotFound(_),
            ..
        }))
        | Err(_) => Err(missing_mesh()),
        Ok(Err(e)) => Err(ApiError::domain(e.op.into(), e.error)),
    }
}

/// `DELETE /meshes/{mesh}/{T}/{name}`.
pub async fn delete_resource(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    name: &str,
    write: WriteOptions,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::domain(Title::Delete, Error::NotFound);
    let addr = state.registry.get(mesh).ok_or_else(not_found)?;
    addr.send(DeleteResource {
        kind,
        name: name.to_string(),
        write,
    })
    .await
    .map_err(|_| not_found())?
    .map_err(|e| ApiError::domain(Title::Delete, e))?;
    Ok(HttpResponse::Ok().finish())
}

/// `GET /meshes/{mesh}/dataplanes+insights/{name}`.
pub async fn get_overview(
    state: &ApiState,
    mesh: &str,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::domain(Title::RetrieveOverview, Error::NotFound);
    let mesh = state.registry.state(mesh).ok_or_else(not_found)?;
    let overview = mesh.overview(name).ok_or_else(not_found)?;
    json(StatusCode::OK, &overview)
}

/// `GET /meshes/{mesh}/dataplanes+insights` and `GET /dataplanes+insights` with D5 filters.
pub async fn list_overviews(
    state: &ApiState,
    mesh: Option<&str>,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let req = query.page(Title::RetrieveOverviews)?;
    let filter = OverviewFilter::from_query(
        &query.all("tag"),
        query.first("gateway"),
        query.first("name"),
    );
    let meshes = match mesh {
        Some(mesh) => state.registry.state(mesh).into_iter().collect(),
        None => state.registry.states(),
    };
    let ask = if mesh.is_some() { req } else { req.prefix() };
    let pages: Vec<_> = meshes.iter().map(|m| m.overviews(&filter, ask)).collect();
    let page = if mesh.is_some() {
        pages.into_iter().next().unwrap_or_default()
    } else {
        merge(pages, req)
    };
    list_response(state, path, query, req, &page)
}
