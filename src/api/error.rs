//! Every way an API request fails, and the one place where failures become Kuma's error JSON
//! (`{"title", "details", "causes"}`) with a status code.

use actix_web::http::{header, Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use ursa_actors::precondition::{Clause, Failed};
use ursa_actors::store::StoreError;
use ursa_actors::validation::{Cause, Violations};
use ursa_actors::Error;

use crate::http::guard::{Rejection, MAX_HEAD, MAX_HEADERS, MAX_REQUEST_LINE};

/// What the request was trying to do; becomes the error's `title`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Title {
    /// GET of one resource.
    Retrieve,
    /// GET of a list.
    RetrieveList,
    /// PUT: body decoding and envelope checks.
    Process,
    /// PUT that creates.
    Create,
    /// PUT that updates.
    Update,
    /// DELETE.
    Delete,
    /// GET of one overview.
    RetrieveOverview,
    /// GET of an overview list.
    RetrieveOverviews,
    /// POST to the bootstrap server.
    Bootstrap,
}

impl Title {
    fn as_str(self) -> &'static str {
        match self {
            Title::Retrieve => "Could not retrieve a resource",
            Title::RetrieveList => "Could not retrieve resources",
            Title::Process => "Could not process a resource",
            Title::Create => "Could not create a resource",
            Title::Update => "Could not update a resource",
            Title::Delete => "Could not delete a resource",
            Title::RetrieveOverview => "Could not retrieve a dataplane overview",
            Title::RetrieveOverviews => "Could not retrieve dataplane overviews",
            Title::Bootstrap => "Could not generate a bootstrap configuration",
        }
    }
}

impl From<ursa_actors::Op> for Title {
    fn from(op: ursa_actors::Op) -> Title {
        match op {
            ursa_actors::Op::Create => Title::Create,
            ursa_actors::Op::Update => Title::Update,
        }
    }
}

/// A failed API request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The domain refused or failed the operation.
    #[error("{}: {error}", .title.as_str())]
    Domain {
        /// What was attempted.
        title: Title,
        /// Why it failed.
        error: Error,
    },
    /// No route matches the path.
    #[error("no endpoint at {0}")]
    NoRoute(String),
    /// The route exists but not with this method.
    #[error("method {method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request's method.
        method: Method,
        /// The request's path.
        path: String,
        /// What the route accepts.
        allowed: &'static [Method],
    },
    /// The client does not accept JSON.
    #[error("cannot produce a response matching Accept: {0}")]
    NotAcceptable(String),
    /// The body is not declared as JSON.
    #[error("unsupported Content-Type {0}")]
    UnsupportedMediaType(String),
    /// `apiServer.readOnly` is on and this is a write.
    #[error("the API server is read-only")]
    ReadOnly,
    /// `size` is not a valid page size.
    #[error("invalid page size: {message}")]
    InvalidPageSize {
        /// List or overview list.
        title: Title,
        /// The cause's message.
        message: String,
    },
    /// A query parameter of Ursa's own (`dryRun`, `watch`, `resourceVersion`) has a bad value.
    #[error("invalid query parameter {name}: {message}")]
    InvalidParameter {
        /// The parameter.
        name: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Writer authentication refused the request's token.
    #[error("unauthorized: {0}")]
    Unauthorized(crate::auth::TokenError),
    /// A watch cannot resume where it was asked to.
    #[error("gone: {0}")]
    Gone(String),
    /// `offset` is not a valid offset.
    #[error("invalid offset")]
    InvalidOffset {
        /// List or overview list.
        title: Title,
    },
    /// The body is larger than the server accepts.
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// The body could not be read from the connection.
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// The body did not arrive within `limits.http.readBodyTimeout`.
    #[error("the request body did not arrive within {0:?}")]
    BodyTimeout(std::time::Duration),
    /// The body is compressed or otherwise encoded.
    #[error("unsupported Content-Encoding {0}")]
    UnsupportedEncoding(String),
    /// The request head was refused before it was parsed.
    #[error("request refused: {}", .0.code())]
    Rejected(Rejection),

    /// A bug or an unexpected failure; logged, never echoed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A domain error while doing `title`.
    pub fn domain(title: Title, error: Error) -> ApiError {
        ApiError::Domain { title, error }
    }

    /// A PUT body that could not be decoded or failed the envelope checks.
    pub fn malformed(v: Violations) -> ApiError {
        ApiError::domain(Title::Process, Error::Malformed(v))
    }

    /// The status, title, details and causes of this error.
    fn parts(&self) -> (StatusCode, &str, String, Vec<Cause>) {
        const INTERNAL: &str = "Internal Server Error";
        match self {
            ApiError::Domain { title, error } => {
                let title = title.as_str();
                match error {
                    Error::NotFound => (StatusCode::NOT_FOUND, title, "Not found".into(), vec![]),
                    Error::MeshNotFound(mesh) => (
                        StatusCode::BAD_REQUEST,
                        title,
                        "Mesh is not found".into(),
                        vec![Cause {
                            field: "mesh".into(),
                            message: format!("mesh of name {mesh} is not found"),
                        }],
                    ),
                    Error::Malformed(v) | Error::Invalid(v) => (
                        StatusCode::BAD_REQUEST,
                        title,
                        "Resource is not valid".into(),
                        v.wire_causes(),
                    ),
                    Error::Conflict => (StatusCode::PRECONDITION_FAILED, title, "Precondition Failed".into(), vec![]),
                    Error::PreconditionFailed(failed) => (
                        StatusCode::PRECONDITION_FAILED,
                        title,
                        "Precondition Failed".into(),
                        vec![precondition_cause(failed)],
                    ),
                    Error::Store(StoreError::Unavailable(_)) | Error::ActorGone => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        title,
                        "Service Unavailable".into(),
                        vec![],
                    ),
                    Error::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, title, INTERNAL.into(), vec![]),
                }
            }
            ApiError::NoRoute(path) => (
                StatusCode::NOT_FOUND,
                "Page Not Found",
                format!("there is no endpoint at {path}"),
                vec![],
            ),
            ApiError::MethodNotAllowed { method, path, allowed } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                format!("{method} is not allowed on {path}; allowed: {}", join(allowed, ", ")),
                vec![],
            ),
            ApiError::NotAcceptable(accept) => (
                StatusCode::NOT_ACCEPTABLE,
                "Not Acceptable",
                format!("the API answers application/json, which Accept: {accept} does not allow"),
                vec![],
            ),
            ApiError::UnsupportedMediaType(ct) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                format!("the request body must be application/json, not {ct}"),
                vec![],
            ),
            ApiError::ReadOnly => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method Not Allowed",
                "The API server is read-only (apiServer.readOnly): PUT and DELETE are disabled. You can still use GET requests.".into(),
                vec![],
            ),
            ApiError::InvalidPageSize { title, message } => (
                StatusCode::BAD_REQUEST,
                title.as_str(),
                "Invalid page size".into(),
                vec![Cause {
                    field: "size".into(),
                    message: message.clone(),
                }],
            ),
            ApiError::InvalidParameter { name, message } => (
                StatusCode::BAD_REQUEST,
                "Bad Request",
                format!("Invalid query parameter {name}"),
                vec![Cause {
                    field: (*name).into(),
                    message: message.clone(),
                }],
            ),
            ApiError::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                why.to_string(),
                vec![],
            ),
            ApiError::Gone(details) => (
                StatusCode::GONE,
                "Gone",
                details.clone(),
                vec![Cause {
                    field: "resourceVersion".into(),
                    message: "no longer available".into(),
                }],
            ),
            ApiError::InvalidOffset { title } => (
                StatusCode::BAD_REQUEST,
                title.as_str(),
                "Invalid offset".into(),
                vec![Cause {
                    field: "offset".into(),
                    message: "Invalid format".into(),
                }],
            ),
            ApiError::BodyTooLarge(limit) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Title::Process.as_str(),
                "Payload Too Large".into(),
                vec![Cause {
                    field: "body".into(),
                    message: format!("request body must not be larger than {limit} bytes"),
                }],
            ),
            ApiError::BodyRead(_) => (
                StatusCode::BAD_REQUEST,
                Title::Process.as_str(),
                "Could not read the request body".into(),
                vec![],
            ),
            ApiError::BodyTimeout(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                format!(
                    "the request body did not arrive within {}s (limits.http.readBodyTimeout)",
                    limit.as_secs_f64()
                ),
                vec![],
            ),
            ApiError::UnsupportedEncoding(encoding) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Unsupported Media Type",
                format!("request bodies must not be encoded, but Content-Encoding is {encoding}"),
                vec![],
            ),
            ApiError::Rejected(why) => rejection(*why),

            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, INTERNAL, INTERNAL.into(), vec![]),
        }
    }
}

/// Which header's precondition failed, and what the resource's state is.
fn precondition_cause(failed: &Failed) -> Cause {
    let (field, message) = match (failed.clause, failed.current) {
        (Clause::Match, None) => ("If-Match", "the resource does not exist".to_string()),
        (Clause::Match, Some(v)) => (
            "If-Match",
            format!("the resource's ETag is \"{v}\", which If-Match does not name"),
        ),
        (Clause::NoneMatch, v) => (
            "If-None-Match",
            format!("the resource exists (ETag \"{}\")", v.unwrap_or_default()),
        ),
    };
    Cause {
        field: field.into(),
        message,
    }
}

/// What a request refused before parsing is told.
fn rejection(why: Rejection) -> (StatusCode, &'static str, String, Vec<Cause>) {
    let (status, details) = match why {
        Rejection::RequestLine => (
            StatusCode::BAD_REQUEST,
            "the request line is malformed: expected METHOD /path HTTP/1.1".to_string(),
        ),
        Rejection::Target => (
            StatusCode::BAD_REQUEST,
            "the request target must be an absolute path such as /meshes".to_string(),
        ),
        Rejection::Version => (
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "the API speaks HTTP/1.0 and HTTP/1.1".to_string(),
        ),
        Rejection::Header => (
            StatusCode::BAD_REQUEST,
            "a request header is malformed (a header name must be a token, a value must not hold control characters)".to_string(),
        ),
        Rejection::UriTooLong => (
            StatusCode::URI_TOO_LONG,
            format!("the request line must not be longer than {MAX_REQUEST_LINE} bytes"),
        ),
        Rejection::HeadTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("the request head must not be larger than {MAX_HEAD} bytes"),
        ),
        Rejection::TooManyHeaders => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("a request must not carry more than {MAX_HEADERS} headers"),
        ),
        Rejection::Length => (
            StatusCode::BAD_REQUEST,
            "Content-Length must be one decimal number, and not be combined with Transfer-Encoding".to_string(),
        ),
        Rejection::TransferEncoding => (
            StatusCode::NOT_IMPLEMENTED,
            "the only transfer coding accepted is chunked".to_string(),
        ),
        Rejection::ReservedHeader => (
            StatusCode::BAD_REQUEST,
            format!("the header {} is reserved", crate::http::guard::REJECTED_HEADER),
        ),
        Rejection::HeadTimeout => (
            StatusCode::REQUEST_TIMEOUT,
            "the request head did not arrive in time (limits.http.readHeaderTimeout)".to_string(),
        ),
        Rejection::TooManyConnections => (
            StatusCode::SERVICE_UNAVAILABLE,
            "this client holds too many open connections (limits.http.maxConnectionsPerClient); close some and retry".to_string(),
        ),
    };
    (
        status,
        status.canonical_reason().unwrap_or("Bad Request"),
        details,
        vec![],
    )
}

fn join(methods: &[Method], sep: &str) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(sep)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    title: &'a str,
    details: &'a str,
    #[serde(skip_serializing_if = "<[Cause]>::is_empty")]
    causes: &'a [Cause],
}

impl ApiError {
    /// Failures that are the server's own (logged at ERROR); everything else is the client's.
    fn is_server_fault(&self) -> bool {
        matches!(
            self,
            ApiError::Internal(_)
                | ApiError::Domain {
                    error: Error::Store(StoreError::Internal(_)),
                    ..
                }
        )
    }

    /// The connection cannot be reused after this error (the body was not read).
    fn closes(&self) -> bool {
        matches!(
            self,
            ApiError::BodyTooLarge(_)
                | ApiError::BodyTimeout(_)
                | ApiError::BodyRead(_)
                | ApiError::Rejected(_)
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.parts().0
    }

    fn error_response(&self) -> HttpResponse {
        let (status, title, details, causes) = self.parts();
        if self.is_server_fault() {
            tracing::error!(error = %self, "request failed");
        } else if status.is_server_error() && matches!(self, ApiError::Domain { .. }) {
            // The store or an actor is unavailable: not the client's doing, but not a bug.
            tracing::warn!(error = %self, "request failed");
        }
        let body = ErrorBody {
            title,
            details: &details,
            causes: &causes,
        };
        let mut resp = HttpResponse::build(status);
        if let ApiError::MethodNotAllowed { allowed, .. } = self {
            resp.insert_header((header::ALLOW, join(allowed, ", ")));
        }
        if let ApiError::Unauthorized(_) = self {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"ursa\""));
        }
        if self.closes() {
            resp.force_close();
        }
        match serde_json::to_vec(&body) {
            Ok(bytes) => resp.content_type("application/json").body(bytes),
            Err(_) => resp.finish(),
        }
    }
}
