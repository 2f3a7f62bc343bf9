//! Fluent resource handlers (`/v1/admin/locales/...`) and what they answer.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use super::history::VersionDoc;
use super::http::{
    no_store, Authors, FluentPath, IfMatch, Readers, StepAnswer, StepBody, BODY_LIMIT,
};
use super::workflow::Action;
use super::Authoring;
use crate::auth::{RolesCheckedByHandler, StaffUser};
use crate::problem::{read_body, Problem};

#[derive(Deserialize)]
pub struct VersionQuery {
    /// A version number; the newest when absent.
    version: Option<u32>,
}

/// `GET /v1/admin/locales/{locale}/{file}.ftl`: the newest version's source (or
/// `?version=N`), as `text/plain`; `ETag` is the version, `Tailor-State` its state.
#[utoipa::path(get, path = "/v1/admin/locales/{locale}/{file}", tag = "authoring",
    params(("file" = String, Path, description = "e.g. home.ftl"), ("version" = Option<u32>, Query, description = "A version; the newest when absent")),
    responses((status = 200, description = "The Fluent source", content_type = "text/plain"), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_locale_file(
    // In this order: a bad query is a 400 before the token is looked at, as it always was.
    query: web::Query<VersionQuery>,
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
    path: FluentPath,
) -> Result<HttpResponse, Problem> {
    let found = state
        .fluent_source(&path.locale, &path.file, query.version)
        .await?;
    Ok(no_store()
        .insert_header((header::ETAG, format!("\"{}\"", found.version)))
        .insert_header(("Tailor-Version", found.version.to_string()))
        .insert_header(("Tailor-State", found.stage.as_str()))
        .content_type("text/plain; charset=utf-8")
        .body(found.source))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FluentAnswer {
    pub locale: String,
    pub file: String,
    #[serde(flatten)]
    pub version: VersionDoc,
    /// The message ids the resource defines.
    pub messages: Vec<String>,
}

/// `PUT /v1/admin/locales/{locale}/{file}.ftl` (`text/plain`): a new draft version,
/// parsed first: a syntax error is a `422` with line and column.
#[utoipa::path(put, path = "/v1/admin/locales/{locale}/{file}", tag = "authoring",
    request_body(content = String, content_type = "text/plain"),
    params(("If-Match" = Option<String>, Header, description = "The version the edit starts from")),
    responses((status = 200, body = FluentAnswer), (status = 201, body = FluentAnswer), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 412, body = Problem), (status = 413, body = Problem),
        (status = 422, description = "Fluent syntax errors, each with line and column", body = Problem)))]
pub async fn put_locale_file(
    claims: StaffUser<Authors>,
    path: FluentPath,
    IfMatch(based_on): IfMatch,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let body = read_body(payload, BODY_LIMIT, "a Fluent resource is at most 256 KiB").await?;
    let source = String::from_utf8(body.to_vec())
        .map_err(|_| Problem::invalid("body", "a Fluent resource is UTF-8 text"))?;
    let messages = super::message_ids(&source);
    let (version, created) = state
        .save_fluent(&claims.actor(), &path.locale, &path.file, source, based_on)
        .await?;
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((header::ETAG, format!("\"{}\"", version.version)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(FluentAnswer {
            locale: path.locale,
            file: path.file,
            version: VersionDoc::from(&version),
            messages,
        }))
}

/// `POST /v1/admin/locales/{locale}/{file}.ftl/{action}`: the workflow for a Fluent
/// resource. Publishing (or archiving) a version that would leave a published variant
/// without its default-locale message is refused.
#[utoipa::path(post, path = "/v1/admin/locales/{locale}/{file}/{action}", tag = "authoring",
    params(("action" = String, Path, description = "submit, approve, reject, publish or archive")),
    request_body(content = Option<StepBody>),
    responses((status = 200, body = StepAnswer), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn act_on_locale_file(
    // The resource's path is checked before the token, as it always has been.
    path: FluentPath,
    claims: StaffUser<RolesCheckedByHandler>,
    action: web::Path<(String, String, Action)>,
    payload: web::Payload,
    state: web::Data<Authoring>,
) -> Result<HttpResponse, Problem> {
    let (_, _, action) = action.into_inner();
    claims.require(action.roles())?;
    let step = StepBody::read(payload).await?;
    let outcome = state
        .step_fluent(&claims.actor(), &path.locale, &path.file, action, &step)
        .await?;
    Ok(no_store().json(StepAnswer::from(outcome)))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LocaleFileSummary {
    pub locale: String,
    pub file: String,
    pub live: bool,
    pub latest_version: Option<u32>,
    pub latest_state: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LocaleFileList {
    pub files: Vec<LocaleFileSummary>,
}

/// `GET /v1/admin/locales`: every Fluent resource, live or pending.
#[utoipa::path(get, path = "/v1/admin/locales", tag = "authoring",
    responses((status = 200, body = LocaleFileList), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list_locale_files(
    state: web::Data<Authoring>,
    _staff: StaffUser<Readers>,
) -> Result<HttpResponse, Problem> {
    let files = state
        .fluent_files()
        .await?
        .into_iter()
        .map(|f| LocaleFileSummary {
            locale: f.locale,
            file: f.file,
            live: f.live,
            latest_version: f.latest.map(|(version, _)| version),
            latest_state: f.latest.map(|(_, stage)| stage.as_str().to_string()),
        })
        .collect();
    Ok(no_store().json(LocaleFileList { files }))
}
