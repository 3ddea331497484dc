//! The admin server on `adminServer.local.port`, on 127.0.0.1 only: what only an operator on
//! the control plane's machine may do. `POST /tokens/user` issues a user token
//! (`{"name": "alice", "validFor": "720h"}` → the token as text), `DELETE /tokens/user/{id}`
//! revokes one by its id (the token's `jti`). `POST /tokens` with `{"mesh", "name"}` issues a
//! dataplane token, answered as text as Kuma's dataplane-token server does (while
//! `adminServer.apis.dataplaneToken.enabled`). Every failure is Kuma's error JSON.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use serde::Deserialize;
use ursa_actors::config::GoDuration;
use ursa_actors::validation::Violations;
use ursa_actors::Error;

use crate::api::error::{ApiError, Title};
use crate::auth::Tokens;
use crate::dataplane_token::DataplaneTokens;

/// What the admin server needs.
pub struct AdminState {
    /// Issues and revokes user tokens.
    pub tokens: Arc<Tokens>,
    /// Issues dataplane tokens; `None` when the API is off.
    pub dataplane_tokens: Option<Arc<DataplaneTokens>>,
    /// `limits.http.readBodyTimeout`.
    pub body_timeout: Duration,
}

/// Largest request body (a token request is a few bytes).
const MAX_BODY: usize = 64 * 1024;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenRequest {
    name: String,
    #[serde(default)]
    valid_for: Option<String>,
}

/// Registers the admin routes on an actix-web app.
pub fn configure(state: web::Data<AdminState>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg| {
        cfg.app_data(state.clone())
            .route("/tokens", web::post().to(issue_dataplane))
            .route("/tokens/user", web::post().to(issue))
            .route("/tokens/user/{id}", web::delete().to(revoke))
            .default_service(web::to(|req: HttpRequest| async move {
                ApiError::NoRoute(req.path().to_string()).error_response()
            }));
    }
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError::domain(
        Title::Process,
        Error::Invalid(Violations::single(field, message)),
    )
}

async fn issue(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let answer = async {
        let body = crate::api::read_body(&req, payload, MAX_BODY, state.body_timeout).await?;
        let request: TokenRequest = serde_json::from_slice(&body).map_err(|e| {
            invalid(
                "body",
                &format!("expected {{\"name\": …, \"validFor\": …}}: {e}"),
            )
        })?;
        let name = request.name.trim();
        if name.is_empty() || name.len() > 253 || name.chars().any(char::is_control) {
            return Err(invalid("name", "must be 1 to 253 printable characters"));
        }
        let valid_for = match request.valid_for.as_deref() {
            None | Some("") => None,
            Some(text) => Some(
                text.parse::<GoDuration>()
                    .map_err(|e| {
                        invalid(
                            "validFor",
                            &format!("expected a duration such as \"24h\": {e}"),
                        )
                    })?
                    .0,
            ),
        };
        let (token, claims) = state.tokens.issue(name, valid_for);
        tracing::info!(user = %claims.sub, id = %claims.jti, "issued a user token");
        Ok::<_, ApiError>(HttpResponse::Ok().content_type("text/plain").body(token))
    };
    answer.await.unwrap_or_else(|e| e.error_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataplaneTokenRequest {
    #[serde(default)]
    mesh: String,
    #[serde(default)]
    name: String,
}

/// A name as the API accepts it (DNS-like, at most 253 characters, D17).
fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            "must be the name of a resource (1 to 253 letters, digits, '-', '_', '.')",
        ))
    }
}

async fn issue_dataplane(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AdminState>,
) -> HttpResponse {
    let answer = async {
        let Some(tokens) = &state.dataplane_tokens else {
            return Err(ApiError::NoRoute(req.path().to_string()));
        };
        let body = crate::api::read_body(&req, payload, MAX_BODY, state.body_timeout).await?;
        let request: DataplaneTokenRequest = serde_json::from_slice(&body).map_err(|e| {
            invalid(
                "body",
                &format!("expected {{\"mesh\": …, \"name\": …}}: {e}"),
            )
        })?;
        // Kuma's default mesh when none is named.
        let mesh = match request.mesh.trim() {
            "" => "default",
            m => m,
        };
        check_name("mesh", mesh)?;
        check_name("name", request.name.trim())?;
        let token = tokens.issue(mesh, request.name.trim());
        tracing::info!(%mesh, dataplane = %request.name.trim(), "issued a dataplane token");
        Ok::<_, ApiError>(HttpResponse::Ok().content_type("text/plain").body(token))
    };
    answer.await.unwrap_or_else(|e| e.error_response())
}

async fn revoke(path: web::Path<String>, state: web::Data<AdminState>) -> HttpResponse {
    let id = path.into_inner();
    match state.tokens.revoke(&id).await {
        Ok(()) => {
            tracing::info!(%id, "revoked a user token");
            HttpResponse::Ok().finish()
        }
        Err(e) => ApiError::domain(Title::Delete, Error::Store(e)).error_response(),
    }
}
