//! The one error body: RFC 9457 `application/problem+json`.
//!
//! Every module has its own error enum; each converts into a [`Problem`] here or next to
//! the enum, so the table of stable `type` slugs and statuses lives in one place
//! ([`ProblemType`]). Extractor failures (JSON, query, path) go through the same body.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;

/// Stable problem types: clients switch on these, so they are never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemType {
    InvalidParameter,
    InvalidCohort,
    UnknownPlacement,
    ChannelRetired,
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    Forbidden,
    IdentityConflict,
    Conflict,
    VersionMismatch,
    InvalidContent,
    PayloadTooLarge,
    RequestTimeout,
    TooManyRequests,
    Unavailable,
    Internal,
}

impl ProblemType {
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::InvalidParameter | ProblemType::InvalidCohort => StatusCode::BAD_REQUEST,
            ProblemType::UnknownPlacement | ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::ChannelRetired => StatusCode::GONE,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::Unauthorized => StatusCode::UNAUTHORIZED,
            ProblemType::Forbidden => StatusCode::FORBIDDEN,
            ProblemType::IdentityConflict => StatusCode::CONFLICT,
            ProblemType::Conflict => StatusCode::CONFLICT,
            ProblemType::VersionMismatch => StatusCode::PRECONDITION_FAILED,
            ProblemType::InvalidContent => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemType::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemType::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ProblemType::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ProblemType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ProblemType::InvalidParameter => "A request parameter is invalid",
            ProblemType::InvalidCohort => "The cohort key is invalid or expired",
            ProblemType::UnknownPlacement => "No such placement",
            ProblemType::ChannelRetired => "The channel has been retired",
            ProblemType::NotFound => "Not found",
            ProblemType::MethodNotAllowed => "Method not allowed",
            ProblemType::Unauthorized => "Authentication required",
            ProblemType::Forbidden => "Not allowed",
            ProblemType::IdentityConflict => "The identifiers belong to people who must stay apart",
            ProblemType::Conflict => "The resource is not in a state for this",
            ProblemType::VersionMismatch => {
                "The resource changed since the version named in If-Match"
            }
            ProblemType::InvalidContent => "The content is not valid",
            ProblemType::PayloadTooLarge => "The request body is too large",
            ProblemType::RequestTimeout => "The request body did not arrive in time",
            ProblemType::TooManyRequests => "Too many requests from this client",
            ProblemType::Unavailable => "Temporarily unavailable",
            ProblemType::Internal => "Internal error",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            ProblemType::InvalidParameter => "invalid-parameter",
            ProblemType::InvalidCohort => "invalid-cohort",
            ProblemType::UnknownPlacement => "unknown-placement",
            ProblemType::ChannelRetired => "channel-retired",
            ProblemType::NotFound => "not-found",
            ProblemType::MethodNotAllowed => "method-not-allowed",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::Forbidden => "forbidden",
            ProblemType::IdentityConflict => "identity-conflict",
            ProblemType::Conflict => "conflict",
            ProblemType::VersionMismatch => "version-mismatch",
            ProblemType::InvalidContent => "invalid-content",
            ProblemType::PayloadTooLarge => "payload-too-large",
            ProblemType::RequestTimeout => "request-timeout",
            ProblemType::TooManyRequests => "too-many-requests",
            ProblemType::Unavailable => "unavailable",
            ProblemType::Internal => "internal",
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "channel-retired")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The offending request field, where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Every problem found, when there are several (content checks, Fluent syntax).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ContentError>,
    #[serde(skip)]
    problem_type: Option<ProblemType>,
    #[serde(skip)]
    retry_after: Option<u32>,
}

impl Problem {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Problem {
        Problem {
            kind: kind.slug(),
            title: kind.title(),
            status: kind.status().as_u16(),
            detail: detail.into(),
            field: None,
            errors: Vec::new(),
            problem_type: Some(kind),
            retry_after: None,
        }
    }

    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::InvalidParameter, detail).with_field(field)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    /// A `422` listing content problems; `field` names the first.
    pub fn invalid_content(detail: impl Into<String>, errors: Vec<ContentError>) -> Problem {
        let mut problem = Problem::new(ProblemType::InvalidContent, detail);
        problem.field = errors.first().and_then(|e| e.field.clone());
        problem.errors = errors;
        problem
    }

    pub fn with_retry_after(mut self, seconds: u32) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    pub fn problem_type(&self) -> Option<ProblemType> {
        self.problem_type
    }

    /// A 500 tells the caller little and logs the whole cause chain.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Problem {
        let mut chain = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push_str(": ");
            chain.push_str(&cause.to_string());
            source = cause.source();
        }
        tracing::error!(error = %chain, "internal error");
        Problem::new(
            ProblemType::Internal,
            "the server failed to answer; it has been logged",
        )
    }
}

/// One problem in submitted content: where (a field, or a line and column of a Fluent
/// resource) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ContentError {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

impl ResponseError for Problem {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.problem_type == Some(ProblemType::Unauthorized) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_vec(self).unwrap_or_default())
    }
}

/// Maps actix's extractor errors (bad JSON, query or path) to the problem body.
pub fn extractor_error(error: impl fmt::Display, field: Option<&str>) -> actix_web::Error {
    let mut problem = Problem::new(ProblemType::InvalidParameter, error.to_string());
    problem.field = field.map(str::to_string);
    problem.into()
}

/// Default service: an unknown route is a problem document, not an empty 404.
/// The default service: a path no route serves is a 404, and a path served only for
/// other methods a 405 naming them (`Allow`).
pub async fn not_found(req: actix_web::HttpRequest) -> HttpResponse {
    let allowed = req
        .app_data::<actix_web::web::Data<Routes>>()
        .and_then(|routes| routes.allow(req.path()));
    // A documented path whose pattern matches but whose route did not (a segment out
    // of its set, say) is not there for this method either: 404.
    let answered_here = |allow: &str| allow.split(", ").any(|m| m == req.method().as_str());
    match allowed {
        Some(allow) if !allow.is_empty() && !answered_here(allow) => {
            method_not_allowed(req.method(), allow)
        }
        _ => Problem::new(ProblemType::NotFound, "no such resource").error_response(),
    }
}

fn method_not_allowed(method: &actix_web::http::Method, allow: &str) -> HttpResponse {
    let mut response = Problem::new(
        ProblemType::MethodNotAllowed,
        format!("{method} is not served here; this path answers {allow}"),
    )
    .error_response();
    if let Ok(value) = header::HeaderValue::from_str(allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}

/// Which methods each documented path answers, from the OpenAPI document (so the two
/// cannot disagree), for `Allow` on a 405.
pub struct Routes {
    table: Vec<(actix_web::dev::ResourceDef, String)>,
}

impl Routes {
    pub fn from_openapi(document: &serde_json::Value) -> Routes {
        let table = document["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, item)| {
                let has = |method: &str| item.get(method).is_some();
                let methods: Vec<&str> = [
                    ("GET", has("get")),
                    ("HEAD", has("get") || has("head")),
                    ("POST", has("post")),
                    ("PUT", has("put")),
                    ("PATCH", has("patch")),
                    ("DELETE", has("delete")),
                ]
                .into_iter()
                .filter_map(|(method, served)| served.then_some(method))
                .collect();
                (
                    actix_web::dev::ResourceDef::new(path.as_str()),
                    methods.join(", "),
                )
            })
            .collect();
        let mut routes = Routes { table };
        // Served, but not API operations: the pages and the document itself.
        for page in ["/docs", "/dashboard", "/openapi.json"] {
            routes
                .table
                .push((actix_web::dev::ResourceDef::new(page), "GET, HEAD".into()));
        }
        routes
    }

    /// The `Allow` value for a path, if any documented path matches it.
    pub fn allow(&self, path: &str) -> Option<&str> {
        self.table
            .iter()
            .find(|(pattern, _)| pattern.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }
}

/// Middleware: a resource's bare `405` (a path served, another method asked) becomes a
/// problem+json naming the methods, with `Allow`.
pub async fn explain_method_not_allowed(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let response = next.call(req).await?;
    let bare_405 = response.status() == StatusCode::METHOD_NOT_ALLOWED
        && !response.headers().contains_key(header::CONTENT_TYPE);
    if !bare_405 {
        return Ok(response.map_into_left_body());
    }
    let allow = response
        .request()
        .app_data::<actix_web::web::Data<Routes>>()
        .and_then(|routes| routes.allow(response.request().path()))
        .filter(|allow| !allow.is_empty())
        .map(str::to_string);
    let method = response.request().method().clone();
    let answer = match allow {
        Some(allow) => method_not_allowed(&method, &allow),
        // Never an empty `Allow`: a path nobody documented is simply not here.
        None => Problem::new(ProblemType::NotFound, "no such resource").error_response(),
    };
    Ok(response.into_response(answer).map_into_right_body())
}

/// Middleware: `HEAD` is answered wherever `GET` is. The request is routed as a `GET`;
/// the HTTP layer remembers it was a `HEAD` and sends the headers (the same
/// `Content-Length`, `ETag`, cache headers) without the body.
pub async fn head_as_get(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    if req.method() == actix_web::http::Method::HEAD {
        req.head_mut().method = actix_web::http::Method::GET;
    }
    next.call(req).await
}

/// Reads a request body up to `limit` bytes; more is a `413` saying `limit_text`.
pub async fn read_body(
    mut payload: actix_web::web::Payload,
    limit: usize,
    limit_text: &str,
) -> Result<actix_web::web::BytesMut, Problem> {
    use futures_util::StreamExt;
    let read = async {
        let mut body = actix_web::web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| Problem::invalid("body", format!("could not read the body: {e}")))?;
            if body.len() + chunk.len() > limit {
                return Err(
                    Problem::new(ProblemType::PayloadTooLarge, limit_text).with_field("body")
                );
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    // A client that announces a body and sends it a byte at a time would otherwise hold
    // a connection (and its buffer) for as long as it likes.
    tokio::time::timeout(BODY_READ_TIMEOUT, read)
        .await
        .unwrap_or_else(|_| {
            Err(Problem::new(
                ProblemType::RequestTimeout,
                format!(
                    "the body did not arrive within {} s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            )
            .with_field("body"))
        })
}

/// How long a request body may take to arrive, whole.
pub const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The largest body any route reads (an event batch); a request that announces more
/// is refused at once, before anything reads it ([`refuse_oversized_bodies`]).
pub const MAX_REQUEST_BODY: u64 = 1024 * 1024;

/// Middleware: a `Content-Length` over [`MAX_REQUEST_BODY`] is answered `413` at once
/// (routes with smaller limits refuse past theirs while reading).
pub async fn refuse_oversized_bodies(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let announced = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > MAX_REQUEST_BODY) {
        let problem = Problem::new(
            ProblemType::PayloadTooLarge,
            format!("no request body here may be over {MAX_REQUEST_BODY} bytes"),
        )
        .with_field("body");
        return Ok(req
            .into_response(problem.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// A JSON request body of at most `limit` bytes (a `413` saying `limit_text` beyond),
/// as `T` (a `400` naming the wrong field): how handlers read a typed body.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    payload: actix_web::web::Payload,
    limit: usize,
    limit_text: &str,
) -> Result<T, Problem> {
    let body = read_body(payload, limit, limit_text).await?;
    json_body(&body)
}

/// The query's parameters named in `names`, each given at most once: a repeat is a `400`
/// naming it, rather than one value silently winning. Other parameters (cache busters,
/// `utm_*`) are not ours and are ignored.
pub fn single_params<'q>(
    query: &'q str,
    names: &[&'static str],
) -> Result<std::collections::BTreeMap<&'static str, std::borrow::Cow<'q, str>>, Problem> {
    let mut found = std::collections::BTreeMap::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(name) = names.iter().find(|n| **n == key) else {
            continue;
        };
        if found.insert(*name, value).is_some() {
            return Err(Problem::invalid(*name, "give this parameter once"));
        }
    }
    Ok(found)
}

/// A JSON body, or a `400` naming the field that is wrong (by its path in the body).
pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Problem> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        // A missing or unknown field is named by serde's message, not the path.
        let message = inner.to_string();
        let named = (message.starts_with("missing field") || message.starts_with("unknown field"))
            .then(|| message.split('`').nth(1).map(str::to_string))
            .flatten();
        let field = match (path.as_str(), named) {
            ("." | "", Some(name)) => name,
            ("." | "", None) => "body".to_string(),
            (path, _) => path.to_string(),
        };
        Problem::invalid(field, format!("not a valid body: {inner}"))
    })
}
