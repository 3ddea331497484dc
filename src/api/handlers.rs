//! One function per endpoint: turn the route and request into messages to the supervisor or
//! a mesh actor, and their replies into responses. Serialisation happens here, never in an
//! actor.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use futures_util::future::join_all;
use serde::Serialize;
use ursa_actors::kinds::ca::CaFiles;
use ursa_actors::kinds::Kind;
use ursa_actors::mesh_actor::{
    DeleteResource, GetMesh, GetOverview, GetResource, ListOverviews, ListResources, PutResource,
};
use ursa_actors::overview::OverviewFilter;
use ursa_actors::page::{merge, Page, PageRequest};
use ursa_actors::resource::decode_put;
use ursa_actors::supervisor::{DeleteMesh, PutMesh};
use ursa_actors::{Error, Op, OpError, Spec};

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

/// `GET /meshes/{name}`.
pub async fn get_mesh(state: &ApiState, name: &str) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::domain(Title::Retrieve, Error::NotFound);
    let addr = state.registry.get(name).ok_or_else(not_found)?;
    let mesh = addr.send(GetMesh).await.map_err(|_| not_found())?;
    json(StatusCode::OK, &*mesh)
}

/// `GET /meshes`.
pub async fn list_meshes(
    state: &ApiState,
    path: &str,
    query: &Query,
) -> Result<HttpResponse, ApiError> {
    let req = query.page(Title::RetrieveList)?;
    let all = state.registry.sorted();
    let total = all.len();
    let replies = join_all(
        req.slice(all.into_iter())
            .into_iter()
            .map(|(_, addr)| addr.send(GetMesh)),
    )
    .await;
    // A mesh deleted between the registry read and the reply is simply left out.
    let items = replies.into_iter().filter_map(Result::ok).collect();
    list_response(state, path, query, req, &Page { total, items })
}

/// `PUT /meshes/{name}`.
pub async fn put_mesh(state: &ApiState, name: &str, body: &[u8]) -> Result<HttpResponse, ApiError> {
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
        })
        .await
        .map_err(|_| ApiError::domain(Title::Create, Error::ActorGone))?;
    reply
        .map(put_response)
        .map_err(|e| ApiError::domain(e.op.into(), e.error))
}

/// `DELETE /meshes/{name}`.
pub async fn delete_mesh(state: &ApiState, name: &str) -> Result<HttpResponse, ApiError> {
    state
        .supervisor
        .send(DeleteMesh {
            name: name.to_string(),
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
    let addr = state.registry.get(mesh).ok_or_else(not_found)?;
    let resource = addr
        .send(GetResource {
            kind,
            name: name.to_string(),
        })
        .await
        .map_err(|_| not_found())?
        .map_err(|e| ApiError::domain(Title::Retrieve, e))?;
    json(StatusCode::OK, &*resource)
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
    let page = match state.registry.get(mesh) {
        // A mesh that does not exist lists nothing (§3.5).
        None => Page::default(),
        Some(addr) => addr
            .send(ListResources { kind, page: req })
            .await
            .unwrap_or_default(),
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
    let pages = join_all(
        state
            .registry
            .actors()
            .into_iter()
            .map(|addr| addr.send(ListResources { kind, page: prefix })),
    )
    .await;
    let page = merge(pages.into_iter().filter_map(Result::ok).collect(), req);
    list_response(state, path, query, req, &page)
}

/// `PUT /meshes/{mesh}/{T}/{name}`.
pub async fn put_resource(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    name: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let spec = decode_put(kind, mesh, name, body).map_err(ApiError::malformed)?;
    let missing_mesh = |spec: &Spec| -> ApiError {
        // An insight needs its Dataplane, and a missing mesh has none (§3.6.1, §3.9).
        if kind == Kind::DataplaneInsight {
            return ApiError::domain(Title::Create, Error::NotFound);
        }
        // Validation errors take precedence over a missing mesh (§3.6.1).
        let violations = spec.validate();
        if violations.is_empty() {
            ApiError::domain(Title::Create, Error::MeshNotFound(mesh.to_string()))
        } else {
            ApiError::domain(Title::Create, Error::Invalid(violations))
        }
    };
    let Some(addr) = state.registry.get(mesh) else {
        return Err(missing_mesh(&spec));
    };
    // The spec goes to the actor; in the rare race with a mesh delete, the body is decoded
    // again to tell a validation error from a missing mesh (cloning every spec up front
    // cost every PUT a deep copy).
    let again = || {
        decode_put(kind, mesh, name, body)
            .map_or_else(ApiError::malformed, |spec| missing_mesh(&spec))
    };
    match addr
        .send(PutResource {
            name: name.to_string(),
            spec,
        })
        .await
    {
        Ok(Ok(op)) => Ok(put_response(op)),
        // The mesh is being deleted: answer as if it were already gone.
        Ok(Err(OpError {
            error: Error::MeshNotFound(_),
            ..
        })) => Err(again()),
        Ok(Err(e)) => Err(ApiError::domain(e.op.into(), e.error)),
        // The mesh was deleted while the request was in flight.
        Err(_) => Err(again()),
    }
}

/// `DELETE /meshes/{mesh}/{T}/{name}`.
pub async fn delete_resource(
    state: &ApiState,
    mesh: &str,
    kind: Kind,
    name: &str,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::domain(Title::Delete, Error::NotFound);
    let addr = state.registry.get(mesh).ok_or_else(not_found)?;
    addr.send(DeleteResource {
        kind,
        name: name.to_string(),
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
    let addr = state.registry.get(mesh).ok_or_else(not_found)?;
    let overview = addr
        .send(GetOverview {
            name: name.to_string(),
        })
        .await
        .map_err(|_| not_found())?
        .map_err(|e| ApiError::domain(Title::RetrieveOverview, e))?;
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
    let filter = Arc::new(OverviewFilter::from_query(
        &query.all("tag"),
        query.first("gateway"),
        query.first("name"),
    ));
    let actors = match mesh {
        Some(mesh) => state.registry.get(mesh).into_iter().collect(),
        None => state.registry.actors(),
    };
    let ask = if mesh.is_some() { req } else { req.prefix() };
    let pages = join_all(actors.into_iter().map(|addr| {
        addr.send(ListOverviews {
            filter: filter.clone(),
            page: ask,
        })
    }))
    .await;
    let pages: Vec<_> = pages.into_iter().filter_map(Result::ok).collect();
    let page = if mesh.is_some() {
        pages.into_iter().next().unwrap_or_default()
    } else {
        merge(pages, req)
    };
    list_response(state, path, query, req, &page)
}
